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

#[cfg(test)]
mod tests {
    use super::*;

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
