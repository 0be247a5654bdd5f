//! The identity provider's metadata on the Single Sign-On page, uploaded as a file and given as
//! a URL: in headless Chromium, and again with plain form posts (no JavaScript at all). The
//! metadata URL is served by a real HTTP server run by the test.

use crate::support::{TempDir, certificate};
use crate::{ADMIN_EMAIL, Scene};
use reqwest::StatusCode;
use std::time::Duration;
use time::OffsetDateTime;

fn metadata(cn: &str) -> String {
    let now = OffsetDateTime::now_utc();
    let pem = certificate(
        cn,
        now - time::Duration::days(1),
        now + time::Duration::days(200),
    );
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    format!(
        r#"<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://{cn}/saml">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{body}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://{cn}/sso"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>"#
    )
}

/// The identity provider's metadata at `{base}/metadata.xml`; anything else is 404.
async fn idp(doc: String) -> String {
    let router = axum::Router::new().route(
        "/metadata.xml",
        axum::routing::get(move || {
            let doc = doc.clone();
            async move { ([("content-type", "application/samlmetadata+xml")], doc) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn allow_local() -> Vec<(&'static str, String)> {
    vec![("SMARTCORE_METADATA_ALLOW_PRIVATE", "127.0.0.1".to_owned())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_file_and_the_metadata_url_work_in_a_browser() {
    let Some((scene, b)) = Scene::with_browser(&allow_local()).await else {
        return;
    };
    let base = idp(metadata("url.acme.example")).await;
    let sso = format!("/orgs/{}/settings/sso", scene.org);
    b.sign_in(ADMIN_EMAIL).await;

    // Upload: the file input, then the form's button.
    let dir = TempDir::new("metadata-upload");
    let file = dir.0.join("idp-metadata.xml");
    std::fs::write(&file, metadata("file.acme.example")).unwrap();
    b.goto(&sso).await;
    b.find("#metadata_file")
        .await
        .send_keys(&file.display().to_string())
        .await
        .unwrap();
    b.find("form[action$=\"/configuration#config-error\"] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.eventually(
        "the uploaded configuration",
        Duration::from_secs(10),
        "return !!document.querySelector('#notice') && document.body.innerText.includes('file.acme.example')",
    )
    .await;
    assert!(b.text("#notice").await.contains("settings saved"));

    // A URL that does not answer with metadata: the error next to the field, the URL kept.
    b.find("#metadata_url")
        .await
        .send_keys(&format!("{base}/missing.xml"))
        .await
        .unwrap();
    b.find("form[action$=\"/metadata-url#metadata-url-error\"] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.eventually(
        "the error next to the URL",
        Duration::from_secs(15),
        "return !!document.querySelector('#metadata-url-error')",
    )
    .await;
    assert!(b.text("#metadata-url-error").await.contains("404"));
    let kept = b
        .js("return document.querySelector('#metadata_url').value")
        .await;
    assert_eq!(kept, format!("{base}/missing.xml"));
    let invalid = b
        .js("return document.querySelector('#metadata_url').getAttribute('aria-invalid')")
        .await;
    assert_eq!(invalid, "true");

    // The right URL: fetched, saved, and shown as the source kept current.
    b.js("document.querySelector('#metadata_url').value = ''; return true")
        .await;
    b.find("#metadata_url")
        .await
        .send_keys(&format!("{base}/metadata.xml"))
        .await
        .unwrap();
    b.find("form[action$=\"/metadata-url#metadata-url-error\"] button[type=submit]")
        .await
        .click()
        .await
        .unwrap();
    b.eventually(
        "the fetched configuration",
        Duration::from_secs(15),
        "return !!document.querySelector('#metadata-source') && document.body.innerText.includes('url.acme.example')",
    )
    .await;
    assert!(b.text("#notice").await.contains("Metadata fetched"));
    assert!(
        b.text("#metadata-source")
            .await
            .contains(&format!("{base}/metadata.xml"))
    );
    b.screenshot("sso-metadata-url").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metadata_file_and_the_metadata_url_work_without_javascript() {
    let Some(scene) = Scene::new(&allow_local()).await else {
        return;
    };
    let base = idp(metadata("url.acme.example")).await;
    let app = &scene.app;
    let cookie = {
        let r = app
            .http
            .post(format!("{}/sign-in", app.base_url))
            .form(&[
                ("email", ADMIN_EMAIL),
                ("password", crate::driver::PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        r.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned()
    };
    let sso = format!("{}/orgs/{}/settings/sso", app.base_url, scene.org);
    let page = app
        .http
        .get(&sso)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("enctype=\"multipart/form-data\""));
    assert!(page.contains("<label for=\"metadata_url\">"));

    // The file, as a browser without JavaScript posts it.
    let form = reqwest::multipart::Form::new().part(
        "metadata_file",
        reqwest::multipart::Part::text(metadata("file.acme.example"))
            .file_name("idp-metadata.xml")
            .mime_str("text/xml")
            .unwrap(),
    );
    let r = app
        .http
        .post(format!("{sso}/configuration"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(
        r.headers()["location"]
            .to_str()
            .unwrap()
            .contains("done=configured")
    );

    // A refused URL: back to the page with the reason, the URL kept.
    let post_url = |url: String| {
        app.http
            .post(format!("{sso}/metadata-url"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", "same-origin")
            .form(&[("metadata_url", url)])
            .send()
    };
    let r = post_url(format!("{base}/missing.xml")).await.unwrap();
    let (_, html) = app.follow(r, &cookie).await;
    assert!(html.contains("id=\"metadata-url-error\""), "{html}");
    assert!(html.contains("404"));
    assert!(html.contains(&format!("value=\"{base}/missing.xml\"")));
    // http:// to an address not allowed, and a private one: refused with the reason.
    let r = post_url("http://10.1.2.3/metadata.xml".into())
        .await
        .unwrap();
    assert!(
        app.follow(r, &cookie)
            .await
            .1
            .contains("not a public internet address")
    );

    // The right URL: redirected back with the notice; the page shows where it comes from.
    let r = post_url(format!("{base}/metadata.xml")).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let location = r.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("done=fetched"), "{location}");
    let html = app
        .http
        .get(format!("{}{location}", app.base_url))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("Metadata fetched and saved"));
    assert!(html.contains("id=\"metadata-source\" data-state=\"ok\""));
    assert!(html.contains("url.acme.example"));
    assert!(
        !html.contains("file.acme.example"),
        "the URL's configuration replaced the file's"
    );
}
