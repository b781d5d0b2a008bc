//! Recently committed customer states, kept parsed.
//!
//! Parsing a customer's state (about 4 KB of JSON) on every event was the
//! largest single cost of `storeflow serve` under load, and most events
//! come from customers who were just active (a view, a cart, a checkout,
//! an order within minutes). A commit leaves the state it wrote here,
//! beside the length and hash of the exact value it stored; a load takes it
//! back only when the row's value matches both. So whatever else changed the
//! row (another writer, an erasure, a profile of the same id made again, a
//! transaction rolled back) the cache hands out nothing but what parsing
//! the row would give. What the two may differ in is only derived and not
//! stored: a recorded event's fingerprint bits (a pre-filter, exact or
//! "unknown", whatever the configuration) and a run's cached flow
//! definition, which the store clears on the way out, so that a state kept
//! before a configuration reload looks its flows up in the new one.
//!
//! When full, a random state goes: unlike least-recently-used, that keeps
//! most of a working set somewhat larger than the cache (customers coming
//! back in turn would each find theirs just evicted).

use std::collections::HashMap;
use std::hash::Hasher;
use storeflow_core::CustomerState;

/// States kept at most unless set otherwise (`STOREFLOW_STATE_CACHE` for
/// `storeflow serve`): about 24 KB each in memory once parsed, so about
/// 100 MB when full. The pending timers of a million idle customers take
/// no room here; only customers evaluated recently do.
pub const CAPACITY: usize = 4_096;

#[derive(Default)]
pub struct StateCache {
    /// By profile id: the hash of the value the commit stored, the state it
    /// was serialized from, and the id's place in `ids`.
    kept: HashMap<String, (u128, CustomerState, usize)>,
    /// Every kept id, for picking one at random.
    ids: Vec<String>,
    /// xorshift state: the choice need not be unpredictable, only spread.
    rng: u64,
    /// At most this many; [`CAPACITY`] unless set.
    capacity: Option<usize>,
}

/// What a kept state's stored value is known by: its length and its 64-bit
/// SipHash (std's `DefaultHasher`, fixed keys). Two values of one customer
/// colliding on both is not a practical concern.
fn stored_hash(stored: &[u8]) -> u128 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(stored);
    (stored.len() as u128) << 64 | u128::from(h.finish())
}

impl StateCache {
    /// The state kept for `profile` if the row still stores `stored`, taken out
    /// (the caller is about to change it and commit it again).
    pub fn take(&mut self, profile: &str, stored: &[u8]) -> Option<CustomerState> {
        let (hash, state, _) = self.remove(profile)?;
        // Changed since by something that did not go through here: the
        // row is parsed instead.
        (hash == stored_hash(stored)).then_some(state)
    }

    /// Keeps `state`, just committed as `stored`.
    pub fn keep(&mut self, stored: &[u8], state: CustomerState) {
        let id = state.profile.id.as_str().to_string();
        self.remove(&id);
        let capacity = self.capacity.unwrap_or(CAPACITY);
        if capacity == 0 {
            return;
        }
        while self.kept.len() >= capacity {
            let pick = self.next_random() % self.ids.len();
            let victim = self.ids[pick].clone();
            self.remove(&victim);
        }
        self.ids.push(id.clone());
        self.kept
            .insert(id, (stored_hash(stored), state, self.ids.len() - 1));
    }

    /// Keeps at most `n` states from now on (0: none).
    pub fn set_capacity(&mut self, n: usize) {
        self.capacity = Some(n);
        while self.kept.len() > n {
            let victim = self.ids[self.ids.len() - 1].clone();
            self.remove(&victim);
        }
    }

    /// Drops the state kept for `profile` (an erasure).
    pub fn forget(&mut self, profile: &str) {
        self.remove(profile);
    }

    pub fn len(&self) -> usize {
        self.kept.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kept.is_empty()
    }

    fn remove(&mut self, profile: &str) -> Option<(u128, CustomerState, usize)> {
        let gone = self.kept.remove(profile)?;
        let at = gone.2;
        self.ids.swap_remove(at);
        if let Some(moved) = self.ids.get(at) {
            if let Some(e) = self.kept.get_mut(moved) {
                e.2 = at;
            }
        }
        Some(gone)
    }

    fn next_random(&mut self) -> usize {
        if self.rng == 0 {
            self.rng = 0x9E37_79B9_7F4A_7C15;
        }
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use storeflow_core::model::ids::{ProfileId, ShopId};

    fn state(id: &str) -> CustomerState {
        CustomerState::new(
            ProfileId::parse(id).unwrap(),
            ShopId::parse("north.myshopify.com").unwrap(),
            "2026-11-01T00:00:00Z".parse().unwrap(),
        )
    }

    #[test]
    fn a_state_comes_back_only_for_the_text_it_was_committed_as() {
        let mut c = StateCache::default();
        c.keep(b"v2", state("p_a"));
        assert!(c.take("p_a", b"v3").is_none(), "another text: parse");
        assert!(c.take("p_a", b"v2").is_none(), "dropped by the miss");
        c.keep(b"v2", state("p_a"));
        let got = c.take("p_a", b"v2").expect("the same text");
        assert_eq!(got.profile.id.as_str(), "p_a");
        assert!(c.take("p_a", b"v2").is_none(), "taken out");
        c.keep(b"v4", state("p_a"));
        c.forget("p_a");
        assert!(c.take("p_a", b"v4").is_none(), "forgotten");
    }

    #[test]
    fn the_count_stays_bounded_and_a_cycle_larger_than_the_cache_still_hits() {
        let mut c = StateCache::default();
        let n = CAPACITY + CAPACITY / 4;
        let mut hits = 0;
        for round in 0..4 {
            for i in 0..n {
                let id = format!("p_{i}");
                if c.take(&id, format!("r{}-{i}", round).as_bytes()).is_some() {
                    hits += 1;
                }
                c.keep(format!("r{}-{i}", round + 1).as_bytes(), state(&id));
                assert!(c.len() <= CAPACITY);
            }
        }
        assert_eq!(c.len(), CAPACITY);
        assert_eq!(c.ids.len(), CAPACITY);
        // Least-recently-used would hit nothing here; random eviction keeps
        // most of the cycle.
        assert!(hits > 3 * n / 2, "{hits} hits of {}", 3 * n);
        for (id, (_, s, at)) in &c.kept {
            assert_eq!(&c.ids[*at], id);
            assert_eq!(s.profile.id.as_str(), id);
        }
    }
}
