//! `portcullis init --data DIR`: sets up the data folder through [`crate::setup`] (keys, TLS
//! certificate, store, first administrator, configuration file last), then prints where
//! everything is. With `--use-config` the configuration file named by `--config` already
//! exists (the Debian package ships it) and is read, not written. The administrator's one-time password and TOTP secret are printed once
//! (as text or `--json`) and stored nowhere in clear.

use super::users;
use crate::cli::InitArgs;
use crate::datadir::Layout;
use crate::output;
use crate::setup::{initialise, initialise_with, DEFAULT_SSH_LISTEN};
use portcullis_core::domain::Username;
use serde::Serialize;

/// What `init --json` prints.
#[derive(Serialize)]
struct InitJson<'a> {
    config: String,
    data_dir: String,
    admin: AdminJson<'a>,
}

#[derive(Serialize)]
struct AdminJson<'a> {
    username: &'a Username,
    password: Option<&'a str>,
    totp_secret: &'a str,
    otpauth_uri: &'a str,
}

/// Runs `init`.
pub async fn run(args: InitArgs, config: &std::path::Path) -> anyhow::Result<()> {
    let layout = Layout::new(&args.data)?;
    let (done, config) = if args.use_config {
        (initialise_with(layout, config).await?, std::path::absolute(config)?)
    } else {
        let done = initialise(layout, DEFAULT_SSH_LISTEN).await?;
        let config = done.layout.config();
        (done, config)
    };
    done.ctx.store.close().await;
    if args.out.json {
        return output::json(&InitJson {
            config: config.display().to_string(),
            data_dir: done.layout.dir.display().to_string(),
            admin: AdminJson {
                username: &done.admin.username,
                password: done.enrolment.one_time_password.as_deref(),
                totp_secret: &done.enrolment.totp_secret_base32,
                otpauth_uri: &done.enrolment.otpauth_uri,
            },
        });
    }
    output::print(&format!(
        "Portcullis initialised in {dir}\n  \
         configuration:        {cfg}\n  \
         broker SSH host key:  {fp}\n\n{admin}\nStart it with:  portcullis serve --config {cfg}\n",
        dir = done.layout.dir.display(),
        cfg = config.display(),
        fp = done.host_key_fingerprint,
        admin = users::enrolment_text(&done.admin, &done.enrolment),
    ))?;
    Ok(())
}
