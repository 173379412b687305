//! `portcullis user key list|add|remove`, `user expires` and `user reset-totp`: an account's
//! changes after enrolment, through the core administration service (each one audited). A new
//! TOTP secret is printed once, like at enrolment.

use super::users::key_lines;
use crate::caller::cli_actor;
use crate::cli::UserKeyCmd;
use crate::output::{self, Table};
use portcullis_core::admin::Admin;
use portcullis_core::domain::Username;
use portcullis_core::Context;

/// Runs one `user key` command.
pub async fn keys(ctx: &Context, cmd: UserKeyCmd) -> anyhow::Result<()> {
    let admin = Admin::from_context(ctx);
    match cmd {
        UserKeyCmd::List { name, out } => {
            let keys = admin.user_keys(&name).await?;
            if out.json {
                let rows: Vec<serde_json::Value> = keys
                    .iter()
                    .map(|k| serde_json::json!({ "fingerprint": k.fingerprint, "public_key": k.public_key, "added_at": output::time(k.added_at) }))
                    .collect();
                return output::json(&rows);
            }
            let mut t = Table::new(&["FINGERPRINT", "ADDED", "KEY"]);
            for k in &keys {
                t.row(vec![k.fingerprint.clone(), output::time(k.added_at), k.public_key.clone()]);
            }
            output::print(&t.render(&format!("(no SSH key: {name} cannot sign in over SSH)")))?;
            Ok(())
        }
        UserKeyCmd::Add { name, file, out } => {
            let mut added = Vec::new();
            for line in key_lines(std::slice::from_ref(&file))? {
                added.push(admin.add_user_key(&cli_actor(), &name, &line).await?);
            }
            if out.json {
                return output::json(&serde_json::json!({ "user": name, "added": added }));
            }
            for fp in &added {
                output::line(&format!("key {fp} added to {name}"))?;
            }
            Ok(())
        }
        UserKeyCmd::Remove { name, fingerprint, out } => {
            admin.remove_user_key(&cli_actor(), &name, &fingerprint).await?;
            if out.json {
                return output::json(&serde_json::json!({ "user": name, "removed": fingerprint.trim() }));
            }
            output::line(&format!("key {} removed from {name}", fingerprint.trim()))?;
            Ok(())
        }
    }
}

/// `user expires NAME --on DATE | --never`.
pub async fn expires(ctx: &Context, name: &Username, at: Option<i64>, json: bool) -> anyhow::Result<()> {
    Admin::from_context(ctx).set_user_expiry(&cli_actor(), name, at).await?;
    if json {
        return output::json(&serde_json::json!({ "user": name, "expires_at": output::opt_time(at) }));
    }
    match at {
        Some(t) => output::line(&format!("user {name} can sign in until {}", output::time(t)))?,
        None => output::line(&format!("user {name} has no end date"))?,
    }
    Ok(())
}

/// `user reset-totp NAME`.
pub async fn reset_totp(ctx: &Context, name: &Username, json: bool) -> anyhow::Result<()> {
    let enrol = Admin::from_context(ctx).reset_totp(&cli_actor(), name).await?;
    if json {
        return output::json(&serde_json::json!({ "user": name, "totp_secret": enrol.totp_secret_base32, "otpauth_uri": enrol.otpauth_uri }));
    }
    output::print(&format!(
        "user {name} has a new TOTP secret; codes from the old one no longer work.\nGive these to the account holder now; they are not shown again:\n  TOTP secret:        {}\n  otpauth URI:        {}\n",
        enrol.totp_secret_base32, enrol.otpauth_uri
    ))?;
    Ok(())
}
