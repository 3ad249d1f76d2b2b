//! Names for private, throwaway rooms: the network check and the guide's live relay log join one of
//! their own, so they are members (and get what only members get, such as TURN credentials) without
//! meeting anybody.
//!
//! The name is a purpose and 64 random bits. Nobody is meant to find the room, but nothing depends on
//! that either: a stranger who joined it would meet a page that answers no signal. Pure except
//! [`random_private_room`], which reads `Math.random`.

/// `<purpose>-<16 hex digits>`: a valid room name for any purpose of up to 47 letters, digits and `-`.
pub fn private_room_name(purpose: &str, bits: u64) -> String {
    format!("{purpose}-{bits:016x}")
}

/// A fresh private room name for `purpose`.
pub fn random_private_room(purpose: &str) -> String {
    // Two draws of 32 bits each: `Math.random` gives at least that many good bits per draw.
    let draw = || (js_sys::Math::random() * 4_294_967_296.0) as u64;
    private_room_name(purpose, (draw() << 32) | draw())
}

#[cfg(test)]
mod tests {
    use super::*;
    use peerlab_protocol::validate_room;

    #[test]
    fn private_room_names_are_valid_room_names_and_differ_by_their_bits() {
        for purpose in ["network-check", "learn"] {
            for bits in [0, 1, u64::MAX] {
                let name = private_room_name(purpose, bits);
                assert_eq!(validate_room(&name), Ok(name.clone()));
                assert!(name.starts_with(purpose));
            }
        }
        assert_eq!(private_room_name("learn", 0xab), "learn-00000000000000ab");
        assert_ne!(private_room_name("learn", 1), private_room_name("learn", 2));
    }
}
