//! Certificate-expiry reminders (R9, D6) with a controllable clock, delivered over a real SMTP
//! exchange to a server run by the test.

use crate::support::{Backend, TestApp, certificate, fresh_database};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smartcore_app::{Clock, ManualClock, SyncSettings};
use smartcore_domain::{Role, Timestamp};
use smtp_sink::SmtpSink;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

fn at(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_datetime(t)
}

async fn reminders_follow_the_schedule_once_each_across_restarts_and_instances(backend: Backend) {
    let sink = SmtpSink::start().await;
    let real_now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let not_after = real_now + Duration::days(100);
    let clock = Arc::new(ManualClock::new(at(real_now)));
    let (url, _dir) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    for email in ["ada@acme.example", "grace@acme.example"] {
        app.add_manual(&org, &token, email).await;
        app.wait_for_status(&org, &token, email, "synced", 10).await;
    }
    crate::trust::welcomes_out(&app, &sink, 2).await;
    // A pending contact gets nothing: only registered contacts receive alerts.
    let pem = certificate("idp.acme.example", real_now - Duration::days(1), not_after);
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let sso: Value = r.json().await.unwrap();
    let fingerprint = sso["certificates"][0]["fingerprint_sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let sweep = |app: &TestApp| {
        let app = app.app.clone();
        async move { app.trust().run_certificate_sweep().await.unwrap() }
    };
    let store = app.store().await.clone();
    let thresholds = |_: &TestApp| {
        let (store, fp) = (store.clone(), fingerprint.clone());
        async move {
            let mut t: Vec<String> = store
                .reminders_of(&fp)
                .await
                .unwrap()
                .into_iter()
                .filter(|(_, _, status)| status == "sent")
                .map(|(t, _, _)| t)
                .collect();
            t.dedup();
            t
        }
    };

    // 100 days before: nothing.
    assert_eq!(sweep(&app).await.sent, 0);
    // 60 days before: both contacts get the first reminder, once.
    clock.set(at(not_after - Duration::days(60) + Duration::hours(1)));
    let report = sweep(&app).await;
    assert_eq!((report.certificates, report.sent, report.failed), (1, 2, 0));
    assert_eq!(sweep(&app).await.sent, 0, "not twice");
    // A restarted instance on the same database sends nothing again.
    let restarted = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    assert_eq!(sweep(&restarted).await.sent, 0);

    // Unseen for weeks, then swept 5 days before expiry: only the nearest threshold (7 days).
    clock.set(at(not_after - Duration::days(5)));
    assert_eq!(sweep(&app).await.sent, 2);
    assert_eq!(thresholds(&app).await, ["d60", "d7"]);

    // A temporary failure holds the schedule: the failed reminder waits for its backoff
    // (one minute), then a sweep retries it, and only it. (The trust pass's notices about
    // welcomes unanswered for 30 days go first, so the failure is the reminder's.)
    crate::trust::unconfirmed_notices_out(&app, &sink, &["ada@acme.example", "grace@acme.example"])
        .await;
    sink.fail_next(1);
    clock.set(at(not_after - Duration::days(3) + Duration::minutes(5)));
    let report = sweep(&app).await;
    assert_eq!((report.sent, report.failed), (1, 1), "{report:?}");
    let report = sweep(&restarted).await;
    assert_eq!(
        (
            report.certificates,
            report.sent,
            report.failed,
            report.already_handled
        ),
        (1, 0, 0, 2),
        "{report:?}"
    );
    clock.set(at(not_after - Duration::days(3) + Duration::minutes(7)));
    let report = sweep(&restarted).await;
    // Both were queued before: one sent, the other now retried.
    assert_eq!(
        (
            report.queued,
            report.sent,
            report.failed,
            report.already_handled
        ),
        (0, 1, 0, 2),
        "{report:?}"
    );
    assert_eq!(
        sweep(&app).await.certificates,
        0,
        "the schedule moved on once both were sent"
    );

    // A recipient the mail server refuses for good: recorded, shown on the contact, not
    // retried, and the others' schedule goes on.
    sink.reject_recipient("grace@acme.example");
    clock.set(at(not_after - Duration::days(1) + Duration::minutes(5)));
    let report = sweep(&app).await;
    assert_eq!(
        (report.sent, report.rejected, report.failed),
        (1, 1, 0),
        "{report:?}"
    );
    assert_eq!(sweep(&restarted).await.certificates, 0);
    let contacts = app.contacts(&org, &token).await;
    let grace = contacts
        .iter()
        .find(|c| c["email"] == "grace@acme.example")
        .unwrap();
    let reason = grace["mail_rejected"]["reason"]
        .as_str()
        .expect("rejection shown");
    assert!(reason.contains("550"), "{reason}");
    let ada = contacts
        .iter()
        .find(|c| c["email"] == "ada@acme.example")
        .unwrap();
    assert!(ada["mail_rejected"].is_null(), "{ada}");
    app.member(&org, "Sam Admin", "sam@acme.example", Role::Admin)
        .await;
    let cookie = app.sign_in("sam@acme.example").await;
    let html = app
        .page(&format!("/orgs/{org}/settings/authentication"), &cookie)
        .await;
    assert_eq!(
        html.matches("Mail rejected").count(),
        1,
        "shown on grace only"
    );
    let r = app
        .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), &token)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let log: Value = r.json().await.unwrap();
    let log: Vec<&Value> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            !["welcome", "reconfirmation", "admin_notice"].contains(&d["kind"].as_str().unwrap())
        })
        .collect();
    let statuses = |email: &str| -> Vec<String> {
        log.iter()
            .filter(|d| d["email"] == email)
            .map(|d| d["status"].as_str().unwrap().to_owned())
            .collect()
    };
    // Newest first: d1 rejected; d3 sent after one deferral (for one of the two); d7, d60 sent.
    assert_eq!(statuses("grace@acme.example")[0], "rejected");
    assert_eq!(log.iter().filter(|d| d["status"] == "deferred").count(), 1);
    assert_eq!(log.iter().filter(|d| d["status"] == "sent").count(), 7);
    assert!(log.iter().all(|d| d["kind"] == "certificate_reminder"));

    // Two instances sweeping at once on the expiry day: each reminder goes out once.
    clock.set(at(not_after + Duration::minutes(1)));
    let (a, b) = tokio::join!(sweep(&app), sweep(&restarted));
    assert_eq!(
        (a.sent + b.sent, a.rejected + b.rejected),
        (1, 1),
        "{a:?} {b:?}"
    );

    // Weekly after expiry.
    clock.set(at(not_after + Duration::days(7) + Duration::hours(2)));
    assert_eq!(sweep(&app).await.sent, 1);
    assert_eq!(
        thresholds(&app).await,
        ["d60", "d7", "d3", "d1", "d0", "w1"]
    );

    // A later certificate replaces it: one "renewed" notice, then silence for the old one.
    let renewed_pem = certificate(
        "idp2.acme.example",
        not_after - Duration::days(30),
        not_after + Duration::days(365),
    );
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": renewed_pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let renewed: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| m.data_text().contains("Renewed: the SSO certificate"))
        .collect();
    assert_eq!(renewed.len(), 1, "one notice, to the deliverable contact");
    assert!(renewed[0].rcpt_to.iter().any(|r| r == "ada@acme.example"));
    clock.set(at(not_after + Duration::days(14) + Duration::hours(2)));
    assert_eq!(
        sweep(&app).await.sent,
        0,
        "the replaced certificate's schedule has ended"
    );

    // What arrived over SMTP: one message per sent reminder, saying why and what to do.
    let messages: Vec<_> = sink
        .messages()
        .into_iter()
        .filter(|m| !m.data_text().contains("Renewed: the SSO certificate"))
        .collect();
    let to_ada: Vec<_> = messages
        .iter()
        .filter(|m| m.rcpt_to.iter().any(|r| r == "ada@acme.example"))
        .collect();
    assert_eq!(to_ada.len(), 6);
    let text = to_ada[0].data_text();
    assert!(text.contains("Acme"), "{text}");
    assert!(text.contains("idp.acme.example"));
    assert!(text.to_lowercase().contains("no access"), "{text}");
    let _ = clock.now();
}

async fn two_worker_processes_send_each_reminder_once(backend: Backend) {
    let sink = SmtpSink::start().await;
    let (url, _dir) = fresh_database(backend).await.expect("database");
    let app = TestApp::start(backend, &url, &[]).await;
    let now = OffsetDateTime::now_utc();
    let mut expected = Vec::new();
    for i in 0..4 {
        let (org, token) = app.org_with_admin(&format!("Org {i}")).await;
        for who in ["ada", "grace"] {
            let email = format!("{who}@org{i}.example");
            app.add_manual(&org, &token, &email).await;
            app.wait_for_status(&org, &token, &email, "synced", 10)
                .await;
            expected.push(email);
        }
        // Inside the 60-day window now, by the real clock the processes read.
        let pem = certificate(
            &format!("idp.org{i}.example"),
            now - Duration::days(1),
            now + Duration::days(59),
        );
        let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
                .json(&json!({ "idp_entity_id": format!("https://idp.org{i}.example"), "idp_sso_url": format!("https://idp.org{i}.example/sso"), "idp_certificate_pem": pem }))
                .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let run_once = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_smartcore"))
            .args(["alerts", "run-once", "--json"])
            .env("SMARTCORE_DATABASE_URL", &url)
            .env("SMARTCORE_MAIL", "smtp")
            .env("SMARTCORE_SMTP_URL", sink.url())
            .env(
                "SMARTCORE_OUTBOX_DIR",
                std::env::temp_dir().join("smartcore-it-unused-outbox"),
            )
            .env_remove("SMARTCORE_CONFIG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start smartcore")
    };
    let sent = |child: std::process::Child| {
        let out = child.wait_with_output().expect("smartcore ran");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        report["sent"].as_u64().unwrap()
    };
    // Two processes at once, then two more: every reminder arrives exactly once.
    let (a, b) = (run_once(), run_once());
    let first = tokio::task::spawn_blocking(move || (sent(a), sent(b)))
        .await
        .unwrap();
    assert_eq!(first.0 + first.1, 8, "{first:?}");
    let (a, b) = (run_once(), run_once());
    let again = tokio::task::spawn_blocking(move || (sent(a), sent(b)))
        .await
        .unwrap();
    assert_eq!(again, (0, 0));
    let mut received: Vec<String> = sink
        .messages()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    received.sort();
    expected.sort();
    assert_eq!(received, expected);
}

async fn a_failing_mail_server_stops_the_sweep_and_loses_nothing(backend: Backend) {
    let sink = SmtpSink::start().await;
    let real_now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let clock = Arc::new(ManualClock::new(at(real_now)));
    let (url, _dir) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    let emails: Vec<String> = (0..12).map(|i| format!("it{i}@acme.example")).collect();
    for email in &emails {
        app.add_manual(&org, &token, email).await;
    }
    for email in &emails {
        app.wait_for_status(&org, &token, email, "synced", 20).await;
    }
    crate::trust::welcomes_out(&app, &sink, 12).await;
    let pem = certificate(
        "idp.acme.example",
        real_now - Duration::days(1),
        real_now + Duration::days(20),
    );
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // Every transaction deferred: after three failures the sweep stops trying.
    sink.fail_next(1000);
    let report = app.app.trust().run_certificate_sweep().await.unwrap();
    assert!(report.mail_unavailable, "{report:?}");
    assert_eq!(report.sent, 0);
    assert!(
        report.failed >= 3 && report.failed < 12,
        "some were not even attempted: {report:?}"
    );
    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        log["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"] == "certificate_reminder")
            .count(),
        report.failed,
        "one record per attempt"
    );

    // One contact is removed meanwhile: its queued reminder is cancelled, not sent.
    let contacts = app.contacts(&org, &token).await;
    let gone = contacts
        .iter()
        .find(|c| c["email"] == "it0@acme.example")
        .unwrap();
    let r = app
        .delete(
            &format!(
                "/api/v1/orgs/{org}/it-contacts/{}",
                gone["id"].as_str().unwrap()
            ),
            &token,
        )
        .await;
    assert!(r.status().is_success());

    // The server is back; after the backoff every other reminder goes out, once.
    sink.fail_next(0);
    clock.set(at(real_now + Duration::minutes(2)));
    let report = app.app.trust().run_certificate_sweep().await.unwrap();
    assert_eq!(
        (
            report.sent,
            report.cancelled,
            report.failed,
            report.mail_unavailable
        ),
        (11, 1, 0, false),
        "{report:?}"
    );
    assert_eq!(
        app.app
            .trust()
            .run_certificate_sweep()
            .await
            .unwrap()
            .certificates,
        0,
        "the schedule moved on"
    );
    let mut received: Vec<String> = sink
        .messages()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    received.sort();
    let mut expected: Vec<String> = emails
        .iter()
        .filter(|e| *e != "it0@acme.example")
        .cloned()
        .collect();
    expected.sort();
    assert_eq!(received, expected);
}

async fn a_reminder_left_by_a_killed_sender_is_sent_once_its_lease_has_run_out(backend: Backend) {
    // The test alone sweeps (test services run no workers), with a clock it controls, so a lease
    // runs out when the clock says so (the default lease: 10 s).
    let sink = SmtpSink::start().await;
    let real_now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let clock = Arc::new(ManualClock::new(at(real_now)));
    let (url, _dir) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    for email in ["ada@acme.example", "grace@acme.example"] {
        app.add_manual(&org, &token, email).await;
    }
    app.app
        .contacts()
        .drain_queues("test", SyncSettings::default())
        .await
        .unwrap();
    let pem = certificate(
        "idp.acme.example",
        real_now - Duration::days(1),
        real_now + Duration::days(20),
    );
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let report = app.app.trust().sweep_certificates().await.unwrap();
    assert_eq!(report.queued, 2, "{report:?}");
    sink.clear();

    // Two senders take one reminder each; the first is then killed (it never renews), the
    // second lives and renews its lease.
    let store = app.store().await;
    let t0 = at(real_now);
    let lease = |t: Timestamp| t.plus_millis(10_000);
    let dead = store
        .take_queued_reminders("dead#1", t0, lease(t0), 1)
        .await
        .unwrap();
    let live = store
        .take_queued_reminders("live#1", t0, lease(t0), 1)
        .await
        .unwrap();
    assert_eq!((dead.len(), live.len()), (1, 1));
    let (dead_to, live_to) = (dead[0].claim.email.clone(), live[0].claim.email.clone());
    assert_ne!(dead_to, live_to);
    assert_eq!(
        app.app.trust().run_certificate_sweep().await.unwrap().sent,
        0,
        "both are held"
    );

    clock.set(t0.plus_millis(8_000));
    assert_eq!(
        store
            .renew_leases("live#1", lease(clock.now()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        app.app.trust().run_certificate_sweep().await.unwrap().sent,
        0,
        "both are still held"
    );

    // The dead sender's lease has run out: the next sweep sends its reminder, once; the live
    // sender's, renewed, is taken by nobody else.
    clock.set(t0.plus_millis(11_000));
    let now = clock.now();
    let report = app.app.trust().run_certificate_sweep().await.unwrap();
    assert_eq!((report.sent, report.failed), (1, 0), "{report:?}");
    assert!(
        store
            .take_queued_reminders("other#2", now, lease(now), 10)
            .await
            .unwrap()
            .is_empty(),
        "the renewed lease holds"
    );
    assert_eq!(
        app.app.trust().run_certificate_sweep().await.unwrap().sent,
        0,
        "not twice"
    );
    let received: Vec<Vec<String>> = sink.messages().into_iter().map(|m| m.rcpt_to).collect();
    assert_eq!(received, [vec![dead_to.clone()]]);

    // The live sender gives up what it still holds: it goes out at once, before its lease
    // would have run out.
    clock.set(t0.plus_millis(12_000));
    assert_eq!(store.release_leases("live#1").await.unwrap(), 1);
    assert_eq!(
        app.app.trust().run_certificate_sweep().await.unwrap().sent,
        1
    );
    assert_eq!(
        app.app.trust().run_certificate_sweep().await.unwrap().sent,
        0
    );
    let mut received: Vec<String> = sink
        .messages()
        .into_iter()
        .flat_map(|m| m.rcpt_to)
        .collect();
    received.sort();
    assert_eq!(
        received,
        ["ada@acme.example", "grace@acme.example"],
        "one reminder each"
    );
    let log: Value = app
        .get(&format!("/api/v1/orgs/{org}/mail-deliveries"), &token)
        .await
        .json()
        .await
        .unwrap();
    let reminders: Vec<&Value> = log["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["kind"] == "certificate_reminder")
        .collect();
    assert_eq!(reminders.len(), 2, "one delivery each: {reminders:?}");
    assert!(reminders.iter().all(|d| d["status"] == "sent"));
}

async fn reminders_state_the_real_time_left_when_sent(backend: Backend) {
    // Issue 23: "expires in N days" comes from the real notAfter at sending time, not from
    // the threshold's nominal days; a test alert for the same certificate says the same.
    let sink = SmtpSink::start().await;
    let real_now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let not_after = real_now + Duration::days(100);
    let clock = Arc::new(ManualClock::new(at(real_now)));
    let (url, _dir) = fresh_database(backend).await.expect("database");
    let extra = [
        ("SMARTCORE_MAIL", "smtp".to_owned()),
        ("SMARTCORE_SMTP_URL", sink.url()),
    ];
    let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
    let (org, token) = app.org_with_admin("Acme").await;
    app.add_manual(&org, &token, "ada@acme.example").await;
    app.app
        .contacts()
        .drain_queues("test", SyncSettings::default())
        .await
        .unwrap();
    let pem = certificate("idp.acme.example", real_now - Duration::days(1), not_after);
    let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let when = not_after
        .format(time::macros::format_description!(
            "[day padding:none] [month repr:long] [year], [hour]:[minute] UTC"
        ))
        .unwrap();
    // The one reminder a sweep at this moment sends: (subject, text).
    let reminder = |app: &TestApp| {
        let (app, sink) = (app.app.clone(), &sink);
        async move {
            sink.clear();
            let report = app.trust().run_certificate_sweep().await.unwrap();
            assert_eq!(report.sent, 1, "{report:?}");
            let messages = sink.messages();
            let parsed = mail_parser::MessageParser::default()
                .parse(&messages[0].data)
                .expect("RFC 5322");
            (
                parsed.subject().unwrap().to_owned(),
                parsed.body_text(0).unwrap().replace(['\r', '\n'], " "),
            )
        }
    };
    let sso_page = format!("/orgs/{org}/settings/sso");

    // 5 days 1 hour before: the d7 reminder says 5 days, not 7.
    clock.set(at(not_after - Duration::days(5) - Duration::hours(1)));
    let (subject, text) = reminder(&app).await;
    assert!(subject.ends_with("expires in 5 days"), "{subject}");
    assert!(
        text.contains(&format!("expires in 5 days, on {when}")),
        "{text}"
    );
    assert!(!text.contains("7 days"), "{text}");
    assert!(text.contains("on the Single Sign-On page"), "{text}");
    assert!(text.contains(&sso_page), "{text}");
    assert!(
        !text.contains("Settings → Organisation → Authentication"),
        "{text}"
    );
    // A test alert at the same moment says the same.
    sink.clear();
    let r = app
        .post(
            &format!("/api/v1/orgs/{org}/it-contacts/test-alert"),
            &token,
            Value::Null,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let messages = sink.messages();
    let parsed = mail_parser::MessageParser::default()
        .parse(&messages[0].data)
        .expect("RFC 5322");
    let subject = parsed.subject().unwrap().to_owned();
    assert!(
        subject.starts_with("[Test]") && subject.ends_with("expires in 5 days"),
        "{subject}"
    );
    assert!(parsed.body_text(0).unwrap().contains(&sso_page));

    // 1 day 2 hours before (the d3 reminder): "in 1 day".
    clock.set(at(not_after - Duration::days(1) - Duration::hours(2)));
    let (subject, text) = reminder(&app).await;
    assert!(subject.ends_with("expires in 1 day"), "{subject}");
    assert!(
        text.contains(&format!("expires in 1 day, on {when}")),
        "{text}"
    );

    // 3 days 1 hour after expiry (the expiry-day reminder, sent late): "expired 3 days ago".
    clock.set(at(not_after + Duration::days(3) + Duration::hours(1)));
    let (subject, text) = reminder(&app).await;
    assert!(subject.ends_with("expired 3 days ago"), "{subject}");
    assert!(
        text.contains(&format!("expired 3 days ago, on {when}")),
        "{text}"
    );
}
on_each_backend!(
    reminders_follow_the_schedule_once_each_across_restarts_and_instances,
    two_worker_processes_send_each_reminder_once,
    a_failing_mail_server_stops_the_sweep_and_loses_nothing,
    a_reminder_left_by_a_killed_sender_is_sent_once_its_lease_has_run_out,
    reminders_state_the_real_time_left_when_sent
);
