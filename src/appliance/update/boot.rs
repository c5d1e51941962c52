//! The two root partitions (slots A and B) and systemd-boot's menu of them.
//!
//! Why systemd-boot's boot counting rather than RAUC: both are in Debian,
//! but RAUC needs its own bootloader integration, slot configuration and a
//! D-Bus service, while boot counting is already in the boot loader the
//! image uses. An entry named `hearth-b+3.conf` may be tried three times:
//! each boot renames it (`+2-1`, `+1-2`, `+0-3`); once the box reaches
//! `boot-complete.target` (which Hearth's health check is required for),
//! systemd-bless-boot renames it `hearth-b.conf`, good for ever. An entry
//! with no tries left sorts after every other, so the box boots the
//! previous version again: the rollback needs no working new system.
//!
//! Entries sort by their `version` line, newest first, so the `version` is
//! the bundle's generation (a number that only grows), not its name.

use std::path::{Path, PathBuf};

/// Tries a new version gets before the box goes back to the old one.
pub const TRIES: u32 = 3;

/// One of the two root partitions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn letter(self) -> &'static str {
        match self {
            Slot::A => "a",
            Slot::B => "b",
        }
    }

    /// The partition's GPT label: `root-a`, `root-b`.
    pub fn label(self) -> String {
        format!("root-{}", self.letter())
    }

    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }

    /// The slot the running system booted from, by its kernel command line
    /// (`root=PARTLABEL=root-a`).
    pub fn running(cmdline: &str) -> Option<Slot> {
        cmdline
            .split_whitespace()
            .find_map(|arg| arg.strip_prefix("root=PARTLABEL=root-"))
            .and_then(|letter| match letter {
                "a" => Some(Slot::A),
                "b" => Some(Slot::B),
                _ => None,
            })
    }
}

/// One boot menu entry of Hearth's, from its file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub slot: Slot,
    /// `None` for an entry that is not being counted (a good one).
    pub tries_left: Option<u32>,
    pub tries_done: u32,
    pub file_name: String,
}

impl Entry {
    /// Parses `hearth-b+2-1.conf`, `hearth-a.conf`, `hearth-b+3.conf`.
    pub fn parse(file_name: &str) -> Option<Entry> {
        let stem = file_name.strip_prefix("hearth-")?.strip_suffix(".conf")?;
        let (letter, counter) = match stem.split_once('+') {
            Some((letter, counter)) => (letter, Some(counter)),
            None => (stem, None),
        };
        let slot = match letter {
            "a" => Slot::A,
            "b" => Slot::B,
            _ => return None,
        };
        let (tries_left, tries_done) = match counter {
            None => (None, 0),
            Some(counter) => {
                let (left, done) = counter.split_once('-').unwrap_or((counter, "0"));
                (Some(left.parse().ok()?), done.parse().ok()?)
            }
        };
        Some(Entry {
            slot,
            tries_left,
            tries_done,
            file_name: file_name.to_string(),
        })
    }

    /// Whether every try was used without the box coming up healthy.
    pub fn failed(&self) -> bool {
        self.tries_left == Some(0)
    }
}

/// systemd-boot's menu on the EFI system partition.
pub struct BootMenu {
    esp: PathBuf,
}

impl BootMenu {
    pub fn new(esp: &Path) -> BootMenu {
        BootMenu {
            esp: esp.to_path_buf(),
        }
    }

    fn entries_dir(&self) -> PathBuf {
        self.esp.join("loader/entries")
    }

    /// Where a slot's kernel and initrd live on the ESP.
    pub fn slot_dir(&self, slot: Slot) -> PathBuf {
        self.esp.join("hearth").join(slot.letter())
    }

    /// Hearth's entries, as their files are named now.
    pub fn entries(&self) -> std::io::Result<Vec<Entry>> {
        let mut entries: Vec<Entry> = std::fs::read_dir(self.entries_dir())?
            .filter_map(|e| e.ok())
            .filter_map(|e| Entry::parse(&e.file_name().to_string_lossy()))
            .collect();
        entries.sort_by(|a, b| a.file_name.cmp(&b.file_name));
        Ok(entries)
    }

    /// The entry of `slot`, if there is one.
    pub fn entry(&self, slot: Slot) -> std::io::Result<Option<Entry>> {
        Ok(self.entries()?.into_iter().find(|e| e.slot == slot))
    }

    /// The kernel options of `slot`'s entry (to carry them to the other).
    pub fn options(&self, slot: Slot) -> std::io::Result<Option<String>> {
        let Some(entry) = self.entry(slot)? else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(self.entries_dir().join(&entry.file_name))?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("options"))
            .map(|o| o.trim().to_string()))
    }

    /// Removes `slot`'s entry (before its partition is overwritten, so a
    /// half-written system is never in the menu).
    pub fn remove(&self, slot: Slot) -> std::io::Result<()> {
        for entry in self.entries()?.into_iter().filter(|e| e.slot == slot) {
            std::fs::remove_file(self.entries_dir().join(&entry.file_name))?;
        }
        Ok(())
    }

    /// Adds `slot`'s entry with [`TRIES`] tries, written whole before it
    /// gets its name.
    pub fn add_counted(
        &self,
        slot: Slot,
        version: &str,
        generation: u64,
        options: &str,
    ) -> std::io::Result<()> {
        let dir = self.entries_dir();
        std::fs::create_dir_all(&dir)?;
        let text = entry_text(slot, version, generation, options);
        let partial = dir.join(format!(".hearth-{}.partial", slot.letter()));
        write_synced(&partial, text.as_bytes())?;
        std::fs::rename(
            &partial,
            dir.join(format!("hearth-{}+{TRIES}.conf", slot.letter())),
        )?;
        sync_dir(&dir)
    }
}

/// The entry file's text.
pub fn entry_text(slot: Slot, version: &str, generation: u64, options: &str) -> String {
    let letter = slot.letter();
    format!(
        "title Hearth {version}\nsort-key hearth\nversion {generation}\nlinux /hearth/{letter}/vmlinuz\ninitrd /hearth/{letter}/initrd.img\noptions {options}\n"
    )
}

/// `options` with the root partition changed to `slot`'s.
pub fn options_for(options: &str, slot: Slot) -> String {
    let root = format!("root=PARTLABEL={}", slot.label());
    let mut replaced = false;
    let mut parts: Vec<String> = options
        .split_whitespace()
        .map(|arg| {
            if arg.starts_with("root=") {
                replaced = true;
                root.clone()
            } else {
                arg.to_string()
            }
        })
        .collect();
    if !replaced {
        parts.insert(0, root);
    }
    parts.join(" ")
}

/// `options` with `systemd.machine_id=` set to `id`: the other slot's
/// system starts with the same machine id (so the same DHCP client id, the
/// same address from the router, the same journal), with nothing copied
/// into its file system. Ids that are not 32 hex digits are left out.
pub fn with_machine_id(options: &str, id: &str) -> String {
    let id = id.trim();
    let mut parts: Vec<&str> = options
        .split_whitespace()
        .filter(|arg| !arg.starts_with("systemd.machine_id="))
        .collect();
    let valid = id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit());
    let arg = format!("systemd.machine_id={id}");
    if valid {
        parts.push(&arg);
    }
    parts.join(" ")
}

/// Writes a file and makes it durable before returning.
pub fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Makes a directory's renames durable.
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_from_their_names() {
        let check = |name: &str, expected: Option<(Slot, Option<u32>, u32)>| {
            let parsed = Entry::parse(name).map(|e| (e.slot, e.tries_left, e.tries_done));
            assert_eq!(parsed, expected, "{name}");
        };
        check("hearth-a.conf", Some((Slot::A, None, 0)));
        check("hearth-b+3.conf", Some((Slot::B, Some(3), 0)));
        check("hearth-b+2-1.conf", Some((Slot::B, Some(2), 1)));
        check("hearth-b+0-3.conf", Some((Slot::B, Some(0), 3)));
        check("hearth-c.conf", None);
        check("debian.conf", None);
        check("hearth-a+x.conf", None);
        assert!(Entry::parse("hearth-b+0-3.conf").unwrap().failed());
        assert!(!Entry::parse("hearth-b+1-2.conf").unwrap().failed());
    }

    #[test]
    fn the_running_slot_comes_from_the_command_line() {
        let line = "root=PARTLABEL=root-b ro console=ttyS0,115200n8";
        assert_eq!(Slot::running(line), Some(Slot::B));
        assert_eq!(Slot::running("root=/dev/sda2 ro"), None);
        assert_eq!(
            options_for(line, Slot::A),
            "root=PARTLABEL=root-a ro console=ttyS0,115200n8"
        );
        assert_eq!(options_for("quiet", Slot::B), "root=PARTLABEL=root-b quiet");
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            with_machine_id("root=PARTLABEL=root-b ro", id),
            format!("root=PARTLABEL=root-b ro systemd.machine_id={id}")
        );
        assert_eq!(
            with_machine_id(&format!("ro systemd.machine_id={id} quiet"), id),
            format!("ro quiet systemd.machine_id={id}"),
            "once"
        );
        assert_eq!(with_machine_id("ro", "uninitialized"), "ro");
    }

    #[test]
    fn a_new_entry_replaces_the_slot_s_old_one_and_is_counted() {
        let esp = tempfile::tempdir().unwrap();
        let menu = BootMenu::new(esp.path());
        let entries = esp.path().join("loader/entries");
        std::fs::create_dir_all(&entries).unwrap();
        std::fs::write(
            entries.join("hearth-a.conf"),
            entry_text(Slot::A, "1.0", 1, "root=PARTLABEL=root-a ro"),
        )
        .unwrap();
        std::fs::write(entries.join("hearth-b+0-3.conf"), "old").unwrap();
        assert_eq!(
            menu.options(Slot::A).unwrap().as_deref(),
            Some("root=PARTLABEL=root-a ro")
        );
        menu.remove(Slot::B).unwrap();
        menu.add_counted(Slot::B, "1.1", 2, "root=PARTLABEL=root-b ro")
            .unwrap();
        let names: Vec<String> = menu
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| e.file_name)
            .collect();
        assert_eq!(names, ["hearth-a.conf", "hearth-b+3.conf"]);
        let text = std::fs::read_to_string(entries.join("hearth-b+3.conf")).unwrap();
        assert!(
            text.contains("version 2\n") && text.contains("linux /hearth/b/vmlinuz\n"),
            "{text}"
        );
    }
}
