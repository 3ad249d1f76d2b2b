//! The relay's configuration: command-line flags, each with an environment-variable fallback.
//!
//! This module only describes and checks settings; it starts nothing.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use peerlab_protocol::{IceServer, IceSummary, KeepAlive, RoomLimits};

use crate::credentials::{parse_ttl, turn_credentials};

/// peerlab's relay: carries WebRTC signaling between the members of a room over WebSocket (`/ws`) and serves
/// the built app (`--dist`) with a single-page-app fallback.
// The command line is the relay's flags or a subcommand. With no subcommand the relay runs, so
// `peerlab-server --bind ...` means what it always meant.
#[derive(Debug, Parser)]
#[command(
    name = "peerlab-server",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What the relay binary can do besides relaying.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Prints a join token for a protected room; append it to the room link as `?token=...`.
    Token {
        /// The room the token opens (only this room).
        #[arg(long)]
        room: String,
        /// How long the token stays valid: 90s, 30m, 1h, 7d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
        /// The secret the relay checks tokens with (the relay's --join-secret).
        #[arg(long, env = "PEERLAB_JOIN_SECRET", hide_env_values = true)]
        secret: String,
    },
}

/// peerlab's relay: carries WebRTC signaling between the members of a room over WebSocket (`/ws`) and serves
/// the built app (`--dist`) with a single-page-app fallback.
#[derive(Clone, Debug, Parser)]
#[command(name = "peerlab-server", version, about)]
pub struct Config {
    /// Address to listen on. Use 0.0.0.0:8080 to accept connections from other machines.
    #[arg(long, env = "PEERLAB_BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Directory holding the built app (the output of `trunk build`); served at `/`.
    #[arg(long, env = "PEERLAB_DIST", default_value = "dist")]
    pub dist: PathBuf,

    /// How many members one room holds at most.
    #[arg(long, env = "PEERLAB_MAX_PEERS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub max_peers: u32,

    /// The largest text message a client may send, in bytes. Larger ones get a `message_too_large` error;
    /// frames over four times this size close the connection.
    #[arg(long, env = "PEERLAB_MAX_MESSAGE_BYTES", default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(256..=16 * 1024 * 1024))]
    pub max_message_bytes: u32,

    /// How often the relay pings each client, in milliseconds.
    #[arg(long, env = "PEERLAB_PING_INTERVAL_MS", default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub ping_interval_ms: u64,

    /// A connection from which nothing arrives for this long (milliseconds) is closed and announced as left.
    #[arg(long, env = "PEERLAB_KEEPALIVE_TIMEOUT_MS", default_value_t = 45_000, value_parser = clap::value_parser!(u64).range(20..))]
    pub keepalive_timeout_ms: u64,

    /// How many bytes may wait for one client (messages queued for it and bytes not yet written to its
    /// socket). A client further behind is disconnected as a slow consumer (4001) instead of letting the
    /// relay's memory grow; a burst of small messages to a client that keeps reading never comes near it.
    #[arg(long, env = "PEERLAB_MAX_QUEUE_BYTES", default_value_t = 1024 * 1024, value_parser = clap::value_parser!(u32).range(1024..=1024 * 1024 * 1024))]
    pub max_queue_bytes: u32,

    /// How long (milliseconds) a message may wait in a client's queue before the client is disconnected
    /// as a slow consumer (4001).
    #[arg(long, env = "PEERLAB_MAX_QUEUE_DELAY_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub max_queue_delay_ms: u64,

    /// Also cap the messages waiting for one client by count; 0 (the default) for no cap by count.
    /// `--max-queue-bytes` is the bound that matters: a count says little about memory, and a low one
    /// disconnects clients that keep up with a burst of small messages.
    #[arg(long, env = "PEERLAB_QUEUE_CAPACITY", default_value_t = 0, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub queue_capacity: u32,

    /// ICE server URL handed to clients (stun:, turn: or turns:); repeat the flag for several.
    /// Default: none, so calls connect only where peers can reach each other directly (one network).
    #[arg(long = "ice-url", env = "PEERLAB_ICE_URLS", value_delimiter = ',')]
    pub ice_urls: Vec<String>,

    /// Username for the turn:/turns: URLs given with --ice-url.
    #[arg(long, env = "PEERLAB_ICE_USERNAME")]
    pub ice_username: Option<String>,

    /// Credential for the turn:/turns: URLs given with --ice-url.
    #[arg(long, env = "PEERLAB_ICE_CREDENTIAL", hide_env_values = true)]
    pub ice_credential: Option<String>,

    /// On shutdown, how long (milliseconds) to wait for connections to close after telling them to go.
    #[arg(long, env = "PEERLAB_SHUTDOWN_GRACE_MS", default_value_t = 2_000)]
    pub shutdown_grace_ms: u64,

    /// Redis URL (redis://host:port) to run as one node of a cluster: members of one room may then sit on
    /// different relay processes. Without it the relay is single-node and keeps everything in memory.
    #[arg(long, env = "PEERLAB_REDIS_URL")]
    pub redis_url: Option<String>,

    /// In a cluster, how often (milliseconds) this node proves it is alive; a node silent for three
    /// heartbeats has its members announced as left by the others within about four heartbeats.
    #[arg(long, env = "PEERLAB_CLUSTER_HEARTBEAT_MS", default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(50..))]
    pub cluster_heartbeat_ms: u64,

    /// In a cluster, how often (milliseconds) this node checks its view of every room against Redis and
    /// repairs the difference: members of dead nodes left in Redis are removed, local members Redis lost
    /// (a restart, a flush) are written back, and mirrored members Redis no longer has in two checks in
    /// a row are announced as left.
    #[arg(long, env = "PEERLAB_CLUSTER_RECONCILE_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub cluster_reconcile_ms: u64,

    /// Worker threads for connections; 0 means one per CPU core. With 1 the relay runs on a single thread,
    /// which saves the cross-thread wake-ups of a multi-threaded runtime when one core is enough.
    #[arg(long, env = "PEERLAB_THREADS", default_value_t = 0)]
    pub threads: usize,

    /// A web page origin (scheme://host[:port]) allowed to open the relay's WebSocket; repeat for several,
    /// or give `*` to allow any. Pages the relay serves itself (same origin) and clients that send no
    /// Origin (not browsers) are always allowed, so by default other web sites cannot use the relay.
    #[arg(
        long = "allowed-origin",
        env = "PEERLAB_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Extra sources for the served app's Content-Security-Policy `connect-src`, for an app whose
    /// peerlab.json points at a relay on another origin (for example wss://relay.example.org).
    #[arg(
        long = "csp-connect-src",
        env = "PEERLAB_CSP_CONNECT_SRC",
        value_delimiter = ','
    )]
    pub csp_connect_src: Vec<String>,

    /// Messages per second one connection may send, sustained; 0 turns the limit off. A message over it is
    /// dropped (`rate_limited`); a client sending well over twice this is closed (4002).
    #[arg(long, env = "PEERLAB_RATE_LIMIT", default_value_t = 200)]
    pub rate_limit: u32,

    /// How many messages one connection may send at once before the rate limit applies (a join's burst of
    /// ICE candidates to every member); also how many dropped messages close the connection.
    #[arg(long, env = "PEERLAB_RATE_BURST", default_value_t = 1_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: u32,

    /// Open connections (HTTP and WebSocket) allowed per client address, IPv6 addresses counted by their
    /// /64; further connections get 429 at once. 0 means no cap. Off by default because behind a reverse
    /// proxy every client has the proxy's address.
    #[arg(long, env = "PEERLAB_MAX_CONNECTIONS_PER_IP", default_value_t = 0)]
    pub max_connections_per_ip: u32,

    /// Open TCP connections the relay holds at once (HTTP and WebSocket alike); further connections get
    /// 503 at once. 0 means just under the process's open-file limit, so that the relay can always answer.
    #[arg(long, env = "PEERLAB_MAX_CONNECTIONS", default_value_t = 0)]
    pub max_connections: u32,

    /// How long (milliseconds) a connection may take to send its request headers, counted from when it
    /// connects or from the previous response; a connection that sends nothing, or only part of a
    /// request, is closed then.
    #[arg(long, env = "PEERLAB_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..))]
    pub header_timeout_ms: u64,

    /// How many rooms the relay holds at once; a join that would open one more gets `too_many_rooms`.
    /// Rooms whose members are all away (dropped, within their resume grace) may take half of them at
    /// most: past that, a member that drops alone in its room leaves at once.
    #[arg(long, env = "PEERLAB_MAX_ROOMS", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rooms: u32,

    /// A connection that is in no room for this long (milliseconds) is closed (4003), so idle sockets that
    /// never join cannot pile up.
    #[arg(long, env = "PEERLAB_JOIN_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub join_timeout_ms: u64,

    /// Protects every room: a join must carry a token signed with this secret (see `peerlab-server token`).
    #[arg(long, env = "PEERLAB_JOIN_SECRET", hide_env_values = true)]
    pub join_secret: Option<String>,

    /// A turn:/turns: URL for which the relay issues each client time-limited credentials (coturn
    /// `use-auth-secret`); repeat for several. Needs --turn-secret.
    #[arg(long = "turn-url", env = "PEERLAB_TURN_URLS", value_delimiter = ',')]
    pub turn_urls: Vec<String>,

    /// The secret shared with the TURN server (coturn `static-auth-secret`).
    #[arg(long, env = "PEERLAB_TURN_SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,

    /// How long issued TURN credentials stay valid (30m, 1h, ...); the relay sends fresh ones to each
    /// client when three quarters of this have passed.
    #[arg(long, env = "PEERLAB_TURN_TTL", default_value = "1h", value_parser = parse_ttl)]
    pub turn_ttl: Duration,

    /// How long (milliseconds) a member whose connection dropped without a close (network loss, keep-alive
    /// timeout) stays in its room as "away", so it can come back with its `resume` token and keep its peer
    /// id; the others hear `member_left` only when this ends. 0 announces the leave at once.
    #[arg(long, env = "PEERLAB_RESUME_GRACE_MS", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub resume_grace_ms: u64,

    /// The key resume tokens are signed with. Set it (the same on every node) so peer ids survive a relay
    /// restart and work on every node of a cluster; without it the relay makes a random key at start
    /// (shared through Redis in a cluster), and ids then do not survive a restart.
    #[arg(long, env = "PEERLAB_RESUME_SECRET", hide_env_values = true)]
    pub resume_secret: Option<String>,

    /// PEM certificate chain: with --tls-key the relay serves https:// and wss:// itself.
    #[arg(long, env = "PEERLAB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert.
    #[arg(long, env = "PEERLAB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Log as JSON lines instead of human-readable text.
    #[arg(long, env = "PEERLAB_LOG_JSON")]
    pub log_json: bool,
}

/// A setting that cannot work, with what to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("--keepalive-timeout-ms ({timeout}) must be longer than --ping-interval-ms ({interval}), or live clients would be dropped between pings")]
    TimeoutNotAfterPing { interval: u64, timeout: u64 },
    #[error("--ice-url {0:?} must start with stun:, turn: or turns:")]
    BadIceUrl(String),
    #[error("TURN URLs need both --ice-username and --ice-credential")]
    TurnWithoutCredentials,
    #[error("--turn-url {0:?} must start with turn: or turns:")]
    BadTurnUrl(String),
    #[error("--turn-url and --turn-secret go together: give both or neither")]
    TurnSecretWithoutUrls,
    #[error("--allowed-origin {0:?} must be `*` or scheme://host[:port] with nothing after it")]
    BadOrigin(String),
    #[error(
        "--turn-ttl must be at least 2 seconds, so credentials can be refreshed before they expire"
    )]
    TurnTtlTooShort,
    #[error("--max-queue-bytes ({queue}) must be at least twice --max-message-bytes ({message}), or two large messages in a row would disconnect a client that reads them")]
    QueueBelowTwoMessages { queue: u32, message: u32 },
}

impl Default for Config {
    fn default() -> Self {
        // The defaults are exactly those of the command line with no flags and no environment.
        Config::parse_from(["peerlab-server"])
    }
}

impl Config {
    /// Checks settings that depend on each other.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if u64::from(self.max_queue_bytes) < 2 * u64::from(self.max_message_bytes) {
            return Err(ConfigError::QueueBelowTwoMessages {
                queue: self.max_queue_bytes,
                message: self.max_message_bytes,
            });
        }
        if self.keepalive_timeout_ms <= self.ping_interval_ms {
            return Err(ConfigError::TimeoutNotAfterPing {
                interval: self.ping_interval_ms,
                timeout: self.keepalive_timeout_ms,
            });
        }
        let mut has_turn = false;
        for url in &self.ice_urls {
            match url.split(':').next() {
                Some("stun") => {}
                Some("turn") | Some("turns") => has_turn = true,
                _ => return Err(ConfigError::BadIceUrl(url.clone())),
            }
        }
        if has_turn && (self.ice_username.is_none() || self.ice_credential.is_none()) {
            return Err(ConfigError::TurnWithoutCredentials);
        }
        if let Some(url) = self
            .turn_urls
            .iter()
            .find(|u| !(u.starts_with("turn:") || u.starts_with("turns:")))
        {
            return Err(ConfigError::BadTurnUrl(url.clone()));
        }
        if self.turn_urls.is_empty() != self.turn_secret.is_none() {
            return Err(ConfigError::TurnSecretWithoutUrls);
        }
        if self.turn_ttl < Duration::from_secs(2) {
            return Err(ConfigError::TurnTtlTooShort);
        }
        for origin in &self.allowed_origins {
            let well_formed = origin == "*"
                || origin.split_once("://").is_some_and(|(scheme, rest)| {
                    !scheme.is_empty() && !rest.is_empty() && !rest.contains('/')
                });
            if !well_formed {
                return Err(ConfigError::BadOrigin(origin.clone()));
            }
        }
        Ok(())
    }

    /// The ICE servers for one client, with fresh TURN credentials for `peer` when a TURN secret is set,
    /// and the Unix time (seconds) at which those credentials expire (`None` without a TURN secret).
    pub fn ice_servers_for(&self, peer: &str, now_unix: u64) -> (Vec<IceServer>, Option<u64>) {
        let mut servers = self.ice_servers();
        let Some(secret) = &self.turn_secret else {
            return (servers, None);
        };
        let expiry = now_unix + self.turn_ttl.as_secs();
        let (username, credential) = turn_credentials(secret.as_bytes(), peer, expiry);
        servers.push(IceServer {
            urls: self.turn_urls.clone(),
            username: Some(username),
            credential: Some(credential),
        });
        (servers, Some(expiry))
    }

    /// Which kinds of STUN/TURN server clients are handed (`--ice-url` and `--turn-url` together), without
    /// addresses or credentials: what `GET /ice-summary` answers and what the start-up warning reads.
    pub fn ice_summary(&self) -> IceSummary {
        let mut urls = self.ice_urls.iter().map(String::as_str).collect::<Vec<_>>();
        if self.turn_secret.is_some() {
            urls.extend(self.turn_urls.iter().map(String::as_str));
        }
        IceSummary::from_urls(urls)
    }

    /// How long after issuing TURN credentials the relay sends fresh ones: three quarters of their life.
    pub fn turn_refresh_after(&self) -> Duration {
        self.turn_ttl * 3 / 4
    }

    /// How long a dropped member stays away before it is announced as left; zero means at once.
    pub fn resume_grace(&self) -> Duration {
        Duration::from_millis(self.resume_grace_ms)
    }

    /// How long a connection may take to send its request headers (see `--header-timeout-ms`).
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    pub fn join_timeout(&self) -> Duration {
        Duration::from_millis(self.join_timeout_ms)
    }

    /// The ICE servers as clients receive them: one entry per URL, TURN entries with the credentials.
    pub fn ice_servers(&self) -> Vec<IceServer> {
        self.ice_urls
            .iter()
            .map(|url| {
                let is_turn = url.starts_with("turn");
                IceServer {
                    urls: vec![url.clone()],
                    username: is_turn.then(|| self.ice_username.clone()).flatten(),
                    credential: is_turn.then(|| self.ice_credential.clone()).flatten(),
                }
            })
            .collect()
    }

    /// The room limits announced in `welcome`.
    pub fn limits(&self) -> RoomLimits {
        RoomLimits {
            max_peers: self.max_peers,
            max_message_bytes: self.max_message_bytes,
        }
    }

    /// The keep-alive timing announced in `welcome`.
    pub fn keepalive(&self) -> KeepAlive {
        KeepAlive {
            interval_ms: self.ping_interval_ms,
            timeout_ms: self.keepalive_timeout_ms,
        }
    }

    pub fn ping_interval(&self) -> Duration {
        Duration::from_millis(self.ping_interval_ms)
    }

    pub fn keepalive_timeout(&self) -> Duration {
        Duration::from_millis(self.keepalive_timeout_ms)
    }

    /// How far behind a client may fall before it is evicted as a slow consumer.
    pub fn queue_limits(&self) -> crate::transport::QueueLimits {
        crate::transport::QueueLimits {
            max_bytes: self.max_queue_bytes as usize,
            max_delay: Duration::from_millis(self.max_queue_delay_ms),
            max_frames: self.queue_capacity as usize,
        }
    }

    /// The limits on what a client's frames and messages may be: a frame up to the hard limit (a message
    /// over `--max-message-bytes` but under it gets a typed error), a message reassembled from fragments
    /// up to `--max-message-bytes` itself, so fragments never hold more than a message may be.
    pub fn frame_limits(&self) -> crate::transport::Limits {
        crate::transport::Limits {
            max_frame: self.hard_frame_limit(),
            max_message: self.max_message_bytes as usize,
        }
    }

    /// The WebSocket layer's hard frame limit: a frame above it closes the connection (code 1009) instead of
    /// being read into memory. Below it, oversized messages get a typed error and the connection stays up.
    pub fn hard_frame_limit(&self) -> usize {
        self.max_message_bytes as usize * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        let mut all = vec!["peerlab-server"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap()
    }

    #[test]
    fn defaults_are_local_and_have_no_ice_servers() {
        let config = Config::default();
        assert_eq!(config.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(config.max_peers, 8);
        assert!(config.ice_servers().is_empty());
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.resume_grace_ms, 20_000);
        assert_eq!(config.resume_secret, None);
    }

    #[test]
    fn resume_settings_parse_and_have_env_fallbacks() {
        let config = parse(&["--resume-grace-ms", "0", "--resume-secret", "north-wind"]);
        assert_eq!(config.resume_grace(), Duration::ZERO);
        assert_eq!(config.resume_secret.as_deref(), Some("north-wind"));
        assert!(
            Config::try_parse_from(["peerlab-server", "--resume-grace-ms", "3600001"]).is_err()
        );
        use clap::CommandFactory;
        let help = Config::command().render_long_help().to_string();
        assert!(help.contains("PEERLAB_RESUME_SECRET"), "{help}");
        assert!(help.contains("PEERLAB_RESUME_GRACE_MS"), "{help}");
    }

    #[test]
    fn keepalive_timeout_must_exceed_ping_interval() {
        let config = parse(&[
            "--ping-interval-ms",
            "1000",
            "--keepalive-timeout-ms",
            "1000",
        ]);
        assert_eq!(
            config.validate(),
            Err(ConfigError::TimeoutNotAfterPing {
                interval: 1000,
                timeout: 1000
            })
        );
    }

    #[test]
    fn the_queue_is_bounded_by_bytes_and_time_and_the_old_count_flag_still_parses() {
        let limits = Config::default().queue_limits();
        assert_eq!(limits.max_bytes, 1024 * 1024);
        assert_eq!(limits.max_delay, Duration::from_secs(30));
        assert_eq!(limits.max_frames, 0, "no cap by count unless asked for");
        let config = parse(&[
            "--max-queue-bytes",
            "262144",
            "--max-queue-delay-ms",
            "5000",
            "--queue-capacity",
            "4096",
        ]);
        assert_eq!(
            config.queue_limits(),
            crate::transport::QueueLimits {
                max_bytes: 262_144,
                max_delay: Duration::from_secs(5),
                max_frames: 4096,
            }
        );
        assert_eq!(config.validate(), Ok(()));
        let config = parse(&[
            "--max-queue-bytes",
            "100000",
            "--max-message-bytes",
            "65536",
        ]);
        assert_eq!(
            config.validate(),
            Err(ConfigError::QueueBelowTwoMessages {
                queue: 100_000,
                message: 65_536
            })
        );
    }

    #[test]
    fn turn_urls_carry_credentials_and_stun_urls_do_not() {
        let config = parse(&[
            "--ice-url",
            "stun:stun.example.org:3478",
            "--ice-url",
            "turn:turn.example.org:3478",
            "--ice-username",
            "u",
            "--ice-credential",
            "p",
        ]);
        assert_eq!(config.validate(), Ok(()));
        let servers = config.ice_servers();
        assert_eq!(servers[0].username, None);
        assert_eq!(servers[1].username.as_deref(), Some("u"));
        assert_eq!(servers[1].credential.as_deref(), Some("p"));
    }

    #[test]
    fn bad_ice_settings_are_refused_with_a_reason() {
        let config = parse(&["--ice-url", "http://x"]);
        assert_eq!(
            config.validate(),
            Err(ConfigError::BadIceUrl("http://x".into()))
        );
        let config = parse(&["--ice-url", "turn:t:3478"]);
        assert_eq!(config.validate(), Err(ConfigError::TurnWithoutCredentials));
        assert!(Config::try_parse_from(["peerlab-server", "--max-peers", "0"]).is_err());
        let config = parse(&["--turn-url", "turn:t:3478"]);
        assert_eq!(config.validate(), Err(ConfigError::TurnSecretWithoutUrls));
        let config = parse(&["--turn-url", "stun:t:3478", "--turn-secret", "s"]);
        assert_eq!(
            config.validate(),
            Err(ConfigError::BadTurnUrl("stun:t:3478".into()))
        );
        let config = parse(&["--allowed-origin", "https://app.example.org/path"]);
        assert_eq!(
            config.validate(),
            Err(ConfigError::BadOrigin(
                "https://app.example.org/path".into()
            ))
        );
    }

    #[test]
    fn relay_flags_still_parse_without_a_subcommand_and_token_is_a_subcommand() {
        let cli = Cli::try_parse_from([
            "peerlab-server",
            "--bind",
            "127.0.0.1:9000",
            "--max-peers",
            "3",
        ])
        .unwrap();
        assert!(cli.command.is_none());
        assert_eq!(cli.config.bind.to_string(), "127.0.0.1:9000");
        assert_eq!(cli.config.max_peers, 3);
        let cli = Cli::try_parse_from([
            "peerlab-server",
            "token",
            "--room",
            "team",
            "--ttl",
            "30m",
            "--secret",
            "s",
        ])
        .unwrap();
        match cli.command {
            Some(Command::Token { room, ttl, secret }) => {
                assert_eq!(
                    (room.as_str(), ttl.as_secs(), secret.as_str()),
                    ("team", 1_800, "s")
                );
            }
            other => panic!("expected the token subcommand, got {other:?}"),
        }
    }

    #[test]
    fn turn_secret_gives_each_peer_its_own_expiring_credentials() {
        let config = parse(&[
            "--turn-url",
            "turn:turn.example.org:3478",
            "--turn-secret",
            "north-wind",
            "--turn-ttl",
            "1h",
        ]);
        assert_eq!(config.validate(), Ok(()));
        let (servers, expiry) =
            config.ice_servers_for("9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b", 1_767_225_600);
        assert_eq!(expiry, Some(1_767_229_200));
        assert_eq!(servers.len(), 1);
        assert_eq!(
            servers[0].urls,
            vec!["turn:turn.example.org:3478".to_string()]
        );
        assert_eq!(
            servers[0].username.as_deref(),
            Some("1767229200:9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b")
        );
        // The same vector as `credentials::tests`, computed with Python's hmac module.
        assert_eq!(
            servers[0].credential.as_deref(),
            Some("7sV/Qd9ZyhHfRhBVmfBFsKS4sco=")
        );
        assert_eq!(config.turn_refresh_after().as_secs(), 2_700);
    }
}
