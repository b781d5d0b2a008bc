//! Asking the CPU to start loading memory the engine is about to read.
//!
//! A customer's state is seldom in the cache when their next event comes
//! (a store has many customers, each event touches one), and the engine
//! reads it in small pieces far apart: a membership slot here, the flow
//! entry records there. Read in turn, each piece waits out a miss before
//! the next is asked for. Asked for at once, where the addresses are known
//! ahead, the misses overlap.
//!
//! A prefetch is only a hint: it reads nothing into the program, cannot
//! fault, and may be ignored, so any address may be given.

/// Starts loading the cache line holding `*p` (x86-64 only; elsewhere a
/// no-op).
#[inline(always)]
pub fn line<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint; it does not access memory in a way
    // that can fault or be observed, whatever the address.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Starts loading the first `lines` cache lines of a slice's memory.
#[inline(always)]
pub fn head<T>(s: &[T], lines: usize) {
    let bytes = std::mem::size_of_val(s);
    let p = s.as_ptr().cast::<u8>();
    let mut off = 0;
    while off < bytes && off < lines * 64 {
        line(p.wrapping_add(off));
        off += 64;
    }
}
