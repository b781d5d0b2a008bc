//! mimalloc as the global allocator.
//!
//! The engine allocates many small, short-lived values per event
//! (decisions, JSON properties); mimalloc serves those markedly faster than
//! the system allocator (see BENCHMARKS.md).
//!
//! The `mimalloc` crate allocates every block with `mi_malloc_aligned`,
//! whose alignment handling sends part of the calls through a slower
//! generic path. Every block `mi_malloc` returns is aligned to at least
//! 8 bytes (its smallest size class is a word), so alignments up to 8, by
//! far the usual ones, call `mi_malloc`, `mi_zalloc` and `mi_realloc`
//! directly; larger ones keep the aligned calls. `mi_free` frees both.
//!
//! ```ignore
//! #[global_allocator]
//! static GLOBAL: storeflow_alloc::MiMalloc = storeflow_alloc::MiMalloc;
//! ```
#![no_std]

use core::alloc::{GlobalAlloc, Layout};
use libmimalloc_sys as ffi;

/// The global allocator: `#[global_allocator] static GLOBAL: MiMalloc = MiMalloc;`.
pub struct MiMalloc;

/// The largest alignment every `mi_malloc` block has, whatever its size.
const MIN_ALIGN: usize = core::mem::size_of::<usize>();

// SAFETY: mimalloc's functions meet `GlobalAlloc`'s contract; the unaligned
// calls are used only for alignments every block already has (`MIN_ALIGN`).
unsafe impl GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            ffi::mi_malloc(layout.size()).cast()
        } else {
            ffi::mi_malloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            ffi::mi_zalloc(layout.size()).cast()
        } else {
            ffi::mi_zalloc_aligned(layout.size(), layout.align()).cast()
        }
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        ffi::mi_free(ptr.cast());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= MIN_ALIGN {
            ffi::mi_realloc(ptr.cast(), new_size).cast()
        } else {
            ffi::mi_realloc_aligned(ptr.cast(), new_size, layout.align()).cast()
        }
    }
}

// mimalloc's option setter, declared here: the `extended` API of
// `libmimalloc-sys` would add a dependency for one declaration.
extern "C" {
    fn mi_option_set_default(option: core::ffi::c_int, value: core::ffi::c_long);
}

/// `mi_option_generic_collect` in the `mi_option_t` of the bundled mimalloc
/// (3.3.2; a test checks that version): how many
/// allocations that miss the fast path (about one in a thousand) pass
/// between two collections of the thread's whole heap.
const GENERIC_COLLECT: core::ffi::c_int = 34;

/// Allocator settings for a process that keeps a large, long-lived heap (the
/// engine's customer states); call it first thing in `main`. A
/// `MIMALLOC_GENERIC_COLLECT` in the environment still wins.
///
/// mimalloc collects the thread's heap every 10,000 slow-path allocations
/// by default, walking every page it holds: with 100,000 customers in memory
/// (4.5 GB) that was 3.7% of the engine bench's time (perf), for pages that
/// the next allocations reuse anyway. Every 1,000,000 (mimalloc's maximum)
/// it no longer shows.
pub fn tune() {
    // SAFETY: plain setters of mimalloc's option table, callable at any time.
    unsafe { mi_option_set_default(GENERIC_COLLECT, 1_000_000) }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern "C" {
        fn mi_option_get(option: core::ffi::c_int) -> core::ffi::c_long;
        fn mi_version() -> core::ffi::c_int;
    }

    /// The bundled mimalloc's `MI_MALLOC_VERSION`.
    const MIMALLOC_VERSION: core::ffi::c_int = 30302;

    #[test]
    fn tune_sets_the_collect_interval_of_the_bundled_mimalloc() {
        // Another mimalloc may number its options differently: check
        // `GENERIC_COLLECT` against its `mimalloc.h`, then this version.
        assert_eq!(unsafe { mi_version() }, MIMALLOC_VERSION);
        tune();
        assert_eq!(unsafe { mi_option_get(GENERIC_COLLECT) }, 1_000_000);
    }

    #[test]
    fn blocks_have_their_alignment() {
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 3, 8, 12, 24, 40, 100, 1000, 5000, 100_000] {
                let layout = Layout::from_size_align(size, align).unwrap();
                unsafe {
                    let p = MiMalloc.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "alloc {size} / {align}");
                    p.write_bytes(0xAB, size);
                    let q = MiMalloc.realloc(p, layout, size * 3);
                    assert_eq!(q as usize % align, 0, "realloc {size} / {align}");
                    assert_eq!(*q.add(size - 1), 0xAB);
                    MiMalloc.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = MiMalloc.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0, "alloc_zeroed {size} / {align}");
                    assert!((0..size).all(|i| *z.add(i) == 0));
                    MiMalloc.dealloc(z, layout);
                }
            }
        }
    }
}
