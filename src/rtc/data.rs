//! [`DataChannel`]: the owner of one `RTCDataChannel` and of its event handlers.
//!
//! Events arrive on an unbounded stream; dropping the `DataChannel` removes the handlers and closes the
//! channel, which ends the stream. Text only for now: the chat issue adds binary chunks for files.

use futures::channel::mpsc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, MessageEvent, RtcDataChannel};

use super::js;
use crate::error::{describe_js, RtcError};

/// What happened on a data channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DataEvent {
    Open,
    Message(String),
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
                if let Some(text) = event.data().as_string() {
                    emit(&tx, DataEvent::Message(text));
                }
            })
        };
        let on_close = {
            let tx = tx.clone();
            Closure::<dyn FnMut(Event)>::new(move |_: Event| emit(&tx, DataEvent::Closed))
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
        let wrapped = DataChannel {
            channel,
            _on_open: on_open,
            _on_message: on_message,
            _on_close: on_close,
            _on_error: on_error,
        };
        (wrapped, rx)
    }

    /// The label both sides see.
    pub fn label(&self) -> String {
        self.channel.label()
    }

    /// `connecting`, `open`, `closing` or `closed`.
    pub fn ready_state(&self) -> String {
        js::string(&self.channel, "readyState").unwrap_or_default()
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
        self.channel.close();
    }
}
