//! Live sources: a replica compared while it replicates shows differences
//! that vanish a moment later. `--ignore-younger COL=DURATION` leaves out
//! the differences whose row, on either side, has a timestamp within
//! DURATION of the run's start; `--recheck N --recheck-delay D` reads the
//! differing keys again from both sides after D, up to N times. A
//! difference gone on a later read is transient: counted and listed apart,
//! it fails the gate only when the rule file says so. Only the keys of the
//! first read are judged: a key that differs only in a later read (a write
//! that came after) is not news of this run.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use super::Spec;
use super::Status;
use crate::error::{Error, Result, Side};
use crate::report::{DiffRecord, Report, Transient, Verdict};
use crate::source::Source;
use crate::source::db::ValueKind;

/// Keys read again at most; beyond them differences stay as first read.
pub const MAX_RECHECKED: usize = 100_000;

/// What `--recheck` and `--ignore-younger` ask.
#[derive(Debug, Clone, Default)]
pub struct Settle {
    pub times: u32,
    pub delay: std::time::Duration,
    /// Columns (left names) and how young a row may be before it is left out.
    pub ignore_younger: Vec<(String, std::time::Duration)>,
    /// The run's start, which ages are measured from.
    pub started: chrono::DateTime<chrono::Utc>,
    /// Transient differences fail (the rule file's `[gate] transient = "fail"`).
    pub transient_fails: bool,
}

/// Opens a side afresh; the text is a query over a database table (the
/// differing keys only) or `None` for the source as given.
pub type Reopen<'a> = dyn Fn(Side, Option<String>) -> Result<Arc<dyn Source>> + 'a;

/// A key as the report writes it, for sets.
fn key_text(d: &DiffRecord) -> String {
    Value::Object(d.key.clone()).to_string()
}

/// Leaves out young rows, then reads the rest again as asked; the report's
/// differences, counts and verdict then describe what lasted.
pub fn settle(
    report: &mut Report,
    spec: &Spec,
    settle: &Settle,
    sources: [&dyn Source; 2],
    reopen: &Reopen<'_>,
) -> Result<()> {
    let masked = |k: &String| {
        spec.mask
            .iter()
            .any(|m| m == k || m == spec.selection.right_name(k))
    };
    if settle.times > 0 && spec.selection.key.iter().any(masked) {
        return Err(Error::Usage(
            "--recheck reads the differing keys again by their values, and a masked key \
             column hides them: leave the key unmasked, or drop --recheck"
                .into(),
        ));
    }
    // An age is read from a compared column or a key: another column's
    // values are not in the report, and the limit would silently do nothing.
    for (column, _) in &settle.ignore_younger {
        let compared =
            report.key.iter().any(|k| k == column)
                || report.schema.compared_columns.iter().any(|c| {
                    c == column || c.split_once('→').is_some_and(|(left, _)| left == column)
                });
        if !compared {
            return Err(Error::Usage(format!(
                "--ignore-younger {column}: the column is not compared (excluded, or not on \
                 both sides), so its times are not read"
            )));
        }
    }
    // Columns on one side only make the sources differ whatever rows last.
    let schema_differs =
        !report.schema.left_only.is_empty() || !report.schema.right_only.is_empty();
    let mut transient = Transient {
        rechecks: 0,
        delay_seconds: settle.delay.as_secs_f64(),
        fail: settle.transient_fails,
        ..Transient::default()
    };
    let young = |d: &DiffRecord| is_young(d, spec, settle);
    let mut lasting: Vec<DiffRecord> = Vec::with_capacity(report.diffs.len());
    for d in std::mem::take(&mut report.diffs) {
        if young(&d) {
            transient.young += 1;
        } else {
            lasting.push(d);
        }
    }
    let (mut checked, rest) = if lasting.len() > MAX_RECHECKED {
        let rest = lasting.split_off(MAX_RECHECKED);
        (lasting, rest)
    } else {
        (lasting, Vec::new())
    };
    if settle.times > 0 {
        transient.not_rechecked = rest.len() as u64;
    }
    for _ in 0..settle.times {
        if checked.is_empty() {
            break;
        }
        std::thread::sleep(settle.delay);
        transient.rechecks += 1;
        let keys: BTreeSet<String> = checked.iter().map(key_text).collect();
        let filter = |side: Side| key_filter(sources[side as usize], spec, side, &checked);
        let left = reopen(Side::Left, filter(Side::Left))?;
        let right = reopen(Side::Right, filter(Side::Right))?;
        let mut again = spec.clone();
        again.max_diffs = None;
        again.progress = false;
        again.state = None;
        let later = super::diff(left.as_ref(), right.as_ref(), &again)?.report;
        let now: BTreeMap<String, DiffRecord> = later
            .diffs
            .into_iter()
            .filter(|d| !young(d))
            .map(|d| (key_text(&d), d))
            .filter(|(k, _)| keys.contains(k))
            .collect();
        let mut still = Vec::with_capacity(now.len());
        for d in checked {
            match now.get(&key_text(&d)) {
                // As last read: the values a repair or a reader should see.
                Some(latest) => still.push(latest.clone()),
                None => transient.keys.push(d),
            }
        }
        checked = still;
    }
    checked.extend(rest);
    let count = |s: Status| checked.iter().filter(|d| d.status == s).count() as u64;
    let gone = transient.keys.len() as u64 + transient.young;
    let s = &mut report.summary;
    s.only_left = count(Status::OnlyLeft);
    s.only_right = count(Status::OnlyRight);
    s.changed = count(Status::Changed);
    s.unchanged += transient.keys.len() as u64;
    // Mismatches per column, of the differences that lasted.
    for column in &mut report.columns {
        column.mismatches = checked
            .iter()
            .filter(|d| d.status == Status::Changed)
            .filter(|d| d.columns.contains(&column.name))
            .count() as u64;
    }
    report.columns.retain(|c| c.mismatches > 0);
    let different = s.differences() + s.duplicate_keys + s.null_keys > 0
        || schema_differs
        || (transient.fail && gone > 0);
    report.verdict = if different {
        Verdict::Different
    } else {
        Verdict::Equal
    };
    if s.differences() == 0 {
        report.ranges.clear();
    }
    if let Some(max) = spec.max_diffs
        && checked.len() > max
    {
        checked.truncate(max);
        report.diffs_truncated = true;
    } else {
        report.diffs_truncated = false;
    }
    report.diffs = checked;
    report.transient = Some(transient);
    Ok(())
}

/// A difference whose row, on either side, holds a time within the
/// `--ignore-younger` limit of the run's start (or later).
fn is_young(d: &DiffRecord, spec: &Spec, settle: &Settle) -> bool {
    settle.ignore_younger.iter().any(|(column, age)| {
        let limit = settle.started - chrono::Duration::from_std(*age).unwrap_or_default();
        let right = spec.selection.right_name(column);
        [(&d.left, column.as_str()), (&d.right, right)]
            .into_iter()
            .filter_map(|(row, name)| row.as_ref()?.get(name))
            // A key column holds one value for both sides.
            .chain(d.key.get(column.as_str()))
            .filter_map(instant)
            .any(|t| t >= limit)
    })
}

/// A report's rendering of a date or timestamp as an instant (UTC when it
/// names no zone: recon reads databases in UTC sessions).
fn instant(value: &Value) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = value.as_str()?;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&chrono::Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Some(t.and_utc());
        }
    }
    chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
}

/// For a database table (or query) side whose key columns are integers or
/// text: a query reading only the rows of the differing keys. `None`
/// otherwise: the side is read again whole (the comparison then still
/// judges only these keys).
fn key_filter(
    source: &dyn Source,
    spec: &Spec,
    side: Side,
    diffs: &[DiffRecord],
) -> Option<String> {
    let db = source.as_database()?;
    let dialect = db.dialect();
    // Literals are exact only where the engine types its columns and the
    // text is stored as UTF-8 (SQLite's typeless columns would not match an
    // integer with '42'; it is read in-process anyway).
    if db.engine() == crate::source::url::Engine::Sqlite || !dialect.utf8 {
        return None;
    }
    let names: Vec<&str> = spec
        .selection
        .key
        .iter()
        .map(|k| match side {
            Side::Left => k.as_str(),
            Side::Right => spec.selection.right_name(k),
        })
        .collect();
    let kinds: Vec<ValueKind> = names
        .iter()
        .map(|n| db.column(n).map(|c| c.kind))
        .collect::<Option<_>>()?;
    let literal = |kind: ValueKind, value: &Value| -> Option<String> {
        match (kind, value) {
            (ValueKind::Int, Value::Number(n)) if n.is_i64() || n.is_u64() => Some(n.to_string()),
            (ValueKind::Text, Value::String(s)) => Some(dialect.string(s)),
            _ => None,
        }
    };
    let tuple = |key: &Map<String, Value>| -> Option<String> {
        let parts: Vec<String> = key
            .values()
            .zip(&kinds)
            .map(|(v, &k)| literal(k, v))
            .collect::<Option<_>>()?;
        (parts.len() == kinds.len()).then(|| format!("({})", parts.join(", ")))
    };
    let tuples: Vec<String> = diffs.iter().map(|d| tuple(&d.key)).collect::<Option<_>>()?;
    let columns: Vec<String> = names.iter().map(|n| dialect.quote(n)).collect();
    Some(format!(
        "SELECT * FROM {} WHERE ({}) IN ({})",
        db.relation(),
        columns.join(", "),
        tuples.join(", ")
    ))
}

/// `COL=DURATION` pairs of `--ignore-younger`.
pub fn parse_ignore_younger(pairs: &[String]) -> Result<Vec<(String, std::time::Duration)>> {
    pairs
        .iter()
        .map(|pair| {
            let (column, age) = pair.split_once('=').ok_or_else(|| {
                Error::Usage(format!(
                    "--ignore-younger {pair}: expected COLUMN=DURATION (e.g. updated_at=5m)"
                ))
            })?;
            let age = crate::canon::Duration::parse(age.trim())
                .map_err(|why| Error::Usage(format!("--ignore-younger {column}={why}")))?;
            Ok((column.trim().to_string(), age.to_std()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_times_are_instants() {
        let t = |s: &str| instant(&Value::from(s)).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2024-01-02T03:04:05"),
            Some("2024-01-02T03:04:05+00:00".into())
        );
        assert_eq!(
            t("2024-01-02 03:04:05.5"),
            Some("2024-01-02T03:04:05.500+00:00".into())
        );
        assert_eq!(
            t("2024-01-02T03:04:05+02:00"),
            Some("2024-01-02T01:04:05+00:00".into())
        );
        assert_eq!(t("2024-01-02"), Some("2024-01-02T00:00:00+00:00".into()));
        assert_eq!(t("soon"), None);
        assert_eq!(instant(&Value::from(5)), None);
    }
}
