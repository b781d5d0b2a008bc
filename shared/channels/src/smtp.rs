//! Email through an SMTP server.

use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use storeflow_app::ports::{Deliver, DeliverError, Delivered};
use storeflow_core::Message;

/// An SMTP relay. Only email goes here; other channels are refused so the
/// caller can route them elsewhere (the outbox).
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

/// Where and how to reach the relay (`storeflow serve` reads them from the
/// environment).
/// `Debug` shows the user name, never the password.
#[derive(Clone, Default)]
pub struct SmtpSettings {
    /// `smtps://host:465` (TLS), `smtp://host:587?tls=required` (STARTTLS)
    /// or `smtp://host:25` (plain, for a local relay).
    pub url: String,
    /// User name and password, when the relay wants a login.
    pub credentials: Option<(String, String)>,
    /// A certificate authority (PEM) to trust besides the public ones: a
    /// relay of the merchant's own with a private certificate.
    pub ca_pem: Option<Vec<u8>>,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("url", &self.url)
            .field(
                "credentials",
                &self
                    .credentials
                    .as_ref()
                    .map(|(user, _)| (user, "<redacted>")),
            )
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("SMTP URL {url:?}: {reason}")]
pub struct SmtpConfigError {
    url: String,
    reason: String,
}

impl Smtp {
    /// From the URL, the credentials if any, and a private CA if any
    /// (trusted besides the public ones).
    pub fn new(settings: &SmtpSettings) -> Result<Self, SmtpConfigError> {
        let url = settings.url.as_str();
        let fail = |reason: String| SmtpConfigError {
            url: url.to_string(),
            reason,
        };
        let mut b =
            AsyncSmtpTransport::<Tokio1Executor>::from_url(url).map_err(|e| fail(e.to_string()))?;
        if let Some(pem) = &settings.ca_pem {
            // The URL chose the TLS mode; the same mode again, with the
            // extra authority among the trusted ones.
            let parsed = reqwest::Url::parse(url).map_err(|e| fail(e.to_string()))?;
            let host = parsed
                .host_str()
                .ok_or_else(|| fail("no host".into()))?
                .to_string();
            let tls_query = parsed
                .query_pairs()
                .find(|(k, _)| k == "tls")
                .map(|(_, v)| v.into_owned());
            let mode = match (parsed.scheme(), tls_query.as_deref()) {
                ("smtps", _) => Tls::Wrapper,
                ("smtp", Some("required")) => Tls::Required,
                ("smtp", Some("opportunistic")) => Tls::Opportunistic,
                _ => {
                    return Err(fail(
                        "a CA certificate is given, but the URL uses no TLS (smtps://, or \
                         smtp://…?tls=required for STARTTLS)"
                            .into(),
                    ))
                }
            };
            // A file with no certificate in it would be read as an empty
            // list, trusting nothing more, without a word.
            if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
                return Err(fail(
                    "the CA certificate (PEM): no \"BEGIN CERTIFICATE\" block in it".into(),
                ));
            }
            let ca = Certificate::from_pem(pem)
                .map_err(|e| fail(format!("the CA certificate (PEM): {e}")))?;
            let params = TlsParameters::builder(host)
                .add_root_certificate(ca)
                .build()
                .map_err(|e| fail(e.to_string()))?;
            b = b.tls(mode(params));
        }
        if let Some((user, pass)) = &settings.credentials {
            b = b.credentials(Credentials::new(user.clone(), pass.clone()));
        }
        Ok(Smtp {
            transport: b.build(),
        })
    }
}

impl Deliver for Smtp {
    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliverError> {
        if !m.channel.spec().mime {
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

impl storeflow_app::dispatch::Carrier for Smtp {
    fn carry<'a>(
        &'a self,
        m: &'a Message,
        _to: storeflow_app::dispatch::Recipient<'a>,
        now: jiff::Timestamp,
    ) -> storeflow_app::dispatch::Carried<'a> {
        let _ = now;
        Box::pin(self.deliver(m))
    }
}
