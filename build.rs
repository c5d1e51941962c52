//! With the `cpu-dispatch` feature llama.cpp is a set of shared libraries
//! (libllama, libllama-common, libggml, libggml-base, and one libggml-cpu-*
//! per CPU generation, which the engine loads at run time). The binary finds
//! the linked ones through its RUNPATH: beside itself, or in `../lib/hearth`
//! from it (`/usr/bin/hearth` finds `/usr/lib/hearth`: the image and the
//! installed box).
//!
//! In a build's `target/<profile>/` llama-cpp-sys-2 leaves only links named
//! `libllama.so` that point at `libllama.so.0`, which it does not copy; the
//! binary needs the file by that name (its soname). This script puts each
//! library there by its soname, beside the binaries (`target/<profile>/`)
//! and the test binaries (`deps/`), replacing what an earlier build left,
//! so `target/debug/hearth` runs as it is.

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CPU_DISPATCH").is_none() {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN:$ORIGIN/../lib/hearth");
    // llama-cpp-sys-2 (links = "llama") says where it built: DEP_LLAMA_ROOT.
    let Some(root) = std::env::var_os("DEP_LLAMA_ROOT").map(PathBuf::from) else {
        panic!("llama-cpp-sys-2 did not say where it built llama.cpp (DEP_LLAMA_ROOT)");
    };
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // OUT_DIR is target/<profile>/build/hearth-<hash>/out.
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is inside target/<profile>/build")
        .to_path_buf();
    for (soname, file) in sonames(&root.join("lib")) {
        println!("cargo:rerun-if-changed={}", file.display());
        for dir in [profile_dir.clone(), profile_dir.join("deps")] {
            place(&file, &dir.join(&soname));
        }
    }
}

/// The shared libraries in `lib`: each soname (`libllama.so.0`, a link
/// there) with the file it names.
fn sonames(lib: &Path) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(lib) else {
        panic!("llama-cpp-sys-2 left no {}", lib.display());
    };
    let mut found = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        // libX.so.N: one number after ".so." is the soname.
        let Some((_, version)) = name.split_once(".so.") else {
            continue;
        };
        if !version.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let file = std::fs::canonicalize(entry.path())
            .unwrap_or_else(|e| panic!("cannot resolve {}: {e}", entry.path().display()));
        found.push((name, file));
    }
    assert!(
        !found.is_empty(),
        "no shared libraries in {}",
        lib.display()
    );
    found
}

/// Puts `file` at `dest`: a hard link, or a copy across file systems.
fn place(file: &Path, dest: &Path) {
    match std::fs::remove_file(dest) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => panic!("cannot replace {}: {e}", dest.display()),
    }
    if std::fs::hard_link(file, dest).is_err() {
        std::fs::copy(file, dest).unwrap_or_else(|e| {
            panic!("cannot copy {} to {}: {e}", file.display(), dest.display())
        });
    }
}
