//! The W3C Bitstring Status List (v1.0) a territory publishes for its credentials' revocation:
//! one bit per credential, set when revoked, GZIP-compressed and multibase-encoded (base64url,
//! prefix `u`). A list holds the specification's minimum of 131,072 entries (16 KiB), so that
//! one bit tells a verifier nothing about which holder it looked up.

use std::io::{Read, Write};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Entries in one list.
pub const LIST_SIZE: u32 = 131_072;

/// A credential's place: which list, which bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub list: u32,
    pub bit: u32,
}

impl Position {
    /// Where the credential with this index lives: lists follow one another.
    pub fn of(status_index: u32) -> Self {
        Self {
            list: status_index / LIST_SIZE,
            bit: status_index % LIST_SIZE,
        }
    }
}

/// The `encodedList` of a list whose `revoked` bits (positions within it) are set.
pub fn encode(revoked: impl IntoIterator<Item = u32>) -> String {
    let mut bits = vec![0u8; (LIST_SIZE / 8) as usize];
    for bit in revoked {
        if bit < LIST_SIZE {
            // The first index is the left-most bit of the first byte.
            bits[(bit / 8) as usize] |= 0x80 >> (bit % 8);
        }
    }
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(&bits).expect("writing to memory");
    let compressed = gzip.finish().expect("writing to memory");
    format!("u{}", URL_SAFE_NO_PAD.encode(compressed))
}

/// Whether `bit` is set in an `encodedList`; `None` when the list cannot be read (or would
/// inflate past the size of a list: a hostile list is not decompressed whole).
pub fn is_set(encoded: &str, bit: u32) -> Option<bool> {
    let compressed = URL_SAFE_NO_PAD.decode(encoded.strip_prefix('u')?).ok()?;
    let mut bits = Vec::new();
    GzDecoder::new(compressed.as_slice())
        .take(u64::from(LIST_SIZE) * 8)
        .read_to_end(&mut bits)
        .ok()?;
    let byte = bits.get((bit / 8) as usize)?;
    Some(byte & (0x80 >> (bit % 8)) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bits_set_are_read_back_and_no_other() {
        let encoded = encode([0, 7, 94_567, LIST_SIZE - 1]);
        assert!(encoded.starts_with('u'));
        for bit in [0, 7, 94_567, LIST_SIZE - 1] {
            assert_eq!(is_set(&encoded, bit), Some(true), "bit {bit}");
        }
        for bit in [1, 6, 8, 94_566, 94_568, LIST_SIZE - 2] {
            assert_eq!(is_set(&encoded, bit), Some(false), "bit {bit}");
        }
    }

    #[test]
    fn the_left_most_bit_of_the_first_byte_is_index_zero() {
        let encoded = encode([0]);
        let compressed = URL_SAFE_NO_PAD.decode(&encoded[1..]).unwrap();
        let mut bits = Vec::new();
        GzDecoder::new(compressed.as_slice())
            .read_to_end(&mut bits)
            .unwrap();
        assert_eq!(bits.len(), 16_384);
        assert_eq!(bits[0], 0b1000_0000);
    }

    #[test]
    fn an_unreadable_list_says_so() {
        assert_eq!(is_set("zabc", 0), None);
        assert_eq!(is_set("u!!", 0), None);
        assert_eq!(is_set(&encode([]), LIST_SIZE), None);
    }

    #[test]
    fn positions_follow_one_list_after_the_other() {
        assert_eq!(Position::of(5), Position { list: 0, bit: 5 });
        assert_eq!(Position::of(LIST_SIZE + 3), Position { list: 1, bit: 3 });
    }
}
