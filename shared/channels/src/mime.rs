//! A message as a MIME email.

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use storeflow_core::Message;

#[derive(Debug, thiserror::Error)]
pub enum MimeError {
    #[error("bad address {what} {value:?}: {reason}")]
    Address {
        what: &'static str,
        value: String,
        reason: String,
    },
    #[error("message {0} has no subject")]
    NoSubject(String),
    #[error("message {0} has neither an HTML nor a text part")]
    NoBody(String),
    #[error("cannot build message: {0}")]
    Build(String),
}

/// Sender when neither the message nor the store names one.
pub const DEFAULT_FROM: &str = "storeflow <no-reply@localhost>";

fn mailbox(what: &'static str, value: &str) -> Result<Mailbox, MimeError> {
    value
        .parse()
        .map_err(|e: lettre::address::AddressError| MimeError::Address {
            what,
            value: value.to_string(),
            reason: e.to_string(),
        })
}

fn raw(name: &'static str, value: String) -> (HeaderName, String) {
    (HeaderName::new_from_ascii_str(name), value)
}

/// The email for `m`, as lettre's message (use `.formatted()` for bytes).
pub fn email(m: &Message) -> Result<lettre::Message, MimeError> {
    let from = mailbox("from", m.from.as_deref().unwrap_or(DEFAULT_FROM))?;
    let to = mailbox("to", &m.to)?;
    let subject = m
        .content
        .subject
        .clone()
        .ok_or_else(|| MimeError::NoSubject(m.id.clone()))?;
    let mut b = lettre::Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        // The same message id on every attempt: receivers and our own
        // ledger can tell a resend from a new message.
        .message_id(Some(format!("<{}@storeflow>", m.id)));
    let mut headers = vec![
        raw("X-Storeflow-Message", m.id.clone()),
        raw(
            "X-Storeflow-Flow",
            format!("{} v{} {}", m.flow, m.version, m.step),
        ),
    ];
    if m.marketing {
        if let Some(u) = &m.unsubscribe_url {
            headers.push(raw("List-Unsubscribe", format!("<{u}>")));
            headers.push(raw(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".into(),
            ));
        }
    }
    for (name, value) in headers {
        b = b.raw_header(HeaderValue::new(name, value));
    }
    let text = m.content.text.clone();
    let html = m.content.html.clone();
    let body = match (text, html) {
        (Some(t), Some(h)) => b.multipart(MultiPart::alternative_plain_html(t, h)),
        (Some(t), None) => b.singlepart(
            SinglePart::builder()
                .header(ContentType::TEXT_PLAIN)
                .body(t),
        ),
        (None, Some(h)) => {
            b.singlepart(SinglePart::builder().header(ContentType::TEXT_HTML).body(h))
        }
        (None, None) => return Err(MimeError::NoBody(m.id.clone())),
    };
    body.map_err(|e| MimeError::Build(e.to_string()))
}
