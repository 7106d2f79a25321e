//! The one error type of the library. Every variant renders as a single line
//! that names the cause, because the CLI prints it as the whole of stderr.

use std::fmt;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop a comparison. Data differences are not errors;
/// they are the report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line arguments or option values.
    #[error("{0}")]
    Usage(String),

    /// A source could not be opened or read (missing file, unreadable glob).
    #[error("{side} source {source_name}: {message}")]
    Source {
        side: Side,
        source_name: String,
        message: String,
    },

    /// A column named by the user does not exist, or cannot be compared.
    #[error("{0}")]
    Schema(String),

    /// The key columns cannot be used (unknown, or types that do not compare).
    #[error("key: {0}")]
    Key(String),

    /// Reading or decoding data failed part way (corrupt Parquet, malformed CSV).
    #[error("{side} source {source_name}: {message}")]
    Read {
        side: Side,
        source_name: String,
        message: String,
    },

    /// A rule file cannot be read, or says something recon cannot accept.
    #[error("{path}{}: {message}", .line.map(|l| format!(":{l}")).unwrap_or_default())]
    Rules {
        path: String,
        line: Option<usize>,
        message: String,
    },

    /// Writing an output file failed.
    #[error("cannot write {path}: {message}")]
    Output { path: String, message: String },

    /// A snapshot or a state directory cannot be used (damaged, another
    /// version, or taken under another plan).
    #[error("{path}: {message}")]
    Snapshot { path: String, message: String },

    /// The run history store cannot be opened, read or written.
    #[error("history {store}: {message}")]
    History { store: String, message: String },

    /// The cluster (`--cluster`) could not be reached or did not finish the work.
    #[error("cluster {url}: {message}")]
    Cluster { url: String, message: String },

    /// A source gave different rows when read a second time.
    #[error("{0}")]
    Unstable(String),

    /// Data that could not be decoded or converted: malformed CSV, JSON,
    /// Parquet or Arrow IPC, a value that does not parse or fit its type,
    /// an arithmetic overflow on a value. The input's fault, not recon's.
    #[error("bad input data: {}", one_line(.0))]
    Data(#[source] arrow::error::ArrowError),

    /// Arrow failed where recon passed it something it should not have.
    #[error("internal error: {}", one_line(.0))]
    Arrow(#[source] arrow::error::ArrowError),

    /// An internal invariant failed; reported, never panicked on.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Which input a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Left,
    Right,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Left, Side::Right];

    /// The side across.
    pub fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Side::Left => "left",
            Side::Right => "right",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Turns a multi-line library message (DataFusion and arrow errors can nest
/// several causes) into one line.
pub fn one_line(message: impl fmt::Display) -> String {
    let text = message.to_string();
    let mut out = String::with_capacity(text.len());
    for part in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(part);
    }
    out
}

impl From<arrow::error::ArrowError> for Error {
    /// Classified by cause: errors about the data itself are bad input
    /// (`Error::Data`); the rest are recon's own (`Error::Arrow`).
    fn from(e: arrow::error::ArrowError) -> Self {
        use arrow::error::ArrowError as A;
        match e {
            A::CastError(_)
            | A::ParseError(_)
            | A::CsvError(_)
            | A::JsonError(_)
            | A::AvroError(_)
            | A::IpcError(_)
            | A::ParquetError(_)
            | A::IoError(..)
            | A::ArithmeticOverflow(_)
            | A::DivideByZero
            | A::NotYetImplemented(_)
            | A::ExternalError(_) => Error::Data(e),
            _ => Error::Arrow(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::error::ArrowError;

    #[test]
    fn arrow_errors_are_classified_and_keep_their_cause() {
        let bad = Error::from(ArrowError::CsvError("line 3: 2 fields, expected 3".into()));
        assert!(matches!(bad, Error::Data(_)), "{bad:?}");
        assert_eq!(
            bad.to_string(),
            "bad input data: Csv error: line 3: 2 fields, expected 3"
        );
        assert!(std::error::Error::source(&bad).is_some());
        let ours = Error::from(ArrowError::InvalidArgumentError("columns differ".into()));
        assert!(ours.to_string().starts_with("internal error: "), "{ours}");
        assert!(matches!(ours, Error::Arrow(_)));
    }
}
