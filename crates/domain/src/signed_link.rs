//! The one codec of the links we mail (setup links, "Not me" and confirmation links): the
//! fields joined with `.`, then `base64url(payload).base64url(HMAC-SHA256(key, payload))`.
//! Nothing is stored per link; a link is ours when its tag verifies under the key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn mac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length")
}

/// The token for `fields` (none may contain `.`).
pub fn seal(key: &[u8], fields: &[&str]) -> String {
    debug_assert!(fields.iter().all(|f| !f.contains('.')));
    let payload = fields.join(".");
    let mut m = mac(key);
    m.update(payload.as_bytes());
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
    )
}

/// The fields of a token sealed under `key`, when it has exactly `count` of them; `None` for
/// anything else (mistyped, tampered, sealed under another key, another shape).
pub fn open(key: &[u8], token: &str, count: usize) -> Option<Vec<String>> {
    let (payload_b64, tag_b64) = token.trim().split_once('.')?;
    let payload = URL_SAFE_NO_PAD.decode(payload_b64).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(tag_b64).ok()?;
    let mut m = mac(key);
    m.update(&payload);
    m.verify_slice(&tag).ok()?;
    let payload = String::from_utf8(payload).ok()?;
    let fields: Vec<String> = payload.split('.').map(str::to_owned).collect();
    (fields.len() == count).then_some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_token_opens_under_its_key_only() {
        let token = seal(b"key", &["not-me", "c1", "o1", "1700000000000"]);
        assert_eq!(
            open(b"key", &token, 4),
            Some(vec![
                "not-me".into(),
                "c1".into(),
                "o1".into(),
                "1700000000000".into()
            ])
        );
        assert_eq!(open(b"other key", &token, 4), None);
        assert_eq!(open(b"key", &token, 3), None);
        assert_eq!(
            open(b"key", &format!(" {token}\n"), 4).map(|f| f.len()),
            Some(4)
        );
    }

    #[test]
    fn tampered_or_malformed_tokens_are_refused() {
        let token = seal(b"key", &["c1", "o1", "99"]);
        let (payload, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("c2.o1.99"));
        assert_eq!(open(b"key", &forged, 3), None);
        assert_eq!(open(b"key", payload, 3), None);
        assert_eq!(open(b"key", "", 3), None);
        assert_eq!(open(b"key", "!!.??", 3), None);
        assert_eq!(open(b"key", &format!("{payload}.{tag}x"), 3), None);
    }

    #[test]
    fn the_format_is_the_one_mailed_before() {
        // Links already in mailboxes keep working: payload and tag as before this module.
        let token = seal(b"k", &["a", "b"]);
        let mut m = mac(b"k");
        m.update(b"a.b");
        let tag = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
        assert_eq!(token, format!("{}.{tag}", URL_SAFE_NO_PAD.encode("a.b")));
    }
}
