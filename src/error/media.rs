//! What each `getUserMedia` failure means for the person in front of the page.
//!
//! The browser reports a failure as a `DOMException` whose `name` tells the cause; [`MediaError::from_dom`]
//! turns that name (and, for `OverconstrainedError`, the constraint it names) into a typed error whose
//! message says what to do. The web-sys glue reads the exception; this module deliberately imports neither
//! `web_sys` nor Leptos.

/// Why the camera or microphone could not be opened.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    #[error("camera or microphone permission was denied; allow it with the icon in the address bar (or in the browser's site settings) and press Start again")]
    PermissionDenied,
    #[error("no camera or microphone was found; connect one, or untick the one you do not have, and press Start again")]
    NotFound,
    #[error("the camera or microphone is in use by another application or could not be started; close the other application (or tab) using it and press Start again")]
    NotReadable,
    #[error("this device cannot satisfy the {constraint} you asked for; choose a smaller value, or untick \"exactly\" so the browser may pick the closest it can do")]
    Overconstrained { constraint: String },
    #[error("the camera and microphone are only available on a secure page; open this app over https:// or at http://localhost")]
    InsecureContext,
    #[error("this browser has no camera or microphone support (navigator.mediaDevices is missing); use a current Chrome, Firefox or Safari")]
    Unsupported,
    #[error("nothing to open; tick Camera, Microphone or both, then press Start")]
    NothingRequested,
    #[error("opening the camera or microphone was interrupted; press Start again")]
    Aborted,
    #[error("the request for camera or microphone is not valid ({0}); this is a bug in peerlab")]
    InvalidRequest(String),
    #[error("the camera or microphone could not be opened ({name}: {message}); press Start again, or reload the page")]
    Other { name: String, message: String },
}

impl MediaError {
    /// Maps a `DOMException`'s `name` and `message` (and an `OverconstrainedError`'s `constraint`) to an error.
    /// The legacy names older browsers used are understood too.
    pub fn from_dom(name: &str, message: &str, constraint: Option<&str>) -> Self {
        match name {
            "NotAllowedError" | "PermissionDeniedError" | "SecurityError" => {
                MediaError::PermissionDenied
            }
            "NotFoundError" | "DevicesNotFoundError" => MediaError::NotFound,
            "NotReadableError" | "TrackStartError" => MediaError::NotReadable,
            "OverconstrainedError" | "ConstraintNotSatisfiedError" => {
                let constraint = constraint
                    .filter(|c| !c.is_empty())
                    .map(describe_constraint)
                    .unwrap_or_else(|| "settings".to_owned());
                MediaError::Overconstrained { constraint }
            }
            "AbortError" => MediaError::Aborted,
            "TypeError" => MediaError::InvalidRequest(message.to_owned()),
            _ => MediaError::Other {
                name: name.to_owned(),
                message: message.to_owned(),
            },
        }
    }

    /// A stable word for the case, for `data-error` attributes, styles and tests.
    pub fn code(&self) -> &'static str {
        match self {
            MediaError::PermissionDenied => "permission-denied",
            MediaError::NotFound => "not-found",
            MediaError::NotReadable => "not-readable",
            MediaError::Overconstrained { .. } => "overconstrained",
            MediaError::InsecureContext => "insecure-context",
            MediaError::Unsupported => "unsupported",
            MediaError::NothingRequested => "nothing-requested",
            MediaError::Aborted => "aborted",
            MediaError::InvalidRequest(_) => "invalid-request",
            MediaError::Other { .. } => "other",
        }
    }
}

fn describe_constraint(constraint: &str) -> String {
    match constraint {
        "width" | "height" => format!("resolution ({constraint})"),
        "frameRate" => "frame rate".to_owned(),
        "deviceId" => "device (it may have been unplugged)".to_owned(),
        other => other.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dom_failure_says_what_to_do() {
        for (name, constraint, code, advice) in [
            ("NotAllowedError", None, "permission-denied", "address bar"),
            ("NotFoundError", None, "not-found", "connect one"),
            (
                "NotReadableError",
                None,
                "not-readable",
                "close the other application",
            ),
            (
                "OverconstrainedError",
                Some("width"),
                "overconstrained",
                "resolution (width)",
            ),
            (
                "OverconstrainedError",
                Some("frameRate"),
                "overconstrained",
                "frame rate",
            ),
            ("AbortError", None, "aborted", "Start again"),
            ("WeirdError", None, "other", "WeirdError: boom"),
        ] {
            let err = MediaError::from_dom(name, "boom", constraint);
            assert_eq!(err.code(), code, "{name}");
            assert!(err.to_string().contains(advice), "{name}: {err}");
        }
    }

    #[test]
    fn insecure_context_points_to_https() {
        assert!(MediaError::InsecureContext.to_string().contains("https://"));
    }
}
