//! How large values are kept in items: JSON, deflated. A customer state is
//! mostly repeated keys and ids, so deflate shrinks it several times, and
//! DynamoDB bills writes per KB stored — this is what keeps an event near
//! one write unit for its state.

use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::{Read, Write};

/// `value` as deflated JSON.
pub fn pack<T: Serialize>(value: &T) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(value).map_err(|e| e.to_string())?;
    // Level 9: DynamoDB bills writes per started KB, and a state or raw
    // delivery of a few KB deflates in well under a millisecond even so.
    let mut enc = DeflateEncoder::new(Vec::with_capacity(json.len() / 4), Compression::best());
    enc.write_all(&json).map_err(|e| e.to_string())?;
    enc.finish().map_err(|e| e.to_string())
}

/// The value [`pack`] made; the error says what was wrong with the bytes.
pub fn unpack<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    let mut json = Vec::with_capacity(bytes.len() * 4);
    DeflateDecoder::new(bytes)
        .read_to_end(&mut json)
        .map_err(|e| format!("not deflated JSON: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| e.to_string())
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
}
