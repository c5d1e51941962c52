//! The process's memory after bursts of work. Under a load test (200
//! clients) the server still held 1.06 GiB 20 s after the load ended,
//! against 353 MiB idle with the model. The cause was glibc's *dynamic* mmap
//! threshold: once a large block (argon2's 19 MiB per password check) is
//! freed, glibc raises the threshold and serves the next ones from its
//! arenas, which it rarely gives back. Measured (debug build, 50 clients
//! signing in three times each): peak 1,756 MiB with the default, 349 MiB
//! with a fixed threshold. So the threshold is fixed, arenas are capped,
//! and freed memory is trimmed every half minute.

/// Blocks at least this large are mapped and unmapped on their own, so
/// freeing one gives its memory back at once.
const MMAP_THRESHOLD: i32 = 512 * 1024;

/// Fixes glibc's mmap threshold (which also stops it from rising) and caps
/// its malloc arenas (the default is eight per core). Call once, before
/// threads start.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tuning; called before other
    // threads exist.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns freed memory at the top of the heaps and in unused pages of the
/// arenas to the system. Cheap when there is nothing to return.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The process's resident memory in bytes, from /proc (Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
