//! Email through an SMTP server.

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use storeflow_app::ports::{Deliver, DeliverError, Delivered};
use storeflow_core::decision::MessageChannel;
use storeflow_core::Message;

/// An SMTP relay. Only email goes here; other channels are refused so the
/// caller can route them elsewhere (the outbox).
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

#[derive(Debug, thiserror::Error)]
#[error("SMTP URL {url:?}: {reason}")]
pub struct SmtpConfigError {
    url: String,
    reason: String,
}

impl Smtp {
    /// From a URL: `smtps://host:465` (TLS), `smtp://host:587?tls=required`
    /// (STARTTLS) or `smtp://host:25` (plain, for a local relay), with
    /// optional credentials (taken from the environment by the caller).
    pub fn from_url(
        url: &str,
        credentials: Option<(String, String)>,
    ) -> Result<Self, SmtpConfigError> {
        let mut b =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| SmtpConfigError {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        if let Some((user, pass)) = credentials {
            b = b.credentials(Credentials::new(user, pass));
        }
        Ok(Smtp {
            transport: b.build(),
        })
    }
}

impl Deliver for Smtp {
    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliverError> {
        if !matches!(m.channel, MessageChannel::Email | MessageChannel::Alert) {
            return Err(DeliverError::Permanent(format!(
                "SMTP carries email, not {}",
                m.channel.as_str()
            )));
        }
        let email = crate::mime::email(m).map_err(|e| DeliverError::Permanent(e.to_string()))?;
        match self.transport.send(email).await {
            Ok(r) => Ok(Delivered::Sent(r.message().collect::<Vec<_>>().join(" "))),
            Err(e) if e.is_permanent() => Err(DeliverError::Permanent(e.to_string())),
            Err(e) => Err(DeliverError::Transient(e.to_string())),
        }
    }
}
