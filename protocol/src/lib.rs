//! The wire protocol between the peerlab app and its relay: JSON text frames over one WebSocket at `/ws`.
//!
//! # Layout
//! - [`ClientMessage`]: everything a client may send to the relay.
//! - [`ServerMessage`]: everything the relay sends to a client.
//! - [`ErrorCode`]: the stable codes of the relay's typed `error` reply.
//! - [`validate`]: the rules for display names and room names, shared so the app can check input before sending.
//! - [`ice`]: [`IceSummary`], which kinds of STUN/TURN server a relay hands out (`GET /ice-summary`), read from
//!   their URLs.
//! - [`decode_client`]: turns one text frame into a [`ClientMessage`] or a [`DecodeError`] that says what was wrong.
//!
//! This crate is the public boundary of the product: `docs/PROTOCOL.md` shows an example of every message and
//! the tests in `tests/wire.rs` pin the exact JSON. It deliberately holds no I/O, no clock and no randomness;
//! peer ids are minted by the relay, never by this crate or by a client.

pub mod ice;
pub mod validate;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

pub use ice::IceSummary;
pub use validate::{validate_name, validate_room, NameError, RoomError};

/// The protocol version this crate speaks. A `join` with another version is refused with
/// [`ErrorCode::UnsupportedVersion`], so an old cached app learns it must reload instead of misbehaving.
pub const PROTOCOL_VERSION: u32 = 1;

/// An opaque identifier the relay assigns to one connection for as long as it is in a room.
///
/// It is 128 random bits, hex encoded, so it is unique across relay nodes and cannot be guessed by other
/// members. The relay stamps it as `from` on every forwarded signal; clients never choose it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PeerId(pub String);

impl PeerId {
    /// The id as it travels on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for PeerId {
    fn from(s: &str) -> Self {
        PeerId(s.to_owned())
    }
}

/// The application-defined content of a signal (an SDP offer or answer, an ICE candidate, or anything else
/// two apps agree on). The relay never looks inside: it forwards the JSON text as it arrived.
#[derive(Clone, Debug)]
pub struct Payload(Box<RawValue>);

impl Payload {
    /// Serializes `value` into a payload.
    pub fn from_value<T: Serialize>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::value::to_raw_value(value).map(Payload)
    }

    /// Wraps JSON text, checking that it is one valid JSON value.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        RawValue::from_string(text.to_owned()).map(Payload)
    }

    /// Decodes the payload into an application type.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The payload's JSON text.
    pub fn as_json(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.0.get() == other.0.get()
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Inside a tagged enum serde buffers the fields, which a borrowed `RawValue` cannot read from, so the
        // payload goes through a `Value` and back to text. Key order inside objects may change; values do not.
        // Signals, the common case, skip this path (see `SignalView`) and keep their text exactly.
        let value = serde_json::Value::deserialize(deserializer)?;
        serde_json::value::to_raw_value(&value)
            .map(Payload)
            .map_err(serde::de::Error::custom)
    }
}

/// Everything a client sends to the relay, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Enter a room under a display name. Must be the first message; carries the protocol version.
    Join {
        /// Must equal [`PROTOCOL_VERSION`].
        version: u32,
        /// The display name others see; checked by [`validate_name`].
        name: String,
        /// The room to enter; the chat lobby is the room `lobby`. Checked by [`validate_room`].
        room: String,
        /// A join token for `room` (see `docs/PROTOCOL.md`), needed only when the relay protects rooms. It
        /// comes from the room link (`/room/NAME?token=...`); absent on the wire when `None`, so the shape of
        /// an unprotected join is unchanged.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
        /// The `resume` token of an earlier `welcome` in this room: the relay gives this connection the
        /// same peer id again if the token checks (see `docs/PROTOCOL.md`, "Reconnect and resume"), and a
        /// fresh id otherwise. Absent on the wire when `None`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
    },
    /// Change one's display name; every member, including the sender, gets `member_renamed`.
    Rename { name: String },
    /// Send `payload` to the member `to` of the same room. The relay stamps `from` itself.
    Signal { to: PeerId, payload: Payload },
    /// Leave the room but keep the connection, for example to join another room.
    Leave,
    /// Application-level keep-alive for clients that cannot see WebSocket pings (browsers); answered by `pong`.
    Ping { nonce: u64 },
}

impl ClientMessage {
    /// The `type` tag of this message, as on the wire.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientMessage::Join { .. } => "join",
            ClientMessage::Rename { .. } => "rename",
            ClientMessage::Signal { .. } => "signal",
            ClientMessage::Leave => "leave",
            ClientMessage::Ping { .. } => "ping",
        }
    }
}

/// The `type` tags a client may send; anything else is answered with [`ErrorCode::UnknownType`].
pub const CLIENT_MESSAGE_TYPES: &[&str] = &["join", "rename", "signal", "leave", "ping"];

/// One member of a room as others see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub id: PeerId,
    pub name: String,
}

/// One ICE server entry, in the shape `RTCPeerConnection`'s `iceServers` takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// The limits the relay enforces in the joined room, so the app can tell the user before it hits them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomLimits {
    /// How many members the room holds at most, the joining member included.
    pub max_peers: u32,
    /// The largest text frame the relay accepts, in bytes.
    pub max_message_bytes: u32,
}

/// The relay's keep-alive timing. A connection from which nothing arrives for `timeout_ms` is closed and its
/// member announced as left; the relay pings every `interval_ms`, and a browser answers pings by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeepAlive {
    pub interval_ms: u64,
    pub timeout_ms: u64,
}

/// Why a member left the room, as told to the others.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeaveReason {
    /// The member sent `leave` or closed its connection, or its connection dropped and it did not come
    /// back within the relay's resume grace period.
    Left,
    /// Nothing arrived from the member within the keep-alive timeout (and, with a resume grace period, it
    /// did not come back within it either).
    Timeout,
    /// The relay disconnected the member, for example because it did not read its messages.
    Evicted,
}

/// Everything the relay sends to a client, tagged by `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The answer to a successful `join`.
    Welcome {
        /// The relay's protocol version.
        version: u32,
        /// The id the relay assigned to this connection.
        peer_id: PeerId,
        /// The room joined, as validated.
        room: String,
        /// The display name, as validated (trimmed).
        name: String,
        /// The other members already in the room, oldest first.
        members: Vec<Member>,
        /// The ICE servers to give `RTCPeerConnection`; empty means calls work only within one network.
        ice_servers: Vec<IceServer>,
        limits: RoomLimits,
        keepalive: KeepAlive,
        /// A token the client sends back as `join.resume` after its connection drops, to keep `peer_id`.
        /// Absent when the relay does not offer resumption.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        /// True when this join took back the peer id of a `resume` token; false for a fresh id.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        resumed: bool,
    },
    /// Someone entered the room.
    MemberJoined { member: Member },
    /// Someone left the room.
    MemberLeft { id: PeerId, reason: LeaveReason },
    /// Someone (possibly the receiver) changed their display name.
    MemberRenamed { id: PeerId, name: String },
    /// A signal from another member; `from` is stamped by the relay.
    Signal { from: PeerId, payload: Payload },
    /// The answer to `leave`.
    Left { room: String },
    /// The answer to `ping`.
    Pong { nonce: u64 },
    /// New ICE servers that replace those of `welcome`, sent before time-limited TURN credentials expire.
    /// The app hands them to `RTCPeerConnection.setConfiguration`; connections already up keep working.
    IceServers { ice_servers: Vec<IceServer> },
    /// The relay refused something; the connection stays open unless the relay closes it.
    Error {
        code: ErrorCode,
        /// A sentence for a person: what went wrong and what to do.
        message: String,
    },
}

/// The stable codes of the relay's `error` reply. New codes may be added; existing ones never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not valid JSON.
    MalformedJson,
    /// The frame is JSON but has no `type`, or its fields do not fit its type.
    InvalidMessage,
    /// The `type` is not one the relay knows.
    UnknownType,
    /// The frame is larger than the room's `max_message_bytes`.
    MessageTooLarge,
    /// A binary frame arrived; the protocol is JSON text only.
    BinaryNotSupported,
    /// The `join` carried a protocol version the relay does not speak.
    UnsupportedVersion,
    /// The display name breaks the rules in [`validate_name`].
    InvalidName,
    /// The room name breaks the rules in [`validate_room`].
    InvalidRoom,
    /// The message needs a room, and the connection has not joined one.
    NotJoined,
    /// A `join` arrived on a connection that is already in a room.
    AlreadyJoined,
    /// The room has reached its member limit.
    RoomFull,
    /// The signal's `to` is not a member of the sender's room.
    PeerNotFound,
    /// The relay is shutting down; reconnect (possibly elsewhere). Sent just before the 1001 close.
    ShuttingDown,
    /// The client sent messages faster than the relay's rate limit; the message was dropped.
    RateLimited,
    /// The relay holds as many rooms as it is configured for, and the `join` would have opened another.
    TooManyRooms,
    /// The relay protects rooms and the `join` carried no token.
    TokenRequired,
    /// The join token is malformed, was signed with another secret, or is for another room.
    TokenInvalid,
    /// The join token was valid but its expiry time has passed.
    TokenExpired,
    /// The signal's `to` is a member whose connection dropped: it stays in the room for the relay's resume
    /// grace period and may come back with the same id. Retry later; `member_left` follows if it does not.
    PeerAway,
}

impl ErrorCode {
    /// The code as on the wire, for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedJson => "malformed_json",
            ErrorCode::InvalidMessage => "invalid_message",
            ErrorCode::UnknownType => "unknown_type",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::BinaryNotSupported => "binary_not_supported",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::InvalidName => "invalid_name",
            ErrorCode::InvalidRoom => "invalid_room",
            ErrorCode::NotJoined => "not_joined",
            ErrorCode::AlreadyJoined => "already_joined",
            ErrorCode::RoomFull => "room_full",
            ErrorCode::PeerNotFound => "peer_not_found",
            ErrorCode::ShuttingDown => "shutting_down",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::TooManyRooms => "too_many_rooms",
            ErrorCode::TokenRequired => "token_required",
            ErrorCode::TokenInvalid => "token_invalid",
            ErrorCode::TokenExpired => "token_expired",
            ErrorCode::PeerAway => "peer_away",
        }
    }

    /// Every code, in declaration order: what metrics enumerate and tests iterate.
    pub const ALL: [ErrorCode; 19] = [
        ErrorCode::MalformedJson,
        ErrorCode::InvalidMessage,
        ErrorCode::UnknownType,
        ErrorCode::MessageTooLarge,
        ErrorCode::BinaryNotSupported,
        ErrorCode::UnsupportedVersion,
        ErrorCode::InvalidName,
        ErrorCode::InvalidRoom,
        ErrorCode::NotJoined,
        ErrorCode::AlreadyJoined,
        ErrorCode::RoomFull,
        ErrorCode::PeerNotFound,
        ErrorCode::ShuttingDown,
        ErrorCode::RateLimited,
        ErrorCode::TooManyRooms,
        ErrorCode::TokenRequired,
        ErrorCode::TokenInvalid,
        ErrorCode::TokenExpired,
        ErrorCode::PeerAway,
    ];

    /// This code's position in [`ErrorCode::ALL`], so counters can live in a plain array.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WebSocket close codes the relay uses, beside the standard 1000 (normal) and 1001 (going away).
pub mod close_code {
    /// A frame exceeded the relay's hard frame limit (RFC 6455 "message too big").
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The relay is shutting down (RFC 6455 "going away"); reconnect, possibly to another relay.
    pub const GOING_AWAY: u16 = 1001;
    /// Nothing arrived within the keep-alive timeout.
    pub const KEEPALIVE_TIMEOUT: u16 = 4000;
    /// The client did not read its messages and its outgoing queue stayed full.
    pub const SLOW_CONSUMER: u16 = 4001;
    /// The client kept sending far above the rate limit after its messages were already being dropped.
    pub const RATE_LIMITED: u16 = 4002;
    /// The connection joined no room within the join timeout.
    pub const JOIN_TIMEOUT: u16 = 4003;
    /// A newer connection took over this connection's peer id with its `resume` token (the client
    /// reconnected before the relay noticed the old connection was gone). Do not reconnect from here: the
    /// newer connection is the client now.
    pub const REPLACED: u16 = 4004;
}

/// What was wrong with a frame a client sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the message is not valid JSON ({0})")]
    MalformedJson(String),
    #[error("the message must be a JSON object with a \"type\" field")]
    MissingType,
    #[error("unknown message type {0:?}; known types are join, rename, signal, leave, ping")]
    UnknownType(String),
    #[error("invalid {kind:?} message: {detail}")]
    Invalid { kind: String, detail: String },
}

impl DecodeError {
    /// The error code the relay answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            DecodeError::MalformedJson(_) => ErrorCode::MalformedJson,
            DecodeError::MissingType | DecodeError::Invalid { .. } => ErrorCode::InvalidMessage,
            DecodeError::UnknownType(_) => ErrorCode::UnknownType,
        }
    }
}

/// The fields of a signal, borrowed from the frame. Signals are nearly all of the traffic, so they are read
/// through this flat view first: the payload is then kept as the exact text that arrived, instead of going
/// through a `serde_json::Value` (which a tagged enum needs).
#[derive(Deserialize)]
struct SignalView<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow, default)]
    to: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    from: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    payload: Option<&'a RawValue>,
}

fn signal_view(text: &str) -> Option<SignalView<'_>> {
    serde_json::from_str::<SignalView>(text)
        .ok()
        .filter(|v| v.kind == "signal" && v.payload.is_some())
}

/// Decodes one text frame from a client, telling malformed JSON, a missing or unknown `type` and bad fields apart.
pub fn decode_client(text: &str) -> Result<ClientMessage, DecodeError> {
    if let Some(SignalView {
        to: Some(to),
        payload: Some(payload),
        ..
    }) = signal_view(text)
    {
        return Ok(ClientMessage::Signal {
            to: PeerId(to.into_owned()),
            payload: Payload(payload.to_owned()),
        });
    }
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(message) => Ok(message),
        Err(err) => Err(explain_decode_failure(text, err)),
    }
}

fn explain_decode_failure(text: &str, err: serde_json::Error) -> DecodeError {
    if err.is_syntax() || err.is_eof() {
        return DecodeError::MalformedJson(err.to_string());
    }
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    match serde_json::from_str::<Head>(text) {
        Ok(Head {
            kind: Some(serde_json::Value::String(kind)),
        }) => {
            if CLIENT_MESSAGE_TYPES.contains(&kind.as_str()) {
                DecodeError::Invalid {
                    detail: err.to_string(),
                    kind,
                }
            } else {
                DecodeError::UnknownType(kind)
            }
        }
        _ => DecodeError::MissingType,
    }
}

/// Encodes a server message as one JSON text frame.
pub fn encode_server(message: &ServerMessage) -> String {
    // Serializing these types cannot fail: every map key is a string, no value is a float, and a payload is
    // already checked JSON.
    serde_json::to_string(message).expect("protocol messages always serialize")
}

/// Encodes a client message as one JSON text frame.
pub fn encode_client(message: &ClientMessage) -> String {
    serde_json::to_string(message).expect("protocol messages always serialize")
}

/// Decodes one text frame from the relay.
pub fn decode_server(text: &str) -> Result<ServerMessage, serde_json::Error> {
    if let Some(SignalView {
        from: Some(from),
        payload: Some(payload),
        ..
    }) = signal_view(text)
    {
        return Ok(ServerMessage::Signal {
            from: PeerId(from.into_owned()),
            payload: Payload(payload.to_owned()),
        });
    }
    serde_json::from_str(text)
}
