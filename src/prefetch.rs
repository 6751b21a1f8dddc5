//! Cache prefetch hints: a walk over many objects that each live in their
//! own allocation (100,000 torrents listed) asks for the next ones' memory
//! while it reads the current one, so their cache misses overlap.

/// Asks for the cache lines of `r`'s value to be loaded (a hint: nothing is
/// read, and nothing happens on a CPU without the instruction).
#[inline]
pub(crate) fn object<T>(r: &T) {
    lines(std::ptr::from_ref(r).cast::<u8>(), std::mem::size_of::<T>());
}

/// Asks for the start of a shared string (its counts and first bytes).
#[inline]
pub(crate) fn arc_str(s: &std::sync::Arc<str>) {
    // The counts sit just before the text in std's layout of an `Arc`
    // (were that to change, only the hint would miss).
    let p = std::sync::Arc::as_ptr(s).cast::<u8>();
    lines(p.wrapping_sub(16), 16 + s.len().min(48));
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn lines(p: *const u8, len: usize) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    for off in (0..len).step_by(64) {
        // SAFETY: a prefetch only hints the cache: it reads nothing the
        // program sees and never faults, whatever the address (here within
        // or just before a live object). It needs SSE, which every x86_64
        // CPU has.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off).cast::<i8>()) };
    }
}

/// No hint where there is no such instruction.
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn lines(_p: *const u8, _len: usize) {}
