//! How a customer's state is stored in `customers.state`: its JSON text,
//! LZ4-compressed, as a BLOB with a one-byte format tag.
//!
//! Why: the state is written whole on every event, and as JSON it is
//! 6–10 KB for an active customer (live runs embed their trigger events;
//! timestamps and keys repeat). That is a b-tree leaf and two overflow pages
//! per commit, each written to the WAL and again by the checkpoint; under
//! sustained load those bytes, not the CPU, were what made the ingest
//! file's fsyncs wait (BENCHMARKS.md, issue 5). Compressed, it is about a
//! third of that (6.4 KB → 1.9 KB on average for the load bench's
//! customers, 9.7 KB → 2.6 KB at most) and fits in its leaf page.
//!
//! The trace (`decisions.decision`, one row of about ten decisions per
//! evaluation, appended on every event) is stored the same way, for the
//! same bytes.
//!
//! Rows written before this (TEXT) are read as they are, so an existing
//! data directory needs no migration; the next commit of a customer
//! rewrites its row in this form.

use rusqlite::types::ValueRef;
use std::borrow::Cow;
use storeflow_app::ports::StoreError;

/// The tag of an LZ4 block with its uncompressed size prepended.
const LZ4: u8 = 1;

/// Larger than any state the engine keeps (its history, ledger and runs
/// are bounded): a corrupt size prefix must not become a huge allocation.
const MAX_STATE_BYTES: usize = 64 << 20;

/// The stored form of a state's JSON text.
pub(crate) fn encode(json: &str) -> Vec<u8> {
    let packed = lz4_flex::block::compress_prepend_size(json.as_bytes());
    let mut out = Vec::with_capacity(packed.len() + 1);
    out.push(LZ4);
    out.extend_from_slice(&packed);
    out
}

/// The bytes a stored value is known by (the state cache compares them).
pub(crate) fn stored_bytes(v: ValueRef<'_>) -> &[u8] {
    match v {
        ValueRef::Text(b) | ValueRef::Blob(b) => b,
        _ => &[],
    }
}

/// The JSON text of a stored state: a TEXT row as it is, a BLOB decoded.
/// `what` names the record in the error.
pub(crate) fn decode<'a>(v: ValueRef<'a>, what: &str) -> Result<Cow<'a, str>, StoreError> {
    let corrupt = |why: String| StoreError::Corrupt(format!("{what}: {why}"));
    match v {
        ValueRef::Text(b) => std::str::from_utf8(b)
            .map(Cow::Borrowed)
            .map_err(|e| corrupt(e.to_string())),
        ValueRef::Blob([LZ4, rest @ ..]) => {
            let size = rest
                .get(..4)
                .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
                .ok_or_else(|| corrupt("compressed state shorter than its size".into()))?;
            if size > MAX_STATE_BYTES {
                return Err(corrupt(format!(
                    "compressed state claims {size} bytes (more than {MAX_STATE_BYTES})"
                )));
            }
            let bytes = lz4_flex::block::decompress_size_prepended(rest)
                .map_err(|e| corrupt(format!("compressed state: {e}")))?;
            String::from_utf8(bytes)
                .map(Cow::Owned)
                .map_err(|e| corrupt(e.to_string()))
        }
        ValueRef::Blob([tag, ..]) => Err(corrupt(format!("unknown state format {tag}"))),
        other => Err(corrupt(format!(
            "state stored as {:?}, not text or a blob",
            other.data_type()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_comes_back_as_the_text_it_was_and_smaller() {
        let run = r#"{"id":"4e8e169bfa7f8a02","flow":"checkout_abandonment","trigger":{"occurred_at":"2026-11-23T15:00:00Z","properties":{"line_items":[{"price":40.0,"title":"Tee"}]}}}"#;
        let json = format!("{{\"runs\":[{}]}}", [run; 6].join(","));
        let stored = encode(&json);
        assert!(
            stored.len() * 3 < json.len(),
            "{} of {}",
            stored.len(),
            json.len()
        );
        assert_eq!(decode(ValueRef::Blob(&stored), "c").unwrap(), json);
        // A row written before compression reads as it is.
        assert_eq!(decode(ValueRef::Text(json.as_bytes()), "c").unwrap(), json);
    }

    #[test]
    fn a_damaged_state_is_an_error_naming_the_record() {
        let stored = encode("{\"runs\":[]}");
        let cut = &stored[..stored.len() - 3];
        let e = decode(ValueRef::Blob(cut), "customer p_1").unwrap_err();
        assert!(e.to_string().contains("customer p_1"), "{e}");
        let e = decode(ValueRef::Blob(&[7, 0, 0]), "customer p_1").unwrap_err();
        assert!(e.to_string().contains("unknown state format 7"), "{e}");
        // A size prefix that would allocate 4 GB.
        let e = decode(
            ValueRef::Blob(&[LZ4, 255, 255, 255, 255, 0]),
            "customer p_1",
        )
        .unwrap_err();
        assert!(e.to_string().contains("more than"), "{e}");
        assert!(decode(ValueRef::Integer(3), "customer p_1").is_err());
    }
}
