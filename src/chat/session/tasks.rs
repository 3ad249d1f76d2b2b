//! The task of one file transfer, which moves the bytes over the transfer's file channel and reports to
//! the runtime (held weakly).
//!
//! Sender side: the file channel (`file:<id>`, ordered, reliable) is opened once the receiver accepts;
//! the file is read in blocks of [`READ_BLOCK_BYTES`] (the next block's read starts while the current one
//! is sent), each chunk of [`CHUNK_BYTES`] is copied into wasm once to be hashed and sent as a view of the
//! block, and sending pauses while `bufferedAmount` is at [`HIGH_WATER_BYTES`] until `bufferedamountlow`
//! ([`LOW_WATER_BYTES`]). After the last chunk a `file_end` message with the size and SHA-256 follows on
//! the same channel. Receiver side: each chunk is hashed as it arrives and kept as its `ArrayBuffer`;
//! every [`FOLD_BYTES`] the pending chunks are folded into a growing `Blob`. Progress reaches the model at
//! most every 100 ms.
//!
//! [`READ_BLOCK_BYTES`]: crate::chat::transfer::READ_BLOCK_BYTES
//! [`HIGH_WATER_BYTES`]: crate::chat::transfer::HIGH_WATER_BYTES
//! [`FOLD_BYTES`]: crate::chat::transfer::FOLD_BYTES

use std::rc::Weak;

use futures::channel::oneshot;
use futures::future::{self, Either};
use futures::StreamExt;
use gloo_timers::future::TimeoutFuture;
use js_sys::{ArrayBuffer, Uint8Array};
use peerlab_protocol::PeerId;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, File};

use super::{now, Runtime};
use crate::chat::meter::Meter;
use crate::chat::transfer::{may_send, Reassembly, SendPlan, CHUNK_BYTES, LOW_WATER_BYTES};
use crate::chat::wire::{decode, encode, Wire};
use crate::error::{describe_js, RtcError};
use crate::rtc::data::{DataChannel, DataEvent, DataEvents};

/// How a transfer task's main part ended.
enum Ended {
    /// Every byte went through (and, for the receiver, the verdict was reported).
    Finished,
    /// The runtime stopped it; `cancel` when this side cancelled.
    Stopped { cancel: bool },
}

/// Why a transfer task failed.
enum Failure {
    /// The file channel closed under it.
    Closed,
    Other(String),
}

/// One step of a task: the channel's next event, or the stop handle.
enum Step {
    Event(DataEvent),
    Ended,
    Stop { cancel: bool },
}

async fn next(events: &mut DataEvents, stop: &mut oneshot::Receiver<()>) -> Step {
    match future::select(events.next(), stop).await {
        Either::Left((Some(event), _)) => Step::Event(event),
        Either::Left((None, _)) => Step::Ended,
        Either::Right((sent, _)) => Step::Stop {
            cancel: sent.is_ok(),
        },
    }
}

/// Starts reading `range` of the file; the read runs while the previous block is sent.
fn read_block(file: &File, range: std::ops::Range<u64>) -> Result<JsFuture, Failure> {
    let slice = file
        .slice_with_f64_and_f64(range.start as f64, range.end as f64)
        .map_err(|e| Failure::Other(RtcError::ReadFile(describe_js(&e)).to_string()))?;
    Ok(JsFuture::from(slice.array_buffer()))
}

/// The received chunks so far as one blob: the previous blob followed by the pending chunks.
fn fold(blob: Option<&Blob>, pending: &js_sys::Array, mime: &str) -> Result<Blob, RtcError> {
    let parts = js_sys::Array::new();
    if let Some(blob) = blob {
        parts.push(blob);
    }
    for part in pending.iter() {
        parts.push(&part);
    }
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    Blob::new_with_buffer_source_sequence_and_options(&parts, &options)
        .map_err(|e| RtcError::ReadFile(describe_js(&e)))
}

/// How a file task that did not finish normally ends, the same for both directions: a stop tells the
/// other side if it was a cancel; a lost channel is reported after a moment (a peer that left is usually
/// announced by then, which gives the better sentence); any other failure cancels on the wire and fails
/// the transfer with its reason.
async fn settle(
    rt: &Weak<Runtime>,
    peer: &PeerId,
    id: &str,
    channel: DataChannel,
    result: Result<Ended, Failure>,
) {
    let cancel_on_wire = |channel: &DataChannel| {
        let _ = channel.send_text(&encode(&Wire::FileCancel { id: id.to_owned() }));
    };
    match result {
        Ok(Ended::Finished) => {}
        Ok(Ended::Stopped { cancel }) => {
            if cancel {
                cancel_on_wire(&channel);
            }
        }
        Err(Failure::Closed) => {
            drop(channel);
            TimeoutFuture::new(1_000).await;
            if let Some(rt) = rt.upgrade() {
                rt.file_channel_lost(peer, id);
            }
        }
        Err(Failure::Other(reason)) => {
            cancel_on_wire(&channel);
            if let Some(rt) = rt.upgrade() {
                rt.fail_transfer(peer, id, reason);
            }
        }
    }
}

pub(super) struct SendTask {
    pub(super) rt: Weak<Runtime>,
    pub(super) peer: PeerId,
    pub(super) id: String,
}

impl SendTask {
    pub(super) async fn run(
        self,
        file: File,
        channel: DataChannel,
        mut events: DataEvents,
        mut stop: oneshot::Receiver<()>,
    ) {
        match self.send(&file, &channel, &mut events, &mut stop).await {
            Ok(Ended::Finished) => {
                // Keep the channel until the verdict arrives (the runtime then drops the stop handle)
                // or the receiver closes it.
                loop {
                    match next(&mut events, &mut stop).await {
                        Step::Event(DataEvent::Closed) | Step::Ended | Step::Stop { .. } => break,
                        Step::Event(_) => {}
                    }
                }
            }
            other => settle(&self.rt, &self.peer, &self.id, channel, other).await,
        }
    }

    async fn send(
        &self,
        file: &File,
        channel: &DataChannel,
        events: &mut DataEvents,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<Ended, Failure> {
        channel.set_buffered_amount_low_threshold(LOW_WATER_BYTES);
        while !channel.is_open() {
            match next(events, stop).await {
                Step::Event(DataEvent::Open) => break,
                Step::Event(DataEvent::Closed) | Step::Ended => return Err(Failure::Closed),
                Step::Event(_) => {}
                Step::Stop { cancel } => return Ok(Ended::Stopped { cancel }),
            }
        }
        let rt = self.rt.upgrade().ok_or(Failure::Closed)?;
        rt.started(&self.peer, &self.id);
        drop(rt);
        let mut plan = SendPlan::new(file.size().max(0.0) as u64);
        let mut meter = Meter::new();
        meter.start(now());
        let mut scratch = vec![0u8; CHUNK_BYTES as usize];
        let mut reading = plan.next_block().map(|r| read_block(file, r));
        while let Some(read) = reading.take() {
            let buffer = match future::select(read?, &mut *stop).await {
                Either::Left((Ok(buffer), _)) => buffer
                    .dyn_into::<ArrayBuffer>()
                    .map_err(|e| Failure::Other(describe_js(&e)))?,
                Either::Left((Err(err), _)) => {
                    return Err(Failure::Other(
                        RtcError::ReadFile(describe_js(&err)).to_string(),
                    ))
                }
                Either::Right((sent, _)) => {
                    return Ok(Ended::Stopped {
                        cancel: sent.is_ok(),
                    })
                }
            };
            reading = plan.next_block().map(|r| read_block(file, r));
            for chunk in SendPlan::chunks(u64::from(buffer.byte_length())) {
                while !may_send(channel.buffered_amount()) {
                    match next(events, stop).await {
                        Step::Event(DataEvent::Closed) | Step::Ended => {
                            return Err(Failure::Closed)
                        }
                        Step::Event(_) => {}
                        Step::Stop { cancel } => return Ok(Ended::Stopped { cancel }),
                    }
                }
                let len = (chunk.end - chunk.start) as usize;
                let view = Uint8Array::new_with_byte_offset_and_length(
                    &buffer,
                    chunk.start as u32,
                    len as u32,
                );
                view.copy_to(&mut scratch[..len]);
                plan.sent(&scratch[..len]);
                channel
                    .send_bytes(&view)
                    .map_err(|e| Failure::Other(e.to_string()))?;
                if meter.add(now(), len as u64) {
                    if let Some(rt) = self.rt.upgrade() {
                        rt.progress(&self.peer, &self.id, plan.bytes_sent(), meter.rate());
                    }
                }
            }
        }
        let digest = plan.digest();
        channel
            .send_text(&encode(&Wire::FileEnd {
                id: self.id.clone(),
                size: plan.bytes_sent(),
                sha256: digest.clone(),
            }))
            .map_err(|e| Failure::Other(e.to_string()))?;
        if let Some(rt) = self.rt.upgrade() {
            rt.sent_all(&self.peer, &self.id, digest, meter.rate());
        }
        Ok(Ended::Finished)
    }
}

pub(super) struct ReceiveTask {
    pub(super) rt: Weak<Runtime>,
    pub(super) peer: PeerId,
    pub(super) id: String,
}

impl ReceiveTask {
    pub(super) async fn run(
        self,
        size: u64,
        mime: String,
        channel: DataChannel,
        mut events: DataEvents,
        mut stop: oneshot::Receiver<()>,
    ) {
        match self.receive(size, &mime, &mut events, &mut stop).await {
            Ok(Ended::Finished) => {}
            other => settle(&self.rt, &self.peer, &self.id, channel, other).await,
        }
    }

    async fn receive(
        &self,
        size: u64,
        mime: &str,
        events: &mut DataEvents,
        stop: &mut oneshot::Receiver<()>,
    ) -> Result<Ended, Failure> {
        if let Some(rt) = self.rt.upgrade() {
            rt.started(&self.peer, &self.id);
        }
        let mut reassembly = Reassembly::new(size);
        let mut meter = Meter::new();
        meter.start(now());
        let mut scratch: Vec<u8> = Vec::new();
        let mut pending = js_sys::Array::new();
        let mut blob: Option<Blob> = None;
        loop {
            match next(events, stop).await {
                Step::Event(DataEvent::Binary(buffer)) => {
                    let len = buffer.byte_length() as usize;
                    if scratch.len() < len {
                        scratch.resize(len, 0);
                    }
                    Uint8Array::new(&buffer).copy_to(&mut scratch[..len]);
                    reassembly
                        .chunk(&scratch[..len])
                        .map_err(|e| Failure::Other(e.to_string()))?;
                    pending.push(&buffer);
                    if reassembly.should_fold() {
                        let folded = fold(blob.as_ref(), &pending, mime)
                            .map_err(|e| Failure::Other(e.to_string()))?;
                        blob = Some(folded);
                        pending = js_sys::Array::new();
                        reassembly.folded();
                    }
                    if meter.add(now(), len as u64) {
                        if let Some(rt) = self.rt.upgrade() {
                            rt.progress(
                                &self.peer,
                                &self.id,
                                reassembly.bytes_received(),
                                meter.rate(),
                            );
                        }
                    }
                }
                Step::Event(DataEvent::Message(text)) => match decode(&text) {
                    Ok(Wire::FileEnd {
                        size: sent, sha256, ..
                    }) => {
                        let whole = fold(blob.as_ref(), &pending, mime);
                        let (digest, result) = reassembly.finish(sent, &sha256);
                        if let Some(rt) = self.rt.upgrade() {
                            rt.received_all(
                                &self.peer,
                                &self.id,
                                digest,
                                result,
                                whole,
                                meter.rate(),
                            );
                        }
                        return Ok(Ended::Finished);
                    }
                    Ok(Wire::FileCancel { .. }) => {
                        if let Some(rt) = self.rt.upgrade() {
                            rt.remote_cancelled(&self.peer, &self.id);
                        }
                        return Ok(Ended::Finished);
                    }
                    _ => {}
                },
                Step::Event(DataEvent::Closed) | Step::Ended => return Err(Failure::Closed),
                Step::Event(_) => {}
                Step::Stop { cancel } => return Ok(Ended::Stopped { cancel }),
            }
        }
    }
}
