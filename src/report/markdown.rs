//! Markdown, for a pull-request comment or a job summary.

use std::io::Write;

use comfy_table::presets::ASCII_MARKDOWN;

use super::Report;
use super::table::{headline, sections, stats_line};
use crate::error::{Error, Result};

pub fn write_markdown(report: &Report, out: &mut dyn Write, sample: usize) -> Result<()> {
    let io = |e: std::io::Error| Error::Output {
        path: "standard output".into(),
        message: e.to_string(),
    };
    writeln!(out, "## recon: {}\n", headline(report)).map_err(io)?;
    writeln!(
        out,
        "`{}` vs `{}`, key `{}`",
        report.left.source,
        report.right.source,
        report.key.join(", ")
    )
    .map_err(io)?;
    for (title, table) in sections(report, ASCII_MARKDOWN, sample) {
        writeln!(out, "\n### {title}\n\n{table}").map_err(io)?;
    }
    writeln!(out, "\n_{}_", stats_line(report)).map_err(io)?;
    Ok(())
}
