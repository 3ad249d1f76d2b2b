//! The states a peer connection, its transport and its data channels go through, as enums: the
//! browser's word for each ([`as_str`](PeerConnectionState::as_str), what `data-connection` and
//! `data-state` attributes carry and the inspectors show) and, for the states people see, what they
//! read ([`words`](PeerConnectionState::words)).
//!
//! This is the one place that knows these words. The glue (`rtc::peer`, `rtc::data`) parses what the
//! browser reports as soon as it reads it, and everything after it (the mesh, the chat, the call, the
//! views) matches on the enums. Pure: no `web_sys`, no Leptos, so every word is checked natively. The
//! relay connection's state is a different thing (`signaling::ConnectionState`), and so is a file
//! transfer's (`chat::transfer::TransferState`).

/// `RTCPeerConnection.connectionState`: ICE and DTLS together, the state a person cares about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerConnectionState {
    New,
    Connecting,
    Connected,
    /// A transport lost its path; it may come back by itself or after an ICE restart.
    Disconnected,
    Failed,
    /// Closed by this side (`close()`); it never opens again.
    Closed,
}

impl PeerConnectionState {
    pub const ALL: [Self; 6] = [
        Self::New,
        Self::Connecting,
        Self::Connected,
        Self::Disconnected,
        Self::Failed,
        Self::Closed,
    ];

    /// Parses the browser's word; `None` for a word this app does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The browser's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Failed => "failed",
            Self::Closed => "closed",
        }
    }

    /// What the chat's header and a room tile say. A connection that has not started checking yet is
    /// "connecting…" too: to a person it is already on its way.
    pub fn words(self) -> &'static str {
        match self {
            Self::New | Self::Connecting => "connecting…",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Failed => "failed",
            Self::Closed => "closed",
        }
    }

    /// Whether the connection is still being set up: it has never been connected, and has not failed.
    pub fn is_setting_up(self) -> bool {
        matches!(self, Self::New | Self::Connecting)
    }
}

/// The `data-connection` token of a connection that may not exist: the browser's word, or "none".
pub fn connection_token(state: Option<PeerConnectionState>) -> &'static str {
    state.map_or("none", PeerConnectionState::as_str)
}

/// What a person reads about a connection that may not exist: its words, or "not connected".
pub fn connection_words(state: Option<PeerConnectionState>) -> &'static str {
    state.map_or("not connected", PeerConnectionState::words)
}

/// `RTCPeerConnection.iceConnectionState`: the ICE agent alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceConnectionState {
    New,
    Checking,
    Connected,
    /// Connected, and the agent stopped checking other pairs.
    Completed,
    Disconnected,
    Failed,
    Closed,
}

impl IceConnectionState {
    pub const ALL: [Self; 7] = [
        Self::New,
        Self::Checking,
        Self::Connected,
        Self::Completed,
        Self::Disconnected,
        Self::Failed,
        Self::Closed,
    ];

    /// Parses the browser's word; `None` for a word this app does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The browser's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Checking => "checking",
            Self::Connected => "connected",
            Self::Completed => "completed",
            Self::Disconnected => "disconnected",
            Self::Failed => "failed",
            Self::Closed => "closed",
        }
    }

    /// What the state means, for the inspectors' tooltips (their tables show the browser's word).
    pub fn words(self) -> &'static str {
        match self {
            Self::New => "waiting for candidates",
            Self::Checking => "checking candidate pairs",
            Self::Connected => "a candidate pair works",
            Self::Completed => "a candidate pair works; checks are finished",
            Self::Disconnected => "nothing heard from the other side lately",
            Self::Failed => "no candidate pair works",
            Self::Closed => "closed",
        }
    }

    /// Whether a candidate pair works: `connected` or `completed`.
    pub fn is_connected(self) -> bool {
        matches!(self, Self::Connected | Self::Completed)
    }
}

/// `RTCPeerConnection.signalingState`: where the offer/answer exchange is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignalingState {
    Stable,
    HaveLocalOffer,
    HaveRemoteOffer,
    HaveLocalPranswer,
    HaveRemotePranswer,
    Closed,
}

impl SignalingState {
    pub const ALL: [Self; 6] = [
        Self::Stable,
        Self::HaveLocalOffer,
        Self::HaveRemoteOffer,
        Self::HaveLocalPranswer,
        Self::HaveRemotePranswer,
        Self::Closed,
    ];

    /// Parses the browser's word; `None` for a word this app does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The browser's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stable => "stable",
            Self::HaveLocalOffer => "have-local-offer",
            Self::HaveRemoteOffer => "have-remote-offer",
            Self::HaveLocalPranswer => "have-local-pranswer",
            Self::HaveRemotePranswer => "have-remote-pranswer",
            Self::Closed => "closed",
        }
    }

    /// What the state means, for the inspectors' tooltips.
    pub fn words(self) -> &'static str {
        match self {
            Self::Stable => "no offer under way",
            Self::HaveLocalOffer => "our offer is set; waiting for the answer",
            Self::HaveRemoteOffer => "their offer is set; answering",
            Self::HaveLocalPranswer => "our provisional answer is set",
            Self::HaveRemotePranswer => "their provisional answer is set",
            Self::Closed => "closed",
        }
    }
}

/// `RTCPeerConnection.iceGatheringState`: whether this side is still finding its own addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IceGatheringState {
    New,
    Gathering,
    Complete,
}

impl IceGatheringState {
    pub const ALL: [Self; 3] = [Self::New, Self::Gathering, Self::Complete];

    /// Parses the browser's word; `None` for a word this app does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The browser's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Gathering => "gathering",
            Self::Complete => "complete",
        }
    }

    /// What the state means, for the inspectors' tooltips.
    pub fn words(self) -> &'static str {
        match self {
            Self::New => "not gathering yet",
            Self::Gathering => "gathering candidates",
            Self::Complete => "every candidate is gathered",
        }
    }
}

/// `RTCDtlsTransport.state`, as the statistics report it (`dtlsState`): the key agreement over the path ICE
/// chose. Only the loopback inspector shows it, in the browser's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtlsState {
    New,
    Connecting,
    Connected,
    Closed,
    Failed,
}

impl DtlsState {
    pub const ALL: [Self; 5] = [
        Self::New,
        Self::Connecting,
        Self::Connected,
        Self::Closed,
        Self::Failed,
    ];

    /// Parses the browser's word; `None` for a word this app does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The browser's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Closed => "closed",
            Self::Failed => "failed",
        }
    }
}

/// `RTCDataChannel.readyState`. No page shows it, so it has no words for people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataChannelState {
    Connecting,
    Open,
    Closing,
    Closed,
}

impl DataChannelState {
    pub const ALL: [Self; 4] = [Self::Connecting, Self::Open, Self::Closing, Self::Closed];

    /// Parses the browser's word; `None` for a word this app does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The browser's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connecting => "connecting",
            Self::Open => "open",
            Self::Closing => "closing",
            Self::Closed => "closed",
        }
    }
}

/// `MediaStreamTrack.readyState`: a track is live until it ends, by the page's `stop()` or by itself
/// (an unplugged camera).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaTrackState {
    Live,
    Ended,
}

impl MediaTrackState {
    pub const ALL: [Self; 2] = [Self::Live, Self::Ended];

    /// Parses the browser's word; `None` for a word this app does not know.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The browser's word.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Ended => "ended",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every word of the specification parses to a state that writes it back, the enum has no state
    /// beyond them, and a word the browser does not use parses to nothing.
    fn check_words<S: Copy + PartialEq + std::fmt::Debug>(
        spec: &[&str],
        all: &[S],
        parse: fn(&str) -> Option<S>,
        as_str: fn(S) -> &'static str,
    ) {
        for word in spec {
            let state = parse(word).unwrap_or_else(|| panic!("{word} does not parse"));
            assert_eq!(as_str(state), *word);
        }
        assert_eq!(all.len(), spec.len(), "{all:?} against {spec:?}");
        for word in ["", "Connected", "open ", "none", "self"] {
            assert_eq!(parse(word), None, "{word:?}");
        }
    }

    #[test]
    fn every_browser_word_round_trips() {
        check_words(
            &[
                "new",
                "connecting",
                "connected",
                "disconnected",
                "failed",
                "closed",
            ],
            &PeerConnectionState::ALL,
            PeerConnectionState::parse,
            PeerConnectionState::as_str,
        );
        check_words(
            &[
                "new",
                "checking",
                "connected",
                "completed",
                "disconnected",
                "failed",
                "closed",
            ],
            &IceConnectionState::ALL,
            IceConnectionState::parse,
            IceConnectionState::as_str,
        );
        check_words(
            &[
                "stable",
                "have-local-offer",
                "have-remote-offer",
                "have-local-pranswer",
                "have-remote-pranswer",
                "closed",
            ],
            &SignalingState::ALL,
            SignalingState::parse,
            SignalingState::as_str,
        );
        check_words(
            &["new", "gathering", "complete"],
            &IceGatheringState::ALL,
            IceGatheringState::parse,
            IceGatheringState::as_str,
        );
        check_words(
            &["new", "connecting", "connected", "closed", "failed"],
            &DtlsState::ALL,
            DtlsState::parse,
            DtlsState::as_str,
        );
        check_words(
            &["connecting", "open", "closing", "closed"],
            &DataChannelState::ALL,
            DataChannelState::parse,
            DataChannelState::as_str,
        );
        check_words(
            &["live", "ended"],
            &MediaTrackState::ALL,
            MediaTrackState::parse,
            MediaTrackState::as_str,
        );
    }

    #[test]
    fn a_connection_reads_the_same_in_the_chat_and_the_room() {
        use PeerConnectionState::*;
        let check = |state: Option<PeerConnectionState>, token: &str, words: &str| {
            assert_eq!(connection_token(state), token, "{state:?}");
            assert_eq!(connection_words(state), words, "{state:?}");
        };
        check(None, "none", "not connected");
        check(Some(New), "new", "connecting…");
        check(Some(Connecting), "connecting", "connecting…");
        check(Some(Connected), "connected", "connected");
        check(Some(Disconnected), "disconnected", "disconnected");
        check(Some(Failed), "failed", "failed");
        check(Some(Closed), "closed", "closed");
    }

    #[test]
    fn only_new_and_connecting_are_still_setting_up() {
        let setting_up: Vec<_> = PeerConnectionState::ALL
            .into_iter()
            .filter(|s| s.is_setting_up())
            .collect();
        assert_eq!(
            setting_up,
            [PeerConnectionState::New, PeerConnectionState::Connecting]
        );
    }

    #[test]
    fn ice_counts_completed_as_connected() {
        let connected: Vec<_> = IceConnectionState::ALL
            .into_iter()
            .filter(|s| s.is_connected())
            .collect();
        assert_eq!(
            connected,
            [IceConnectionState::Connected, IceConnectionState::Completed]
        );
    }
}
