//! Whether a file's bytes are in the page cache, so that sending them straight
//! from the file ([`crate::net`]'s `sendfile`) will not wait for the disk on the
//! shard's thread. Asked with `cachestat(2)` (Linux 6.5 and later); a kernel
//! without it answers "unknown" and blocks are read for the core as before.

use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::OnceLock;

/// `cachestat`'s number: one number on every architecture since Linux 5.1's
/// unified system call table.
const SYS_CACHESTAT: libc::c_long = 451;

#[repr(C)]
struct Range {
    off: u64,
    len: u64,
}

#[repr(C)]
#[derive(Default)]
struct Stat {
    nr_cache: u64,
    nr_dirty: u64,
    nr_writeback: u64,
    nr_evicted: u64,
    nr_recently_evicted: u64,
}

/// Pages of `len` bytes at `offset` of `fd` in the page cache; `None` when the
/// kernel cannot tell (no `cachestat`, or a file it does not count).
fn cached_pages(fd: BorrowedFd<'_>, offset: u64, len: u64) -> Option<u64> {
    let range = Range { off: offset, len };
    let mut stat = Stat::default();
    // SAFETY: `range` and `stat` are live, properly laid out (`#[repr(C)]`, the
    // kernel's `struct cachestat_range` and `struct cachestat`) for the call's
    // length; the kernel reads the first and writes the second only; `fd` is
    // borrowed, so open for the call; flags must be 0.
    let r = unsafe {
        libc::syscall(
            SYS_CACHESTAT,
            fd.as_raw_fd(),
            &raw const range,
            &raw mut stat,
            0,
        )
    };
    (r == 0).then_some(stat.nr_cache)
}

fn page_size() -> u64 {
    static SIZE: OnceLock<u64> = OnceLock::new();
    *SIZE.get_or_init(|| {
        // SAFETY: sysconf reads a constant of the system; no memory is passed.
        let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(4096)
    })
}

/// Whether every page under `len` bytes at `offset` of `fd` is in the page
/// cache (so reading them costs no disk wait). `false` when unknown.
pub fn resident(fd: BorrowedFd<'_>, offset: u64, len: u64) -> bool {
    if len == 0 {
        return true;
    }
    let page = page_size();
    let pages = (offset + len).div_ceil(page) - offset / page;
    cached_pages(fd, offset, len).is_some_and(|n| n >= pages)
}

/// Whether this kernel answers [`resident`] (asked once, of this program's
/// own file).
pub fn supported() -> bool {
    static ANSWER: OnceLock<bool> = OnceLock::new();
    *ANSWER.get_or_init(|| {
        use std::os::fd::AsFd;
        let yes = std::fs::File::open("/proc/self/exe")
            .is_ok_and(|f| cached_pages(f.as_fd(), 0, page_size()).is_some());
        if !yes {
            tracing::info!("no cachestat(2) here (Linux 6.5+): blocks for peers are read, then sent, not sent straight from the page cache");
        }
        yes
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn a_file_just_written_is_resident_and_one_dropped_is_not() {
        if !supported() {
            // Said, not skipped silently: the CI kernel has cachestat (6.x).
            panic!("this kernel has no cachestat(2): Linux 6.5 or later is needed for this test");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&vec![7u8; 1 << 20]).unwrap();
        f.sync_all().unwrap();
        let f = std::fs::File::open(&path).unwrap();
        assert!(resident(f.as_fd(), 0, 1 << 20));
        assert!(resident(f.as_fd(), 4000, 200));
        // SAFETY: a valid descriptor; advice only, no memory passed.
        let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(r, 0);
        assert!(!resident(f.as_fd(), 0, 1 << 20));
        // Past the end: never resident.
        assert!(!resident(f.as_fd(), 2 << 20, 4096));
    }
}
