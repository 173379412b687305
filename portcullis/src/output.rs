//! What the CLI prints: aligned text tables for people, JSON for scripts, times as RFC 3339.
//! Writes go through `std::io` with errors returned (never `println!`, which panics when the
//! reader of a pipe goes away), and cells are made single-line so a stored value cannot
//! break a table's layout or forge extra lines.

use serde::Serialize;
use std::io::Write;

/// A table with a header row; columns are padded to their widest cell.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column headings.
    pub fn new(headers: &[&'static str]) -> Table {
        Table { headers: headers.to_vec(), rows: Vec::new() }
    }

    /// Adds a row (missing cells print empty, extra cells are dropped).
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells: Vec<String> = cells.into_iter().map(|c| one_line(&c)).collect();
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// The rendered table; `empty` is printed under the headings when there are no rows.
    pub fn render(&self, empty: &str) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = &str>| {
            let mut out = String::new();
            for (i, (cell, w)) in cells.zip(&widths).enumerate() {
                if i > 0 {
                    out.push_str("  ");
                }
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', w.saturating_sub(cell.chars().count())));
            }
            out.trim_end().to_owned() + "\n"
        };
        let mut out = line(&mut self.headers.iter().copied());
        for row in &self.rows {
            out.push_str(&line(&mut row.iter().map(String::as_str)));
        }
        if self.rows.is_empty() {
            out.push_str(empty);
            out.push('\n');
        }
        out
    }
}

/// Control characters (newlines, escapes) shown as `?` so a value stays on its line.
pub fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// An error for standard error: its message, then each cause after `: `, every one written
/// once. A cause whose text the message before it already holds (a library error that
/// prints its source inside its own message) is not repeated. Line breaks inside a message
/// are kept (a TOML error points at the line and column on lines of its own); other control
/// characters (escapes from a stored value) are shown as `?`.
pub fn error_text(e: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut previous = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        let text = text.trim_end();
        if text.is_empty() || previous.contains(text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(text);
        previous = text.to_owned();
    }
    out.chars().map(|c| if c.is_control() && c != '\n' { '?' } else { c }).collect()
}

/// RFC 3339 (UTC) of Unix seconds.
pub fn time(secs: i64) -> String {
    portcullis_core::clock::rfc3339(secs)
}

/// RFC 3339 of optional Unix seconds; `None` stays `None` (JSON null).
pub fn opt_time(secs: Option<i64>) -> Option<String> {
    secs.map(time)
}

/// Writes text to stdout and flushes.
pub fn print(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Writes one line to stdout and flushes.
pub fn line(text: &str) -> std::io::Result<()> {
    print(&format!("{text}\n"))
}

/// Writes a value as pretty JSON (one document, newline-terminated) to stdout.
pub fn json<T: Serialize + ?Sized>(value: &T) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    line(&text)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_and_lines_trimmed() {
        let mut t = Table::new(&["ID", "USER", "STATE"]);
        t.row(vec!["7".into(), "jdoe".into(), "pending".into()]);
        t.row(vec!["12".into(), "alice-long".into(), String::new()]);
        assert_eq!(t.render("(none)"), "ID  USER        STATE\n7   jdoe        pending\n12  alice-long\n");
    }

    #[test]
    fn empty_tables_say_so_and_cells_stay_on_one_line() {
        let t = Table::new(&["A", "B"]);
        assert_eq!(t.render("no rows"), "A  B\nno rows\n");
        let mut t = Table::new(&["A"]);
        t.row(vec!["x\ny\u{1b}[2J".into(), "extra".into()]);
        assert_eq!(t.render(""), "A\nx?y?[2J\n");
        assert_eq!(one_line("é ok"), "é ok");
    }

    /// Like many library errors: the message holds the source, which is also its `source()`.
    #[derive(Debug)]
    struct ReadError {
        path: &'static str,
        source: std::io::Error,
    }
    impl std::fmt::Display for ReadError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "cannot read {}: {}", self.path, self.source)
        }
    }
    impl std::error::Error for ReadError {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.source)
        }
    }

    #[test]
    fn each_cause_is_written_once_and_line_breaks_stay() {
        let io = std::io::Error::from(std::io::ErrorKind::NotFound);
        let e = anyhow::Error::new(ReadError { path: "p.toml", source: io }).context("cannot load the configuration");
        let text = error_text(&e);
        assert_eq!(text, format!("cannot load the configuration: cannot read p.toml: {}", std::io::Error::from(std::io::ErrorKind::NotFound)));
        let e = anyhow::anyhow!("x\ny\u{1b}[2J").context("outer");
        assert_eq!(error_text(&e), "outer: x\ny?[2J");
    }

    #[test]
    fn times() {
        assert_eq!(time(0), "1970-01-01T00:00:00Z");
        assert_eq!(opt_time(None), None);
        assert_eq!(opt_time(Some(60)).as_deref(), Some("1970-01-01T00:01:00Z"));
    }
}
