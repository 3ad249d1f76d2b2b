//! What `App` hands every page through Leptos context: the runtime configuration. (The relay status the
//! header shows is `signaling::RelayStatus`, next to the hook that sets it.)
//!
//! Pages ask for these with `use_context` and degrade gracefully when they are absent (a component mounted
//! alone in a test). This module deliberately holds no connection itself; a relay connection belongs to the
//! page that opened it.

use leptos::prelude::*;

use crate::config::{self, Config};
use crate::error::ConfigError;

/// The configuration, loaded once per app start from `/peerlab.json`.
#[derive(Clone, Copy)]
pub struct AppConfig(pub LocalResource<Result<Config, ConfigError>>);

impl AppConfig {
    /// Starts loading the configuration; pages await it when they need the relay address.
    pub fn load() -> Self {
        AppConfig(LocalResource::new(config::load))
    }

    /// A configuration given in code instead of fetched, for tests and embedders that know the relay.
    pub fn fixed(config: Config) -> Self {
        AppConfig(LocalResource::new(move || {
            let config = config.clone();
            async move { Ok(config) }
        }))
    }
}
