//! The terminal view: summary, schema notes, divergent ranges, columns with
//! mismatches, and sample differences with left and right side by side.

use std::io::Write;

use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};

use super::values::{ABSENT, short};
use super::{PushdownMethod, Report, Strategy, Verdict};
use crate::error::{Error, Result};

/// Sample rows shown in tables.
pub const TABLE_SAMPLE: usize = 20;

pub(super) fn new_table(preset: &str) -> Table {
    let mut t = Table::new();
    t.load_preset(preset)
        .set_content_arrangement(ContentArrangement::Dynamic);
    t
}

pub(super) fn right(text: impl ToString) -> Cell {
    Cell::new(text.to_string()).set_alignment(CellAlignment::Right)
}

/// Groups digits by thousands.
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Longest cell text before it is cut with an ellipsis.
const CELL_CHARS: usize = 60;

fn clip(text: &str) -> String {
    clip_to(text, CELL_CHARS)
}

/// `text` cut to at most `chars` characters, the last an ellipsis when cut.
pub(super) fn clip_to(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The sections shared by the table and Markdown views, as (title, table) pairs.
pub(super) fn sections(report: &Report, preset: &str, sample: usize) -> Vec<(String, Table)> {
    // Markdown tables end a cell at `|`: escape it in anything taken from the data.
    let markdown = preset == comfy_table::presets::ASCII_MARKDOWN;
    let esc = |text: &str| {
        if markdown {
            text.replace('|', "\\|")
        } else {
            text.to_string()
        }
    };
    let s = &report.summary;
    let mut out = Vec::new();

    let mut summary = new_table(preset);
    summary.set_header(vec!["", "left", "right"]);
    let (l, r) = (&report.left, &report.right);
    let mut per_side = |label: &str, left: u64, right: u64| {
        summary.add_row(vec![
            Cell::new(label),
            self::right(thousands(left)),
            self::right(thousands(right)),
        ]);
    };
    per_side("rows", s.left_rows, s.right_rows);
    per_side("only on this side", s.only_left, s.only_right);
    // A changed or unchanged key has one row on each side.
    per_side("changed", s.changed, s.changed);
    per_side("unchanged", s.unchanged, s.unchanged);
    if s.duplicate_keys > 0 {
        per_side("duplicated keys", l.duplicate_keys, r.duplicate_keys);
    }
    if s.null_keys > 0 {
        per_side("rows with a NULL key", l.null_keys, r.null_keys);
    }
    out.push(("Summary".to_string(), summary));

    let schema = &report.schema;
    if !schema.left_only.is_empty()
        || !schema.right_only.is_empty()
        || !schema.type_differences.is_empty()
    {
        let mut t = new_table(preset);
        t.set_header(vec!["column", "left", "right", "compared as"]);
        for c in &schema.left_only {
            t.add_row(vec![
                esc(&c.name),
                c.data_type.clone(),
                "(missing)".into(),
                "not compared".into(),
            ]);
        }
        for c in &schema.right_only {
            t.add_row(vec![
                esc(&c.name),
                "(missing)".into(),
                c.data_type.clone(),
                "not compared".into(),
            ]);
        }
        for c in &schema.type_differences {
            t.add_row(vec![
                esc(&c.name),
                c.left.clone(),
                c.right.clone(),
                c.compared_as.clone(),
            ]);
        }
        out.push(("Schema differences".to_string(), t));
    }
    if !schema.notes.is_empty() {
        let mut t = new_table(preset);
        t.set_header(vec!["note"]);
        for n in &schema.notes {
            t.add_row(vec![esc(n)]);
        }
        out.push(("Notes".to_string(), t));
    }
    if let Some(tr) = &report.transient {
        let mut t = new_table(preset);
        t.set_header(vec!["transient differences", "count"]);
        let shown: Vec<String> = tr
            .keys
            .iter()
            .take(sample)
            .map(|d| serde_json::Value::Object(d.key.clone()).to_string())
            .collect();
        t.add_row(vec![
            format!(
                "gone when read again ({} rechecks, {:.1} s apart){}",
                tr.rechecks,
                tr.delay_seconds,
                if shown.is_empty() {
                    String::new()
                } else {
                    format!(": {}", esc(&shown.join(", ")))
                }
            ),
            thousands(tr.keys.len() as u64),
        ]);
        t.add_row(vec![
            "left out: a side's row too young".to_string(),
            thousands(tr.young),
        ]);
        if tr.not_rechecked > 0 {
            t.add_row(vec![
                "not read again (over the limit), kept as differences".to_string(),
                thousands(tr.not_rechecked),
            ]);
        }
        out.push(("Transient".to_string(), t));
    }

    if !report.ranges.is_empty() {
        let mut t = new_table(preset);
        t.set_header(vec![
            "from (incl.)",
            "to (excl.)",
            "left rows",
            "right rows",
            "differences",
        ]);
        let bound = |b: &Option<serde_json::Map<String, serde_json::Value>>| match b {
            None => "…".to_string(),
            Some(m) => esc(&m.values().map(short).collect::<Vec<_>>().join(", ")),
        };
        for r in report.ranges.iter().take(sample) {
            t.add_row(vec![
                Cell::new(bound(&r.from)),
                Cell::new(bound(&r.to)),
                right(thousands(r.left_rows)),
                right(thousands(r.right_rows)),
                right(thousands(r.differences)),
            ]);
        }
        let more = report.ranges.len().saturating_sub(sample);
        let title = if more > 0 {
            format!(
                "Divergent key ranges (first {sample} of {})",
                report.ranges.len()
            )
        } else {
            "Divergent key ranges".to_string()
        };
        out.push((title, t));
    }

    if !report.columns.is_empty() {
        let mut t = new_table(preset);
        t.set_header(vec!["column", "mismatches"]);
        for c in &report.columns {
            t.add_row(vec![
                Cell::new(esc(&c.name)),
                right(thousands(c.mismatches)),
            ]);
        }
        out.push(("Columns with differences".to_string(), t));
    }

    if !report.diffs.is_empty() {
        let mut t = new_table(preset);
        t.set_header(vec!["status", "key", "column", "left", "right"]);
        for d in report.diffs.iter().take(sample) {
            let key = esc(&d.key.values().map(short).collect::<Vec<_>>().join(", "));
            let whole = |row: &Option<serde_json::Map<String, serde_json::Value>>| {
                row.as_ref().map_or(ABSENT.to_string(), |m| {
                    esc(&clip(
                        &m.iter()
                            .map(|(k, v)| format!("{k}={}", short(v)))
                            .collect::<Vec<_>>()
                            .join(" "),
                    ))
                })
            };
            if d.columns.is_empty() {
                t.add_row(vec![
                    d.status.as_str().to_string(),
                    key,
                    "(row)".into(),
                    whole(&d.left),
                    whole(&d.right),
                ]);
                continue;
            }
            for (i, c) in d.columns.iter().enumerate() {
                let (left_name, right_name) = c.split_once('→').unwrap_or((c, c));
                let pick = |row: &Option<serde_json::Map<String, serde_json::Value>>,
                            name: &str| {
                    row.as_ref()
                        .and_then(|m| m.get(name))
                        .map_or(ABSENT.to_string(), short)
                };
                let (status, k) = if i == 0 {
                    (d.status.as_str().to_string(), key.clone())
                } else {
                    (String::new(), String::new())
                };
                t.add_row(vec![
                    status,
                    k,
                    esc(c),
                    esc(&clip(&pick(&d.left, left_name))),
                    esc(&clip(&pick(&d.right, right_name))),
                ]);
            }
        }
        let total = s.differences() as usize;
        let title = if total > sample.min(report.diffs.len()) {
            format!(
                "Differences (first {} of {})",
                sample.min(report.diffs.len()),
                thousands(total as u64)
            )
        } else {
            "Differences".to_string()
        };
        out.push((title, t));
    }

    if !report.duplicates.is_empty() {
        let mut t = new_table(preset);
        t.set_header(vec!["key", "left rows", "right rows"]);
        for d in report.duplicates.iter().take(sample) {
            let key = esc(&d.key.values().map(short).collect::<Vec<_>>().join(", "));
            t.add_row(vec![
                Cell::new(key),
                right(d.left_count),
                right(d.right_count),
            ]);
        }
        out.push((
            format!("Duplicate keys ({})", thousands(s.duplicate_keys)),
            t,
        ));
    }
    if !report.null_key_samples.is_empty() {
        let mut t = new_table(preset);
        t.set_header(vec!["side", "row"]);
        for n in report.null_key_samples.iter().take(sample) {
            let row = n
                .row
                .iter()
                .map(|(k, v)| format!("{k}={}", short(v)))
                .collect::<Vec<_>>()
                .join(" ");
            t.add_row(vec![n.side.to_string(), esc(&clip(&row))]);
        }
        out.push((
            format!("Rows with a NULL key ({})", thousands(s.null_keys)),
            t,
        ));
    }
    out
}

/// One line: the verdict and the counts.
pub fn headline(report: &Report) -> String {
    let s = &report.summary;
    let verdict = match report.verdict {
        Verdict::Equal => "EQUAL",
        Verdict::Different => "DIFFERENT",
    };
    let mut line = format!(
        "{verdict}: {} only in left, {} only in right, {} changed, {} unchanged",
        thousands(s.only_left),
        thousands(s.only_right),
        thousands(s.changed),
        thousands(s.unchanged)
    );
    if s.duplicate_keys > 0 {
        line.push_str(&format!(", {} duplicate keys", thousands(s.duplicate_keys)));
    }
    if s.null_keys > 0 {
        line.push_str(&format!(", {} NULL keys", thousands(s.null_keys)));
    }
    if !report.schema.left_only.is_empty() || !report.schema.right_only.is_empty() {
        line.push_str(", columns differ");
    }
    line
}

/// `1 leaf`, `3 leaves`.
fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.1} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

/// How much was read, one line.
pub fn stats_line(report: &Report) -> String {
    let st = &report.stats;
    if let Some(p) = &st.pushdown {
        let rows = report.summary.left_rows + report.summary.right_rows;
        let fetched = p.left_rows_fetched + p.right_rows_fetched;
        let share = if rows > 0 {
            100.0 * fetched as f64 / rows as f64
        } else {
            0.0
        };
        let queries = thousands(p.left_queries + p.right_queries);
        let fetched = format!(
            "fetched {} of {} rows ({share:.3}%, {})",
            thousands(fetched),
            thousands(rows),
            human_bytes(p.left_bytes_fetched + p.right_bytes_fetched)
        );
        if p.method == PushdownMethod::Join {
            return format!(
                "joined in the database: {queries} queries; {fetched} for {}; {:.2} s",
                count(p.divergent_leaves, "key", "keys"),
                st.seconds_total
            );
        }
        let leaves = if p.method == PushdownMethod::Buckets {
            count(p.leaves, "key bucket", "key buckets")
        } else {
            count(p.leaves, "key range", "key ranges")
        };
        return format!(
            "checksums ran in the databases: {queries} queries over {leaves}; {fetched} from {}; \
             {:.2} s",
            count(p.divergent_leaves, "divergent leaf", "divergent leaves"),
            st.seconds_total
        );
    }
    let hashed = st.left_rows_hashed + st.right_rows_hashed;
    let reread = st.left_rows_reread + st.right_rows_reread;
    let share = if hashed > 0 {
        100.0 * reread as f64 / hashed as f64
    } else {
        0.0
    };
    // After a merged pass nothing was read twice: the rows of divergent
    // leaves were compared as they went by.
    let (pass, verb) = match st.strategy {
        Strategy::Merged => (" in one merged pass", "compared"),
        Strategy::Leaves => ("", "re-read"),
        Strategy::Fingerprints => (" by row fingerprints", "re-read"),
        Strategy::Cluster => (" on the cluster", "fetched"),
    };
    format!(
        "hashed {} rows into {}{pass}; {verb} {} rows ({share:.2}%) in {}; {:.2} s on {} threads",
        thousands(hashed),
        count(st.leaves as u64, "leaf", "leaves"),
        thousands(reread),
        count(
            st.divergent_leaves as u64,
            "divergent leaf",
            "divergent leaves"
        ),
        st.seconds_total,
        st.threads
    )
}

pub fn write_table(report: &Report, out: &mut dyn Write, sample: usize) -> Result<()> {
    let io = |e: std::io::Error| Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    };
    writeln!(
        out,
        "{}  vs  {}   key: {}",
        report.left.source,
        report.right.source,
        report.key.join(", ")
    )
    .map_err(io)?;
    for (title, table) in sections(report, UTF8_FULL_CONDENSED, sample) {
        writeln!(out, "\n{title}\n{table}").map_err(io)?;
    }
    writeln!(out, "\n{}\n{}", stats_line(report), headline(report)).map_err(io)?;
    Ok(())
}
