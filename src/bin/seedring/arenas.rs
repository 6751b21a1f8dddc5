//! glibc's allocator gives each thread that allocates an arena of its own, up
//! to eight per core. A restart of 100,000 torrents allocates on the restore
//! threads, the shards and the API's workers, and each arena keeps its freed
//! pages interleaved with what lives on: the daemon's peak RSS at that restart
//! was 682 MiB with the default and 478 MiB with one arena per core (450 MiB
//! with one in all), measured on a 2-core machine with `scripts/bench-scale`'s
//! store (see `docs/performance.md`).
//!
//! One per core was too few once the shards worked beside the threads they
//! hand work to (the blocking pool's file stamps, the API's workers): an
//! arena is handed to threads in the order they first allocate, not by core,
//! so the shards shared theirs with those threads and waited on its lock (a
//! glibc arena lock's wake-ups were a tenth of the CPU of the seconds after
//! that restart). Two per core, measured on the same store: the bench's peak
//! RSS 499 MiB against 498, `GET /api/v1/torrents` after the start 344 ms
//! against 402, the daemon's CPU over the bench's 20 s window 3.02 s against
//! 3.64 s.

/// Caps glibc's malloc arenas at two per core, before any thread starts. A
/// `MALLOC_ARENA_MAX` in the environment wins (the user's tuning).
pub fn two_per_core() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let arenas = i32::try_from(cores.saturating_mul(2)).unwrap_or(i32::MAX);
    // SAFETY: `mallopt` only sets a tuning parameter of the C allocator; it is
    // called from `main` before any other thread exists, so no allocation
    // races with it. A refusal (return 0) leaves glibc's default in place.
    let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
    if set == 0 {
        eprintln!("seedring: note: malloc arenas not capped (mallopt refused)");
    }
}
