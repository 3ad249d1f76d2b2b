//! The built app as the relay serves it, driven over real HTTP: the compressed copies that the build's
//! own step (`scripts/compress-dist.sh`, trunk's post-build hook) writes are sent as `Accept-Encoding`
//! asks and decode to the very bytes of the file; hashed names are cached for a year and the rest
//! revalidates; hidden files, symlinks and stale hashed names are 404.

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const MODULE: &str = "peerlab-0123456789abcdef_bg.wasm";
const GLUE: &str = "peerlab-0123456789abcdef.js";
const INDEX: &str = "<!doctype html><title>peerlab</title><script type=\"module\">\nimport init from '/peerlab-0123456789abcdef.js';\n</script>";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One HTTP/1.1 exchange: (status, headers with lower-case names, body bytes).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

async fn request(addr: SocketAddr, method: &str, path: &str, extra: &[(&str, &str)]) -> Reply {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("the relay answers in time")
        .unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}

/// Bytes that compress the way a module does, neither trivially nor not at all.
fn module_like_bytes(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|i| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            if i % 3 == 0 {
                (state % 251) as u8
            } else {
                b"local.get i32.const call"[i % 24]
            }
        })
        .collect()
}

/// A dist laid out as trunk leaves it, plus the hidden files and symlinks a relay must not hand out, then
/// compressed by the build's own step.
fn built_dist(tag: &str) -> PathBuf {
    let dist = std::env::temp_dir().join(format!("peerlab-assets-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(dist.join(".stage")).unwrap();
    std::fs::write(dist.join("index.html"), INDEX).unwrap();
    std::fs::write(dist.join(MODULE), module_like_bytes(300_000)).unwrap();
    std::fs::write(
        dist.join(GLUE),
        "export default function init() {}\n".repeat(400),
    )
    .unwrap();
    std::fs::write(dist.join("peerlab.json"), "{\"relay_url\": null}\n").unwrap();
    std::fs::write(dist.join(".trunk-lock"), "").unwrap();
    std::fs::write(dist.join(".stage/index.html"), "half-built").unwrap();
    let outside = dist.with_extension("outside");
    std::fs::write(&outside, "not part of the app").unwrap();
    std::os::unix::fs::symlink(&outside, dist.join("peerlab-fedcba9876543210.js")).unwrap();
    std::os::unix::fs::symlink(&outside, dist.join("notes.txt")).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/compress-dist.sh");
    let status = Command::new("sh")
        .arg(&script)
        .arg(&dist)
        .env("TRUNK_PROFILE", "release")
        .status()
        .expect(
            "sh runs scripts/compress-dist.sh (it needs the `brotli` command: scripts/setup.sh)",
        );
    assert!(status.success(), "scripts/compress-dist.sh failed");
    dist
}

fn remove(dist: PathBuf) {
    std::fs::remove_dir_all(&dist).ok();
    std::fs::remove_file(dist.with_extension("outside")).ok();
}

async fn relay_for(dist: &Path) -> Relay {
    let mut config = test_config();
    config.dist = dist.to_path_buf();
    Relay::start_with(config).await
}

fn decode(encoding: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        None => out.extend_from_slice(body),
        Some("br") => {
            brotli_decompressor::Decompressor::new(body, 4096)
                .read_to_end(&mut out)
                .expect("a valid brotli stream");
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(body)
                .read_to_end(&mut out)
                .expect("a valid gzip stream");
        }
        Some(other) => panic!("unexpected content-encoding {other}"),
    }
    out
}

#[tokio::test]
async fn hashed_assets_are_sent_compressed_as_accepted_and_decode_to_the_file() {
    let dist = built_dist("encodings");
    for name in [MODULE, GLUE] {
        for suffix in ["br", "gz"] {
            assert!(
                dist.join(format!("{name}.{suffix}")).is_file(),
                "the build wrote {name}.{suffix}"
            );
        }
    }
    let relay = relay_for(&dist).await;
    let cases = [
        // (Accept-Encoding, the coding sent)
        (Some("gzip, deflate, br, zstd"), Some("br")),
        (Some("br"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (Some("br;q=0, gzip"), Some("gzip")),
        (Some("identity"), None),
        (None, None),
    ];
    for (name, content_type) in [
        (MODULE, "application/wasm"),
        (GLUE, "text/javascript; charset=utf-8"),
    ] {
        let file = std::fs::read(dist.join(name)).unwrap();
        for (accept, sent) in cases {
            let headers: Vec<(&str, &str)> =
                accept.map(|a| ("Accept-Encoding", a)).into_iter().collect();
            let reply = request(relay.addr, "GET", &format!("/{name}"), &headers).await;
            let what = format!("{name} with Accept-Encoding {accept:?}");
            assert_eq!(reply.status, 200, "{what}");
            assert_eq!(reply.header("content-encoding"), sent, "{what}");
            assert_eq!(reply.header("vary"), Some("accept-encoding"), "{what}");
            assert_eq!(reply.header("cache-control"), Some(IMMUTABLE), "{what}");
            assert_eq!(reply.header("content-type"), Some(content_type), "{what}");
            assert_eq!(
                reply.header("content-length"),
                Some(reply.body.len().to_string().as_str()),
                "{what}"
            );
            if sent.is_some() {
                assert!(reply.body.len() < file.len(), "{what}: compressed");
            }
            assert!(
                decode(sent, &reply.body) == file,
                "{what}: the decoded body is the file"
            );
            // The security headers wrap the app's files too.
            assert!(reply.header("content-security-policy").is_some(), "{what}");
            assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        }
    }
    // HEAD describes the same representation without sending it.
    let head = request(
        relay.addr,
        "HEAD",
        &format!("/{MODULE}"),
        &[("Accept-Encoding", "br")],
    )
    .await;
    let br_len = std::fs::metadata(dist.join(format!("{MODULE}.br")))
        .unwrap()
        .len();
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-encoding"), Some("br"));
    assert_eq!(
        head.header("content-length"),
        Some(br_len.to_string().as_str())
    );
    assert!(head.body.is_empty());
    relay.shutdown().await;
    remove(dist);
}

#[tokio::test]
async fn the_app_and_its_config_revalidate_on_every_load() {
    let dist = built_dist("revalidate");
    let relay = relay_for(&dist).await;
    let config = std::fs::read(dist.join("peerlab.json")).unwrap();
    for (path, body) in [
        ("/", INDEX.as_bytes()),
        ("/index.html", INDEX.as_bytes()),
        ("/room/team", INDEX.as_bytes()),
        ("/room/team.v2", INDEX.as_bytes()),
        ("/peerlab.json", config.as_slice()),
    ] {
        let reply = request(relay.addr, "GET", path, &[("Accept-Encoding", "gzip, br")]).await;
        assert_eq!(reply.status, 200, "{path}");
        assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
        assert_eq!(reply.header("content-encoding"), None, "{path}");
        assert!(reply.body == body, "{path}: the body is the file");
        // An unchanged file costs a 304 on the next load.
        let etag = reply.header("etag").expect("a validator").to_owned();
        let again = request(relay.addr, "GET", path, &[("If-None-Match", &etag)]).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.body.is_empty(), "{path}");
        assert_eq!(again.header("cache-control"), Some("no-cache"), "{path}");
    }
    let html = request(relay.addr, "GET", "/room/team", &[]).await;
    assert_eq!(
        html.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    // An edited peerlab.json is a new representation: the old validator no longer matches.
    let before = request(relay.addr, "GET", "/peerlab.json", &[]).await;
    let etag = before.header("etag").unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(
        dist.join("peerlab.json"),
        "{\"relay_url\": \"wss://relay.example/ws\"}",
    )
    .unwrap();
    let after = request(
        relay.addr,
        "GET",
        "/peerlab.json",
        &[("If-None-Match", &etag)],
    )
    .await;
    assert_eq!(after.status, 200);
    assert_eq!(after.body, b"{\"relay_url\": \"wss://relay.example/ws\"}");
    relay.shutdown().await;
    remove(dist);
}

#[tokio::test]
async fn hidden_files_symlinks_and_stale_hashed_names_are_not_found() {
    let dist = built_dist("hidden");
    let relay = relay_for(&dist).await;
    for path in [
        "/.trunk-lock",
        "/%2etrunk-lock",
        "/.stage/index.html",
        "/notes.txt",
        // A symlink with a hashed name, and a hashed name no file has (an older build's glue).
        "/peerlab-fedcba9876543210.js",
        "/peerlab-1111111111111111_bg.wasm",
        "/../Cargo.toml",
        "/%2e%2e/Cargo.toml",
    ] {
        let reply = request(relay.addr, "GET", path, &[]).await;
        assert_eq!(reply.status, 404, "{path}");
        assert!(
            !String::from_utf8_lossy(&reply.body).contains("not part of the app"),
            "{path}"
        );
    }
    let post = request(relay.addr, "POST", "/", &[("Content-Length", "0")]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    relay.shutdown().await;
    remove(dist);
}
