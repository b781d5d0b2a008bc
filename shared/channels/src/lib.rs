//! # storeflow-channels
//!
//! Delivering [`Message`](storeflow_core::Message)s on one machine — the
//! embedded runtime's channel adapters, behind the app's `Deliver` port.
//!
//! - [`mime`] — a message as a real MIME email (lettre's builder):
//!   multipart text + HTML, a `Message-ID` made from the message id (so a
//!   resend is recognizable), `List-Unsubscribe` and
//!   `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058) on
//!   marketing mail, and attribution headers. The SES adapter sends the
//!   same bytes.
//! - [`outbox`] — the default: every message as a file in a folder
//!   (`email/<first two characters of the id>/<id>.eml`,
//!   `sms/<..>/<id>.json`, …), written atomically; a message whose file
//!   exists is not written again.
//! - [`smtp`] — email through an SMTP server (STARTTLS or TLS; the URL and
//!   credentials from the environment).
//! - [`webhook`] — a flow's webhook step as an HTTP POST signed the Standard
//!   Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature`);
//!   the AWS send function posts through it too.

pub mod mime;
pub mod outbox;
pub mod smtp;
pub mod webhook;

pub use outbox::OutboxDir;
pub use smtp::{Smtp, SmtpSettings};
pub use webhook::WebhookPoster;
