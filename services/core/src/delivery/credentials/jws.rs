//! The compact JWS of a VC-JWT (RFC 7515 with EdDSA, RFC 8037), as Open Badges 3.0's "JSON Web
//! Token Proof Format" lays it out: a header naming the key by the URL that serves it, the
//! credential with its registered claims as the payload. Written here rather than with a JWT
//! crate because it is three base64url segments and one Ed25519 signature, and what the crates
//! add (key formats, algorithm negotiation) is what a verifier must not be talked into; the tests
//! verify what this signs with an independent implementation.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The JOSE header: only what Open Badges 3.0 allows (`alg`, `kid`, `typ`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub alg: String,
    pub kid: String,
    pub typ: String,
}

/// The one algorithm this service signs with and accepts.
pub const ALGORITHM: &str = "EdDSA";

/// Signs `payload` with `key`, named `kid` in the header.
pub fn sign(key: &SigningKey, kid: &str, payload: &Value) -> String {
    let header = Header {
        alg: ALGORITHM.into(),
        kid: kid.into(),
        typ: "JWT".into(),
    };
    let header = serde_json::to_vec(&header).expect("a header serialises");
    let payload = serde_json::to_vec(payload).expect("a JSON value serialises");
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = key.sign(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    )
}

/// A compact JWS split and decoded, not yet verified.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    pub header: Header,
    pub payload: Value,
    signing_input: &'a str,
    signature: Signature,
}

/// Why a compact JWS is not one this service could have signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Segments,
    Encoding,
    Header,
    Payload,
    Algorithm,
}

/// Splits and decodes `compact`; nothing is trusted until `verify`.
pub fn parse(compact: &str) -> Result<Parsed<'_>, Malformed> {
    let mut parts = compact.trim().split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Malformed::Segments);
    };
    let decode = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| Malformed::Encoding)
    };
    let header: Header = serde_json::from_slice(&decode(header)?).map_err(|_| Malformed::Header)?;
    if header.alg != ALGORITHM {
        return Err(Malformed::Algorithm);
    }
    let payload: Value =
        serde_json::from_slice(&decode(payload)?).map_err(|_| Malformed::Payload)?;
    if !payload.is_object() {
        return Err(Malformed::Payload);
    }
    let signature: [u8; 64] = decode(signature)?
        .try_into()
        .map_err(|_| Malformed::Encoding)?;
    let trimmed = compact.trim();
    let signing_input = &trimmed[..trimmed.rfind('.').expect("three segments")];
    Ok(Parsed {
        header,
        payload,
        signing_input,
        signature: Signature::from_bytes(&signature),
    })
}

impl Parsed<'_> {
    /// Whether `key` made the signature (strict: no malleable or small-order forms).
    pub fn verifies_with(&self, key: &VerifyingKey) -> bool {
        key.verify_strict(self.signing_input.as_bytes(), &self.signature)
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn what_is_signed_verifies_with_its_key_only() {
        let compact = sign(&key(1), "https://example.test/k/1", &json!({ "a": 1 }));
        let parsed = parse(&compact).expect("well formed");
        assert_eq!(parsed.header.kid, "https://example.test/k/1");
        assert_eq!(parsed.payload, json!({ "a": 1 }));
        assert!(parsed.verifies_with(&key(1).verifying_key()));
        assert!(!parsed.verifies_with(&key(2).verifying_key()));
    }

    #[test]
    fn a_changed_payload_or_header_no_longer_verifies() {
        let compact = sign(&key(1), "k", &json!({ "name": "Alice" }));
        let parts: Vec<&str> = compact.split('.').collect();
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"name":"Bob"}"#);
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert!(
            !parse(&forged)
                .expect("well formed")
                .verifies_with(&key(1).verifying_key())
        );
        let other_kid = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"x","typ":"JWT"}"#);
        let forged = format!("{other_kid}.{}.{}", parts[1], parts[2]);
        assert!(
            !parse(&forged)
                .expect("well formed")
                .verifies_with(&key(1).verifying_key())
        );
    }

    #[test]
    fn other_algorithms_and_shapes_are_refused_before_any_key_is_looked_up() {
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD.encode(b"{}");
        assert_eq!(
            parse(&format!("{none}.{body}.")).unwrap_err(),
            Malformed::Algorithm
        );
        assert_eq!(parse("a.b").unwrap_err(), Malformed::Segments);
        assert_eq!(parse("a.b.c.d").unwrap_err(), Malformed::Segments);
        let extra = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k","typ":"JWT","jku":"x"}"#);
        assert_eq!(
            parse(&format!("{extra}.{body}.AA")).unwrap_err(),
            Malformed::Header
        );
    }
}
