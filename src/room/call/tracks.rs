//! The call's media tracks: what this client sends on every peer (the microphone, and the shared screen or
//! else the camera, all with the camera stream), what it receives (one stream per member), device
//! switches on the page, and screen sharing. Switching uses `replaceTrack`, so nothing is renegotiated.

use std::rc::Rc;

use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen_futures::spawn_local;
use web_sys::{MediaStream, MediaStreamTrack};

use super::{Runtime, Screen};
use crate::room::control::MediaState;
use crate::rtc::media::{on_track_ended, open_display, stop_stream, tracks_of, TrackKind};

impl Runtime {
    /// Keeps the incoming stream of `peer` (one per member; later tracks join it).
    pub(super) fn remote_track(
        &self,
        peer: &PeerId,
        track: MediaStreamTrack,
        stream: Option<MediaStream>,
    ) {
        let known = self.s.streams.with_untracked(|m| m.get(peer).cloned());
        match (known, stream) {
            (Some(known), Some(stream)) if known.id() == stream.id() => {}
            (Some(known), None) => {
                if known.get_track_by_id(&track.id()).is_none() {
                    known.add_track(&track);
                }
            }
            (_, Some(stream)) => {
                self.s.streams.update(|m| {
                    m.insert(peer.clone(), stream);
                });
            }
            (None, None) => {
                if let Ok(stream) = MediaStream::new() {
                    stream.add_track(&track);
                    self.s.streams.update(|m| {
                        m.insert(peer.clone(), stream);
                    });
                }
            }
        }
    }

    /// The tracks to send now: the microphone, and the shared screen or else the camera. Each comes
    /// with the camera stream, so the other side sees one stream per member.
    pub(super) fn outgoing(&self) -> (Option<MediaStream>, Vec<MediaStreamTrack>) {
        let Some(stream) = self.media.stream().get_untracked() else {
            return (None, Vec::new());
        };
        let mut tracks = tracks_of(&stream, TrackKind::Audio);
        match &self.state.borrow().screen {
            Some(screen) => tracks.push(Clone::clone(&screen.track)),
            None => tracks.extend(tracks_of(&stream, TrackKind::Video)),
        }
        (Some(stream), tracks)
    }

    pub(super) fn set_self_media(&self, f: impl FnOnce(&mut MediaState)) {
        self.s.participants.update(|p| f(&mut p.self_media));
        self.broadcast_state();
    }

    pub(super) fn self_media(&self) -> MediaState {
        self.s
            .participants
            .try_with_untracked(|p| p.self_media)
            .unwrap_or_default()
    }

    /// After a device switch on the page: sends the camera stream's new tracks in place of the old ones
    /// on every peer (keeping a muted microphone or an off camera so).
    pub(super) fn sync_outgoing(&self) {
        if !self.s.active.get_untracked() {
            return;
        }
        let Some(stream) = self.media.stream().get_untracked() else {
            return;
        };
        let media = self.self_media();
        let sharing = self.state.borrow().screen.is_some();
        for (kind, off) in [
            (TrackKind::Audio, media.mic_muted),
            (TrackKind::Video, media.camera_off),
        ] {
            let Some(track) = tracks_of(&stream, kind).into_iter().next() else {
                continue;
            };
            if track.enabled() == off {
                track.set_enabled(!off);
            }
            if kind == TrackKind::Video && sharing {
                continue;
            }
            let changed = self.state.borrow().sent.get(kind.as_str()) != Some(&track.id());
            if changed {
                self.replace_everywhere(&track);
            }
        }
    }

    /// Sends `track` instead of the current track of its kind on every peer.
    pub(super) fn replace_everywhere(&self, track: &MediaStreamTrack) {
        self.state
            .borrow_mut()
            .sent
            .insert(kind_key(&track.kind()), track.id());
        let problem = self.s.problem;
        for row in self.mesh.rows().get_untracked() {
            if let Some(replacing) = self.mesh.with_peer(&row.id, |p| p.replace_track(track)) {
                spawn_local(async move {
                    if let Err(err) = replacing.await {
                        problem.try_set(Some(err.to_string()));
                    }
                });
            }
        }
    }

    pub(super) fn share_screen(self: &Rc<Self>) {
        if self.state.borrow().screen.is_some() {
            return;
        }
        let weak = Rc::downgrade(self);
        spawn_local(async move {
            let opened = open_display(1280, 720, 15).await;
            let Some(rt) = weak.upgrade() else {
                if let Ok(stream) = opened {
                    stop_stream(&stream);
                }
                return;
            };
            let stream = match opened {
                Ok(stream) => stream,
                Err(err) => return rt.s.problem.set(Some(err.to_string())),
            };
            let Some(track) = tracks_of(&stream, TrackKind::Video).into_iter().next() else {
                stop_stream(&stream);
                return;
            };
            if !rt.s.active.get_untracked() || rt.state.borrow().screen.is_some() {
                stop_stream(&stream);
                return;
            }
            let weak_rt = Rc::downgrade(&rt);
            let ended = on_track_ended(&track, move || {
                if let Some(rt) = weak_rt.upgrade() {
                    rt.stop_sharing();
                }
            });
            rt.state.borrow_mut().screen = Some(Screen {
                stream: Clone::clone(&stream),
                track: Clone::clone(&track),
                _ended: ended,
            });
            rt.replace_everywhere(&track);
            rt.s.screen.set(Some(stream));
            rt.set_self_media(|m| m.sharing = true);
        });
    }

    pub(super) fn stop_sharing(&self) {
        let Some(screen) = self.state.borrow_mut().screen.take() else {
            return;
        };
        stop_stream(&screen.stream);
        drop(screen);
        let camera = self
            .media
            .stream()
            .get_untracked()
            .and_then(|s| tracks_of(&s, TrackKind::Video).into_iter().next());
        if let Some(camera) = camera {
            self.replace_everywhere(&camera);
        }
        self.s.screen.try_set(None);
        self.set_self_media(|m| m.sharing = false);
    }
}

/// The key of `kind` (a track's `kind`) in `State::sent`.
pub(super) fn kind_key(kind: &str) -> &'static str {
    if kind == "audio" {
        TrackKind::Audio.as_str()
    } else {
        TrackKind::Video.as_str()
    }
}
