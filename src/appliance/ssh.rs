//! Remote maintenance by SSH: off unless the owner turns it on (Admin →
//! System), and then only with the public keys the owner pasted: no
//! passwords. Hearth (unprivileged) keeps the owner's choice in
//! `<data_dir>/system/ssh.json`; `hearth-ssh.path` notices the change and
//! `hearth ssh apply` (root) makes the system match it: root's
//! `authorized_keys`, the SSH service, and port 22 in the firewall's
//! `admin_tcp` set. It runs at every boot too, because the system is
//! replaced whole by updates while the choice stays on the data partition.
//! The host keys are kept there as well, so an update does not make every
//! client warn that the box's key changed.

use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::appliance::update::{now, read_json, write_json};

/// Key types SSH accepts for logins today.
const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-rsa",
];

/// The owner's choice.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshSettings {
    pub enabled: bool,
    /// OpenSSH public keys, one per entry.
    pub keys: Vec<String>,
    pub changed_by: String,
    pub at: i64,
}

/// What the root side last made of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SshState {
    pub enabled: bool,
    /// In words for the owner: on, off, or what went wrong.
    pub message: String,
    pub at: i64,
}

/// The files, in `<data_dir>/system/`.
pub struct SshFiles {
    dir: PathBuf,
}

impl SshFiles {
    pub fn new(data_dir: &Path) -> SshFiles {
        SshFiles {
            dir: data_dir.join("system"),
        }
    }

    pub fn settings_path(&self) -> PathBuf {
        self.dir.join("ssh.json")
    }

    pub fn state_path(&self) -> PathBuf {
        self.dir.join("ssh-state.json")
    }

    /// Where the host keys are kept across updates (root only).
    pub fn host_keys(&self) -> PathBuf {
        self.dir.join("ssh-host-keys")
    }

    pub fn settings(&self) -> SshSettings {
        read_json(&self.settings_path()).unwrap_or_default()
    }

    pub fn state(&self) -> Option<SshState> {
        read_json(&self.state_path())
    }

    pub fn save(&self, settings: &SshSettings) -> std::io::Result<()> {
        write_json(&self.settings_path(), settings)
    }
}

/// Checks pasted public keys, one per line (blank lines and `#` comments
/// are skipped); the keys, or what is wrong with the first bad line.
pub fn parse_keys(text: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut parts = line.split_whitespace();
        let kind = parts.next().unwrap_or_default();
        let body = parts.next().unwrap_or_default();
        let line_no = number + 1;
        if !KEY_TYPES.contains(&kind) {
            return Err(format!(
                "Line {line_no} is not an SSH public key: it should start with ssh-ed25519 (or another key type) and come from a .pub file, never the private key."
            ));
        }
        let blob = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| format!("Line {line_no}: the key's text is cut or changed; copy the whole line of the .pub file."))?;
        // The blob starts with its own type, length-prefixed.
        let named = blob
            .get(4..4 + kind.len())
            .is_some_and(|name| name == kind.as_bytes());
        if !named {
            return Err(format!(
                "Line {line_no}: the key's text does not match its type {kind}; copy the whole line of the .pub file."
            ));
        }
        keys.push(line.to_string());
    }
    Ok(keys)
}

/// `hearth ssh apply` (root): makes the system match the owner's choice.
/// `system` is the root of the file system (`/`; a folder in tests, which
/// then runs no commands).
pub fn apply(files: &SshFiles, system: &Path) -> anyhow::Result<SshState> {
    let settings = files.settings();
    let on = settings.enabled && !settings.keys.is_empty();
    let commands = system == Path::new("/");
    let authorized = system.join("root/.ssh/authorized_keys");
    let result = if on {
        turn_on(files, system, &settings, &authorized, commands)
    } else {
        turn_off(&authorized, commands)
    };
    let state = match result {
        Ok(()) if on => SshState {
            enabled: true,
            message: format!(
                "SSH is on for {} key{}: ssh root@ the box's name or address.",
                settings.keys.len(),
                if settings.keys.len() == 1 { "" } else { "s" }
            ),
            at: now(),
        },
        Ok(()) => SshState {
            enabled: false,
            message: "SSH is off; port 22 is closed.".to_string(),
            at: now(),
        },
        Err(err) => SshState {
            enabled: false,
            message: format!("SSH could not be changed: {err:#}"),
            at: now(),
        },
    };
    write_json(&files.state_path(), &state)?;
    Ok(state)
}

fn turn_on(
    files: &SshFiles,
    system: &Path,
    settings: &SshSettings,
    authorized: &Path,
    commands: bool,
) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let etc_ssh = system.join("etc/ssh");
    let kept = files.host_keys();
    std::fs::create_dir_all(&kept)?;
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o700))?;
    let has_keys = |dir: &Path| {
        std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().starts_with("ssh_host_"))
        })
    };
    if has_keys(&kept) {
        // The box's own host keys, from before the last update.
        std::fs::create_dir_all(&etc_ssh)?;
        copy_host_keys(&kept, &etc_ssh)?;
    } else {
        if commands {
            run("ssh-keygen", &["-A"])?;
        }
        copy_host_keys(&etc_ssh, &kept)?;
    }
    let dir = authorized.parent().expect("has a parent");
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let mut text =
        String::from("# Written by Hearth (Admin -> System); changes here are replaced.\n");
    for key in &settings.keys {
        text.push_str(key);
        text.push('\n');
    }
    std::fs::write(authorized, text)?;
    std::fs::set_permissions(authorized, std::fs::Permissions::from_mode(0o600))?;
    if commands {
        run("systemctl", &["enable", "--now", "ssh.service"])?;
        run(
            "nft",
            &["add", "element", "inet", "hearth", "admin_tcp", "{ 22 }"],
        )?;
    }
    Ok(())
}

fn turn_off(authorized: &Path, commands: bool) -> anyhow::Result<()> {
    if commands {
        // Either may already be so; what matters is the state afterwards.
        let _ = run("systemctl", &["disable", "--now", "ssh.service"]);
        let _ = run(
            "nft",
            &["delete", "element", "inet", "hearth", "admin_tcp", "{ 22 }"],
        );
    }
    match std::fs::remove_file(authorized) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(err.into()),
    }
}

fn copy_host_keys(from: &Path, to: &Path) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(from)?.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("ssh_host_") {
            std::fs::copy(entry.path(), to.join(&name))
                .with_context(|| format!("cannot copy the host key {}", name.to_string_lossy()))?;
        }
    }
    Ok(())
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !output.status.success() {
        anyhow::bail!(
            "{program} {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm4kS5vHjY3Ue6cyvmTDa3bVgH3QBb6YaZ3g3QyB2cT olive@laptop";

    #[test]
    fn only_whole_public_keys_are_accepted() {
        assert_eq!(parse_keys(&format!("\n# mine\n{KEY}\n")).unwrap(), [KEY]);
        let check = |text: &str, fragment: &str| {
            let err = parse_keys(text).unwrap_err();
            assert!(err.contains(fragment), "{text}: {err}");
        };
        check(
            "-----BEGIN OPENSSH PRIVATE KEY-----",
            "never the private key",
        );
        check(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm4k!!",
            "cut or changed",
        );
        check(
            "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIGm4kS5vHjY3Ue6cyvmTDa3bVgH3QBb6YaZ3g3QyB2cT",
            "does not match its type",
        );
        check(&format!("{KEY}\nhello"), "Line 2");
    }

    #[test]
    fn the_system_follows_the_owner_s_choice() {
        let data = tempfile::tempdir().unwrap();
        let system = tempfile::tempdir().unwrap();
        let files = SshFiles::new(data.path());
        let authorized = system.path().join("root/.ssh/authorized_keys");
        // Off by default: nothing to log in with.
        assert!(!apply(&files, system.path()).unwrap().enabled);
        assert!(!authorized.exists());

        std::fs::create_dir_all(system.path().join("etc/ssh")).unwrap();
        std::fs::write(system.path().join("etc/ssh/ssh_host_ed25519_key"), "first").unwrap();
        files
            .save(&SshSettings {
                enabled: true,
                keys: vec![KEY.to_string()],
                changed_by: "olive".into(),
                at: 0,
            })
            .unwrap();
        let state = apply(&files, system.path()).unwrap();
        assert!(state.enabled, "{state:?}");
        assert!(std::fs::read_to_string(&authorized).unwrap().contains(KEY));
        assert_eq!(
            std::fs::read_to_string(files.host_keys().join("ssh_host_ed25519_key")).unwrap(),
            "first",
            "the host key is kept on the data partition"
        );

        // After an update the system is new: the kept host key comes back.
        std::fs::write(
            system.path().join("etc/ssh/ssh_host_ed25519_key"),
            "new system",
        )
        .unwrap();
        apply(&files, system.path()).unwrap();
        assert_eq!(
            std::fs::read_to_string(system.path().join("etc/ssh/ssh_host_ed25519_key")).unwrap(),
            "first"
        );

        files
            .save(&SshSettings {
                enabled: false,
                ..files.settings()
            })
            .unwrap();
        assert!(!apply(&files, system.path()).unwrap().enabled);
        assert!(!authorized.exists(), "no keys left to log in with");
        assert_eq!(
            files.state().unwrap().message,
            "SSH is off; port 22 is closed."
        );
    }
}
