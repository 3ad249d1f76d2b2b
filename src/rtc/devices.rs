//! Cameras and microphones as data, and what to say and offer when the one in use stops mid-call: its
//! track ended by itself because the device was unplugged or another app took it.
//!
//! [`notice`] decides from the device list, the device that stopped and whether the other kind still
//! works; `rtc::media` records the loss and carries out the switch. Pure: no `web_sys`, no Leptos.

/// Audio or video.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackKind {
    Audio,
    Video,
}

impl TrackKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackKind::Audio => "audio",
            TrackKind::Video => "video",
        }
    }

    /// The device's name in a sentence ("camera", "microphone").
    pub fn device_word(self) -> &'static str {
        match self {
            TrackKind::Audio => "microphone",
            TrackKind::Video => "camera",
        }
    }

    /// The other kind, whose device may still work when this one stops.
    pub fn other(self) -> TrackKind {
        match self {
            TrackKind::Audio => TrackKind::Video,
            TrackKind::Video => TrackKind::Audio,
        }
    }
}

/// One input device, as `enumerateDevices` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    pub kind: TrackKind,
    pub device_id: String,
    /// Empty until the user has granted permission once: labels identify hardware, so browsers hide them.
    pub label: String,
}

/// A device whose track ended by itself while in use (the browser fired `ended`; a track this app stops
/// fires nothing).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceLoss {
    pub kind: TrackKind,
    /// The track's `deviceId` setting, to find the device in the list (and to skip it).
    pub device_id: String,
    /// The track's label, so the words name the device even once it has left the list.
    pub label: String,
}

/// Records `loss`, replacing an earlier loss of the same kind: only the latest device of each kind matters.
pub fn record_loss(losses: &mut Vec<DeviceLoss>, loss: DeviceLoss) {
    losses.retain(|l| l.kind != loss.kind);
    losses.push(loss);
}

/// What can take the stopped device's place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// Another device of the same kind: the next one in the list after the stopped one.
    Next(DeviceInfo),
    /// No other device, but the stopped one is still listed: another app may hold it, so trying it again
    /// can work once that app lets go.
    Again(DeviceInfo),
    /// Nothing of that kind is left.
    Nothing,
}

/// Chrome lists these aliases besides the real devices; each stands for one of them (often the very one
/// that stopped), so only real devices are offered.
const ALIASES: &[&str] = &["default", "communications"];

/// The device to offer in place of `lost`: the next device of its kind after it in `devices` (wrapping
/// around), else the same device if it is still listed, else nothing. Devices without an id (listed
/// before any permission) cannot be asked for and are skipped.
pub fn replacement(devices: &[DeviceInfo], lost: &DeviceLoss) -> Replacement {
    let usable: Vec<&DeviceInfo> = devices
        .iter()
        .filter(|d| d.kind == lost.kind && !d.device_id.is_empty())
        .collect();
    let start = usable
        .iter()
        .position(|d| d.device_id == lost.device_id)
        .map_or(0, |i| i + 1);
    let next = (0..usable.len())
        .map(|step| usable[(start + step) % usable.len()])
        .find(|d| d.device_id != lost.device_id && !ALIASES.contains(&d.device_id.as_str()));
    if let Some(next) = next {
        return Replacement::Next(next.clone());
    }
    match usable.iter().find(|d| d.device_id == lost.device_id) {
        Some(same) => Replacement::Again((*same).clone()),
        None => Replacement::Nothing,
    }
}

/// What the page shows about a stopped device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LossNotice {
    pub kind: TrackKind,
    /// What happened, naming the device.
    pub headline: String,
    /// What can be done, or what still works when nothing can replace it.
    pub detail: String,
    /// The device the button switches to, with the button's words.
    pub offer: Option<(DeviceInfo, String)>,
}

/// The words and the offer for `lost`, given the devices listed now and whether the other kind's track
/// is still live.
pub fn notice(lost: &DeviceLoss, devices: &[DeviceInfo], other_live: bool) -> LossNotice {
    let word = lost.kind.device_word();
    let headline = if lost.label.is_empty() {
        format!("Your {word} stopped: it was unplugged or another app took it.")
    } else {
        format!(
            "Your {word} ({}) stopped: it was unplugged or another app took it.",
            lost.label
        )
    };
    let (detail, offer) = match replacement(devices, lost) {
        Replacement::Next(next) => {
            let name = device_name(devices, &next);
            (
                format!("Another {word} is available: {name}."),
                Some((next, format!("Switch to {name}"))),
            )
        }
        Replacement::Again(same) => {
            let name = device_name(devices, &same);
            (
                "It is still connected, so another app may be using it: close that app, then try it \
                 again."
                    .to_owned(),
                Some((same, format!("Try {name} again"))),
            )
        }
        Replacement::Nothing => (still_works(lost.kind, other_live), None),
    };
    LossNotice {
        kind: lost.kind,
        headline,
        detail,
        offer,
    }
}

/// What still works when nothing can replace a device of `kind`.
fn still_works(kind: TrackKind, other_live: bool) -> String {
    match (kind, other_live) {
        (TrackKind::Video, true) => "No other camera is connected. Your microphone still works: you can \
            go on with sound only, and a camera you plug in shows up here."
            .to_owned(),
        (TrackKind::Audio, true) => "No other microphone is connected. Your camera still works: you can \
            be seen but not heard, and a microphone you plug in shows up here."
            .to_owned(),
        (kind, false) => format!(
            "No other {} is connected, and no {} is on either: text chat still works, and a device you \
             plug in shows up here.",
            kind.device_word(),
            kind.other().device_word()
        ),
    }
}

/// A device's name for people: its label, or "camera 2" (its place among its kind) while labels are
/// hidden.
pub fn device_name(devices: &[DeviceInfo], device: &DeviceInfo) -> String {
    if !device.label.is_empty() {
        return device.label.clone();
    }
    let place = devices
        .iter()
        .filter(|d| d.kind == device.kind)
        .position(|d| d.device_id == device.device_id)
        .map_or(1, |i| i + 1);
    format!("{} {place}", device.kind.device_word())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(kind: TrackKind, id: &str, label: &str) -> DeviceInfo {
        DeviceInfo {
            kind,
            device_id: id.to_owned(),
            label: label.to_owned(),
        }
    }

    fn cam(id: &str) -> DeviceInfo {
        dev(TrackKind::Video, id, &format!("Cam {id}"))
    }

    fn mic(id: &str) -> DeviceInfo {
        dev(TrackKind::Audio, id, &format!("Mic {id}"))
    }

    fn lost(kind: TrackKind, id: &str) -> DeviceLoss {
        DeviceLoss {
            kind,
            device_id: id.to_owned(),
            label: format!("Lost {id}"),
        }
    }

    fn id_of(r: &Replacement) -> String {
        match r {
            Replacement::Next(d) => format!("next {}", d.device_id),
            Replacement::Again(d) => format!("again {}", d.device_id),
            Replacement::Nothing => "nothing".to_owned(),
        }
    }

    #[test]
    fn replacement_is_the_next_device_of_the_kind() {
        use TrackKind::{Audio, Video};
        let cases: &[(&str, Vec<DeviceInfo>, DeviceLoss, &str)] = &[
            (
                "the one after it",
                vec![cam("a"), cam("b"), cam("c")],
                lost(Video, "a"),
                "next b",
            ),
            (
                "wraps around",
                vec![cam("a"), cam("b"), cam("c")],
                lost(Video, "c"),
                "next a",
            ),
            (
                "skips the other kind",
                vec![cam("a"), mic("m"), cam("b")],
                lost(Video, "a"),
                "next b",
            ),
            (
                "first when it left the list",
                vec![cam("b"), cam("c")],
                lost(Video, "a"),
                "next b",
            ),
            (
                "the same when it is the only one",
                vec![cam("a"), mic("m")],
                lost(Video, "a"),
                "again a",
            ),
            (
                "nothing when none is left",
                vec![mic("m")],
                lost(Video, "a"),
                "nothing",
            ),
            (
                "nothing in an empty list",
                vec![],
                lost(Audio, "m"),
                "nothing",
            ),
            (
                "skips chrome's aliases",
                vec![mic("default"), mic("communications"), mic("m1"), mic("m2")],
                lost(Audio, "m2"),
                "next m1",
            ),
            (
                "the default alias stopping offers a real device",
                vec![mic("default"), mic("m1")],
                lost(Audio, "default"),
                "next m1",
            ),
            (
                "an alias alone is tried again",
                vec![mic("default")],
                lost(Audio, "default"),
                "again default",
            ),
            (
                "skips devices without an id",
                vec![dev(Video, "", ""), cam("a")],
                lost(Video, "a"),
                "again a",
            ),
        ];
        for (name, devices, loss, want) in cases {
            assert_eq!(id_of(&replacement(devices, loss)), *want, "{name}");
        }
    }

    #[test]
    fn notice_names_the_device_and_offers_the_next() {
        let devices = vec![cam("a"), cam("b"), mic("m")];
        let n = notice(&lost(TrackKind::Video, "a"), &devices, true);
        assert_eq!(
            n.headline,
            "Your camera (Lost a) stopped: it was unplugged or another app took it."
        );
        assert_eq!(n.detail, "Another camera is available: Cam b.");
        let (device, words) = n.offer.expect("an offer");
        assert_eq!(device.device_id, "b");
        assert_eq!(words, "Switch to Cam b");
    }

    #[test]
    fn notice_says_what_still_works_when_nothing_replaces_the_device() {
        let cases: &[(TrackKind, bool, &str)] = &[
            (
                TrackKind::Video,
                true,
                "Your microphone still works: you can go on with sound only",
            ),
            (
                TrackKind::Audio,
                true,
                "Your camera still works: you can be seen but not heard",
            ),
            (
                TrackKind::Video,
                false,
                "no microphone is on either: text chat still works",
            ),
            (
                TrackKind::Audio,
                false,
                "no camera is on either: text chat still works",
            ),
        ];
        for (kind, other_live, want) in cases {
            let n = notice(&lost(*kind, "gone"), &[], *other_live);
            assert!(n.offer.is_none(), "{kind:?}");
            assert!(
                n.detail.contains(want),
                "{kind:?} {other_live}: {}",
                n.detail
            );
        }
    }

    #[test]
    fn notice_offers_to_try_a_device_that_is_still_listed() {
        let n = notice(&lost(TrackKind::Audio, "m"), &[mic("m")], true);
        assert!(n.detail.contains("another app may be using it"));
        assert_eq!(n.offer.map(|o| o.1).as_deref(), Some("Try Mic m again"));
    }

    #[test]
    fn unnamed_devices_are_called_by_their_place() {
        let devices = vec![
            dev(TrackKind::Video, "a", ""),
            dev(TrackKind::Audio, "m", ""),
            dev(TrackKind::Video, "b", ""),
        ];
        let loss = DeviceLoss {
            kind: TrackKind::Video,
            device_id: "a".into(),
            label: String::new(),
        };
        let n = notice(&loss, &devices, false);
        assert_eq!(
            n.headline,
            "Your camera stopped: it was unplugged or another app took it."
        );
        assert_eq!(n.offer.map(|o| o.1).as_deref(), Some("Switch to camera 2"));
    }

    #[test]
    fn a_later_loss_of_a_kind_replaces_the_earlier() {
        let mut losses = Vec::new();
        record_loss(&mut losses, lost(TrackKind::Video, "a"));
        record_loss(&mut losses, lost(TrackKind::Audio, "m"));
        record_loss(&mut losses, lost(TrackKind::Video, "b"));
        let ids: Vec<&str> = losses.iter().map(|l| l.device_id.as_str()).collect();
        assert_eq!(ids, ["m", "b"]);
    }
}
