//! Output files that appear whole or not at all (reports, differences files,
//! backups, snapshots, state): written to a temporary
//! file beside the final name and renamed over it once complete, so a full
//! disk, a failed comparison or a killed run never leaves a half-written
//! report, differences file or backup under the name a pipeline reads.
//! A path that is not a regular file (`/dev/stdout`, a FIFO, `/dev/full`)
//! is written directly.

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

enum Target {
    Staged(tempfile::NamedTempFile),
    Direct(File),
}

/// A file being written; [`OutputFile::commit`] makes it appear.
pub struct OutputFile {
    path: String,
    target: Target,
}

impl OutputFile {
    /// Opens the output now, so a bad path fails before any work; creates
    /// missing parent directories.
    pub fn create(path: &str) -> Result<OutputFile> {
        let fail = |e: std::io::Error| output_error(path, &e);
        let final_path = Path::new(path);
        let special = std::fs::metadata(final_path).is_ok_and(|m| !m.is_file() && !m.is_dir());
        let target = if special {
            Target::Direct(File::create(final_path).map_err(fail)?)
        } else {
            let dir = final_path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::create_dir_all(dir).map_err(fail)?;
            let name = final_path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let prefix = format!(".{name}.");
            let mut builder = tempfile::Builder::new();
            builder.prefix(&prefix).suffix(".recon-partial");
            // The mode `File::create` would give (0666 less the umask), not
            // the temporary file's private 0600: a report is made to be read.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                builder.permissions(std::fs::Permissions::from_mode(0o666));
            }
            let staged = builder.tempfile_in(dir).map_err(fail)?;
            Target::Staged(staged)
        };
        Ok(OutputFile {
            path: path.to_string(),
            target,
        })
    }

    /// The final name.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Where the bytes are being written until the commit (to read them
    /// back and check them first).
    pub fn written_path(&self) -> &Path {
        match &self.target {
            Target::Staged(t) => t.path(),
            Target::Direct(_) => Path::new(&self.path),
        }
    }

    /// The open file, for writers that take ownership of a `File`-like sink.
    pub fn file(&mut self) -> &mut File {
        match &mut self.target {
            Target::Staged(t) => t.as_file_mut(),
            Target::Direct(f) => f,
        }
    }

    /// Flushes the data to disk and gives the file its final name.
    pub fn commit(self) -> Result<()> {
        let path = self.path;
        let fail = |e: std::io::Error| output_error(&path, &e);
        match self.target {
            Target::Staged(mut t) => {
                t.flush().map_err(fail)?;
                t.as_file().sync_all().map_err(fail)?;
                t.persist(&path).map_err(|e| fail(e.error))?;
            }
            Target::Direct(mut f) => f.flush().map_err(fail)?,
        }
        Ok(())
    }

    /// Writes `bytes` as the whole file and commits it.
    pub fn write_all_and_commit(path: &str, bytes: &[u8]) -> Result<()> {
        let mut out = OutputFile::create(path)?;
        out.write_all(bytes).map_err(|e| output_error(path, &e))?;
        out.commit()
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file().write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file().flush()
    }
}

fn output_error(path: &str, e: &std::io::Error) -> Error {
    Error::Output {
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// Writes `batches` (of `schema`) as one Parquet file at `path`, whole or
/// not at all; returns the rows written.
pub fn write_parquet(
    path: &str,
    schema: arrow::datatypes::SchemaRef,
    batches: impl IntoIterator<Item = Result<arrow::record_batch::RecordBatch>>,
    properties: Option<parquet::file::properties::WriterProperties>,
) -> Result<u64> {
    let mut out = OutputFile::create(path)?;
    let fail = |message: String| Error::Output {
        path: path.to_string(),
        message,
    };
    let file = out.file().try_clone().map_err(|e| fail(e.to_string()))?;
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, properties)
        .map_err(|e| fail(crate::error::one_line(e)))?;
    let mut rows = 0u64;
    for batch in batches {
        let batch = batch?;
        rows += batch.num_rows() as u64;
        writer
            .write(&batch)
            .map_err(|e| fail(crate::error::one_line(e)))?;
    }
    writer
        .close()
        .map_err(|e| fail(crate::error::one_line(e)))?;
    out.commit()?;
    Ok(rows)
}
