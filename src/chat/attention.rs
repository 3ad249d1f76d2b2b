//! What a hidden chat tab does when something arrives: an unread count in the document's title, cleared
//! when the tab shows again, and, if the person allowed it, a notification per message or file offer.
//!
//! [`Watermarks`] finds what arrived since the last look at [`Chats`]; [`TabAttention`] keeps the count
//! and says which title to set; [`notification`] and [`should_notify`] say what to show and when. The
//! glue (`chat::notify`) reads the tab's visibility, sets the title and makes the notifications. Pure: no
//! `web_sys`, no Leptos.

use std::collections::BTreeMap;

use peerlab_protocol::PeerId;

use super::conversation::{Chats, Item};
use super::meter::format_bytes;
use super::transfer::{Direction, TransferState};

/// The longest message text a notification shows, in characters; the rest is on the page.
pub const BODY_CHARS: usize = 120;

/// At most this many notifications for one batch of arrivals (a queue flushed after a reconnect); the
/// title's count still says how many came.
pub const MAX_NOTIFICATIONS_AT_ONCE: usize = 3;

/// Something that arrived from another user and deserves attention.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arrival {
    Message {
        from: String,
        text: String,
    },
    FileOffer {
        from: String,
        name: String,
        size: u64,
    },
}

/// How many items of each conversation have been looked at already, so each arrival is seen once.
#[derive(Clone, Debug, Default)]
pub struct Watermarks {
    seen: BTreeMap<PeerId, usize>,
}

impl Watermarks {
    /// The incoming messages and file offers appended to `chats` since the last call, oldest first per
    /// conversation. Conversations only ever grow; one that shrank (made anew) is looked at from its start.
    pub fn arrivals(&mut self, chats: &Chats) -> Vec<Arrival> {
        let mut out = Vec::new();
        for (peer, conv) in &chats.conversations {
            let seen = self.seen.entry(peer.clone()).or_insert(0);
            if *seen > conv.items.len() {
                *seen = 0;
            }
            for item in &conv.items[*seen..] {
                match item {
                    Item::Message(m) if m.direction == Direction::In => {
                        out.push(Arrival::Message {
                            from: conv.name.clone(),
                            text: m.text.clone(),
                        })
                    }
                    Item::Transfer(t)
                        if t.direction == Direction::In && t.state == TransferState::Offered =>
                    {
                        out.push(Arrival::FileOffer {
                            from: conv.name.clone(),
                            name: t.name.clone(),
                            size: t.size,
                        })
                    }
                    _ => {}
                }
            }
            *seen = conv.items.len();
        }
        out
    }
}

/// The tab's unread count and the title it shows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TabAttention {
    hidden: bool,
    unread: u32,
    /// The title before the count was added, put back when the tab shows again.
    base: Option<String>,
}

impl TabAttention {
    pub fn new(hidden: bool) -> Self {
        TabAttention {
            hidden,
            ..TabAttention::default()
        }
    }

    pub fn hidden(&self) -> bool {
        self.hidden
    }

    pub fn unread(&self) -> u32 {
        self.unread
    }

    /// `count` things arrived; `current` is the document's title now. Returns the title to set: only a
    /// hidden tab counts (a person looking at the page sees them).
    pub fn arrived(&mut self, count: usize, current: &str) -> Option<String> {
        if !self.hidden || count == 0 {
            return None;
        }
        let base = self.base.get_or_insert_with(|| current.to_owned());
        self.unread = self
            .unread
            .saturating_add(u32::try_from(count).unwrap_or(u32::MAX));
        Some(title(base, self.unread))
    }

    /// The tab was hidden or shown. Returns the title to set: the one from before the count, when a tab
    /// with a count shows again.
    pub fn visibility(&mut self, hidden: bool) -> Option<String> {
        self.hidden = hidden;
        if hidden || self.unread == 0 {
            return None;
        }
        self.unread = 0;
        self.base.take()
    }

    /// The title to put back when the page goes, if a count is showing.
    pub fn leave(&mut self) -> Option<String> {
        self.unread = 0;
        self.base.take()
    }
}

/// `base` with the unread count in front: "(3) peerlab"; `base` alone without any.
pub fn title(base: &str, unread: u32) -> String {
    match unread {
        0 => base.to_owned(),
        1..=99 => format!("({unread}) {base}"),
        _ => format!("(99+) {base}"),
    }
}

/// Whether the browser lets this page show notifications, as `Notification.permission` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Permission {
    /// No `Notification` in this browser (or not on this page).
    Unsupported,
    /// Not asked yet (`default`): the browser asks when the person presses the button.
    NotAsked,
    Granted,
    /// Refused, now or earlier: only the browser's site settings can change it.
    Denied,
}

impl Permission {
    /// From `Notification.permission`, or `None` where `Notification` does not exist.
    pub fn from_browser(value: Option<&str>) -> Self {
        match value {
            None => Permission::Unsupported,
            Some("granted") => Permission::Granted,
            Some("denied") => Permission::Denied,
            Some(_) => Permission::NotAsked,
        }
    }

    /// The stable token of `data-permission` attributes.
    pub fn token(self) -> &'static str {
        match self {
            Permission::Unsupported => "unsupported",
            Permission::NotAsked => "default",
            Permission::Granted => "granted",
            Permission::Denied => "denied",
        }
    }

    /// What the notification setting reads, given whether the person wants notifications.
    pub fn words(self, wanted: bool) -> &'static str {
        match (self, wanted) {
            (Permission::Unsupported, _) => "Not supported: this browser cannot show notifications here.",
            (Permission::Denied, _) => {
                "Blocked by the browser: allow notifications for this site in the address bar's site settings."
            }
            (Permission::Granted, true) => {
                "Allowed: a message or file offer shows as a notification while this tab is hidden."
            }
            (Permission::Granted, false) => "Off: press the button to turn notifications on.",
            (Permission::NotAsked, _) => "Off: the browser asks you once you press the button.",
        }
    }
}

/// Whether an arrival makes a notification: only in a hidden tab, and only if the person turned them on
/// and the browser allows them.
pub fn should_notify(hidden: bool, permission: Permission, wanted: bool) -> bool {
    hidden && wanted && permission == Permission::Granted
}

/// A notification's title (who) and body (what).
pub fn notification(arrival: &Arrival) -> (String, String) {
    let who = |from: &str| {
        if from.trim().is_empty() {
            "Someone".to_owned()
        } else {
            from.to_owned()
        }
    };
    match arrival {
        Arrival::Message { from, text } => (who(from), truncate(text, BODY_CHARS)),
        Arrival::FileOffer { from, name, size } => (
            who(from),
            format!("offers you a file: {name} ({})", format_bytes(*size)),
        ),
    }
}

/// `text` on one line, cut to at most `max` characters with "…" at the end when cut.
fn truncate(text: &str, max: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= max {
        return line;
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::transfer::Transfer;
    use crate::chat::{Message, MessageStatus};

    fn peer(id: &str) -> PeerId {
        PeerId::from(id)
    }

    fn message(direction: Direction, text: &str) -> Item {
        Item::Message(Message {
            id: text.to_owned(),
            direction,
            text: text.to_owned(),
            status: MessageStatus::Delivered,
        })
    }

    fn push(chats: &mut Chats, from: &str, item: Item) {
        chats.conversation(&peer(from), from).items.push(item);
    }

    #[test]
    fn title_puts_the_count_before_the_base() {
        let cases: &[(&str, u32, &str)] = &[
            ("peerlab", 0, "peerlab"),
            ("peerlab", 1, "(1) peerlab"),
            ("Chat · peerlab", 3, "(3) Chat · peerlab"),
            ("peerlab", 99, "(99) peerlab"),
            ("peerlab", 100, "(99+) peerlab"),
            ("", 2, "(2) "),
        ];
        for (base, count, want) in cases {
            assert_eq!(title(base, *count), *want, "{base} {count}");
        }
    }

    #[test]
    fn a_hidden_tab_counts_and_showing_it_restores_the_title() {
        let mut tab = TabAttention::new(false);
        assert_eq!(
            tab.arrived(2, "peerlab"),
            None,
            "a visible tab counts nothing"
        );
        assert_eq!(tab.visibility(true), None);
        assert_eq!(tab.arrived(1, "peerlab").as_deref(), Some("(1) peerlab"));
        // The title now carries the count; the base stays the one from before.
        assert_eq!(
            tab.arrived(2, "(1) peerlab").as_deref(),
            Some("(3) peerlab")
        );
        assert_eq!(tab.arrived(0, "(3) peerlab"), None);
        assert_eq!(tab.unread(), 3);
        assert_eq!(tab.visibility(false).as_deref(), Some("peerlab"));
        assert_eq!(tab.unread(), 0);
        assert_eq!(tab.visibility(false), None, "nothing to restore twice");
        assert_eq!(tab.visibility(true), None);
        assert_eq!(tab.arrived(1, "Renamed").as_deref(), Some("(1) Renamed"));
        assert_eq!(tab.leave().as_deref(), Some("Renamed"));
    }

    #[test]
    fn only_new_incoming_messages_and_offers_arrive() {
        let mut chats = Chats::new();
        let mut marks = Watermarks::default();
        push(&mut chats, "ana", message(Direction::In, "hello"));
        push(&mut chats, "ana", message(Direction::Out, "mine"));
        push(&mut chats, "bo", Item::Notice("connection lost".into()));
        let mut offer = Transfer::new("t1", Direction::In, "cat.png", 2048, "image/png");
        push(&mut chats, "bo", Item::Transfer(offer.clone()));
        push(
            &mut chats,
            "bo",
            Item::Transfer(Transfer::new("t2", Direction::Out, "mine.txt", 1, "")),
        );
        assert_eq!(
            marks.arrivals(&chats),
            vec![
                Arrival::Message {
                    from: "ana".into(),
                    text: "hello".into()
                },
                Arrival::FileOffer {
                    from: "bo".into(),
                    name: "cat.png".into(),
                    size: 2048
                },
            ]
        );
        assert_eq!(marks.arrivals(&chats), vec![], "each arrival is seen once");
        // A transfer that moves on is not offered again, and a newer one that is past its offer is
        // not an offer.
        offer.state = TransferState::Receiving;
        if let Some(Item::Transfer(t)) = chats.get_mut(&peer("bo")).and_then(|c| c.items.get_mut(1))
        {
            *t = offer.clone();
        }
        offer.id = "t3".into();
        push(&mut chats, "bo", Item::Transfer(offer));
        push(&mut chats, "ana", message(Direction::In, "again"));
        assert_eq!(
            marks.arrivals(&chats),
            vec![Arrival::Message {
                from: "ana".into(),
                text: "again".into()
            }]
        );
    }

    #[test]
    fn a_conversation_made_anew_is_read_from_its_start() {
        let mut chats = Chats::new();
        let mut marks = Watermarks::default();
        push(&mut chats, "ana", message(Direction::In, "one"));
        push(&mut chats, "ana", message(Direction::In, "two"));
        assert_eq!(marks.arrivals(&chats).len(), 2);
        chats.conversations.clear();
        push(&mut chats, "ana", message(Direction::In, "three"));
        assert_eq!(
            marks.arrivals(&chats),
            vec![Arrival::Message {
                from: "ana".into(),
                text: "three".into()
            }]
        );
    }

    #[test]
    fn notification_says_who_and_what() {
        let long = "word ".repeat(40);
        let cases: Vec<(Arrival, (&str, String))> = vec![
            (
                Arrival::Message {
                    from: "Ana".into(),
                    text: "hi there".into(),
                },
                ("Ana", "hi there".into()),
            ),
            (
                Arrival::Message {
                    from: "Ana".into(),
                    text: "two\n\nlines  here".into(),
                },
                ("Ana", "two lines here".into()),
            ),
            (
                Arrival::Message {
                    from: " ".into(),
                    text: "hi".into(),
                },
                ("Someone", "hi".into()),
            ),
            (
                Arrival::Message {
                    from: "Ana".into(),
                    text: long.clone(),
                },
                ("Ana", format!("{}…", "word ".repeat(24).trim_end())),
            ),
            (
                Arrival::FileOffer {
                    from: "Bo".into(),
                    name: "cat.png".into(),
                    size: 2048,
                },
                ("Bo", "offers you a file: cat.png (2.0 KiB)".into()),
            ),
        ];
        for (arrival, (title, body)) in cases {
            let (t, b) = notification(&arrival);
            assert_eq!(
                (t.as_str(), b.clone()),
                (title, body.clone()),
                "{arrival:?}"
            );
            assert!(b.chars().count() <= BODY_CHARS, "{b}");
        }
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        let text = "é".repeat(BODY_CHARS + 5);
        let cut = truncate(&text, BODY_CHARS);
        assert_eq!(cut.chars().count(), BODY_CHARS);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn notifications_only_in_a_hidden_tab_that_allowed_them() {
        use Permission::*;
        let cases: &[(bool, Permission, bool, bool)] = &[
            (true, Granted, true, true),
            (false, Granted, true, false),
            (true, Granted, false, false),
            (true, NotAsked, true, false),
            (true, Denied, true, false),
            (true, Unsupported, true, false),
        ];
        for (hidden, permission, wanted, want) in cases {
            assert_eq!(
                should_notify(*hidden, *permission, *wanted),
                *want,
                "{hidden} {permission:?} {wanted}"
            );
        }
    }

    #[test]
    fn permission_reads_the_browsers_word() {
        let cases: &[(Option<&str>, Permission)] = &[
            (None, Permission::Unsupported),
            (Some("default"), Permission::NotAsked),
            (Some("granted"), Permission::Granted),
            (Some("denied"), Permission::Denied),
        ];
        for (value, want) in cases {
            assert_eq!(Permission::from_browser(*value), *want, "{value:?}");
        }
    }
}
