//! An update bundle (`hearth-<version>.bundle`, made by `image/build.sh`):
//! a plain tar holding `manifest.json`, its minisign signature
//! `manifest.json.minisig`, and the files the manifest lists with their
//! SHA-256: the root file system (`rootfs.ext4.zst`), the kernel and the
//! initrd.
//!
//! Trust runs one way: the signature is checked against the public key
//! baked into the running system (`[appliance] update_key`), the manifest
//! it covers names every file's checksum, and each file is checked against
//! it before a byte of it is used. So a bundle that a compromised web
//! process wrote cannot make the root-owned updater install anything the
//! key's holder did not sign.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The manifest's own name in the tar, and its signature's.
pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.json.minisig";

/// What a bundle says it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The version people see ("0.2.0").
    pub version: String,
    /// Increases with every build the updater may install; the boot menu
    /// sorts by it, so the newest install boots first.
    pub generation: u64,
    pub kernel: Member,
    pub initrd: Member,
    pub rootfs: Member,
    /// When the bundle was built (RFC 3339), for the record.
    #[serde(default)]
    pub created: String,
}

/// One file of the bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its name in the tar.
    pub file: String,
    /// Lowercase hex SHA-256 of its bytes in the tar.
    pub sha256: String,
}

/// Why a bundle was refused, in words for the owner.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("this is not a Hearth update bundle ({0})")]
    NotABundle(String),
    #[error("the bundle is not signed by this box's publisher: {0}")]
    BadSignature(String),
    #[error("{0} in the bundle is damaged (its checksum does not match); download it again")]
    Damaged(String),
    #[error("this box cannot check updates: {0}")]
    NoKey(String),
    #[error("cannot read the bundle: {0}")]
    Io(#[from] std::io::Error),
}

/// A bundle whose signature and every file have been checked.
#[derive(Debug)]
pub struct Bundle {
    path: PathBuf,
    pub manifest: Manifest,
    /// Where each file's bytes start in the tar, and how many there are.
    members: Vec<(String, u64, u64)>,
}

impl Bundle {
    /// Opens the bundle at `path`, checks the manifest's signature with the
    /// minisign public key in `key_file`, and every listed file's SHA-256,
    /// reporting bytes checked (of the whole tar) to `progress`.
    pub fn open(
        path: &Path,
        key_file: &Path,
        mut progress: impl FnMut(u64, u64),
    ) -> Result<Bundle, BundleError> {
        let key = std::fs::read_to_string(key_file)
            .map_err(|e| BundleError::NoKey(format!("{}: {e}", key_file.display())))?;
        let key = minisign_verify::PublicKey::decode(&key)
            .or_else(|_| minisign_verify::PublicKey::from_base64(key.trim()))
            .map_err(|e| BundleError::NoKey(format!("{}: {e}", key_file.display())))?;
        let total = std::fs::metadata(path)?.len();
        let members = list(path)?;
        let small = |name: &str| -> Result<Vec<u8>, BundleError> {
            let (_, offset, size) = members
                .iter()
                .find(|(n, _, _)| n == name)
                .ok_or_else(|| BundleError::NotABundle(format!("it has no {name}")))?;
            if *size > 1024 * 1024 {
                return Err(BundleError::NotABundle(format!("{name} is too large")));
            }
            let mut bytes = Vec::new();
            section(path, *offset, *size)?.read_to_end(&mut bytes)?;
            Ok(bytes)
        };
        let manifest_bytes = small(MANIFEST)?;
        let signature = String::from_utf8(small(SIGNATURE)?)
            .map_err(|_| BundleError::BadSignature("the signature is not text".into()))?;
        let signature = minisign_verify::Signature::decode(&signature)
            .map_err(|e| BundleError::BadSignature(e.to_string()))?;
        key.verify(&manifest_bytes, &signature, false)
            .map_err(|e| BundleError::BadSignature(e.to_string()))?;
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| BundleError::NotABundle(format!("its manifest is not valid: {e}")))?;
        let bundle = Bundle {
            path: path.to_path_buf(),
            manifest,
            members,
        };
        let mut checked = 0;
        for member in [
            &bundle.manifest.kernel,
            &bundle.manifest.initrd,
            &bundle.manifest.rootfs,
        ] {
            let mut reader = bundle.reader(&member.file)?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                checked += n as u64;
                progress(checked, total);
            }
            if hex::encode(hasher.finalize()) != member.sha256.to_lowercase() {
                return Err(BundleError::Damaged(member.file.clone()));
            }
        }
        Ok(bundle)
    }

    /// The bytes of one file of the bundle.
    pub fn reader(&self, name: &str) -> Result<std::io::Take<File>, BundleError> {
        let (_, offset, size) = self
            .members
            .iter()
            .find(|(n, _, _)| n == name)
            .ok_or_else(|| BundleError::NotABundle(format!("it has no {name}")))?;
        Ok(section(&self.path, *offset, *size)?)
    }

    /// The size in bytes of one file of the bundle.
    pub fn size(&self, name: &str) -> u64 {
        self.members
            .iter()
            .find(|(n, _, _)| n == name)
            .map_or(0, |(_, _, size)| *size)
    }
}

/// Every regular file in the tar: its name, where its bytes start, its size.
fn list(path: &Path) -> Result<Vec<(String, u64, u64)>, BundleError> {
    let mut archive = tar::Archive::new(File::open(path)?);
    let entries = archive
        .entries()
        .map_err(|e| BundleError::NotABundle(e.to_string()))?;
    let mut members = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BundleError::NotABundle(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| BundleError::NotABundle(e.to_string()))?
            .to_string_lossy()
            .trim_start_matches("./")
            .to_string();
        members.push((name, entry.raw_file_position(), entry.size()));
    }
    if members.is_empty() {
        return Err(BundleError::NotABundle("it holds no files".into()));
    }
    Ok(members)
}

fn section(path: &Path, offset: u64, size: u64) -> std::io::Result<std::io::Take<File>> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    Ok(file.take(size))
}
