//! Signed links in messages (one-click unsubscribe, preferences): the token
//! names the profile and channel and carries an HMAC-SHA256 over them, so
//! the link works without a lookup table and cannot be forged.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(secret: &[u8], payload: &str) -> String {
    let mut m = HmacSha256::new_from_slice(secret).expect("HMAC takes any key length");
    m.update(payload.as_bytes());
    let bytes = m.finalize().into_bytes();
    hex(&bytes[..16])
}

/// `profile.channel.mac`
pub fn token(secret: &[u8], shop: &str, profile: &str, channel: &str) -> String {
    let payload = format!("{shop}|{profile}|{channel}");
    format!("{profile}.{channel}.{}", mac(secret, &payload))
}

/// The profile and channel a token names, if its signature holds.
pub fn verify(secret: &[u8], shop: &str, token: &str) -> Option<(String, String)> {
    let mut it = token.rsplitn(3, '.');
    let sig = it.next()?;
    let channel = it.next()?;
    let profile = it.next()?;
    let want = mac(secret, &format!("{shop}|{profile}|{channel}"));
    // Constant-time comparison: no early exit on the first differing byte.
    let same = want.len() == sig.len()
        && want
            .bytes()
            .zip(sig.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    same.then(|| (profile.to_string(), channel.to_string()))
}

pub fn unsubscribe_url(
    base: &str,
    secret: &[u8],
    shop: &str,
    profile: &str,
    channel: &str,
) -> String {
    format!(
        "{}/u/{}",
        base.trim_end_matches('/'),
        token(secret, shop, profile, channel)
    )
}

pub fn preferences_url(base: &str, secret: &[u8], shop: &str, profile: &str) -> String {
    format!(
        "{}/preferences/{}",
        base.trim_end_matches('/'),
        token(secret, shop, profile, "all")
    )
}

/// A short, stable id for runs and messages: 64-bit FNV-1a over the parts
/// (each followed by a 0 byte), as 16 hex digits. The same parts give the
/// same id on every machine and every run; ids only need to be unique per
/// customer, so a fast non-cryptographic hash is enough.
pub fn short_hash(parts: &[&str]) -> String {
    let mut h = Fnv::default();
    for p in parts {
        std::hash::Hasher::write(&mut h, p.as_bytes());
        std::hash::Hasher::write(&mut h, &[0]);
    }
    hex(&std::hash::Hasher::finish(&h).to_be_bytes())
}

/// 64-bit FNV-1a: a stable hash, also used for the engine's internal
/// name-keyed maps (SipHash's protection against crafted keys is not needed
/// for configuration names).
#[derive(Clone, Copy)]
pub struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` keyed by configuration names, hashed with FNV.
pub type NameMap<V> = std::collections::HashMap<String, V, std::hash::BuildHasherDefault<Fnv>>;

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_and_resist_tampering() {
        let t = token(b"k", "shop", "p_1", "email");
        assert_eq!(
            verify(b"k", "shop", &t),
            Some(("p_1".into(), "email".into()))
        );
        assert_eq!(verify(b"other", "shop", &t), None);
        assert_eq!(verify(b"k", "shop", &t.replace("p_1", "p_2")), None);
    }
}
