//! Voucher references such as `LOT-7K3F-9QX2-M`: the tenant's prefix, eight random characters and
//! a check character.
//!
//! The alphabet has 31 symbols, without 0/O and 1/I/L which people confuse when reading a printed
//! letter aloud. 31 is prime, so the check character — the position-weighted sum of the eight
//! characters modulo 31, with weights 1 to 8 — changes whenever one character is replaced (each
//! weight is invertible modulo 31) or two neighbours are swapped (neighbouring weights differ).
//! 31⁸ ≈ 8.5 × 10¹¹ references per tenant: random, not sequential, so they cannot be guessed.

use rand::Rng;

pub const ALPHABET: &[u8; 31] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
const BODY_LEN: usize = 8;

fn value(c: u8) -> Option<u32> {
    ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)
}

fn check_char(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .enumerate()
        .map(|(i, &c)| (i as u32 + 1) * value(c).unwrap_or(0))
        .sum();
    ALPHABET[(sum % 31) as usize]
}

/// A new random reference for a tenant prefix.
pub fn generate(prefix: &str) -> String {
    let mut rng = rand::rng();
    let body: Vec<u8> = (0..BODY_LEN)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
        .collect();
    format(prefix, &body)
}

fn format(prefix: &str, body: &[u8]) -> String {
    let body = std::str::from_utf8(body).unwrap_or_default();
    format!(
        "{prefix}-{}-{}-{}",
        &body[..4],
        &body[4..],
        check_char(body.as_bytes()) as char
    )
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("a reference looks like LOT-7K3F-9QX2-M: a prefix, 8 characters and a check character")]
    Shape,
    #[error(
        "`{0}` is never used in references (they have no 0, O, 1, I or L): check that character"
    )]
    Character(char),
    #[error(
        "the check character does not match: a character was probably mistyped or two were swapped"
    )]
    Check,
}

/// Reads a reference as a person might type it: any case, spaces or dashes anywhere.
/// Returns the canonical form and its prefix.
pub fn parse(input: &str) -> Result<(String, String), ReferenceError> {
    let cleaned: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !cleaned.is_ascii() || cleaned.len() < BODY_LEN + 1 + 2 {
        return Err(ReferenceError::Shape);
    }
    let split = cleaned.len() - BODY_LEN - 1;
    let (prefix, rest) = cleaned.split_at(split);
    if !(2..=5).contains(&prefix.len()) || !prefix.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ReferenceError::Shape);
    }
    if let Some(bad) = rest.bytes().find(|b| value(*b).is_none()) {
        return Err(ReferenceError::Character(bad as char));
    }
    let (body, check) = rest.as_bytes().split_at(BODY_LEN);
    if check_char(body) != check[0] {
        return Err(ReferenceError::Check);
    }
    Ok((format(prefix, body), prefix.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_references_parse_back_and_differ() {
        let a = generate("LOT");
        let b = generate("LOT");
        assert_ne!(a, b);
        assert_eq!(a.len(), "LOT-7K3F-9QX2-M".len());
        assert_eq!(parse(&a).expect("valid"), (a.clone(), "LOT".to_owned()));
        assert_eq!(
            parse(&a.to_lowercase().replace('-', " "))
                .expect("typed loosely")
                .0,
            a
        );
    }

    #[test]
    fn every_single_substitution_and_adjacent_swap_is_caught() {
        for _ in 0..200 {
            let reference = generate("ARA");
            let chars: Vec<char> = reference.chars().collect();
            // Positions of the nine checked characters (eight of the body and the check itself).
            let positions: Vec<usize> = chars
                .iter()
                .enumerate()
                .skip(4)
                .filter(|(_, c)| **c != '-')
                .map(|(i, _)| i)
                .collect();
            assert_eq!(positions.len(), 9);
            for &i in &positions {
                for &replacement in ALPHABET {
                    if replacement as char == chars[i] {
                        continue;
                    }
                    let mut typo = chars.clone();
                    typo[i] = replacement as char;
                    let typo: String = typo.into_iter().collect();
                    assert!(
                        parse(&typo).is_err(),
                        "{typo} (from {reference}) was accepted"
                    );
                }
            }
            for pair in positions.windows(2) {
                let (i, j) = (pair[0], pair[1]);
                if chars[i] == chars[j] {
                    continue;
                }
                let mut swapped = chars.clone();
                swapped.swap(i, j);
                let swapped: String = swapped.into_iter().collect();
                assert_eq!(
                    parse(&swapped),
                    Err(ReferenceError::Check),
                    "{swapped} (from {reference})"
                );
            }
        }
    }

    #[test]
    fn confusable_characters_are_named() {
        assert_eq!(
            parse("LOT-7K3F-9QX0-M"),
            Err(ReferenceError::Character('0'))
        );
        assert_eq!(parse("LOT-7K3F"), Err(ReferenceError::Shape));
    }
}

/// Properties over any input a person can type (proptest): `parse` never panics, and the check
/// character catches every single mistyped character and every swap of two neighbours.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn compact(reference: &str) -> Vec<u8> {
        reference.bytes().filter(|b| *b != b'-').collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn parse_never_panics(input in any::<String>()) {
            let _ = parse(&input);
        }

        #[test]
        fn a_reference_typed_loosely_reads_back(prefix in "[A-Z]{2,5}", lower in any::<bool>(), spaced in any::<bool>()) {
            let reference = generate(&prefix);
            let mut typed = if lower { reference.to_lowercase() } else { reference.clone() };
            if spaced {
                typed = typed.replace('-', " ");
            }
            prop_assert_eq!(parse(&typed), Ok((reference, prefix)));
        }

        #[test]
        fn one_mistyped_character_is_always_caught(prefix in "[A-Z]{2,5}", at in 0usize..=BODY_LEN, with in 0usize..31) {
            let mut typed = compact(&generate(&prefix));
            let at = prefix.len() + at;
            prop_assume!(typed[at] != ALPHABET[with]);
            typed[at] = ALPHABET[with];
            prop_assert!(parse(std::str::from_utf8(&typed).unwrap()).is_err());
        }

        #[test]
        fn two_swapped_neighbours_are_always_caught(prefix in "[A-Z]{2,5}", at in 0usize..BODY_LEN - 1) {
            let mut typed = compact(&generate(&prefix));
            let at = prefix.len() + at;
            prop_assume!(typed[at] != typed[at + 1]);
            typed.swap(at, at + 1);
            prop_assert!(parse(std::str::from_utf8(&typed).unwrap()).is_err());
        }
    }
}
