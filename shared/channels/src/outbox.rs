//! The outbox folder: real files instead of real sends.

use std::path::{Path, PathBuf};
use storeflow_app::ports::{Deliver, DeliverError, Delivered};
use storeflow_core::Message;

/// Messages as files under one folder, one subfolder per channel and, below
/// it, per first two characters of the message id: `email/3f/<id>.eml`
/// (open it in any mail client), `sms/<..>/<id>.json`,
/// `whatsapp/<..>/<id>.json`, `webhook/<..>/<id>.json`, `alert/<..>/<id>.eml`.
///
/// Why the second level: a busy store writes hundreds of thousands of
/// messages a day, and one directory of that many files made every write
/// slower (on ext4 the 10-minute load run stalled once it held about
/// 400,000). Ids are hex hashes, so the 256 subfolders fill evenly.
/// Files written flat under the channel folder (before this layout) are
/// still found, so an upgrade never writes a message twice.
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
        let (safe, ext) = Self::file_name(m);
        let shard = safe.get(..2).unwrap_or("__");
        self.root
            .join(m.channel.as_str())
            .join(shard)
            .join(format!("{safe}.{ext}"))
    }

    /// Where the flat layout (before subfolders) put the file that `path`
    /// ([`OutboxDir::path_of`]) names: the same name, one folder up.
    fn flat_path(path: &Path) -> Option<PathBuf> {
        let channel = path.parent()?.parent()?;
        Some(channel.join(path.file_name()?))
    }

    fn file_name(m: &Message) -> (String, &'static str) {
        let ext = if m.channel.spec().mime { "eml" } else { "json" };
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
        (safe, ext)
    }

    /// Every message file under the outbox (all channels), in no set order.
    pub fn files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, depth: u8, out: &mut Vec<PathBuf>) {
            let Ok(rd) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in rd.flatten() {
                let p = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    if depth < 2 {
                        walk(&p, depth + 1, out);
                    }
                } else if p.extension().is_some_and(|e| e == "eml" || e == "json") {
                    out.push(p);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, 0, &mut out);
        out
    }

    fn bytes(m: &Message) -> Result<Vec<u8>, DeliverError> {
        if m.channel.spec().mime {
            crate::mime::email(m)
                .map(|e| e.formatted())
                .map_err(|e| DeliverError::Permanent(e.to_string()))
        } else {
            serde_json::to_vec_pretty(m).map_err(|e| DeliverError::Permanent(e.to_string()))
        }
    }

    fn write(&self, m: &Message) -> Result<Delivered, DeliverError> {
        let path = self.path_of(m);
        let shown = path.display().to_string();
        if path.exists() {
            return Ok(Delivered::Already(shown));
        }
        if let Some(flat) = Self::flat_path(&path).filter(|f| f.exists()) {
            return Ok(Delivered::Already(flat.display().to_string()));
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

impl storeflow_app::dispatch::Carrier for OutboxDir {
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

#[cfg(test)]
mod tests {
    use super::*;
    use storeflow_core::model::channel::Channel;
    use storeflow_core::template::Rendered;

    fn message(id: &str, channel: Channel) -> Message {
        Message {
            id: id.into(),
            channel,
            to: "ann@example.com".into(),
            template: "welcome".into(),
            marketing: true,
            priority: "welcome".into(),
            content: Rendered {
                subject: Some("Welcome, Ann".into()),
                text: Some("Hello".into()),
                ..Default::default()
            },
            unsubscribe_url: None,
            from: Some("shop@example.com".into()),
            flow: "welcome".into(),
            version: 1,
            step: "hello".into(),
            variant: None,
        }
    }

    fn temp_root(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("storeflow-outbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn messages_land_in_a_subfolder_named_by_their_ids_first_two_characters() {
        let root = temp_root("shard");
        let out = OutboxDir::new(&root);
        for (id, ch) in [
            ("3fa9c0", Channel::Email),
            ("3f0000", Channel::Email),
            ("a1b2c3", Channel::Sms),
        ] {
            let d = out.write(&message(id, ch)).unwrap();
            assert!(matches!(d, Delivered::Sent(_)), "{d:?}");
        }
        assert!(root.join("email/3f/3fa9c0.eml").is_file());
        assert!(root.join("email/3f/3f0000.eml").is_file());
        assert!(root.join("sms/a1/a1b2c3.json").is_file());
        let mut files = out.files();
        files.sort();
        assert_eq!(
            files,
            vec![
                root.join("email/3f/3f0000.eml"),
                root.join("email/3f/3fa9c0.eml"),
                root.join("sms/a1/a1b2c3.json"),
            ]
        );
        let eml = std::fs::read_to_string(root.join("email/3f/3fa9c0.eml")).unwrap();
        assert!(eml.contains("Subject: Welcome, Ann"), "{eml}");
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_message_written_before_is_not_written_again_in_either_layout() {
        let root = temp_root("again");
        let out = OutboxDir::new(&root);
        let m = message("0badc0de", Channel::Email);
        assert!(matches!(out.write(&m).unwrap(), Delivered::Sent(_)));
        assert!(matches!(out.write(&m).unwrap(), Delivered::Already(_)));
        // A file the flat layout wrote (an older version) counts as sent.
        let old = message("feedbeef", Channel::Email);
        std::fs::write(
            root.join("email/feedbeef.eml"),
            b"written by an older version",
        )
        .unwrap();
        match out.write(&old).unwrap() {
            Delivered::Already(p) => assert!(p.ends_with("email/feedbeef.eml"), "{p}"),
            other => panic!("written again: {other:?}"),
        }
        assert!(!root.join("email/fe").exists(), "no second copy");
        let _ = std::fs::remove_dir_all(&root);
    }
}
