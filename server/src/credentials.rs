//! Signed, expiring secrets the relay hands out or checks: join tokens for protected rooms, and time-limited
//! TURN credentials in the coturn REST API form.
//!
//! Both are HMACs over a short text with a secret only the relay (and, for TURN, the TURN server) knows, so
//! the relay keeps no list of issued tokens and nothing to revoke: a token is valid exactly until its expiry
//! time. Every function takes the current time as an argument; this module reads no clock and does no I/O.
//!
//! # Join token
//! `v1.<expiry>.<signature>`, where `expiry` is a Unix time in seconds and `signature` is
//! base64url (no padding) of HMAC-SHA256(secret, `peerlab-join-v1|<room>|<expiry>`). A token is bound to one
//! room: it does not open another. Room names cannot contain `|`, so the signed text is unambiguous.
//!
//! # Resume token
//! `r1.<issued>.<peer id>.<signature>`, where `issued` is the Unix time in milliseconds of the `welcome` that
//! carried it and `signature` is base64url (no padding) of HMAC-SHA256(key,
//! `peerlab-resume-r1|<room>|<peer id>|<issued>`). It proves that the relay (or a relay with the same key)
//! gave this peer id to the bearer in this room; what the relay then does with it is `crate::session`'s
//! business. Peer ids are 32 hex digits and room names cannot contain `|`, so the signed text is unambiguous.
//!
//! # TURN credentials (coturn `use-auth-secret`)
//! username `<expiry>:<peer id>`, credential base64 (standard, padded) of HMAC-SHA1(secret, username).

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use peerlab_protocol::{ErrorCode, PeerId};
use sha1::Sha1;
use sha2::Sha256;

/// The version prefix of join tokens; a later format gets a new prefix instead of a new meaning.
const TOKEN_VERSION: &str = "v1";

/// Why a join token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("room {room:?} is protected: open it with the link that has its token (…?token=…)")]
    Missing { room: String },
    #[error("the join token is not valid for room {room:?}; ask for a new room link")]
    Invalid { room: String },
    #[error("the join token for room {room:?} expired; ask for a new room link")]
    Expired { room: String },
}

impl TokenError {
    /// The error code the relay answers this with.
    pub fn code(&self) -> ErrorCode {
        match self {
            TokenError::Missing { .. } => ErrorCode::TokenRequired,
            TokenError::Invalid { .. } => ErrorCode::TokenInvalid,
            TokenError::Expired { .. } => ErrorCode::TokenExpired,
        }
    }
}

fn join_mac(secret: &[u8], room: &str, expiry: u64) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(format!("peerlab-join-{TOKEN_VERSION}|{room}|{expiry}").as_bytes());
    mac
}

/// A join token for `room` that expires at `expiry` (Unix seconds).
pub fn mint_join_token(secret: &[u8], room: &str, expiry: u64) -> String {
    let signature = URL_SAFE_NO_PAD.encode(join_mac(secret, room, expiry).finalize().into_bytes());
    format!("{TOKEN_VERSION}.{expiry}.{signature}")
}

/// Checks `token` for `room` at time `now` (Unix seconds). The signature is checked first (in constant
/// time), so "expired" is only ever said of a token the relay really issued.
pub fn verify_join_token(
    secret: &[u8],
    room: &str,
    token: Option<&str>,
    now: u64,
) -> Result<(), TokenError> {
    let Some(token) = token else {
        return Err(TokenError::Missing { room: room.into() });
    };
    let invalid = || TokenError::Invalid { room: room.into() };
    let mut parts = token.splitn(3, '.');
    let (Some(TOKEN_VERSION), Some(expiry), Some(signature)) =
        (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let expiry: u64 = expiry.parse().map_err(|_| invalid())?;
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| invalid())?;
    join_mac(secret, room, expiry)
        .verify_slice(&signature)
        .map_err(|_| invalid())?;
    if now >= expiry {
        return Err(TokenError::Expired { room: room.into() });
    }
    Ok(())
}

/// The version prefix of resume tokens.
const RESUME_VERSION: &str = "r1";

/// How old a resume token may be when it brings a peer id back after a relay restart (24 hours). Within
/// one relay process the token counts only while its id is still in the room, so it needs no age limit.
pub const RESUME_RESTART_MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;

/// What a genuine resume token says: which peer id it was issued for, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResumeClaim {
    pub id: PeerId,
    /// Unix seconds of the `welcome` that carried the token.
    pub issued: u64,
}

/// Why a resume token was not accepted. Never sent to the client: it just gets a fresh peer id.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResumeTokenError {
    #[error("the resume token is not of the form r1.<issued>.<peer id>.<signature>")]
    Malformed,
    #[error("the resume token was signed with another key or for another room")]
    Forged,
}

fn resume_mac(key: &[u8], room: &str, id: &str, issued: u64) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(format!("peerlab-resume-{RESUME_VERSION}|{room}|{id}|{issued}").as_bytes());
    mac
}

/// Whether `id` looks like a peer id the relay mints: 32 lower-case hex digits.
fn is_peer_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The resume token for peer `id` in `room`, issued at `issued` (Unix seconds).
pub fn mint_resume_token(key: &[u8], room: &str, id: &PeerId, issued: u64) -> String {
    let signature = URL_SAFE_NO_PAD.encode(
        resume_mac(key, room, id.as_str(), issued)
            .finalize()
            .into_bytes(),
    );
    format!("{RESUME_VERSION}.{issued}.{id}.{signature}")
}

/// Checks a resume token for `room` (the signature in constant time) and returns what it claims.
pub fn verify_resume_token(
    key: &[u8],
    room: &str,
    token: &str,
) -> Result<ResumeClaim, ResumeTokenError> {
    let mut parts = token.splitn(4, '.');
    let (Some(RESUME_VERSION), Some(issued), Some(id), Some(signature)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ResumeTokenError::Malformed);
    };
    // `parse` alone would accept a leading `+`, which would give one token two spellings.
    if !issued.bytes().all(|b| b.is_ascii_digit()) || !is_peer_id(id) {
        return Err(ResumeTokenError::Malformed);
    }
    let issued: u64 = issued.parse().map_err(|_| ResumeTokenError::Malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| ResumeTokenError::Malformed)?;
    resume_mac(key, room, id, issued)
        .verify_slice(&signature)
        .map_err(|_| ResumeTokenError::Forged)?;
    Ok(ResumeClaim {
        id: PeerId(id.to_owned()),
        issued,
    })
}

/// Whether a genuine token whose id is in no room of this relay may bring that id back: only when it was
/// issued before this relay process started (`started`, Unix milliseconds), so by an earlier process, and is at
/// most [`RESUME_RESTART_MAX_AGE_MS`] old at `now`. An id that left this same process stays gone.
pub fn resume_survives_restart(claim: &ResumeClaim, started: u64, now: u64) -> bool {
    claim.issued < started && now.saturating_sub(claim.issued) <= RESUME_RESTART_MAX_AGE_MS
}

/// TURN credentials for one client: the coturn REST API's `(username, credential)` pair.
pub fn turn_credentials(secret: &[u8], peer: &str, expiry: u64) -> (String, String) {
    let username = format!("{expiry}:{peer}");
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC accepts any key length");
    mac.update(username.as_bytes());
    let credential = STANDARD.encode(mac.finalize().into_bytes());
    (username, credential)
}

/// Parses a lifetime such as `90s`, `30m`, `1h`, `7d`, or a plain number of seconds.
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a lifetime; write e.g. 90s, 30m, 1h or 7d"))?;
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}; use s, m, h or d"
            ))
        }
    };
    match number.checked_mul(scale) {
        Some(0) | None => Err(format!("{text:?} must be at least one second and finite")),
        Some(secs) => Ok(Duration::from_secs(secs)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"north-wind";

    #[test]
    fn turn_credential_matches_an_independently_computed_vector() {
        // Computed with Python's standard library, not with this code:
        //   u = '1767229200:9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b'
        //   base64.b64encode(hmac.new(b'north-wind', u.encode(), hashlib.sha1).digest())
        let (username, credential) =
            turn_credentials(SECRET, "9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b", 1_767_229_200);
        assert_eq!(username, "1767229200:9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b");
        assert_eq!(credential, "7sV/Qd9ZyhHfRhBVmfBFsKS4sco=");
    }

    #[test]
    fn join_token_matches_an_independently_computed_vector() {
        // base64.urlsafe_b64encode(hmac.new(b'north-wind', b'peerlab-join-v1|team|1767225600',
        //                                   hashlib.sha256).digest()).rstrip(b'=')
        assert_eq!(
            mint_join_token(SECRET, "team", 1_767_225_600),
            "v1.1767225600.mTI1e68aSrmxC_geH4bLwcOisPx070MQNof7bNKp_Tg"
        );
    }

    #[test]
    fn missing_invalid_and_expired_tokens_are_told_apart() {
        let token = mint_join_token(SECRET, "team", 1_000);
        let check = |room: &str, token: Option<&str>, now| {
            verify_join_token(SECRET, room, token, now).map_err(|e| e.code())
        };
        assert_eq!(check("team", Some(&token), 999), Ok(()));
        assert_eq!(check("team", None, 999), Err(ErrorCode::TokenRequired));
        assert_eq!(
            check("team", Some(&token), 1_000),
            Err(ErrorCode::TokenExpired)
        );
        assert_eq!(
            check("other", Some(&token), 999),
            Err(ErrorCode::TokenInvalid)
        );
        let other_secret = mint_join_token(b"south-wind", "team", 1_000);
        assert_eq!(
            check("team", Some(&other_secret), 999),
            Err(ErrorCode::TokenInvalid)
        );
        // A later expiry with the old signature is a forgery, not an unexpired token.
        let extended = token.replacen("1000", "9999", 1);
        assert_eq!(
            check("team", Some(&extended), 999),
            Err(ErrorCode::TokenInvalid)
        );
        for junk in [
            "",
            "v1",
            "v1.x.y",
            "v2.1000.abc",
            "v1.1000.!!!",
            "v1.-1.abc",
        ] {
            assert_eq!(
                check("team", Some(junk), 0),
                Err(ErrorCode::TokenInvalid),
                "{junk:?}"
            );
        }
    }

    const ID: &str = "9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b";

    #[test]
    fn resume_token_matches_an_independently_computed_vector() {
        // base64.urlsafe_b64encode(hmac.new(b'north-wind',
        //     b'peerlab-resume-r1|team|9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b|1767225600',
        //     hashlib.sha256).digest()).rstrip(b'=')
        let token = mint_resume_token(SECRET, "team", &PeerId::from(ID), 1_767_225_600);
        assert_eq!(
            token,
            "r1.1767225600.9f2c4e1ab7d04c3e8a1b2c3d4e5f6a7b.C3MUIUVh7_OAWKTEqtdsjo2iY4Se4CzQK72djreJU_I"
        );
        assert_eq!(
            verify_resume_token(SECRET, "team", &token),
            Ok(ResumeClaim {
                id: PeerId::from(ID),
                issued: 1_767_225_600
            })
        );
    }

    #[test]
    fn forged_altered_and_malformed_resume_tokens_are_refused() {
        let token = mint_resume_token(SECRET, "team", &PeerId::from(ID), 1_000);
        assert_eq!(
            verify_resume_token(SECRET, "other", &token),
            Err(ResumeTokenError::Forged),
            "bound to its room"
        );
        assert_eq!(
            verify_resume_token(b"south-wind", "team", &token),
            Err(ResumeTokenError::Forged),
            "bound to its key"
        );
        let other_id = token.replacen(ID, "00000000000000000000000000000000", 1);
        assert_eq!(
            verify_resume_token(SECRET, "team", &other_id),
            Err(ResumeTokenError::Forged),
            "bound to its peer id"
        );
        let older = token.replacen("1000", "1001", 1);
        assert_eq!(
            verify_resume_token(SECRET, "team", &older),
            Err(ResumeTokenError::Forged),
            "bound to its issue time"
        );
        let signature = token.rsplit('.').next().unwrap();
        for junk in [
            String::new(),
            "r1".into(),
            "r1.1000".into(),
            format!("r1.1000.{ID}"),
            format!("r2.1000.{ID}.{signature}"),
            format!("r1.+1000.{ID}.{signature}"),
            format!("r1.-1.{ID}.{signature}"),
            format!("r1.99999999999999999999999.{ID}.{signature}"),
            format!("r1.1000.{}.{signature}", ID.to_uppercase()),
            format!("r1.1000.{}.{signature}", &ID[1..]),
            format!("r1.1000.{ID}.!!!"),
            format!("r1.1000.{ID}.{signature}.extra"),
            token.replacen("r1", "v1", 1),
        ] {
            assert!(
                verify_resume_token(SECRET, "team", &junk).is_err(),
                "{junk:?}"
            );
        }
        assert_eq!(
            verify_resume_token(SECRET, "team", "r1.1000.x.y"),
            Err(ResumeTokenError::Malformed)
        );
    }

    #[test]
    fn only_tokens_of_an_earlier_process_younger_than_a_day_survive_a_restart() {
        let claim = |issued| ResumeClaim {
            id: PeerId::from(ID),
            issued,
        };
        let started = 10_000;
        let day = RESUME_RESTART_MAX_AGE_MS;
        // Issued by the process before this one, then the client came back.
        assert!(resume_survives_restart(&claim(9_999), started, 10_005));
        assert!(resume_survives_restart(&claim(9_999), started, 9_999 + day));
        assert!(!resume_survives_restart(
            &claim(9_999),
            started,
            10_000 + day
        ));
        // Issued by this process: its id left here, so it stays gone.
        assert!(!resume_survives_restart(&claim(10_000), started, 10_005));
        assert!(!resume_survives_restart(&claim(12_000), started, 12_005));
        // A clock that went backwards does not underflow.
        assert!(resume_survives_restart(&claim(9_000), started, 8_000));
    }

    #[test]
    fn lifetimes_parse_with_units_and_refuse_nonsense() {
        assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1_800)));
        assert_eq!(parse_ttl("1h"), Ok(Duration::from_secs(3_600)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_ttl("45"), Ok(Duration::from_secs(45)));
        for bad in ["", "0s", "1w", "h", "-1h", "99999999999999999999d"] {
            assert!(parse_ttl(bad).is_err(), "{bad:?}");
        }
    }
}
