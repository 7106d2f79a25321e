//! `recon snapshot SOURCE --key K -o FILE`: write a source's Merkle leaves
//! (digests and leaf bounds, no other values) to a snapshot file that
//! `recon diff` takes as a side.

use std::io::Write;

use recon::report::OutputFile;
use recon::snapshot::Snapshot;
use recon::source::{self, OpenOptions};
use recon::{Error, Result, Side, Spec};

use super::EXIT_EQUAL;

/// The one source `snapshot` and `extract` read.
#[derive(Debug, clap::Args)]
pub struct SourceArgs {
    /// The source: a file, directory or glob, or a database URL (as for `recon diff`).
    pub source: String,
    /// SQL over the source (a file is table `t`).
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,
    /// CSV field delimiter.
    #[arg(long, default_value = ",")]
    pub delimiter: String,
    /// CSV files have no header line.
    #[arg(long)]
    pub no_header: bool,
    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

/// An opened source, with the runtime it reads on.
struct Opened {
    source: std::sync::Arc<dyn source::Source>,
    runtime: tokio::runtime::Runtime,
    threads: usize,
}

impl SourceArgs {
    fn open(&self) -> Result<Opened> {
        let threads = super::thread_count(self.threads)?;
        let runtime = super::runtime(threads)?;
        let options = OpenOptions {
            threads,
            delimiter: super::parse_delimiter(&self.delimiter)?,
            has_header: !self.no_header,
            ..OpenOptions::default()
        };
        let source = source::open(
            &self.source,
            self.query.as_deref(),
            Side::Left,
            &options,
            runtime.handle(),
        )?;
        Ok(Opened {
            source,
            runtime,
            threads,
        })
    }
}

/// Prints one line on standard output.
fn say(line: &str) -> Result<()> {
    writeln!(std::io::stdout().lock(), "{line}").map_err(|e| Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    })
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: SourceArgs,
    /// Key column(s), comma-separated.
    #[arg(short, long, value_delimiter = ',', required_unless_present = "rules")]
    pub key: Vec<String>,
    /// Hash only these columns (besides the key), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub columns: Vec<String>,
    /// Leave these columns out, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Take the key, columns and comparison rules from a rule file (its
    /// left side's names); flags add to it.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<std::path::PathBuf>,
    /// Target rows per leaf.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub leaf_rows: usize,
    /// Cut the leaves as this snapshot does and hash under its digest key,
    /// so that the two snapshots compare with each other.
    #[arg(long, value_name = "SNAPSHOT")]
    pub like: Option<String>,
    /// Cut the leaves by the keys' keyed hashes, so that the snapshot holds
    /// no key value at all (for a party that may not see the keys either);
    /// ranges are then named by hash.
    #[arg(long, conflicts_with = "like")]
    pub hash_keys: bool,
    /// The snapshot file to write.
    #[arg(short, long, value_name = "FILE")]
    pub output: String,
}

pub fn run(args: Args) -> Result<u8> {
    if args.leaf_rows == 0 {
        return Err(Error::Usage("--leaf-rows must be at least 1".into()));
    }
    // A bad output path fails before the work.
    drop(OutputFile::create(&args.output)?);
    let like = args.like.as_deref().map(Snapshot::read).transpose()?;
    let Opened {
        source,
        runtime,
        threads,
    } = args.input.open()?;
    let file = args.rules.as_deref().map(recon::rules::load).transpose()?;
    let mut spec = file.as_ref().map_or_else(
        || Spec {
            threads,
            ..Spec::default()
        },
        |f| f.rules.spec(threads),
    );
    if !args.key.is_empty() {
        spec.selection.key = args.key.clone();
    }
    if spec.selection.key.is_empty() {
        return Err(Error::Usage(
            "--key is needed: the rule file names no key".into(),
        ));
    }
    spec.selection.columns.extend(args.columns.iter().cloned());
    spec.selection.exclude.extend(args.exclude.iter().cloned());
    spec.leaf_rows = args.leaf_rows;
    let snapshot =
        recon::compare::take_snapshot(source.as_ref(), &spec, like.as_ref(), args.hash_keys)?;
    snapshot.write(&args.output)?;
    let bytes = std::fs::metadata(&args.output).map_or(0, |m| m.len());
    say(&format!(
        "{}: {} rows in {} leaves, plan {}, {bytes} bytes",
        args.output, snapshot.meta.rows, snapshot.meta.leaves, snapshot.meta.fingerprint
    ))?;
    drop((source, runtime));
    Ok(EXIT_EQUAL)
}

#[derive(Debug, clap::Args)]
pub struct ExtractArgs {
    #[command(flatten)]
    pub input: SourceArgs,
    /// The divergent ranges, as written by `recon diff SNAPSHOT OTHER --ranges-out FILE`.
    #[arg(long, value_name = "FILE")]
    pub ranges: String,
    /// Key column(s) [default: the ranges file's].
    #[arg(short, long, value_delimiter = ',')]
    pub key: Vec<String>,
    /// The Parquet file to write the rows to.
    #[arg(short, long, value_name = "FILE")]
    pub output: String,
}

pub fn extract(args: ExtractArgs) -> Result<u8> {
    drop(OutputFile::create(&args.output)?);
    let key = match args.key.is_empty() {
        true => recon::compare::ranges_key(&args.ranges)?,
        false => args.key.clone(),
    };
    let Opened {
        source,
        runtime,
        threads,
    } = args.input.open()?;
    let rows = source::in_pool(threads, || {
        recon::compare::extract(source.as_ref(), &key, &args.ranges, &args.output)
    })?;
    say(&format!("{}: {rows} rows", args.output))?;
    drop((source, runtime));
    Ok(EXIT_EQUAL)
}
