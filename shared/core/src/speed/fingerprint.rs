//! A 64-bit summary of an event's properties that rules out most `where`
//! tests with one AND, before any map lookup.
//!
//! Counting "viewed product X in 7 days" tests every `product_viewed` kept
//! in the window against the filter; the full test walks a JSON map and
//! compares values. Each recorded event therefore carries a small Bloom
//! filter: one bit for every (path, scalar value) pair in its properties.
//! An equality filter (`eq` / `in` on scalars) knows which bits a matching
//! value would set; when none of them is set, the event cannot match. When
//! one is, the full test decides — so the fingerprint never changes an
//! answer, it only skips work.
//!
//! The bits depend on the properties alone, not on the configuration, so a
//! configuration change cannot make them stale, and they are recomputed
//! (not stored) when a state is read back.

use crate::segment::compare::{num, Compare};
use serde_json::Value;

/// The fingerprint of properties not fingerprinted (no segment filter on
/// their event name has a mask): every bit set, so no mask rules the event
/// out and the full test decides.
pub const UNKNOWN: u64 = u64::MAX;

/// The bits of every (path, scalar) pair in `props`. Arrays are transparent,
/// as in [`crate::segment::compare::any_at`]: `line_items.product_id` reaches the
/// product of every line item.
pub fn of(props: &Value) -> u64 {
    let mut bits = 0;
    walk(props, PATH_SEED, &mut bits);
    bits
}

/// The bits one of which a value passing `cmp` at `parts` must set, or
/// `None` when `cmp` is not a pure equality on scalars (any value might
/// pass, or a missing one).
pub fn mask(parts: &[String], cmp: &Compare) -> Option<u64> {
    if parts.is_empty() || !only_equality(cmp) {
        return None;
    }
    let path = parts.iter().fold(PATH_SEED, |h, p| key(h, p));
    let wanted: Vec<&Value> = match (&cmp.eq, &cmp.is_in) {
        // With both, a passing value equals `eq`: that alone is needed.
        (Some(w), _) => vec![w],
        (None, Some(ws)) => ws.iter().collect(),
        (None, None) => return None,
    };
    let mut m = 0;
    for w in wanted {
        m |= bit(path, scalar(w)?);
    }
    Some(m)
}

/// `eq` and `in` only (and `exists: true`, which they imply).
fn only_equality(c: &Compare) -> bool {
    c.ne.is_none()
        && c.gt.is_none()
        && c.gte.is_none()
        && c.lt.is_none()
        && c.lte.is_none()
        && c.not_in.is_none()
        && c.contains.is_none()
        && c.starts_with.is_none()
        && c.exists != Some(false)
}

const PATH_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0100_0000_01b3;

fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= *b as u64;
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The path hash extended by one key (`.` between keys, as paths are written).
fn key(path: u64, k: &str) -> u64 {
    fnv(fnv(path, b"."), k.as_bytes())
}

/// A hash under which values that [`Compare`]'s equality calls equal are
/// equal: numbers and numeric strings by their number (`"20.0"` = `20`),
/// other strings by their text, booleans by value. `None` for null, arrays
/// and objects (no bit: an equality on scalars never passes them).
fn scalar(v: &Value) -> Option<u64> {
    if let Some(f) = num(v) {
        // 0.0 and -0.0 are equal numbers.
        let f = if f == 0.0 { 0.0 } else { f };
        return Some(fnv(fnv(PATH_SEED, b"n"), &f.to_bits().to_le_bytes()));
    }
    match v {
        Value::String(s) => Some(fnv(fnv(PATH_SEED, b"s"), s.as_bytes())),
        Value::Bool(b) => Some(fnv(PATH_SEED, if *b { b"t" } else { b"f" })),
        _ => None,
    }
}

fn bit(path: u64, value: u64) -> u64 {
    // A final mix, so that the six bits taken depend on every input bit.
    let mut h = path ^ value.rotate_left(29);
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    1 << (h >> 58)
}

fn walk(v: &Value, path: u64, bits: &mut u64) {
    match v {
        Value::Object(map) => {
            for (k, x) in map {
                walk(x, key(path, k), bits);
            }
        }
        Value::Array(items) => items.iter().for_each(|x| walk(x, path, bits)),
        _ => {
            if let Some(h) = scalar(v) {
                *bits |= bit(path, h);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::segment::condition::PropertyMatch;
    use serde_json::json;

    fn m(y: &str) -> PropertyMatch {
        serde_norway::from_str(y).unwrap()
    }

    #[test]
    fn a_passing_value_always_sets_a_masked_bit() {
        let props = json!({"product_id": "p1", "total": "20.00", "ok": true,
            "line_items": [{"product_id": "a", "qty": 2}, {"product_id": "b", "qty": 1}]});
        let bits = of(&props);
        for y in [
            "{ path: product_id, eq: p1 }",
            "{ path: total, eq: 20 }",
            "{ path: total, in: [5, 20.0] }",
            "{ path: ok, eq: true }",
            "{ path: line_items.product_id, eq: b }",
            "{ path: line_items.qty, in: [\"2\"] }",
        ] {
            let pm = m(y);
            assert!(pm.test(&props), "{y}");
            let mask = pm.mask().expect(y);
            assert_ne!(bits & mask, 0, "{y}");
        }
    }

    #[test]
    fn only_equalities_have_a_mask() {
        assert!(m("{ path: a, gt: 1 }").mask().is_none());
        assert!(m("{ path: a, exists: false }").mask().is_none());
        assert!(m("{ path: a, eq: [1] }").mask().is_none());
        assert!(m("{ path: a, eq: 1, exists: true }").mask().is_some());
    }

    #[test]
    fn most_other_values_are_ruled_out() {
        let pm = m("{ path: product_id, eq: p1 }");
        let mask = pm.mask().unwrap();
        let ruled_out = (0..200)
            .filter(|i| of(&json!({"product_id": format!("q{i}")})) & mask == 0)
            .count();
        assert!(ruled_out > 150, "{ruled_out}");
    }
}
