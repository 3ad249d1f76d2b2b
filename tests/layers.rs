//! The module graph of the app (`src/`) and of the relay (`server/src/`) has no cycle, at any level.
//!
//! Within each folder, its modules must form a directed acyclic graph of "uses": a module may use a sibling
//! (or something inside one) only if that sibling does not, directly or through others, use it back. A cycle
//! means two modules cannot be read, tested or replaced apart, which is what the layers in ARCHITECTURE.md
//! promise. The check reads the sources as text: every `crate::…`, `super::…` and `self::…` path in code
//! (comments and `#[cfg(test)] mod` blocks at the end of a file are left out, so doc links and tests do not
//! count), `use` trees with braces expanded, resolved to the longest module path that exists as a file.
//!
//! Also checked here: pages and components never touch `RtcPeerConnection` (the rtc layer owns every peer
//! connection).
#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// A crate's modules: module path (`["transport", "codec"]`; the root is `[]`) → its source text.
type Sources = BTreeMap<Vec<String>, String>;

fn read_crate(root: &Path) -> Sources {
    let mut out = Sources::new();
    read_dir(root, &[], &mut out);
    out
}

fn read_dir(dir: &Path, prefix: &[String], out: &mut Sources) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            let mut p = prefix.to_vec();
            p.push(name);
            read_dir(&path, &p, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let module = match name.as_str() {
                "lib" | "main" if prefix.is_empty() => prefix.to_vec(),
                "mod" => prefix.to_vec(),
                _ => {
                    let mut p = prefix.to_vec();
                    p.push(name);
                    p
                }
            };
            let text = fs::read_to_string(&path).unwrap();
            out.entry(module).or_default().push_str(&text);
        }
    }
}

/// The source without comments and without a trailing `#[cfg(test)] mod …` block.
fn code_only(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]")
            && lines
                .peek()
                .is_some_and(|next| next.trim_start().starts_with("mod "))
            && !lines.peek().unwrap().trim_end().ends_with(';')
        {
            break;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let line = match line.find(" //") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Every path named in the code, as written (`crate::a::b`, `super::c`), with `use` trees expanded.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !code.is_char_boundary(i) {
            i += 1;
            continue;
        }
        let starts_word = i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] == b':');
        let head = ["crate::", "super::", "self::"]
            .into_iter()
            .find(|h| code[i..].starts_with(h));
        match head {
            Some(h) if starts_word => {
                let (tree, end) = parse_tree(code, i);
                expand(&tree, &mut Vec::new(), &mut out);
                i = end.max(i + h.len());
            }
            _ => i += 1,
        }
    }
    out
}

/// A `use` tree: a path of segments, then optionally a brace group of subtrees.
#[derive(Debug)]
struct Tree {
    segments: Vec<String>,
    group: Vec<Tree>,
}

fn parse_tree(code: &str, mut i: usize) -> (Tree, usize) {
    let bytes = code.as_bytes();
    let mut segments = Vec::new();
    let mut group = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i < bytes.len() && bytes[i] == b'{' {
            i += 1;
            loop {
                while i < bytes.len() && (bytes[i].is_ascii_whitespace() || bytes[i] == b',') {
                    i += 1;
                }
                if i >= bytes.len() || bytes[i] == b'}' {
                    i += 1;
                    break;
                }
                let (sub, end) = parse_tree(code, i);
                if end == i {
                    i += 1;
                } else {
                    group.push(sub);
                    i = end;
                }
            }
            break;
        }
        let start = i;
        while i < bytes.len()
            && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'*')
        {
            i += 1;
        }
        if i == start {
            break;
        }
        segments.push(code[start..i].to_string());
        if code[i..].starts_with("::") {
            i += 2;
        } else {
            // `as name` and anything else end the path.
            break;
        }
    }
    (Tree { segments, group }, i)
}

fn expand(tree: &Tree, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    let len = prefix.len();
    prefix.extend(tree.segments.iter().cloned());
    if tree.group.is_empty() {
        out.push(prefix.clone());
    } else {
        for sub in &tree.group {
            expand(sub, prefix, out);
        }
    }
    prefix.truncate(len);
}

/// Resolves a path written in `module` to the longest existing module it names, if it names one.
fn resolve(
    module: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut base: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            base = module.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            base = module.to_vec();
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    let mut best = None;
    let mut candidate = base.clone();
    if modules.contains(&candidate) {
        best = Some(candidate.clone());
    }
    for seg in rest {
        candidate.push(seg.clone());
        if modules.contains(&candidate) {
            best = Some(candidate.clone());
        } else {
            break;
        }
    }
    best
}

/// The cycles among sibling modules, at every level, as lists of module paths joined by `::`.
fn cycles(sources: &Sources) -> Vec<String> {
    let modules: BTreeSet<Vec<String>> = sources.keys().cloned().collect();
    // For each parent folder: edges between its children.
    let mut levels: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, text) in sources {
        for path in paths(&code_only(text)) {
            let Some(target) = resolve(module, &path, &modules) else {
                continue;
            };
            // The first point where the two paths part: below a common parent, two different children.
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common < module.len() && common < target.len() {
                let parent = module[..common].to_vec();
                levels
                    .entry(parent)
                    .or_default()
                    .entry(module[common].clone())
                    .or_default()
                    .insert(target[common].clone());
            }
        }
    }
    let mut found = Vec::new();
    for (parent, graph) in &levels {
        for cycle in graph_cycles(graph) {
            let named: Vec<String> = cycle
                .iter()
                .map(|m| match m.starts_with('(') {
                    true => m.clone(),
                    false => parent
                        .iter()
                        .chain(std::iter::once(m))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("::"),
                })
                .collect();
            found.push(named.join(" -> ").replace(" -> (", " ("));
        }
    }
    found
}

/// One cycle per strongly connected component of more than one node (Tarjan's algorithm, then a walk
/// inside the component), so a failure names modules to look at rather than every cycle there is.
fn graph_cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'a> {
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        components: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    let mut out = Vec::new();
    for component in s.components.iter().filter(|c| c.len() > 1) {
        let members: BTreeSet<&str> = component.iter().copied().collect();
        let start = *members.iter().next().unwrap();
        // Breadth-first from start back to start within the component gives a shortest cycle through it.
        let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start]);
        'search: while let Some(v) = queue.pop_front() {
            for w in graph.get(v).into_iter().flatten().map(String::as_str) {
                if !members.contains(w) {
                    continue;
                }
                if w == start {
                    let mut cycle = vec![start.to_string()];
                    let mut at = v;
                    let mut back = vec![at.to_string()];
                    while at != start {
                        at = came_from[at];
                        back.push(at.to_string());
                    }
                    back.pop();
                    back.reverse();
                    cycle.extend(back);
                    cycle.push(start.to_string());
                    // Name the rest of the tangle too: all of it has to be cut apart, not only this loop.
                    let rest: Vec<&str> = members
                        .iter()
                        .copied()
                        .filter(|m| !cycle.iter().any(|c| c == m))
                        .collect();
                    if !rest.is_empty() {
                        cycle.push(format!("(tangled with {})", rest.join(", ")));
                    }
                    out.push(cycle);
                    break 'search;
                }
                if !came_from.contains_key(w) && w != start {
                    came_from.insert(w, v);
                    queue.push_back(w);
                }
            }
        }
    }
    out
}

fn fixture(files: &[(&str, &str)]) -> Sources {
    files
        .iter()
        .map(|(path, text)| {
            let module = if path.is_empty() {
                Vec::new()
            } else {
                path.split("::").map(String::from).collect()
            };
            (module, text.to_string())
        })
        .collect()
}

#[test]
fn the_checker_finds_the_cycles_it_should_and_no_others() {
    struct Case {
        name: &'static str,
        files: &'static [(&'static str, &'static str)],
        expected: &'static [&'static str],
    }
    let cases = [
        Case {
            name: "a chain has no cycle",
            files: &[("", "mod a; mod b; mod c;"), ("a", "use crate::b::x;"), ("b", "use crate::c;"), ("c", "")],
            expected: &[],
        },
        Case {
            name: "two modules using each other",
            files: &[("", ""), ("a", "use crate::b::X;"), ("b", "fn f() { crate::a::g() }")],
            expected: &["a -> b -> a"],
        },
        Case {
            name: "a braced use tree counts each of its paths",
            files: &[("", ""), ("a", "use crate::{b::X, c};"), ("b", ""), ("c", "use crate::{b, a::{Y}};")],
            expected: &["a -> c -> a"],
        },
        Case {
            name: "a cycle between folders' children is reported at their level",
            files: &[
                ("", ""),
                ("transport", ""),
                ("transport::codec", "use super::outbox::Outbox;"),
                ("transport::outbox", "use crate::transport::codec::put_header;"),
                ("session", "use crate::transport::codec;"),
            ],
            expected: &["transport::codec -> transport::outbox -> transport::codec"],
        },
        Case {
            name: "a folder using its parent's sibling and back is a cycle of the top level",
            files: &[("", ""), ("net", ""), ("net::a", "use crate::session::S;"), ("session", "use crate::net::a;")],
            expected: &["net -> session -> net"],
        },
        Case {
            name: "comments, doc links and the test module do not count",
            files: &[
                ("", ""),
                ("a", "//! See [`crate::b`].\nuse crate::b::X; // not crate::c\n#[cfg(test)]\nmod tests {\n use crate::c;\n}\n"),
                ("b", "/// [`crate::a`]\nfn f() {}"),
                ("c", "use crate::a;"),
            ],
            expected: &[],
        },
        Case {
            name: "a name that is not a module resolves to the module that holds it",
            files: &[("", ""), ("a", "use crate::b::Thing::Variant;"), ("b", "use crate::a::f;")],
            expected: &["a -> b -> a"],
        },
    ];
    for case in cases {
        let got = cycles(&fixture(case.files));
        assert_eq!(got, case.expected, "{}", case.name);
    }
}

fn crate_root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn the_app_has_no_module_cycles() {
    let found = cycles(&read_crate(&crate_root("src")));
    assert!(found.is_empty(), "module cycles in src/: {found:#?}");
}

#[test]
fn the_relay_has_no_module_cycles() {
    let found = cycles(&read_crate(&crate_root("server/src")));
    assert!(found.is_empty(), "module cycles in server/src/: {found:#?}");
}

#[test]
fn the_protocol_has_no_module_cycles() {
    let found = cycles(&read_crate(&crate_root("protocol/src")));
    assert!(
        found.is_empty(),
        "module cycles in protocol/src/: {found:#?}"
    );
}

#[test]
fn pages_and_components_never_touch_a_peer_connection() {
    let sources = read_crate(&crate_root("src"));
    let offenders: Vec<String> = sources
        .iter()
        .filter(|(m, _)| matches!(m.first().map(String::as_str), Some("pages" | "components")))
        .filter(|(_, text)| code_only(text).contains("RtcPeerConnection"))
        .map(|(m, _)| m.join("::"))
        .collect();
    assert!(
        offenders.is_empty(),
        "these modules use RtcPeerConnection directly: {offenders:?}"
    );
}
