//! The camera settings of a call: 640×480 at 15 frames per second unless the room link asks for others
//! with `?video=WIDTHxHEIGHT@FPS` (e.g. `?video=320x240@15` for a slow machine or a large room). Pure.

/// Width, height and frame rate of the camera a call opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VideoSettings {
    pub width: u32,
    pub height: u32,
    pub frame_rate: u32,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings {
            width: 640,
            height: 480,
            frame_rate: 15,
        }
    }
}

impl VideoSettings {
    /// Reads `WIDTHxHEIGHT@FPS` (the `@FPS` part optional); anything else, or values outside
    /// 160×120…1920×1080 and 1…60 fps, gives the defaults.
    pub fn parse(text: Option<&str>) -> VideoSettings {
        let parsed = text.and_then(|text| {
            let (size, fps) = match text.split_once('@') {
                Some((size, fps)) => (size, fps.parse().ok()?),
                None => (text, VideoSettings::default().frame_rate),
            };
            let (w, h) = size.split_once('x')?;
            let settings = VideoSettings {
                width: w.parse().ok()?,
                height: h.parse().ok()?,
                frame_rate: fps,
            };
            ((160..=1920).contains(&settings.width)
                && (120..=1080).contains(&settings.height)
                && (1..=60).contains(&settings.frame_rate))
            .then_some(settings)
        });
        parsed.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_parameter_sets_size_and_rate_within_bounds() {
        let s = |w, h, f| VideoSettings {
            width: w,
            height: h,
            frame_rate: f,
        };
        assert_eq!(VideoSettings::parse(Some("320x240@15")), s(320, 240, 15));
        assert_eq!(VideoSettings::parse(Some("1280x720")), s(1280, 720, 15));
        assert_eq!(VideoSettings::parse(None), VideoSettings::default());
        for bad in [
            "",
            "big",
            "320x240@0",
            "10x10",
            "320x240@120",
            "4000x3000",
            "x@",
        ] {
            assert_eq!(
                VideoSettings::parse(Some(bad)),
                VideoSettings::default(),
                "{bad}"
            );
        }
    }
}
