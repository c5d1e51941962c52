//! Updates of the appliance, on a fake disk in a temporary directory: the
//! slots are plain files, the EFI system partition a folder, the kernel's
//! command line a file. The owner uploads a signed bundle on Admin →
//! System; `hearth update apply` (what the root unit runs) writes the other
//! slot and a counted boot entry; `hearth update health` confirms the new
//! version, `hearth update recover` notices one that failed and puts the
//! data back. The QEMU image test (image/test.sh) does the same on a real
//! disk and boot loader.

use std::path::{Path, PathBuf};
use std::process::Command;

use hearth::config::Config;
use serde_json::Value;

use crate::common::{Client, TestServer, select_text};

/// A fake appliance: slots, ESP, release, update key, kernel command line.
struct FakeBox {
    dir: tempfile::TempDir,
}

const SLOT_BYTES: usize = 8 * 1024 * 1024;

impl FakeBox {
    fn new() -> FakeBox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("parts")).unwrap();
        std::fs::write(root.join("parts/root-a"), vec![1u8; SLOT_BYTES]).unwrap();
        // Slot B holds an older system: what the update does not write
        // (zeroes included) would show.
        std::fs::write(root.join("parts/root-b"), vec![0xEEu8; SLOT_BYTES]).unwrap();
        std::fs::create_dir_all(root.join("esp/loader/entries")).unwrap();
        std::fs::write(
            root.join("esp/loader/entries/hearth-a.conf"),
            "title Hearth 1.0.0\nsort-key hearth\nversion 1\nlinux /hearth/a/vmlinuz\ninitrd /hearth/a/initrd.img\noptions root=PARTLABEL=root-a ro console=ttyS0,115200n8\n",
        )
        .unwrap();
        std::fs::write(
            root.join("release.json"),
            r#"{"version": "1.0.0", "generation": 1}"#,
        )
        .unwrap();
        let fake = FakeBox { dir };
        fake.boot(Slot::A);
        keypair(&fake.path("keys"));
        std::fs::copy(fake.path("keys/update.pub"), fake.path("update.pub")).unwrap();
        fake
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn boot(&self, slot: Slot) {
        std::fs::write(
            self.path("cmdline"),
            format!("root=PARTLABEL=root-{} ro console=ttyS0,115200n8\n", slot.0),
        )
        .unwrap();
    }

    fn configure(&self, config: &mut Config) {
        let appliance = &mut config.appliance;
        appliance.release_file = self.path("release.json");
        appliance.update_key = self.path("update.pub");
        appliance.esp = self.path("esp");
        appliance.partitions = self.path("parts");
        appliance.health_timeout_secs = 30;
    }

    /// `hearth update <command>` against `server`'s data, as the units run it.
    fn run(&self, server: &TestServer, command: &str) -> std::process::Output {
        let port = server.base.rsplit(':').next().unwrap();
        self.run_on(server.data_dir.path(), port, command)
    }

    /// The same, with no server running (before Hearth starts).
    fn run_on(&self, data_dir: &Path, port: &str, command: &str) -> std::process::Output {
        let config = self.path("hearth.toml");
        std::fs::write(
            &config,
            format!(
                "data_dir = {:?}\n[server]\nlisten = \"127.0.0.1:{port}\"\n[appliance]\nrelease_file = {:?}\nupdate_key = {:?}\nesp = {:?}\npartitions = {:?}\nhealth_timeout_secs = 30\n",
                data_dir.display().to_string(),
                self.path("release.json").display().to_string(),
                self.path("update.pub").display().to_string(),
                self.path("esp").display().to_string(),
                self.path("parts").display().to_string(),
            ),
        )
        .unwrap();
        let mut args = vec!["update", command, "--cmdline"];
        let cmdline = self.path("cmdline").display().to_string();
        args.push(&cmdline);
        if command == "apply" {
            args.push("--no-restart");
        }
        Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(&args)
            .env("HEARTH_CONFIG", &config)
            .env_remove("HEARTH_DATA_DIR")
            .output()
            .unwrap()
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.path("esp/loader/entries"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

struct Slot(&'static str);
impl Slot {
    const A: Slot = Slot("a");
    const B: Slot = Slot("b");
}

/// A minisign key pair in `dir` (`update.pub`, `update.key`), without a
/// password, by Debian's minisign (which image/build.sh signs with too).
fn keypair(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let status = Command::new("minisign")
        .args(["-G", "-W", "-f", "-p"])
        .arg(dir.join("update.pub"))
        .arg("-s")
        .arg(dir.join("update.key"))
        .output()
        .expect("minisign (Debian's package; .ci/deps installs it)");
    assert!(status.status.success(), "{status:?}");
}

/// The parts of a bundle, to build good and bad ones from.
struct Parts {
    version: &'static str,
    generation: u64,
    rootfs: Vec<u8>,
}

impl Parts {
    fn new(version: &'static str, generation: u64) -> Parts {
        // Data, then the empty blocks a file system image is mostly made
        // of (zeroed on the device rather than written).
        let mut rootfs: Vec<u8> = (0..3 * 1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        rootfs.extend(std::iter::repeat_n(0u8, 2 * 1024 * 1024 + 4096));
        Parts {
            version,
            generation,
            rootfs,
        }
    }

    /// Writes the bundle to `out`, signed with the key in `keys`;
    /// `tamper` may change the tar's files after signing.
    fn build(&self, keys: &Path, out: &Path, tamper: impl FnOnce(&mut Vec<(String, Vec<u8>)>)) {
        use sha2::Digest;
        let compressed = ruzstd::encoding::compress_to_vec(
            &self.rootfs[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let kernel = format!("kernel {}", self.version).into_bytes();
        let initrd = format!("initrd {}", self.version).into_bytes();
        let sha = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
        let manifest = serde_json::json!({
            "version": self.version,
            "generation": self.generation,
            "kernel": {"file": "vmlinuz", "sha256": sha(&kernel)},
            "initrd": {"file": "initrd.img", "sha256": sha(&initrd)},
            "rootfs": {"file": "rootfs.ext4.zst", "sha256": sha(&compressed)},
            "created": "2026-12-01T00:00:00Z",
        });
        let work = tempfile::tempdir().unwrap();
        let manifest_path = work.path().join("manifest.json");
        std::fs::write(
            &manifest_path,
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        let signed = Command::new("minisign")
            .args(["-S", "-s"])
            .arg(keys.join("update.key"))
            .arg("-m")
            .arg(&manifest_path)
            .output()
            .unwrap();
        assert!(signed.status.success(), "{signed:?}");
        let mut files = vec![
            (
                "manifest.json".to_string(),
                std::fs::read(&manifest_path).unwrap(),
            ),
            (
                "manifest.json.minisig".to_string(),
                std::fs::read(work.path().join("manifest.json.minisig")).unwrap(),
            ),
            ("vmlinuz".to_string(), kernel),
            ("initrd.img".to_string(), initrd),
            ("rootfs.ext4.zst".to_string(), compressed),
        ];
        tamper(&mut files);
        let mut tar = tar::Builder::new(std::fs::File::create(out).unwrap());
        for (name, bytes) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, name, &bytes[..]).unwrap();
        }
        tar.finish().unwrap();
    }
}

/// Uploads `bundle` on Admin → System; the status and the page.
async fn upload(owner: &Client, bundle: &Path) -> (reqwest::StatusCode, String) {
    let csrf = owner.csrf().await;
    let form = reqwest::multipart::Form::new().part(
        "bundle",
        reqwest::multipart::Part::bytes(std::fs::read(bundle).unwrap())
            .file_name("hearth-1.1.0.bundle"),
    );
    let response = owner
        .http
        .post(owner.url(&format!("/admin/system/update?csrf={csrf}")))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.text().await.unwrap())
}

async fn appliance_with_owner(fake: &FakeBox) -> (TestServer, Client) {
    let server = TestServer::start_with(|config| fake.configure(config)).await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    (server, owner)
}

fn json(path: PathBuf) -> Value {
    serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_written_to_the_other_slot_booted_with_three_tries_and_confirmed() {
    let fake = FakeBox::new();
    let (server, owner) = appliance_with_owner(&fake).await;
    let (status, page) = owner.page("/admin/system").await;
    assert_eq!(status, 200);
    assert!(select_text(&page, "#updates").contains("Hearth 1.0.0"));
    let cpu = select_text(&page, "#engine-cpu");
    assert!(cpu.contains("This CPU (") && cpu.contains("use"), "{cpu}");
    assert_eq!(
        page.select(&scraper::Selector::parse("#charts svg.spark").unwrap())
            .count(),
        4,
        "the day's four charts"
    );

    let parts = Parts::new("1.1.0", 2);
    let bundle = fake.path("v2.bundle");
    parts.build(&fake.path("keys"), &bundle, |_| {});
    let (status, _) = upload(&owner, &bundle).await;
    assert_eq!(status, 303, "accepted and back to the page");
    let updates = server.data_dir.path().join("updates");
    assert_eq!(json(updates.join("request.json"))["to_version"], "1.1.0");
    let (_, page) = owner.page("/admin/system").await;
    assert!(
        select_text(&page, "#update-progress").contains("Waiting for the updater"),
        "{}",
        select_text(&page, "#update-progress")
    );
    let requested = server.audit_of("system.update_requested").await;
    assert_eq!(requested.len(), 1);

    // The root unit's turn.
    let applied = fake.run(&server, "apply");
    assert!(applied.status.success(), "{applied:?}");
    let slot_b = std::fs::read(fake.path("parts/root-b")).unwrap();
    assert_eq!(
        &slot_b[..parts.rootfs.len()],
        &parts.rootfs[..],
        "the new system is in slot B"
    );
    assert!(
        std::fs::read(fake.path("parts/root-a"))
            .unwrap()
            .iter()
            .all(|b| *b == 1),
        "the running slot is untouched"
    );
    assert_eq!(
        std::fs::read_to_string(fake.path("esp/hearth/b/vmlinuz")).unwrap(),
        "kernel 1.1.0"
    );
    assert_eq!(fake.entries(), ["hearth-a.conf", "hearth-b+3.conf"]);
    let entry = std::fs::read_to_string(fake.path("esp/loader/entries/hearth-b+3.conf")).unwrap();
    assert!(entry.contains("version 2\n"), "{entry}");
    assert!(
        entry.contains("options root=PARTLABEL=root-b ro console=ttyS0,115200n8"),
        "{entry}"
    );
    assert_eq!(json(updates.join("progress.json"))["phase"], "restarting");
    assert!(
        updates.join("before-update.db").exists(),
        "the data is kept"
    );
    assert!(
        !updates.join("incoming.bundle").exists(),
        "the room is given back"
    );
    let progress: Value = owner
        .get("/admin/system/update/progress")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(progress["phase"], "restarting");

    // The box restarts into B (systemd-boot counts a try) and Hearth is up.
    fake.boot(Slot::B);
    std::fs::rename(
        fake.path("esp/loader/entries/hearth-b+3.conf"),
        fake.path("esp/loader/entries/hearth-b+2-1.conf"),
    )
    .unwrap();
    let recovered = fake.run(&server, "recover");
    assert!(
        recovered.status.success(),
        "nothing to recover: {recovered:?}"
    );
    let healthy = fake.run(&server, "health");
    assert!(healthy.status.success(), "{healthy:?}");
    let last = json(updates.join("last.json"));
    assert_eq!(last["kind"], "updated");
    assert_eq!(last["requested_by"], "olivia");
    assert!(!updates.join("pending.json").exists());

    // Hearth writes the outcome to the audit log as it starts.
    let files = hearth::appliance::update::UpdateFiles::new(server.data_dir.path());
    hearth::admin::system::record_update_outcome(&server.state.store, &files)
        .await
        .unwrap();
    hearth::admin::system::record_update_outcome(&server.state.store, &files)
        .await
        .unwrap();
    let done = server.audit_of("system.updated").await;
    assert_eq!(done.len(), 1, "recorded once");
    assert_eq!(done[0].target, "version:1.1.0");
    let (_, page) = owner.page("/admin/system").await;
    assert!(
        select_text(&page, "#last-update").contains("Updated from version 1.0.0 to 1.1.0"),
        "{}",
        select_text(&page, "#last-update")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_that_fails_its_tries_is_undone_with_the_data_as_it_was() {
    let fake = FakeBox::new();
    let (server, owner) = appliance_with_owner(&fake).await;
    let bundle = fake.path("v2.bundle");
    Parts::new("1.1.0", 2).build(&fake.path("keys"), &bundle, |_| {});
    assert_eq!(upload(&owner, &bundle).await.0, 303);
    let applied = fake.run(&server, "apply");
    assert!(applied.status.success(), "{applied:?}");

    // The data changes after the snapshot (as the new version's migrations
    // would); then three tries, none healthy: systemd-boot falls back to A.
    server.user(&owner, "newcomer", "staff").await;
    std::fs::rename(
        fake.path("esp/loader/entries/hearth-b+3.conf"),
        fake.path("esp/loader/entries/hearth-b+0-3.conf"),
    )
    .unwrap();
    fake.boot(Slot::A);
    let (config, data_dir) = server.stop_keeping_data().await;

    // Before Hearth starts again.
    let recovered = fake.run_on(data_dir.path(), "80", "recover");
    assert!(recovered.status.success(), "{recovered:?}");
    assert_eq!(
        fake.entries(),
        ["hearth-a.conf"],
        "the failed entry is gone"
    );
    let updates = data_dir.path().join("updates");
    assert_eq!(json(updates.join("last.json"))["kind"], "rolled-back");
    assert!(!updates.join("pending.json").exists());
    let again = fake.run_on(data_dir.path(), "80", "recover");
    assert!(
        again.status.success(),
        "a second boot has nothing to do: {again:?}"
    );

    let server = TestServer::start_in(config, data_dir).await;
    let files = hearth::appliance::update::UpdateFiles::new(server.data_dir.path());
    hearth::admin::system::record_update_outcome(&server.state.store, &files)
        .await
        .unwrap();
    let users = server.state.store.users().await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.username.as_str()).collect();
    assert!(
        names.contains(&"olivia") && !names.contains(&"newcomer"),
        "{names:?}"
    );
    let undone = server.audit_of("system.updated").await;
    assert_eq!(undone.len(), 1);
    assert_eq!(undone[0].outcome, hearth::store::AuditOutcome::Failed);
    let owner = server.client();
    assert_eq!(
        owner
            .login("olivia", crate::common::GOOD_PASSWORD)
            .await
            .status(),
        303
    );
    let (_, page) = owner.page("/admin/system").await;
    let said = select_text(&page, "#last-update");
    assert!(said.contains("went back to version 1.0.0"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_that_are_not_genuine_whole_and_newer_are_refused_with_the_reason() {
    let fake = FakeBox::new();
    let (server, owner) = appliance_with_owner(&fake).await;
    let bundle = fake.path("bad.bundle");
    let check = async |bundle: &Path, fragment: &str| {
        let (status, body) = upload(&owner, bundle).await;
        let page = scraper::Html::parse_document(&body);
        let said = select_text(&page, "#system-error");
        assert_eq!(status, 400, "{said}");
        assert!(said.contains(fragment), "{fragment}: {said}");
    };

    // Signed with a key this box does not trust.
    keypair(&fake.path("other-keys"));
    Parts::new("1.1.0", 2).build(&fake.path("other-keys"), &bundle, |_| {});
    check(&bundle, "not signed by this box's publisher").await;

    // A file changed after signing.
    Parts::new("1.1.0", 2).build(&fake.path("keys"), &bundle, |files| {
        let rootfs = &mut files
            .iter_mut()
            .find(|(n, _)| n == "rootfs.ext4.zst")
            .unwrap()
            .1;
        let last = rootfs.len() - 1;
        rootfs[last] ^= 0xff;
    });
    check(&bundle, "rootfs.ext4.zst in the bundle is damaged").await;

    // Not newer than what runs.
    Parts::new("0.9.0", 1).build(&fake.path("keys"), &bundle, |_| {});
    check(&bundle, "already runs version 1.0.0").await;

    // Not a bundle at all.
    std::fs::write(&bundle, "<html>Not found</html>").unwrap();
    check(&bundle, "not a Hearth update bundle").await;

    let updates = server.data_dir.path().join("updates");
    assert!(
        !updates.join("request.json").exists(),
        "nothing was asked of the updater"
    );
    assert!(
        !updates.join("incoming.bundle.partial").exists(),
        "nothing was kept"
    );
    let refused = server.audit_of("system.update_requested").await;
    assert!(refused.len() >= 3, "{refused:?}");

    // Staff and admins do not see the page; only the owner updates the box.
    let admin = server.user(&owner, "adam", "admin").await;
    assert_eq!(admin.get("/admin/system").await.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_updater_that_stops_is_reported_not_waited_for() {
    use hearth::appliance::update::{Phase, Progress, UpdateFiles, write_json};
    let fake = FakeBox::new();
    let (server, owner) = appliance_with_owner(&fake).await;
    let files = UpdateFiles::new(server.data_dir.path());
    let quiet_since = hearth::appliance::update::now() - 1200;
    write_json(
        &files.progress(),
        &Progress {
            phase: Phase::Writing,
            done: 10,
            total: 100,
            to_version: "1.1.0".into(),
            message: "Writing the new version.".into(),
            started_at: quiet_since,
            updated_at: quiet_since,
        },
    )
    .unwrap();
    let progress: Value = owner
        .get("/admin/system/update/progress")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(progress["stalled"], true);
    assert_eq!(progress["active"], false);
    let (_, page) = owner.page("/admin/system").await;
    let said = select_text(&page, "#update-message");
    assert!(said.contains("stopped responding"), "{said}");

    // The box lost power while writing: the next boot says so, and nothing
    // changed.
    let recovered = fake.run(&server, "recover");
    assert!(recovered.status.success(), "{recovered:?}");
    let last = json(files.last());
    assert_eq!(last["kind"], "interrupted");
    assert_eq!(json(files.progress())["phase"], "failed");
    assert_eq!(fake.entries(), ["hearth-a.conf"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_turns_ssh_on_with_a_public_key_only() {
    let fake = FakeBox::new();
    let (server, owner) = appliance_with_owner(&fake).await;
    let (_, page) = owner.page("/admin/system").await;
    assert!(select_text(&page, "#ssh-state").contains("SSH is off"));

    let post = async |enabled: bool, keys: &str| {
        let mut fields = vec![("keys", keys)];
        if enabled {
            fields.push(("enabled", "on"));
        }
        owner.post_form("/admin/system/ssh", &fields).await
    };
    let refused = post(true, "").await;
    assert_eq!(refused.status(), 400);
    let page = scraper::Html::parse_document(&refused.text().await.unwrap());
    assert!(select_text(&page, "#ssh-error").contains("paste at least one public key"));
    let refused = post(
        true,
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
    )
    .await;
    assert_eq!(refused.status(), 400);
    let page = scraper::Html::parse_document(&refused.text().await.unwrap());
    assert!(select_text(&page, "#ssh-error").contains("never the private key"));
    let files = hearth::appliance::ssh::SshFiles::new(server.data_dir.path());
    assert!(!files.settings().enabled, "nothing was saved");

    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm4kS5vHjY3Ue6cyvmTDa3bVgH3QBb6YaZ3g3QyB2cT olive@laptop";
    assert_eq!(post(true, key).await.status(), 303);
    let settings = files.settings();
    assert!(settings.enabled);
    assert_eq!(settings.keys, [key]);
    assert_eq!(settings.changed_by, "olivia");
    assert_eq!(post(false, key).await.status(), 303);
    assert!(!files.settings().enabled);
    let changed = server.audit_of("system.ssh_changed").await;
    assert_eq!(changed.len(), 2, "on, then off");
}

/// A plain HTTP/1.1 server on 127.0.0.1 serving fixed files by path (404
/// for others): the publisher's update server, played locally.
async fn update_server(files: Vec<(&'static str, Vec<u8>)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let files = std::sync::Arc::new(files);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let files = files.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buffer[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&request).to_string();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let found = files.iter().find(|(p, _)| *p == path);
                let (status, body): (&str, &[u8]) = match found {
                    Some((_, body)) => ("200 OK", body),
                    None => ("404 Not Found", b"not here"),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(head.as_bytes()).await;
                let _ = socket.write_all(body).await;
            });
        }
    });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_for_updates_downloads_a_newer_version_from_the_update_server() {
    let fake = FakeBox::new();
    let bundle = fake.path("v2.bundle");
    Parts::new("1.1.0", 2).build(&fake.path("keys"), &bundle, |_| {});
    let base = update_server(vec![
        (
            "/hearth/latest.json",
            br#"{"version": "1.1.0", "generation": 2, "url": "hearth-1.1.0.bundle"}"#.to_vec(),
        ),
        (
            "/hearth/hearth-1.1.0.bundle",
            std::fs::read(&bundle).unwrap(),
        ),
        (
            "/old/latest.json",
            br#"{"version": "1.0.0", "generation": 1, "url": "x.bundle"}"#.to_vec(),
        ),
    ])
    .await;
    let server = TestServer::start_with(|config| {
        fake.configure(config);
        config.appliance.update_url = Some(format!("{base}/hearth/latest.json"));
    })
    .await;
    let owner = server.client();
    owner.setup(&server.setup_code(), "olivia").await;
    let (_, page) = owner.page("/admin/system").await;
    assert!(select_text(&page, "#update-check").contains("/hearth/latest.json"));

    let checked = owner.post_form("/admin/system/update/check", &[]).await;
    assert_eq!(checked.status(), 303);
    let updates = server.data_dir.path().join("updates");
    for _ in 0..300 {
        if updates.join("request.json").exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(json(updates.join("request.json"))["to_version"], "1.1.0");
    assert!(
        updates.join("incoming.bundle").exists(),
        "downloaded, checked, in place"
    );
    assert_eq!(json(updates.join("progress.json"))["phase"], "queued");
    let applied = fake.run(&server, "apply");
    assert!(applied.status.success(), "{applied:?}");
    assert_eq!(fake.entries(), ["hearth-a.conf", "hearth-b+3.conf"]);
    std::fs::remove_file(updates.join("progress.json")).unwrap();

    // Nothing newer: said so, nothing downloaded.
    let server_old = TestServer::start_with(|config| {
        fake.configure(config);
        config.appliance.update_url = Some(format!("{base}/old/latest.json"));
    })
    .await;
    let owner_old = server_old.client();
    owner_old.setup(&server_old.setup_code(), "olivia").await;
    let checked = owner_old.post_form("/admin/system/update/check", &[]).await;
    assert_eq!(checked.status(), 303);
    let (_, page) = owner_old.page("/admin/system").await;
    assert!(
        page.html().contains("runs the latest version"),
        "the flash says so"
    );
    assert!(
        !server_old
            .data_dir
            .path()
            .join("updates/request.json")
            .exists()
    );

    // An update server that cannot be reached: a clear error, nothing else.
    let server_down = TestServer::start_with(|config| {
        fake.configure(config);
        config.appliance.update_url = Some("http://127.0.0.1:9/latest.json".into());
    })
    .await;
    let owner_down = server_down.client();
    owner_down.setup(&server_down.setup_code(), "olivia").await;
    let refused = owner_down
        .post_form("/admin/system/update/check", &[])
        .await;
    assert_eq!(refused.status(), 502);
    let page = scraper::Html::parse_document(&refused.text().await.unwrap());
    assert!(select_text(&page, "#system-error").contains("could not be reached"));
}
