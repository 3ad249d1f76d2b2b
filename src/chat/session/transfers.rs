//! The chat runtime's side of each file transfer: the job that holds its file and its task's stop
//! handle, its entry in the conversation, the file channel opened once the receiver accepts (sender) or
//! accepted when it arrives (receiver), progress and results from the task, and the stall check.

use std::rc::Rc;

use futures::channel::oneshot;
use leptos::prelude::*;
use peerlab_protocol::PeerId;
use wasm_bindgen_futures::spawn_local;
use web_sys::Blob;

use super::tasks::{ReceiveTask, SendTask};
use super::{now, Job, ObjectUrl, Runtime};
use crate::chat::conversation::Item;
use crate::chat::transfer::{Direction, ReceiveError, Transfer, TransferState, STALL_TIMEOUT_MS};
use crate::chat::wire::{file_channel_label, transfer_id_of_label, Wire};
use crate::error::{describe_js, RtcError};
use crate::rtc::data::{DataChannel, DataEvents};
use crate::rtc::states::{connection_words, PeerConnectionState};

impl Runtime {
    pub(super) fn transfer_update(&self, peer: &PeerId, id: &str, f: impl FnOnce(&mut Transfer)) {
        self.update(|c| {
            if let Some(t) = c.get_mut(peer).and_then(|conv| conv.transfer_mut(id)) {
                f(t);
            }
        });
    }

    pub(super) fn transfer_state(&self, peer: &PeerId, id: &str) -> Option<TransferState> {
        self.model
            .try_with_untracked(|c| c.get(peer)?.transfer(id).map(|t| t.state.clone()))
            .flatten()
    }

    /// Ends the task of transfer `id`; `cancel` makes it tell the other side on the file channel.
    pub(super) fn stop_job(&self, id: &str, cancel: bool) {
        let job = self.state.borrow_mut().jobs.remove(id);
        if let Some(Job {
            stop: Some(stop), ..
        }) = job
        {
            if cancel {
                let _ = stop.send(());
            }
        }
    }

    pub(super) fn stop_jobs_of(&self, peer: &PeerId) {
        let ids: Vec<String> = self
            .state
            .borrow()
            .jobs
            .iter()
            .filter(|(_, j)| &j.peer == peer)
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.stop_job(&id, false);
        }
    }

    /// Fails every transfer with `peer` that is still going, and ends their tasks.
    pub(super) fn fail_transfers_of(&self, peer: &PeerId, reason: &str) {
        self.stop_jobs_of(peer);
        self.update(|c| {
            if let Some(conv) = c.get_mut(peer) {
                for item in &mut conv.items {
                    if let Item::Transfer(t) = item {
                        t.fail(reason);
                    }
                }
            }
        });
    }

    pub(super) fn fail_transfer(&self, peer: &PeerId, id: &str, reason: String) {
        self.stop_job(id, false);
        self.transfer_update(peer, id, |t| {
            t.fail(reason);
        });
    }

    /// The receiver accepted: open the file's channel and start the sending task.
    pub(super) fn start_sending(self: &Rc<Self>, peer: &PeerId, id: &str) {
        let file = self
            .state
            .borrow_mut()
            .jobs
            .get_mut(id)
            .filter(|j| &j.peer == peer)
            .and_then(|j| j.file.take());
        let Some(file) = file else { return };
        let opened = self
            .mesh
            .with_peer(peer, |p| p.open_data_channel(&file_channel_label(id), None));
        let (channel, events) = match opened {
            Some(Ok(pair)) => pair,
            Some(Err(err)) => return self.fail_transfer(peer, id, err.to_string()),
            None => {
                let name = self.name_of(peer);
                return self.fail_transfer(peer, id, format!("the connection to {name} is gone"));
            }
        };
        let (stop, stopped) = oneshot::channel();
        if let Some(job) = self.state.borrow_mut().jobs.get_mut(id) {
            job.stop = Some(stop);
            job.last_progress = now();
        }
        let task = SendTask {
            rt: Rc::downgrade(self),
            peer: peer.clone(),
            id: id.to_owned(),
        };
        spawn_local(task.run(file, channel, events, stopped));
    }

    /// A channel the other side opened: a file channel of an accepted transfer gets a receiving task;
    /// anything else is closed.
    pub(super) fn accept_channel(
        self: &Rc<Self>,
        peer: &PeerId,
        channel: DataChannel,
        events: DataEvents,
    ) {
        let label = channel.label();
        let Some(id) = transfer_id_of_label(&label).map(str::to_owned) else {
            return;
        };
        let waiting = self
            .state
            .borrow()
            .jobs
            .get(&id)
            .is_some_and(|j| &j.peer == peer && j.stop.is_none() && j.file.is_none());
        let transfer = self
            .model
            .try_with_untracked(|c| c.get(peer)?.transfer(&id).cloned())
            .flatten();
        let Some(transfer) = transfer.filter(|t| {
            waiting && t.direction == Direction::In && t.state == TransferState::Accepted
        }) else {
            return;
        };
        let (stop, stopped) = oneshot::channel();
        if let Some(job) = self.state.borrow_mut().jobs.get_mut(&id) {
            job.stop = Some(stop);
            job.last_progress = now();
        }
        let task = ReceiveTask {
            rt: Rc::downgrade(self),
            peer: peer.clone(),
            id,
        };
        spawn_local(task.run(transfer.size, transfer.mime, channel, events, stopped));
    }

    pub(super) fn started(&self, peer: &PeerId, id: &str) {
        self.touch(id);
        self.transfer_update(peer, id, |t| {
            t.start();
        });
    }

    pub(super) fn touch(&self, id: &str) {
        if let Some(job) = self.state.borrow_mut().jobs.get_mut(id) {
            job.last_progress = now();
        }
    }

    pub(super) fn progress(&self, peer: &PeerId, id: &str, bytes: u64, rate: Option<f64>) {
        self.touch(id);
        self.transfer_update(peer, id, |t| {
            t.bytes = bytes;
            t.rate = rate;
        });
    }

    /// Every byte is on the channel: wait for the receiver's verdict.
    pub(super) fn sent_all(&self, peer: &PeerId, id: &str, digest: String, rate: Option<f64>) {
        self.touch(id);
        self.transfer_update(peer, id, |t| {
            t.bytes = t.size;
            t.rate = rate.or(t.rate);
            t.sha256 = Some(digest);
            t.verifying();
        });
    }

    /// The end message arrived and the digests were compared.
    pub(super) fn received_all(
        &self,
        peer: &PeerId,
        id: &str,
        digest: String,
        result: Result<(), ReceiveError>,
        blob: Result<Blob, RtcError>,
        rate: Option<f64>,
    ) {
        self.stop_job(id, false);
        let url = blob.and_then(|b| {
            web_sys::Url::create_object_url_with_blob(&b)
                .map_err(|e| RtcError::ReadFile(describe_js(&e)))
        });
        let ok = result.is_ok() && url.is_ok();
        let url = match url {
            Ok(url) => {
                self.state
                    .borrow_mut()
                    .urls
                    .insert(id.to_owned(), ObjectUrl(url.clone()));
                Some(url)
            }
            Err(err) => {
                self.notice(peer, err.to_string());
                None
            }
        };
        self.transfer_update(peer, id, |t| {
            t.bytes = t.size;
            t.rate = rate.or(t.rate);
            t.sha256 = Some(digest);
            if t.verifying() {
                match result {
                    Ok(()) if ok => {
                        t.url = url;
                        t.done();
                    }
                    Ok(()) => {
                        t.fail("the received file could not be stored");
                    }
                    Err(err) => {
                        t.fail(err.to_string());
                    }
                }
            }
        });
        self.send_one(
            peer,
            Wire::FileResult {
                id: id.to_owned(),
                ok,
            },
        );
    }

    /// The other side cancelled on the file channel (the chat channel may carry the same news).
    pub(super) fn remote_cancelled(&self, peer: &PeerId, id: &str) {
        let name = self.name_of(peer);
        self.stop_job(id, false);
        self.transfer_update(peer, id, |t| {
            t.cancel(&name);
        });
    }

    /// The file channel closed before the end, a moment ago: unless a cancel or the member's departure
    /// explained it meanwhile, say so.
    pub(super) fn file_channel_lost(&self, peer: &PeerId, id: &str) {
        let Some(state) = self.transfer_state(peer, id) else {
            return;
        };
        if state.is_final() {
            return;
        }
        let name = self.name_of(peer);
        let linked = self.state.borrow().links.contains_key(peer);
        let reason = if !linked || !self.in_room(peer) {
            format!("{name} left")
        } else {
            format!("the file channel to {name} closed before the end")
        };
        self.fail_transfer(peer, id, reason);
    }

    /// Fails transfers that made no progress for [`STALL_TIMEOUT_MS`] while their connection is not
    /// connected.
    pub(super) fn tick(&self) {
        let now = now();
        let stalled: Vec<(String, PeerId)> = self
            .state
            .borrow()
            .jobs
            .iter()
            .filter(|(_, j)| now - j.last_progress > STALL_TIMEOUT_MS)
            .map(|(id, j)| (id.clone(), j.peer.clone()))
            .collect();
        for (id, peer) in stalled {
            let moving = matches!(
                self.transfer_state(&peer, &id),
                Some(TransferState::Accepted | TransferState::Sending | TransferState::Receiving)
            );
            let connection = self
                .model
                .try_with_untracked(|c| c.get(&peer).and_then(|c| c.connection))
                .flatten();
            if moving && connection != Some(PeerConnectionState::Connected) {
                let name = self.name_of(&peer);
                self.fail_transfer(
                    &peer,
                    &id,
                    format!(
                        "no progress for {} s while the connection to {name} is {}",
                        STALL_TIMEOUT_MS / 1000.0,
                        connection_words(connection),
                    ),
                );
            }
        }
    }
}
