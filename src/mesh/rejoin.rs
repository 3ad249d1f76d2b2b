//! [`Rejoin`]: what a welcome from the relay means for the peers a page already has. Decided here, apart
//! from the browser objects, so that it is tested natively; [`PeerMesh`](super::PeerMesh) carries it out.
//! Pure: no `web_sys`, no Leptos.

use peerlab_protocol::PeerId;

use crate::rtc::states::PeerConnectionState;

/// What a welcome does to the existing peers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejoin {
    /// The first welcome: there are no peers yet to keep or close.
    First,
    /// The relay resumed this client under the same id: every peer stays, and those not connected
    /// restart ICE, which heals negotiation signals lost while the relay was away.
    Resumed,
    /// The relay gave this client a new id: the old connections' signals would go to an id nobody has,
    /// so every peer closes.
    NewId,
}

impl Rejoin {
    /// What a welcome to `now` means after the welcome to `previous` (`None`: none yet).
    pub fn of(previous: Option<&PeerId>, now: &PeerId) -> Self {
        match previous {
            None => Self::First,
            Some(old) if old == now => Self::Resumed,
            Some(_) => Self::NewId,
        }
    }

    /// Whether a peer whose connection is in `state` restarts ICE after this welcome.
    pub fn restarts_ice(self, state: PeerConnectionState) -> bool {
        self == Self::Resumed && state != PeerConnectionState::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_welcome_is_first_resumed_or_a_new_id() {
        let (a, b) = (PeerId::from("a"), PeerId::from("b"));
        let check = |previous: Option<&PeerId>, now: &PeerId, expected: Rejoin| {
            assert_eq!(
                Rejoin::of(previous, now),
                expected,
                "{previous:?} then {now:?}"
            );
        };
        check(None, &a, Rejoin::First);
        check(Some(&a), &a, Rejoin::Resumed);
        check(Some(&a), &b, Rejoin::NewId);
    }

    #[test]
    fn only_a_resumed_welcome_restarts_ice_and_only_where_not_connected() {
        use PeerConnectionState::*;
        for state in PeerConnectionState::ALL {
            assert_eq!(
                Rejoin::Resumed.restarts_ice(state),
                state != Connected,
                "{state:?}"
            );
            assert!(!Rejoin::First.restarts_ice(state), "{state:?}");
            assert!(!Rejoin::NewId.restarts_ice(state), "{state:?}");
        }
    }
}
