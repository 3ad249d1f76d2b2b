//! The browser half of signaling: one WebSocket to the relay (gloo-net's), driven by a [`Session`].
//!
//! [`SignalingClient`] owns the socket, the task that reads it and the keep-alive timer; dropping it stops
//! the task and the timer and closes the socket with 1000 "client left", so nothing outlives the page that
//! asked for it. It deliberately does not reconnect: `hook` builds a new client from
//! [`SignalingClient::request`] when it sees [`SignalingEvent::Closed`].
//!
//! gloo-net's socket is a `Stream` of frames that ends with the close event's code, reason and
//! `wasClean` (the app's resume and 4004 "replaced" depend on them), and a `Sink` that is ready once the
//! socket has left `CONNECTING`; that readiness, with the socket's state, is the `open` event here.

use std::cell::RefCell;
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::task::Poll;

use futures::channel::mpsc;
use futures::future::{AbortHandle, Abortable};
use futures::{FutureExt, SinkExt, StreamExt};
use gloo_net::websocket::futures::WebSocket;
use gloo_net::websocket::{Message, State, WebSocketError};
use gloo_timers::callback::Interval;
use peerlab_protocol::{encode_client, ClientMessage, Payload, PeerId};

use super::session::{Action, JoinRequest, Session, SignalingEvent};
use crate::error::AppError;

/// The close code sent when the app drops a client on purpose (RFC 6455 "normal closure").
const NORMAL_CLOSURE: u16 = 1000;

/// The events of one client, in order. The stream ends when the client is dropped.
pub type SignalingEvents = mpsc::UnboundedReceiver<SignalingEvent>;

/// What the reading task, the keep-alive timer and the client's methods share.
struct Shared {
    /// Decides what every socket happening means.
    session: Session,
    /// Where events go; unbounded because the relay's rate is bounded by its own limits and the app drains
    /// the stream on every turn of the event loop.
    events: mpsc::UnboundedSender<SignalingEvent>,
    /// The running keep-alive timer; dropping it clears the browser interval.
    keepalive: Option<Interval>,
    /// The socket; taken and closed when the client is dropped, which also ends the reading task.
    socket: Option<WebSocket>,
}

/// One connection to the relay, joined to one room.
pub struct SignalingClient {
    /// The session, the socket and the channel, shared with the reading task and the timer.
    shared: Rc<RefCell<Shared>>,
    /// Stops the reading task on drop, which lets go of its share of `shared`.
    reader: AbortHandle,
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
        let socket = WebSocket::open(url).map_err(|err| AppError::connect(url, &err.message))?;
        Ok(Self::connect_on(socket, request))
    }

    /// Like [`SignalingClient::connect`], on a socket opened earlier ([`WarmSocket`]): if it is open
    /// already, the join is sent now, before this returns.
    pub fn connect_on(
        socket: WebSocket,
        request: JoinRequest,
    ) -> (SignalingClient, SignalingEvents) {
        let (events, receiver) = mpsc::unbounded();
        let already_open = matches!(socket.state(), State::Open);
        let shared = Rc::new(RefCell::new(Shared {
            session: Session::new(request),
            events,
            keepalive: None,
            socket: Some(socket),
        }));
        if already_open {
            // Its `open` has been and gone; the join leaves in this turn, not after the page's next render.
            let actions = shared.borrow_mut().session.on_open();
            perform(&shared, actions);
        }
        let (reader, registration) = AbortHandle::new_pair();
        wasm_bindgen_futures::spawn_local(
            Abortable::new(read(Rc::clone(&shared)), registration).map(|_| ()),
        );
        (SignalingClient { shared, reader }, receiver)
    }

    /// What this client joined with; a reconnect would join with the same (including renames).
    pub fn request(&self) -> JoinRequest {
        self.shared.borrow().session.request().clone()
    }

    /// Sends `payload` to the member `to`; the relay stamps this client's id as `from`.
    pub fn send_signal(&self, to: PeerId, payload: Payload) -> Result<(), AppError> {
        let message = self.shared.borrow().session.signal(to, payload)?;
        send(&self.shared, &message)
    }

    /// Changes this client's display name; everyone, this client included, gets `member_renamed`.
    pub fn rename(&self, name: String) -> Result<(), AppError> {
        let message = self.shared.borrow_mut().session.rename(name)?;
        send(&self.shared, &message)
    }

    /// Leaves the room but keeps the socket; [`SignalingEvent::Left`] confirms it.
    pub fn leave(&self) -> Result<(), AppError> {
        let message = self.shared.borrow().session.leave()?;
        send(&self.shared, &message)
    }
}

impl Drop for SignalingClient {
    fn drop(&mut self) {
        self.reader.abort();
        let socket = self.shared.try_borrow_mut().ok().and_then(|mut shared| {
            shared.keepalive = None;
            shared.socket.take()
        });
        // Closing only fails for an invalid code or an over-long reason, and both are constants here; a
        // socket that is already closed accepts `close` silently.
        if let Some(socket) = socket {
            let _ = socket.close(Some(NORMAL_CLOSURE), Some("client left"));
        }
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
        let socket = WebSocket::open(url).map_err(|err| AppError::connect(url, &err.message))?;
        Ok(WarmSocket {
            socket: Some(socket),
            url: url.to_owned(),
        })
    }

    /// Where the socket leads.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The socket's state (connecting, open, closing, closed).
    pub fn state(&self) -> State {
        self.socket.as_ref().map_or(State::Closed, WebSocket::state)
    }

    /// The socket, if it leads to `url` and is open or opening.
    pub fn take_for(mut self, url: &str) -> Option<WebSocket> {
        let usable = self.url == url && matches!(self.state(), State::Connecting | State::Open);
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
            let _ = socket.close(Some(NORMAL_CLOSURE), Some("not used"));
        }
    }
}

/// The reading task: waits for the socket to open, then hands every frame, error and the close to the
/// session, until the stream ends or the client is dropped.
async fn read(shared: Rc<RefCell<Shared>>) {
    // The sink is ready once the socket has left CONNECTING, opened or failed; only an open one joins.
    let opened = poll_fn(|cx| match shared.borrow_mut().socket.as_mut() {
        Some(socket) => socket
            .poll_ready_unpin(cx)
            .map(|_| matches!(socket.state(), State::Open)),
        None => Poll::Ready(false),
    })
    .await;
    if opened {
        let actions = shared.borrow_mut().session.on_open();
        perform(&shared, actions);
    }
    loop {
        let next = poll_fn(|cx| match shared.borrow_mut().socket.as_mut() {
            Some(socket) => socket.poll_next_unpin(cx),
            None => Poll::Ready(None),
        })
        .await;
        let actions = {
            let session = &mut shared.borrow_mut().session;
            match next {
                None => return,
                Some(Ok(Message::Text(text))) => session.on_text(&text),
                Some(Ok(Message::Bytes(_))) => session.on_binary(),
                Some(Err(WebSocketError::ConnectionClose(close))) => {
                    session.on_close(close.code, &close.reason, close.was_clean)
                }
                // The `error` event; a failed send is reported where it is made, never on the stream.
                Some(Err(_)) => session.on_socket_error(),
            }
        };
        perform(&shared, actions);
    }
}

/// Sends one message as a text frame. gloo-net's sink is ready at once on a socket that has left
/// `CONNECTING` and sends synchronously (the browser queues the frame, or drops it once the socket is
/// closing), so one poll completes the send. A connecting socket is not polled: that would replace the
/// reading task's wake-up for the `open` event.
fn send(shared: &Rc<RefCell<Shared>>, message: &ClientMessage) -> Result<(), AppError> {
    let mut shared = shared.borrow_mut();
    let socket = shared
        .socket
        .as_mut()
        .filter(|socket| !matches!(socket.state(), State::Connecting))
        .ok_or(AppError::NotConnected)?;
    match socket
        .send(Message::Text(encode_client(message)))
        .now_or_never()
    {
        Some(Ok(())) => Ok(()),
        Some(Err(err)) => Err(AppError::send(&err)),
        None => Err(AppError::NotConnected),
    }
}

/// Carries out what the session decided.
fn perform(shared_rc: &Rc<RefCell<Shared>>, actions: Vec<Action>) {
    for action in actions {
        match action {
            Action::Send(message) => {
                if let Err(err) = send(shared_rc, &message) {
                    emit(shared_rc, SignalingEvent::Failure(err));
                }
            }
            Action::Emit(event) => emit(shared_rc, event),
            Action::StartKeepalive { interval_ms } => {
                let timer = keepalive_timer(Rc::downgrade(shared_rc), interval_ms);
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
fn keepalive_timer(shared: Weak<RefCell<Shared>>, interval_ms: u32) -> Interval {
    Interval::new(interval_ms, move || {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let ping = shared.borrow_mut().session.on_keepalive_tick();
        if let Some(ping) = ping {
            perform(&shared, vec![Action::Send(ping)]);
        }
    })
}
