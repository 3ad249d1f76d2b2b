//! The room's one conversation: text messages from everyone, in arrival order. A message goes to every
//! peer over that pair's chat channel, in the chat page's wire format (`chat::wire::Wire::Text`, answered
//! by `Wire::Ack`); this model counts the acknowledgements so the sender sees how many people have it.
//! Pure.

use std::collections::HashSet;

use peerlab_protocol::PeerId;

/// The most messages kept; older ones scroll away.
pub const MAX_LINES: usize = 200;

/// One line of the room conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// The sender's message id; unique with `from`.
    pub id: String,
    /// `None` for this client's own messages.
    pub from: Option<PeerId>,
    pub name: String,
    pub text: String,
    /// For own messages: how many peers acknowledged it.
    pub delivered: usize,
}

impl Line {
    pub fn key(&self) -> String {
        match &self.from {
            Some(peer) => format!("{peer}/{}", self.id),
            None => format!("me/{}", self.id),
        }
    }
}

/// The room conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoomChat {
    pub lines: Vec<Line>,
    /// `(sender, id)` of every message shown, so a message sent again after a reconnect shows once.
    seen: HashSet<(Option<PeerId>, String)>,
}

impl RoomChat {
    pub fn new() -> Self {
        Self::default()
    }

    /// This client sent `text` as message `id`.
    pub fn sent(&mut self, id: &str, name: &str, text: &str) {
        self.push(Line {
            id: id.to_owned(),
            from: None,
            name: name.to_owned(),
            text: text.to_owned(),
            delivered: 0,
        });
    }

    /// A message arrived from `from`; returns whether it is new (a duplicate is acknowledged again but
    /// shown once).
    pub fn received(&mut self, from: &PeerId, name: &str, id: &str, text: &str) -> bool {
        if self.seen.contains(&(Some(from.clone()), id.to_owned())) {
            return false;
        }
        self.push(Line {
            id: id.to_owned(),
            from: Some(from.clone()),
            name: name.to_owned(),
            text: text.to_owned(),
            delivered: 0,
        });
        true
    }

    /// A peer acknowledged this client's message `id`.
    pub fn acked(&mut self, id: &str) {
        if let Some(line) = self
            .lines
            .iter_mut()
            .find(|l| l.from.is_none() && l.id == id)
        {
            line.delivered += 1;
        }
    }

    fn push(&mut self, line: Line) {
        self.seen.insert((line.from.clone(), line.id.clone()));
        self.lines.push(line);
        if self.lines.len() > MAX_LINES {
            let gone = self.lines.remove(0);
            self.seen.remove(&(gone.from, gone.id));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(n: u8) -> PeerId {
        PeerId(format!("{n:032x}"))
    }

    #[test]
    fn messages_from_everyone_show_in_arrival_order_once() {
        let mut chat = RoomChat::new();
        chat.sent("m-1", "Me", "hello all");
        assert!(chat.received(&peer(1), "Ada", "m-1", "hi"));
        assert!(chat.received(&peer(2), "Bob", "m-1", "hey"));
        assert!(!chat.received(&peer(1), "Ada", "m-1", "hi"));
        let texts: Vec<_> = chat.lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["hello all", "hi", "hey"]);
        let keys: HashSet<_> = chat.lines.iter().map(Line::key).collect();
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn acknowledgements_count_peers_that_have_an_own_message() {
        let mut chat = RoomChat::new();
        chat.sent("m-1", "Me", "hello");
        chat.received(&peer(1), "Ada", "m-1", "same id, other sender");
        chat.acked("m-1");
        chat.acked("m-1");
        chat.acked("unknown");
        assert_eq!(chat.lines[0].delivered, 2);
        assert_eq!(chat.lines[1].delivered, 0);
    }

    #[test]
    fn old_lines_scroll_away() {
        let mut chat = RoomChat::new();
        for i in 0..(MAX_LINES + 5) {
            chat.received(&peer(1), "Ada", &format!("m-{i}"), "x");
        }
        assert_eq!(chat.lines.len(), MAX_LINES);
        assert_eq!(chat.lines[0].id, "m-5");
        // A scrolled-away id is forgotten, so memory stays bounded.
        assert_eq!(chat.seen.len(), MAX_LINES);
    }
}
