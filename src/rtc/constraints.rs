//! The `getUserMedia` constraints the media page asks for, built as plain JSON.
//!
//! A constraint is either *ideal* (the browser picks the closest the device can do) or *exact* (anything
//! else is an `OverconstrainedError`); the media page lets a reader try both. This module deliberately
//! imports neither `web_sys` nor Leptos: the glue hands the JSON to `getUserMedia` as it is.

use serde_json::{json, Map, Value};

use super::devices::TrackKind;

/// The resolutions offered, as (label, width, height).
pub const RESOLUTIONS: &[(&str, u32, u32)] = &[
    ("320 × 240", 320, 240),
    ("640 × 480", 640, 480),
    ("1280 × 720 (HD)", 1280, 720),
    ("1920 × 1080 (Full HD)", 1920, 1080),
    ("3840 × 2160 (4K)", 3840, 2160),
    ("7680 × 4320 (8K)", 7680, 4320),
];

/// The frame rates offered.
pub const FRAME_RATES: &[u32] = &[5, 15, 30, 60];

/// What the user chose on the media page.
#[derive(Clone, Debug, PartialEq)]
pub struct MediaRequest {
    pub video: bool,
    pub audio: bool,
    /// A camera `deviceId`; `None` lets the browser choose.
    pub camera: Option<String>,
    /// A microphone `deviceId`; `None` lets the browser choose.
    pub microphone: Option<String>,
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
    /// Whether resolution and frame rate are `exact` rather than `ideal`.
    pub exact: bool,
}

impl Default for MediaRequest {
    fn default() -> Self {
        MediaRequest {
            video: true,
            audio: true,
            camera: None,
            microphone: None,
            width: 640,
            height: 480,
            frame_rate: 30,
            exact: false,
        }
    }
}

impl MediaRequest {
    /// Makes `device_id` the device of `kind`; an empty id lets the browser choose.
    pub fn choose(&mut self, kind: TrackKind, device_id: &str) {
        let id = (!device_id.is_empty()).then(|| device_id.to_owned());
        match kind {
            TrackKind::Video => self.camera = id,
            TrackKind::Audio => self.microphone = id,
        }
    }

    /// The `MediaStreamConstraints` for the whole request.
    pub fn constraints(&self) -> Value {
        json!({
            "video": if self.video { self.video_constraints() } else { Value::Bool(false) },
            "audio": if self.audio { self.audio_constraints() } else { Value::Bool(false) },
        })
    }

    /// Constraints for the camera alone (switching cameras on a live stream).
    pub fn video_only(&self) -> Value {
        json!({ "video": self.video_constraints(), "audio": false })
    }

    /// Constraints for the microphone alone (switching microphones on a live stream).
    pub fn audio_only(&self) -> Value {
        json!({ "video": false, "audio": self.audio_constraints() })
    }

    fn video_constraints(&self) -> Value {
        let strength = if self.exact { "exact" } else { "ideal" };
        let mut video = Map::new();
        video.insert("width".into(), json!({ strength: self.width }));
        video.insert("height".into(), json!({ strength: self.height }));
        video.insert("frameRate".into(), json!({ strength: self.frame_rate }));
        if let Some(id) = &self.camera {
            video.insert("deviceId".into(), json!({ "exact": id }));
        }
        Value::Object(video)
    }

    fn audio_constraints(&self) -> Value {
        match &self.microphone {
            Some(id) => json!({ "deviceId": { "exact": id } }),
            None => Value::Bool(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choosing_a_device_sets_its_kind_and_an_empty_id_lets_the_browser_choose() {
        let mut r = MediaRequest::default();
        // (kind, id, camera after, microphone after)
        let table = [
            (TrackKind::Video, "cam-2", Some("cam-2"), None),
            (TrackKind::Audio, "mic-1", Some("cam-2"), Some("mic-1")),
            (TrackKind::Video, "", None, Some("mic-1")),
        ];
        for (kind, id, camera, microphone) in table {
            r.choose(kind, id);
            assert_eq!(
                (r.camera.as_deref(), r.microphone.as_deref()),
                (camera, microphone),
                "{kind:?} {id:?}"
            );
        }
    }

    #[test]
    fn ideal_by_default_exact_on_request() {
        let mut request = MediaRequest::default();
        let c = request.constraints();
        assert_eq!(c["video"]["width"], json!({"ideal": 640}));
        assert_eq!(c["audio"], json!(true));
        request.exact = true;
        request.microphone = Some("mic-2".into());
        let c = request.constraints();
        assert_eq!(c["video"]["frameRate"], json!({"exact": 30}));
        assert_eq!(c["audio"], json!({"deviceId": {"exact": "mic-2"}}));
    }

    #[test]
    fn switching_asks_for_one_kind_only() {
        let request = MediaRequest {
            camera: Some("cam-1".into()),
            ..MediaRequest::default()
        };
        assert_eq!(request.video_only()["audio"], json!(false));
        assert_eq!(
            request.video_only()["video"]["deviceId"],
            json!({"exact": "cam-1"})
        );
        assert_eq!(request.audio_only()["video"], json!(false));
        let none = MediaRequest {
            video: false,
            ..MediaRequest::default()
        };
        assert_eq!(none.constraints()["video"], json!(false));
    }
}
