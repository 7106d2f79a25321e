//! HTML: one self-contained page for the people who sign a reconciliation
//! off. Verdict and counts first, then where in the key space the
//! differences lie, which columns, the schema, and a sample of differing rows
//! with the changed cells marked. Inline CSS and SVG only: no script, and a
//! content security policy that forbids every fetch, so the file can be
//! mailed, archived as a CI artifact or opened offline. Its size is bounded
//! whatever the number of differences: divergent ranges are binned into the
//! key-space strip and every list is a sample.

use std::fmt::Write as _;
use std::io::Write;

use serde_json::{Map, Value};

use super::table::{clip_to, headline, stats_line, thousands};
use super::values::{ABSENT, short};
use super::{DivergentRange, Report, Verdict};
use crate::compare::rows::Status as RowStatus;
use crate::error::{Error, Result};
use crate::rules::check::{CheckResult, Status};

/// Differing rows shown (each as a left and a right line).
pub const HTML_SAMPLE: usize = 200;
/// Divergent ranges, duplicate keys and NULL-key rows listed.
const LIST_SAMPLE: usize = 100;
/// Columns of the key-space strip.
const STRIP_BINS: usize = 200;
/// Longest value text shown in a cell.
const CELL_CHARS: usize = 80;

/// The page for one comparison (`recon diff` and `recon repair`).
pub fn write_html(report: &Report, out: &mut dyn Write, path: &str) -> Result<()> {
    let title = format!(
        "recon: {} — {} vs {}",
        verdict_word(report.verdict),
        report.left.source,
        report.right.source
    );
    let mut page = String::new();
    report_body(&mut page, report, "", 2);
    write_page(out, path, &title, &page)
}

/// The page for a run of rule-file checks: one row per check, linked to its
/// details below.
pub fn write_checks_html(
    results: &[CheckResult],
    out: &mut dyn Write,
    path: &str,
    kind: super::checks::Kind,
) -> Result<()> {
    let summary = super::checks::summary_line(results, kind);
    let worst = results
        .iter()
        .map(|r| r.status)
        .max()
        .unwrap_or(Status::Pass);
    let mut page = String::new();
    let _ = write!(
        page,
        "<header class=\"verdict {}\"><h1>{}</h1><p id=\"checks-summary\">{}</p></header>",
        status_class(worst),
        kind.title(),
        esc(&summary)
    );
    let (heading, one) = match kind {
        super::checks::Kind::Checks => ("Checks", "check"),
        super::checks::Kind::Tables => ("Tables", "table"),
    };
    let _ = write!(
        page,
        "<section><h2>{heading}</h2><table class=\"checks\"><thead><tr><th>status</th><th>{one}</th>\
         <th>file</th><th>differences</th><th>why</th><th class=\"num\">seconds</th></tr></thead><tbody>",
    );
    for (i, r) in results.iter().enumerate() {
        let _ = write!(
            page,
            "<tr><td><span class=\"badge {cls}\">{status}</span></td>\
             <td><a href=\"#check-{i}\">{name}</a></td><td>{file}</td><td>{counts}</td>\
             <td>{why}</td><td class=\"num\">{secs:.2}</td></tr>",
            cls = status_class(r.status),
            status = r.status.as_str(),
            name = esc(&r.name),
            file = esc(&r.file),
            counts = esc(&super::checks::counts(r)),
            why = esc(&r.reasons.join("; ")),
            secs = r.seconds,
        );
    }
    page.push_str("</tbody></table></section>");
    for (i, r) in results.iter().enumerate() {
        let _ = write!(
            page,
            "<section class=\"check\" id=\"check-{i}\"><h2><span class=\"badge {}\">{}</span> {}</h2>",
            status_class(r.status),
            r.status.as_str(),
            esc(&r.name)
        );
        if !r.reasons.is_empty() {
            page.push_str("<ul class=\"reasons\">");
            for reason in &r.reasons {
                let _ = write!(page, "<li>{}</li>", esc(reason));
            }
            page.push_str("</ul>");
        }
        if !r.notes.is_empty() {
            page.push_str("<ul class=\"notes\">");
            for note in &r.notes {
                let _ = write!(page, "<li>{}</li>", esc(note));
            }
            page.push_str("</ul>");
        }
        if !r.aggregates.is_empty() {
            aggregates(&mut page, r);
        }
        if let Some(report) = &r.report {
            report_body(&mut page, report, &format!("check-{i}-"), 3);
        }
        page.push_str("</section>");
    }
    write_page(out, path, &format!("{}: {summary}", kind.title()), &page)
}

fn write_page(out: &mut dyn Write, path: &str, title: &str, body: &str) -> Result<()> {
    let page = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'\">\
         <meta name=\"generator\" content=\"recon {version}\">\
         <title>{title}</title><style>{STYLE}</style></head>\n<body><main>{body}\
         <footer>recon {version}</footer></main></body></html>\n",
        version = env!("CARGO_PKG_VERSION"),
        title = esc(title),
    );
    out.write_all(page.as_bytes()).map_err(|e| Error::Output {
        path: path.to_string(),
        message: e.to_string(),
    })
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Equal => "EQUAL",
        Verdict::Different => "DIFFERENT",
    }
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "equal",
        Status::Warn => "warn",
        Status::Fail => "different",
        Status::Error => "error",
    }
}

/// Every section of one comparison. `id` prefixes element ids (several
/// reports share a check page); `h` is the heading level of the sections.
fn report_body(page: &mut String, report: &Report, id: &str, h: u8) {
    let s = &report.summary;
    let class = match report.verdict {
        Verdict::Equal => "equal",
        Verdict::Different => "different",
    };
    let _ = write!(
        page,
        "<header class=\"verdict {class}\" id=\"{id}verdict\">\
         <h{h0}>{word}</h{h0}><p class=\"headline\">{headline}</p>\
         <p class=\"sources\"><code>{left}</code> vs <code>{right}</code>, key <code>{key}</code></p></header>",
        h0 = h.saturating_sub(1).max(1),
        word = verdict_word(report.verdict),
        headline = esc(headline(report)
            .split_once(": ")
            .map_or("", |(_, counts)| counts)),
        left = esc(&report.left.source),
        right = esc(&report.right.source),
        key = esc(&report.key.join(", ")),
    );

    page.push_str("<div class=\"cards\">");
    let mut card = |name: &str, label: &str, n: u64, tone: &str| {
        let _ = write!(
            page,
            "<div class=\"card {tone}\" id=\"{id}count-{name}\"><span class=\"n\">{}</span>\
             <span class=\"l\">{label}</span></div>",
            thousands(n)
        );
    };
    let tone = |n: u64| if n > 0 { "bad" } else { "" };
    card("left-rows", "rows left", s.left_rows, "");
    card("right-rows", "rows right", s.right_rows, "");
    card("only-left", "only in left", s.only_left, tone(s.only_left));
    card(
        "only-right",
        "only in right",
        s.only_right,
        tone(s.only_right),
    );
    card("changed", "changed", s.changed, tone(s.changed));
    card("unchanged", "unchanged", s.unchanged, "");
    if s.duplicate_keys > 0 {
        card("duplicate-keys", "duplicated keys", s.duplicate_keys, "bad");
    }
    if s.null_keys > 0 {
        card("null-keys", "rows with a NULL key", s.null_keys, "bad");
    }
    page.push_str("</div>");

    if !report.ranges.is_empty() {
        key_space(page, report, id, h);
    }
    if !report.columns.is_empty() {
        column_bars(page, report, id, h);
    }
    schema(page, report, id, h);
    if !report.ranges.is_empty() {
        ranges_table(page, report, id, h);
    }
    if !report.diffs.is_empty() {
        sample(page, report, id, h);
    }
    if !report.duplicates.is_empty() {
        let _ = write!(
            page,
            "<section id=\"{id}duplicates\"><h{h}>Duplicate keys ({})</h{h}>{}\
             <table><thead><tr><th>key</th><th class=\"num\">left rows</th>\
             <th class=\"num\">right rows</th></tr></thead><tbody>",
            thousands(s.duplicate_keys),
            more(report.duplicates.len(), LIST_SAMPLE, "keys"),
        );
        for d in report.duplicates.iter().take(LIST_SAMPLE) {
            let _ = write!(
                page,
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&values_text(&d.key)),
                d.left_count,
                d.right_count
            );
        }
        page.push_str("</tbody></table></section>");
    }
    if !report.null_key_samples.is_empty() {
        let _ = write!(
            page,
            "<section id=\"{id}null-keys\"><h{h}>Rows with a NULL key ({})</h{h}>{}\
             <table><thead><tr><th>side</th><th>row</th></tr></thead><tbody>",
            thousands(s.null_keys),
            more(report.null_key_samples.len(), LIST_SAMPLE, "rows"),
        );
        for n in report.null_key_samples.iter().take(LIST_SAMPLE) {
            let row: Vec<String> = n
                .row
                .iter()
                .map(|(k, v)| format!("{k}={}", short(v)))
                .collect();
            let _ = write!(
                page,
                "<tr><td>{}</td><td>{}</td></tr>",
                n.side,
                esc(&clip(&row.join(" ")))
            );
        }
        page.push_str("</tbody></table></section>");
    }
    let _ = write!(
        page,
        "<p class=\"stats\" id=\"{id}stats\">{}</p>",
        esc(&stats_line(report))
    );
}

/// "Showing the first N of M" when a list is cut.
fn more(total: usize, shown: usize, what: &str) -> String {
    if total > shown {
        format!(
            "<p class=\"note\">The first {} of {} {what}.</p>",
            thousands(shown as u64),
            thousands(total as u64)
        )
    } else {
        String::new()
    }
}

/// Where the divergent ranges lie across the whole key space: a strip of
/// bins, each shaded by the differences in it (log scale), with the keys it
/// covers in its tooltip.
fn key_space(page: &mut String, report: &Report, id: &str, h: u8) {
    let placed: Vec<(&DivergentRange, [f64; 2])> = report
        .ranges
        .iter()
        .filter_map(|r| r.span.map(|s| (r, s)))
        .collect();
    let _ = write!(
        page,
        "<section id=\"{id}key-space\"><h{h}>Where in the key space</h{h}>"
    );
    if placed.is_empty() {
        page.push_str(
            "<p class=\"note\">The key was compared by hash buckets, which have no key order: \
             the divergent buckets are listed below.</p></section>",
        );
        return;
    }
    // Per bin: differences, divergent ranges touching it, first and last key.
    let mut bins: Vec<(f64, usize, Option<String>, Option<String>)> =
        vec![(0.0, 0, None, None); STRIP_BINS];
    for (r, [a, b]) in &placed {
        let (a, b) = (a.clamp(0.0, 1.0), b.clamp(0.0, 1.0).max(*a));
        let first = ((a * STRIP_BINS as f64) as usize).min(STRIP_BINS - 1);
        let last =
            (((b * STRIP_BINS as f64).ceil() as usize).max(first + 1) - 1).min(STRIP_BINS - 1);
        let share = r.differences as f64 / (last - first + 1) as f64;
        for bin in &mut bins[first..=last] {
            bin.0 += share;
            bin.1 += 1;
            if bin.2.is_none() {
                bin.2 = Some(bound_text(&r.from));
            }
            bin.3 = Some(bound_text(&r.to));
        }
    }
    let peak = bins.iter().map(|b| b.0).fold(0.0f64, f64::max).max(1.0);
    let width = 1000.0 / STRIP_BINS as f64;
    let _ = write!(
        page,
        "<svg class=\"strip\" viewBox=\"0 0 1000 40\" preserveAspectRatio=\"none\" role=\"img\" \
         aria-label=\"{} divergent key ranges across the key space\">\
         <rect x=\"0\" y=\"0\" width=\"1000\" height=\"40\" class=\"strip-bg\"/>",
        placed.len()
    );
    for (i, (diffs, ranges, from, to)) in bins.iter().enumerate() {
        if *ranges == 0 {
            continue;
        }
        // At least a faint mark for a divergent bin; darker with more differences.
        let shade = 0.25 + 0.75 * (1.0 + diffs).ln() / (1.0 + peak).ln();
        let _ = write!(
            page,
            "<rect x=\"{x:.2}\" y=\"0\" width=\"{width:.2}\" height=\"40\" class=\"hit\" \
             fill-opacity=\"{shade:.2}\"><title>keys {from} to {to}: {n} differences in {ranges} \
             range{s}</title></rect>",
            x = i as f64 * width,
            from = esc(from.as_deref().unwrap_or("…")),
            to = esc(to.as_deref().unwrap_or("…")),
            n = thousands(diffs.round() as u64),
            s = if *ranges == 1 { "" } else { "s" },
        );
    }
    let _ = write!(
        page,
        "</svg><div class=\"axis\"><span>first key</span><span>{} divergent range{} \
         (darker: more differences)</span><span>last key</span></div></section>",
        thousands(report.ranges.len() as u64),
        if report.ranges.len() == 1 { "" } else { "s" }
    );
}

/// Mismatches per column as bars, largest first.
fn column_bars(page: &mut String, report: &Report, id: &str, h: u8) {
    let mut columns: Vec<_> = report.columns.iter().collect();
    columns.sort_by(|a, b| b.mismatches.cmp(&a.mismatches).then(a.name.cmp(&b.name)));
    let peak = columns.first().map_or(1, |c| c.mismatches.max(1));
    let _ = write!(
        page,
        "<section id=\"{id}columns\"><h{h}>Columns with differences</h{h}><div class=\"bars\">"
    );
    for c in columns {
        let pct = 100.0 * c.mismatches as f64 / peak as f64;
        let _ = write!(
            page,
            "<div class=\"bar-row\"><span class=\"name\">{}</span>\
             <span class=\"track\"><span class=\"bar\" style=\"width:{pct:.1}%\"></span></span>\
             <span class=\"num\">{}</span></div>",
            esc(&c.name),
            thousands(c.mismatches)
        );
    }
    page.push_str("</div></section>");
}

fn schema(page: &mut String, report: &Report, id: &str, h: u8) {
    let sc = &report.schema;
    let differs = !sc.left_only.is_empty()
        || !sc.right_only.is_empty()
        || !sc.type_differences.is_empty()
        || !sc.nullability_changes.is_empty();
    let _ = write!(
        page,
        "<section id=\"{id}schema\"><h{h}>Schema</h{h}><p>{} columns compared: {}</p>",
        sc.compared_columns.len(),
        esc(&sc.compared_columns.join(", "))
    );
    if differs {
        page.push_str(
            "<table><thead><tr><th>column</th><th>left</th><th>right</th><th>compared as</th>\
             </tr></thead><tbody>",
        );
        let mut row = |name: &str, left: &str, right: &str, how: &str| {
            let _ = write!(
                page,
                "<tr class=\"schema-diff\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(name),
                esc(left),
                esc(right),
                esc(how)
            );
        };
        for c in &sc.left_only {
            row(&c.name, &c.data_type, "(missing)", "not compared");
        }
        for c in &sc.right_only {
            row(&c.name, "(missing)", &c.data_type, "not compared");
        }
        for c in &sc.type_differences {
            row(&c.name, &c.left, &c.right, &c.compared_as);
        }
        for c in &sc.nullability_changes {
            let null = |n: bool| if n { "nullable" } else { "NOT NULL" };
            row(
                &c.name,
                null(c.left_nullable),
                null(c.right_nullable),
                "nullability",
            );
        }
        page.push_str("</tbody></table>");
    } else {
        page.push_str("<p class=\"note\">Both sides have the same columns and types.</p>");
    }
    if !sc.notes.is_empty() {
        page.push_str("<ul class=\"notes\">");
        for n in &sc.notes {
            let _ = write!(page, "<li>{}</li>", esc(n));
        }
        page.push_str("</ul>");
    }
    page.push_str("</section>");
}

fn ranges_table(page: &mut String, report: &Report, id: &str, h: u8) {
    let _ = write!(
        page,
        "<section id=\"{id}ranges\"><h{h}>Divergent key ranges ({})</h{h}>{}\
         <table><thead><tr><th>from (incl.)</th><th>to (excl.)</th><th class=\"num\">left rows</th>\
         <th class=\"num\">right rows</th><th class=\"num\">differences</th></tr></thead><tbody>",
        thousands(report.ranges.len() as u64),
        more(report.ranges.len(), LIST_SAMPLE, "ranges"),
    );
    for r in report.ranges.iter().take(LIST_SAMPLE) {
        let _ = write!(
            page,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
             <td class=\"num\">{}</td></tr>",
            esc(&bound_text(&r.from)),
            esc(&bound_text(&r.to)),
            thousands(r.left_rows),
            thousands(r.right_rows),
            thousands(r.differences)
        );
    }
    page.push_str("</tbody></table></section>");
}

/// Differing rows, each as a left and a right line under the compared
/// columns; changed cells are marked, a row on one side only is marked whole.
fn sample(page: &mut String, report: &Report, id: &str, h: u8) {
    let total = report.summary.differences();
    let shown = report.diffs.len().min(HTML_SAMPLE);
    let columns: Vec<(&str, &str, &str)> = report
        .schema
        .compared_columns
        .iter()
        .map(|c| {
            let (l, r) = c.split_once('→').unwrap_or((c, c));
            (c.as_str(), l, r)
        })
        .collect();
    let _ = write!(
        page,
        "<section id=\"{id}differences\"><h{h}>Differences</h{h}>{}\
         <div class=\"scroll\"><table class=\"diffs\"><thead><tr><th>status</th><th>key</th>\
         <th>side</th>",
        more(total as usize, shown, "differences"),
    );
    for (name, _, _) in &columns {
        let _ = write!(page, "<th>{}</th>", esc(name));
    }
    page.push_str("</tr></thead><tbody>");
    for d in report.diffs.iter().take(HTML_SAMPLE) {
        let status = d.status.as_str();
        let key = esc(&values_text(&d.key));
        let lines = [("left", &d.left, 1usize), ("right", &d.right, 2)];
        for (n, (side, row, pick)) in lines.iter().enumerate() {
            let class = if n == 0 { "first" } else { "second" };
            page.push_str(&format!("<tr class=\"{class} {status}\">"));
            if n == 0 {
                let _ = write!(
                    page,
                    "<td rowspan=\"2\"><span class=\"status {status}\">{}</span></td>\
                     <td rowspan=\"2\">{key}</td>",
                    status.replace('_', " ")
                );
            }
            let _ = write!(page, "<td class=\"side\">{side}</td>");
            for (display, l, r) in &columns {
                let name = if *pick == 1 { *l } else { *r };
                let text = row
                    .as_ref()
                    .map(|m| m.get(name).map_or(ABSENT.to_string(), short));
                let changed = d.status == RowStatus::Changed
                    && d.columns.iter().any(|c| c.as_str() == *display);
                let cell_class = match (&text, changed) {
                    (None, _) => " class=\"absent\"",
                    (Some(_), true) => " class=\"changed\"",
                    _ => "",
                };
                let _ = write!(
                    page,
                    "<td{cell_class}>{}</td>",
                    esc(&clip(text.as_deref().unwrap_or(ABSENT)))
                );
            }
            page.push_str("</tr>");
        }
    }
    page.push_str("</tbody></table></div></section>");
}

fn aggregates(page: &mut String, r: &CheckResult) {
    page.push_str(
        "<table class=\"aggregates\"><thead><tr><th>metric</th><th>column</th><th>group</th>\
         <th>left</th><th>right</th><th>equal</th></tr></thead><tbody>",
    );
    for f in r.aggregates.iter().take(LIST_SAMPLE) {
        let metric = serde_json::to_value(f.metric)
            .ok()
            .as_ref()
            .map_or_else(String::new, short);
        let _ = write!(
            page,
            "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if f.equal { "" } else { " class=\"unequal\"" },
            esc(&metric),
            esc(f.column.as_deref().unwrap_or("")),
            esc(&f.group.as_ref().map_or_else(String::new, short)),
            esc(&short(&f.left)),
            esc(&short(&f.right)),
            if f.equal { "yes" } else { "no" }
        );
    }
    page.push_str("</tbody></table>");
}

fn values_text(m: &Map<String, Value>) -> String {
    m.values().map(short).collect::<Vec<_>>().join(", ")
}

fn bound_text(b: &Option<Map<String, Value>>) -> String {
    b.as_ref().map_or_else(|| "…".to_string(), values_text)
}

fn clip(text: &str) -> String {
    clip_to(text, CELL_CHARS)
}

/// Text made safe for HTML element content and attribute values.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
:root{--bad:#c0392b;--good:#1e8449;--warn:#b9770e;--ink:#1c2833;--muted:#5d6d7e;--line:#d5d8dc;\
--hit:#c0392b;--bg:#fff}\
*{box-sizing:border-box}\
body{margin:0;font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:var(--ink);\
background:#f4f6f7}\
main{max-width:1200px;margin:0 auto;padding:24px}\
h1,h2,h3,h4{margin:.2em 0 .4em}\
section{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:12px 16px;\
margin:14px 0}\
section.check>section{border:none;padding:0;margin:10px 0}\
.verdict{border-left:8px solid var(--muted);background:var(--bg);padding:12px 16px;\
border-radius:6px;margin:14px 0}\
.verdict.different,.verdict.error{border-color:var(--bad)}\
.verdict.equal{border-color:var(--good)}.verdict.warn{border-color:var(--warn)}\
.verdict h1,.verdict h2{letter-spacing:.05em}\
.verdict.different h1,.verdict.different h2{color:var(--bad)}\
.verdict.equal h1,.verdict.equal h2{color:var(--good)}\
.sources code{font-size:13px;word-break:break-all}\
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0}\
.card{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 14px;\
min-width:130px}\
.card .n{display:block;font-size:22px;font-weight:600;font-variant-numeric:tabular-nums}\
.card .l{color:var(--muted)}.card.bad .n{color:var(--bad)}\
.strip{width:100%;height:40px;display:block}.strip-bg{fill:#eaeded}.hit{fill:var(--hit)}\
.axis{display:flex;justify-content:space-between;color:var(--muted);font-size:12px}\
.bars{display:grid;gap:4px}\
.bar-row{display:grid;grid-template-columns:minmax(120px,240px) 1fr 90px;gap:8px;align-items:center}\
.bar-row .name{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
.track{background:#eaeded;height:14px;border-radius:3px}\
.bar{display:block;height:14px;background:var(--bad);border-radius:3px;min-width:2px}\
table{border-collapse:collapse;width:100%;font-size:13px}\
th,td{border-bottom:1px solid var(--line);padding:4px 8px;text-align:left;vertical-align:top}\
th{background:#f8f9f9;position:sticky;top:0}\
.num{text-align:right;font-variant-numeric:tabular-nums}\
.scroll{overflow-x:auto}\
.diffs td{white-space:nowrap;font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px}\
.diffs tr.first td{border-bottom:none}\
.diffs td.changed{background:#fadbd8;font-weight:600}\
.diffs tr.only_left td:not(.side),.diffs tr.only_right td:not(.side){background:#fdf2e9}\
.diffs td.absent{color:var(--muted);background:#f4f6f7}\
.side{color:var(--muted)}\
.status,.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;color:#fff;\
background:var(--muted);font-family:system-ui,sans-serif;font-weight:600}\
.status.changed,.badge.different,.badge.error{background:var(--bad)}\
.status.only_left,.status.only_right,.badge.warn{background:var(--warn)}\
.badge.equal{background:var(--good)}\
.note,.stats,footer{color:var(--muted)}\
tr.unequal td{background:#fadbd8}\
footer{margin:20px 0;font-size:12px}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_data_cannot_open_markup() {
        assert_eq!(
            esc("<script>\"a\" & 'b'</script>"),
            "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;"
        );
    }

    #[test]
    fn long_values_are_clipped_on_character_boundaries() {
        let long = "é".repeat(CELL_CHARS + 5);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), CELL_CHARS);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
