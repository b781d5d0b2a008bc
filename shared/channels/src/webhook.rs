//! A flow's webhook step as a signed HTTP POST.
//!
//! Signed the way the Standard Webhooks specification (standardwebhooks.com)
//! says, so a receiver can verify it with any of that specification's
//! libraries:
//! - `webhook-id`: the message id — the same on every retry, so the receiver
//!   can drop a repeat;
//! - `webhook-timestamp`: seconds since the epoch when it was sent (receivers
//!   refuse old ones: replay protection);
//! - `webhook-signature`: `v1,` + base64 of HMAC-SHA256 over
//!   `{id}.{timestamp}.{body}` with the shared secret.
//!
//! A secret written `whsec_<base64>` (the specification's form) is that
//! base64's bytes; any other string is used as it is.
//!
//! What a response means: 2xx delivered; 408, 425, 429, 5xx, a timeout or no
//! connection are retried later; any other status (and a redirect, which is
//! not followed: a POST must not turn into a GET somewhere else) is final.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha2::Sha256;
use std::time::Duration;
use storeflow_app::ports::{DeliverError, Delivered};
use storeflow_core::model::channel::Channel;
use storeflow_core::Message;

/// How long one POST may take, connection included: a receiver slower than
/// this is retried later rather than holding a sender.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts webhook messages, signed with one secret.
#[derive(Clone)]
pub struct WebhookPoster {
    client: reqwest::Client,
    key: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookConfigError {
    #[error("webhook signing secret: {0}")]
    Secret(String),
    #[error("HTTP client: {0}")]
    Client(String),
}

impl WebhookPoster {
    pub fn new(secret: &str) -> Result<Self, WebhookConfigError> {
        let key = signing_key(secret)?;
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("storeflow-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebhookConfigError::Client(e.to_string()))?;
        Ok(WebhookPoster { client, key })
    }

    /// POSTs `m` (its `to` is the URL, its body the JSON) at `now`.
    pub async fn post(&self, m: &Message, now: Timestamp) -> Result<Delivered, DeliverError> {
        if m.channel != Channel::Webhook {
            return Err(DeliverError::Permanent(format!(
                "the webhook poster carries webhooks, not {}",
                m.channel.as_str()
            )));
        }
        let body = m.content.body.clone().unwrap_or_default();
        let ts = now.as_second();
        let res = self
            .client
            .post(&m.to)
            .header("content-type", "application/json")
            .header("webhook-id", &m.id)
            .header("webhook-timestamp", ts.to_string())
            .header("webhook-signature", sign(&self.key, &m.id, ts, &body))
            .body(body)
            .send()
            .await;
        let res = match res {
            Ok(r) => r,
            // A bad URL never gets better; no connection or a timeout may.
            Err(e) if e.is_builder() => {
                return Err(DeliverError::Permanent(format!("POST {}: {e}", m.to)))
            }
            Err(e) => return Err(DeliverError::Transient(format!("POST {}: {e}", m.to))),
        };
        let status = res.status();
        if status.is_success() {
            return Ok(Delivered::Sent(format!("HTTP {}", status.as_u16())));
        }
        let location = res
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = res.text().await.unwrap_or_default();
        let mut why = format!("POST {} answered {status}", m.to);
        if let Some(to) = location {
            why.push_str(&format!(
                " (redirect to {to}: not followed; update the flow's URL)"
            ));
        }
        let excerpt: String = text.chars().take(200).collect();
        if !excerpt.trim().is_empty() {
            why.push_str(": ");
            why.push_str(excerpt.trim());
        }
        if retryable(status.as_u16()) {
            Err(DeliverError::Transient(why))
        } else {
            Err(DeliverError::Permanent(why))
        }
    }
}

fn retryable(status: u16) -> bool {
    matches!(status, 408 | 425 | 429) || status >= 500
}

fn signing_key(secret: &str) -> Result<Vec<u8>, WebhookConfigError> {
    let key = match secret.strip_prefix("whsec_") {
        Some(b64) => B64
            .decode(b64)
            .map_err(|e| WebhookConfigError::Secret(format!("whsec_ value is not base64: {e}")))?,
        None => secret.as_bytes().to_vec(),
    };
    if key.len() < 16 {
        return Err(WebhookConfigError::Secret(format!(
            "{} bytes; use at least 16 (e.g. `openssl rand -base64 32`)",
            key.len()
        )));
    }
    Ok(key)
}

/// The `webhook-signature` header value for a body sent with this id and
/// timestamp.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// Checks a received webhook as a receiver would (the signature, and a
/// timestamp within `tolerance` of `now`); for receivers written in Rust and
/// for tests.
pub fn verify(
    secret: &str,
    id: &str,
    timestamp: &str,
    signatures: &str,
    body: &str,
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), String> {
    let key = signing_key(secret).map_err(|e| e.to_string())?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| format!("webhook-timestamp {timestamp:?} is not a number"))?;
    if (now.as_second() - ts).unsigned_abs() > tolerance.as_secs() {
        return Err(format!(
            "webhook-timestamp {ts} is more than {}s from now",
            tolerance.as_secs()
        ));
    }
    let expected = sign(&key, id, ts, body);
    // The header may list several space-separated signatures (a secret
    // being rotated); one match is enough.
    if signatures.split(' ').any(|s| {
        s.len() == expected.len()
            && s.bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }) {
        Ok(())
    } else {
        Err("no webhook-signature matches".into())
    }
}

impl storeflow_app::dispatch::Carrier for WebhookPoster {
    fn carry<'a>(
        &'a self,
        m: &'a Message,
        _to: storeflow_app::dispatch::Recipient<'a>,
        now: jiff::Timestamp,
    ) -> storeflow_app::dispatch::Carried<'a> {
        let _ = now;
        Box::pin(self.post(m, now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_a_changed_body_does_not() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = signing_key(secret).unwrap();
        let now: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let sig = sign(&key, "msg_1", now.as_second(), r#"{"a":1}"#);
        let ts = now.as_second().to_string();
        let five_min = Duration::from_secs(300);
        assert!(verify(secret, "msg_1", &ts, &sig, r#"{"a":1}"#, now, five_min).is_ok());
        assert!(verify(secret, "msg_1", &ts, &sig, r#"{"a":2}"#, now, five_min).is_err());
        assert!(verify(secret, "msg_2", &ts, &sig, r#"{"a":1}"#, now, five_min).is_err());
        let later = now + jiff::SignedDuration::from_mins(10);
        assert!(verify(secret, "msg_1", &ts, &sig, r#"{"a":1}"#, later, five_min).is_err());
    }

    #[test]
    fn a_short_or_malformed_secret_is_refused_with_a_reason() {
        assert!(WebhookPoster::new("short").is_err());
        let e = signing_key("whsec_***").unwrap_err().to_string();
        assert!(e.contains("base64"), "{e}");
    }

    #[test]
    fn which_statuses_are_retried() {
        for s in [408, 425, 429, 500, 502, 503] {
            assert!(retryable(s), "{s}");
        }
        for s in [301, 400, 401, 404, 410, 422] {
            assert!(!retryable(s), "{s}");
        }
    }
}
