//! `portcullis audit export --format jsonl|cef|syslog [--since N] [--output FILE]`: the audit
//! log written once, oldest first, one record per line, read from the database a page at a
//! time so memory stays bounded however long the log is. Unlike the exporter in `serve`, it
//! keeps no cursor: `--since` is the last chain position the reader already has.

use anyhow::Context as _;
use portcullis_core::config::ExportFormat;
use portcullis_core::export::{self, Framing, Origin};
use portcullis_core::Context;
use std::io::Write;
use std::path::Path;

/// Rows read from the database at a time.
const PAGE: usize = 500;

/// Writes every row after `since` to `output` (standard output when `None`); returns how many
/// rows and the last chain position written.
pub async fn run(ctx: &Context, format: ExportFormat, since: i64, output: Option<&Path>) -> anyhow::Result<(usize, i64)> {
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let origin = Origin::local();
    let mut after = since.max(0);
    let mut written = 0;
    loop {
        let rows = export::page(&ctx.store, after, PAGE).await?;
        let Some(last) = rows.last().map(|r| r.seq) else { break };
        written += rows.len();
        for row in &rows {
            out.write_all(&export::record(format, Framing::Lines, &origin, row)).context("cannot write the export")?;
        }
        after = last;
    }
    out.flush().context("cannot write the export")?;
    Ok((written, after))
}
