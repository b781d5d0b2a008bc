//! Webhook signatures: HMAC-SHA256 of the raw body with the app's secret,
//! compared in constant time. Several secrets are accepted at once so a
//! merchant can rotate one without downtime.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signing secrets, newest first. Empty secrets are dropped.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secrets(Vec<Vec<u8>>);

impl Secrets {
    pub fn new<S: AsRef<[u8]>>(secrets: impl IntoIterator<Item = S>) -> Self {
        Secrets(
            secrets
                .into_iter()
                .map(|s| s.as_ref().to_vec())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// Parses the environment form: comma-separated, newest first.
    pub fn from_list(list: &str) -> Self {
        Secrets::new(list.split(',').map(str::trim))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `signature` (base64, or lower/upper-case hex) is the
    /// HMAC-SHA256 of `body` under any of the secrets.
    pub fn verify(&self, body: &[u8], signature: &str) -> bool {
        let Some(given) = decode(signature.trim()) else {
            return false;
        };
        // Every secret is tried, so the time taken does not tell which one matched.
        let mut ok = false;
        for secret in &self.0 {
            let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
            mac.update(body);
            ok |= mac.verify_slice(&given).is_ok();
        }
        ok
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secrets({} redacted)", self.0.len())
    }
}

/// The signature as Shopify sends it: base64 of the HMAC-SHA256.
pub fn sign_base64(secret: &[u8], body: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(mac(secret, body))
}

/// The signature as SHOPLINE's SDK computes it: lower-case hex.
pub fn sign_hex(secret: &[u8], body: &[u8]) -> String {
    mac(secret, body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mac(secret: &[u8], body: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// A 32-byte digest from hex (64 characters) or base64.
fn decode(s: &str) -> Option<Vec<u8>> {
    if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (0..32)
            .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok())
            .collect();
    }
    let d = base64::engine::general_purpose::STANDARD.decode(s).ok()?;
    (d.len() == 32).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn either_rotated_secret_verifies_in_either_encoding() {
        let body = br#"{"id":1}"#;
        let secrets = Secrets::from_list("new-secret, old-secret");
        assert!(secrets.verify(body, &sign_base64(b"old-secret", body)));
        assert!(secrets.verify(body, &sign_hex(b"new-secret", body)));
        assert!(!secrets.verify(body, &sign_base64(b"other", body)));
        assert!(!secrets.verify(b"{\"id\":2}", &sign_base64(b"new-secret", body)));
        assert!(!secrets.verify(body, "not a signature"));
        assert!(!Secrets::default().verify(body, &sign_base64(b"", body)));
    }
}
