//! Any bytes as a CSV or NDJSON file, compared end to end with itself
//! (each side held in memory or staged in a temporary file, as a large
//! file is, and the right side maybe streamed through DataFusion instead of
//! read in place, chosen by the first byte): no row differs (duplicate and
//! NULL keys may be reported), or a one-line error; never a panic. A CSV
//! read in place against the same file streamed checks recon's record
//! splitting against DataFusion's parser.
#![no_main]

use std::io::Write;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use recon::source::{self, OpenOptions};
use recon::{Side, Spec};

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let format = if selector % 2 == 0 { "csv" } else { "ndjson" };
    let mut file = tempfile::Builder::new()
        .suffix(&format!(".{format}"))
        .tempfile()
        .expect("a temporary file");
    file.write_all(body).expect("written");
    let path = format!("{format}:{}", file.path().display());
    let options = |staged: bool, streamed: bool| OpenOptions {
        threads: 1,
        in_memory_bytes: if staged { 0 } else { source::IN_MEMORY_BYTES },
        decode_once: !streamed,
        ..OpenOptions::default()
    };
    let open = |side, staged, streamed| {
        source::open(&path, None, side, &options(staged, streamed), runtime().handle())
    };
    let (Ok(left), Ok(right)) = (
        open(Side::Left, selector & 2 != 0, false),
        open(Side::Right, selector & 4 != 0, selector & 8 != 0),
    ) else {
        return;
    };
    let Some(key) = left.schema().fields().first().map(|f| f.name().clone()) else {
        return;
    };
    let spec = Spec {
        selection: recon::Selection {
            key: vec![key],
            ..Default::default()
        },
        threads: 1,
        ..Spec::default()
    };
    match recon::diff(left.as_ref(), right.as_ref(), &spec) {
        Ok(c) => {
            let s = &c.report.summary;
            assert_eq!(
                (s.only_left, s.only_right, s.changed),
                (0, 0, 0),
                "a file differs from itself: {s:?}"
            );
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
});
