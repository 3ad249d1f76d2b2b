//! The built app under `--dist`, served the way browsers should get it: each file with its precompressed
//! copy when the request accepts one, a cache policy by name, and the app's `index.html` for every path
//! that is not a file (the app's own routes, such as `/room/team`).
//!
//! - **Compression happens at build time.** `scripts/compress-dist.sh`, trunk's post-build hook, writes
//!   `<file>.br` and `<file>.gz` beside every hashed asset of a release build. This module picks the copy
//!   that `Accept-Encoding` prefers and sends `Vary: Accept-Encoding` for every file that has copies; a
//!   `--dist` without copies is served as it is. The relay compresses nothing itself: brotli's best level
//!   takes seconds of CPU for the module, which every relay start (the tests start many) would pay again.
//! - **Caching.** A name with trunk's content hash (`peerlab-4f195ff3c7e0ddc0.js`) never gets other
//!   bytes, so it is `immutable` for a year. Everything else (`index.html`, the app fallback,
//!   `peerlab.json`) is `no-cache`: revalidated on every load against its `ETag`, so a new build or an
//!   edited `peerlab.json` takes effect on the next load and an unchanged one costs a 304.
//! - **Never served:** dotfiles and dot-directories (trunk's `.stage` and `.trunk-lock`), anything reached
//!   through a symlink inside `--dist`, and paths with `.` or `..` segments: all 404. A hashed name that does
//!   not exist is 404 too rather than the app, so a stale page asking for an old build's module fails
//!   plainly instead of being handed HTML.
//!
//! Deliberately absent: compression at request time, range requests and directory listings. The security
//! headers come from [`crate::http::security_headers`], which wraps every route.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use tokio_util::io::ReaderStream;

use crate::AppState;

/// `Cache-Control` for names that carry trunk's content hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for everything else: the browser keeps a copy but asks before each use.
pub const REVALIDATE: &str = "no-cache";

/// How much of a file one chunk of the response body carries.
const CHUNK: usize = 64 * 1024;

/// A content coding the build writes copies in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// The token in `Accept-Encoding` and `Content-Encoding`.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// The suffix of the copy beside the file.
    pub fn suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Gzip => ".gz",
        }
    }
}

/// The encodings an `Accept-Encoding` value allows, most preferred first: by q-value, and brotli before
/// gzip at equal weight (it makes the smaller copy). `q=0` refuses a coding; `*` stands for any coding the
/// value does not name.
pub fn accepted_encodings(accept_encoding: &str) -> Vec<Encoding> {
    let (mut br, mut gzip, mut any) = (None, None, None);
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or_default().trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q=").or(p.trim().strip_prefix("Q=")))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("br") {
            br = Some(q);
        } else if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            gzip = Some(q);
        } else if coding == "*" {
            any = Some(q);
        }
    }
    let weight = |named: Option<f32>| named.or(any).unwrap_or(0.0);
    let mut accepted: Vec<(Encoding, f32)> = [
        (Encoding::Brotli, weight(br)),
        (Encoding::Gzip, weight(gzip)),
    ]
    .into_iter()
    .filter(|(_, q)| *q > 0.0)
    .collect();
    // A stable sort keeps brotli first at equal weight.
    accepted.sort_by(|a, b| b.1.total_cmp(&a.1));
    accepted.into_iter().map(|(e, _)| e).collect()
}

/// Whether a path segment carries trunk's content hash: a `-`, sixteen lower-case hex digits, then the
/// end, an extension or a suffix (`peerlab-e185239075c297d5_bg.wasm`, `main-ac2bf6d7a4a02cd9.css`, the
/// snippet directory `peerlab-4f195ff3c7e0ddc0`).
pub fn is_hashed(segment: &str) -> bool {
    let bytes = segment.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        let digits = bytes.get(i + 1..i + 17);
        b == b'-'
            && digits.is_some_and(|d| d.iter().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
            && matches!(bytes.get(i + 17), None | Some(b'.') | Some(b'_'))
    })
}

/// The `Cache-Control` for a request path.
pub fn cache_control(path: &str) -> &'static str {
    if path.split('/').any(is_hashed) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// The `Content-Type` for a file name, by extension.
pub fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map_or("", |(_, e)| e);
    match extension.to_ascii_lowercase().as_str() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        // `application/wasm` is what lets the browser compile the module while it downloads.
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// What a request path names under the dist directory.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// A regular file, reached without symlinks or hidden names.
    File(PathBuf),
    /// No file: the app's `index.html` answers (a route of the app, such as `/room/team`).
    App,
    /// Nothing to serve: 404.
    NotFound,
}

/// Decides what `path` (the request's path, still percent-encoded) names under `dist`. Reads only file
/// metadata; `dist` itself may be a symlink, nothing below it may.
pub fn resolve(dist: &Path, path: &str) -> io::Result<Target> {
    let Some(decoded) = percent_decode(path) else {
        return Ok(Target::NotFound);
    };
    let segments: Vec<&str> = decoded.split('/').filter(|s| !s.is_empty()).collect();
    if segments
        .iter()
        .any(|s| matches!(*s, "." | "..") || s.contains(['\\', '\0']))
    {
        return Ok(Target::NotFound);
    }
    let mut at = dist.to_path_buf();
    for (i, segment) in segments.iter().enumerate() {
        at.push(segment);
        let Some(meta) = metadata_if_present(&at)? else {
            break;
        };
        if meta.is_symlink() || segment.starts_with('.') {
            return Ok(Target::NotFound);
        }
        let last = i + 1 == segments.len();
        if last && meta.is_file() {
            return Ok(Target::File(at));
        }
        if !meta.is_dir() {
            break;
        }
    }
    // Not a file. A hashed name with an extension belongs to some build's assets, never to a route of the app.
    if segments
        .last()
        .is_some_and(|s| is_hashed(s) && s.contains('.'))
    {
        Ok(Target::NotFound)
    } else {
        Ok(Target::App)
    }
}

/// One response's worth of file: what to send and the headers that describe it.
#[derive(Debug)]
struct Asset {
    /// The file to send: the original or its compressed copy.
    file: File,
    /// Its length, for `Content-Length`.
    len: u64,
    /// The type of the original (a copy has its original's type).
    content_type: &'static str,
    /// Which copy `file` is, if it is one.
    encoding: Option<Encoding>,
    /// Whether compressed copies exist, so the response depends on `Accept-Encoding`.
    varies: bool,
    /// The cache policy of the request's name.
    cache_control: &'static str,
    /// The validator of exactly these bytes.
    etag: String,
}

/// Answers a request for the app's files. Only GET and HEAD.
pub async fn serve(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let accept = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let accepted = accepted_encodings(&accept);
    let dist = state.config.dist.clone();
    let path = uri.path().to_owned();
    // Metadata and opening are blocking calls: one trip to the blocking pool does them all.
    let opened = tokio::task::spawn_blocking(move || open(&dist, &path, &accepted)).await;
    match opened {
        Ok(Ok(Some(asset))) => respond(asset, &method, &headers),
        Ok(Ok(None)) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
        Ok(Err(err)) => {
            tracing::warn!(%err, path = uri.path(), "cannot read the app's files");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(err) => {
            tracing::warn!(%err, "the file lookup task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Finds the file for `path` and opens the representation to send.
fn open(dist: &Path, path: &str, accepted: &[Encoding]) -> io::Result<Option<Asset>> {
    let (file_path, cache_control) = match resolve(dist, path)? {
        Target::File(file) => (file, self::cache_control(path)),
        Target::App => {
            let index = dist.join("index.html");
            match metadata_if_present(&index)? {
                Some(meta) if meta.is_file() => (index, REVALIDATE),
                _ => return Ok(None),
            }
        }
        Target::NotFound => return Ok(None),
    };
    let Some(original) = metadata_if_present(&file_path)? else {
        return Ok(None);
    };
    let copies: Vec<(Encoding, PathBuf, Metadata)> = [Encoding::Brotli, Encoding::Gzip]
        .into_iter()
        .filter_map(|encoding| {
            let mut name = file_path.clone().into_os_string();
            name.push(encoding.suffix());
            let copy = PathBuf::from(name);
            let meta = metadata_if_present(&copy).ok().flatten()?;
            // A copy older than its file was made from other bytes (the file was replaced after the build).
            // Whole seconds, because tools that keep a file's time (brotli, tar, `cp -p`) may keep less.
            let current = match (unix_secs(&meta), unix_secs(&original)) {
                (Some(copy), Some(file)) => copy >= file,
                _ => false,
            };
            (meta.is_file() && !meta.is_symlink() && current).then_some((encoding, copy, meta))
        })
        .collect();
    let chosen = accepted
        .iter()
        .find_map(|want| copies.iter().find(|(have, _, _)| have == want));
    let name = file_path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (encoding, send_path, meta) = match chosen {
        Some((encoding, copy, meta)) => (Some(*encoding), copy.as_path(), meta),
        None => (None, file_path.as_path(), &original),
    };
    Ok(Some(Asset {
        file: File::open(send_path)?,
        len: meta.len(),
        content_type: content_type(name),
        encoding,
        varies: !copies.is_empty(),
        cache_control,
        etag: etag(meta, encoding),
    }))
}

/// A strong validator from the length and modification time of the bytes sent, one per representation.
fn etag(meta: &Metadata, encoding: Option<Encoding>) -> String {
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    let suffix = encoding.map_or(String::new(), |e| format!("-{}", e.token()));
    format!(
        "\"{:x}-{:x}.{:x}{suffix}\"",
        meta.len(),
        modified.as_secs(),
        modified.subsec_nanos()
    )
}

fn respond(asset: Asset, method: &Method, request: &HeaderMap) -> Response {
    let mut response = Response::new(Body::empty());
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(asset.cache_control),
    );
    if asset.varies {
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Ok(etag) = HeaderValue::from_str(&asset.etag) {
        headers.insert(header::ETAG, etag);
    }
    if matches_etag(request, &asset.etag) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(asset.len));
    if let Some(encoding) = asset.encoding {
        headers.insert(
            header::CONTENT_ENCODING,
            HeaderValue::from_static(encoding.token()),
        );
    }
    if method == Method::GET {
        let file = tokio::fs::File::from_std(asset.file);
        *response.body_mut() = Body::from_stream(ReaderStream::with_capacity(file, CHUNK));
    }
    response
}

/// Whether the request's `If-None-Match` names `etag` (or `*`); weak tags compare equal to strong ones
/// here, as RFC 9110 asks for GET.
fn matches_etag(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|tag| tag.trim())
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == etag)
}

/// When a file was last modified, in whole seconds since the Unix epoch.
fn unix_secs(meta: &Metadata) -> Option<u64> {
    let modified = meta.modified().ok()?;
    Some(modified.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// The metadata of `path` itself (a symlink is not followed), or `None` when nothing is there.
fn metadata_if_present(path: &Path) -> io::Result<Option<Metadata>> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) => Ok(Some(meta)),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// Decodes `%XX` escapes; `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Warns when the app's module has no brotli copy beside it: the dist was not built by trunk with
/// `scripts/compress-dist.sh` as its hook, and browsers download the module uncompressed.
pub fn warn_if_uncompressed(dist: &Path) {
    let Ok(entries) = std::fs::read_dir(dist) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".wasm") && !dist.join(format!("{name}.br")).is_file() {
            tracing::warn!(
                module = name,
                "the app's module has no compressed copy and is served uncompressed; build with `trunk build --release` (its post-build hook runs scripts/compress-dist.sh)"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_encoding_is_read_with_weights_and_wildcards() {
        use Encoding::{Brotli, Gzip};
        let cases: [(&str, &[Encoding]); 10] = [
            ("gzip, deflate, br, zstd", &[Brotli, Gzip]),
            ("gzip", &[Gzip]),
            ("br", &[Brotli]),
            ("", &[]),
            ("identity", &[]),
            ("br;q=0, gzip", &[Gzip]),
            ("gzip;q=1.0, br;q=0.5", &[Gzip, Brotli]),
            ("*", &[Brotli, Gzip]),
            ("*;q=0.1, br;q=0", &[Gzip]),
            ("BR ; Q=0.9 , x-gzip", &[Gzip, Brotli]),
        ];
        for (header, expected) in cases {
            assert_eq!(accepted_encodings(header), expected, "{header:?}");
        }
    }

    #[test]
    fn trunks_hashed_names_are_immutable_and_others_revalidate() {
        let cases = [
            ("/peerlab-e185239075c297d5_bg.wasm", IMMUTABLE),
            ("/peerlab-4f195ff3c7e0ddc0.js", IMMUTABLE),
            ("/main-ac2bf6d7a4a02cd9.css", IMMUTABLE),
            ("/snippets/peerlab-4f195ff3c7e0ddc0/inline0.js", IMMUTABLE),
            ("/", REVALIDATE),
            ("/index.html", REVALIDATE),
            ("/peerlab.json", REVALIDATE),
            ("/room/team", REVALIDATE),
            // Fifteen or seventeen digits, upper case, or digits not followed by a separator: no hash.
            ("/peerlab-4f195ff3c7e0ddc.js", REVALIDATE),
            ("/peerlab-4f195ff3c7e0ddc01.js", REVALIDATE),
            ("/peerlab-4F195FF3C7E0DDC0.js", REVALIDATE),
            ("/room/team-4f195ff3c7e0ddc0x", REVALIDATE),
        ];
        for (path, expected) in cases {
            assert_eq!(cache_control(path), expected, "{path}");
        }
    }

    #[test]
    fn paths_resolve_to_files_the_app_or_nothing() {
        let dist = std::env::temp_dir().join(format!("peerlab-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dist);
        std::fs::create_dir_all(dist.join("snippets/x-0123456789abcdef")).unwrap();
        std::fs::create_dir_all(dist.join(".stage")).unwrap();
        for file in [
            "index.html",
            "peerlab-0123456789abcdef.js",
            ".trunk-lock",
            ".stage/index.html",
            "snippets/x-0123456789abcdef/inline0.js",
        ] {
            std::fs::write(dist.join(file), "x").unwrap();
        }
        std::os::unix::fs::symlink("/etc/hostname", dist.join("linked")).unwrap();
        std::os::unix::fs::symlink(dist.join("snippets"), dist.join("linked-dir")).unwrap();
        let file = |p: &str| Target::File(dist.join(p));
        let cases = [
            ("/", Target::App),
            ("/index.html", file("index.html")),
            (
                "/peerlab-0123456789abcdef.js",
                file("peerlab-0123456789abcdef.js"),
            ),
            (
                "/peerlab%2D0123456789abcdef.js",
                file("peerlab-0123456789abcdef.js"),
            ),
            (
                "/snippets/x-0123456789abcdef/inline0.js",
                file("snippets/x-0123456789abcdef/inline0.js"),
            ),
            ("/room/team", Target::App),
            ("/room/team.v2", Target::App),
            ("/room/team-0123456789abcdef", Target::App),
            ("/chat", Target::App),
            ("/snippets", Target::App),
            ("/index.html/more", Target::App),
            ("/peerlab-fedcba9876543210.js", Target::NotFound),
            ("/peerlab-fedcba9876543210_bg.wasm", Target::NotFound),
            ("/.trunk-lock", Target::NotFound),
            ("/.stage/index.html", Target::NotFound),
            ("/%2Etrunk-lock", Target::NotFound),
            ("/linked", Target::NotFound),
            (
                "/linked-dir/x-0123456789abcdef/inline0.js",
                Target::NotFound,
            ),
            ("/../etc/hostname", Target::NotFound),
            ("/%2e%2e/etc/hostname", Target::NotFound),
            ("/a%5c..%5cindex.html", Target::NotFound),
            ("/bad%zz", Target::NotFound),
            ("/%ff", Target::NotFound),
        ];
        for (path, expected) in cases {
            assert_eq!(resolve(&dist, path).unwrap(), expected, "{path}");
        }
        std::fs::remove_dir_all(&dist).unwrap();
    }

    #[test]
    fn content_types_let_the_browser_compile_and_run_the_app() {
        assert_eq!(
            content_type("peerlab-0123456789abcdef_bg.wasm"),
            "application/wasm"
        );
        assert_eq!(content_type("peerlab.js"), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(content_type("peerlab.json"), "application/json");
        assert_eq!(content_type("README"), "application/octet-stream");
    }
}
