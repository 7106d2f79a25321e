//! The local file system as DataFusion reads it, with one guard: a file
//! that shrinks while it is read (truncated, rewritten by an export still
//! running) is an error naming it. `object_store`'s local reader and
//! DataFusion's CSV range reader both loop for ever when a ranged read
//! returns fewer bytes than the file had when it was listed (DataFusion
//! 55.2, object_store 0.13); here a ranged read that comes up short fails.

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, GetResultPayload, ListResult, MultipartUpload, ObjectMeta,
    ObjectStore, PutMultipartOptions, PutOptions, PutPayload, PutResult,
};

/// Bytes read per step.
const CHUNK: u64 = 256 * 1024;

/// [`LocalFileSystem`], with reads that fail when the file shrank.
#[derive(Debug, Default)]
pub struct GuardedLocal {
    inner: LocalFileSystem,
}

impl GuardedLocal {
    pub fn new() -> Arc<GuardedLocal> {
        Arc::new(GuardedLocal::default())
    }
}

impl fmt::Display for GuardedLocal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GuardedLocal({})", self.inner)
    }
}

fn shrank(path: &std::path::Path, at: u64) -> object_store::Error {
    object_store::Error::Generic {
        store: "local",
        source: format!(
            "{} ended at byte {at}, before its listed size: the file changed while it was read",
            path.display()
        )
        .into(),
    }
}

fn io_error(e: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: "local",
        source: Box::new(e),
    }
}

/// `range` of `file` in chunks; fewer bytes than asked is an error.
fn strict_stream(
    file: std::fs::File,
    path: std::path::PathBuf,
    range: Range<u64>,
) -> BoxStream<'static, object_store::Result<Bytes>> {
    futures::stream::try_unfold(
        (file, path, range.start, range.end, false),
        |(mut file, path, at, end, positioned)| async move {
            if at >= end {
                return Ok(None);
            }
            let (bytes, file, path) = tokio::task::spawn_blocking(move || {
                if !positioned {
                    file.seek(SeekFrom::Start(at)).map_err(io_error)?;
                }
                let want = (end - at).min(CHUNK);
                let mut buffer = Vec::with_capacity(want as usize);
                (&mut file)
                    .take(want)
                    .read_to_end(&mut buffer)
                    .map_err(io_error)?;
                if (buffer.len() as u64) < want {
                    return Err(shrank(&path, at + buffer.len() as u64));
                }
                Ok((Bytes::from(buffer), file, path))
            })
            .await
            .map_err(|e| io_error(std::io::Error::other(e)))??;
            let next = at + bytes.len() as u64;
            Ok(Some((bytes, (file, path, next, end, true))))
        },
    )
    .boxed()
}

#[async_trait]
impl ObjectStore for GuardedLocal {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        // A whole-file read hands the file itself to a reader, which stops
        // at its end; a ranged read counts bytes, and is the one guarded.
        let ranged = options.range.is_some();
        let result = self.inner.get_opts(location, options).await?;
        match result.payload {
            GetResultPayload::File(file, path) if ranged => Ok(GetResult {
                payload: GetResultPayload::Stream(strict_stream(file, path, result.range.clone())),
                ..result
            }),
            _ => Ok(result),
        }
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}
