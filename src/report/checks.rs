//! Renderers for a run of several comparisons: the checks of `recon check`,
//! or the tables of a run over whole databases. One line (or table row) per
//! check and a summary, JSON, Markdown for a pull-request comment, and JUnit
//! XML so that CI systems list each check as a test case.

use std::io::Write;

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

use super::table::{new_table, right, thousands};
use crate::error::{Error, Result};
use crate::rules::check::{CheckResult, Status};

fn io(path: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Output {
        path: path.to_string(),
        message: e.to_string(),
    }
}

/// What the results are: rule-file checks, or the tables of two databases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Checks,
    Tables,
}

impl Kind {
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Checks => "checks",
            Kind::Tables => "tables",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Kind::Checks => "recon check",
            Kind::Tables => "recon diff: tables",
        }
    }
}

/// The run's outcome: the worst status of its results.
pub fn worst(results: &[CheckResult]) -> Status {
    results
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Pass)
}

/// Counts per status, worst last.
pub fn summary_line(results: &[CheckResult], kind: Kind) -> String {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    format!(
        "{} {}: {} passed, {} warned, {} failed, {} errors",
        results.len(),
        kind.noun(),
        count(Status::Pass),
        count(Status::Warn),
        count(Status::Fail),
        count(Status::Error)
    )
}

/// The counts of one check, one line.
pub(super) fn counts(r: &CheckResult) -> String {
    match &r.report {
        Some(report) => {
            let s = &report.summary;
            format!(
                "{} only left, {} only right, {} changed of {} rows",
                thousands(s.only_left),
                thousands(s.only_right),
                thousands(s.changed),
                thousands(s.left_rows.max(s.right_rows))
            )
        }
        None if !r.aggregates.is_empty() => {
            let differ = r.aggregates.iter().filter(|f| !f.equal).count();
            format!("{differ} of {} aggregates differ", r.aggregates.len())
        }
        None => String::new(),
    }
}

/// One line per check, its reasons indented under it, then the summary;
/// tables as a table of counts, reasons and notes under it.
pub fn write_checks_table(results: &[CheckResult], out: &mut dyn Write, kind: Kind) -> Result<()> {
    let io = io("standard output");
    if kind == Kind::Tables {
        return write_tables_table(results, out);
    }
    for r in results {
        writeln!(
            out,
            "{:<5}  {}  ({}; {:.2} s){}",
            r.status.as_str().to_uppercase(),
            r.name,
            r.file,
            r.seconds,
            match counts(r).as_str() {
                "" => String::new(),
                c => format!(": {c}"),
            }
        )
        .map_err(&io)?;
        for reason in &r.reasons {
            writeln!(out, "       {reason}").map_err(&io)?;
        }
        for note in &r.notes {
            writeln!(out, "       note: {note}").map_err(&io)?;
        }
    }
    writeln!(out, "{}", summary_line(results, kind)).map_err(&io)
}

/// A run over two databases: one row per table with its counts, then what
/// each table's status rests on, then the summary and the verdict.
fn write_tables_table(results: &[CheckResult], out: &mut dyn Write) -> Result<()> {
    let io = io("standard output");
    let mut t = new_table(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header(vec![
        "table",
        "status",
        "key",
        "left rows",
        "right rows",
        "only left",
        "only right",
        "changed",
        "seconds",
    ]);
    for r in results {
        let mut row = vec![
            comfy_table::Cell::new(&r.name),
            comfy_table::Cell::new(r.status.as_str().to_uppercase()),
        ];
        match &r.report {
            Some(report) => {
                let s = &report.summary;
                row.push(comfy_table::Cell::new(report.key.join(", ")));
                for n in [
                    s.left_rows,
                    s.right_rows,
                    s.only_left,
                    s.only_right,
                    s.changed,
                ] {
                    row.push(right(thousands(n)));
                }
            }
            None => {
                let rows = r
                    .aggregates
                    .iter()
                    .find(|f| f.metric == crate::aggregate::Metric::Count && f.group.is_none());
                row.push(comfy_table::Cell::new(if rows.is_some() {
                    "(none)"
                } else {
                    ""
                }));
                let shown = |v: &serde_json::Value| v.to_string().trim_matches('"').to_string();
                row.push(right(rows.map_or(String::new(), |f| shown(&f.left))));
                row.push(right(rows.map_or(String::new(), |f| shown(&f.right))));
                row.extend((0..3).map(|_| comfy_table::Cell::new("")));
            }
        }
        row.push(right(format!("{:.2}", r.seconds)));
        t.add_row(row);
    }
    writeln!(out, "{t}").map_err(&io)?;
    for r in results
        .iter()
        .filter(|r| !(r.reasons.is_empty() && r.notes.is_empty()))
    {
        writeln!(out, "{}:", r.name).map_err(&io)?;
        for reason in &r.reasons {
            writeln!(out, "  {reason}").map_err(&io)?;
        }
        for note in &r.notes {
            writeln!(out, "  note: {note}").map_err(&io)?;
        }
    }
    let verdict = match worst(results) {
        Status::Pass | Status::Warn => "EQUAL",
        Status::Fail => "DIFFERENT",
        Status::Error => "ERROR",
    };
    writeln!(
        out,
        "{}\nverdict: {verdict}",
        summary_line(results, Kind::Tables)
    )
    .map_err(&io)
}

pub fn write_checks_json(results: &[CheckResult], out: &mut dyn Write, kind: Kind) -> Result<()> {
    let count = |s: Status| results.iter().filter(|r| r.status == s).count();
    let mut summary = serde_json::Map::new();
    summary.insert(kind.noun().into(), results.len().into());
    for s in [Status::Pass, Status::Warn, Status::Fail, Status::Error] {
        summary.insert(s.as_str().into(), count(s).into());
    }
    let value = serde_json::json!({
        "status": worst(results),
        "summary": summary,
        kind.noun(): results,
    });
    serde_json::to_writer_pretty(&mut *out, &value).map_err(|e| Error::Internal(e.to_string()))?;
    writeln!(out).map_err(io("standard output"))
}

/// A Markdown table, for a pull-request comment.
pub fn write_checks_markdown(
    results: &[CheckResult],
    out: &mut dyn Write,
    path: &str,
    kind: Kind,
) -> Result<()> {
    let io = io(path);
    let cell = |s: &str| s.replace('|', "\\|").replace('\n', " ");
    writeln!(
        out,
        "### {}\n\n{}\n",
        kind.title(),
        summary_line(results, kind)
    )
    .map_err(&io)?;
    writeln!(
        out,
        "| {} | status | differences | why |\n|---|---|---|---|",
        match kind {
            Kind::Checks => "check",
            Kind::Tables => "table",
        }
    )
    .map_err(&io)?;
    for r in results {
        let mark = match r.status {
            Status::Pass => "pass",
            Status::Warn => "**warn**",
            Status::Fail => "**FAIL**",
            Status::Error => "**ERROR**",
        };
        writeln!(
            out,
            "| {} | {mark} | {} | {} |",
            cell(&r.name),
            cell(&counts(r)),
            cell(
                &r.reasons
                    .iter()
                    .chain(&r.notes)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        )
        .map_err(&io)?;
    }
    Ok(())
}

/// JUnit XML: one test suite, one test case per check; a failed check is a
/// `<failure>`, an error an `<error>`, warnings go to `<system-out>`.
pub fn write_checks_junit(
    results: &[CheckResult],
    out: &mut dyn Write,
    path: &str,
    kind: Kind,
) -> Result<()> {
    let xml = |e: std::io::Error| Error::Output {
        path: path.to_string(),
        message: e.to_string(),
    };
    let count = |s: Status| results.iter().filter(|r| r.status == s).count().to_string();
    let total: f64 = results.iter().map(|r| r.seconds).sum();
    let mut w = Writer::new_with_indent(&mut *out, b' ', 2);
    w.write_event(Event::Decl(quick_xml::events::BytesDecl::new(
        "1.0",
        Some("UTF-8"),
        None,
    )))
    .map_err(xml)?;
    let tests = results.len().to_string();
    let time = format!("{total:.3}");
    let (failures, errors) = (count(Status::Fail), count(Status::Error));
    let attrs = [
        ("name", kind.title()),
        ("tests", tests.as_str()),
        ("failures", failures.as_str()),
        ("errors", errors.as_str()),
        ("time", time.as_str()),
    ];
    w.write_event(Event::Start(
        BytesStart::new("testsuites").with_attributes(attrs),
    ))
    .map_err(xml)?;
    w.write_event(Event::Start(
        BytesStart::new("testsuite").with_attributes(attrs.into_iter().chain([("skipped", "0")])),
    ))
    .map_err(xml)?;
    for r in results {
        let time = format!("{:.3}", r.seconds);
        let case = BytesStart::new("testcase").with_attributes([
            ("name", r.name.as_str()),
            (
                "classname",
                match kind {
                    Kind::Checks => "recon.rules",
                    Kind::Tables => "recon.tables",
                },
            ),
            ("file", r.file.as_str()),
            ("time", time.as_str()),
        ]);
        w.write_event(Event::Start(case)).map_err(xml)?;
        let detail = format!("{}\n{}", counts(r), r.reasons.join("\n"));
        let element = match r.status {
            Status::Fail => Some("failure"),
            Status::Error => Some("error"),
            Status::Warn => Some("system-out"),
            Status::Pass => None,
        };
        if let Some(element) = element {
            let message = r.reasons.join("; ");
            let mut start = BytesStart::new(element);
            if element != "system-out" {
                start.push_attribute(("message", message.as_str()));
                start.push_attribute(("type", r.status.as_str()));
            }
            w.write_event(Event::Start(start)).map_err(xml)?;
            w.write_event(Event::Text(BytesText::new(detail.trim())))
                .map_err(xml)?;
            w.write_event(Event::End(BytesEnd::new(element)))
                .map_err(xml)?;
        }
        w.write_event(Event::End(BytesEnd::new("testcase")))
            .map_err(xml)?;
    }
    w.write_event(Event::End(BytesEnd::new("testsuite")))
        .map_err(xml)?;
    w.write_event(Event::End(BytesEnd::new("testsuites")))
        .map_err(xml)?;
    writeln!(out).map_err(io(path))
}
