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

/// The x86 vector extensions that decide how fast a model runs: the
/// `/proc/cpuinfo` flag, llama.cpp's name for it, and the name people know.
pub(super) const VECTOR_EXTENSIONS: [(&str, &str, &str); 9] = [
    ("avx2", "AVX2", "AVX2"),
    ("fma", "FMA", "FMA"),
    ("f16c", "F16C", "F16C"),
    ("avx512f", "AVX512", "AVX-512"),
    ("avx512vbmi", "AVX512_VBMI", "AVX-512 VBMI"),
    ("avx512_vnni", "AVX512_VNNI", "AVX-512 VNNI"),
    ("avx512_bf16", "AVX512_BF16", "AVX-512 BF16"),
    ("avx_vnni", "AVX_VNNI", "AVX-VNNI"),
    ("amx_int8", "AMX_INT8", "AMX INT8"),
];

/// The first CPU's model name ("" when unknown) and flags in `/proc/cpuinfo`.
pub(crate) fn model_and_flags(cpuinfo: &str) -> (String, Vec<&str>) {
    let field = |name: &str| {
        cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, value)| value)
    };
    let model = field("model name")
        .map(|m| m.trim().to_string())
        .unwrap_or_default();
    let flags = field("flags")
        .map(|f| f.split_whitespace().collect())
        .unwrap_or_default();
    (model, flags)
}

/// What the CPU offers and what the engine's llama.cpp kernels use.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CpuFeatures {
    /// The CPU's model name.
    pub cpu: String,
    /// Vector extensions the CPU has (of [`VECTOR_EXTENSIONS`]).
    pub cpu_has: Vec<&'static str>,
    /// Those llama.cpp's CPU kernels in this process were compiled to use:
    /// they use nothing newer, whatever the CPU has.
    pub engine_uses: Vec<&'static str>,
    /// The CPU generation whose kernel library the engine loaded
    /// ("icelake"), in the dispatching build; `None` when the kernels are
    /// linked in (built for AVX2 at best).
    pub engine_library: Option<String>,
}

impl CpuFeatures {
    /// This machine's CPU and this binary's engine.
    pub fn detect() -> CpuFeatures {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let (engine_uses, engine_library) = super::engine_kernels();
        CpuFeatures::from(&cpuinfo, engine_uses, engine_library)
    }

    fn from(
        cpuinfo: &str,
        engine_uses: Vec<&'static str>,
        engine_library: Option<String>,
    ) -> CpuFeatures {
        let (cpu, flags) = model_and_flags(cpuinfo);
        let cpu = if cpu.is_empty() {
            "unknown".into()
        } else {
            cpu
        };
        let cpu_has = VECTOR_EXTENSIONS
            .iter()
            .filter(|(flag, _, _)| flags.contains(flag))
            .map(|(_, _, name)| *name)
            .collect();
        CpuFeatures {
            cpu,
            cpu_has,
            engine_uses,
            engine_library,
        }
    }

    /// What the CPU has and the engine leaves unused.
    pub fn unused(&self) -> Vec<&'static str> {
        self.cpu_has
            .iter()
            .filter(|f| !self.engine_uses.contains(f))
            // The 256-bit form of what AVX-512 VNNI does: nothing lost.
            .filter(|f| !(**f == "AVX-VNNI" && self.engine_uses.contains(&"AVX-512 VNNI")))
            .copied()
            .collect()
    }

    /// What the CPU has and what the engine uses, in a sentence.
    pub fn sentence(&self) -> String {
        let list = |names: &[&str]| {
            if names.is_empty() {
                "no vector extensions it knows".to_string()
            } else {
                names.join(", ")
            }
        };
        let kernels = match &self.engine_library {
            Some(variant) => format!(
                "the engine loaded llama.cpp's “{variant}” kernel library, the best for this CPU, which uses"
            ),
            None => "the engine's kernels use".to_string(),
        };
        let mut text = format!(
            "This CPU ({}) has {}; {kernels} {}.",
            self.cpu,
            list(&self.cpu_has),
            list(&self.engine_uses)
        );
        let unused = self.unused();
        if !unused.is_empty() {
            if self.engine_library.is_some() {
                text.push_str(&format!(
                    " The kernels chosen for it leave {} unused.",
                    unused.join(", ")
                ));
                if unused.contains(&"AMX INT8") {
                    text.push_str(" AMX's kernels run only when asked for (HEARTH_CPU_KERNELS=sapphirerapids): they crash on some virtual machines.");
                }
            } else {
                text.push_str(&format!(
                    " {} go unused: this build of llama.cpp is made to run on any AVX2 computer.",
                    unused.join(", ")
                ));
            }
        }
        text
    }

    /// Which quantizations run best with the engine's kernels on this CPU,
    /// in a sentence for the Models page.
    pub fn best_quantizations(&self) -> &'static str {
        let uses = |name| self.engine_uses.contains(&name);
        if uses("AVX-512 VNNI") || uses("AVX-VNNI") {
            "Q4_K_M and Q4_0 run best here: llama.cpp rearranges them for this CPU when the model loads, and VNNI's integer dot products speed up reading prompts. Q4_1 and the Q5 kinds have no such kernels and run slower at the same size."
        } else if uses("AVX2") {
            "Q4_K_M and Q4_0 run best here: llama.cpp rearranges them for AVX2 when the model loads. Q4_1 and the Q5 kinds have no such kernels and run slower at the same size."
        } else {
            "This CPU lacks AVX2: only small models answer at a usable speed; prefer Q4_0."
        }
    }
}

/// The quantizations llama.cpp rearranges for the vector unit its kernels
/// use (`engine_uses`, as [`CpuFeatures::engine_uses`]) when a model loads
/// (`repack`: eight rows interleaved for AVX2 and newer), which makes them
/// the fastest per byte. Empty without AVX2: then nothing is rearranged.
pub fn best_quantizations_for(engine_uses: &[&str]) -> &'static [&'static str] {
    if engine_uses.contains(&"AVX2") {
        &["Q4_K_M", "Q4_K_S", "Q4_0", "IQ4_NL", "MXFP4"]
    } else {
        &[]
    }
}

/// Which llama.cpp kernels this process runs, for benchmark reports:
/// "icelake library: AVX2 FMA F16C AVX-512 AVX-512 VBMI AVX-512 VNNI", or
/// "linked in: AVX2 FMA F16C".
pub fn engine_kernels_summary() -> String {
    let (uses, library) = super::engine_kernels();
    let from = library.map_or("linked in".to_string(), |l| format!("{l} library"));
    format!("{from}: {}", uses.join(" "))
}

/// The quantization a GGUF file's name gives ("Q4_K_M" in
/// `Qwen2.5-7B-Instruct-Q4_K_M.gguf`), in llama.cpp's spelling.
pub fn quantization_in_name(file: &str) -> Option<&'static str> {
    const KNOWN: [&str; 22] = [
        "IQ4_NL", "IQ4_XS", "IQ3_M", "IQ3_XS", "IQ2_M", "Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L",
        "Q4_K_S", "Q4_K_M", "Q4_0", "Q4_1", "Q5_K_S", "Q5_K_M", "Q5_0", "Q5_1", "Q6_K", "Q8_0",
        "MXFP4", "BF16", "F16",
    ];
    let upper = file.to_ascii_uppercase();
    // The name's parts, split where a quantization can begin or end.
    let parts: Vec<&str> = upper
        .trim_end_matches(".GGUF")
        .split(['-', '.', ' '])
        .collect();
    KNOWN
        .iter()
        .find(|q| parts.iter().any(|p| p == *q))
        .copied()
}

/// The CPU's model and the vector extensions that decide llama.cpp's and
/// the index's speed ("AVX2 AVX-512F AVX-512 VNNI"), for benchmark reports:
/// figures from machines with and without AVX-512 are not comparable.
pub fn cpu_flags_summary() -> String {
    let Ok(cpuinfo) = std::fs::read_to_string("/proc/cpuinfo") else {
        return "unknown".into();
    };
    let (model, flags) = model_and_flags(&cpuinfo);
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
    fn says_which_cpu_features_the_engine_leaves_unused() {
        let cpuinfo = "model name\t: Test CPU\nflags\t\t: fpu avx2 fma f16c avx512f avx512_vnni\n";
        let features = CpuFeatures::from(cpuinfo, vec!["AVX2", "FMA", "F16C"], None);
        assert_eq!(features.cpu, "Test CPU");
        assert_eq!(
            features.cpu_has,
            ["AVX2", "FMA", "F16C", "AVX-512", "AVX-512 VNNI"]
        );
        assert_eq!(features.unused(), ["AVX-512", "AVX-512 VNNI"]);
        assert!(features.best_quantizations().contains("AVX2"));
        assert!(
            features.sentence().contains("any AVX2 computer"),
            "{}",
            features.sentence()
        );

        // The dispatching build names the library it loaded.
        let loaded = CpuFeatures::from(
            cpuinfo,
            vec!["AVX2", "FMA", "F16C", "AVX-512", "AVX-512 VNNI"],
            Some("cascadelake".into()),
        );
        assert!(loaded.unused().is_empty());
        assert!(
            loaded.sentence().contains("“cascadelake” kernel library"),
            "{}",
            loaded.sentence()
        );
        assert!(loaded.best_quantizations().contains("VNNI"));
    }

    #[test]
    fn the_engine_reports_the_features_its_kernels_use() {
        let features = CpuFeatures::detect();
        eprintln!("{}", features.sentence());
        // Whatever the build, it names only extensions it knows, and on
        // x86-64 with llama.cpp every build of ours uses at least AVX2 only
        // where the CPU has it.
        for f in &features.engine_uses {
            assert!(VECTOR_EXTENSIONS.iter().any(|(_, _, n)| n == f), "{f}");
            // Kernels never use what the CPU lacks: the dispatch chose well.
            assert!(features.cpu_has.contains(f), "{features:?}");
        }
        if cfg!(all(feature = "llama", target_arch = "x86_64")) {
            assert!(!features.engine_uses.is_empty(), "{features:?}");
        }
        assert_eq!(
            features.engine_library.is_some(),
            cfg!(feature = "cpu-dispatch"),
            "{features:?}"
        );
        if cfg!(feature = "cpu-dispatch") {
            // The dispatching build uses the newest generation the CPU has.
            for newest in ["AVX2", "AVX-512", "AVX-512 VNNI"] {
                if features.cpu_has.contains(&newest) {
                    assert!(
                        features.engine_uses.contains(&newest),
                        "{}",
                        features.sentence()
                    );
                }
            }
        }
    }

    #[test]
    fn reads_the_quantization_in_a_file_name() {
        for (file, want) in [
            ("Qwen2.5-7B-Instruct-Q4_K_M.gguf", Some("Q4_K_M")),
            ("Mistral-7B-Instruct-v0.3.Q4_K_M.gguf", Some("Q4_K_M")),
            ("SmolLM2-135M-Instruct.Q4_1.gguf", Some("Q4_1")),
            ("gemma-3-270m-it-q8_0.gguf", Some("Q8_0")),
            ("model-f16.gguf", Some("F16")),
            ("model-bf16.gguf", Some("BF16")),
            ("my-model.gguf", None),
        ] {
            assert_eq!(quantization_in_name(file), want, "{file}");
        }
        let avx2 = CpuFeatures::from("flags\t: avx2\n", vec!["AVX2"], None);
        assert!(best_quantizations_for(&avx2.engine_uses).contains(&"Q4_K_M"));
        assert!(!best_quantizations_for(&avx2.engine_uses).contains(&"Q4_1"));
        let old = CpuFeatures::from("flags\t: sse4_2\n", vec![], None);
        assert!(best_quantizations_for(&old.engine_uses).is_empty());
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
