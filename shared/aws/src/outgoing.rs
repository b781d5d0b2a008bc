//! What every channel adapter of the send function shares (SES email, SMS,
//! WhatsApp): the attribution tags a message carries to its provider, how a
//! provider's refusal is classified, and the text body of a text channel.

use storeflow_app::ports::DeliverError;
use storeflow_core::model::decision::Message;
use storeflow_core::model::ids::{ProfileId, ShopId};

/// What goes with a message to its provider, and comes back on the
/// provider's events: which flow, step and message, and which customer.
pub fn attribution(m: &Message, to: Option<(&ShopId, &ProfileId)>) -> Vec<(&'static str, String)> {
    let mut tags = vec![
        ("flow", m.flow.clone()),
        ("version", m.version.to_string()),
        ("step", m.step.clone()),
        ("template", m.template.clone()),
        ("message", m.id.clone()),
    ];
    if let Some(v) = &m.variant {
        tags.push(("variant", v.clone()));
    }
    if let Some((shop, profile)) = to {
        tags.push(("shop", shop.as_str().to_string()));
        tags.push(("profile", profile.as_str().to_string()));
    }
    tags
}

/// A provider's refusal: final (`permanent`, settled as failed) or for
/// now (the queue's redelivery tries again).
pub(crate) fn refusal(permanent: bool, why: String) -> DeliverError {
    if permanent {
        DeliverError::Permanent(why)
    } else {
        DeliverError::Transient(why)
    }
}

/// The text an SMS or WhatsApp message carries: its template's `body` (or
/// `text`), never empty.
pub(crate) fn text_body<'a>(m: &'a Message, channel: &str) -> Result<&'a str, DeliverError> {
    m.content
        .body
        .as_deref()
        .or(m.content.text.as_deref())
        .filter(|b| !b.trim().is_empty())
        .ok_or_else(|| {
            DeliverError::Permanent(format!(
                "message {}: template {} rendered no {channel} body",
                m.id, m.template
            ))
        })
}
