//! The room's control channel: each member tells every other what its microphone, camera and screen are
//! doing, so a muted microphone shows on the others' tiles at once (a disabled track sends silence or
//! black frames, which the receiving browser cannot tell from a quiet room or a dark one).
//!
//! One JSON object per data-channel text message on a negotiated channel of its own ([`CONTROL_CHANNEL_ID`]),
//! e.g. `{"v":1,"type":"state","mic_muted":true,"camera_off":false,"sharing":false}`. A state message is sent
//! when the channel opens and on every change; the last one wins. Pure: serde only.

use serde::{Deserialize, Serialize};

/// The version every control frame carries.
pub const CONTROL_VERSION: u32 = 1;

/// The label of the negotiated control channel.
pub const CONTROL_CHANNEL_LABEL: &str = "room-control";

/// Its SCTP stream id; the chat channel uses 0 (`chat::wire::CHAT_CHANNEL_ID`).
pub const CONTROL_CHANNEL_ID: u16 = 1;

/// What one member's media is doing, as the others show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaState {
    pub mic_muted: bool,
    pub camera_off: bool,
    /// The video shows a shared screen rather than the camera.
    pub sharing: bool,
}

/// One control frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// The sender's media state now.
    State(MediaState),
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    control: Control,
}

/// Why a control frame could not be read. The call ignores it (the next state message repairs the view)
/// and shows the reason in the console.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("a control message that is not valid ({0}); ask them to reload the page")]
    Invalid(String),
    #[error("a control message of version {0} (this app speaks {CONTROL_VERSION}); both of you should reload the page")]
    Version(u32),
}

/// The frame text for `control`.
pub fn encode(control: &Control) -> String {
    let envelope = Envelope {
        v: CONTROL_VERSION,
        control: control.clone(),
    };
    // A struct of booleans always serializes.
    serde_json::to_string(&envelope).unwrap_or_default()
}

/// Reads one frame.
pub fn decode(text: &str) -> Result<Control, ControlError> {
    let envelope: Envelope =
        serde_json::from_str(text).map_err(|e| ControlError::Invalid(e.to_string()))?;
    if envelope.v != CONTROL_VERSION {
        return Err(ControlError::Version(envelope.v));
    }
    Ok(envelope.control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_with_a_pinned_shape() {
        let state = Control::State(MediaState {
            mic_muted: true,
            camera_off: false,
            sharing: true,
        });
        let text = encode(&state);
        assert_eq!(
            text,
            r#"{"v":1,"type":"state","mic_muted":true,"camera_off":false,"sharing":true}"#
        );
        assert_eq!(decode(&text), Ok(state));
    }

    #[test]
    fn bad_frames_are_told_apart() {
        assert!(matches!(decode("nope"), Err(ControlError::Invalid(_))));
        assert!(matches!(
            decode(r#"{"v":1,"type":"wave"}"#),
            Err(ControlError::Invalid(_))
        ));
        assert_eq!(
            decode(r#"{"v":2,"type":"state","mic_muted":true,"camera_off":false,"sharing":false}"#),
            Err(ControlError::Version(2))
        );
    }
}
