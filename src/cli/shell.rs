//! `recon completions SHELL` and `recon man [COMMAND]`: shell completion
//! scripts and manual pages, generated from the same clap definitions the
//! parser uses, so they never drift from the flags.

use std::io::Write;

use clap::CommandFactory;
use recon::{Error, Result};

use super::{Cli, EXIT_EQUAL};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// A subcommand whose page to write [default: the page of recon itself].
    pub command: Option<String>,
}

fn stdout_error(e: std::io::Error) -> Error {
    Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    }
}

pub fn completions(args: CompletionsArgs) -> Result<u8> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut command, "recon", &mut out);
    out.flush().map_err(stdout_error)?;
    Ok(EXIT_EQUAL)
}

pub fn man(args: ManArgs) -> Result<u8> {
    let command = Cli::command().version(env!("CARGO_PKG_VERSION"));
    let page = match &args.command {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                return Err(Error::Usage(format!(
                    "recon has no command {name:?} (commands: {})",
                    names.join(", ")
                )));
            };
            // The page is named `recon-diff` and so on, as git's are.
            sub.clone()
                .display_name(format!("recon-{name}"))
                .bin_name(format!("recon {name}"))
                .version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(stdout_error)?;
    out.flush().map_err(stdout_error)?;
    Ok(EXIT_EQUAL)
}
