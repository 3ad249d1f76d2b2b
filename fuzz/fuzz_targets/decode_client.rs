//! Fuzzes the decoder the relay runs on every text frame a client sends. The same body runs on stable in
//! `protocol/tests/decode_fuzz.rs` over a fixed set of generated inputs; keep the two in step.

#![no_main]

use libfuzzer_sys::fuzz_target;
use peerlab_protocol::{decode_client, encode_client, ErrorCode};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match decode_client(text) {
        Ok(message) => {
            let again = decode_client(&encode_client(&message)).expect("re-encoded message decodes");
            assert_eq!(again, message);
        }
        Err(err) => assert!(matches!(
            err.code(),
            ErrorCode::MalformedJson | ErrorCode::InvalidMessage | ErrorCode::UnknownType
        )),
    }
});
