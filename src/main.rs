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
    let cli = cli::Cli::parse();
    match cli::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("recon: error: {}", recon::error::one_line(&e));
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        eprintln!("recon: internal error: {}", recon::error::one_line(message));
        std::process::exit(i32::from(cli::EXIT_ERROR));
    }));
}
