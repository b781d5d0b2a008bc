//! A set of positions below a bound fixed at creation (segment slots,
//! policy caps): one bit each, held inline up to 128 positions, so the
//! per-event passes that mark positions allocate nothing in the usual case.

#[derive(Debug, Clone)]
pub(crate) enum BitSet {
    Inline([u64; 2]),
    Heap(Vec<u64>),
}

impl BitSet {
    const INLINE: usize = 128;

    /// An empty set for positions `0..n`.
    pub fn new(n: usize) -> Self {
        if n <= Self::INLINE {
            BitSet::Inline([0; 2])
        } else {
            BitSet::Heap(vec![0; n.div_ceil(64)])
        }
    }

    fn words(&self) -> &[u64] {
        match self {
            BitSet::Inline(w) => w,
            BitSet::Heap(w) => w,
        }
    }

    fn words_mut(&mut self) -> &mut [u64] {
        match self {
            BitSet::Inline(w) => w,
            BitSet::Heap(w) => w,
        }
    }

    pub fn insert(&mut self, i: usize) {
        self.words_mut()[i / 64] |= 1 << (i % 64);
    }

    pub fn contains(&self, i: usize) -> bool {
        self.words()[i / 64] & (1 << (i % 64)) != 0
    }

    /// The first position at or after `from` in the set.
    pub fn next_from(&self, from: usize) -> Option<usize> {
        let words = self.words();
        let mut w = from / 64;
        let mut bits = *words.get(w)? & (!0u64 << (from % 64));
        loop {
            if bits != 0 {
                return Some(w * 64 + bits.trailing_zeros() as usize);
            }
            w += 1;
            bits = *words.get(w)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BitSet;

    #[test]
    fn positions_in_order_inline_and_on_the_heap() {
        for n in [3, 100, 128, 300] {
            let mut s = BitSet::new(n);
            let want: Vec<usize> = (0..n).filter(|i| i % 7 == 0 || *i == n - 1).collect();
            for &i in want.iter().rev() {
                s.insert(i);
            }
            let mut got = Vec::new();
            let mut at = 0;
            while let Some(i) = s.next_from(at) {
                got.push(i);
                at = i + 1;
            }
            assert_eq!(got, want, "n = {n}");
            assert!(s.contains(0) && !s.contains(1));
        }
    }
}
