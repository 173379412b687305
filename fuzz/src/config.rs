//! The config loader (`core/src/config.rs` and `config/`): the TOML file and the
//! `PORTCULLIS_*` environment variables on top, then relative paths resolved and the whole
//! checked.
//!
//! The input is the file's text, then optionally a NUL byte and environment variables, one
//! `NAME=VALUE` a line (bytes that are not UTF-8 are replaced). Nothing is read from or
//! written to disk: the text is given as if read from `/etc/portcullis/portcullis.toml`.
//! Checked: a configuration that loads has every path absolute (resolved against the file's
//! folder) and meets the rules `check` enforces.

use portcullis_core::config::Config;
use std::path::Path;
use std::time::Duration;

/// Loads the input as a configuration.
pub fn config(data: &[u8]) {
    let (file, env) = match data.iter().position(|b| *b == 0) {
        Some(i) => data.split_at(i),
        None => (data, &[][..]),
    };
    let text = String::from_utf8_lossy(file);
    let env = String::from_utf8_lossy(env.get(1..).unwrap_or_default());
    let vars: Vec<(String, String)> =
        env.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let Ok(c) = Config::from_parts(&text, Path::new("/etc/portcullis/portcullis.toml"), &vars) else { return };
    for p in [&c.ssh.host_key, &c.web.tls_cert, &c.web.tls_key, &c.web.token_key, &c.vault.key_file, &c.audit.signing_key, &c.recording.dir, &c.retention.archive_dir] {
        assert!(p.is_absolute(), "{p:?}");
    }
    assert!(c.auth.max_failures >= 1);
    assert!(c.approval.default_minutes >= 1 && c.approval.default_minutes <= c.policy.max_minutes);
    assert!(c.web.token_ttl.0 >= Duration::from_secs(30) && c.web.session_max.0 >= c.web.token_ttl.0);
    assert!(c.ssh.per_source_max_startups >= 1 && c.ssh.max_unauthenticated >= 1 && c.ssh.max_sessions >= 1);
}
