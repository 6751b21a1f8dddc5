//! glibc's allocator gives each thread that allocates an arena of its own, up
//! to eight per core. A restart of 100,000 torrents allocates on the restore
//! threads, the shards and the API's workers, and each arena keeps its freed
//! pages interleaved with what lives on: the daemon's peak RSS at that restart
//! was 682 MiB with the default and 478 MiB with one arena per core (450 MiB
//! with one in all), measured on a 2-core machine with `scripts/bench-scale`'s
//! store (see `docs/performance.md`). One arena per core matches the shards:
//! threads of one core share one.

/// Caps glibc's malloc arenas at one per core, before any thread starts. A
/// `MALLOC_ARENA_MAX` in the environment wins (the user's tuning).
pub fn one_per_core() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let cores = i32::try_from(cores).unwrap_or(i32::MAX);
    // SAFETY: `mallopt` only sets a tuning parameter of the C allocator; it is
    // called from `main` before any other thread exists, so no allocation
    // races with it. A refusal (return 0) leaves glibc's default in place.
    let set = unsafe { libc::mallopt(libc::M_ARENA_MAX, cores) };
    if set == 0 {
        eprintln!("seedring: note: malloc arenas not capped (mallopt refused)");
    }
}
