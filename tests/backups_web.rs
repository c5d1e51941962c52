//! Admin → Backups (issue 15): the passphrase and its recovery sheet, the
//! plan, "Back up now" with its progress and result, a failed backup shown
//! to owners, restoring from the page (checked, then Hearth restarts into
//! it), and the setup page's "restore from a backup instead" on a fresh box
//! end to end: the same data, the same search results, everyone signs in
//! again.

use reqwest::{Method, StatusCode};
use scraper::Html;
use serde_json::Value;

use crate::common::*;

const PASSPHRASE: &str = "amber-ledge-quartz-willow";

/// Waits until no backup is being written; the last result's JSON.
async fn wait_for_backup(owner: &Client) -> Value {
    for _ in 0..600 {
        let response = owner.get("/admin/backups/progress").await;
        assert_eq!(response.status(), StatusCode::OK);
        let progress: Value = response.json().await.unwrap();
        if progress["running"] == false && !progress["last_ok"].is_null() {
            return progress;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the backup did not finish");
}

fn archives(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut found: Vec<_> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "hearthbackup"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[tokio::test]
async fn the_owner_sets_up_backups_runs_one_and_sees_a_failure() {
    let (server, owner) = TestServer::with_owner().await;
    let admin = server.user(&owner, "alex", "admin").await;
    let usb = tempfile::tempdir().unwrap();
    let folder = usb.path().join("hearth");

    let (status, html) = owner.page("/admin/backups").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        select_text(&html, "#last-backup"),
        "No backup has been written yet."
    );
    let disabled = scraper::Selector::parse("#run-backup[disabled]").unwrap();
    assert_eq!(
        html.select(&disabled).count(),
        1,
        "no backup before a passphrase"
    );

    // Nothing to encrypt with yet.
    let response = owner.post_form("/admin/backups/run", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let (_, html) = owner.page("/admin/backups").await;
    assert!(select_text(&html, ".flash").contains("recovery passphrase first"));

    // The passphrase: refused when short or mistyped; then the sheet.
    for (passphrase, again, expected) in [
        ("short", "short", "at least 12 characters"),
        (PASSPHRASE, "amber-ledge-quartz-willoW", "differ"),
    ] {
        let response = owner
            .post_form(
                "/admin/backups/passphrase",
                &[("passphrase", passphrase), ("passphrase_confirm", again)],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let html = Html::parse_document(&response.text().await.unwrap());
        assert!(select_text(&html, "#backup-error").contains(expected));
    }
    let response = owner
        .post_form(
            "/admin/backups/passphrase",
            &[
                ("passphrase", PASSPHRASE),
                ("passphrase_confirm", PASSPHRASE),
            ],
        )
        .await;
    assert_eq!(location(&response), "/admin/backups/recovery-sheet");
    let (status, html) = owner.page("/admin/backups/recovery-sheet").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_text(&html, "#sheet-passphrase"), PASSPHRASE);
    let download = owner.get("/admin/backups/recovery-sheet?download=1").await;
    assert!(
        download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(server.audit_of("backup.sheet_viewed").await.len(), 2);
    assert_eq!(server.audit_of("backup.passphrase_set").await.len(), 1);
    // An admin is not the owner: no backups for them.
    assert_eq!(
        admin.get("/admin/backups").await.status(),
        StatusCode::FORBIDDEN
    );

    // The plan: a relative folder and a bad time are refused.
    for (directory, at, expected) in [
        ("backups", "02:30", "full path"),
        (folder.to_str().unwrap(), "2.30", "hours and minutes"),
    ] {
        let response = owner
            .post_form(
                "/admin/backups/plan",
                &[
                    ("directory", directory),
                    ("nightly", "on"),
                    ("nightly_at", at),
                    ("keep_daily", "3"),
                    ("keep_weekly", "2"),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{directory}");
        let html = Html::parse_document(&response.text().await.unwrap());
        assert!(select_text(&html, "#backup-error").contains(expected));
    }
    let response = owner
        .post_form(
            "/admin/backups/plan",
            &[
                ("directory", folder.to_str().unwrap()),
                ("nightly", "on"),
                ("nightly_at", "02:30"),
                ("keep_daily", "3"),
                ("keep_weekly", "2"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let stored: Value = serde_json::from_str(
        &server
            .state
            .store
            .setting("backup.settings")
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored["nightly_at"], "02:30");
    assert_eq!(stored["keep_daily"], 3);
    // A versioned setting: Admin → Changes lists it.
    let (_, html) = owner.page("/admin/changes").await;
    assert!(html.html().contains("The backup plan"));

    // Back up now: written into the folder, and the page says so.
    let response = owner.post_form("/admin/backups/run", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let progress = wait_for_backup(&owner).await;
    assert_eq!(progress["last_ok"], true, "{progress}");
    let written = archives(&folder);
    assert_eq!(written.len(), 1);
    let kept = usb.path().join("kept.hearthbackup");
    std::fs::copy(&written[0], &kept).unwrap();
    let (_, html) = owner.page("/admin/backups").await;
    let last = select_text(&html, "#last-backup");
    assert!(last.starts_with("Backed up"), "{last}");
    assert!(
        last.contains(written[0].file_name().unwrap().to_str().unwrap()),
        "{last}"
    );
    assert!(html.html().contains("hearth-backup-"));
    let created = server.audit_of("backup.created").await;
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].actor, "olivia");
    // The home page's checklist ticks backups off.
    let (_, html) = owner.page("/").await;
    assert_eq!(select_attr(&html, "#check-backups", "data-done"), "true");

    // The folder goes away (the USB drive unplugged, and a file in its
    // place): the backup fails, and owners see it on every page.
    std::fs::remove_dir_all(&folder).unwrap();
    std::fs::write(&folder, b"not a folder").unwrap();
    let response = owner.post_form("/admin/backups/run", &[]).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let progress = wait_for_backup(&owner).await;
    assert_eq!(progress["last_ok"], false, "{progress}");
    let (_, html) = owner.page("/").await;
    let warning = select_text(&html, "#backup-warning");
    assert!(warning.starts_with("The last backup failed"), "{warning}");
    let (_, html) = owner.page("/chat").await;
    assert!(!select_text(&html, "#backup-warning").is_empty());
    let (_, html) = admin.page("/chat").await;
    assert!(
        select_text(&html, "#backup-warning").is_empty(),
        "owners only"
    );
    let (_, html) = owner.page("/admin/backups").await;
    assert!(select_text(&html, "#last-backup").contains("failed"));
    let failed = server.audit_of("backup.created").await;
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].outcome, hearth::store::AuditOutcome::Failed);

    // Restoring from the page: a wrong passphrase is refused with the
    // reason and changes nothing; the right one is checked, then Hearth
    // asks to restart into it.
    std::fs::remove_file(&folder).unwrap();
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(&kept, folder.join(written[0].file_name().unwrap())).unwrap();
    let name = written[0]
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let restore = |passphrase: &'static str, confirm: bool| {
        let owner = &owner;
        let name = name.clone();
        async move {
            let token = owner.csrf().await;
            let mut form = reqwest::multipart::Form::new()
                .text("existing", name)
                .text("passphrase", passphrase);
            if confirm {
                form = form.text("confirm", "replace");
            }
            owner
                .http
                .post(owner.url(&format!("/admin/backups/restore?csrf={token}")))
                .multipart(form)
                .send()
                .await
                .unwrap()
        }
    };
    let response = restore(PASSPHRASE, false).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#restore-error").contains("confirm"));
    let response = restore("a wrong passphrase here", true).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#restore-error").contains("passphrase is wrong"));
    assert!(!server.state.backups.restart.is_cancelled());
    assert!(!server.data_dir.path().join("restore").exists());
    let response = restore(PASSPHRASE, true).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert_eq!(select_attr(&html, "#restarting", "data-next"), "/login");
    // Hearth restarts a moment later, once the page has gone out.
    for _ in 0..600 {
        if server.state.backups.restart.is_cancelled() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(server.state.backups.restart.is_cancelled());
    assert!(server.data_dir.path().join("restore/staged.json").exists());
}

/// The setup code a fresh `hearth serve` printed.
fn setup_code(log: &str) -> String {
    let re =
        regex::Regex::new(r"\b([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})\b").unwrap();
    re.captures(log)
        .map(|c| c[1].to_string())
        .unwrap_or_else(|| panic!("no setup code in the log: {log}"))
}

/// Waits until `/readyz` answers from a run of Hearth other than `before`.
async fn wait_restarted(base: &str, before: &str) {
    let client = reqwest::Client::new();
    for _ in 0..1200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
            && r.headers()
                .get("x-hearth-instance")
                .is_some_and(|v| v.to_str().unwrap() != before)
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("Hearth did not come back");
}

#[tokio::test]
async fn a_fresh_box_restores_a_backup_from_the_setup_page() {
    hearth::chat::models::download::install_tls_provider();
    let root = tempfile::tempdir().unwrap();
    let old = root.path().join("old");
    let key = ChildServer::prepare(&old, "");
    let mut server = ChildServer::start(&old).await;
    let api = ApiClient::new(&server.base, &key);
    let refund = api
        .upload_indexed(None, "refund.txt", "Refunds are given within 30 days.")
        .await;
    let usb = root.path().join("usb");
    let made = ChildServer::console(
        &old,
        &["backup", "--to", usb.to_str().unwrap()],
        &format!("{PASSPHRASE}\n"),
    );
    assert!(made.status.success(), "{made:?}");
    server.terminate(std::time::Duration::from_secs(10));
    let before_dump = crate::backup::dump(&old.join("hearth.db"));
    let archive = archives(&usb).remove(0);
    let bytes = std::fs::read(&archive).unwrap();

    // A fresh box, not set up.
    let fresh = root.path().join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    std::fs::write(fresh.join("test.toml"), "").unwrap();
    let mut server = ChildServer::start(&fresh).await;
    let pid = server.child.id();
    let code = setup_code(&server.log());
    let visitor = Client::new(&server.base);
    let (status, html) = visitor.page("/setup").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!select_text(&html, "#restore-instead summary").is_empty());
    let upload = |code: String, passphrase: &'static str| {
        let visitor = &visitor;
        let bytes = bytes.clone();
        async move {
            let token = visitor.csrf().await;
            let form = reqwest::multipart::Form::new()
                .text("setup_code", code)
                .text("passphrase", passphrase)
                .part(
                    "archive",
                    reqwest::multipart::Part::bytes(bytes).file_name("office.hearthbackup"),
                );
            visitor
                .http
                .post(visitor.url(&format!("/setup/restore?csrf={token}")))
                .multipart(form)
                .send()
                .await
                .unwrap()
        }
    };
    // A wrong setup code, then a wrong passphrase: refused, still fresh.
    let response = upload("AAAA-BBBB-CCCC".into(), PASSPHRASE).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#restore-error").contains("setup code"));
    let response = upload(code.clone(), "not the right passphrase").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(select_text(&html, "#restore-error").contains("passphrase is wrong"));
    assert_eq!(
        visitor.page("/setup").await.0,
        StatusCode::OK,
        "still fresh"
    );

    // The right one: Hearth restarts (the same process) into the backup.
    let response = upload(code, PASSPHRASE).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = Html::parse_document(&response.text().await.unwrap());
    assert!(!select_text(&html, "#restarting").is_empty());
    // Another run of Hearth answers: the page waits for the same.
    let before = select_attr(&html, "#restarting", "data-instance");
    assert!(!before.is_empty());
    wait_restarted(&server.base, &before).await;
    assert_eq!(server.child.id(), pid);
    assert!(server.child.try_wait().unwrap().is_none(), "still running");
    assert!(
        !fresh.join("restore").exists(),
        "put in place and cleaned up"
    );
    assert_eq!(
        crate::backup::dump(&fresh.join("hearth.db")),
        before_dump,
        "the database came back exactly"
    );

    // The owner signs in with her password; her key and documents are back.
    let olivia = Client::new(&server.base);
    olivia.login("olivia", GOOD_PASSWORD).await;
    let api = ApiClient::new(&server.base, &key);
    let mut hits = Vec::new();
    for _ in 0..100 {
        let response = api
            .request(Method::GET, "/api/v1/search")
            .query(&[("q", "refunds")])
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::OK {
            let body: Value = response.json().await.unwrap();
            hits = body["hits"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|h| h["document_id"].as_i64())
                .collect();
            if !hits.is_empty() {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(hits, [refund]);
    let restored = api
        .request(Method::GET, "/api/v1/audit")
        .query(&[("action", "backup.restored")])
        .send()
        .await
        .unwrap();
    let restored: Value = restored.json().await.unwrap();
    assert!(
        restored.to_string().contains("files from the backup"),
        "{restored}"
    );
    server.terminate(std::time::Duration::from_secs(10));
}
