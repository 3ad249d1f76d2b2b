//! `use_relay_room`: the Leptos hook that gives a component one room on the relay, as a reactive
//! [`Roster`] plus join, rename and leave.
//!
//! The hook owns at most one [`SignalingClient`] at a time and drops it when the component is cleaned up,
//! which closes the socket. It deliberately holds no view: the chat and room pages render the roster their
//! own way (the room page through `components::RoomPanel`).

use futures::channel::mpsc;
use futures::StreamExt;
use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use peerlab_protocol::{validate_name, Payload, PeerId};

use super::backoff::{should_reconnect, Backoff};
use super::client::{SignalingClient, SignalingEvents, WarmSocket};
use super::log::{Direction, SignalLog};
use super::roster::{ConnectionState, Roster};
use super::session::{JoinRequest, SignalingEvent};
use crate::config::{ice_summary_of, relay_url_for_this_page};
use crate::context::AppConfig;
use crate::error::AppError;
use crate::storage;

/// A handle to one room on the relay. It is `Copy`, so event handlers capture it freely.
#[derive(Clone, Copy)]
pub struct RelayRoom {
    /// The room this handle joins; fixed for the handle's life (a new room is a new component).
    room: StoredValue<String>,
    /// The join token from the room link, for a relay that protects its rooms.
    token: StoredValue<Option<String>>,
    /// Everything the page shows about the room.
    roster: RwSignal<Roster>,
    /// The relay messages sent and received, for the inspector.
    log: RwSignal<SignalLog>,
    /// The live connection, if any. Local storage because a browser socket cannot cross threads.
    client: StoredValue<Option<SignalingClient>, LocalStorage>,
    /// Who else wants every event (the peer connections of the chat and room pages).
    subscribers: StoredValue<Vec<mpsc::UnboundedSender<SignalingEvent>>, LocalStorage>,
    /// The last welcome's resume token: sent with the next join after a drop to keep the peer id.
    resume: StoredValue<Option<String>>,
    /// Counts connection attempts, so events still queued from an earlier client are ignored.
    generation: StoredValue<u64>,
    /// The configuration, awaited before connecting; absent when a component is mounted on its own.
    config: Option<AppConfig>,
    /// A socket opened when the page came up, for the first join to use.
    warm: StoredValue<Option<WarmSocket>, LocalStorage>,
}

/// Gives the calling component a room on the relay; the connection ends with the component. `token` is
/// the room link's join token, sent with every join (a relay that does not protect rooms ignores it).
///
/// A dropped connection is re-established by itself: exponential backoff with jitter
/// ([`super::backoff`]), and the join carries the last welcome's resume token so the relay gives back the
/// same peer id within its grace period. A join that cannot reach the relay at all keeps trying the same
/// way (the roster says the relay cannot be reached). Only [`RelayRoom::leave`], a refused join, or the
/// component's end stop it.
pub fn use_relay_room(room: String, token: Option<String>) -> RelayRoom {
    let handle = RelayRoom {
        room: StoredValue::new(room.clone()),
        token: StoredValue::new(token),
        roster: RwSignal::new(Roster::new(room)),
        log: RwSignal::new(SignalLog::new()),
        client: StoredValue::new_local(None),
        subscribers: StoredValue::new_local(Vec::new()),
        resume: StoredValue::new(None),
        generation: StoredValue::new(0),
        config: use_context::<AppConfig>(),
        warm: StoredValue::new_local(None),
    };
    // In the app (not a component mounted on its own), the relay connection is made while the person
    // gets ready, so the join is one message.
    if handle.config.is_some() {
        spawn_local(async move {
            if let Ok(url) = handle.relay_url().await {
                if let Ok(socket) = WarmSocket::open(&url) {
                    // Refused once the component is gone (the socket then closes) or after a join.
                    if handle.generation.try_get_value() == Some(0) {
                        handle.warm.try_set_value(Some(socket));
                    }
                }
            }
        });
    }
    if let Some(RelayStatus(status)) = use_context::<RelayStatus>() {
        let roster = handle.roster;
        Effect::new(move |_| {
            if let Some(state) = roster.try_with(|r| r.state.clone()) {
                status.set(state);
            }
        });
        on_cleanup(move || status.set(ConnectionState::Idle));
    }
    on_cleanup(move || {
        handle.drop_client();
        handle.warm.try_update_value(Option::take);
    });
    handle
}

impl RelayRoom {
    /// The room as a reactive value.
    pub fn roster(&self) -> RwSignal<Roster> {
        self.roster
    }

    /// The relay messages sent and received, newest last, for the inspector panel.
    pub fn log(&self) -> RwSignal<SignalLog> {
        self.log
    }

    /// Every event from now on, in order, across reconnects (each reconnect brings a new
    /// [`SignalingEvent::Welcome`]; `resumed` says whether the peer id stayed the same). The stream ends
    /// when the component that owns the room is cleaned up.
    pub fn events(&self) -> mpsc::UnboundedReceiver<SignalingEvent> {
        let (tx, rx) = mpsc::unbounded();
        self.subscribers.update_value(|subs| subs.push(tx));
        rx
    }

    /// Sends `payload` to the member `to`; the relay stamps this client's id as `from`. Fails while the
    /// relay connection is down or not joined; peer-to-peer connections are unaffected by that.
    pub fn send_signal(&self, to: PeerId, payload: Payload) -> Result<(), AppError> {
        let result = self
            .client
            .try_with_value(|client| match client {
                Some(client) => client.send_signal(to.clone(), payload.clone()),
                None => Err(AppError::NotConnected),
            })
            .unwrap_or(Err(AppError::NotConnected));
        if result.is_ok() {
            self.log.try_update(|log| log.sent_signal(&to, &payload));
        }
        result
    }

    /// Connects and joins under `name`, replacing any earlier connection. Problems show in the roster.
    pub fn join(&self, name: &str) {
        let name = match validate_name(name) {
            Ok(name) => name,
            Err(err) => {
                self.roster.update(|r| r.fail(&AppError::from(err)));
                return;
            }
        };
        // Remembering the name is a convenience; a refusing storage must not stop the join.
        let _ = storage::save_name(&name);
        self.drop_client();
        // A join the person asked for starts afresh; only the automatic reconnect resumes.
        self.resume.set_value(None);
        let generation = self.next_generation();
        self.roster.update(Roster::start_connecting);
        let request = JoinRequest {
            room: self.room.get_value(),
            name,
            token: self.token.get_value(),
            resume: None,
        };
        // With a warm socket, the join leaves now, before the page rebuilds itself for the call.
        let first = self
            .warm
            .try_update_value(Option::take)
            .flatten()
            .and_then(|warm| {
                let url = warm.url().to_owned();
                let socket = warm.take_for(&url)?;
                Some((url, SignalingClient::connect_on(socket, request.clone())))
            });
        let this = *self;
        spawn_local(async move { this.run(generation, request, first).await });
    }

    /// Renames this client in the room, or just remembers the name when not joined.
    pub fn rename(&self, name: &str) {
        let result = validate_name(name)
            .map_err(AppError::from)
            .and_then(|name| {
                let _ = storage::save_name(&name);
                self.client.with_value(|client| match client {
                    Some(client) => client.rename(name),
                    None => Err(AppError::NotConnected),
                })
            });
        if let Err(err) = result {
            self.roster.update(|r| r.fail(&err));
        }
    }

    /// Leaves the room by closing the connection (and any pending reconnect); the relay tells the others.
    pub fn leave(&self) {
        self.next_generation();
        self.drop_client();
        self.resume.set_value(None);
        self.roster.update(Roster::disconnect);
    }

    fn next_generation(&self) -> u64 {
        self.generation.update_value(|g| *g += 1);
        self.generation.get_value()
    }

    fn is_current(&self, generation: u64) -> bool {
        self.generation.try_get_value() == Some(generation)
    }

    fn drop_client(&self) {
        // During cleanup the stored value may already be gone; then so is the client.
        let client = self.client.try_update_value(Option::take).flatten();
        drop(client);
    }

    /// Hands `event` to the log and to every subscriber still listening.
    fn publish(&self, event: &SignalingEvent) {
        self.log.try_update(|log| log.received(event));
        self.subscribers.try_update_value(|subs| {
            subs.retain(|tx| tx.unbounded_send(event.clone()).is_ok());
        });
    }

    /// The relay's WebSocket URL for this page, once the configuration is loaded.
    async fn relay_url(self) -> Result<String, crate::error::ConfigError> {
        let config = match self.config {
            Some(AppConfig(resource)) => resource.await,
            None => Ok(Default::default()),
        };
        config.and_then(|config| relay_url_for_this_page(&config))
    }

    /// The connection's life from a join: `first` is a client already joining on a warm socket.
    async fn run(
        self,
        generation: u64,
        mut request: JoinRequest,
        first: Option<(String, (SignalingClient, SignalingEvents))>,
    ) {
        let (url, mut first) = match first {
            Some((url, client)) => (Ok(url), Some(client)),
            None => (self.relay_url().await, None),
        };
        if !self.is_current(generation) {
            return;
        }
        let url = match url {
            Ok(url) => url,
            Err(err) => {
                self.roster.try_update(|r| r.fail(&err.into()));
                return;
            }
        };
        let mut backoff = Backoff::default();
        loop {
            let Some(code) = self
                .connect_once(generation, &url, &request, &mut backoff, first.take())
                .await
            else {
                return;
            };
            // Join again as the connection last was (renames included), asking for the same peer id.
            if let Some(Some(last)) = self
                .client
                .try_with_value(|client| client.as_ref().map(SignalingClient::request))
            {
                request = last;
            }
            request.resume = self.resume.try_get_value().flatten();
            self.drop_client();
            // Read before `reconnecting` replaces the state it is read from.
            let unanswered = self
                .roster
                .try_with_untracked(Roster::relay_never_answered)
                .unwrap_or(false);
            let delay_ms = backoff.next_delay(js_sys::Math::random());
            let attempt = backoff.attempt();
            self.roster
                .try_update(|r| r.reconnecting(attempt, delay_ms, code));
            self.log.try_update(|log| {
                log.push(
                    Direction::Received,
                    "reconnecting",
                    None,
                    format!("attempt {attempt} in {delay_ms} ms"),
                )
            });
            // The wait runs from here: asking the relay why it did not answer takes from it, not adds.
            let wait = TimeoutFuture::new(delay_ms);
            if unanswered {
                self.explain_unanswered(generation, &url).await;
            }
            wait.await;
            if !self.is_current(generation) {
                return;
            }
        }
    }

    /// A join's socket closed with nothing from the relay on it. If the relay answers over HTTP all the
    /// same, it is up and refused this page's WebSocket, which browsers do not explain (the handshake's 403
    /// is hidden from pages): say that, naming this page's origin and the flag that lets it in. A relay
    /// that does not answer either is unreachable, which the status line says already.
    async fn explain_unanswered(self, generation: u64, url: &str) {
        if ice_summary_of(url).await.is_none() || !self.is_current(generation) {
            return;
        }
        let origin = web_sys::window()
            .and_then(|window| window.location().origin().ok())
            .unwrap_or_default();
        let refused = AppError::OriginRefused {
            relay: url.to_owned(),
            origin,
        };
        self.roster.try_update(|r| r.fail(&refused));
    }

    /// One socket's life. Returns the close code when the connection should be made again, `None` when
    /// it ended for good (left, refused, replaced, or the component is gone).
    async fn connect_once(
        self,
        generation: u64,
        url: &str,
        request: &JoinRequest,
        backoff: &mut Backoff,
        joining: Option<(SignalingClient, SignalingEvents)>,
    ) -> Option<u16> {
        let connected = match joining {
            Some(pair) => Ok(pair),
            None => SignalingClient::connect(url, request.clone()),
        };
        let (client, mut events) = match connected {
            Ok(pair) => pair,
            Err(err) => {
                self.roster.try_update(|r| r.fail(&err));
                return None;
            }
        };
        if self.client.try_set_value(Some(client)).is_some() {
            return None;
        }
        while let Some(event) = events.next().await {
            if !self.is_current(generation) {
                return None;
            }
            self.publish(&event);
            match &event {
                SignalingEvent::Welcome(welcome) => {
                    self.resume.set_value(welcome.resume.clone());
                    backoff.reset();
                }
                SignalingEvent::Closed { code, .. } => {
                    let refused = self
                        .roster
                        .try_with(|r| r.state == ConnectionState::Refused)
                        .unwrap_or(true);
                    // A connection that was up comes back by itself, and so does a join the person asked
                    // for that cannot reach the relay yet (a relay restarting, a network blip): the
                    // status says which, and leaving stops the attempts.
                    if should_reconnect(*code, refused) {
                        return Some(*code);
                    }
                }
                // A socket error is always followed by its close, which schedules the next attempt and
                // says so; the error itself is not news (the inspector still lists it).
                SignalingEvent::Failure(AppError::Socket) => continue,
                _ => {}
            }
            let refused = self.roster.try_update(|r| {
                r.apply(&event);
                r.state == ConnectionState::Refused
            });
            match refused {
                None => return None,
                // The relay keeps a refused socket open; nothing more will happen on it, so close it.
                Some(true) => {
                    self.drop_client();
                    return None;
                }
                Some(false) => {}
            }
        }
        None
    }
}

/// The state of whichever relay connection the current page holds, for the header's indicator.
#[derive(Clone, Copy)]
pub struct RelayStatus(pub RwSignal<ConnectionState>);

impl RelayStatus {
    pub fn new() -> Self {
        RelayStatus(RwSignal::new(ConnectionState::Idle))
    }
}

impl Default for RelayStatus {
    fn default() -> Self {
        Self::new()
    }
}
