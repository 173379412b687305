//! The `portcullis` binary: parses the command line and wires the crates together. The
//! administrative commands (`init`, `user`, `device`, `request`, `session`, `audit`) act on
//! the store through the core services; `serve` runs a broker node (SSH + HTTPS); `demo`
//! runs one with a simulated device and everything enrolled.
//!
//! Exit status: 0 done, 1 refused or failed (`error: …` on standard error: one line, or more when a message
//! itself has several, such as a TOML error pointing at a line and column), 2 the
//! command line itself was wrong (clap's usage message).

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
    let cli = cli::Cli::parse();
    if !matches!(cli.command, cli::Command::Serve | cli::Command::Demo(_)) {
        // Quiet by default for one-shot commands: their output is what they print.
        logging::init("warn");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Prints `error: …` (the context chain joined by `: `, each cause once) and returns status 1.
fn fail(e: &anyhow::Error) -> ExitCode {
    let text = output::error_text(e);
    eprintln!("error: {text}");
    ExitCode::FAILURE
}
