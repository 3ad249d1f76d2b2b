//! The session's protocol cases as tables: a list of steps (clients connect, send frames, wait, get the
//! cluster's answer, end) and the transcript they must produce, one line per thing a client or the cluster
//! sees. `a <- ...` is a reply to client `a`, `b <= ...` a delivery into `b`'s queue, `a -> ...` something
//! `a`'s connection must do (forward, ask for an admission, ping), `a closes N` a close, `bus: ...` a word
//! to the other nodes. Peer ids are counted (`p1`, `p2`, ...), so transcripts are exact.

use std::cell::Cell;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerlab_protocol::{ErrorCode, Member, PeerId, PROTOCOL_VERSION};
use serde_json::json;

use super::*;
use crate::membership::fake::{show, Probe, Recorder};
use crate::membership::{Bus, Members};
use crate::rooms::Registry;
use crate::{Config, Counters};

thread_local! {
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
}

/// Peer ids in the order they are made, per test (each test runs on its own thread): 32 hex digits like
/// the relay's, written `p1`, `p2`, ... in steps and transcripts.
fn counted_id() -> PeerId {
    NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        PeerId(long(&format!("p{}", n.get())))
    })
}

/// The peer id that `p<n>` stands for; any other name as it is.
fn long(id: &str) -> String {
    match id.strip_prefix('p').and_then(|n| n.parse::<u32>().ok()) {
        Some(n) => format!("{n:032x}"),
        None => id.to_owned(),
    }
}

/// `line` with every counted peer id written `p<n>`.
fn short(line: &str) -> String {
    let mut line = line.to_owned();
    for n in 1..100 {
        line = line.replace(&long(&format!("p{n}")), &format!("p{n}"));
    }
    line
}

/// The real Unix time in milliseconds, for worlds whose tokens must be newer or older than their start.
fn real_unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// One relay's worth of state, with clients whose sessions the steps drive.
struct World {
    config: Config,
    rooms: Registry<Probe>,
    counters: Counters,
    resume: Resume,
    log: Arc<Mutex<Vec<String>>>,
    bus: Recorder,
    clustered: bool,
    shutting_down: bool,
    t0: Instant,
    elapsed: Duration,
    unix0: u64,
    clients: Vec<(&'static str, Session<Probe>, Probe)>,
    /// The joins waiting for the cluster's answer, by client.
    waiting: std::cell::RefCell<std::collections::HashMap<&'static str, Admit>>,
}

/// One step of a table.
enum Step {
    /// A new connection named `who`.
    Connect(&'static str),
    /// A text frame from `who`.
    Send(&'static str, String),
    /// A binary frame of this many bytes.
    Binary(&'static str, usize),
    /// A ping or pong of this many bytes.
    Control(&'static str, usize),
    /// The cluster's answer to `who`'s join.
    Answer(&'static str, Admission),
    /// Time passes; then every client's due timers fire.
    Wait(Duration),
    /// `who`'s connection ends.
    Gone(&'static str, End),
    /// The relay starts shutting down: every connection gets its close.
    Shutdown,
}

use Step::*;

fn join(who: &'static str, room: &str, name: &str) -> Step {
    Send(
        who,
        json!({"type": "join", "version": PROTOCOL_VERSION, "name": name, "room": room})
            .to_string(),
    )
}

fn join_with(who: &'static str, room: &str, name: &str, extra: serde_json::Value) -> Step {
    let mut join = json!({"type": "join", "version": PROTOCOL_VERSION, "name": name, "room": room});
    for (k, v) in extra.as_object().unwrap() {
        join[k] = v.clone();
    }
    Send(who, join.to_string())
}

fn signal(who: &'static str, to: &str, payload: serde_json::Value) -> Step {
    Send(
        who,
        json!({"type": "signal", "to": long(to), "payload": payload}).to_string(),
    )
}

fn text(who: &'static str, text: &str) -> Step {
    Send(who, text.to_owned())
}

fn secs(s: u64) -> Step {
    Wait(Duration::from_secs(s))
}

impl World {
    fn new(config: Config) -> World {
        NEXT_ID.with(|n| n.set(0));
        let log = Arc::new(Mutex::new(Vec::new()));
        let resume = Resume::new(&config);
        World {
            rooms: Registry::new(4),
            counters: Counters::default(),
            resume,
            bus: Recorder(log.clone()),
            log,
            clustered: false,
            shutting_down: false,
            t0: Instant::now(),
            elapsed: Duration::ZERO,
            // Tokens of this world are issued after its start.
            unix0: real_unix_ms() + 1_000,
            clients: Vec::new(),
            waiting: Default::default(),
            config,
        }
    }

    fn env(&self) -> Env<'_, Probe> {
        let bus = self.clustered.then_some(&self.bus as &dyn Bus);
        Env {
            config: &self.config,
            members: Members::new(
                &self.rooms,
                &self.counters,
                self.config.queue_capacity as usize,
                bus,
            ),
            resume: &self.resume,
            clustered: self.clustered,
            shutting_down: self.shutting_down,
            now: self.t0 + self.elapsed,
            unix_ms: self.unix0 + self.elapsed.as_millis() as u64,
            fresh_id: counted_id,
        }
    }

    fn say(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    fn said(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
            .iter()
            .map(|line| short(line))
            .collect()
    }

    fn client(&mut self, who: &str) -> usize {
        self.clients
            .iter()
            .position(|(w, _, _)| *w == who)
            .unwrap_or_else(|| panic!("no client {who}"))
    }

    /// Carries out `output` of client `i` as `crate::conn` does, writing what it sees to the log.
    fn carry_out(&self, i: usize, output: Output<'_, Probe>) {
        let (who, session, _) = &self.clients[i];
        match output {
            Output::None => {}
            Output::Reply(reply) => self.say(format!("{who} <- {}", show(&reply))),
            Output::Signal { to, payload } => {
                to.deliver_signal(session.peer_id().unwrap(), payload, &8);
            }
            Output::Forward { node, to, payload } => {
                self.say(format!("{who} -> forward to {to} on {node}: {payload}"))
            }
            Output::Admit(admit) => {
                self.say(format!(
                    "{who} -> admit {} as {} in {} (max {}{})",
                    admit.id,
                    admit.name,
                    admit.room,
                    admit.max_peers,
                    if admit.resumed { ", resumed" } else { "" }
                ));
                self.waiting.borrow_mut().insert(*who, admit);
            }
            Output::Close(close) => self.closed(who, close),
        }
    }

    fn closed(&self, who: &str, close: Close) {
        if let Some(notice) = &close.notice {
            self.say(format!("{who} <- {}", show(notice)));
        }
        self.say(format!("{who} closes {} ({:?})", close.code, close.end));
    }

    fn step(&mut self, step: Step) {
        match step {
            Connect(who) => {
                let probe = Probe::new(who, &self.log);
                let session = Session::new(probe.clone(), &self.config, self.t0 + self.elapsed);
                self.clients.push((who, session, probe));
            }
            Send(who, text) => self.frame(who, Frame::Text(&text)),
            Binary(who, n) => self.frame(who, Frame::Binary(n)),
            Control(who, n) => self.frame(who, Frame::Control(n)),
            Answer(who, admission) => {
                let i = self.client(who);
                let mut clients = std::mem::take(&mut self.clients);
                let admit = self
                    .waiting
                    .borrow_mut()
                    .remove(who)
                    .unwrap_or_else(|| panic!("{who} waits for no admission"));
                let output = clients[i].1.admitted(admit, admission, &self.env());
                self.clients = clients;
                self.carry_out(i, output);
            }
            Wait(d) => {
                self.elapsed += d;
                for i in 0..self.clients.len() {
                    let mut clients = std::mem::take(&mut self.clients);
                    let (who, session, _) = &mut clients[i];
                    let who = *who;
                    let due = (session.next_wake() <= self.t0 + self.elapsed)
                        .then(|| session.on_timer(&self.env()));
                    self.clients = clients;
                    match due {
                        None => {}
                        Some(Due::Close(close)) => self.closed(who, close),
                        Some(Due::Send { ice_servers, ping }) => {
                            if let Some(m) = ice_servers {
                                self.say(format!("{who} <- {}", show(&m)));
                            }
                            if ping {
                                self.say(format!("{who} -> ping"));
                            }
                        }
                    }
                }
            }
            Gone(who, end) => {
                let i = self.client(who);
                let mut clients = std::mem::take(&mut self.clients);
                let away = clients[i].1.finish(end, &self.env());
                self.clients = clients;
                if let Some(away) = away {
                    let left = away.until - (self.t0 + self.elapsed);
                    self.say(format!(
                        "{who} away for {}s ({:?})",
                        left.as_secs(),
                        away.reason
                    ));
                }
            }
            Shutdown => {
                self.shutting_down = true;
                for i in 0..self.clients.len() {
                    let close = self.clients[i].1.shutdown(&self.env());
                    let who = self.clients[i].0;
                    self.closed(who, close);
                }
            }
        }
    }

    fn frame(&mut self, who: &'static str, frame: Frame<'_>) {
        let i = self.client(who);
        let mut clients = std::mem::take(&mut self.clients);
        let output = clients[i].1.on_frame(frame, &self.env());
        self.clients = clients;
        self.carry_out(i, output);
    }

    fn run(&mut self, steps: Vec<Step>) -> Vec<String> {
        for step in steps {
            self.step(step);
        }
        self.said()
    }
}

/// Runs `steps` on a fresh relay with `config` and compares the transcript with `expected`.
fn check(config: Config, steps: Vec<Step>, expected: &[&str]) -> World {
    let mut world = World::new(config);
    let said = world.run(steps);
    assert_eq!(said, expected, "\ntranscript:\n{}", said.join("\n"));
    world
}

/// The settings of these tests: a fixed resume key, a grace, one STUN server.
fn config() -> Config {
    Config {
        resume_secret: Some("test-resume-secret".into()),
        resume_grace_ms: 20_000,
        ..Config::default()
    }
}

#[test]
fn joins_are_announced_both_ways_and_signals_reach_only_their_target() {
    check(
        config(),
        vec![
            Connect("a"),
            Connect("b"),
            Connect("c"),
            join("a", "r", "Ada"),
            join("b", "r", "Bob"),
            join("c", "other", "Cy"),
            signal("a", "p2", json!({"n": 1})),
            // A `from` in the frame is ignored: the relay stamps the sender.
            Send(
                "b",
                json!({"type": "signal", "to": long("p1"), "from": long("p3"), "payload": {"n": 2}})
                    .to_string(),
            ),
            // Rooms are apart: a member of another room is nobody here.
            signal("a", "p3", json!({})),
            signal("a", "nobody", json!({})),
            // A member may signal itself; the relay does not care.
            signal("a", "p1", json!("echo")),
            text("a", r#"{"type":"ping","nonce":7}"#),
        ],
        &[
            "a <- welcome p1:Ada in r []",
            "a <= joined p2:Bob",
            "b <- welcome p2:Bob in r [p1:Ada]",
            "c <- welcome p3:Cy in other []",
            r#"b <= signal from p1 {"n":1}"#,
            r#"a <= signal from p2 {"n":2}"#,
            "a <- error peer_not_found",
            "a <- error peer_not_found",
            r#"a <= signal from p1 "echo""#,
            "a <- pong 7",
        ],
    );
}

#[test]
fn every_bad_input_gets_its_typed_error_and_the_session_goes_on() {
    // (frame, error code): the same table as the relay test over a real socket.
    let too_large = format!(
        r#"{{"type":"signal","to":"x","payload":"{}"}}"#,
        "x".repeat(70_000)
    );
    let cases: Vec<(Step, ErrorCode)> = vec![
        (text("a", "{not json"), ErrorCode::MalformedJson),
        (text("a", "[1,2,3]"), ErrorCode::InvalidMessage),
        (
            text("a", r#"{"name":"no type"}"#),
            ErrorCode::InvalidMessage,
        ),
        (text("a", r#"{"type":"teleport"}"#), ErrorCode::UnknownType),
        (
            text("a", r#"{"type":"join","name":"A"}"#),
            ErrorCode::InvalidMessage,
        ),
        (signal("a", "x", json!({})), ErrorCode::NotJoined),
        (
            text("a", r#"{"type":"rename","name":"X"}"#),
            ErrorCode::NotJoined,
        ),
        (text("a", r#"{"type":"leave"}"#), ErrorCode::NotJoined),
        (
            text("a", r#"{"type":"join","version":99,"name":"A","room":"r"}"#),
            ErrorCode::UnsupportedVersion,
        ),
        (join("a", "r", "bad\u{7}bell"), ErrorCode::InvalidName),
        (join("a", "r", "   "), ErrorCode::InvalidName),
        (join("a", "../etc", "A"), ErrorCode::InvalidRoom),
        (Send("a", too_large), ErrorCode::MessageTooLarge),
        (Binary("a", 3), ErrorCode::BinaryNotSupported),
    ];
    for (i, (step, code)) in cases.into_iter().enumerate() {
        let mut world = World::new(config());
        world.run(vec![Connect("a")]);
        let said = world.run(vec![step]);
        assert_eq!(said, vec![format!("a <- error {code}")], "case {i}");
        assert_eq!(world.counters.errors_with(code), 1, "case {i}: counted");
    }
    check(
        config(),
        vec![
            Connect("a"),
            text("a", "{not json"),
            join("a", "r", "Survivor"),
            join("a", "r", "Again"),
            text("a", r#"{"type":"rename","name":"\u202Eevil"}"#),
            Connect("b"),
            join("b", "r", "Other"),
        ],
        &[
            "a <- error malformed_json",
            "a <- welcome p1:Survivor in r []",
            "a <- error already_joined",
            "a <- error invalid_name",
            "a <= joined p2:Other",
            "b <- welcome p2:Other in r [p1:Survivor]",
        ],
    );
}

#[test]
fn a_full_room_and_the_room_cap_are_refused_and_the_members_are_unaffected() {
    check(
        Config {
            max_peers: 2,
            max_rooms: 2,
            ..config()
        },
        vec![
            Connect("a"),
            Connect("b"),
            Connect("c"),
            Connect("d"),
            join("a", "r", "A"),
            join("b", "r", "B"),
            join("c", "r", "C"),
            join("c", "s", "C"),
            join("d", "t", "D"),
            // A member of an existing room still gets in.
            text("b", r#"{"type":"leave"}"#),
            join("d", "r", "D"),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a <= joined p2:B",
            "b <- welcome p2:B in r [p1:A]",
            // A refused join used up its id.
            "c <- error room_full",
            "c <- welcome p4:C in s []",
            "d <- error too_many_rooms",
            "a <= left p2 Left",
            "b <- you left r",
            "a <= joined p6:D",
            "d <- welcome p6:D in r [p1:A]",
        ],
    );
}

#[test]
fn rename_and_leave_are_announced_and_renames_are_budgeted() {
    let mut steps = vec![
        Connect("a"),
        Connect("b"),
        join("a", "r", "A"),
        join("b", "r", "B"),
        text("a", r#"{"type":"rename","name":"Ada"}"#),
    ];
    // The join cost 2 of the budget of 10, the first rename 1: seven more pass, then one refusal, then
    // silence until the budget refills (one a second).
    for i in 0..10 {
        steps.push(Send(
            "a",
            json!({"type": "rename", "name": format!("A{i}")}).to_string(),
        ));
    }
    steps.push(Wait(Duration::from_millis(1_000)));
    steps.push(text("a", r#"{"type":"rename","name":"Later"}"#));
    steps.push(text("a", r#"{"type":"leave"}"#));
    steps.push(text("a", r#"{"type":"rename","name":"Gone"}"#));
    let mut expected = vec![
        "a <- welcome p1:A in r []".to_string(),
        "a <= joined p2:B".into(),
        "b <- welcome p2:B in r [p1:A]".into(),
        "a <= renamed p1:Ada".into(),
        "b <= renamed p1:Ada".into(),
    ];
    for i in 0..7 {
        expected.push(format!("a <= renamed p1:A{i}"));
        expected.push(format!("b <= renamed p1:A{i}"));
    }
    expected.push("a <- error rate_limited".into());
    expected.extend([
        "a <= renamed p1:Later".into(),
        "b <= renamed p1:Later".into(),
        "b <= left p1 Left".into(),
        "a <- you left r".into(),
        "a <- error not_joined".into(),
    ]);
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    check(config(), steps, &expected);
}

#[test]
fn a_flood_is_refused_then_dropped_then_closed_with_4002() {
    let config = Config {
        rate_limit: 10,
        rate_burst: 5,
        ..config()
    };
    let mut steps = vec![Connect("a")];
    for n in 0..11 {
        steps.push(Send("a", json!({"type": "ping", "nonce": n}).to_string()));
    }
    let mut world = World::new(config);
    let said = world.run(steps);
    // The burst passes, the first frame over it is refused with a reason, the next ones are dropped
    // silently, and a client far over the limit is closed.
    assert_eq!(
        &said[..5],
        [
            "a <- pong 0",
            "a <- pong 1",
            "a <- pong 2",
            "a <- pong 3",
            "a <- pong 4"
        ]
    );
    assert_eq!(said[5], "a <- error rate_limited");
    assert_eq!(said.last().unwrap(), "a closes 4002 (RateLimited)");
    assert_eq!(said.len(), 7, "{said:#?}");
    assert_eq!(
        world.counters.closed_rate_limited.load(Ordering::Relaxed),
        1
    );
}

#[test]
fn empty_pings_and_pongs_are_charged_like_messages() {
    let mut steps = vec![Connect("a")];
    for _ in 0..11 {
        steps.push(Control("a", 0));
    }
    let mut world = World::new(Config {
        rate_limit: 10,
        rate_burst: 5,
        ..config()
    });
    let said = world.run(steps);
    assert_eq!(
        said,
        ["a <- error rate_limited", "a closes 4002 (RateLimited)"]
    );
}

#[test]
fn deadlines_ping_close_silent_clients_and_connections_that_never_join() {
    let config = Config {
        ping_interval_ms: 1_000,
        keepalive_timeout_ms: 2_500,
        join_timeout_ms: 5_000,
        ..config()
    };
    // A silent client that joined: pinged, then closed by the keep-alive timeout, and away.
    check(
        config.clone(),
        vec![
            Connect("a"),
            join("a", "r", "A"),
            secs(1),
            secs(1),
            secs(1),
            Gone("a", End::Timeout),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a -> ping",
            "a -> ping",
            "a closes 4000 (Timeout)",
            "a away for 20s (Timeout)",
        ],
    );
    // A client that answers (a pong moves the keep-alive) but never joins: closed by the join deadline.
    let mut steps = vec![Connect("a")];
    for _ in 0..5 {
        steps.push(secs(1));
        steps.push(Control("a", 0));
    }
    steps.push(Gone("a", End::JoinTimeout));
    check(
        config,
        steps,
        &[
            "a -> ping",
            "a -> ping",
            "a -> ping",
            "a -> ping",
            "a closes 4003 (JoinTimeout)",
        ],
    );
}

#[test]
fn leaving_a_room_starts_the_join_deadline_again() {
    check(
        Config {
            ping_interval_ms: 20_000,
            keepalive_timeout_ms: 60_000,
            join_timeout_ms: 5_000,
            ..config()
        },
        vec![
            Connect("a"),
            join("a", "r", "A"),
            secs(6),
            text("a", r#"{"type":"leave"}"#),
            secs(4),
            secs(1),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a <- you left r",
            "a closes 4003 (JoinTimeout)",
        ],
    );
}

#[test]
fn turn_credentials_are_refreshed_while_in_a_room_and_stop_when_it_leaves() {
    let config = Config {
        turn_secret: Some("turn-secret".into()),
        turn_urls: vec!["turn:turn.example.org:3478".into()],
        turn_ttl: Duration::from_secs(8),
        ping_interval_ms: 60_000,
        keepalive_timeout_ms: 120_000,
        join_timeout_ms: 100_000,
        ..config()
    };
    check(
        config,
        vec![
            Connect("idle"),
            Connect("a"),
            join("a", "r", "A"),
            secs(6),
            secs(6),
            text("a", r#"{"type":"leave"}"#),
            secs(6),
            secs(6),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a <- ice_servers x1",
            "a <- ice_servers x1",
            "a <- you left r",
        ],
    );
}

#[test]
fn protected_rooms_tell_missing_invalid_and_expired_tokens_apart() {
    let secret = "join-secret";
    let mut world = World::new(Config {
        join_secret: Some(secret.into()),
        ..config()
    });
    let now = world.unix0 / 1000;
    let good = crate::credentials::mint_join_token(secret.as_bytes(), "team", now + 60);
    let expired = crate::credentials::mint_join_token(secret.as_bytes(), "team", now - 1);
    let other_room = crate::credentials::mint_join_token(secret.as_bytes(), "other", now + 60);
    let said = world.run(vec![
        Connect("a"),
        join("a", "team", "A"),
        join_with("a", "team", "A", json!({"token": "nonsense"})),
        join_with("a", "team", "A", json!({"token": other_room})),
        join_with("a", "team", "A", json!({"token": expired})),
        join_with("a", "team", "A", json!({"token": good})),
    ]);
    assert_eq!(
        said,
        [
            "a <- error token_required",
            "a <- error token_invalid",
            "a <- error token_invalid",
            "a <- error token_expired",
            "a <- welcome p1:A in team []",
        ]
    );
}

/// The resume token the world's relay issues for `id` in `room`.
fn token_of(world: &World, room: &str, id: &str) -> String {
    world.resume.mint(room, &PeerId(long(id)), world.unix0)
}

#[test]
fn a_dropped_member_stays_away_unannounced_and_its_token_takes_the_id_back() {
    let mut world = check(
        config(),
        vec![
            Connect("a"),
            Connect("b"),
            join("a", "r", "A"),
            join("b", "r", "B"),
            Gone("b", End::Dropped),
            // A signal to an away member says so, and when it may be back.
            secs(5),
            signal("a", "p2", json!({})),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a <= joined p2:B",
            "b <- welcome p2:B in r [p1:A]",
            "b away for 20s (Left)",
            "a <- error peer_away",
        ],
    );
    let token = token_of(&world, "r", "p2");
    let said = world.run(vec![
        Connect("b2"),
        join_with("b2", "r", "Bea", json!({"resume": token})),
        signal("a", "p2", json!({"back": true})),
    ]);
    assert_eq!(
        said,
        [
            "a <= renamed p2:Bea",
            "b2 <- welcome p2:Bea in r [p1:A] resumed",
            r#"b2 <= signal from p1 {"back":true}"#,
        ]
    );
    assert_eq!(world.counters.resumed_away.load(Ordering::Relaxed), 1);
}

#[test]
fn a_resume_of_a_live_connection_replaces_it_and_nobody_hears_a_leave() {
    let mut world = check(
        config(),
        vec![
            Connect("a"),
            Connect("b"),
            join("a", "r", "A"),
            join("b", "r", "B"),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a <= joined p2:B",
            "b <- welcome p2:B in r [p1:A]",
        ],
    );
    let token = token_of(&world, "r", "p2");
    let said = world.run(vec![
        Connect("b2"),
        join_with("b2", "r", "B", json!({"resume": token})),
        // The replaced connection's end leaves nothing behind.
        Gone("b", End::Replaced),
        text("b2", r#"{"type":"leave"}"#),
    ]);
    assert_eq!(
        said,
        [
            "b replaced",
            "b2 <- welcome p2:B in r [p1:A] resumed",
            "a <= left p2 Left",
            "b2 <- you left r",
        ]
    );
}

#[test]
fn forged_foreign_and_stale_resume_tokens_get_a_fresh_id_and_no_error() {
    let mut world = World::new(config());
    world.run(vec![
        Connect("a"),
        join("a", "r", "A"),
        Gone("a", End::Closed),
    ]);
    let left = token_of(&world, "r", "p1");
    let other_room = token_of(&world, "elsewhere", "p1");
    let said = world.run(vec![
        Connect("x"),
        join_with("x", "r", "X", json!({"resume": "forged"})),
        Connect("y"),
        join_with("y", "r", "Y", json!({"resume": other_room})),
        // Its member left for good: the id is not given back on this relay (no restart since).
        Connect("z"),
        join_with("z", "r", "Z", json!({"resume": left})),
    ]);
    assert_eq!(
        said,
        [
            "x <- welcome p2:X in r []",
            "x <= joined p3:Y",
            "y <- welcome p3:Y in r [p2:X]",
            "x <= joined p4:Z",
            "y <= joined p4:Z",
            "z <- welcome p4:Z in r [p2:X,p3:Y]",
        ]
    );
    assert_eq!(world.counters.resume_refused.load(Ordering::Relaxed), 3);
}

#[test]
fn a_relay_restarted_with_the_same_secret_gives_the_id_back() {
    let mut before = World::new(config());
    // The first relay issued its token a minute before the second started.
    before.unix0 = real_unix_ms() - 60_000;
    before.run(vec![Connect("a"), join("a", "r", "A")]);
    let token = token_of(&before, "r", "p1");
    let mut after = World::new(config());
    let said = after.run(vec![
        Connect("a"),
        join_with("a", "r", "A", json!({"resume": token})),
    ]);
    assert_eq!(said, ["a <- welcome p1:A in r [] resumed"]);
    assert_eq!(after.counters.resumed_restart.load(Ordering::Relaxed), 1);
}

#[test]
fn clean_ends_leave_at_once_and_dropped_ones_go_away() {
    // (end, what the other member hears at once, whether it is away)
    let cases = [
        (End::Closed, Some("a <= left p2 Left"), false),
        (End::Dropped, None, true),
        (End::Timeout, None, true),
        (End::Evicted, Some("a <= left p2 Evicted"), false),
        (End::RateLimited, Some("a <= left p2 Evicted"), false),
        (End::Shutdown, Some("a <= left p2 Left"), false),
        (End::Replaced, None, false),
    ];
    for (end, heard, away) in cases {
        let mut world = World::new(config());
        world.run(vec![
            Connect("a"),
            Connect("b"),
            join("a", "r", "A"),
            join("b", "r", "B"),
        ]);
        let said = world.run(vec![Gone("b", end)]);
        let heard: Vec<String> = heard.into_iter().map(String::from).collect();
        let (notices, rest): (Vec<String>, Vec<String>) =
            said.into_iter().partition(|l| l.starts_with("a <="));
        assert_eq!(notices, heard, "{end:?}");
        assert_eq!(rest.len(), usize::from(away), "{end:?}: {rest:?}");
    }
    // Without a grace, or while the relay shuts down, a drop is a leave.
    check(
        Config {
            resume_grace_ms: 0,
            ..config()
        },
        vec![
            Connect("a"),
            Connect("b"),
            join("a", "r", "A"),
            join("b", "r", "B"),
            Gone("b", End::Dropped),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a <= joined p2:B",
            "b <- welcome p2:B in r [p1:A]",
            "a <= left p2 Left",
        ],
    );
}

#[test]
fn shutdown_tells_every_client_to_reconnect_elsewhere() {
    check(
        config(),
        vec![
            Connect("a"),
            Connect("b"),
            join("a", "r", "A"),
            join("b", "r", "B"),
            Shutdown,
            Gone("b", End::Dropped),
        ],
        &[
            "a <- welcome p1:A in r []",
            "a <= joined p2:B",
            "b <- welcome p2:B in r [p1:A]",
            "a <- error shutting_down",
            "a closes 1001 (Shutdown)",
            "b <- error shutting_down",
            "b closes 1001 (Shutdown)",
            "a <= left p2 Left",
        ],
    );
}

fn admitted(members: &[(&str, &str, &str)]) -> Admission {
    Admission::Admitted(
        members
            .iter()
            .map(|(id, name, node)| {
                (
                    Member {
                        id: PeerId(long(id)),
                        name: (*name).into(),
                    },
                    node.to_string(),
                )
            })
            .collect(),
    )
}

#[test]
fn in_a_cluster_a_join_waits_for_its_admission() {
    let mut world = World::new(config());
    world.clustered = true;
    let said = world.run(vec![
        Connect("a"),
        Connect("b"),
        Connect("c"),
        join("a", "r", "A"),
        Answer("a", admitted(&[("x", "X", "n2")])),
        join("b", "r", "B"),
        Answer("b", Admission::Full),
        join("c", "r", "C"),
        Answer("c", Admission::Unavailable),
        signal("a", "x", json!({"to": "another node"})),
        text("c", r#"{"type":"leave"}"#),
    ]);
    assert_eq!(
        said,
        [
            "a -> admit p1 as A in r (max 8)",
            "bus: joined r p1 A",
            "a <- welcome p1:A in r [x:X]",
            "b -> admit p2 as B in r (max 8)",
            "b <- error room_full",
            "c -> admit p3 as C in r (max 8)",
            "a <= joined p3:C",
            "bus: joined r p3 C",
            "c <- welcome p3:C in r [p1:A,x:X]",
            r#"a -> forward to x on n2: {"to":"another node"}"#,
            "a <= left p3 Left",
            "bus: left r p3 Left",
            "c <- you left r",
        ]
    );
}

#[test]
fn in_a_cluster_a_resumed_id_held_by_another_node_gets_a_fresh_one() {
    let mut before = World::new(config());
    before.unix0 = real_unix_ms() - 60_000;
    let token = token_of(&before, "r", "p9");
    let mut world = World::new(config());
    world.clustered = true;
    let said = world.run(vec![
        Connect("a"),
        join_with("a", "r", "A", json!({"resume": token})),
        Answer("a", Admission::Held),
        Answer("a", admitted(&[("p9", "A", "n2")])),
    ]);
    assert_eq!(
        said,
        [
            "a -> admit p9 as A in r (max 8, resumed)",
            "a -> admit p1 as A in r (max 8)",
            "bus: joined r p1 A",
            "a <- welcome p1:A in r [p9:A]",
        ]
    );
    assert_eq!(world.counters.resume_refused.load(Ordering::Relaxed), 1);
}

#[test]
fn only_signals_take_the_borrowed_path() {
    let view = signal_view(r#"{"type":"signal","to":"b","from":"forged","payload":{"n":1}}"#)
        .expect("a signal");
    assert_eq!(view.to, "b");
    assert_eq!(view.payload.get(), r#"{"n":1}"#);
    assert!(signal_view(r#"{"type":"ping","nonce":1}"#).is_none());
    assert!(signal_view(r#"{"type":"signal","payload":{}}"#).is_none());
    assert!(signal_view(r#"{"type":"signal","to":"b"}"#).is_none());
    assert!(signal_view(r#"{"type":"signal","to":"b","payload":{}"#).is_none());
}
