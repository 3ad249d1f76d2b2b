//! The few things the app remembers in `localStorage`: for now only the display name.
//!
//! Storage is a convenience, never a requirement: when the browser refuses it (private mode, disabled
//! storage) the app works the same and only forgets. Nothing secret is ever stored here.

use crate::error::AppError;

/// The `localStorage` key of the last display name used to join.
pub const NAME_KEY: &str = "peerlab.name";

fn local_storage() -> Result<web_sys::Storage, AppError> {
    let window = web_sys::window().ok_or(AppError::NoWindow)?;
    window
        .local_storage()
        .map_err(|err| AppError::storage(&err))?
        .ok_or_else(|| AppError::Storage("localStorage is not available".into()))
}

/// The remembered display name, if any.
pub fn load_name() -> Option<String> {
    local_storage().ok()?.get_item(NAME_KEY).ok().flatten()
}

/// Remembers the display name for the next visit.
pub fn save_name(name: &str) -> Result<(), AppError> {
    local_storage()?
        .set_item(NAME_KEY, name)
        .map_err(|err| AppError::storage(&err))
}
