//! Idempotency fingerprints: SHA-256 over a canonical rendering of a request's content.

use hex::FromHex;
use sha2::{Digest, Sha256};

/// The content fingerprint of a write request (docs/api.md §14.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub [u8; 32]);

impl Fingerprint {
    /// Fingerprint of a canonical rendering; parts are length-prefixed so that no two distinct
    /// part lists share a rendering.
    pub fn of(parts: &[&str]) -> Fingerprint {
        let mut hasher = Sha256::new();
        for part in parts {
            // An 8-byte length before each part makes the concatenation uniquely decodable.
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        Fingerprint(hasher.finalize().into())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses lower-case hex as written by [`Fingerprint::to_hex`].
    ///
    /// Upper-case digits are rejected so that every fingerprint has exactly one text form.
    pub fn from_hex(hex: &str) -> Option<Fingerprint> {
        if hex.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        <[u8; 32]>::from_hex(hex).ok().map(Fingerprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn part_boundaries_change_the_fingerprint() {
        assert_ne!(Fingerprint::of(&["ab", "c"]), Fingerprint::of(&["a", "bc"]));
        assert_ne!(Fingerprint::of(&["abc"]), Fingerprint::of(&["abc", ""]));
        assert_ne!(Fingerprint::of(&[]), Fingerprint::of(&[""]));
    }

    #[test]
    fn equal_parts_give_equal_fingerprints() {
        assert_eq!(
            Fingerprint::of(&["sale", "p1", "5"]),
            Fingerprint::of(&["sale", "p1", "5"])
        );
    }

    #[test]
    fn the_empty_list_hashes_nothing() {
        // SHA-256 of the empty input.
        let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(Fingerprint::of(&[]).to_hex(), empty);
    }

    #[test]
    fn hex_round_trips_and_rejects_other_forms() {
        let f = Fingerprint::of(&["count", "p1"]);
        let text = f.to_hex();
        assert_eq!(text.len(), 64);
        assert_eq!(Fingerprint::from_hex(&text), Some(f));
        assert_eq!(Fingerprint::from_hex(&text.to_uppercase()), None);
        assert_eq!(Fingerprint::from_hex(&text[..62]), None);
        assert_eq!(Fingerprint::from_hex(&format!("{text}00")), None);
        assert_eq!(Fingerprint::from_hex(&"zz".repeat(32)), None);
    }
}
