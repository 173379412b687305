//! Opening a node's services from its configuration file: what `serve` and every
//! administrative command that acts on the store do first. It imports nothing else of this
//! crate, so the commands, `serve` and `demo` can all build on it.

use anyhow::Context as _;
use portcullis_core::{Config, Context};
use std::path::Path;

/// Loads the configuration (file, then environment) and opens the services.
pub async fn open(config: &Path) -> anyhow::Result<Context> {
    let cfg = Config::load(config).with_context(|| format!("cannot load the configuration (--config {})", config.display()))?;
    Context::open(cfg).await.context("cannot open the Portcullis store and keys")
}
