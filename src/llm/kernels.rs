//! llama.cpp's CPU kernels: which library this process runs them from, and
//! what they were compiled to use.
//!
//! In the dispatching build (the `cpu-dispatch` cargo feature, on by
//! default) llama.cpp's CPU backend is a set of shared libraries, one per
//! x86-64 generation (`libggml-cpu-haswell.so` for AVX2 through
//! `libggml-cpu-sapphirerapids.so` for AMX), beside the binary or in
//! `../lib/hearth` from it. Before llama.cpp's first use the engine loads
//! the one whose instructions this CPU has and that ranks highest (ggml's own
//! scoring, which reads CPUID), AMX's aside ([`ONLY_BY_NAME`]).
//! `HEARTH_CPU_KERNELS=haswell` (a library's suffix) loads that one instead,
//! to compare, to use AMX, or to work around a CPU that misreports itself.
//! Without the feature the kernels are linked in, built for AVX2 at best,
//! and nothing is loaded.

use std::ffi::{CStr, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use llama_cpp_sys_2 as sys;

/// The kernels this process runs.
#[derive(Debug, Clone)]
pub(super) struct Kernels {
    /// ggml's names of the instruction-set extensions they were compiled
    /// for ("AVX2", "AVX512_VNNI").
    pub features: Vec<String>,
    /// The CPU generation of the library they were loaded from ("icelake");
    /// `None` when they are linked into the binary.
    pub variant: Option<String>,
}

/// Where the kernels came from, once per process: the load happens on first
/// use, before llama.cpp's backend is initialised.
static KERNELS: OnceLock<Result<Kernels, String>> = OnceLock::new();

/// Loads the CPU kernels (in the dispatching build) and says which they are.
pub(super) fn kernels() -> Result<&'static Kernels, String> {
    KERNELS
        .get_or_init(|| {
            // llama.cpp's messages go to the log, from the first one on.
            llama_cpp_2::send_logs_to_tracing(
                llama_cpp_2::LogOptions::default().with_logs_enabled(
                    tracing::enabled!(target: "llama_cpp", tracing::Level::DEBUG),
                ),
            );
            let started = std::time::Instant::now();
            load()?;
            let kernels = describe()?;
            tracing::info!(
                variant = kernels.variant.as_deref().unwrap_or("built in"),
                features = kernels.features.join(" "),
                chosen_in_ms = started.elapsed().as_millis(),
                "llama.cpp CPU kernels"
            );
            Ok(kernels)
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// The file name prefix of the kernel libraries.
const LIBRARY_PREFIX: &str = "libggml-cpu-";

/// Whether this build's kernels are shared libraries to load. The code
/// that loads them is compiled either way, so that the lints (which build
/// llama.cpp linked in, once, instead of in fourteen variants) see it.
const DISPATCHING: bool = cfg!(feature = "cpu-dispatch");

/// Loads the best kernel library for this CPU, or the one named by
/// `HEARTH_CPU_KERNELS`; nothing when the kernels are linked in.
fn load() -> Result<(), String> {
    if !DISPATCHING {
        return Ok(());
    }
    let dir = kernel_dir()?;
    let path = match std::env::var("HEARTH_CPU_KERNELS") {
        Ok(wanted) if !wanted.is_empty() => {
            let path = dir.join(format!("{LIBRARY_PREFIX}{wanted}.so"));
            if !path.is_file() {
                let known: Vec<String> = libraries_in(&dir)
                    .iter()
                    .filter_map(|p| variant_of(p))
                    .collect();
                return Err(format!(
                    "HEARTH_CPU_KERNELS={wanted}: there is no {}; this build has {}",
                    path.display(),
                    known.join(", ")
                ));
            }
            path
        }
        _ => best_library(&dir)?,
    };
    let name = c_path(&path)?;
    // SAFETY: a NUL-terminated path; ggml checks the library's score for
    // this CPU before it registers it, and copies what it keeps.
    let reg = unsafe { sys::ggml_backend_load(name.as_ptr()) };
    if reg.is_null() {
        return Err(format!(
            "llama.cpp could not load {}: this CPU cannot run those kernels",
            path.display()
        ));
    }
    Ok(())
}

/// Kernel libraries loaded only when named in `HEARTH_CPU_KERNELS`: AMX's
/// (sapphirerapids). On our build machine, a virtual machine whose CPU
/// reports AMX and whose kernel grants it, the first tile load of an answer
/// stops the process with an invalid opcode, as it did in a llama-server
/// built for that CPU; a box that crashes on its first answer is worse than
/// one that reads prompts a little slower. AMX is in Xeon servers, not in
/// the mini-PCs Hearth is made for.
const ONLY_BY_NAME: [&str; 1] = ["sapphirerapids"];

/// The kernel library in `dir` that ggml scores highest for this CPU (the
/// newest generation whose instructions it has), leaving out
/// [`ONLY_BY_NAME`].
fn best_library(dir: &Path) -> Result<PathBuf, String> {
    let mut best: Option<(i32, PathBuf)> = None;
    for path in libraries_in(dir) {
        if variant_of(&path).is_some_and(|v| ONLY_BY_NAME.contains(&v.as_str())) {
            continue;
        }
        let Some(score) = score_of(&path) else {
            tracing::warn!(library = %path.display(), "cannot open a CPU kernel library");
            continue;
        };
        if score > 0 && best.as_ref().is_none_or(|(top, _)| score > *top) {
            best = Some((score, path));
        }
    }
    best.map(|(_, path)| path).ok_or_else(|| {
        format!(
            "none of llama.cpp's CPU kernel libraries in {} runs on this CPU",
            dir.display()
        )
    })
}

/// ggml's score of a kernel library for this CPU (0: it cannot run here),
/// or `None` when it does not open.
fn score_of(path: &Path) -> Option<i32> {
    let name = c_path(path).ok()?;
    // SAFETY: opening a kernel library runs only its initialisers, as
    // ggml's own loader does when it compares them.
    let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if handle.is_null() {
        return None;
    }
    // SAFETY: a handle just opened; a static NUL-terminated name.
    let symbol = unsafe { libc::dlsym(handle, c"ggml_backend_score".as_ptr()) };
    let score = (!symbol.is_null()).then(|| {
        // SAFETY: ggml's kernel libraries export this name as
        // `int ggml_backend_score(void)`, which only reads CPUID.
        let score: unsafe extern "C" fn() -> std::ffi::c_int =
            unsafe { std::mem::transmute::<*mut c_void, _>(symbol) };
        unsafe { score() }
    });
    // SAFETY: the handle is open and nothing from it is kept.
    unsafe { libc::dlclose(handle) };
    score
}

/// A path as C wants it.
fn c_path(path: &Path) -> Result<std::ffi::CString, String> {
    std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{} has a NUL byte in its name", path.display()))
}

/// The first directory that has kernel libraries.
fn kernel_dir() -> Result<PathBuf, String> {
    library_dirs()
        .into_iter()
        .find(|dir| !libraries_in(dir).is_empty())
        .ok_or_else(|| {
            format!(
                "llama.cpp's CPU kernels ({LIBRARY_PREFIX}*.so) are missing: they belong beside the hearth binary or in ../lib/hearth from it"
            )
        })
}

/// The llama.cpp libraries this binary runs with, for packaging it (the
/// image, the install script): the shared libraries it is linked with
/// (libllama, libggml, libggml-base) as the dynamic linker found them, and
/// every kernel library. Empty when llama.cpp is linked in.
pub(super) fn library_files() -> Result<Vec<PathBuf>, String> {
    if !DISPATCHING {
        return Ok(Vec::new());
    }
    let maps = std::fs::read_to_string("/proc/self/maps")
        .map_err(|e| format!("cannot read /proc/self/maps: {e}"))?;
    let mut files: Vec<PathBuf> = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .map(PathBuf::from)
        .filter(|path| {
            path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                (n.starts_with("libllama") || n.starts_with("libggml")) && n.contains(".so")
            })
        })
        .map(|path| by_soname(&path))
        .collect();
    files.sort();
    files.dedup();
    if files.is_empty() {
        return Err("this process has no llama.cpp library loaded".into());
    }
    files.extend(libraries_in(&kernel_dir()?));
    Ok(files)
}

/// A library by the name the binary asks for (its soname, `libllama.so.0`)
/// when the dynamic linker opened it through that link to a longer name
/// (`libllama.so.0.6.0`).
fn by_soname(path: &Path) -> PathBuf {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return path.to_path_buf();
    };
    let Some((stem, version)) = name.split_once(".so.") else {
        return path.to_path_buf();
    };
    let major = version.split('.').next().unwrap_or(version);
    let soname = path.with_file_name(format!("{stem}.so.{major}"));
    if soname != path && soname.exists() {
        soname
    } else {
        path.to_path_buf()
    }
}

/// Where the kernel libraries may be, in order: beside the binary (a build's
/// `target/` directory, a release tarball), `../lib/hearth` from it (the
/// installed box and the image: `/usr/lib/hearth`), and the build's own
/// output directory (a test binary elsewhere in `target/`).
fn library_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(beside) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        let installed = beside.join("../lib/hearth");
        dirs.extend([beside, installed]);
    }
    if let Some(built) = sys::BACKENDS_DIR {
        dirs.push(PathBuf::from(built));
    }
    dirs
}

/// The kernel libraries in `dir`.
fn libraries_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| variant_of(p).is_some())
        .collect();
    found.sort();
    found
}

/// "icelake" for `.../libggml-cpu-icelake.so`.
fn variant_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let variant = name.strip_prefix(LIBRARY_PREFIX)?.strip_suffix(".so")?;
    (!variant.is_empty()).then(|| variant.to_string())
}

/// Asks ggml's registry for the CPU backend's features, and the dynamic
/// linker which file its code came from.
fn describe() -> Result<Kernels, String> {
    // SAFETY: a static NUL-terminated name; the registry returns null or a
    // registration that lives as long as the process.
    let reg = unsafe { sys::ggml_backend_reg_by_name(c"CPU".as_ptr()) };
    if reg.is_null() {
        return Err("llama.cpp has no CPU backend: its kernel library did not load".into());
    }
    // SAFETY: as above.
    let proc = unsafe {
        sys::ggml_backend_reg_get_proc_address(reg, c"ggml_backend_get_features".as_ptr())
    };
    if proc.is_null() {
        return Err("llama.cpp's CPU backend does not list its features".into());
    }
    // SAFETY: the CPU backend registers this name with exactly this type
    // (ggml_backend_get_features_t).
    let get_features: unsafe extern "C" fn(
        sys::ggml_backend_reg_t,
    ) -> *mut sys::ggml_backend_feature = unsafe { std::mem::transmute::<*mut c_void, _>(proc) };
    let mut features = Vec::new();
    // SAFETY: an array the backend owns for the process's life, ended by an
    // entry whose name is null.
    unsafe {
        let mut entry = get_features(reg);
        while !entry.is_null() && !(*entry).name.is_null() {
            let name = CStr::from_ptr((*entry).name).to_string_lossy();
            let value = if (*entry).value.is_null() {
                "".into()
            } else {
                CStr::from_ptr((*entry).value).to_string_lossy()
            };
            if value == "1" {
                features.push(name.into_owned());
            }
            entry = entry.add(1);
        }
    }
    Ok(Kernels {
        features,
        variant: library_of(proc).as_deref().and_then(variant_of),
    })
}

/// The file that the code at `address` was loaded from.
fn library_of(address: *mut c_void) -> Option<PathBuf> {
    let mut info = std::mem::MaybeUninit::<libc::Dl_info>::zeroed();
    // SAFETY: dladdr only reads the address and fills `info`.
    let found = unsafe { libc::dladdr(address, info.as_mut_ptr()) };
    if found == 0 {
        return None;
    }
    // SAFETY: filled by a successful dladdr.
    let info = unsafe { info.assume_init() };
    if info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: a NUL-terminated path owned by the dynamic linker.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(PathBuf::from(name.to_string_lossy().into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_cpu_generation_of_a_kernel_library() {
        assert_eq!(
            variant_of(Path::new("/usr/lib/hearth/libggml-cpu-icelake.so")).as_deref(),
            Some("icelake")
        );
        assert_eq!(variant_of(Path::new("/usr/bin/hearth")), None);
        assert_eq!(variant_of(Path::new("libggml-cpu-.so")), None);
        assert_eq!(variant_of(Path::new("libggml-base.so")), None);
    }

    #[test]
    fn names_a_library_by_its_soname() {
        let dir = std::env::temp_dir().join(format!("hearth-soname-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("libllama.so.0.6.0"), b"").unwrap();
        assert_eq!(
            by_soname(&dir.join("libllama.so.0.6.0")),
            dir.join("libllama.so.0.6.0")
        );
        std::fs::write(dir.join("libllama.so.0"), b"").unwrap();
        assert_eq!(
            by_soname(&dir.join("libllama.so.0.6.0")),
            dir.join("libllama.so.0")
        );
        assert_eq!(
            by_soname(&dir.join("libllama.so.0")),
            dir.join("libllama.so.0")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_engine_reports_the_kernels_it_runs() {
        let kernels = kernels().expect("llama.cpp's CPU kernels load");
        eprintln!("{kernels:?}");
        if cfg!(target_arch = "x86_64") {
            assert!(
                kernels.features.iter().any(|f| f == "AVX2" || f == "SSE3"),
                "{kernels:?}"
            );
        }
        assert_eq!(kernels.variant.is_some(), DISPATCHING);
    }
}
