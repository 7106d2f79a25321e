//! Any text as a rule file: parsed and checked, or refused with one line
//! naming the file; never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("fuzz.toml");
    match recon::rules::parse_text(path, text) {
        Ok(rules) => {
            // What a check builds from it must not panic either.
            let spec = rules.spec(1);
            let _ = recon::rules::settings::check_selection(&spec.selection);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(message.starts_with("fuzz.toml"), "{message}");
            assert!(!message.contains('\n'), "{message:?}");
        }
    }
});
