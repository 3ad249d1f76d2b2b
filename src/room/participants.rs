//! The call as the grid shows it: this client and every other member, each with a name, the state of the
//! peer connection to them, what their media is doing, the connection's verification code and quality.
//! Folded from relay events, peer events and control messages; pure.
//!
//! A member's tile goes away when the relay says the member left, or as soon as the connection to them
//! fails or closes — whichever comes first — and comes back if an ICE restart reconnects it. A failed
//! connection whose cause was diagnosed keeps its tile, to say why and what would fix it. A relay that
//! drops and comes back does not end the call: after a resumed welcome, members whose connections are still
//! up stay in the grid even if they have not rejoined the relay yet.

use peerlab_protocol::{Member, PeerId};

use super::control::MediaState;
use crate::rtc::diagnosis::ConnectionProblem;
use crate::rtc::path::PathReading;
use crate::rtc::states::PeerConnectionState;

/// One other member of the call.
#[derive(Clone, Debug, PartialEq)]
pub struct Remote {
    pub id: PeerId,
    pub name: String,
    /// The peer connection's state, `New` before there is one.
    pub connection: PeerConnectionState,
    /// From the member's last control message.
    pub media: MediaState,
    /// The six-digit call verification code, once the connection is up.
    pub verification: Option<String>,
    /// The quality line from the last stats poll, and its grade token.
    pub quality: Option<(String, &'static str)>,
    /// The network path and candidate pair from the last stats poll, while connected.
    pub path: Option<PathReading>,
    /// Why the connection could not be made, from its failure until it connects again.
    pub problem: Option<ConnectionProblem>,
    /// The relay announced that the member left (the peer may linger until it is closed).
    pub left: bool,
    /// Media from the member has arrived on every incoming track of the current connection.
    pub receiving: bool,
}

/// One tile of the grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Tile {
    pub id: PeerId,
    pub name: String,
    pub is_self: bool,
    /// The state of the connection to the member; `None` on this client's own tile.
    pub connection: Option<PeerConnectionState>,
    pub media: MediaState,
}

impl Tile {
    /// The tile's `data-connection`: the browser's word for the connection, or `self` on this client's
    /// own tile.
    pub fn connection_token(&self) -> &'static str {
        self.connection.map_or("self", PeerConnectionState::as_str)
    }
}

/// Everyone in the call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Participants {
    pub self_id: Option<PeerId>,
    pub self_name: String,
    pub self_media: MediaState,
    /// Other members in the order they joined.
    pub remotes: Vec<Remote>,
}

impl Participants {
    pub fn new() -> Self {
        Self::default()
    }

    /// The relay welcomed this client. A fresh welcome replaces the member list; a resumed one (same id)
    /// only adds, since members with live connections may not have rejoined a restarted relay yet.
    pub fn welcome(&mut self, self_id: &PeerId, name: &str, members: &[Member], resumed: bool) {
        let same_id = self.self_id.as_ref() == Some(self_id);
        self.self_id = Some(self_id.clone());
        self.self_name = name.to_owned();
        if !(resumed && same_id) {
            self.remotes
                .retain(|r| members.iter().any(|m| m.id == r.id) && same_id);
        }
        for member in members {
            self.joined(member);
        }
    }

    /// A member entered the room (or came back to a restarted relay).
    pub fn joined(&mut self, member: &Member) {
        match self.remote_mut(&member.id) {
            Some(remote) => {
                remote.name = member.name.clone();
                remote.left = false;
            }
            None => self.remotes.push(Remote {
                id: member.id.clone(),
                name: member.name.clone(),
                connection: PeerConnectionState::New,
                media: MediaState::default(),
                verification: None,
                quality: None,
                path: None,
                problem: None,
                left: false,
                receiving: false,
            }),
        }
    }

    /// The relay announced that `id` left: the tile goes at once.
    pub fn left(&mut self, id: &PeerId) {
        self.remotes.retain(|r| &r.id != id);
    }

    pub fn renamed(&mut self, id: &PeerId, name: &str) {
        if self.self_id.as_ref() == Some(id) {
            self.self_name = name.to_owned();
        } else if let Some(remote) = self.remote_mut(id) {
            remote.name = name.to_owned();
        }
    }

    /// The peer connection to `id` changed state. A peer of someone not (yet) in the member list — the
    /// first signal can arrive before the `member_joined` — gets a placeholder that the join fills in.
    pub fn connection(&mut self, id: &PeerId, state: PeerConnectionState) {
        if self.remote_mut(id).is_none() {
            self.joined(&Member {
                id: id.clone(),
                name: String::new(),
            });
        }
        if let Some(remote) = self.remote_mut(id) {
            remote.connection = state;
            if state != PeerConnectionState::Connected {
                remote.quality = None;
                remote.path = None;
            }
        }
    }

    /// The peer of `id` was closed for good (this client got a new id, or the member left).
    pub fn peer_closed(&mut self, id: &PeerId) {
        if let Some(remote) = self.remote_mut(id) {
            remote.connection = PeerConnectionState::Closed;
            remote.verification = None;
            remote.receiving = false;
            remote.path = None;
            remote.problem = None;
        }
    }

    /// Media from `id` has arrived on every incoming track (each track's first data, as the browser
    /// unmutes it).
    pub fn receiving(&mut self, id: &PeerId) {
        if let Some(remote) = self.remote_mut(id) {
            remote.receiving = true;
        }
    }

    /// The members whose connection is up but whose media has not arrived yet.
    pub fn awaiting_media(&self) -> Vec<PeerId> {
        self.remotes
            .iter()
            .filter(|r| {
                Self::is_visible(r)
                    && r.connection == PeerConnectionState::Connected
                    && !r.receiving
            })
            .map(|r| r.id.clone())
            .collect()
    }

    pub fn media(&mut self, id: &PeerId, media: MediaState) {
        if let Some(remote) = self.remote_mut(id) {
            remote.media = media;
        }
    }

    /// The members with a tile whose connection is up and whose verification code is not known yet.
    pub fn unverified(&self) -> Vec<PeerId> {
        self.remotes
            .iter()
            .filter(|r| Self::is_visible(r) && r.connection == PeerConnectionState::Connected)
            .filter(|r| r.verification.is_none())
            .map(|r| r.id.clone())
            .collect()
    }

    pub fn verification(&mut self, id: &PeerId, code: String) {
        if let Some(remote) = self.remote_mut(id) {
            remote.verification = Some(code);
        }
    }

    pub fn quality(&mut self, id: &PeerId, summary: String, grade: &'static str) {
        if let Some(remote) = self.remote_mut(id) {
            remote.quality = Some((summary, grade));
        }
    }

    /// The connection's path from the last stats poll (`None` when the pair is not known).
    pub fn path(&mut self, id: &PeerId, path: Option<PathReading>) {
        if let Some(remote) = self.remote_mut(id) {
            if remote.connection == PeerConnectionState::Connected {
                remote.path = path;
            }
        }
    }

    /// The diagnosis of the connection to `id` changed.
    pub fn problem(&mut self, id: &PeerId, problem: Option<ConnectionProblem>) {
        if let Some(remote) = self.remote_mut(id) {
            remote.problem = problem;
        }
    }

    pub fn remote(&self, id: &PeerId) -> Option<&Remote> {
        self.remotes.iter().find(|r| &r.id == id)
    }

    fn remote_mut(&mut self, id: &PeerId) -> Option<&mut Remote> {
        self.remotes.iter_mut().find(|r| &r.id == id)
    }

    /// Whether `remote` has a tile: it has not left, and its connection neither closed nor failed
    /// without a diagnosis (a diagnosed failure keeps the tile, which explains it).
    pub fn is_visible(remote: &Remote) -> bool {
        !remote.left
            && match remote.connection {
                PeerConnectionState::Closed => false,
                PeerConnectionState::Failed => remote.problem.is_some(),
                _ => true,
            }
    }

    /// The members with tiles, this client first: the whole grid at once, which the page no longer
    /// needs (it keys its list by `tile_keys` and each tile reads its own `tile`); the tests check both
    /// against it.
    #[cfg(test)]
    pub fn tiles(&self) -> Vec<Tile> {
        let mut tiles = Vec::with_capacity(self.remotes.len() + 1);
        tiles.extend(self.self_tile());
        tiles.extend(
            self.remotes
                .iter()
                .filter(|r| Self::is_visible(r))
                .map(Self::remote_tile),
        );
        tiles
    }

    /// Who has a tile, in the grid's order (this client first), as `(id, is_self)`: what the grid's list
    /// is keyed by. It changes only when a tile comes or goes, not with a tile's state, so the grid
    /// does not diff its list at every connection state change of every member.
    pub fn tile_keys(&self) -> Vec<(PeerId, bool)> {
        let mut keys = Vec::with_capacity(self.remotes.len() + 1);
        keys.extend(self.self_id.iter().map(|id| (id.clone(), true)));
        keys.extend(
            self.remotes
                .iter()
                .filter(|r| Self::is_visible(r))
                .map(|r| (r.id.clone(), false)),
        );
        keys
    }

    /// One member's tile (this client's when `is_self`), without building the others'.
    pub fn tile(&self, id: &PeerId, is_self: bool) -> Option<Tile> {
        if is_self {
            self.self_tile().filter(|t| &t.id == id)
        } else {
            self.remote(id)
                .filter(|r| Self::is_visible(r))
                .map(Self::remote_tile)
        }
    }

    fn self_tile(&self) -> Option<Tile> {
        self.self_id.as_ref().map(|id| Tile {
            id: id.clone(),
            name: self.self_name.clone(),
            is_self: true,
            connection: None,
            media: self.self_media,
        })
    }

    fn remote_tile(r: &Remote) -> Tile {
        Tile {
            id: r.id.clone(),
            name: if r.name.is_empty() {
                "someone".into()
            } else {
                r.name.clone()
            },
            is_self: false,
            connection: Some(r.connection),
            media: r.media,
        }
    }

    /// Whether the call is still coming together: some member with a tile has no connection yet, one
    /// is still connecting, or one is connected and its media has not arrived yet. A member the relay
    /// announced counts from that moment, before this client has a peer connection to them (the other
    /// side may not have sent its offer yet).
    pub fn settling(&self) -> bool {
        // A connection that failed is not coming together, even while its automatic restarts try again.
        self.remotes
            .iter()
            .filter(|r| Self::is_visible(r) && r.problem.is_none())
            .any(|r| match r.connection {
                PeerConnectionState::Connected => !r.receiving,
                state => state.is_setting_up(),
            })
    }

    /// How many other members the call sends video to now (for the bitrate cap).
    pub fn peer_count(&self) -> usize {
        self.remotes.iter().filter(|r| Self::is_visible(r)).count()
    }
}

/// The room's capacity as the relay's `room_full` message states it ("… is full (8 of 8 members) …").
pub fn capacity_from_refusal(message: &str) -> Option<u32> {
    let start = message.find('(')? + 1;
    let rest = &message[start..];
    let end = rest.find(" of ")?;
    rest[..end].trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtc::states::PeerConnectionState::{
        Connected, Connecting, Disconnected, Failed, New,
    };

    fn id(n: u8) -> PeerId {
        PeerId(format!("{n:032x}"))
    }

    fn member(n: u8, name: &str) -> Member {
        Member {
            id: id(n),
            name: name.into(),
        }
    }

    fn names(p: &Participants) -> Vec<String> {
        p.tiles().into_iter().map(|t| t.name).collect()
    }

    #[test]
    fn welcome_puts_self_first_then_members_in_join_order() {
        let mut p = Participants::new();
        p.welcome(&id(9), "Me", &[member(1, "Ada"), member(2, "Bob")], false);
        p.joined(&member(3, "Cyd"));
        assert_eq!(names(&p), ["Me", "Ada", "Bob", "Cyd"]);
        assert!(p.tiles()[0].is_self);
        assert_eq!(p.tiles()[0].connection_token(), "self");
        assert_eq!(p.peer_count(), 3);
    }

    #[test]
    fn the_call_settles_once_every_member_with_a_tile_is_connected_or_gone() {
        let mut p = Participants::new();
        assert!(!p.settling(), "alone in the room");
        p.welcome(&id(9), "Me", &[member(1, "Ada")], false);
        assert!(p.settling(), "Ada is announced, no connection yet");
        p.connection(&id(1), Connecting);
        assert!(p.settling());
        p.connection(&id(1), Connected);
        assert!(p.settling(), "connected, but Ada's media has not arrived");
        assert_eq!(p.awaiting_media(), [id(1)]);
        p.receiving(&id(1));
        assert!(!p.settling());
        assert!(p.awaiting_media().is_empty());
        // A newcomer announced by the relay counts before its offer arrives.
        p.joined(&member(2, "Bob"));
        assert!(p.settling());
        p.connection(&id(2), Connected);
        p.receiving(&id(2));
        assert!(!p.settling());
        // A connection that drops and comes back does not wait for media again (it kept flowing or
        // resumes on its own)...
        p.connection(&id(2), Disconnected);
        p.connection(&id(2), Connected);
        assert!(!p.settling());
        // A dropped connection is not "coming together"; neither is a member who left mid-setup.
        p.connection(&id(2), Disconnected);
        assert!(!p.settling());
        p.joined(&member(3, "Cyd"));
        p.left(&id(3));
        assert!(!p.settling());
        p.connection(&id(1), Failed);
        assert!(!p.settling());
        // ...but a new connection after the old one closed does.
        p.peer_closed(&id(2));
        p.connection(&id(2), Connected);
        assert!(p.settling());
    }

    #[test]
    fn codes_are_owed_to_connected_members_with_a_tile_until_given() {
        let mut p = Participants::new();
        p.welcome(&id(9), "Me", &[member(1, "Ada"), member(2, "Bob")], false);
        assert!(p.unverified().is_empty(), "nobody is connected yet");
        p.connection(&id(1), Connected);
        p.connection(&id(2), Connecting);
        assert_eq!(p.unverified(), [id(1)]);
        p.verification(&id(1), "123 456".into());
        assert!(p.unverified().is_empty());
        // A reconnect keeps the code (same certificates); a new connection after a close needs one.
        p.connection(&id(1), Disconnected);
        p.connection(&id(1), Connected);
        assert!(p.unverified().is_empty());
        p.peer_closed(&id(1));
        p.connection(&id(1), Connected);
        p.connection(&id(2), Connected);
        assert_eq!(p.unverified(), [id(1), id(2)]);
        // A member who left is owed nothing.
        p.left(&id(2));
        assert_eq!(p.unverified(), [id(1)]);
    }

    #[test]
    fn a_member_disappears_on_leave_or_when_the_connection_fails_whichever_first() {
        let mut p = Participants::new();
        p.welcome(&id(9), "Me", &[member(1, "Ada"), member(2, "Bob")], false);
        p.connection(&id(1), Connected);
        p.connection(&id(2), Connected);
        p.connection(&id(2), Failed);
        assert_eq!(names(&p), ["Me", "Ada"]);
        // An ICE restart that reconnects brings the tile back.
        p.connection(&id(2), Connected);
        assert_eq!(names(&p), ["Me", "Ada", "Bob"]);
        p.left(&id(1));
        assert_eq!(names(&p), ["Me", "Bob"]);
        p.peer_closed(&id(2));
        assert_eq!(names(&p), ["Me"]);
    }

    #[test]
    fn a_diagnosed_failure_keeps_its_tile_to_explain_it_until_the_connection_recovers() {
        let mut p = Participants::new();
        p.welcome(&id(9), "Me", &[member(1, "Ada")], false);
        p.connection(&id(1), Connected);
        p.receiving(&id(1));
        p.path(
            &id(1),
            Some(PathReading {
                path: crate::rtc::path::NetworkPath::Direct,
                pair: "a ↔ b".into(),
            }),
        );
        assert!(p.remote(&id(1)).unwrap().path.is_some());
        p.problem(&id(1), Some(ConnectionProblem::UdpBlocked));
        p.connection(&id(1), Failed);
        assert_eq!(names(&p), ["Me", "Ada"]);
        assert_eq!(p.remote(&id(1)).unwrap().path, None, "no path while down");
        // The automatic restart tries again: that is not the call coming together.
        p.connection(&id(1), Connecting);
        assert!(!p.settling());
        // A path read late (the poll raced the failure) does not come back while down.
        p.path(
            &id(1),
            Some(PathReading {
                path: crate::rtc::path::NetworkPath::Direct,
                pair: "a ↔ b".into(),
            }),
        );
        assert_eq!(p.remote(&id(1)).unwrap().path, None);
        p.problem(&id(1), None);
        p.connection(&id(1), Connected);
        assert_eq!(names(&p), ["Me", "Ada"]);
        p.connection(&id(1), Failed);
        assert_eq!(
            names(&p),
            ["Me"],
            "an undiagnosed failure hides the tile as before"
        );
    }

    #[test]
    fn a_resumed_welcome_keeps_members_that_have_not_rejoined_a_restarted_relay() {
        let mut p = Participants::new();
        p.welcome(&id(9), "Me", &[member(1, "Ada"), member(2, "Bob")], false);
        p.connection(&id(1), Connected);
        p.welcome(&id(9), "Me", &[member(2, "Bob")], true);
        assert_eq!(names(&p), ["Me", "Ada", "Bob"]);
        assert_eq!(p.remote(&id(1)).map(|r| r.connection), Some(Connected));
        // A fresh id starts over with the relay's list.
        p.welcome(&id(8), "Me", &[member(2, "Bob")], false);
        assert_eq!(names(&p), ["Me", "Bob"]);
        assert_eq!(p.remote(&id(2)).map(|r| r.connection), Some(New));
    }

    #[test]
    fn a_signal_before_the_join_makes_a_placeholder_that_the_join_names() {
        let mut p = Participants::new();
        p.welcome(&id(9), "Me", &[], false);
        p.connection(&id(4), Connecting);
        assert_eq!(names(&p), ["Me", "someone"]);
        p.joined(&member(4, "Dee"));
        assert_eq!(names(&p), ["Me", "Dee"]);
        assert_eq!(p.tiles()[1].connection, Some(Connecting));
        assert_eq!(p.tiles()[1].connection_token(), "connecting");
    }

    #[test]
    fn media_state_and_renames_reach_the_tiles() {
        let mut p = Participants::new();
        p.welcome(&id(9), "Me", &[member(1, "Ada")], false);
        let muted = MediaState {
            mic_muted: true,
            ..MediaState::default()
        };
        p.media(&id(1), muted);
        p.renamed(&id(1), "Ada L.");
        p.renamed(&id(9), "Me too");
        let tiles = p.tiles();
        assert_eq!(tiles[1].media, muted);
        assert_eq!(names(&p), ["Me too", "Ada L."]);
    }

    #[test]
    fn the_grid_keys_follow_the_tiles_and_ignore_their_state() {
        let mut p = Participants::new();
        assert!(p.tile_keys().is_empty());
        p.welcome(&id(9), "Me", &[member(1, "Ada"), member(2, "Bob")], false);
        let keys = p.tile_keys();
        assert_eq!(keys, [(id(9), true), (id(1), false), (id(2), false)]);
        let from_tiles: Vec<_> = p.tiles().into_iter().map(|t| (t.id, t.is_self)).collect();
        assert_eq!(keys, from_tiles);
        // A tile's own state changes neither the keys nor any other tile.
        let bob = p.tile(&id(2), false);
        p.connection(&id(1), Connecting);
        p.media(
            &id(1),
            MediaState {
                camera_off: true,
                ..MediaState::default()
            },
        );
        assert_eq!(p.tile_keys(), keys);
        assert_eq!(p.tile(&id(2), false), bob);
        // Each tile alone is what the whole list holds for it.
        for tile in p.tiles() {
            assert_eq!(p.tile(&tile.id, tile.is_self).as_ref(), Some(&tile));
        }
        // A tile that goes leaves the keys, and asking for it gives nothing.
        p.connection(&id(1), Failed);
        assert_eq!(p.tile_keys(), [(id(9), true), (id(2), false)]);
        assert_eq!(p.tile(&id(1), false), None);
        p.left(&id(2));
        assert_eq!(p.tile_keys(), [(id(9), true)]);
        assert_eq!(p.tile(&id(2), false), None);
        // This client's tile only under its own id, and only as this client's.
        assert_eq!(p.tile(&id(9), false), None);
        assert_eq!(p.tile(&id(1), true), None);
        assert_eq!(p.tile(&id(9), true).map(|t| t.name), Some("Me".into()));
    }

    #[test]
    fn capacity_is_read_from_the_relays_refusal() {
        assert_eq!(
            capacity_from_refusal(
                r#"room "team" is full (8 of 8 members); try again later or choose another room"#
            ),
            Some(8)
        );
        assert_eq!(capacity_from_refusal("full"), None);
    }
}
