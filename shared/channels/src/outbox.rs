//! The outbox folder: real files instead of real sends.

use std::path::{Path, PathBuf};
use storeflow_app::ports::{Deliver, DeliverError, Delivered};
use storeflow_core::decision::MessageChannel;
use storeflow_core::Message;

/// Messages as files under one folder: `email/<id>.eml` (open it in any
/// mail client), `sms/<id>.json`, `whatsapp/<id>.json`, `webhook/<id>.json`,
/// `alert/<id>.eml`.
#[derive(Debug, Clone)]
pub struct OutboxDir {
    root: PathBuf,
}

impl OutboxDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        OutboxDir { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where `m` is (or will be) written.
    pub fn path_of(&self, m: &Message) -> PathBuf {
        let ext = match m.channel {
            MessageChannel::Email | MessageChannel::Alert => "eml",
            _ => "json",
        };
        // Message ids are hex; keep anything else out of the path anyway.
        let safe: String =
            m.id.chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
        self.root
            .join(m.channel.as_str())
            .join(format!("{safe}.{ext}"))
    }

    fn bytes(m: &Message) -> Result<Vec<u8>, DeliverError> {
        match m.channel {
            MessageChannel::Email | MessageChannel::Alert => crate::mime::email(m)
                .map(|e| e.formatted())
                .map_err(|e| DeliverError::Permanent(e.to_string())),
            _ => serde_json::to_vec_pretty(m).map_err(|e| DeliverError::Permanent(e.to_string())),
        }
    }

    fn write(&self, m: &Message) -> Result<Delivered, DeliverError> {
        let path = self.path_of(m);
        let shown = path.display().to_string();
        if path.exists() {
            return Ok(Delivered::Already(shown));
        }
        let bytes = Self::bytes(m)?;
        let dir = path.parent().expect("outbox file has a folder");
        std::fs::create_dir_all(dir)
            .map_err(|e| DeliverError::Transient(format!("{}: {e}", dir.display())))?;
        // Written whole or not at all: a crash leaves a temp file, never a
        // half message under the real name.
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, &bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| DeliverError::Transient(format!("{shown}: {e}")))?;
        Ok(Delivered::Sent(shown))
    }
}

impl Deliver for OutboxDir {
    async fn deliver(&self, m: &Message) -> Result<Delivered, DeliverError> {
        self.write(m)
    }
}
