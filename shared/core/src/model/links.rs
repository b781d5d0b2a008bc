//! Signed links in messages (one-click unsubscribe, preferences): the token
//! names the profile and channel and carries an HMAC-SHA256 over them, so
//! the link works without a lookup table and cannot be forged.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Signs and verifies link tokens with one secret. The HMAC is keyed once
/// (two SHA-256 blocks) and cloned per token, so a token costs only the
/// blocks of its own payload.
#[derive(Clone)]
pub struct Signer {
    keyed: HmacSha256,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub fn new(secret: &[u8]) -> Self {
        Signer {
            keyed: HmacSha256::new_from_slice(secret).expect("HMAC takes any key length"),
        }
    }

    fn mac(&self, shop: &str, profile: &str, channel: &str) -> [u8; 16] {
        let mut m = self.keyed.clone();
        for part in [shop, "|", profile, "|", channel] {
            m.update(part.as_bytes());
        }
        let bytes = m.finalize().into_bytes();
        let mut out = [0u8; 16];
        out.copy_from_slice(&bytes[..16]);
        out
    }

    /// `profile.channel.mac`
    pub fn token(&self, shop: &str, profile: &str, channel: &str) -> String {
        let mut t = String::with_capacity(profile.len() + channel.len() + 34);
        t.push_str(profile);
        t.push('.');
        t.push_str(channel);
        t.push('.');
        push_hex(&mut t, &self.mac(shop, profile, channel));
        t
    }

    /// The profile and channel a token names, if its signature holds.
    pub fn verify(&self, shop: &str, token: &str) -> Option<(String, String)> {
        let mut it = token.rsplitn(3, '.');
        let sig = it.next()?;
        let channel = it.next()?;
        let profile = it.next()?;
        let mut want = String::with_capacity(32);
        push_hex(&mut want, &self.mac(shop, profile, channel));
        // Constant-time comparison: no early exit on the first differing byte.
        let same = want.len() == sig.len()
            && want
                .bytes()
                .zip(sig.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then(|| (profile.to_string(), channel.to_string()))
    }

    pub fn unsubscribe_url(&self, base: &str, shop: &str, profile: &str, channel: &str) -> String {
        format!(
            "{}/u/{}",
            base.trim_end_matches('/'),
            self.token(shop, profile, channel)
        )
    }

    pub fn preferences_url(&self, base: &str, shop: &str, profile: &str) -> String {
        format!(
            "{}/preferences/{}",
            base.trim_end_matches('/'),
            self.token(shop, profile, "all")
        )
    }
}

/// What a tracked link records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tracked {
    /// A link in a message, followed: a redirect to its target.
    Click,
    /// The open pixel of an email, loaded.
    Open,
}

/// A verified tracking token: who, which message, sent when, and (for a
/// click) where to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackedLink {
    pub profile: String,
    pub kind: Tracked,
    pub channel: String,
    pub message: String,
    /// When the message was sent (Unix seconds): scanners follow links
    /// within seconds of delivery.
    pub sent_at: i64,
    pub url: Option<String>,
}

impl Signer {
    /// A link in a message, as a signed redirect to `url` through
    /// `{base}/c/{token}`. The token carries the profile, channel,
    /// message, send instant and target (base64url), signed like every
    /// link: nothing is looked up to follow it, and it cannot be pointed
    /// elsewhere.
    #[allow(clippy::too_many_arguments)]
    pub fn click_url(
        &self,
        base: &str,
        shop: &str,
        profile: &str,
        channel: &str,
        message: &str,
        sent_at: jiff::Timestamp,
        url: &str,
    ) -> String {
        use base64::Engine;
        let target = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url);
        let payload = format!("c~{channel}~{message}~{}~{target}", sent_at.as_second());
        format!(
            "{}/c/{}",
            base.trim_end_matches('/'),
            self.token(shop, profile, &payload)
        )
    }

    /// An email's open pixel, `{base}/o/{token}`.
    pub fn open_url(
        &self,
        base: &str,
        shop: &str,
        profile: &str,
        message: &str,
        sent_at: jiff::Timestamp,
    ) -> String {
        let payload = format!("o~email~{message}~{}", sent_at.as_second());
        format!(
            "{}/o/{}",
            base.trim_end_matches('/'),
            self.token(shop, profile, &payload)
        )
    }

    /// What a tracking token says, if it is one and its signature holds.
    pub fn verify_tracked(&self, shop: &str, token: &str) -> Option<TrackedLink> {
        use base64::Engine;
        let (profile, payload) = self.verify(shop, token)?;
        let mut parts = payload.split('~');
        let kind = match parts.next()? {
            "c" => Tracked::Click,
            "o" => Tracked::Open,
            _ => return None,
        };
        let channel = parts.next()?.to_string();
        let message = parts.next()?.to_string();
        let sent_at = parts.next()?.parse().ok()?;
        let url = match kind {
            Tracked::Click => {
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(parts.next()?)
                    .ok()?;
                Some(String::from_utf8(bytes).ok()?)
            }
            Tracked::Open => None,
        };
        if parts.next().is_some() {
            return None;
        }
        Some(TrackedLink {
            profile,
            kind,
            channel,
            message,
            sent_at,
            url,
        })
    }
}

/// A short, stable id for runs and messages: 64-bit FNV-1a over the parts
/// (each followed by a 0 byte), as 16 hex digits. The same parts give the
/// same id on every machine and every run; ids only need to be unique per
/// customer, so a fast non-cryptographic hash is enough.
pub fn short_hash(parts: &[&str]) -> String {
    hex64(hash64(parts))
}

/// A 64-bit id as the 16 hex digits of [`short_hash`].
pub fn hex64(h: u64) -> String {
    hex(&h.to_be_bytes())
}

/// As [`hex64`], written into `buf` (no allocation: run ids are shared
/// text made straight from it).
pub fn hex64_in(h: u64, buf: &mut [u8; 16]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in buf.iter_mut().enumerate() {
        *b = DIGITS[((h >> (60 - 4 * i)) & 0xf) as usize];
    }
    std::str::from_utf8(buf).expect("hex digits")
}

/// The 64-bit value behind [`short_hash`] (its text is this in hex).
pub fn hash64(parts: &[&str]) -> u64 {
    hash64_after(Fnv::default().0, parts)
}

/// [`hash64`] of some parts followed by `parts`, given `state`, the
/// [`hash64`] of the first ones: `hash64_after(hash64(&[a]), &[b])` is
/// `hash64(&[a, b])` (FNV-1a's result is its state).
pub fn hash64_after(state: u64, parts: &[&str]) -> u64 {
    let mut h = Fnv(state);
    for p in parts {
        std::hash::Hasher::write(&mut h, p.as_bytes());
        std::hash::Hasher::write(&mut h, &[0]);
    }
    std::hash::Hasher::finish(&h)
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
    let mut s = String::with_capacity(bytes.len() * 2);
    push_hex(&mut s, bytes);
    s
}

fn push_hex(s: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_continues_from_the_hash_of_its_first_parts() {
        let whole = hash64(&["9f2c4e", "s2"]);
        assert_eq!(hash64_after(hash64(&["9f2c4e"]), &["s2"]), whole);
        assert_ne!(hash64_after(hash64(&["9f2c4e"]), &["s3"]), whole);
    }

    #[test]
    fn hex_ids_written_in_place_read_as_made() {
        for h in [0, 1, 0xdead_beef, u64::MAX, 0x0123_4567_89ab_cdef] {
            assert_eq!(hex64_in(h, &mut [0; 16]), hex64(h));
        }
    }

    #[test]
    fn tokens_verify_and_resist_tampering() {
        let k = Signer::new(b"k");
        let t = k.token("shop", "p_1", "email");
        assert_eq!(k.verify("shop", &t), Some(("p_1".into(), "email".into())));
        assert_eq!(Signer::new(b"other").verify("shop", &t), None);
        assert_eq!(k.verify("shop", &t.replace("p_1", "p_2")), None);
        assert_eq!(k.verify("other-shop", &t), None);
    }

    #[test]
    fn a_click_link_leads_to_its_target_and_cannot_be_pointed_elsewhere() {
        let k = Signer::new(b"k");
        let at: jiff::Timestamp = "2026-03-01T10:00:00Z".parse().unwrap();
        let target = "https://shop.example.com/p/linen?utm_source=x&a=1#top";
        let url = k.click_url(
            "https://sf.example.com/",
            "shop",
            "p_1",
            "email",
            "00ab",
            at,
            target,
        );
        let token = url
            .strip_prefix("https://sf.example.com/c/")
            .expect("a redirect of ours");
        let t = k.verify_tracked("shop", token).expect("signed");
        assert_eq!(t.kind, Tracked::Click);
        assert_eq!(
            (t.profile.as_str(), t.channel.as_str(), t.message.as_str()),
            ("p_1", "email", "00ab")
        );
        assert_eq!(t.sent_at, at.as_second());
        assert_eq!(t.url.as_deref(), Some(target));
        // Another target under the same signature is refused.
        let (head, sig) = token.rsplit_once('.').unwrap();
        let (head, _) = head.rsplit_once('~').unwrap();
        use base64::Engine;
        let evil =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("https://evil.example.com");
        assert_eq!(
            k.verify_tracked("shop", &format!("{head}~{evil}.{sig}")),
            None
        );
        // An unsubscribe token is no tracking token.
        assert_eq!(
            k.verify_tracked("shop", &k.token("shop", "p_1", "email")),
            None
        );
        let open = k.open_url("https://sf.example.com", "shop", "p_1", "00ab", at);
        let t = k
            .verify_tracked(
                "shop",
                open.strip_prefix("https://sf.example.com/o/").unwrap(),
            )
            .unwrap();
        assert_eq!((t.kind, t.url), (Tracked::Open, None));
    }
}
