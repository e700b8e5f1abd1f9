//! JWTs seen from outside, with nothing of the services' code: reading one, checking its
//! signature against a published JWK, and making tokens the way a signer (or a forger) would,
//! to show what the services accept and what they refuse.

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_compact::{KeyPair, PublicKey, Seed, Signature};
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::db::Store;
use crate::host::{AppSpec, RunningApp};

/// A token's three parts, decoded.
pub struct Parts {
    pub header: Value,
    pub claims: Value,
    pub signed: String,
    pub signature: Vec<u8>,
}

pub fn parts(token: &str) -> Parts {
    let pieces: Vec<&str> = token.split('.').collect();
    assert_eq!(pieces.len(), 3, "not a compact JWS: {token}");
    let decode = |piece: &str| Base64UrlUnpadded::decode_vec(piece).expect("base64url");
    let json = |piece: &str| serde_json::from_slice::<Value>(&decode(piece)).expect("JSON");
    Parts {
        header: json(pieces[0]),
        claims: json(pieces[1]),
        signed: format!("{}.{}", pieces[0], pieces[1]),
        signature: decode(pieces[2]),
    }
}

/// Whether `token` carries a valid Ed25519 signature by the JWK `key` (`x`, base64url) over
/// its first two parts, whatever they hold.
pub fn signed_by(token: &str, key: &Value) -> bool {
    let x = Base64UrlUnpadded::decode_vec(key["x"].as_str().expect("x")).expect("base64url x");
    let Some((signed, signature)) = token.rsplit_once('.') else {
        return false;
    };
    let (Ok(public), Some(signature)) = (
        PublicKey::from_slice(&x),
        Base64UrlUnpadded::decode_vec(signature)
            .ok()
            .and_then(|bytes| Signature::from_slice(&bytes).ok()),
    ) else {
        return false;
    };
    public.verify(signed.as_bytes(), &signature).is_ok()
}

/// Something that signs: a key the user service holds (its seed, read from its database) or
/// one nobody published.
pub struct Signer {
    pair: KeyPair,
    pub kid: String,
}

impl Signer {
    pub fn from_seed(seed: &[u8], kid: &str) -> Self {
        Self {
            pair: KeyPair::from_seed(Seed::from_slice(seed).expect("a 32-byte seed")),
            kid: kid.to_owned(),
        }
    }

    /// A key no service knows, under a `kid` of its own.
    pub fn stranger() -> Self {
        Self::from_seed(&[7; 32], "nobody-published-this")
    }

    /// A token with exactly this header and these claims, signed with EdDSA.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let signed = format!("{}.{}", encode(header), encode(claims));
        let signature = self.pair.sk.sign(signed.as_bytes(), None);
        format!(
            "{signed}.{}",
            Base64UrlUnpadded::encode_string(signature.as_ref())
        )
    }

    /// The header a token of this key has.
    pub fn header(&self) -> Value {
        json!({ "alg": "EdDSA", "kid": self.kid })
    }
}

/// The claims of a token for `user_id` issued `iat`, valid until `exp` (Unix seconds).
pub fn claims(user_id: i64, name: &str, iat: i64, exp: i64) -> Value {
    json!({
        "iss": "user-service",
        "aud": "microservices-on-spin",
        "sub": user_id.to_string(),
        "name": name,
        "iat": iat,
        "exp": exp,
    })
}

/// An unsigned token (`alg: none`).
pub fn unsigned(header: &Value, claims: &Value) -> String {
    format!("{}.{}.", encode(header), encode(claims))
}

/// HS256 with `secret`: the algorithm confusion attack uses a public key as the secret.
pub fn hs256(header: &Value, claims: &Value, secret: &[u8]) -> String {
    let signed = format!("{}.{}", encode(header), encode(claims));
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("any key length");
    mac.update(signed.as_bytes());
    let tag = mac.finalize().into_bytes();
    format!("{signed}.{}", Base64UrlUnpadded::encode_string(&tag))
}

fn encode(value: &Value) -> String {
    Base64UrlUnpadded::encode_string(value.to_string().as_bytes())
}

/// The whole app, with signing keys that sign for 2 s each: a rotation is one sleep away.
pub fn app_rotating_keys_every_2_seconds() -> RunningApp {
    RunningApp::start(AppSpec {
        env: vec![(
            "SPIN_VARIABLE_SIGNING_KEY_LIFETIME".to_owned(),
            "2".to_owned(),
        )],
        ..AppSpec::default()
    })
}

/// The seed (private half) of the user service's first signing key, read from its database as
/// an operator could.
pub fn first_signing_seed(users: &Store) -> Vec<u8> {
    let hex = users.text("SELECT hex(seed) FROM signing_keys WHERE rowid = ?", 1);
    let seed: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    assert_eq!(seed.len(), 32, "a seed of {} bytes", seed.len());
    seed
}

/// The ways a secret could be written out: hex (both cases), base64 and base64url.
pub fn written_forms(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|byte| format!("{byte:02x}")).collect();
    vec![
        hex.to_uppercase(),
        hex,
        base64ct::Base64::encode_string(secret),
        Base64UrlUnpadded::encode_string(secret),
    ]
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
