//! Pins the wire format: every message round-trips, and its JSON is exactly what `docs/PROTOCOL.md` shows.
//! A change that breaks one of these tests breaks deployed clients.

use peerlab_protocol::*;
use serde_json::json;

fn sample_payload() -> Payload {
    Payload::from_value(&json!({"kind": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}))
        .unwrap()
}

fn client_examples() -> Vec<(ClientMessage, serde_json::Value)> {
    vec![
        (
            ClientMessage::Join {
                version: 1,
                name: "Ada".into(),
                room: "lobby".into(),
                token: None,
                resume: None,
            },
            json!({"type": "join", "version": 1, "name": "Ada", "room": "lobby"}),
        ),
        (
            ClientMessage::Rename {
                name: "Ada L.".into(),
            },
            json!({"type": "rename", "name": "Ada L."}),
        ),
        (
            ClientMessage::Signal {
                to: PeerId::from("9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b"),
                payload: sample_payload(),
            },
            json!({"type": "signal", "to": "9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b",
                   "payload": {"kind": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}),
        ),
        (ClientMessage::Leave, json!({"type": "leave"})),
        (
            ClientMessage::Ping { nonce: 7 },
            json!({"type": "ping", "nonce": 7}),
        ),
    ]
}

fn server_examples() -> Vec<(ServerMessage, serde_json::Value)> {
    let ada = Member {
        id: PeerId::from("0a1b2c3d4e5f60718293a4b5c6d7e8f9"),
        name: "Ada".into(),
    };
    vec![
        (
            ServerMessage::Welcome {
                version: 1,
                peer_id: PeerId::from("9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b"),
                room: "lobby".into(),
                name: "Grace".into(),
                members: vec![ada.clone()],
                ice_servers: vec![
                    IceServer {
                        urls: vec!["stun:stun.example.org:3478".into()],
                        username: None,
                        credential: None,
                    },
                    IceServer {
                        urls: vec!["turn:turn.example.org:3478?transport=udp".into()],
                        username: Some("1767225600:9f2c".into()),
                        credential: Some("c2VjcmV0".into()),
                    },
                ],
                limits: RoomLimits {
                    max_peers: 8,
                    max_message_bytes: 65536,
                },
                keepalive: KeepAlive {
                    interval_ms: 15000,
                    timeout_ms: 45000,
                },
                resume: None,
                resumed: false,
            },
            json!({"type": "welcome", "version": 1, "peer_id": "9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b",
                   "room": "lobby", "name": "Grace",
                   "members": [{"id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "name": "Ada"}],
                   "ice_servers": [
                       {"urls": ["stun:stun.example.org:3478"]},
                       {"urls": ["turn:turn.example.org:3478?transport=udp"],
                        "username": "1767225600:9f2c", "credential": "c2VjcmV0"}],
                   "limits": {"max_peers": 8, "max_message_bytes": 65536},
                   "keepalive": {"interval_ms": 15000, "timeout_ms": 45000}}),
        ),
        (
            ServerMessage::MemberJoined {
                member: ada.clone(),
            },
            json!({"type": "member_joined", "member": {"id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "name": "Ada"}}),
        ),
        (
            ServerMessage::MemberLeft {
                id: ada.id.clone(),
                reason: LeaveReason::Timeout,
            },
            json!({"type": "member_left", "id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "reason": "timeout"}),
        ),
        (
            ServerMessage::MemberRenamed {
                id: ada.id.clone(),
                name: "Ada L.".into(),
            },
            json!({"type": "member_renamed", "id": "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "name": "Ada L."}),
        ),
        (
            ServerMessage::Signal {
                from: ada.id.clone(),
                payload: sample_payload(),
            },
            json!({"type": "signal", "from": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
                   "payload": {"kind": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"}}),
        ),
        (
            ServerMessage::Left {
                room: "lobby".into(),
            },
            json!({"type": "left", "room": "lobby"}),
        ),
        (
            ServerMessage::Pong { nonce: 7 },
            json!({"type": "pong", "nonce": 7}),
        ),
        (
            ServerMessage::IceServers {
                ice_servers: vec![IceServer {
                    urls: vec!["turn:turn.example.org:3478".into()],
                    username: Some("1767229200:9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b".into()),
                    credential: Some("3Rr0VCtgUlnRxmtBxGVA4eHEkzU=".into()),
                }],
            },
            json!({"type": "ice_servers", "ice_servers": [
                {"urls": ["turn:turn.example.org:3478"],
                 "username": "1767229200:9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b",
                 "credential": "3Rr0VCtgUlnRxmtBxGVA4eHEkzU="}]}),
        ),
        (
            ServerMessage::Error {
                code: ErrorCode::RoomFull,
                message: "room \"lobby\" is full (8 of 8)".into(),
            },
            json!({"type": "error", "code": "room_full", "message": "room \"lobby\" is full (8 of 8)"}),
        ),
    ]
}

#[test]
fn every_client_message_has_a_pinned_shape_and_round_trips() {
    let examples = client_examples();
    assert_eq!(examples.len(), CLIENT_MESSAGE_TYPES.len());
    for (message, expected) in examples {
        let text = encode_client(&message);
        let actual: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(actual, expected, "shape of {}", message.kind());
        assert_eq!(decode_client(&text).unwrap(), message);
        assert!(CLIENT_MESSAGE_TYPES.contains(&message.kind()));
    }
}

#[test]
fn every_server_message_has_a_pinned_shape_and_round_trips() {
    for (message, expected) in server_examples() {
        let text = encode_server(&message);
        let actual: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(actual, expected);
        assert_eq!(decode_server(&text).unwrap(), message);
    }
}

#[test]
fn every_error_code_round_trips_as_its_stable_string() {
    for (i, code) in ErrorCode::ALL.into_iter().enumerate() {
        let text = serde_json::to_string(&code).unwrap();
        assert_eq!(text, format!("\"{}\"", code.as_str()));
        assert_eq!(serde_json::from_str::<ErrorCode>(&text).unwrap(), code);
        assert_eq!(code.index(), i, "ALL lists {code} in declaration order");
    }
    let wire: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        wire,
        [
            "malformed_json",
            "invalid_message",
            "unknown_type",
            "message_too_large",
            "binary_not_supported",
            "unsupported_version",
            "invalid_name",
            "invalid_room",
            "not_joined",
            "already_joined",
            "room_full",
            "peer_not_found",
            "shutting_down",
            "rate_limited",
            "too_many_rooms",
            "token_required",
            "token_invalid",
            "token_expired",
            "peer_away",
        ]
    );
}

#[test]
fn join_with_a_token_has_a_pinned_shape_and_round_trips() {
    let message = ClientMessage::Join {
        version: 1,
        name: "Ada".into(),
        room: "team".into(),
        token: Some("v1.1767225600.q2-Pj7d3mD5bY0x3VqJzQk1aCkq7Y0f0S4mV8tN2cE8".into()),
        resume: None,
    };
    let expected = json!({"type": "join", "version": 1, "name": "Ada", "room": "team",
                          "token": "v1.1767225600.q2-Pj7d3mD5bY0x3VqJzQk1aCkq7Y0f0S4mV8tN2cE8"});
    let text = encode_client(&message);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        expected
    );
    assert_eq!(decode_client(&text).unwrap(), message);
}

#[test]
fn join_with_a_resume_token_has_a_pinned_shape_and_round_trips() {
    let message = ClientMessage::Join {
        version: 1,
        name: "Ada".into(),
        room: "lobby".into(),
        token: None,
        resume: Some(
            "r1.1767225600.9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b.Kp1m3b7Jq0o4fSg8nY2xZ5Ww6tR9vC1eD3hL7aQ0uE4".into(),
        ),
    };
    let expected = json!({"type": "join", "version": 1, "name": "Ada", "room": "lobby",
                          "resume": "r1.1767225600.9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b.Kp1m3b7Jq0o4fSg8nY2xZ5Ww6tR9vC1eD3hL7aQ0uE4"});
    let text = encode_client(&message);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        expected
    );
    assert_eq!(decode_client(&text).unwrap(), message);
}

#[test]
fn welcome_with_resume_and_resumed_has_a_pinned_shape_and_round_trips() {
    let resume = "r1.1767225600.9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b.Kp1m3b7Jq0o4fSg8nY2xZ5Ww6tR9vC1eD3hL7aQ0uE4";
    let welcome = |resumed| ServerMessage::Welcome {
        version: 1,
        peer_id: PeerId::from("9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b"),
        room: "lobby".into(),
        name: "Grace".into(),
        members: vec![],
        ice_servers: vec![],
        limits: RoomLimits {
            max_peers: 8,
            max_message_bytes: 65536,
        },
        keepalive: KeepAlive {
            interval_ms: 15000,
            timeout_ms: 45000,
        },
        resume: Some(resume.into()),
        resumed,
    };
    let fresh = json!({"type": "welcome", "version": 1, "peer_id": "9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b",
                       "room": "lobby", "name": "Grace", "members": [], "ice_servers": [],
                       "limits": {"max_peers": 8, "max_message_bytes": 65536},
                       "keepalive": {"interval_ms": 15000, "timeout_ms": 45000},
                       "resume": resume});
    let mut resumed = fresh.clone();
    resumed["resumed"] = json!(true);
    for (message, expected) in [(welcome(false), fresh), (welcome(true), resumed)] {
        let text = encode_server(&message);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            expected
        );
        assert_eq!(decode_server(&text).unwrap(), message);
    }
    // `resumed` defaults to false when absent, so a relay without resumption needs to send neither field.
    let text = r#"{"type":"welcome","version":1,"peer_id":"a","room":"r","name":"n","members":[],
                   "ice_servers":[],"limits":{"max_peers":8,"max_message_bytes":65536},
                   "keepalive":{"interval_ms":1,"timeout_ms":2}}"#;
    assert!(matches!(
        decode_server(text).unwrap(),
        ServerMessage::Welcome {
            resume: None,
            resumed: false,
            ..
        }
    ));
}

#[test]
fn ice_summary_json_is_pinned_and_tolerant() {
    let summary = IceSummary {
        stun: true,
        turn_udp: true,
        turn_tcp: true,
        turn_tls: false,
    };
    let pinned = json!({"stun": true, "turn_udp": true, "turn_tcp": true, "turn_tls": false});
    assert_eq!(serde_json::to_value(summary).unwrap(), pinned);
    assert_eq!(
        serde_json::from_value::<IceSummary>(pinned).unwrap(),
        summary
    );
    // A relay that reports less (or more) still parses: missing kinds are absent ones.
    assert_eq!(
        serde_json::from_value::<IceSummary>(json!({"stun": true, "turn_dtls": true})).unwrap(),
        IceSummary {
            stun: true,
            ..IceSummary::default()
        }
    );
}

#[test]
fn close_codes_are_stable() {
    use peerlab_protocol::close_code::*;
    assert_eq!(
        [
            GOING_AWAY,
            MESSAGE_TOO_BIG,
            KEEPALIVE_TIMEOUT,
            SLOW_CONSUMER,
            RATE_LIMITED,
            JOIN_TIMEOUT,
            REPLACED
        ],
        [1001, 1009, 4000, 4001, 4002, 4003, 4004]
    );
}

#[test]
fn signal_payload_text_is_forwarded_unchanged() {
    let text = r#"{"type":"signal","to":"abc","payload":{"sdp":"v=0\r\n","n":[1,2,3]}}"#;
    let ClientMessage::Signal { payload, .. } = decode_client(text).unwrap() else {
        panic!("not a signal");
    };
    assert_eq!(payload.as_json(), r#"{"sdp":"v=0\r\n","n":[1,2,3]}"#);
    let forwarded = encode_server(&ServerMessage::Signal {
        from: PeerId::from("xyz"),
        payload,
    });
    assert_eq!(
        forwarded,
        r#"{"type":"signal","from":"xyz","payload":{"sdp":"v=0\r\n","n":[1,2,3]}}"#
    );
    // The receiving side reads the same bytes back.
    let ServerMessage::Signal { payload, from } = decode_server(&forwarded).unwrap() else {
        panic!("not a signal");
    };
    assert_eq!(from, PeerId::from("xyz"));
    assert_eq!(payload.as_json(), r#"{"sdp":"v=0\r\n","n":[1,2,3]}"#);
}

#[test]
fn signals_decode_the_same_with_fields_in_any_order_and_extra_fields() {
    let texts = [
        r#"{"type":"signal","to":"p","payload":{"a":1}}"#,
        r#"{"payload":{"a":1},"to":"p","type":"signal"}"#,
        r#"{"to":"p","type":"signal","from":"forged","payload":{"a":1},"extra":[1]}"#,
    ];
    for text in texts {
        assert_eq!(
            decode_client(text).unwrap(),
            ClientMessage::Signal {
                to: PeerId::from("p"),
                payload: Payload::from_json(r#"{"a":1}"#).unwrap()
            },
            "{text}"
        );
    }
    // Without `to`, a signal is an invalid message, not a signal to nobody.
    assert_eq!(
        decode_client(r#"{"type":"signal","payload":{}}"#)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidMessage
    );
    assert_eq!(
        decode_client(r#"{"type":"signal","to":5,"payload":{}}"#)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidMessage
    );
}

#[test]
fn decode_errors_say_what_was_wrong() {
    fn code(text: &str) -> ErrorCode {
        decode_client(text).unwrap_err().code()
    }
    assert_eq!(code("{not json"), ErrorCode::MalformedJson);
    assert_eq!(code(""), ErrorCode::MalformedJson);
    assert_eq!(
        code(r#"{"type":"join","version":1"#),
        ErrorCode::MalformedJson
    );
    assert_eq!(code("[1,2]"), ErrorCode::InvalidMessage);
    assert_eq!(code("42"), ErrorCode::InvalidMessage);
    assert_eq!(code(r#"{"name":"Ada"}"#), ErrorCode::InvalidMessage);
    assert_eq!(code(r#"{"type":7}"#), ErrorCode::InvalidMessage);
    assert_eq!(code(r#"{"type":"dance"}"#), ErrorCode::UnknownType);
    assert_eq!(
        code(r#"{"type":"join","name":"Ada"}"#),
        ErrorCode::InvalidMessage
    );
    assert_eq!(
        code(r#"{"type":"signal","to":"a"}"#),
        ErrorCode::InvalidMessage
    );
    assert_eq!(
        code(r#"{"type":"ping","nonce":-1}"#),
        ErrorCode::InvalidMessage
    );

    let err = decode_client(r#"{"type":"dance"}"#).unwrap_err();
    assert_eq!(err, DecodeError::UnknownType("dance".into()));
    assert!(err.to_string().contains("known types are join"));
    let err = decode_client(r#"{"type":"join","name":"Ada"}"#).unwrap_err();
    assert!(err.to_string().contains("missing field"), "{err}");
}
