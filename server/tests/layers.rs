//! The transport layer's dependencies point one way: the codec uses nothing of the crate, the outbox uses
//! the codec, the socket adapter the codec and the outbox, the handshake those three; and nothing in
//! `src/transport/` reaches outside it (rooms, sessions, the cluster and the relay's state are above it).
//! Read from the source, so a new `use` that breaks the layering fails here.

use std::collections::BTreeSet;
use std::path::Path;

/// The transport's modules, and the sibling modules each may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("codec", &[]),
    ("outbox", &["codec"]),
    ("relay_socket", &["codec", "outbox"]),
    ("handshake", &["codec", "outbox", "relay_socket"]),
    ("tls", &[]),
    (
        "mod",
        &["codec", "handshake", "outbox", "relay_socket", "tls"],
    ),
];

/// The code of `source` without comments and without its `#[cfg(test)]` module (tests may use anything
/// of their own module through `super::*`).
fn code(source: &str) -> String {
    let source = source.split("#[cfg(test)]").next().unwrap_or(source);
    source
        .lines()
        .map(|line| line.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The sibling modules `code` names through `super::`.
fn siblings(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("super::") {
        rest = &rest[at + "super::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
            .collect();
        if name.starts_with('{') {
            // `use super::{a, b}`: every name up to the closing brace.
            let group = rest[1..].split('}').next().unwrap_or("");
            for item in group.split(',') {
                let item = item.trim().split("::").next().unwrap_or("").trim();
                if !item.is_empty() {
                    found.insert(item.to_owned());
                }
            }
        } else {
            found.insert(name);
        }
    }
    found
}

#[test]
fn the_transport_layer_imports_only_downwards_and_nothing_outside_it() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/transport");
    let mut seen = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let Some((_, allowed)) = ALLOWED.iter().find(|(module, _)| *module == name) else {
            panic!("{}: a transport module this test does not know; add it to ALLOWED with what it may use", path.display());
        };
        seen.insert(name.clone());
        let code = code(&std::fs::read_to_string(&path).unwrap());
        assert!(
            !code.contains("crate::"),
            "{name}.rs reaches outside the transport layer (crate::)"
        );
        for sibling in siblings(&code) {
            // Items of the parent module (`mod.rs` re-exports) are named by their type, not a module.
            let is_module = ALLOWED.iter().any(|(module, _)| *module == sibling);
            assert!(
                !is_module || allowed.contains(&sibling.as_str()),
                "{name}.rs uses {sibling}, which it may not (allowed: {allowed:?})"
            );
            assert!(
                is_module || name != "codec",
                "codec.rs uses super::{sibling}: the codec uses nothing of the crate"
            );
        }
    }
    assert_eq!(
        seen.len(),
        ALLOWED.len(),
        "a module listed in ALLOWED is gone"
    );
}

#[test]
fn the_check_sees_a_forbidden_import() {
    let bad = "use super::relay_socket::RelaySocket;\nuse super::{codec::Limits, outbox};";
    assert_eq!(
        siblings(&code(bad)),
        ["codec", "outbox", "relay_socket"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert!(siblings(&code("// use super::outbox;\nfn f() {}")).is_empty());
}
