//! Facts about this machine that decide how the model runs: physical cores
//! (llama.cpp is slower with more threads than cores: 4 threads on a 2-core
//! box cut generation from about 80 to 23 tokens/s), free memory (a model
//! larger than what is free would swap or be killed) and memory bandwidth
//! (generating a token reads every weight once, so bandwidth bounds the
//! speed of a model on a CPU).

use std::collections::HashSet;

/// Physical cores, from /proc/cpuinfo's (physical id, core id) pairs; the
/// logical CPU count where that is not available.
pub fn physical_cores() -> u32 {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return logical;
    };
    physical_cores_from(&cpuinfo).map_or(logical, |n| n.min(logical).max(1))
}

fn physical_cores_from(cpuinfo: &str) -> Option<u32> {
    let mut cores = HashSet::new();
    let mut physical = None;
    for line in cpuinfo.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        match key.trim() {
            "physical id" => physical = Some(value.trim().to_string()),
            "core id" => {
                cores.insert((physical.clone(), value.trim().to_string()));
            }
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len() as u32)
}

/// Memory available to new programs, in bytes (`MemAvailable`), if known.
pub fn available_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_value(&meminfo, "MemAvailable")
}

/// Total memory, in bytes, if known.
pub fn total_memory() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo_value(&meminfo, "MemTotal")
}

fn meminfo_value(meminfo: &str, key: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        let kib: u64 = rest.trim().trim_end_matches("kB").trim().parse().ok()?;
        kib.checked_mul(1024)
    })
}

/// Bytes read by [`measure_memory_bandwidth`]: larger than the CPU caches of
/// the boxes Hearth runs on, so the reads come from memory, as a model's
/// weights do (this box reports 480 MiB of L3, yet 128 MiB to 1 GiB all read
/// at the same 16.7 GB/s, so the cache does not flatter the figure).
pub const BANDWIDTH_SAMPLE_BYTES: usize = 256 * 1024 * 1024;

/// Measures how fast this machine streams memory, in bytes per second, by
/// scanning a 256 MiB buffer with one thread per physical core (as llama.cpp
/// generates), best of five passes (other work on the box only ever slows a pass). The scan is `memchr` (SIMD, and built
/// optimised even in debug builds, where a plain loop here measured 1 GB/s
/// instead of 16.7), looking for a byte the buffer does not hold. Takes
/// about half a second and blocks: call it off the async runtime. `None`
/// when the buffer cannot be had.
pub fn measure_memory_bandwidth() -> Option<f64> {
    let mut buffer: Vec<u8> = Vec::new();
    buffer.try_reserve_exact(BANDWIDTH_SAMPLE_BYTES).ok()?;
    // Written first, so every page is really there (not the shared zero page).
    buffer.resize(BANDWIDTH_SAMPLE_BYTES, 0x5A);
    let threads = physical_cores().max(1) as usize;
    let chunk = BANDWIDTH_SAMPLE_BYTES.div_ceil(threads);
    let mut best = 0f64;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let found = std::thread::scope(|scope| {
            let handles: Vec<_> = buffer
                .chunks(chunk)
                .map(|part| scope.spawn(move || memchr::memchr(0xA5, part).is_some()))
                .collect();
            handles.into_iter().any(|h| h.join().unwrap_or(false))
        });
        std::hint::black_box(found);
        let seconds = started.elapsed().as_secs_f64();
        if seconds > 0.0 {
            best = best.max(BANDWIDTH_SAMPLE_BYTES as f64 / seconds);
        }
    }
    (best > 0.0).then_some(best)
}

/// Formats a byte count for people: "98 MB", "4.1 GB".
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 || value >= 10.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The CPU's model and the vector extensions that decide llama.cpp's and
/// the index's speed ("AVX2 AVX-512F AVX-512 VNNI"), for benchmark reports:
/// figures from machines with and without AVX-512 are not comparable.
pub fn cpu_flags_summary() -> String {
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return "unknown".into();
    };
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, name)| name.trim().to_string())
        .unwrap_or_default();
    let flags: Vec<&str> = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("flags"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, f)| f.split_whitespace().collect())
        .unwrap_or_default();
    let named = [
        ("avx2", "AVX2"),
        ("fma", "FMA"),
        ("f16c", "F16C"),
        ("avx512f", "AVX-512F"),
        ("avx512bw", "AVX-512BW"),
        ("avx512_vnni", "AVX-512 VNNI"),
        ("avx_vnni", "AVX-VNNI"),
        ("amx_tile", "AMX"),
    ];
    let present: Vec<&str> = named
        .iter()
        .filter(|(flag, _)| flags.contains(flag))
        .map(|(_, name)| *name)
        .collect();
    format!("{model} [{}]", present.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_physical_cores_not_hyperthreads() {
        let cpuinfo = "processor: 0\nphysical id: 0\ncore id: 0\n\nprocessor: 1\nphysical id: 0\ncore id: 0\n\nprocessor: 2\nphysical id: 0\ncore id: 1\n";
        assert_eq!(physical_cores_from(cpuinfo), Some(2));
        assert_eq!(physical_cores_from("processor: 0\n"), None);
        assert!(physical_cores() >= 1);
    }

    #[test]
    fn reads_meminfo() {
        let meminfo = "MemTotal:       24000000 kB\nMemAvailable:   12000000 kB\n";
        assert_eq!(meminfo_value(meminfo, "MemAvailable"), Some(12_288_000_000));
        assert_eq!(meminfo_value(meminfo, "Nope"), None);
    }

    #[test]
    fn measures_some_bandwidth() {
        let bandwidth = measure_memory_bandwidth().expect("256 MiB to measure with");
        eprintln!("memory bandwidth: {:.1} GB/s", bandwidth / 1e9);
        // Any machine that runs Hearth streams more than 100 MB/s.
        assert!(bandwidth > 1e8, "{bandwidth}");
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(98_000_000), "98 MB");
        assert_eq!(format_bytes(4_100_000_000), "4.1 GB");
    }
}
