//! Deployment files are code: the systemd unit keeps its hardening, and
//! Hearth keeps the promises the unit relies on (readiness, the watchdog,
//! the screen's status file, its name on the network).

use std::collections::HashMap;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn unit() -> HashMap<String, Vec<String>> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/hearth.service"
    ))
    .unwrap();
    let mut entries: HashMap<String, Vec<String>> = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        entries
            .entry(key.to_string())
            .or_default()
            .push(value.to_string());
    }
    entries
}

#[test]
fn systemd_unit_is_hardened() {
    let unit = unit();
    let one = |key: &str| {
        unit.get(key)
            .and_then(|v| v.last())
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(one("User"), "hearth", "never root");
    assert_eq!(one("Type"), "notify", "ready means listening");
    assert_eq!(one("NotifyAccess"), "main");
    assert!(
        !one("WatchdogSec").is_empty(),
        "a wedged Hearth is restarted"
    );
    assert!(
        one("MemoryMax").ends_with('%'),
        "the rest of the box survives a big model"
    );
    assert!(one("ExecStart").starts_with("/usr/bin/hearth serve"));
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateMounts", "yes"),
        ("UMask", "0077"),
        ("PrivateDevices", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("StateDirectory", "hearth"),
        ("SystemCallArchitectures", "native"),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    assert!(
        unit["SystemCallFilter"]
            .iter()
            .any(|f| f == "@system-service")
    );
    assert!(
        !unit.contains_key("PrivateUsers"),
        "PrivateUsers drops CAP_NET_BIND_SERVICE"
    );
}

/// `systemd-analyze security` rates the unit 1.5 or better ("OK"; 0 is
/// perfect, 10 is a service with no protection at all).
#[test]
fn systemd_rates_the_unit_as_exposed_1_5_or_less() {
    let dir = tempfile::tempdir().unwrap();
    // systemd-analyze names the unit after its file.
    let unit = dir.path().join("hearth.service");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/hearth.service"),
        &unit,
    )
    .unwrap();
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian's systemd package; .ci/deps installs it)");
    let text = String::from_utf8_lossy(&output.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for hearth.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no overall exposure in:\n{text}"));
    assert!(level <= 1.5, "exposure {level}:\n{text}");
}

/// `hearth serve` on a free port with `config` and `data`, quiet.
fn serve(config: &std::path::Path, data: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(config)
        .env("HEARTH_DATA_DIR", data)
        .env_remove("HEARTH_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// What systemd's notification socket received, one datagram per message.
fn notifications(socket: &UnixDatagram, until: impl Fn(&[String]) -> bool) -> Vec<String> {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 4096];
    while !until(&got) && Instant::now() < deadline {
        if let Ok(n) = socket.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn hearth_tells_systemd_it_is_ready_and_alive_and_keeps_the_screen_current() {
    let dir = tempfile::tempdir().unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let status = dir.path().join("status.json");
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        format!(
            "[appliance]\nmdns = \"off\"\nstatus_file = {:?}\n",
            status.display().to_string()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("HEARTH_DATA_DIR", dir.path().join("data"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("HEARTH_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let got = notifications(&socket, |got| {
        got.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2
    });
    let ready = got.iter().position(|m| m.contains("READY=1"));
    assert!(ready.is_some(), "READY=1: {got:?}");
    assert!(
        got[ready.unwrap()].contains("STATUS=serving on 127.0.0.1:"),
        "{got:?}"
    );
    assert!(
        got.iter().filter(|m| m.contains("WATCHDOG=1")).count() >= 2,
        "watchdog pings at half of WatchdogSec: {got:?}"
    );

    // The screen: Hearth's status file, drawn by `hearth console`.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !status.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    let code = written["setup_code"]
        .as_str()
        .expect("a new box shows its setup code");
    assert_eq!(written["state"], "running");
    let screen = Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["console", "--once", "--status"])
        .arg(&status)
        .env("HEARTH_DATA_DIR", dir.path().join("data"))
        .env_remove("HEARTH_CONFIG")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&screen.stdout);
    assert!(screen.contains(&format!("setup code: {code}")), "{screen}");
    assert!(screen.contains("Hearth is running."), "{screen}");

    // A planned stop says so, to systemd and on the screen.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let got = notifications(&socket, |got| got.iter().any(|m| m.contains("STOPPING=1")));
    assert!(got.iter().any(|m| m.contains("STOPPING=1")), "{got:?}");
    assert!(child.wait().unwrap().success());
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&status).unwrap()).unwrap();
    assert_eq!(written["state"], "stopping");
}

/// The box answers multicast DNS for its name, as phones look it up.
#[test]
fn hearth_answers_for_its_name_on_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("hearth-test-{}", std::process::id());
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        format!("[appliance]\nmdns = \"on\"\nname = \"{name}\"\n"),
    )
    .unwrap();
    let mut child = serve(&config, &dir.path().join("data"));
    let mut answer = None;
    for _ in 0..5 {
        let output = Command::new(env!("CARGO_BIN_EXE_hearth"))
            .args(["lan", "resolve", &format!("{name}.local"), "--timeout", "3"])
            .env("HEARTH_DATA_DIR", dir.path().join("data"))
            .env_remove("HEARTH_CONFIG")
            .output()
            .unwrap();
        if output.status.success() {
            answer = Some(String::from_utf8_lossy(&output.stdout).into_owned());
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let answer = answer.expect("the name resolves by multicast DNS");
    assert!(
        answer
            .lines()
            .all(|l| l.parse::<std::net::IpAddr>().is_ok())
            && !answer.is_empty(),
        "{answer}"
    );
}

/// The units of an update agree with the code on where things are.
#[test]
fn the_update_units_watch_the_file_hearth_writes() {
    let read = |name: &str| {
        std::fs::read_to_string(format!("{}/systemd/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
    };
    let files =
        hearth::appliance::update::UpdateFiles::new(std::path::Path::new("/var/lib/hearth"));
    let path_unit = read("hearth-update.path");
    assert!(
        path_unit.contains(&format!("PathExists={}", files.request().display())),
        "{path_unit}"
    );
    assert!(read("hearth-update.service").contains("ExecStart=/usr/bin/hearth update apply"));
    let recover = read("hearth-update-recover.service");
    assert!(recover.contains("Before=hearth.service") && recover.contains("update recover"));
    let health = read("hearth-health.service");
    for line in [
        "Before=boot-complete.target",
        "RequiredBy=boot-complete.target",
        "FailureAction=reboot",
        "ExecStart=/usr/bin/hearth update health",
    ] {
        assert!(health.contains(line), "{line}");
    }
    let config = hearth::config::Config::default();
    assert_eq!(config.appliance.esp, std::path::Path::new("/efi"));
    assert!(read("hearth-update.service").contains("/efi"));
    // The ESP comes through its automount: a Requires= on efi.mount (what
    // RequiresMountsFor=/efi means) stopped the updater halfway through when
    // the idle ESP was unmounted.
    for unit in ["hearth-update.service", "hearth-update-recover.service"] {
        let text = read(unit);
        assert!(text.contains("Wants=efi.automount"), "{unit}");
        assert!(
            !text
                .lines()
                .any(|l| l.starts_with("RequiresMountsFor=") && l.contains("/efi")),
            "{unit} must not require the ESP's mount"
        );
    }
    let console = read("hearth-console@.service");
    assert!(console.contains("--status /run/hearth/status.json"));
    assert!(read("hearth.service").contains("RuntimeDirectory=hearth"));
}

/// With `https_listen`, the box serves the same pages over HTTPS with a
/// certificate it made at its first start, and keeps it across restarts.
#[tokio::test]
async fn hearth_serves_https_with_a_certificate_it_made_itself() {
    let dir = tempfile::tempdir().unwrap();
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let config = dir.path().join("hearth.toml");
    std::fs::write(
        &config,
        format!("[server]\nhttps_listen = \"127.0.0.1:{port}\"\n[appliance]\nmdns = \"off\"\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let files = hearth::appliance::tls::TlsFiles::new(&data);
    hearth::chat::models::download::install_tls_provider();
    let client = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let mut fingerprints = Vec::new();
    for _ in 0..2 {
        let mut child = serve(&config, &data);
        let mut answer = None;
        for _ in 0..100 {
            if let Ok(response) = client
                .get(format!("https://localhost:{port}/readyz"))
                .send()
                .await
            {
                answer = Some((response.status(), response.text().await.unwrap()));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Plain HTTP on the HTTPS port is not answered as HTTP.
        let plain = reqwest::Client::new()
            .get(format!("http://127.0.0.1:{port}/readyz"))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let _ = child.kill();
        let _ = child.wait();
        let (status, body) = answer.expect("HTTPS answers");
        assert_eq!((status.as_u16(), body.as_str()), (200, "ready\n"));
        assert!(plain.is_err() || !plain.unwrap().status().is_success());
        fingerprints.push(files.fingerprint().expect("the certificate is kept"));
    }
    assert_eq!(fingerprints[0], fingerprints[1], "made once, kept");
}
