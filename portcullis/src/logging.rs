//! Diagnostics go to standard error through `tracing`, filtered by `PORTCULLIS_LOG` (same
//! syntax as `RUST_LOG`, e.g. `info` or `portcullis_broker=debug`). Standard output is kept
//! for what commands print, so scripts can parse it. Colours only on a terminal.

use tracing_subscriber::EnvFilter;

/// Installs the subscriber; `default` applies when `PORTCULLIS_LOG` is unset or invalid.
pub fn init(default: &str) {
    let filter = EnvFilter::try_from_env("PORTCULLIS_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi).try_init();
}
