//! HTTPS on the box (`[server] https_listen`, port 443 on the appliance).
//! An office box has no public name, so no public certificate authority can
//! vouch for it: at its first start Hearth makes its own certificate for
//! the names it answers to (`hearth.local` and its clash variants,
//! `localhost`, the addresses it has then), keeps it in `<data_dir>/tls/`,
//! and shows its fingerprint on Admin → System so the owner can check the
//! browser's warning, or install the certificate on the office's devices.
//! An owner with a certificate of their own puts it in place of these files.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// The certificate and key files in `dir` (`<data_dir>/tls`).
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TlsFiles {
    pub fn new(data_dir: &Path) -> TlsFiles {
        let dir = data_dir.join("tls");
        TlsFiles {
            cert: dir.join("hearth.crt"),
            key: dir.join("hearth.key"),
        }
    }

    /// Makes the certificate if there is none yet; returns whether it did.
    pub fn ensure(&self, mdns_name: &str, addresses: &[IpAddr]) -> anyhow::Result<bool> {
        if self.cert.exists() && self.key.exists() {
            return Ok(false);
        }
        let mut names = vec![format!("{mdns_name}.local")];
        names.extend((2..=9).map(|n| format!("{mdns_name}-{n}.local")));
        names.push("localhost".to_string());
        names.extend(addresses.iter().map(IpAddr::to_string));
        let made = rcgen::generate_simple_self_signed(names)
            .context("cannot make the box's HTTPS certificate")?;
        let dir = self.cert.parent().expect("tls/ has a parent");
        std::fs::create_dir_all(dir)?;
        write_private(&self.key, made.signing_key.serialize_pem().as_bytes())?;
        std::fs::write(&self.cert, made.cert.pem())?;
        tracing::info!(path = %self.cert.display(), fingerprint = %self.fingerprint().unwrap_or_default(), "made the box's HTTPS certificate");
        Ok(true)
    }

    /// rustls's configuration for serving with these files.
    pub fn server_config(&self) -> anyhow::Result<Arc<rustls::ServerConfig>> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&self.cert)
            .with_context(|| format!("cannot read {}", self.cert.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("{} is not a PEM certificate", self.cert.display()))?;
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .with_context(|| format!("{} is not a PEM private key", self.key.display()))?;
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("the HTTPS certificate and key do not belong together")?;
        Ok(Arc::new(config))
    }

    /// The certificate's SHA-256 fingerprint, as browsers show it
    /// (`AB:CD:...`).
    pub fn fingerprint(&self) -> Option<String> {
        let cert = CertificateDer::pem_file_iter(&self.cert)
            .ok()?
            .next()?
            .ok()?;
        let digest = Sha256::digest(cert.as_ref());
        Some(
            digest
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<Vec<_>>()
                .join(":"),
        )
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_certificate_is_made_once_and_serves() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles::new(dir.path());
        assert!(
            files
                .ensure("hearth", &["192.168.1.20".parse().unwrap()])
                .unwrap()
        );
        let fingerprint = files.fingerprint().unwrap();
        assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");
        assert!(
            !files.ensure("hearth", &[]).unwrap(),
            "kept, not made again"
        );
        assert_eq!(files.fingerprint().unwrap(), fingerprint);
        files.server_config().unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&files.key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key is private");
        std::fs::write(&files.key, "not a key").unwrap();
        let err = files.server_config().unwrap_err();
        assert!(
            format!("{err:#}").contains("not a PEM private key"),
            "{err:#}"
        );
    }
}
