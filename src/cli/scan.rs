//! `recon scan`: read every column of one or more sources, as a comparison
//! would, and count the rows. It checks that recon can read a source, and it
//! is the reading floor of the benchmarks: what any tool that must look at
//! every value pays before it compares anything.

use std::io::Write;
use std::time::Instant;

use recon::source::{self, OpenOptions};
use recon::{Error, Result, Side};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Sources to read (same forms as for `diff`); all are read at once.
    #[arg(required = true)]
    pub sources: Vec<String>,
    /// SQL over each source (registered as table `t`).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// CSV field delimiter (one character; `\t` for tab).
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// CSV files have no header line.
    #[arg(long)]
    pub no_header: bool,
}

pub fn run(args: Args) -> Result<u8> {
    let threads = super::thread_count(args.threads)?;
    let runtime = super::runtime(threads)?;
    let options = OpenOptions {
        threads,
        delimiter: super::parse_delimiter(&args.delimiter)?,
        has_header: !args.no_header,
        decode_once: false,
        ..OpenOptions::default()
    };
    let started = Instant::now();
    let sources = args
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let side = if i == 0 { Side::Left } else { Side::Right };
            source::open(s, args.query.as_deref(), side, &options, runtime.handle())
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&dyn source::Source> = sources.iter().map(|s| s.as_ref()).collect();
    let counts = source::read_all(&refs, threads)?;
    let seconds = started.elapsed().as_secs_f64();
    let mut out = std::io::stdout().lock();
    let write = |out: &mut std::io::StdoutLock, line: String| {
        writeln!(out, "{line}").map_err(|e| Error::Output {
            path: "standard output".into(),
            message: e.to_string(),
        })
    };
    for (source, rows) in sources.iter().zip(&counts) {
        let columns = source.schema().fields().len();
        write(
            &mut out,
            format!("{}: {rows} rows, {columns} columns", source.describe()),
        )?;
    }
    write(&mut out, format!("read in {seconds:.3} s"))?;
    drop(sources);
    Ok(super::EXIT_EQUAL)
}
