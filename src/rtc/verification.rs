//! Call verification: a short code derived from the DTLS certificate fingerprints in the two session
//! descriptions of a call, so two people can read it to each other and notice a relay that rewrote the SDP
//! to put itself in the middle (it would have to change at least one fingerprint, and with it the code).
//!
//! Both sides compute the same code: the two fingerprints are put in a fixed order before hashing, so it does
//! not matter which side offered. Pure: no `web_sys`, no clock; the views show what this returns.

use sha2::{Digest, Sha256};

/// Why no code could be derived.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerificationError {
    #[error("the {0} description has no DTLS fingerprint yet; the code appears once both descriptions are set")]
    NoFingerprint(&'static str),
}

/// The first `a=fingerprint:` line of an SDP, normalised (hash name lower case, hex upper case).
pub fn dtls_fingerprint(sdp: &str) -> Option<String> {
    sdp.lines().find_map(|line| {
        let value = line.trim().strip_prefix("a=fingerprint:")?;
        let (hash, hex) = value.split_once(' ')?;
        Some(format!(
            "{} {}",
            hash.trim().to_ascii_lowercase(),
            hex.trim().to_ascii_uppercase()
        ))
    })
}

/// The six-digit code for a call whose two descriptions are `local` and `remote`, as "123 456".
pub fn short_authentication_string(local: &str, remote: &str) -> Result<String, VerificationError> {
    let a = dtls_fingerprint(local).ok_or(VerificationError::NoFingerprint("local"))?;
    let b = dtls_fingerprint(remote).ok_or(VerificationError::NoFingerprint("remote"))?;
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::new()
        .chain_update(b"peerlab-sas-v1|")
        .chain_update(first.as_bytes())
        .chain_update(b"|")
        .chain_update(second.as_bytes())
        .finalize();
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % 1_000_000;
    Ok(format!("{:03} {:03}", n / 1000, n % 1000))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 4B:B5:7F:46:25:D4:7E:01:2F:C8:88:89:75:F4:EF:EB:51:B1:B5:2D:F8:C3:EB:DB:DB:14:C0:A2:48:60:9B:4F\r\na=setup:actpass\r\n";
    const BOB: &str = "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=fingerprint:sha-256 0A:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF\r\na=setup:active\r\n";

    #[test]
    fn both_sides_compute_the_same_code() {
        let at_alice = short_authentication_string(ALICE, BOB).unwrap();
        let at_bob = short_authentication_string(BOB, ALICE).unwrap();
        assert_eq!(at_alice, at_bob);
        assert_eq!(at_alice.len(), 7);
        assert!(at_alice.chars().all(|c| c.is_ascii_digit() || c == ' '));
    }

    #[test]
    fn a_changed_fingerprint_changes_the_code() {
        let honest = short_authentication_string(ALICE, BOB).unwrap();
        let rewritten = BOB.replace("0A:11", "0A:12");
        assert_ne!(
            short_authentication_string(ALICE, &rewritten).unwrap(),
            honest
        );
    }

    #[test]
    fn fingerprints_are_normalised_and_required() {
        let lower = BOB.replace("sha-256 0A", "SHA-256 0a");
        assert_eq!(dtls_fingerprint(&lower), dtls_fingerprint(BOB));
        assert_eq!(
            short_authentication_string("v=0\r\n", BOB),
            Err(VerificationError::NoFingerprint("local"))
        );
        assert_eq!(
            short_authentication_string(ALICE, "v=0\r\n"),
            Err(VerificationError::NoFingerprint("remote"))
        );
    }
}
