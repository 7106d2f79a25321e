//! Any text as a source string: a database URL parsed or refused, and the
//! redaction of messages quoting it; a password given after `:` and before
//! `@` never survives redaction.
#![no_main]

use libfuzzer_sys::fuzz_target;
use recon::Side;
use recon::source::url::{DatabaseUrl, redact};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match DatabaseUrl::parse(text, Side::Left) {
        Ok(Some(url)) => {
            let shown = format!("{url} {url:?}");
            // Unless the password is also the text of another part.
            let parts = format!(
                "{:?} {} {} {:?} {:?}",
                url.user, url.host, url.database, url.table, url.params
            );
            if let Some(p) = url.password().filter(|p| p.len() >= 4 && !parts.contains(*p)) {
                assert!(!shown.contains(p), "{shown}");
            }
        }
        Ok(None) => {}
        Err(e) => {
            let _ = redact(&e.to_string());
        }
    }
    // A URL with a password built from the input: hidden whole.
    let password: String = text
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '@')
        .take(24)
        .collect();
    let skeleton = "failed: postgres://user:***@host/db?table=t (left)";
    if password.len() >= 6 && !skeleton.contains(&password) {
        let message = format!("failed: postgres://user:{password}@host/db?table=t (left)");
        let shown = redact(&message);
        assert!(!shown.contains(&password), "{password:?} in {shown:?}");
    }
});
