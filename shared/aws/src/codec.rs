//! How large values are kept in items: JSON, deflated. A customer state is
//! mostly repeated keys and ids, so deflate shrinks it several times, and
//! DynamoDB bills writes per KB stored — this is what keeps an event near
//! one write unit for its state.
//!
//! Items written on every event (customer states, raw deliveries) are
//! deflated after a preset dictionary ([`Dict`]): a few KB of the JSON
//! field names those values are made of (a state's, or Shopify's,
//! SHOPLINE's and Segment's payload schemas). A small item's deflate stream
//! otherwise spends most of its bytes spelling each field name once; after
//! the dictionary, a field name is a back reference of two or three bytes.
//! Such a value starts with its dictionary's tag byte, which no deflate
//! stream can start with (block type 3 is reserved), so values packed
//! without a dictionary (and items written before dictionaries) are read as
//! they are. A dictionary's text never changes once items were packed with
//! it: a new one gets a new tag.

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::{Compress, Compression, FlushCompress, Status};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Write};
use std::sync::OnceLock;

/// A preset dictionary, by what it packs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dict {
    /// A customer state (`CustomerState`'s field names and the starter
    /// pack's segment, flow and event names), before results.
    State,
    /// A customer state, with the field names of its results memory and of
    /// a run's split arm: what states are packed with now.
    State2,
    /// A raw delivery: the payload field names of the platforms' webhooks.
    Deliveries,
}

impl Dict {
    /// The first byte of a value packed with it: bits 1–2 set, a deflate
    /// block type that does not exist.
    fn tag(self) -> u8 {
        match self {
            Dict::State => 0x07,
            Dict::State2 => 0x17,
            Dict::Deliveries => 0x0F,
        }
    }

    fn of_tag(b: u8) -> Option<Dict> {
        [Dict::State, Dict::State2, Dict::Deliveries]
            .into_iter()
            .find(|d| d.tag() == b)
    }

    fn text(self) -> &'static [u8] {
        match self {
            Dict::State => include_bytes!("dict/state.txt"),
            Dict::State2 => include_bytes!("dict/state-2.txt"),
            Dict::Deliveries => include_bytes!("dict/deliveries.txt"),
        }
    }

    /// The dictionary deflated and flushed: a decoder fed these bytes and
    /// then a value's stream has the dictionary in its window, as the
    /// encoder had.
    fn prefix(self) -> &'static [u8] {
        static STATE: OnceLock<Vec<u8>> = OnceLock::new();
        static STATE2: OnceLock<Vec<u8>> = OnceLock::new();
        static DELIVERIES: OnceLock<Vec<u8>> = OnceLock::new();
        let cell = match self {
            Dict::State => &STATE,
            Dict::State2 => &STATE2,
            Dict::Deliveries => &DELIVERIES,
        };
        cell.get_or_init(|| {
            let mut c = Compress::new(Compression::best(), false);
            let mut out = Vec::new();
            deflate(&mut c, self.text(), &mut out, FlushCompress::Sync)
                .expect("deflating a dictionary");
            out
        })
    }
}

/// Feeds all of `input` to `c` with `flush`, appending to `out`.
fn deflate(
    c: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> Result<(), String> {
    let start = c.total_in();
    loop {
        if out.capacity() - out.len() < 256 {
            out.reserve(out.capacity().max(1024));
        }
        let done = (c.total_in() - start) as usize;
        let status = c
            .compress_vec(&input[done..], out, flush)
            .map_err(|e| e.to_string())?;
        let all_in = (c.total_in() - start) as usize == input.len();
        let room_left = out.len() < out.capacity();
        match flush {
            FlushCompress::Finish if status == Status::StreamEnd => return Ok(()),
            FlushCompress::Finish => {}
            _ if all_in && room_left => return Ok(()),
            _ => {}
        }
    }
}

/// `value` as deflated JSON.
pub fn pack<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    // Level 9: DynamoDB bills writes per started KB, and a state or raw
    // delivery of a few KB deflates in well under a millisecond even so.
    let mut enc = DeflateEncoder::new(Vec::with_capacity(json.len() / 4), Compression::best());
    enc.write_all(&json).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

/// `value` as JSON deflated after `dict`.
pub fn pack_with<T: Serialize>(dict: Dict, value: &T) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    Ok(deflate_with(dict, &json))
}

/// `bytes` deflated after `dict`, behind its tag.
pub fn deflate_with(dict: Dict, bytes: &[u8]) -> Vec<u8> {
    let mut c = Compress::new(Compression::best(), false);
    let mut skipped = Vec::with_capacity(dict.text().len());
    let mut out = Vec::with_capacity(bytes.len() / 3 + 64);
    // Deflating into memory fails only on a broken stream state.
    deflate(&mut c, dict.text(), &mut skipped, FlushCompress::Sync)
        .and_then(|()| {
            out.push(dict.tag());
            deflate(&mut c, bytes, &mut out, FlushCompress::Finish)
        })
        .expect("deflate into memory");
    out
}

/// The bytes [`pack`], [`pack_with`] or [`deflate_with`] deflated.
pub fn inflate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(bytes.len() * 4);
    match bytes.first().copied().and_then(Dict::of_tag) {
        Some(dict) => {
            DeflateDecoder::new(dict.prefix().chain(&bytes[1..]))
                .read_to_end(&mut out)
                .map_err(|e| format!("not deflated JSON: {e}"))?;
            if out.len() < dict.text().len() {
                return Err("not deflated JSON: shorter than its dictionary".into());
            }
            out.drain(..dict.text().len());
        }
        None => {
            DeflateDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| format!("not deflated JSON: {e}"))?;
        }
    }
    Ok(out)
}

/// The value [`pack`] or [`pack_with`] made; the error says what was wrong
/// with the bytes.
pub fn unpack<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(&inflate(bytes)?).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_shrinks_repetitive_json() {
        let v: Vec<String> = (0..200).map(|i| format!("flow-step-{}", i % 7)).collect();
        let packed = pack(&v).unwrap();
        assert!(packed.len() * 4 < serde_json::to_vec(&v).unwrap().len());
        assert_eq!(unpack::<Vec<String>>(&packed).unwrap(), v);
        assert!(unpack::<Vec<String>>(b"not deflate").is_err());
    }

    #[test]
    fn a_dictionary_shrinks_small_values_and_both_formats_read_back() {
        let v = serde_json::json!({
            "profile": {"anonymous_ids": [], "created_at": "2026-03-01T10:00:00Z",
                        "last_activity_at": "2026-03-01T10:00:00Z"},
            "segments": {"slots": [{"membership": {"member": false}, "segment": "cart_twice_no_order"}]},
            "entries": {"checkout_abandonment": {"count": 1, "last": "2026-03-01T10:00:00Z"}}
        });
        let plain = pack(&v).unwrap();
        for dict in [Dict::State, Dict::State2, Dict::Deliveries] {
            let with = pack_with(dict, &v).unwrap();
            assert_eq!(with[0], dict.tag());
            assert_eq!(unpack::<serde_json::Value>(&with).unwrap(), v);
        }
        let with = pack_with(Dict::State, &v).unwrap();
        assert!(
            with.len() * 3 < plain.len() * 2,
            "{} vs {}",
            with.len(),
            plain.len()
        );
        // Items packed before dictionaries still read.
        assert_eq!(unpack::<serde_json::Value>(&plain).unwrap(), v);
        // Every tag is a byte no deflate stream starts with.
        for dict in [Dict::State, Dict::State2, Dict::Deliveries] {
            assert_eq!((dict.tag() >> 1) & 3, 3);
            assert!(DeflateDecoder::new(&[dict.tag(), 0, 0][..])
                .read_to_end(&mut Vec::new())
                .is_err());
        }
        // A stream cut short is an error, not a shorter value.
        assert!(inflate(&with[..with.len() / 2]).is_err());
    }
}
