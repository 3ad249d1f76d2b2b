//! Every error the app can show, typed with `thiserror`, and the one place where a browser `JsValue` (or
//! gloo-net's error for one) becomes one of them.
//!
//! Each message is written for the person in front of the page: what went wrong and what to do about it.
//! This module deliberately holds no recovery logic (no retries, no reconnects); callers decide what to
//! do, and the views only print `to_string()`.

use peerlab_protocol::{ErrorCode, NameError};
use wasm_bindgen::{JsCast, JsValue};

mod media;
pub use media::MediaError;

/// Why the relay address could not be worked out from `peerlab.json` and the page's own address.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "relay_url {url:?} in peerlab.json is not a WebSocket address; write it as ws://host/ws or wss://host/ws"
    )]
    BadRelayScheme { url: String },
    #[error(
        "relay_url {url:?} in peerlab.json has no host; write it as ws://host/ws or wss://host/ws"
    )]
    MissingRelayHost { url: String },
    #[error(
        "this page was loaded over {protocol:?}, so the relay address cannot be derived from it; serve the app over http or https, or set relay_url in peerlab.json"
    )]
    UnsupportedPageProtocol { protocol: String },
    #[error(
        "the page has no host to derive the relay address from; set relay_url in peerlab.json"
    )]
    MissingPageHost,
    #[error(
        "peerlab.json could not be fetched ({0}); check that the site is reachable and reload"
    )]
    Fetch(String),
    #[error("peerlab.json answered with HTTP status {0}; fix or remove the file on the server")]
    Status(u16),
    #[error("peerlab.json is not valid ({0}); it should look like {{\"relay_url\": null}}")]
    Parse(String),
}

/// Everything else that can go wrong in the app: talking to the relay, storage, input checks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the browser could not open a connection to the relay at {url} ({detail}); check the address in peerlab.json")]
    Connect { url: String, detail: String },
    #[error("the message could not be sent to the relay ({0}); join the room again")]
    Send(String),
    #[error("the relay sent a message this app does not understand ({0}); reload the page to get the current app")]
    BadFrame(String),
    #[error("the connection to the relay failed; check that the relay is running and reachable (the app keeps trying by itself)")]
    Socket,
    /// The relay answers over HTTP but said nothing on this page's WebSocket, which never opened (or was
    /// opened by a proxy and closed). Browsers hide the handshake's status; a handshake that reaches the
    /// relay fails there for the page's origin (403, an origin the relay neither serves nor lists) and
    /// little else (its connection caps, which turn the HTTP request away too, and its shutdown), so this
    /// names that cause and the flag that fixes it.
    #[error("the relay at {relay} is running but refused this page's connection: it accepts only pages of origins it serves or lists. Start it with --allowed-origin {origin} (this page's origin); the app keeps trying")]
    OriginRefused { relay: String, origin: String },
    #[error("not connected to the relay; join a room first")]
    NotConnected,
    #[error("{0}")]
    InvalidName(#[from] NameError),
    #[error("the browser has no window object; this app must run in a web page")]
    NoWindow,
    #[error("the browser's storage failed ({0}); your name will not be remembered")]
    Storage(String),
    #[error(transparent)]
    Rtc(#[from] RtcError),
}

impl AppError {
    /// A connection attempt the browser refused synchronously (for example a malformed URL); `message` is
    /// the JavaScript error's message, which gloo-net hands over.
    pub fn connect(url: &str, message: &str) -> Self {
        AppError::Connect {
            url: url.to_owned(),
            detail: message.to_owned(),
        }
    }

    /// A frame the WebSocket refused to send.
    pub fn send(cause: &gloo_net::websocket::WebSocketError) -> Self {
        AppError::Send(cause.to_string())
    }

    /// A failing `localStorage` access (private mode, quota, or a disabled storage).
    pub fn storage(cause: &JsValue) -> Self {
        AppError::Storage(describe_js(cause))
    }
}

impl ConfigError {
    /// A `fetch` of `peerlab.json` that rejected (no network, a refused connection) or whose body could not
    /// be read.
    pub fn fetch(cause: &gloo_net::Error) -> Self {
        ConfigError::Fetch(match cause {
            gloo_net::Error::JsError(error) => error.message.clone(),
            other => other.to_string(),
        })
    }
}

/// What can go wrong with a peer connection or data channel, with what to do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RtcError {
    #[error("the browser could not create a peer connection ({0}); use a current browser with WebRTC enabled")]
    Create(String),
    #[error("{step} failed ({detail}); press Hang up, then Start again")]
    Negotiation { step: &'static str, detail: String },
    #[error("the media track could not be added to the connection ({0}); press Hang up, then Start again")]
    AddTrack(String),
    #[error("the data channel could not be created ({0}); press Hang up, then Start again")]
    DataChannel(String),
    #[error("the message could not be sent ({0}); wait until the data channel is open")]
    Send(String),
    #[error(
        "the new ICE server settings could not be applied ({0}); calls already up keep working"
    )]
    Configure(String),
    #[error("the connection statistics could not be read ({0})")]
    Stats(String),
    #[error(
        "the file could not be read ({0}); pick it again, and keep it in place until it is sent"
    )]
    ReadFile(String),
    #[error("the camera or microphone could not be switched in the call ({0}); leave the call and join again")]
    ReplaceTrack(String),
    #[error("the video bitrate cap could not be applied ({0}); the call goes on without it")]
    Bitrate(String),
    #[error("the screen could not be shared ({0}); choose a screen, window or tab in the browser's picker (or allow screen sharing in the site settings) and press Share screen again")]
    ScreenShare(String),
    #[error(transparent)]
    Media(#[from] MediaError),
}

impl RtcError {
    /// A failed step of negotiation (`createOffer`, `setRemoteDescription`, ...).
    pub fn negotiation(step: &'static str, cause: &JsValue) -> Self {
        RtcError::Negotiation {
            step,
            detail: describe_js(cause),
        }
    }
}

impl MediaError {
    /// The one place a rejected `getUserMedia` (or `enumerateDevices`) becomes a [`MediaError`]: reads the
    /// `DOMException`'s `name`, `message` and, for `OverconstrainedError`, `constraint`.
    pub fn from_js(cause: &JsValue) -> Self {
        let field = |key: &str| {
            js_sys::Reflect::get(cause, &JsValue::from_str(key))
                .ok()
                .and_then(|v| v.as_string())
        };
        match field("name") {
            Some(name) => MediaError::from_dom(
                &name,
                &field("message").unwrap_or_default(),
                field("constraint").as_deref(),
            ),
            None => MediaError::Other {
                name: "Error".into(),
                message: describe_js(cause),
            },
        }
    }
}

/// Turns whatever a browser API threw into one line of text: the message of an `Error`, a thrown string
/// as it is, and anything else in its debug form.
pub fn describe_js(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        String::from(error.message())
    } else if let Some(text) = value.as_string() {
        text
    } else {
        format!("{value:?}")
    }
}

/// A headline for a typed error from the relay, shown above the relay's own sentence.
///
/// The relay's `message` already says what to do; the headline lets a person recognise the case at a
/// glance, and lets tests and styles key on the code rather than on wording.
pub fn relay_error_headline(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::RoomFull => "The room is full",
        ErrorCode::InvalidName => "The relay refused this name",
        ErrorCode::InvalidRoom => "The relay refused this room name",
        ErrorCode::UnsupportedVersion => "This app is out of date; reload the page",
        ErrorCode::ShuttingDown => "The relay is shutting down",
        ErrorCode::PeerNotFound => "That member has left the room",
        ErrorCode::PeerAway => "That member lost its relay connection; it may be back in a moment",
        ErrorCode::MessageTooLarge => "The message was too large for the relay",
        ErrorCode::RateLimited => "The app sent messages faster than the relay allows",
        ErrorCode::TooManyRooms => "The relay cannot open more rooms right now",
        ErrorCode::TokenRequired => "This room needs an invitation link",
        ErrorCode::TokenInvalid => "This room link is not valid",
        ErrorCode::TokenExpired => "This room link has expired",
        ErrorCode::NotJoined | ErrorCode::AlreadyJoined => {
            "The app and the relay disagree about the room"
        }
        ErrorCode::MalformedJson
        | ErrorCode::InvalidMessage
        | ErrorCode::UnknownType
        | ErrorCode::BinaryNotSupported => "The relay did not understand the app",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_refusals_have_distinct_headlines() {
        let headlines = [
            ErrorCode::TokenRequired,
            ErrorCode::TokenInvalid,
            ErrorCode::TokenExpired,
        ]
        .map(relay_error_headline);
        assert_eq!(headlines[2], "This room link has expired");
        assert!(headlines[0] != headlines[1] && headlines[1] != headlines[2]);
    }

    #[test]
    fn room_full_has_a_plain_headline() {
        assert_eq!(
            relay_error_headline(ErrorCode::RoomFull),
            "The room is full"
        );
    }

    #[test]
    fn a_refused_origin_names_the_relay_and_the_flag_with_this_origin() {
        let err = AppError::OriginRefused {
            relay: "wss://relay.example.org/ws".into(),
            origin: "https://app.example.org".into(),
        };
        let text = err.to_string();
        assert!(text.contains("wss://relay.example.org/ws"), "{text}");
        assert!(
            text.contains("--allowed-origin https://app.example.org"),
            "{text}"
        );
    }

    #[test]
    fn config_errors_say_what_to_write() {
        let err = ConfigError::BadRelayScheme {
            url: "http://relay".into(),
        };
        assert!(err.to_string().contains("ws://host/ws"), "{err}");
        let err = ConfigError::Parse("expected value".into());
        assert!(err.to_string().contains(r#"{"relay_url": null}"#), "{err}");
    }
}
