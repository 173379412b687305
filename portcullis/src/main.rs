//! The `portcullis` binary: parses the command line and wires the crates together. The
//! administrative commands (`init`, `user`, `device`, `request`, `session`, `audit`) act on
//! the store through the core services; `serve` runs a broker node (SSH + HTTPS); `demo`
//! runs one with a simulated device and everything enrolled.
//!
//! Exit status: 0 done, 1 refused or failed (`error: …` on standard error: one line, or more
//! when a message itself has several, such as a TOML error pointing at a line and column), 2
//! the command line itself was wrong (clap's usage message). With `--json` both kinds of error
//! are one JSON object on standard error instead: `{"error": "…", "status": 1}`.

mod backupset;
mod caller;
mod cli;
mod commands;
mod datadir;
mod demo;
mod hostkey;
mod keys;
mod logging;
mod open;
mod output;
mod serve;
mod setup;
mod shutdown;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let json = std::env::args_os().skip(1).any(|a| a == "--json");
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if json && e.use_stderr() => return fail_json(&e.to_string(), 2),
        Err(e) => e.exit(),
    };
    if !matches!(cli.command, cli::Command::Serve { .. } | cli::Command::Demo(_)) {
        // Quiet by default for one-shot commands: their output is what they print.
        logging::init("warn");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime"), json),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, json),
    }
}

/// Prints `error: …` (the context chain joined by `: `, each cause once), or the JSON object
/// with `json`, and returns status 1.
fn fail(e: &anyhow::Error, json: bool) -> ExitCode {
    let text = output::error_text(e);
    if json {
        return fail_json(&text, 1);
    }
    eprintln!("error: {text}");
    ExitCode::FAILURE
}

/// Prints `{"error": "…", "status": N}` on standard error and returns status `N`.
fn fail_json(text: &str, status: u8) -> ExitCode {
    let error = text.trim_end().strip_prefix("error: ").unwrap_or(text.trim_end());
    eprintln!("{}", serde_json::json!({ "error": error, "status": status }));
    ExitCode::from(status)
}
