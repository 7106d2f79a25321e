//! The `recon` binary: parse, dispatch, map the outcome to an exit code.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // A panic is a bug, but the user still gets one line and exit code 2
    // (RECON_BACKTRACE=1 keeps Rust's report, for debugging recon itself).
    if std::env::var_os("RECON_BACKTRACE").is_none() {
        install_panic_hook();
    }
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("recon: error: {} (see recon --help)", usage_line(&e));
            return ExitCode::from(cli::EXIT_ERROR);
        }
    };
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // Any URL quoted in a message is shown without its password.
            let line = recon::error::one_line(&e);
            eprintln!("recon: error: {}", recon::source::url::redact(&line));
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}

/// The first line of a clap error, without its `error: ` prefix.
fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments");
    first.trim().trim_start_matches("error: ").to_string()
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // A panic's message may quote a source string: redacted like any error.
        eprintln!(
            "recon: internal error: {}",
            recon::source::url::redact(&recon::error::one_line(message))
        );
        std::process::exit(i32::from(cli::EXIT_ERROR));
    }));
}
