//! Certificate-expiry reminders (R9, D6) with a controllable clock, delivered over a real SMTP
//! exchange to a server run by the test.

use crate::support::{Backend, TestApp, certificate, fresh_database};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use smartcore_app::{Clock, ManualClock};
use smartcore_domain::Timestamp;
use smtp_sink::SmtpSink;
use std::sync::Arc;
use time::{Duration, OffsetDateTime};

fn at(t: OffsetDateTime) -> Timestamp {
    Timestamp::from_datetime(t)
}

each_backend! {
    async fn reminders_follow_the_schedule_once_each_across_restarts_and_instances(backend: Backend) {
        let sink = SmtpSink::start().await;
        let real_now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
        let not_after = real_now + Duration::days(100);
        let clock = Arc::new(ManualClock::new(at(real_now)));
        let (url, _dir) = fresh_database(backend).await.expect("database");
        let extra = [("SMARTCORE_MAIL", "smtp".to_owned()), ("SMARTCORE_SMTP_URL", sink.url())];
        let app = TestApp::start_with_clock(backend, &url, &extra, clock.clone()).await;
        let (org, token) = app.org_with_admin("Acme").await;
        for email in ["ada@acme.example", "grace@acme.example"] {
            app.add_manual(&org, &token, email).await;
            app.wait_for_status(&org, &token, email, "synced", 10).await;
        }
        // A pending contact gets nothing: only registered contacts receive alerts.
        let pem = certificate("idp.acme.example", real_now - Duration::days(1), not_after);
        let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": pem }))
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let sso: Value = r.json().await.unwrap();
        let fingerprint = sso["certificates"][0]["fingerprint_sha256"].as_str().unwrap().to_owned();
        let sweep = |app: &TestApp| {
            let app = app.app.clone();
            async move { app.run_certificate_sweep().await.unwrap() }
        };
        let thresholds = |app: &TestApp| {
            let (app, fp) = (app.app.clone(), fingerprint.clone());
            async move {
                let mut t: Vec<String> = app.store().reminders_of(&fp).await.unwrap().into_iter()
                    .filter(|(_, _, status)| status == "sent").map(|(t, _, _)| t).collect();
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

        // A refused recipient does not advance the schedule: the next sweep retries it, and only it.
        sink.reject_recipient("grace@acme.example");
        clock.set(at(not_after - Duration::days(3) + Duration::minutes(5)));
        let report = sweep(&app).await;
        assert_eq!((report.sent, report.failed), (1, 1));
        let report = sweep(&restarted).await;
        assert_eq!((report.sent, report.failed, report.already_handled), (0, 1, 1));

        // Two instances sweeping at once on the expiry day: each reminder goes out once.
        clock.set(at(not_after + Duration::minutes(1)));
        let (a, b) = tokio::join!(sweep(&app), sweep(&restarted));
        assert_eq!(a.sent + b.sent, 1, "{a:?} {b:?}");

        // Weekly after expiry.
        clock.set(at(not_after + Duration::days(7) + Duration::hours(2)));
        assert_eq!(sweep(&app).await.sent, 1);
        assert_eq!(thresholds(&app).await, ["d60", "d7", "d3", "d0", "w1"]);

        // A later certificate replaces it: one "renewed" notice, then silence for the old one.
        let renewed_pem = certificate("idp2.acme.example", not_after - Duration::days(30), not_after + Duration::days(365));
        let r = app.request(Method::PUT, &format!("/api/v1/orgs/{org}/sso"), Some(&token))
            .json(&json!({ "idp_entity_id": "https://idp.acme.example", "idp_sso_url": "https://idp.acme.example/sso", "idp_certificate_pem": renewed_pem }))
            .send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let renewed: Vec<_> = sink.messages().into_iter()
            .filter(|m| m.data_text().contains("Renewed: the SSO certificate"))
            .collect();
        assert_eq!(renewed.len(), 1, "one notice, to the deliverable contact");
        assert!(renewed[0].rcpt_to.iter().any(|r| r == "ada@acme.example"));
        clock.set(at(not_after + Duration::days(14) + Duration::hours(2)));
        assert_eq!(sweep(&app).await.sent, 0, "the replaced certificate's schedule has ended");

        // What arrived over SMTP: one message per sent reminder, saying why and what to do.
        let messages: Vec<_> = sink.messages().into_iter()
            .filter(|m| !m.data_text().contains("Renewed: the SSO certificate"))
            .collect();
        let to_ada: Vec<_> = messages.iter().filter(|m| m.rcpt_to.iter().any(|r| r == "ada@acme.example")).collect();
        assert_eq!(to_ada.len(), 5);
        let text = to_ada[0].data_text();
        assert!(text.contains("Acme"), "{text}");
        assert!(text.contains("idp.acme.example"));
        assert!(text.to_lowercase().contains("no access"), "{text}");
        let _ = clock.now();
    }
}
