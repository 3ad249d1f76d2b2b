//! The browser half of signaling: one `WebSocket` to the relay, driven by a [`Session`].
//!
//! [`SignalingClient`] owns the socket, every event-handler closure and the keep-alive timer; dropping it
//! removes the handlers, stops the timer and closes the socket, so nothing outlives the page that asked for
//! it. It deliberately does not reconnect: a later issue can build that on top by creating a new client
//! from [`SignalingClient::request`] when it sees [`SignalingEvent::Closed`].

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use futures::channel::mpsc;
use gloo_timers::callback::Interval;
use peerlab_protocol::{encode_client, ClientMessage, Payload, PeerId};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

use super::session::{Action, JoinRequest, Session, SignalingEvent};
use crate::error::AppError;

/// The close code sent when the app drops a client on purpose (RFC 6455 "normal closure").
const NORMAL_CLOSURE: u16 = 1000;

/// The events of one client, in order. The stream ends when the client is dropped.
pub type SignalingEvents = mpsc::UnboundedReceiver<SignalingEvent>;

/// What the socket handlers and the keep-alive timer share.
struct Shared {
    /// Decides what every socket happening means.
    session: Session,
    /// Where events go; unbounded because the relay's rate is bounded by its own limits and the app drains
    /// the stream on every turn of the event loop.
    events: mpsc::UnboundedSender<SignalingEvent>,
    /// The running keep-alive timer; dropping it clears the browser interval.
    keepalive: Option<Interval>,
}

/// One connection to the relay, joined to one room.
pub struct SignalingClient {
    /// The socket; handlers are removed and it is closed on drop.
    socket: WebSocket,
    /// The session and channel the handlers share.
    shared: Rc<RefCell<Shared>>,
    /// Never called from Rust: held so the handler lives exactly as long as the socket may call it.
    _on_open: Closure<dyn FnMut(Event)>,
    /// See `on_open`.
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    /// See `on_open`.
    _on_error: Closure<dyn FnMut(Event)>,
    /// See `on_open`.
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl SignalingClient {
    /// Opens a socket to `url` that joins `request.room` as soon as it opens.
    ///
    /// Failing to reach the relay is not an error here: it arrives as [`SignalingEvent::Closed`]. This only
    /// fails when the browser refuses the URL outright.
    pub fn connect(
        url: &str,
        request: JoinRequest,
    ) -> Result<(SignalingClient, SignalingEvents), AppError> {
        let socket = WebSocket::new(url).map_err(|err| AppError::connect(url, &err))?;
        Ok(Self::connect_on(socket, request))
    }

    /// Like [`SignalingClient::connect`], on a socket opened earlier ([`WarmSocket`]): if it is open
    /// already, the join is sent now.
    pub fn connect_on(
        socket: WebSocket,
        request: JoinRequest,
    ) -> (SignalingClient, SignalingEvents) {
        let (events, receiver) = mpsc::unbounded();
        let shared = Rc::new(RefCell::new(Shared {
            session: Session::new(request),
            events,
            keepalive: None,
        }));

        let on_open = {
            let (shared, socket) = (Rc::clone(&shared), socket.clone());
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                let actions = shared.borrow_mut().session.on_open();
                perform(&shared, &socket, actions);
            })
        };
        let on_message = {
            let (shared, socket) = (Rc::clone(&shared), socket.clone());
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let actions = match event.data().as_string() {
                    Some(text) => shared.borrow_mut().session.on_text(&text),
                    None => shared.borrow_mut().session.on_binary(),
                };
                perform(&shared, &socket, actions);
            })
        };
        let on_error = {
            let (shared, socket) = (Rc::clone(&shared), socket.clone());
            Closure::<dyn FnMut(Event)>::new(move |_: Event| {
                let actions = shared.borrow_mut().session.on_socket_error();
                perform(&shared, &socket, actions);
            })
        };
        let on_close = {
            let (shared, socket) = (Rc::clone(&shared), socket.clone());
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                let actions = shared.borrow_mut().session.on_close(
                    event.code(),
                    &event.reason(),
                    event.was_clean(),
                );
                perform(&shared, &socket, actions);
            })
        };
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        if socket.ready_state() == WebSocket::OPEN {
            // Its `open` event has been and gone.
            let actions = shared.borrow_mut().session.on_open();
            perform(&shared, &socket, actions);
        }

        let client = SignalingClient {
            socket,
            shared,
            _on_open: on_open,
            _on_message: on_message,
            _on_error: on_error,
            _on_close: on_close,
        };
        (client, receiver)
    }

    /// What this client joined with; a reconnect would join with the same (including renames).
    pub fn request(&self) -> JoinRequest {
        self.shared.borrow().session.request().clone()
    }

    /// Sends `payload` to the member `to`; the relay stamps this client's id as `from`.
    pub fn send_signal(&self, to: PeerId, payload: Payload) -> Result<(), AppError> {
        let message = self.shared.borrow().session.signal(to, payload)?;
        self.send(&message)
    }

    /// Changes this client's display name; everyone, this client included, gets `member_renamed`.
    pub fn rename(&self, name: String) -> Result<(), AppError> {
        let message = self.shared.borrow_mut().session.rename(name)?;
        self.send(&message)
    }

    /// Leaves the room but keeps the socket; [`SignalingEvent::Left`] confirms it.
    pub fn leave(&self) -> Result<(), AppError> {
        let message = self.shared.borrow().session.leave()?;
        self.send(&message)
    }

    fn send(&self, message: &ClientMessage) -> Result<(), AppError> {
        self.socket
            .send_with_str(&encode_client(message))
            .map_err(|err| AppError::send(&err))
    }
}

impl Drop for SignalingClient {
    fn drop(&mut self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onerror(None);
        self.socket.set_onclose(None);
        if let Ok(mut shared) = self.shared.try_borrow_mut() {
            shared.keepalive = None;
        }
        // Closing only fails for an invalid code or an over-long reason, and both are constants here; a
        // socket that is already closed accepts `close` silently.
        let _ = self
            .socket
            .close_with_code_and_reason(NORMAL_CLOSURE, "client left");
        // The closures are freed when the fields drop, right after this, once the socket no longer refers
        // to them.
    }
}

/// A socket to the relay opened before the person joins (while they choose devices and a name), so that
/// joining costs one message instead of a connection. It carries nothing until a [`SignalingClient`] takes
/// it; dropped unused, it closes. The relay closes a socket that does not join within its join timeout
/// (30 s by default); a join after that opens a new one.
pub struct WarmSocket {
    socket: Option<WebSocket>,
    url: String,
}

impl WarmSocket {
    /// Starts connecting to `url`; fails only when the browser refuses the URL outright.
    pub fn open(url: &str) -> Result<WarmSocket, AppError> {
        let socket = WebSocket::new(url).map_err(|err| AppError::connect(url, &err))?;
        Ok(WarmSocket {
            socket: Some(socket),
            url: url.to_owned(),
        })
    }

    /// Where the socket leads.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket's `readyState` (`WebSocket::CONNECTING`, `OPEN`, `CLOSING`, `CLOSED`).
    pub fn ready_state(&self) -> u16 {
        self.socket
            .as_ref()
            .map_or(WebSocket::CLOSED, WebSocket::ready_state)
    }

    /// The socket, if it leads to `url` and is open or opening.
    pub fn take_for(mut self, url: &str) -> Option<WebSocket> {
        let usable = self.url == url
            && self.socket.as_ref().is_some_and(|s| {
                matches!(s.ready_state(), WebSocket::CONNECTING | WebSocket::OPEN)
            });
        if usable {
            self.socket.take()
        } else {
            None
        }
    }
}

impl Drop for WarmSocket {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            let _ = socket.close_with_code_and_reason(NORMAL_CLOSURE, "not used");
        }
    }
}

/// Carries out what the session decided.
fn perform(shared_rc: &Rc<RefCell<Shared>>, socket: &WebSocket, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Send(message) => {
                if let Err(err) = socket.send_with_str(&encode_client(&message)) {
                    emit(shared_rc, SignalingEvent::Failure(AppError::send(&err)));
                }
            }
            Action::Emit(event) => emit(shared_rc, event),
            Action::StartKeepalive { interval_ms } => {
                let timer = keepalive_timer(Rc::downgrade(shared_rc), socket.clone(), interval_ms);
                shared_rc.borrow_mut().keepalive = Some(timer);
            }
            Action::StopKeepalive => shared_rc.borrow_mut().keepalive = None,
        }
    }
}

fn emit(shared: &Rc<RefCell<Shared>>, event: SignalingEvent) {
    // A closed receiver means the app stopped listening; the event has nobody to go to.
    let _ = shared.borrow().events.unbounded_send(event);
}

/// The timer holds the shared state weakly: the state owns the timer, and a strong reference would make a
/// cycle that keeps both alive after the client is dropped.
fn keepalive_timer(shared: Weak<RefCell<Shared>>, socket: WebSocket, interval_ms: u32) -> Interval {
    Interval::new(interval_ms, move || {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let ping = shared.borrow_mut().session.on_keepalive_tick();
        if let Some(ping) = ping {
            perform(&shared, &socket, vec![Action::Send(ping)]);
        }
    })
}
