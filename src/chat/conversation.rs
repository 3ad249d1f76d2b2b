//! Conversations as plain data: one per remote user, with its messages and transfers in order, the
//! outgoing queue, acknowledgement tracking, unread counts and what the page shows about the connection.
//!
//! [`Chats`] decides; the browser glue (`chat::session`) carries out what it returns: [`Wire`] messages to
//! put on a chat channel. A text message is queued until its channel is open, sent, and delivered when its
//! acknowledgement arrives; a duplicate (resent after a reconnect) is acknowledged again but shown once.
//! Pure: no `web_sys`, no Leptos, no clock.

use std::collections::{BTreeMap, HashSet, VecDeque};

use peerlab_protocol::PeerId;

use super::transfer::{Direction, Transfer};
use super::wire::{Wire, WireError};
use crate::rtc::diagnosis::ConnectionProblem;
use crate::rtc::path::PathReading;
use crate::rtc::states::PeerConnectionState;

/// Where an outgoing text message is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageStatus {
    /// Waiting for the channel to open.
    Queued,
    /// On the channel; no acknowledgement yet.
    Sent,
    /// The other side acknowledged it. Incoming messages are always `Delivered`.
    Delivered,
    /// It could not be sent, and why.
    Failed(String),
}

impl MessageStatus {
    /// The stable token of `data-status` attributes.
    pub fn token(&self) -> &'static str {
        match self {
            MessageStatus::Queued => "queued",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed(_) => "failed",
        }
    }
}

/// One text message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub direction: Direction,
    pub text: String,
    pub status: MessageStatus,
}

/// One line of a conversation.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Message(Message),
    Transfer(Transfer),
    /// Something this side noticed: a malformed frame, a lost connection.
    Notice(String),
}

impl Item {
    /// The id a view keys on (notices are keyed by position).
    pub fn key(&self, index: usize) -> String {
        match self {
            Item::Message(m) => format!("m:{}", m.id),
            Item::Transfer(t) => format!("t:{}", t.id),
            Item::Notice(_) => format!("n:{index}"),
        }
    }
}

/// Everything about one remote user.
#[derive(Clone, Debug, PartialEq)]
pub struct Conversation {
    pub peer: PeerId,
    /// The user's display name, kept after they leave so old lines still say who.
    pub name: String,
    pub items: Vec<Item>,
    /// Incoming messages and offers not seen yet (the conversation was not open).
    pub unread: u32,
    /// The peer connection's state; `None` while there is no connection (`rtc::states::connection_token`
    /// and `connection_words` say how that reads).
    pub connection: Option<PeerConnectionState>,
    /// Whether the chat channel is open, so messages go out at once.
    pub channel_open: bool,
    /// The six-digit verification code once connected.
    pub verification: Option<String>,
    /// Set when the user left the room; new messages then fail at once.
    pub gone: Option<String>,
    /// The connection's network path and candidate pair, read from its statistics while it is connected.
    pub path: Option<PathReading>,
    /// Why the connection could not be made and what would fix it, from its failure until it connects
    /// again.
    pub problem: Option<ConnectionProblem>,
    /// Ids of queued text messages and other frames waiting for the channel, oldest first.
    outbox: VecDeque<Wire>,
    /// Ids of the text messages received, so a resent one is shown once.
    seen: HashSet<String>,
}

impl Conversation {
    pub fn new(peer: PeerId, name: &str) -> Self {
        Conversation {
            peer,
            name: name.to_owned(),
            items: Vec::new(),
            unread: 0,
            connection: None,
            channel_open: false,
            verification: None,
            gone: None,
            path: None,
            problem: None,
            outbox: VecDeque::new(),
            seen: HashSet::new(),
        }
    }

    fn message_mut(&mut self, id: &str, direction: Direction) -> Option<&mut Message> {
        self.items.iter_mut().find_map(|item| match item {
            Item::Message(m) if m.id == id && m.direction == direction => Some(m),
            _ => None,
        })
    }

    pub fn message(&self, id: &str) -> Option<&Message> {
        self.items.iter().find_map(|item| match item {
            Item::Message(m) if m.id == id => Some(m),
            _ => None,
        })
    }

    pub fn transfer(&self, id: &str) -> Option<&Transfer> {
        self.items.iter().find_map(|item| match item {
            Item::Transfer(t) if t.id == id => Some(t),
            _ => None,
        })
    }

    pub fn transfer_mut(&mut self, id: &str) -> Option<&mut Transfer> {
        self.items.iter_mut().find_map(|item| match item {
            Item::Transfer(t) if t.id == id => Some(t),
            _ => None,
        })
    }

    pub fn transfers(&self) -> impl Iterator<Item = &Transfer> {
        self.items.iter().filter_map(|item| match item {
            Item::Transfer(t) => Some(t),
            _ => None,
        })
    }

    /// Queues a frame for the channel; [`Conversation::flush`] hands it out once open.
    pub fn enqueue(&mut self, wire: Wire) {
        self.outbox.push_back(wire);
    }

    /// How many frames wait for the channel.
    pub fn queued(&self) -> usize {
        self.outbox.len()
    }

    /// The frames to send now: everything queued, if the channel is open. The glue sends them in order and
    /// calls [`Conversation::sent`] for each that went out.
    pub fn flush(&mut self) -> Vec<Wire> {
        if !self.channel_open {
            return Vec::new();
        }
        self.outbox.drain(..).collect()
    }

    /// A frame went out on the channel.
    pub fn sent(&mut self, wire: &Wire) {
        if let Wire::Text { id, .. } = wire {
            if let Some(m) = self.message_mut(id, Direction::Out) {
                if m.status == MessageStatus::Queued {
                    m.status = MessageStatus::Sent;
                }
            }
        }
    }

    /// A frame could not go out (the channel closed under it): it goes back to the front of the queue.
    pub fn unsent(&mut self, wires: Vec<Wire>) {
        for wire in wires.into_iter().rev() {
            self.outbox.push_front(wire);
        }
    }

    /// The chat channel opened: everything queued goes, and so do text messages that were sent on an
    /// earlier channel but never acknowledged (the receiver shows a duplicate once).
    pub fn channel_opened(&mut self) -> Vec<Wire> {
        self.channel_open = true;
        self.gone = None;
        let queued: HashSet<String> = self.outbox.iter().map(|w| w.id().to_owned()).collect();
        let resend: Vec<Wire> = self
            .items
            .iter()
            .filter_map(|item| match item {
                Item::Message(m)
                    if m.direction == Direction::Out
                        && m.status == MessageStatus::Sent
                        && !queued.contains(&m.id) =>
                {
                    Some(Wire::Text {
                        id: m.id.clone(),
                        text: m.text.clone(),
                    })
                }
                _ => None,
            })
            .collect();
        let mut out = resend;
        out.extend(self.flush());
        out
    }

    /// The chat channel closed (the connection ended or is being replaced).
    pub fn channel_closed(&mut self) {
        self.channel_open = false;
        self.verification = None;
    }

    /// The user left the room: whatever still waits fails with `reason`, and so does every transfer
    /// still in progress.
    pub fn peer_left(&mut self, reason: &str) {
        self.channel_closed();
        self.connection = None;
        self.gone = Some(reason.to_owned());
        self.path = None;
        self.problem = None;
        let waiting: HashSet<String> = self.outbox.drain(..).map(|w| w.id().to_owned()).collect();
        for item in &mut self.items {
            match item {
                Item::Message(m)
                    if m.direction == Direction::Out && m.status == MessageStatus::Queued =>
                {
                    m.status = MessageStatus::Failed(reason.to_owned());
                }
                Item::Transfer(t) if waiting.contains(&t.id) || t.state.is_active() => {
                    t.fail(reason.to_owned());
                }
                _ => {}
            }
        }
    }
}

/// What the glue should do after a frame arrived.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Received {
    /// Frames to send back on the same chat channel.
    pub reply: Vec<Wire>,
    /// A transfer the other side accepted: open its file channel and start sending.
    pub start_sending: Option<String>,
    /// A transfer that ended on the other side's word (declined, cancelled, result): drop its channel.
    pub stop: Option<String>,
}

/// All conversations of this client, and which one is open.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chats {
    /// This client's name, for "cancelled by <name>" on this side's own cancels.
    pub self_name: String,
    pub conversations: BTreeMap<PeerId, Conversation>,
    /// The conversation on screen; its messages are not counted as unread.
    pub active: Option<PeerId>,
}

impl Chats {
    pub fn new() -> Self {
        Chats::default()
    }

    /// The conversation with `peer`, made if this is the first time.
    pub fn conversation(&mut self, peer: &PeerId, name: &str) -> &mut Conversation {
        self.conversations
            .entry(peer.clone())
            .or_insert_with(|| Conversation::new(peer.clone(), name))
    }

    pub fn get(&self, peer: &PeerId) -> Option<&Conversation> {
        self.conversations.get(peer)
    }

    pub fn get_mut(&mut self, peer: &PeerId) -> Option<&mut Conversation> {
        self.conversations.get_mut(peer)
    }

    /// Opens the conversation with `peer` on screen, which marks it read.
    pub fn open(&mut self, peer: &PeerId, name: &str) {
        self.conversation(peer, name).unread = 0;
        self.active = Some(peer.clone());
    }

    /// The name to show for `peer`.
    pub fn name_of(&self, peer: &PeerId) -> String {
        self.conversations
            .get(peer)
            .map(|c| c.name.clone())
            .unwrap_or_else(|| "the other side".to_owned())
    }

    /// A text message written here: queued, and handed out by `flush` once the channel is open. Fails at
    /// once when the user has left.
    pub fn compose(&mut self, peer: &PeerId, name: &str, id: &str, text: &str) {
        let c = self.conversation(peer, name);
        let status = match &c.gone {
            Some(reason) => MessageStatus::Failed(reason.clone()),
            None => MessageStatus::Queued,
        };
        let queue = status == MessageStatus::Queued;
        c.items.push(Item::Message(Message {
            id: id.to_owned(),
            direction: Direction::Out,
            text: text.to_owned(),
            status,
        }));
        if queue {
            c.enqueue(Wire::Text {
                id: id.to_owned(),
                text: text.to_owned(),
            });
        }
    }

    /// A file offered from here; the offer is queued like a message.
    pub fn offer(&mut self, peer: &PeerId, name: &str, transfer: Transfer) {
        let c = self.conversation(peer, name);
        let wire = Wire::FileOffer {
            id: transfer.id.clone(),
            name: transfer.name.clone(),
            size: transfer.size,
            mime: transfer.mime.clone(),
        };
        let mut transfer = transfer;
        if let Some(reason) = c.gone.clone() {
            transfer.fail(reason);
        } else {
            c.enqueue(wire);
        }
        c.items.push(Item::Transfer(transfer));
    }

    /// This side answers an incoming offer. Returns the frame to send, if the answer applied.
    pub fn answer(&mut self, peer: &PeerId, id: &str, accept: bool) -> Option<Wire> {
        let c = self.conversations.get_mut(peer)?;
        let t = c.transfer_mut(id)?;
        if t.direction != Direction::In {
            return None;
        }
        let applied = if accept { t.accept() } else { t.decline() };
        applied.then(|| {
            if accept {
                Wire::FileAccept { id: id.to_owned() }
            } else {
                Wire::FileDecline { id: id.to_owned() }
            }
        })
    }

    /// This side cancels a transfer. Returns the frame to send, if it was still active.
    pub fn cancel(&mut self, peer: &PeerId, id: &str) -> Option<Wire> {
        let by = self.self_name.clone();
        let c = self.conversations.get_mut(peer)?;
        c.transfer_mut(id)?
            .cancel(&by)
            .then(|| Wire::FileCancel { id: id.to_owned() })
    }

    /// A frame that could not be read arrived from `peer`: shown as a notice; the conversation goes on.
    pub fn malformed(&mut self, peer: &PeerId, name: &str, error: &WireError) {
        let c = self.conversation(peer, name);
        c.items.push(Item::Notice(format!("{name} sent {error}")));
    }

    /// A frame arrived on the chat channel from `peer`.
    pub fn receive(&mut self, peer: &PeerId, name: &str, wire: Wire) -> Received {
        let active = self.active.as_ref() == Some(peer);
        let c = self.conversation(peer, name);
        let mut out = Received::default();
        match wire {
            Wire::Text { id, text } => {
                if c.seen.insert(id.clone()) {
                    c.items.push(Item::Message(Message {
                        id: id.clone(),
                        direction: Direction::In,
                        text,
                        status: MessageStatus::Delivered,
                    }));
                    if !active {
                        c.unread += 1;
                    }
                }
                out.reply.push(Wire::Ack { id });
            }
            Wire::Ack { id } => {
                if let Some(m) = c.message_mut(&id, Direction::Out) {
                    if matches!(m.status, MessageStatus::Queued | MessageStatus::Sent) {
                        m.status = MessageStatus::Delivered;
                    }
                }
            }
            Wire::FileOffer {
                id,
                name: file,
                size,
                mime,
            } => {
                if c.transfer(&id).is_none() {
                    c.items.push(Item::Transfer(Transfer::new(
                        &id,
                        Direction::In,
                        &file,
                        size,
                        &mime,
                    )));
                    if !active {
                        c.unread += 1;
                    }
                }
            }
            Wire::FileAccept { id } => {
                if let Some(t) = c.transfer_mut(&id) {
                    if t.direction == Direction::Out && t.accept() {
                        out.start_sending = Some(id);
                    }
                }
            }
            Wire::FileDecline { id } => {
                if let Some(t) = c.transfer_mut(&id) {
                    if t.direction == Direction::Out && t.decline() {
                        out.stop = Some(id);
                    }
                }
            }
            Wire::FileCancel { id } => {
                if let Some(t) = c.transfer_mut(&id) {
                    if t.cancel(name) {
                        out.stop = Some(id);
                    }
                }
            }
            Wire::FileResult { id, ok } => {
                if let Some(t) = c.transfer_mut(&id) {
                    if t.direction == Direction::Out {
                        let applied = if ok {
                            t.done()
                        } else {
                            t.fail(format!(
                                "{name} received a file whose SHA-256 differs; send it again"
                            ))
                        };
                        if applied {
                            out.stop = Some(id);
                        }
                    }
                }
            }
            // It belongs on the file channel; on the chat channel it means nothing.
            Wire::FileEnd { .. } => {}
        }
        out
    }

    /// The user left the room (or their connection is gone for good).
    pub fn peer_left(&mut self, peer: &PeerId) {
        if let Some(c) = self.conversations.get_mut(peer) {
            let reason = format!("{} left", c.name);
            c.peer_left(&reason);
        }
    }

    /// The total of unread counts, for a page title or a badge.
    pub fn unread(&self) -> u32 {
        self.conversations.values().map(|c| c.unread).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::transfer::TransferState;

    fn bob() -> PeerId {
        PeerId::from("p-bob")
    }

    fn chats() -> Chats {
        Chats {
            self_name: "Ada".into(),
            ..Chats::new()
        }
    }

    fn status(chats: &Chats, id: &str) -> MessageStatus {
        chats
            .get(&bob())
            .unwrap()
            .message(id)
            .unwrap()
            .status
            .clone()
    }

    #[test]
    fn messages_wait_for_the_channel_and_go_out_in_order() {
        let mut c = chats();
        c.compose(&bob(), "Bob", "m1", "one");
        c.compose(&bob(), "Bob", "m2", "two");
        let conv = c.get_mut(&bob()).unwrap();
        assert!(
            conv.flush().is_empty(),
            "nothing goes before the channel opens"
        );
        assert_eq!(status(&c, "m1"), MessageStatus::Queued);
        let conv = c.get_mut(&bob()).unwrap();
        let out = conv.channel_opened();
        assert_eq!(out.iter().map(Wire::id).collect::<Vec<_>>(), ["m1", "m2"]);
        for w in &out {
            conv.sent(w);
        }
        assert_eq!(status(&c, "m2"), MessageStatus::Sent);
        c.receive(&bob(), "Bob", Wire::Ack { id: "m2".into() });
        assert_eq!(status(&c, "m2"), MessageStatus::Delivered);
        assert_eq!(status(&c, "m1"), MessageStatus::Sent);
    }

    #[test]
    fn duplicate_and_unknown_acks_change_nothing() {
        let mut c = chats();
        c.compose(&bob(), "Bob", "m1", "one");
        let conv = c.get_mut(&bob()).unwrap();
        for w in conv.channel_opened() {
            conv.sent(&w);
        }
        for _ in 0..2 {
            let r = c.receive(&bob(), "Bob", Wire::Ack { id: "m1".into() });
            assert_eq!(r, Received::default());
        }
        assert_eq!(status(&c, "m1"), MessageStatus::Delivered);
        let before = c.clone();
        c.receive(&bob(), "Bob", Wire::Ack { id: "nope".into() });
        assert_eq!(c, before);
    }

    #[test]
    fn a_resent_message_is_acknowledged_again_but_shown_once() {
        let mut c = chats();
        let text = || Wire::Text {
            id: "x1".into(),
            text: "hi".into(),
        };
        let first = c.receive(&bob(), "Bob", text());
        let again = c.receive(&bob(), "Bob", text());
        assert_eq!(first.reply, vec![Wire::Ack { id: "x1".into() }]);
        assert_eq!(again.reply, first.reply);
        assert_eq!(c.get(&bob()).unwrap().items.len(), 1);
        assert_eq!(c.get(&bob()).unwrap().unread, 1);
    }

    #[test]
    fn out_of_order_messages_keep_arrival_order() {
        let mut c = chats();
        for id in ["b", "a", "c"] {
            c.receive(
                &bob(),
                "Bob",
                Wire::Text {
                    id: id.into(),
                    text: id.into(),
                },
            );
        }
        let ids: Vec<_> = c
            .get(&bob())
            .unwrap()
            .items
            .iter()
            .map(|i| i.key(0))
            .collect();
        assert_eq!(ids, ["m:b", "m:a", "m:c"]);
    }

    #[test]
    fn unread_counts_only_what_is_not_on_screen() {
        let mut c = chats();
        let text = |id: &str| Wire::Text {
            id: id.into(),
            text: "x".into(),
        };
        c.receive(&bob(), "Bob", text("1"));
        c.receive(&bob(), "Bob", text("2"));
        assert_eq!(c.get(&bob()).unwrap().unread, 2);
        assert_eq!(c.unread(), 2);
        c.open(&bob(), "Bob");
        assert_eq!(c.get(&bob()).unwrap().unread, 0);
        c.receive(&bob(), "Bob", text("3"));
        assert_eq!(c.get(&bob()).unwrap().unread, 0, "the open conversation");
    }

    #[test]
    fn unacknowledged_messages_are_resent_on_a_new_channel() {
        let mut c = chats();
        c.compose(&bob(), "Bob", "m1", "one");
        let conv = c.get_mut(&bob()).unwrap();
        for w in conv.channel_opened() {
            conv.sent(&w);
        }
        conv.channel_closed();
        c.compose(&bob(), "Bob", "m2", "two");
        let conv = c.get_mut(&bob()).unwrap();
        let out = conv.channel_opened();
        assert_eq!(out.iter().map(Wire::id).collect::<Vec<_>>(), ["m1", "m2"]);
    }

    #[test]
    fn a_failed_send_goes_back_to_the_queue() {
        let mut c = chats();
        c.compose(&bob(), "Bob", "m1", "one");
        c.compose(&bob(), "Bob", "m2", "two");
        let conv = c.get_mut(&bob()).unwrap();
        let out = conv.channel_opened();
        conv.sent(&out[0]);
        conv.unsent(out[1..].to_vec());
        conv.channel_closed();
        assert_eq!(conv.queued(), 1);
        assert_eq!(status(&c, "m2"), MessageStatus::Queued);
    }

    #[test]
    fn queued_messages_fail_with_the_reason_when_the_user_leaves() {
        let mut c = chats();
        c.compose(&bob(), "Bob", "m1", "one");
        c.peer_left(&bob());
        assert_eq!(status(&c, "m1"), MessageStatus::Failed("Bob left".into()));
        c.compose(&bob(), "Bob", "m2", "two");
        assert_eq!(status(&c, "m2"), MessageStatus::Failed("Bob left".into()));
        assert_eq!(c.get(&bob()).unwrap().queued(), 0);
        // A new channel (Bob came back with the same id) clears the mark.
        let conv = c.get_mut(&bob()).unwrap();
        conv.channel_opened();
        assert_eq!(conv.gone, None);
    }

    #[test]
    fn a_user_who_leaves_takes_the_path_and_the_problem_along() {
        use crate::rtc::path::NetworkPath;
        let mut c = chats();
        let conv = c.conversation(&bob(), "Bob");
        conv.path = Some(PathReading {
            path: NetworkPath::Direct,
            pair: "a ↔ b".into(),
        });
        conv.problem = Some(ConnectionProblem::NeedsTurn);
        c.peer_left(&bob());
        let conv = c.get(&bob()).unwrap();
        assert_eq!((conv.path.clone(), conv.problem), (None, None));
    }

    #[test]
    fn a_malformed_frame_becomes_a_notice_and_the_conversation_goes_on() {
        let mut c = chats();
        c.malformed(&bob(), "Bob", &WireError::UnknownType("video".into()));
        c.receive(
            &bob(),
            "Bob",
            Wire::Text {
                id: "1".into(),
                text: "still here".into(),
            },
        );
        let items = &c.get(&bob()).unwrap().items;
        assert!(
            matches!(&items[0], Item::Notice(n) if n.starts_with("Bob sent a message of unknown type")),
            "{items:?}"
        );
        assert!(matches!(&items[1], Item::Message(_)));
    }

    fn out_offer(c: &mut Chats) {
        c.offer(
            &bob(),
            "Bob",
            Transfer::new("t1", Direction::Out, "a.bin", 3, "application/octet-stream"),
        );
    }

    fn state(c: &Chats, id: &str) -> TransferState {
        c.get(&bob()).unwrap().transfer(id).unwrap().state.clone()
    }

    #[test]
    fn an_offer_is_queued_then_accepted_by_the_other_side() {
        let mut c = chats();
        out_offer(&mut c);
        let conv = c.get_mut(&bob()).unwrap();
        assert!(matches!(
            conv.channel_opened()[..],
            [Wire::FileOffer { .. }]
        ));
        let r = c.receive(&bob(), "Bob", Wire::FileAccept { id: "t1".into() });
        assert_eq!(r.start_sending.as_deref(), Some("t1"));
        assert_eq!(state(&c, "t1"), TransferState::Accepted);
        let again = c.receive(&bob(), "Bob", Wire::FileAccept { id: "t1".into() });
        assert_eq!(
            again.start_sending, None,
            "a duplicate accept starts nothing"
        );
    }

    #[test]
    fn incoming_offers_are_answered_once() {
        let mut c = chats();
        let offer = Wire::FileOffer {
            id: "t2".into(),
            name: "<img src=x onerror=alert(1)>.png".into(),
            size: 10,
            mime: "image/png".into(),
        };
        c.receive(&bob(), "Bob", offer.clone());
        c.receive(&bob(), "Bob", offer);
        assert_eq!(c.get(&bob()).unwrap().transfers().count(), 1);
        assert_eq!(c.get(&bob()).unwrap().unread, 1);
        assert_eq!(
            c.answer(&bob(), "t2", false),
            Some(Wire::FileDecline { id: "t2".into() })
        );
        assert_eq!(c.answer(&bob(), "t2", true), None);
        assert_eq!(state(&c, "t2"), TransferState::Declined);
        assert_eq!(c.answer(&bob(), "missing", true), None);
    }

    #[test]
    fn the_other_side_can_not_accept_its_own_offer() {
        let mut c = chats();
        c.receive(
            &bob(),
            "Bob",
            Wire::FileOffer {
                id: "t3".into(),
                name: "x".into(),
                size: 1,
                mime: String::new(),
            },
        );
        let r = c.receive(&bob(), "Bob", Wire::FileAccept { id: "t3".into() });
        assert_eq!(r.start_sending, None);
        assert_eq!(state(&c, "t3"), TransferState::Offered);
    }

    #[test]
    fn cancels_from_both_sides_resolve_to_the_first() {
        let mut c = chats();
        out_offer(&mut c);
        c.receive(&bob(), "Bob", Wire::FileAccept { id: "t1".into() });
        assert_eq!(
            c.cancel(&bob(), "t1"),
            Some(Wire::FileCancel { id: "t1".into() })
        );
        let r = c.receive(&bob(), "Bob", Wire::FileCancel { id: "t1".into() });
        assert_eq!(r.stop, None, "already cancelled here");
        assert_eq!(
            state(&c, "t1"),
            TransferState::Cancelled { by: "Ada".into() }
        );
        assert_eq!(c.cancel(&bob(), "t1"), None);

        let mut c = chats();
        out_offer(&mut c);
        let r = c.receive(&bob(), "Bob", Wire::FileCancel { id: "t1".into() });
        assert_eq!(r.stop.as_deref(), Some("t1"));
        assert_eq!(
            state(&c, "t1"),
            TransferState::Cancelled { by: "Bob".into() }
        );
    }

    #[test]
    fn the_receivers_verdict_ends_the_senders_transfer() {
        for (ok, token) in [(true, "done"), (false, "failed")] {
            let mut c = chats();
            out_offer(&mut c);
            c.receive(&bob(), "Bob", Wire::FileAccept { id: "t1".into() });
            let t = c.get_mut(&bob()).unwrap().transfer_mut("t1").unwrap();
            t.start();
            t.verifying();
            let r = c.receive(
                &bob(),
                "Bob",
                Wire::FileResult {
                    id: "t1".into(),
                    ok,
                },
            );
            assert_eq!(r.stop.as_deref(), Some("t1"));
            assert_eq!(state(&c, "t1").token(), token);
        }
    }

    #[test]
    fn a_user_leaving_fails_transfers_in_flight_but_not_finished_ones() {
        let mut c = chats();
        out_offer(&mut c);
        c.offer(
            &bob(),
            "Bob",
            Transfer::new("t9", Direction::Out, "b.bin", 3, ""),
        );
        c.get_mut(&bob())
            .unwrap()
            .transfer_mut("t9")
            .unwrap()
            .decline();
        c.peer_left(&bob());
        assert_eq!(
            state(&c, "t1").error_text().as_deref(),
            Some("transfer failed: Bob left")
        );
        assert_eq!(state(&c, "t9"), TransferState::Declined);
    }
}
