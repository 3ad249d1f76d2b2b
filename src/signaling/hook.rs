//! `use_relay_room`: the Leptos hook that gives a component one room on the relay, as a reactive
//! [`Roster`] plus join, rename and leave.
//!
//! The hook owns at most one [`SignalingClient`] at a time and drops it when the component is cleaned up,
//! which closes the socket. It deliberately holds no view: the chat and room pages render the roster their
//! own way (see `components::RoomPanel`).

use futures::StreamExt;
use leptos::prelude::*;
use leptos::task::spawn_local;
use peerlab_protocol::validate_name;

use super::client::SignalingClient;
use super::roster::{ConnectionState, Roster};
use super::session::JoinRequest;
use crate::config::relay_url_for_this_page;
use crate::context::{AppConfig, RelayStatus};
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
    /// The live connection, if any. Local storage because a browser socket cannot cross threads.
    client: StoredValue<Option<SignalingClient>, LocalStorage>,
    /// Counts connection attempts, so events still queued from an earlier client are ignored.
    generation: StoredValue<u64>,
    /// The configuration, awaited before connecting; absent when a component is mounted on its own.
    config: Option<AppConfig>,
}

/// Gives the calling component a room on the relay; the connection ends with the component. `token` is
/// the room link's join token, sent with every join (a relay that does not protect rooms ignores it).
pub fn use_relay_room(room: String, token: Option<String>) -> RelayRoom {
    let handle = RelayRoom {
        room: StoredValue::new(room.clone()),
        token: StoredValue::new(token),
        roster: RwSignal::new(Roster::new(room)),
        client: StoredValue::new_local(None),
        generation: StoredValue::new(0),
        config: use_context::<AppConfig>(),
    };
    if let Some(RelayStatus(status)) = use_context::<RelayStatus>() {
        let roster = handle.roster;
        Effect::new(move |_| {
            if let Some(state) = roster.try_with(|r| r.state.clone()) {
                status.set(state);
            }
        });
        on_cleanup(move || status.set(ConnectionState::Idle));
    }
    on_cleanup(move || handle.drop_client());
    handle
}

impl RelayRoom {
    /// The room as a reactive value.
    pub fn roster(&self) -> RwSignal<Roster> {
        self.roster
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
        let generation = self.next_generation();
        self.roster.update(Roster::start_connecting);
        let request = JoinRequest {
            room: self.room.get_value(),
            name,
            token: self.token.get_value(),
            resume: None,
        };
        let this = *self;
        spawn_local(async move { this.run(generation, request).await });
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

    /// Leaves the room by closing the connection; the relay tells the others.
    pub fn leave(&self) {
        self.drop_client();
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

    async fn run(self, generation: u64, request: JoinRequest) {
        let config = match self.config {
            Some(AppConfig(resource)) => resource.await,
            None => Ok(Default::default()),
        };
        if !self.is_current(generation) {
            return;
        }
        let url = match config.and_then(|config| relay_url_for_this_page(&config)) {
            Ok(url) => url,
            Err(err) => {
                self.roster.try_update(|r| r.fail(&err.into()));
                return;
            }
        };
        let (client, mut events) = match SignalingClient::connect(&url, request) {
            Ok(pair) => pair,
            Err(err) => {
                self.roster.try_update(|r| r.fail(&err));
                return;
            }
        };
        if self.client.try_set_value(Some(client)).is_some() {
            return;
        }
        while let Some(event) = events.next().await {
            if !self.is_current(generation) {
                return;
            }
            let refused = self.roster.try_update(|r| {
                r.apply(&event);
                r.state == ConnectionState::Refused
            });
            match refused {
                None => return,
                // The relay keeps a refused socket open; nothing more will happen on it, so close it.
                Some(true) => self.drop_client(),
                Some(false) => {}
            }
        }
    }
}
