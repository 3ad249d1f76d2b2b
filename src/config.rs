//! Runtime configuration: the optional `/peerlab.json` served next to `index.html`, the rule that turns
//! it plus the page's own address into the relay's WebSocket URL, and the relay's `GET /ice-summary` beside
//! it.
//!
//! The file lets one build run behind any host (a dev server, the relay itself, a CDN in front of a relay
//! elsewhere) without rebuilding. This module deliberately configures no ICE server: those come from the
//! relay's `welcome`, so a deployment configures them in one place; the summary only says which kinds the
//! relay hands out.

use gloo_net::http::Request;
use peerlab_protocol::IceSummary;
use serde::Deserialize;
use web_sys::RequestCache;

use crate::error::ConfigError;

/// Where the configuration file is fetched from, relative to the site root.
pub const CONFIG_PATH: &str = "/peerlab.json";

/// The contents of `peerlab.json`. Unknown fields are ignored so an older app tolerates a newer file.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Config {
    /// The relay's WebSocket URL. `None` means "the relay that served this page", at `/ws` on the same
    /// host, which is how the relay hosts the app in production and how `trunk serve` proxies it.
    #[serde(default)]
    pub relay_url: Option<String>,
}

/// Parses the text of `peerlab.json`.
///
/// A body that starts with `<` is an HTML page that a single-page-app server returned in place of a missing
/// file; it is treated as no file at all rather than as a broken one.
pub fn parse_config(text: &str) -> Result<Config, ConfigError> {
    let trimmed = text.trim_start();
    if trimmed.is_empty() || trimmed.starts_with('<') {
        return Ok(Config::default());
    }
    serde_json::from_str(trimmed).map_err(|err| ConfigError::Parse(err.to_string()))
}

/// Works out the relay URL from the configuration and the page's `location.protocol` (with or without the
/// trailing colon) and `location.host`.
pub fn resolve_relay_url(
    config: &Config,
    page_protocol: &str,
    page_host: &str,
) -> Result<String, ConfigError> {
    if let Some(url) = &config.relay_url {
        let url = url.trim();
        let rest = url
            .strip_prefix("ws://")
            .or_else(|| url.strip_prefix("wss://"))
            .ok_or_else(|| ConfigError::BadRelayScheme {
                url: url.to_owned(),
            })?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(ConfigError::MissingRelayHost {
                url: url.to_owned(),
            });
        }
        return Ok(url.to_owned());
    }
    let scheme = match page_protocol.trim_end_matches(':') {
        "http" => "ws",
        "https" => "wss",
        other => {
            return Err(ConfigError::UnsupportedPageProtocol {
                protocol: other.to_owned(),
            })
        }
    };
    if page_host.is_empty() {
        return Err(ConfigError::MissingPageHost);
    }
    Ok(format!("{scheme}://{page_host}/ws"))
}

/// Fetches `peerlab.json`, revalidating any cached copy (the relay answers 304 while it is unchanged), so
/// a changed file takes effect on the next load. A missing file (404) is the default configuration.
pub async fn load() -> Result<Config, ConfigError> {
    let response = Request::get(CONFIG_PATH)
        .cache(RequestCache::NoCache)
        .send()
        .await
        .map_err(|err| ConfigError::fetch(&err))?;
    if response.status() == 404 {
        return Ok(Config::default());
    }
    if !response.ok() {
        return Err(ConfigError::Status(response.status()));
    }
    let text = response
        .text()
        .await
        .map_err(|err| ConfigError::fetch(&err))?;
    parse_config(&text)
}

/// Where the relay answers `GET /ice-summary`, from its WebSocket URL: the same host (and the same path
/// prefix, for a relay behind a proxy) over http or https.
pub fn ice_summary_url(relay_url: &str) -> Option<String> {
    let (scheme, rest) = relay_url.trim().split_once("://")?;
    let scheme = match scheme {
        "ws" => "http",
        "wss" => "https",
        _ => return None,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return None;
    }
    // "relay/ws" keeps its "relay/"; a path that does not end in the `/ws` endpoint is not a prefix.
    let prefix = match path.strip_suffix("ws") {
        Some(prefix) if prefix.is_empty() || prefix.ends_with('/') => prefix,
        _ => "",
    };
    Some(format!("{scheme}://{host}/{prefix}ice-summary"))
}

/// Asks this page's relay which kinds of STUN/TURN server it hands out. `None` when it cannot say (a
/// relay without the endpoint, or one that cannot be reached): the page then says nothing about it.
pub async fn load_ice_summary(config: &Config) -> Option<IceSummary> {
    ice_summary_of(&relay_url_for_this_page(config).ok()?).await
}

/// Asks the relay at the WebSocket URL `relay_url` for its [`IceSummary`]. Any page may read it, so an
/// answer also proves that the relay is running and reachable over HTTP, whatever it thinks of this page's
/// origin (see `signaling::hook`). A page server's fallback HTML is not an answer.
pub async fn ice_summary_of(relay_url: &str) -> Option<IceSummary> {
    let url = ice_summary_url(relay_url)?;
    // The relay gives the summary no validator, so a stored copy could never be reused: skip the cache.
    let response = Request::get(&url)
        .cache(RequestCache::NoStore)
        .send()
        .await
        .ok()?;
    if !response.ok() {
        return None;
    }
    response.json().await.ok()
}

/// Resolves the relay URL for the page this code runs in.
pub fn relay_url_for_this_page(config: &Config) -> Result<String, ConfigError> {
    let location = web_sys::window()
        .ok_or(ConfigError::MissingPageHost)?
        .location();
    let protocol = location.protocol().unwrap_or_default();
    let host = location.host().unwrap_or_default();
    resolve_relay_url(config, &protocol, &host)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(relay_url: Option<&str>) -> Config {
        Config {
            relay_url: relay_url.map(str::to_owned),
        }
    }

    fn check(
        relay_url: Option<&str>,
        protocol: &str,
        host: &str,
        expected: Result<&str, ConfigError>,
    ) {
        assert_eq!(
            resolve_relay_url(&config(relay_url), protocol, host),
            expected.map(str::to_owned),
            "relay_url {relay_url:?}, page {protocol}//{host}"
        );
    }

    #[test]
    fn null_relay_url_follows_the_page() {
        check(
            None,
            "http:",
            "localhost:8080",
            Ok("ws://localhost:8080/ws"),
        );
        check(
            None,
            "https:",
            "peerlab.example",
            Ok("wss://peerlab.example/ws"),
        );
        check(None, "https", "[::1]:8443", Ok("wss://[::1]:8443/ws"));
    }

    #[test]
    fn explicit_relay_url_is_kept() {
        check(
            Some("wss://relay.example/ws"),
            "http:",
            "localhost:8080",
            Ok("wss://relay.example/ws"),
        );
        check(
            Some(" ws://127.0.0.1:18080/ws "),
            "https:",
            "x",
            Ok("ws://127.0.0.1:18080/ws"),
        );
    }

    #[test]
    fn relay_url_with_a_bad_scheme_is_rejected_with_a_hint() {
        let err = resolve_relay_url(&config(Some("https://relay.example/ws")), "https:", "x")
            .expect_err("an https URL is not a WebSocket URL");
        assert_eq!(
            err,
            ConfigError::BadRelayScheme {
                url: "https://relay.example/ws".into()
            }
        );
        assert!(err.to_string().contains("wss://host/ws"), "{err}");
        check(
            Some("ws:///ws"),
            "http:",
            "x",
            Err(ConfigError::MissingRelayHost {
                url: "ws:///ws".into(),
            }),
        );
    }

    #[test]
    fn pages_outside_http_cannot_derive_the_relay() {
        check(
            None,
            "file:",
            "",
            Err(ConfigError::UnsupportedPageProtocol {
                protocol: "file".into(),
            }),
        );
        check(None, "http:", "", Err(ConfigError::MissingPageHost));
    }

    #[test]
    fn the_ice_summary_lives_beside_the_relays_websocket() {
        let check = |relay: &str, expected: Option<&str>| {
            assert_eq!(ice_summary_url(relay).as_deref(), expected, "relay {relay}");
        };
        check(
            "ws://127.0.0.1:8080/ws",
            Some("http://127.0.0.1:8080/ice-summary"),
        );
        check(
            "wss://relay.example.org/ws",
            Some("https://relay.example.org/ice-summary"),
        );
        check(
            "wss://example.org/relay/ws?x=1",
            Some("https://example.org/relay/ice-summary"),
        );
        check("wss://example.org", Some("https://example.org/ice-summary"));
        check(
            "ws://example.org/news",
            Some("http://example.org/ice-summary"),
        );
        check("https://example.org/ws", None);
        check("ws:///ws", None);
    }

    #[test]
    fn config_file_parses_and_tolerates_fallbacks() {
        assert_eq!(parse_config(r#"{"relay_url": null}"#), Ok(config(None)));
        assert_eq!(
            parse_config(r#"{"relay_url": "ws://h/ws", "future": 1}"#),
            Ok(config(Some("ws://h/ws")))
        );
        assert_eq!(parse_config("<!DOCTYPE html><html>"), Ok(config(None)));
        assert_eq!(parse_config(""), Ok(config(None)));
        assert!(matches!(
            parse_config(r#"{"relay_url": 5}"#),
            Err(ConfigError::Parse(_))
        ));
    }
}
