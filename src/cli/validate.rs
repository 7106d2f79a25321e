//! `recon validate RULES...`: check rule files without touching data.
//!
//! Exit 0 when every file is valid, 2 otherwise (each mistake on one line,
//! `FILE:LINE: cause`).

use std::path::PathBuf;

use recon::Result;

use super::{EXIT_EQUAL, EXIT_ERROR};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Rule files [default: every *.toml in --dir].
    pub rules: Vec<PathBuf>,
    /// Where to find rule files when none is named.
    #[arg(long, default_value = "rules")]
    pub dir: PathBuf,
}

pub fn run(args: Args) -> Result<u8> {
    let files = recon::rules::discover(&args.rules, &args.dir)?;
    let mut invalid = 0;
    for path in &files {
        match recon::rules::load(path) {
            Ok(loaded) => println!("ok: {} ({})", path.display(), loaded.name()),
            Err(e) => {
                invalid += 1;
                eprintln!("recon: error: {}", recon::error::one_line(e));
            }
        }
    }
    Ok(if invalid == 0 { EXIT_EQUAL } else { EXIT_ERROR })
}
