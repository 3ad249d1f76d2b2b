//! [`DataChannel`]: the owner of one `RTCDataChannel` and of its event handlers.
//!
//! Events arrive on an unbounded stream; dropping the `DataChannel` removes the handlers and closes the
//! channel, which ends the stream. Messages are text or binary: every channel is switched to
//! `binaryType = "arraybuffer"`, so a binary message arrives as one `ArrayBuffer` (files are sent in chunks
//! of these). For flow control the owner reads [`DataChannel::buffered_amount`], sets a low threshold and
//! waits for [`DataEvent::BufferedAmountLow`].

use futures::channel::mpsc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, MessageEvent, RtcDataChannel, RtcDataChannelType};

use super::js;
use super::states::DataChannelState;
use crate::error::{describe_js, RtcError};

/// What happened on a data channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataEvent {
    Open,
    Message(String),
    /// A binary message, whole.
    Binary(js_sys::ArrayBuffer),
    /// `bufferedAmount` fell to the low threshold (`bufferedamountlow`): the sender may send more.
    BufferedAmountLow,
    Closed,
    Error(String),
}

/// The events of one channel, in order.
pub type DataEvents = mpsc::UnboundedReceiver<DataEvent>;

/// One data channel; closed and detached when dropped.
pub struct DataChannel {
    channel: RtcDataChannel,
    /// Held so the handlers live exactly as long as the channel may call them.
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(Event)>,
    _on_error: Closure<dyn FnMut(Event)>,
    _on_buffered_amount_low: Closure<dyn FnMut(Event)>,
}

impl DataChannel {
    /// Takes ownership of `channel`, attaching its handlers now (before any event can be missed).
    pub fn wrap(channel: RtcDataChannel) -> (DataChannel, DataEvents) {
        let (tx, rx) = mpsc::unbounded();
        let emit = move |tx: &mpsc::UnboundedSender<DataEvent>, event| {
            // A closed receiver means nobody listens any more; the event has nowhere to go.
            let _ = tx.unbounded_send(event);
        };
        let on_open = {
            let tx = tx.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| emit(&tx, DataEvent::Open))
        };
        let on_message = {
            let tx = tx.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let data = event.data();
                if let Some(text) = data.as_string() {
                    emit(&tx, DataEvent::Message(text));
                } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
                    emit(&tx, DataEvent::Binary(buffer));
                }
            })
        };
        let on_close = {
            let tx = tx.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| emit(&tx, DataEvent::Closed))
        };
        let on_buffered_amount_low = {
            let tx = tx.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                emit(&tx, DataEvent::BufferedAmountLow)
            })
        };
        let on_error = Closure::<dyn FnMut(Event)>::new(move |event: Event| {
            let detail = js::string(&event, "error")
                .or_else(|| {
                    js_sys::Reflect::get(&event, &"error".into())
                        .ok()
                        .map(|e| describe_js(&e))
                })
                .unwrap_or_else(|| "data channel error".into());
            emit(&tx, DataEvent::Error(detail));
        });
        channel.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        channel.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        channel.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        channel.set_onbufferedamountlow(Some(on_buffered_amount_low.as_ref().unchecked_ref()));
        channel.set_binary_type(RtcDataChannelType::Arraybuffer);
        let wrapped = DataChannel {
            channel,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
            _on_buffered_amount_low: on_buffered_amount_low,
        };
        (wrapped, rx)
    }

    /// The label both sides see.
    pub fn label(&self) -> String {
        self.channel.label()
    }

    /// `readyState`; `None` for a word this app does not know.
    pub fn ready_state(&self) -> Option<DataChannelState> {
        js::string(&self.channel, "readyState")
            .as_deref()
            .and_then(DataChannelState::parse)
    }

    /// Whether `send` would put a message on the wire now.
    pub fn is_open(&self) -> bool {
        self.ready_state() == Some(DataChannelState::Open)
    }

    /// The channel's SCTP stream id, once known.
    pub fn id(&self) -> Option<u16> {
        self.channel.id()
    }

    /// Bytes queued by `send` and not yet handed to the network.
    pub fn buffered_amount(&self) -> u32 {
        self.channel.buffered_amount()
    }

    /// The level at which [`DataEvent::BufferedAmountLow`] fires as the queue drains.
    pub fn set_buffered_amount_low_threshold(&self, bytes: u32) {
        self.channel.set_buffered_amount_low_threshold(bytes);
    }

    /// Sends one binary message: the bytes `view` covers (a `Uint8Array` over part of a larger buffer is
    /// sent without copying it into wasm).
    pub fn send_bytes(&self, view: &js_sys::Uint8Array) -> Result<(), RtcError> {
        self.channel
            .send_with_array_buffer_view(view)
            .map_err(|err| RtcError::Send(describe_js(&err)))
    }

    /// Sends one text message.
    pub fn send_text(&self, text: &str) -> Result<(), RtcError> {
        self.channel
            .send_with_str(text)
            .map_err(|err| RtcError::Send(describe_js(&err)))
    }
}

impl Drop for DataChannel {
    fn drop(&mut self) {
        self.channel.set_onopen(None);
        self.channel.set_onmessage(None);
        self.channel.set_onclose(None);
        self.channel.set_onerror(None);
        self.channel.set_onbufferedamountlow(None);
        self.channel.close();
    }
}
