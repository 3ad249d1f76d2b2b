//! The chat data channel's wire format: one JSON object per data-channel text message, with a version and
//! a `type` tag, e.g. `{"v":1,"type":"text","id":"m-1f","text":"hello"}`.
//!
//! [`decode`] tells apart the ways a frame from another browser can be wrong (not JSON, another version,
//! an unknown type, bad fields), so a conversation can show what happened and carry on: a malformed frame
//! never ends a conversation. File *bytes* never travel in this format; they go as binary messages on a
//! file's own channel, and only the `file_end` message of [`Wire`] travels on that channel too (after the
//! last chunk, so ordering guarantees it arrives after every byte).
//!
//! Pure: serde only, no `web_sys`, no Leptos.

use serde::{Deserialize, Serialize};

/// The version every frame carries in `v`; a frame of another version is refused with a clear error.
pub const WIRE_VERSION: u32 = 1;

/// The longest text message accepted, in bytes of UTF-8. Well under every browser's data-channel message
/// limit (Chrome's is 256 KiB), so one message is always one frame.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;

/// The longest message or transfer id accepted.
pub const MAX_ID_CHARS: usize = 64;

/// The longest file name accepted (in characters), and the longest MIME type.
pub const MAX_NAME_CHARS: usize = 255;
pub const MAX_MIME_CHARS: usize = 127;

/// The label of the one chat channel of a pair of users. It is created `negotiated` with
/// [`CHAT_CHANNEL_ID`] on both sides, so neither side waits for the other to announce it.
pub const CHAT_CHANNEL_LABEL: &str = "chat";

/// The SCTP stream id of the negotiated chat channel.
pub const CHAT_CHANNEL_ID: u16 = 0;

/// The label prefix of a file's own channel: `file:<transfer id>`.
pub const FILE_CHANNEL_PREFIX: &str = "file:";

/// The label of the channel that carries the transfer `id`.
pub fn file_channel_label(id: &str) -> String {
    format!("{FILE_CHANNEL_PREFIX}{id}")
}

/// The transfer id a channel label names, if it is a file channel's label.
pub fn transfer_id_of_label(label: &str) -> Option<&str> {
    label
        .strip_prefix(FILE_CHANNEL_PREFIX)
        .filter(|id| valid_id(id))
}

/// One chat-channel (or file-channel) message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Wire {
    /// A text message; the receiver answers with [`Wire::Ack`] (every time, duplicates included).
    Text { id: String, text: String },
    /// The receiver has the text message `id`.
    Ack { id: String },
    /// The sender proposes a file; nothing is sent before [`Wire::FileAccept`].
    FileOffer {
        id: String,
        name: String,
        size: u64,
        mime: String,
    },
    /// The receiver wants the file: the sender opens the file's channel.
    FileAccept { id: String },
    /// The receiver does not want the file.
    FileDecline { id: String },
    /// Either side stops the transfer.
    FileCancel { id: String },
    /// Sent on the file's channel after its last chunk: how many bytes were sent and their SHA-256 (hex).
    FileEnd {
        id: String,
        size: u64,
        sha256: String,
    },
    /// The receiver's verdict after comparing sizes and digests; the sender shows done or failed.
    FileResult { id: String, ok: bool },
}

impl Wire {
    /// The message or transfer id the frame is about.
    pub fn id(&self) -> &str {
        match self {
            Wire::Text { id, .. }
            | Wire::Ack { id }
            | Wire::FileOffer { id, .. }
            | Wire::FileAccept { id }
            | Wire::FileDecline { id }
            | Wire::FileCancel { id }
            | Wire::FileEnd { id, .. }
            | Wire::FileResult { id, .. } => id,
        }
    }
}

/// The frame as it travels: the version next to the tagged message.
#[derive(Serialize)]
struct Envelope<'a> {
    v: u32,
    #[serde(flatten)]
    message: &'a Wire,
}

/// The types this version knows, to tell "unknown type" from "bad fields".
const KNOWN_TYPES: [&str; 8] = [
    "text",
    "ack",
    "file_offer",
    "file_accept",
    "file_decline",
    "file_cancel",
    "file_end",
    "file_result",
];

/// Why a frame from the other browser could not be read. Each says what the person can do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("a message that is not JSON ({0}); ask them to reload the page")]
    NotJson(String),
    #[error("a message without a version; ask them to reload the page")]
    MissingVersion,
    #[error("a message of protocol version {0} (this app speaks {WIRE_VERSION}); both of you should reload the page")]
    UnsupportedVersion(u64),
    #[error("a message without a type; ask them to reload the page")]
    MissingType,
    #[error("a message of unknown type {0:?}; both of you should reload the page")]
    UnknownType(String),
    #[error("a {kind:?} message with bad fields ({detail}); ask them to reload the page")]
    BadFields { kind: String, detail: String },
    #[error("a {kind:?} message whose {field} is invalid; ask them to reload the page")]
    Invalid { kind: String, field: &'static str },
    #[error("a binary message on the chat channel; ask them to reload the page")]
    Binary,
}

/// The frame text for `message`.
pub fn encode(message: &Wire) -> String {
    // Serializing plain strings and numbers cannot fail.
    serde_json::to_string(&Envelope {
        v: WIRE_VERSION,
        message,
    })
    .unwrap_or_default()
}

/// Reads one frame, checking version, type, fields and limits, in that order.
pub fn decode(text: &str) -> Result<Wire, WireError> {
    let mut value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| WireError::NotJson(e.to_string()))?;
    let object = value
        .as_object_mut()
        .ok_or_else(|| WireError::NotJson("not an object".into()))?;
    let version = object.remove("v").ok_or(WireError::MissingVersion)?;
    match version.as_u64() {
        Some(v) if v == u64::from(WIRE_VERSION) => {}
        Some(v) => return Err(WireError::UnsupportedVersion(v)),
        None => return Err(WireError::MissingVersion),
    }
    let kind = object
        .get("type")
        .and_then(|t| t.as_str())
        .ok_or(WireError::MissingType)?
        .to_owned();
    if !KNOWN_TYPES.contains(&kind.as_str()) {
        return Err(WireError::UnknownType(kind));
    }
    let message: Wire = serde_json::from_value(value).map_err(|e| WireError::BadFields {
        kind: kind.clone(),
        detail: e.to_string(),
    })?;
    validate(&message).map_err(|field| WireError::Invalid { kind, field })?;
    Ok(message)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn validate(message: &Wire) -> Result<(), &'static str> {
    if !valid_id(message.id()) {
        return Err("id");
    }
    match message {
        Wire::Text { text, .. } if text.len() > MAX_TEXT_BYTES => Err("text"),
        Wire::FileOffer { name, mime, .. } => {
            if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
                Err("name")
            } else if mime.chars().count() > MAX_MIME_CHARS {
                Err("mime")
            } else {
                Ok(())
            }
        }
        Wire::FileEnd { sha256, .. }
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) =>
        {
            Err("sha256")
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(id: &str, text: &str) -> Wire {
        Wire::Text {
            id: id.into(),
            text: text.into(),
        }
    }

    #[test]
    fn every_message_round_trips() {
        let all = [
            text("m-1", "hello <b>there</b>"),
            Wire::Ack { id: "m-1".into() },
            Wire::FileOffer {
                id: "t-1".into(),
                name: "report.pdf".into(),
                size: 1 << 30,
                mime: "application/pdf".into(),
            },
            Wire::FileAccept { id: "t-1".into() },
            Wire::FileDecline { id: "t-1".into() },
            Wire::FileCancel { id: "t-1".into() },
            Wire::FileEnd {
                id: "t-1".into(),
                size: 3,
                sha256: "ab".repeat(32),
            },
            Wire::FileResult {
                id: "t-1".into(),
                ok: true,
            },
        ];
        for message in all {
            assert_eq!(decode(&encode(&message)), Ok(message));
        }
    }

    #[test]
    fn the_shape_is_pinned() {
        assert_eq!(
            encode(&text("m-1", "hi")),
            r#"{"v":1,"type":"text","id":"m-1","text":"hi"}"#
        );
        assert_eq!(
            encode(&Wire::FileResult {
                id: "t".into(),
                ok: false
            }),
            r#"{"v":1,"type":"file_result","id":"t","ok":false}"#
        );
    }

    #[test]
    fn malformed_frames_get_typed_errors() {
        type Check = fn(&WireError) -> bool;
        let cases: [(&str, Check); 10] = [
            ("{nope", |e| matches!(e, WireError::NotJson(_))),
            ("[1,2]", |e| matches!(e, WireError::NotJson(_))),
            (r#"{"type":"text","id":"a","text":"x"}"#, |e| {
                *e == WireError::MissingVersion
            }),
            (r#"{"v":"1","type":"text","id":"a","text":"x"}"#, |e| {
                *e == WireError::MissingVersion
            }),
            (r#"{"v":2,"type":"text","id":"a","text":"x"}"#, |e| {
                *e == WireError::UnsupportedVersion(2)
            }),
            (r#"{"v":1,"id":"a"}"#, |e| *e == WireError::MissingType),
            (r#"{"v":1,"type":"video","id":"a"}"#, |e| {
                *e == WireError::UnknownType("video".into())
            }),
            (
                r#"{"v":1,"type":"text","id":"a"}"#,
                |e| matches!(e, WireError::BadFields { kind, .. } if kind == "text"),
            ),
            (
                r#"{"v":1,"type":"file_offer","id":"a","name":"x","size":-1,"mime":""}"#,
                |e| matches!(e, WireError::BadFields { .. }),
            ),
            (r#"{"v":1,"type":"ack","id":"a","extra":1}"#, |e| {
                matches!(e, WireError::BadFields { .. })
            }),
        ];
        for (frame, expected) in cases {
            let err = decode(frame).expect_err(frame);
            assert!(expected(&err), "{frame}: {err:?}");
            assert!(err.to_string().contains("reload"), "{err}");
        }
    }

    #[test]
    fn limits_and_ids_are_checked() {
        let long = "x".repeat(MAX_TEXT_BYTES + 1);
        assert_eq!(
            decode(&encode(&text("m-1", &long))),
            Err(WireError::Invalid {
                kind: "text".into(),
                field: "text"
            })
        );
        assert!(decode(&encode(&text("m-1", &"x".repeat(MAX_TEXT_BYTES)))).is_ok());
        for bad_id in ["", "a b", "<script>", &"a".repeat(MAX_ID_CHARS + 1)] {
            assert!(
                matches!(
                    decode(&encode(&Wire::Ack { id: bad_id.into() })),
                    Err(WireError::Invalid { field: "id", .. })
                ),
                "{bad_id:?}"
            );
        }
        let offer = |name: &str| Wire::FileOffer {
            id: "t".into(),
            name: name.into(),
            size: 1,
            mime: String::new(),
        };
        assert!(decode(&encode(&offer("  "))).is_err());
        assert!(decode(&encode(&offer(&"n".repeat(MAX_NAME_CHARS + 1)))).is_err());
        let end = |sha: &str| Wire::FileEnd {
            id: "t".into(),
            size: 1,
            sha256: sha.into(),
        };
        assert!(decode(&encode(&end("zz"))).is_err());
        assert!(decode(&encode(&end(&"g".repeat(64)))).is_err());
    }

    #[test]
    fn file_channel_labels_name_their_transfer() {
        assert_eq!(file_channel_label("t-9"), "file:t-9");
        assert_eq!(transfer_id_of_label("file:t-9"), Some("t-9"));
        assert_eq!(transfer_id_of_label("chat"), None);
        assert_eq!(transfer_id_of_label("file:"), None);
        assert_eq!(transfer_id_of_label("file:a b"), None);
    }
}
