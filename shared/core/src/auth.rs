//! HS256 JWTs for callers and HMAC signatures for the local signed URLs.
//!
//! Written on `hmac`/`sha2` directly: Coda needs only HS256, and the same
//! primitives sign upload URLs (and, later, webhooks).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::model::Timestamp;
use crate::CodaError;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `msg` under `key`.
pub fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

fn verify_hmac(key: &[u8], msg: &[u8], tag: &[u8]) -> bool {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(msg);
    mac.verify_slice(tag).is_ok()
}

/// The claims Coda reads from a token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// The owner.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
}

/// Issues and verifies HS256 JWTs with one shared secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl TokenSigner {
    /// A signer over `secret`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// A token for `sub` valid from `now` for `ttl_secs`.
    pub fn issue(&self, sub: &str, now: Timestamp, ttl_secs: i64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = Claims {
            sub: sub.to_string(),
            iat: now.timestamp(),
            exp: now.timestamp() + ttl_secs,
        };
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let signing_input = format!("{header}.{payload}");
        let sig = URL_SAFE_NO_PAD.encode(hmac_sha256(&self.secret, signing_input.as_bytes()));
        format!("{signing_input}.{sig}")
    }

    /// Checks signature, algorithm and expiry; returns the claims.
    pub fn verify(&self, token: &str, now: Timestamp) -> Result<Claims, CodaError> {
        let bad = |why: &str| CodaError::Unauthorized(format!("invalid token: {why}"));
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected three dot-separated parts"));
        };
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("header is not base64url JSON"))?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(bad("only HS256 is accepted"));
        }
        let sig = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("signature is not base64url"))?;
        if !verify_hmac(&self.secret, format!("{h}.{p}").as_bytes(), &sig) {
            return Err(bad("signature does not verify"));
        }
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(p)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| bad("payload lacks sub, iat or exp"))?;
        if claims.exp <= now.timestamp() {
            return Err(CodaError::Unauthorized("token expired".into()));
        }
        if claims.sub.is_empty() {
            return Err(bad("empty sub"));
        }
        Ok(claims)
    }
}

/// Signs and checks the local store's expiring URLs.
#[derive(Clone)]
pub struct UrlSigner {
    secret: Vec<u8>,
}

impl UrlSigner {
    /// A signer over `secret`.
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// Hex signature of (method, key, expiry).
    pub fn sign(&self, method: &str, key: &str, expires: i64) -> String {
        hex::encode(hmac_sha256(
            &self.secret,
            format!("{method}\n{key}\n{expires}").as_bytes(),
        ))
    }

    /// Verifies a signature and that `expires` is still ahead of `now`.
    pub fn verify(
        &self,
        method: &str,
        key: &str,
        expires: i64,
        signature: &str,
        now: Timestamp,
    ) -> Result<(), CodaError> {
        let sig = hex::decode(signature)
            .map_err(|_| CodaError::Unauthorized("signature is not hex".into()))?;
        if !verify_hmac(
            &self.secret,
            format!("{method}\n{key}\n{expires}").as_bytes(),
            &sig,
        ) {
            return Err(CodaError::Unauthorized(
                "URL signature does not verify".into(),
            ));
        }
        if expires <= now.timestamp() {
            return Err(CodaError::Unauthorized("signed URL has expired".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn t(s: i64) -> Timestamp {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn token_round_trip_and_rejections() {
        let s = TokenSigner::new(b"secret".to_vec());
        let tok = s.issue("alice", t(1000), 60);
        assert_eq!(s.verify(&tok, t(1010)).unwrap().sub, "alice");
        assert!(s
            .verify(&tok, t(1060))
            .unwrap_err()
            .to_string()
            .contains("expired"));
        let other = TokenSigner::new(b"other".to_vec());
        assert!(other.verify(&tok, t(1010)).is_err());
        let mut tampered = tok.clone();
        tampered.insert(tok.find('.').unwrap() + 2, 'x');
        assert!(s.verify(&tampered, t(1010)).is_err());
        assert!(s.verify("a.b", t(0)).is_err());
        assert!(s.verify("", t(0)).is_err());
    }

    #[test]
    fn rejects_alg_none() {
        let s = TokenSigner::new(b"secret".to_vec());
        let h = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let p = URL_SAFE_NO_PAD.encode(br#"{"sub":"a","iat":0,"exp":99999999999}"#);
        assert!(s.verify(&format!("{h}.{p}."), t(0)).is_err());
    }

    #[test]
    fn url_signature_binds_method_key_and_expiry() {
        let u = UrlSigner::new(b"k".to_vec());
        let sig = u.sign("PUT", "uploads/a/x.wav", 2000);
        assert!(u
            .verify("PUT", "uploads/a/x.wav", 2000, &sig, t(1999))
            .is_ok());
        assert!(u
            .verify("PUT", "uploads/a/x.wav", 2000, &sig, t(2000))
            .is_err());
        assert!(u
            .verify("GET", "uploads/a/x.wav", 2000, &sig, t(1))
            .is_err());
        assert!(u
            .verify("PUT", "uploads/a/y.wav", 2000, &sig, t(1))
            .is_err());
        assert!(u
            .verify("PUT", "uploads/a/x.wav", 2001, &sig, t(1))
            .is_err());
        assert!(u
            .verify("PUT", "uploads/a/x.wav", 2000, "zz", t(1))
            .is_err());
    }
}
