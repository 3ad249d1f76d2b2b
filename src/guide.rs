//! The guide (`/learn`) as data: its chapters in reading order, each with a few paragraphs, links to the
//! live pages that show it happen, and the places in this project's code that do it (file and function).
//! `pages::learn` renders it with one component; the tests here check that every link is a route of the
//! app and every quoted function is defined in the file named.
//!
//! Also the topology cost model of the chapter on mesh, SFU and MCU ([`streams`]). Pure: no `web_sys`,
//! no Leptos.

/// A link to a page of the app; `text` says where it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Link {
    pub href: &'static str,
    pub text: &'static str,
}

/// A place in this project's code, quoted by file and item (a function, type or constant defined there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeRef {
    /// Relative to the repository's root.
    pub file: &'static str,
    /// The name as defined (`fn diagnose`, `struct Peer`, …), without the keyword.
    pub item: &'static str,
    /// What it does, in one sentence.
    pub what: &'static str,
}

/// A live part a chapter shows beside its text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extra {
    None,
    /// The relay messages of a private room this page joins.
    RelayLog,
    /// The mesh / SFU / MCU cost table for 2 to 8 people.
    CostTable,
}

/// One chapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chapter {
    /// The last segment of its address, `/learn/<slug>`.
    pub slug: &'static str,
    pub title: &'static str,
    /// One sentence for the table of contents.
    pub summary: &'static str,
    pub paragraphs: &'static [&'static str],
    /// Where to watch it happen.
    pub live: &'static [Link],
    /// Where this project does it.
    pub code: &'static [CodeRef],
    pub extra: Extra,
}

impl Chapter {
    /// Its address.
    pub fn href(&self) -> String {
        format!("/learn/{}", self.slug)
    }
}

/// The guide's address.
pub const GUIDE_HREF: &str = "/learn";

/// The chapters, in reading order.
pub const CHAPTERS: &[Chapter] = &[
    Chapter {
        slug: "media",
        title: "Media and constraints",
        summary: "Camera and microphone as a MediaStream, and how constraints choose the device and format.",
        paragraphs: &[
            "A call starts with media: getUserMedia asks the person for a camera and a microphone and returns a MediaStream of tracks, one per device. The browser asks for permission once per site; a refusal or a device in use by another program is an error the page has to explain.",
            "Constraints say what the page wants: a width, a frame rate, a device id. An ideal value is a wish the browser gets as close to as it can; an exact value is a demand, and a device that cannot meet it fails the request. This project asks with ideal values by default and exact ones only when the person picked a device.",
            "A track can be disabled (it sends black frames or silence, and the camera light may stay on) or stopped (the device is released and the track is over). Every stream this app opens has one owner that stops its tracks when the page goes.",
        ],
        live: &[Link { href: "/media", text: "Media page: your camera, microphone and the constraints applied" }],
        code: &[
            CodeRef { file: "src/rtc/constraints.rs", item: "constraints", what: "Builds the constraints: ideal by default, exact for a chosen device." },
            CodeRef { file: "src/rtc/media.rs", item: "open_media", what: "Calls getUserMedia and turns a refusal into a typed error." },
            CodeRef { file: "src/rtc/media.rs", item: "use_media_stream", what: "Owns the stream, the device list and switching, and stops the tracks on cleanup." },
        ],
        extra: Extra::None,
    },
    Chapter {
        slug: "peer-connection",
        title: "The peer connection and its offer/answer",
        summary: "RTCPeerConnection, SDP offers and answers, and perfect negotiation.",
        paragraphs: &[
            "An RTCPeerConnection is one side of a call. The two sides agree on what they send (codecs, tracks, data channels) by exchanging session descriptions in SDP: one side makes an offer, the other answers, and each sets its own description as local and the other's as remote.",
            "Either side may change the call at any time (add a camera, restart ICE), so both may offer at once. \"Perfect negotiation\" settles that with one rule: one side is polite and rolls back its own offer when the other's arrives; the impolite side ignores the colliding offer. This project decides every step of it in a pure state machine, tested without a browser.",
            "The loopback page runs two connections in one page and wires them together directly, so every step (offer, answer, candidates, state changes) shows with a one-line explanation.",
            "The chat and the room show the same for each of their connections, made through the relay: open a connection in the inspector to read its local and remote descriptions folded by section (the session part, then one section per media line, titled with its direction and codecs) and its timeline from the first offer on.",
        ],
        live: &[
            Link { href: "/loopback", text: "Loopback page: two peer connections in one page, step by step" },
            Link { href: "/chat", text: "Chat page: each conversation's connection in the inspector" },
        ],
        code: &[
            CodeRef { file: "src/rtc/negotiation.rs", item: "Negotiator", what: "Perfect negotiation as a sans-I/O state machine." },
            CodeRef { file: "src/rtc/negotiation.rs", item: "handle", what: "Turns one input (a signal, a state change) into the browser calls to make." },
            CodeRef { file: "src/rtc/peer.rs", item: "Peer", what: "Owns one RTCPeerConnection and carries out the negotiator's decisions." },
            CodeRef { file: "src/rtc/loopback.rs", item: "use_loopback", what: "The loopback: two peers signaling straight into each other." },
            CodeRef { file: "src/rtc/sdp.rs", item: "sections", what: "Folds a description by section for the inspectors, without changing a byte." },
        ],
        extra: Extra::None,
    },
    Chapter {
        slug: "data-channels",
        title: "Data channels",
        summary: "Text and files straight between browsers over SCTP, with flow control.",
        paragraphs: &[
            "A data channel carries messages between the two browsers over the same connection as the media (SCTP inside DTLS). It is reliable and ordered by default, like TCP, and can be made unordered or lossy for games and live data.",
            "A sender must not queue faster than the network drains: the channel's bufferedAmount grows, and past a few megabytes the browser closes the channel. The chat sends files in chunks, stops when the buffer is full, and goes on when the bufferedamountlow event fires; the receiver checks a SHA-256 of the whole file.",
        ],
        live: &[
            Link { href: "/chat", text: "Chat page: text and files over a data channel" },
            Link { href: "/loopback", text: "Loopback page: a data channel in one page" },
        ],
        code: &[
            CodeRef { file: "src/rtc/data.rs", item: "DataChannel", what: "Owns one RTCDataChannel and its event handlers." },
            CodeRef { file: "src/chat/transfer.rs", item: "may_send", what: "The flow-control rule: send only while the buffer is below its mark." },
            CodeRef { file: "src/chat/transfer.rs", item: "SendPlan", what: "Splits a file into the blocks and chunks that are sent." },
        ],
        extra: Extra::None,
    },
    Chapter {
        slug: "signaling",
        title: "Signaling over the relay",
        summary: "How two browsers find each other and exchange offers, answers and candidates.",
        paragraphs: &[
            "WebRTC does not say how the two sides exchange their descriptions and candidates: that is signaling, and any channel works. peerlab uses a relay, a small server the browsers keep a WebSocket open to. A browser joins a room, learns who else is there, and sends signals to a member by id; the relay stamps the sender and forwards the payload without reading it.",
            "The relay also hands each member the STUN and TURN servers to use, with TURN credentials made for that member, and pings to notice a member that is gone. Once two browsers are connected, their media and data flow directly, and the relay only hears about the next change.",
            "This page has joined a private room of its own on the relay. Below is its log of relay messages, as the chat's inspector shows it: the socket opening, the join, the relay's welcome.",
        ],
        live: &[Link { href: "/chat", text: "Chat page: the relay messages of the lobby in its inspector" }],
        code: &[
            CodeRef { file: "src/signaling/session.rs", item: "Session", what: "The client side of the protocol as a sans-I/O state machine." },
            CodeRef { file: "src/signaling/hook.rs", item: "use_relay_room", what: "Joins a room, reconnects with backoff and keeps the log shown here." },
            CodeRef { file: "server/src/session.rs", item: "signal", what: "The relay's session decides where one signal goes, stamping the sender; conn.rs writes it." },
            CodeRef { file: "server/src/rooms.rs", item: "Rooms", what: "Room membership as plain data." },
        ],
        extra: Extra::RelayLog,
    },
    Chapter {
        slug: "nat-traversal",
        title: "NAT traversal: host, srflx and relay",
        summary: "How ICE finds a path through home routers, and when a TURN server has to carry the call.",
        paragraphs: &[
            "Most devices sit behind a router that shares one public address (NAT). ICE gathers candidate addresses for each side: host candidates (the device's own addresses), server-reflexive ones (srflx: the public address a STUN server saw) and relay ones (an address on a TURN server). Both sides trade candidates and test pairs of them until one works.",
            "Across most home routers srflx pairs work. Routers that give every destination a new port (symmetric NATs, common on mobile networks) and firewalls that let only TCP out break them; then the TURN server relays the call, over UDP or, where UDP is blocked, over TCP. Without a TURN server such calls fail.",
            "The network check gathers candidates with this relay's servers and says which of these ways out your network has. The chat and the room show the path a call took, and explain a call that could not connect; their inspectors list every candidate of both ends with its type and address, the pair ICE selected, and each time it changed (after an ICE restart, say).",
        ],
        live: &[
            Link { href: "/network", text: "Network check: what this browser can reach" },
            Link { href: "/help/turn-server", text: "Help: running a TURN server beside the relay" },
            Link { href: "/chat", text: "Chat page: each connection's candidates and selected pair in the inspector" },
        ],
        code: &[
            CodeRef { file: "src/rtc/reach_check.rs", item: "verdict", what: "The network check's verdict from the candidates gathered." },
            CodeRef { file: "src/rtc/path.rs", item: "NetworkPath", what: "The path of the selected candidate pair, in words." },
            CodeRef { file: "src/rtc/diagnosis.rs", item: "diagnose", what: "Why a connection could not be made, and what would fix it." },
            CodeRef { file: "src/rtc/inspection.rs", item: "sample", what: "Records each change of the selected pair from getStats, with a step on the timeline." },
        ],
        extra: Extra::None,
    },
    Chapter {
        slug: "topologies",
        title: "Topologies: mesh, SFU and MCU",
        summary: "What each way of connecting a group call costs every participant and the server.",
        paragraphs: &[
            "With more than two people, who sends to whom? In a mesh every participant sends its video to every other one and receives from each: no server carries media, but the uplink and the encoding work grow with the group. peerlab's room is a mesh, and it lowers each sender's bitrate as people join.",
            "A selective forwarding unit (SFU) is a server that receives one stream from each participant and forwards it to the others: everyone sends once, and the server's outgoing traffic grows with the square of the group. A multipoint control unit (MCU) also mixes: it decodes every stream and sends each participant one composed stream, at the cost of heavy processing on the server and some delay.",
            "The table counts streams per participant and at the server for groups of 2 to 8. In a call, the room's inspector measures it: the bitrate you send to each of the others, added up, next to the one stream an SFU would take from you.",
        ],
        live: &[Link { href: "/room/learn-mesh", text: "Room page: a mesh video call (room learn-mesh)" }],
        code: &[
            CodeRef { file: "src/guide.rs", item: "streams", what: "The cost model of the table below." },
            CodeRef { file: "src/room/bitrate.rs", item: "video_cap_bps", what: "The mesh's answer to its uplink: a lower bitrate cap per peer as the room grows." },
            CodeRef { file: "src/room/call/handle.rs", item: "use_call", what: "The room's call: one peer connection per other member, on the shared mesh." },
            CodeRef { file: "src/mesh/uplink.rs", item: "Uplink", what: "Your uplink in the mesh next to an SFU's, from the live bitrates." },
        ],
        extra: Extra::CostTable,
    },
    Chapter {
        slug: "shared-store",
        title: "Signaling through a shared store",
        summary: "Several relays sharing rooms through Redis, and the classic Firebase-style example.",
        paragraphs: &[
            "Signaling needs only a place both sides can write to and be told about changes. The classic tutorial example uses a realtime database such as Firebase: the caller writes its offer into a document named after the call, the callee reads it and writes an answer beside it, and each side appends its ICE candidates to a list under the document and listens for the other's. No server of your own, but also no membership, no rate limit, and the database keeps every description unless it is cleaned up.",
            "peerlab's relay uses a shared store differently: with --redis-url, several relays hold the rooms together. Membership lives in Redis hashes admitted by one script (so a room's capacity holds across relays), joins and leaves go out on a publish/subscribe channel, and a signal for a member on another relay is published on that relay's channel. The browsers still talk to one relay over their WebSocket and never see the store.",
        ],
        live: &[Link { href: "/chat", text: "Chat page: the lobby, which may span several relays" }],
        code: &[
            CodeRef { file: "server/src/cluster.rs", item: "Cluster", what: "The relay's scale-out over Redis." },
            CodeRef { file: "server/src/cluster.rs", item: "admit", what: "Admits a join into a room held in Redis, with the room's capacity across relays." },
            CodeRef { file: "server/src/cluster.rs", item: "forward", what: "Sends a signal to a member held by another relay." },
        ],
        extra: Extra::None,
    },
    Chapter {
        slug: "security",
        title: "Security: DTLS fingerprints, TLS and room tokens",
        summary: "What protects a call, and how to check nobody in the middle rewrote it.",
        paragraphs: &[
            "Every WebRTC connection is encrypted: DTLS for data, SRTP with keys from DTLS for media. Each side's certificate fingerprint travels in its SDP, so a relay that rewrote the SDP could put itself in the middle. The chat and the room derive a short verification code from both fingerprints: read it aloud, and if both people see the same code, nobody swapped the certificates. The fingerprints themselves are the a=fingerprint lines of each description in the inspector.",
            "The signaling itself should run over TLS (wss://), in the relay (--tls-cert, --tls-key) or at a proxy in front of it. A relay can protect its rooms with --join-secret: a join must then carry a signed, expiring token for that room, handed out as part of the room's link. TURN credentials are made per member and expire.",
        ],
        live: &[
            Link { href: "/chat", text: "Chat page: the verification code of a conversation" },
            Link { href: "/room/learn-mesh", text: "Room page: the verification code of each participant" },
        ],
        code: &[
            CodeRef { file: "src/rtc/verification.rs", item: "short_authentication_string", what: "The code both sides derive from the two DTLS fingerprints." },
            CodeRef { file: "src/rtc/verification.rs", item: "dtls_fingerprint", what: "Reads a fingerprint out of an SDP." },
            CodeRef { file: "server/src/credentials.rs", item: "verify_join_token", what: "Checks a room's join token." },
            CodeRef { file: "server/src/transport/tls.rs", item: "load", what: "Loads the relay's TLS certificate and key." },
        ],
        extra: Extra::None,
    },
];

/// The chapter at `slug`, with its position.
pub fn chapter(slug: &str) -> Option<(usize, &'static Chapter)> {
    CHAPTERS.iter().enumerate().find(|(_, c)| c.slug == slug)
}

/// Ways of connecting a group call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topology {
    Mesh,
    Sfu,
    Mcu,
}

/// Streams of one kind (say, video) for one call of `n` people.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Streams {
    /// What each participant sends.
    pub up: usize,
    /// What each participant receives.
    pub down: usize,
    /// What the server receives, in all.
    pub server_in: usize,
    /// What the server sends, in all.
    pub server_out: usize,
}

/// The streams a call of `n` people (at least one) needs in `topology`: in a mesh everyone sends to and
/// receives from everyone else; an SFU takes one stream from each and forwards it to the n − 1 others; an
/// MCU takes one from each and sends each one mixed stream back.
pub fn streams(topology: Topology, n: usize) -> Streams {
    let others = n.saturating_sub(1);
    match topology {
        Topology::Mesh => Streams {
            up: others,
            down: others,
            server_in: 0,
            server_out: 0,
        },
        Topology::Sfu => Streams {
            up: 1,
            down: others,
            server_in: n,
            server_out: n * others,
        },
        Topology::Mcu => Streams {
            up: 1,
            down: 1,
            server_in: n,
            server_out: n,
        },
    }
}

/// The group sizes the cost table shows.
pub const TABLE_SIZES: std::ops::RangeInclusive<usize> = 2..=8;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::Path;

    /// The route patterns of `App`, read from `src/lib.rs` (`path!("…")`).
    fn routes() -> Vec<String> {
        let lib = std::fs::read_to_string("src/lib.rs").expect("the tests run from the crate root");
        lib.split("path!(\"")
            .skip(1)
            .filter_map(|rest| rest.split_once("\")").map(|(p, _)| p.to_owned()))
            .collect()
    }

    /// Whether `href` (without query or fragment) is matched by a route pattern with `:param` segments.
    fn is_route(href: &str, routes: &[String]) -> bool {
        let path = href.split(['?', '#']).next().unwrap_or_default();
        let segments: Vec<&str> = path.split('/').collect();
        routes.iter().any(|route| {
            let pattern: Vec<&str> = route.split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| (p.starts_with(':') && !s.is_empty()) || p == s)
        })
    }

    /// Whether `source` defines `item` as a function, type, constant or module.
    fn defines(source: &str, item: &str) -> bool {
        ["fn", "struct", "enum", "const", "mod", "trait", "type"]
            .iter()
            .any(|keyword| {
                source
                    .match_indices(&format!("{keyword} {item}"))
                    .any(|(at, m)| {
                        let before = source[..at].chars().last();
                        let after = source[at + m.len()..].chars().next();
                        !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                            && !after.is_some_and(|c| c.is_alphanumeric() || c == '_')
                    })
            })
    }

    #[test]
    fn every_link_is_a_route_of_the_app() {
        let routes = routes();
        assert!(routes.contains(&"/learn/:chapter".to_owned()), "{routes:?}");
        assert!(is_route(GUIDE_HREF, &routes));
        for chapter in CHAPTERS {
            assert!(is_route(&chapter.href(), &routes), "{}", chapter.slug);
            assert!(
                !chapter.live.is_empty(),
                "{} links to a live page",
                chapter.slug
            );
            for link in chapter.live {
                assert!(
                    is_route(link.href, &routes),
                    "{}: {}",
                    chapter.slug,
                    link.href
                );
                assert!(
                    !link.href.starts_with("/learn"),
                    "{}: a live page is not the guide",
                    chapter.slug
                );
            }
        }
        // The matcher itself: parameters need a segment, and other paths do not match.
        assert!(!is_route("/room/", &routes));
        assert!(!is_route("/no/such/page", &routes));
    }

    #[test]
    fn every_quoted_function_is_defined_in_the_file_named() {
        for chapter in CHAPTERS {
            assert!(!chapter.code.is_empty(), "{} quotes code", chapter.slug);
            for code in chapter.code {
                let path = Path::new(code.file);
                let source = std::fs::read_to_string(path)
                    .unwrap_or_else(|e| panic!("{}: {} ({e})", chapter.slug, code.file));
                assert!(
                    defines(&source, code.item),
                    "{}: {} defines no {}",
                    chapter.slug,
                    code.file,
                    code.item
                );
            }
        }
        assert!(!defines("fn diagnosed()", "diagnose"), "a whole name only");
    }

    #[test]
    fn chapters_follow_the_seeds_order_with_unique_slugs() {
        let slugs: Vec<&str> = CHAPTERS.iter().map(|c| c.slug).collect();
        assert_eq!(
            slugs,
            [
                "media",
                "peer-connection",
                "data-channels",
                "signaling",
                "nat-traversal",
                "topologies",
                "shared-store",
                "security"
            ]
        );
        assert_eq!(slugs.iter().collect::<HashSet<_>>().len(), slugs.len());
        assert_eq!(
            chapter("signaling").map(|(i, c)| (i, c.extra)),
            Some((3, Extra::RelayLog))
        );
        assert_eq!(chapter("topologies").unwrap().1.extra, Extra::CostTable);
        assert!(chapter("nat-traversal")
            .unwrap()
            .1
            .live
            .iter()
            .any(|l| l.href == "/network"));
        assert_eq!(chapter("nope"), None);
    }

    #[test]
    fn topologies_cost_what_their_shape_says() {
        let row = |t, n| {
            let s = streams(t, n);
            (s.up, s.down, s.server_in, s.server_out)
        };
        // Two people: every topology sends one stream each way per person.
        assert_eq!(row(Topology::Mesh, 2), (1, 1, 0, 0));
        assert_eq!(row(Topology::Sfu, 2), (1, 1, 2, 2));
        assert_eq!(row(Topology::Mcu, 2), (1, 1, 2, 2));
        // Eight: the mesh's uplink is seven streams, the SFU's server sends 56, the MCU's 8.
        assert_eq!(row(Topology::Mesh, 8), (7, 7, 0, 0));
        assert_eq!(row(Topology::Sfu, 8), (1, 7, 8, 56));
        assert_eq!(row(Topology::Mcu, 8), (1, 1, 8, 8));
        for n in TABLE_SIZES {
            // Every stream sent is received by someone: through the server, or directly in a mesh.
            let mesh = streams(Topology::Mesh, n);
            assert_eq!(n * mesh.up, n * mesh.down);
            let sfu = streams(Topology::Sfu, n);
            assert_eq!(n * sfu.up, sfu.server_in);
            assert_eq!(sfu.server_out, n * sfu.down);
        }
    }
}
