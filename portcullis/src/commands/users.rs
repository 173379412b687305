//! `portcullis user …`: enrol an account (showing its TOTP secret and, for web accounts, its
//! one-time password exactly once), list and show accounts, disable, enable and unlock them.
//! Keys, end dates and TOTP resets are in [`super::accounts`].

use anyhow::Context as _;
use crate::caller::{cli_actor, read_arg_file};
use crate::cli::UserCmd;
use crate::output::{self, Table};
use portcullis_core::admin::accounts::AccessEdit;
use portcullis_core::admin::{Admin, Enrolment, NewUserSpec, input};
use portcullis_core::domain::{PermissionSet, Role, Username, ZoneSet};
use portcullis_core::store::UserRecord;
use portcullis_core::{clock, Context};
use serde::Serialize;
use std::path::PathBuf;

/// One account as listed.
#[derive(Debug, Serialize)]
struct UserRow<'a> {
    username: &'a Username,
    role: Role,
    org: &'a str,
    disabled: bool,
    /// Set only while the account is locked.
    locked_until: Option<String>,
    /// When the account stops working (its end date), if it has one.
    expires_at: Option<String>,
    /// The zones an auditor is limited to (empty: every zone).
    zones: &'a ZoneSet,
    /// Permissions granted explicitly.
    permissions: &'a PermissionSet,
    /// Vendors only: how many SSH keys it has (none: it cannot sign in).
    #[serde(skip_serializing_if = "Option::is_none")]
    ssh_key_count: Option<usize>,
    created_at: String,
    #[serde(skip)]
    expired: bool,
}

impl<'a> UserRow<'a> {
    fn of(u: &'a UserRecord, now: i64) -> Self {
        UserRow {
            username: &u.username,
            role: u.role,
            org: &u.org,
            disabled: u.disabled,
            locked_until: u.locked_until.filter(|_| u.locked_at(now)).map(output::time),
            expires_at: u.expires_at.map(output::time),
            zones: &u.zones,
            permissions: &u.permissions,
            ssh_key_count: None,
            created_at: output::time(u.created_at),
            expired: u.expired_at(now),
        }
    }

    /// With the number of SSH keys (vendors).
    fn keys(mut self, n: usize) -> Self {
        if self.role == Role::Vendor {
            self.ssh_key_count = Some(n);
        }
        self
    }

    fn status(&self) -> String {
        if self.disabled {
            return "disabled".to_owned();
        }
        if self.expired {
            return format!("expired {}", self.expires_at.clone().unwrap_or_default());
        }
        if let Some(t) = &self.locked_until {
            return format!("locked until {t}");
        }
        if self.ssh_key_count == Some(0) {
            return "no SSH key: cannot sign in".to_owned();
        }
        match &self.expires_at {
            Some(t) => format!("active until {t}"),
            None => "active".to_owned(),
        }
    }
}

/// What `user add --json` prints.
#[derive(Debug, Serialize)]
pub struct Created<'a> {
    pub username: &'a Username,
    pub role: Role,
    pub org: &'a str,
    pub totp_secret: &'a str,
    pub otpauth_uri: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<&'a str>,
}

/// Runs one `user` command.
pub async fn run(ctx: &Context, cmd: UserCmd) -> anyhow::Result<()> {
    let admin = Admin::from_context(ctx);
    match cmd {
        UserCmd::Add { name, role, org, ssh_keys, password_file, expires, zones, grant, out } => {
            let password = password_file.as_deref().map(read_password).transpose()?;
            let keys = key_lines(&ssh_keys)?;
            let spec = NewUserSpec::new(name.clone(), role, org)
                .ssh_keys(keys)
                .password(password)
                .expires_at(expires)
                .access(zones.unwrap_or_default(), PermissionSet::of(&grant));
            add(&admin, spec, out.json).await
        }
        UserCmd::Edit { name, zones, all_zones, grant, revoke, out } => {
            let zones = if all_zones { Some(ZoneSet::everywhere()) } else { zones };
            let user = admin.set_user_access(&cli_actor(), &name, AccessEdit { zones, grant, revoke }).await?;
            let value = serde_json::json!({ "user": name, "zones": user.zones, "permissions": user.permissions });
            let zones = if user.zones.is_everywhere() { "every zone".to_owned() } else { format!("zones {}", user.zones) };
            let permissions = if user.permissions.is_empty() { "no permission".to_owned() } else { format!("permissions {}", user.permissions) };
            done(out.json, value, &format!("user {name}: {zones}, {permissions}"))
        }
        UserCmd::Key(cmd) => super::accounts::keys(ctx, cmd).await,
        UserCmd::Expires { name, on, never: _, out } => super::accounts::expires(ctx, &name, on, out.json).await,
        UserCmd::ResetTotp { name, out } => super::accounts::reset_totp(ctx, &name, out.json).await,
        UserCmd::List { out } => list(ctx, out.json).await,
        UserCmd::Show { name, out } => show(ctx, &name, out.json).await,
        UserCmd::Disable { name, out } => {
            admin.set_user_disabled(&cli_actor(), &name, true).await?;
            done(out.json, serde_json::json!({ "user": name, "disabled": true }), &format!("user {name} disabled"))
        }
        UserCmd::Enable { name, out } => {
            admin.set_user_disabled(&cli_actor(), &name, false).await?;
            done(out.json, serde_json::json!({ "user": name, "disabled": false }), &format!("user {name} enabled"))
        }
        UserCmd::Unlock { name, out } => {
            admin.unlock_user(&cli_actor(), &name).await?;
            done(out.json, serde_json::json!({ "user": name, "unlocked": true }), &format!("user {name} unlocked (failure count cleared)"))
        }
    }
}

/// Prints what a change did: `json` with `--json`, else the sentence.
fn done(json: bool, value: serde_json::Value, text: &str) -> anyhow::Result<()> {
    if json {
        return output::json(&value);
    }
    output::line(text)?;
    Ok(())
}

/// Every non-empty, non-comment line of the key files.
pub fn key_lines(files: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut lines = Vec::new();
    for file in files {
        let text = read_arg_file(file, "SSH key file")?;
        let found: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect();
        anyhow::ensure!(!found.is_empty(), "SSH key file {} holds no key", file.display());
        for (i, line) in found.iter().enumerate() {
            let what = format!("key #{} in SSH key file {}", i + 1, file.display());
            input::parse_public_key(line, &what).map_err(anyhow::Error::msg)?;
        }
        lines.extend(found);
    }
    Ok(lines)
}

/// The first line of a password file, without its line ending.
fn read_password(path: &std::path::Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text.lines().next().unwrap_or_default().to_owned())
}

async fn add(admin: &Admin, spec: NewUserSpec, json: bool) -> anyhow::Result<()> {
    let (user, enrol) = admin.create_user(&cli_actor(), spec).await?;
    if json {
        return output::json(&created(&user, &enrol));
    }
    output::print(&enrolment_text(&user, &enrol))?;
    Ok(())
}

/// The `--json` shape of a new account.
pub fn created<'a>(user: &'a UserRecord, enrol: &'a Enrolment) -> Created<'a> {
    Created {
        username: &user.username,
        role: user.role,
        org: &user.org,
        totp_secret: &enrol.totp_secret_base32,
        otpauth_uri: &enrol.otpauth_uri,
        password: enrol.one_time_password.as_deref(),
    }
}

/// The human text shown once for a new account.
pub fn enrolment_text(user: &UserRecord, enrol: &Enrolment) -> String {
    let org = if user.org.is_empty() { String::new() } else { format!(", {}", user.org) };
    let mut text = format!("user {} created ({}{org})\nGive these to the account holder now; they are not shown again:\n", user.username, user.role);
    if let Some(pw) = &enrol.one_time_password {
        // The authenticator is enrolled on the page at the first sign-in, with a new secret.
        text.push_str(&format!(
            "  one-time password:  {pw}\n  At the first web sign-in (user name and this password, no code) the page asks for\n  a new password and shows a QR code to enrol an authenticator app.\n"
        ));
    } else {
        text.push_str(&format!("  TOTP secret:        {}\n  otpauth URI:        {}\n", enrol.totp_secret_base32, enrol.otpauth_uri));
    }
    text
}

async fn list(ctx: &Context, json: bool) -> anyhow::Result<()> {
    let users = ctx.store.list_users().await?;
    let now = clock::now();
    let mut rows: Vec<UserRow> = Vec::with_capacity(users.len());
    for u in &users {
        let keys = if u.role == Role::Vendor { ctx.store.user_key_fingerprints(u.id).await?.len() } else { 0 };
        rows.push(UserRow::of(u, now).keys(keys));
    }
    if json {
        return output::json(&rows);
    }
    let mut t = Table::new(&["USER", "ROLE", "ORG", "STATUS", "CREATED"]);
    for r in &rows {
        t.row(vec![r.username.to_string(), r.role.to_string(), r.org.to_owned(), r.status(), r.created_at.clone()]);
    }
    output::print(&t.render("(no users)"))?;
    Ok(())
}

async fn show(ctx: &Context, name: &Username, json: bool) -> anyhow::Result<()> {
    let user = ctx.store.require_user(name).await?;
    let keys = ctx.store.user_key_fingerprints(user.id).await?;
    let row = UserRow::of(&user, clock::now()).keys(keys.len());
    if json {
        #[derive(Serialize)]
        struct Shown<'a> {
            #[serde(flatten)]
            row: &'a UserRow<'a>,
            failed_attempts: i64,
            password_must_change: bool,
            ssh_keys: &'a [String],
        }
        let shown = Shown { row: &row, failed_attempts: user.failed_attempts, password_must_change: user.password_must_change, ssh_keys: &keys };
        return output::json(&shown);
    }
    let mut t = Table::new(&["FIELD", "VALUE"]);
    t.row(vec!["user".into(), row.username.to_string()]);
    t.row(vec!["role".into(), row.role.to_string()]);
    t.row(vec!["org".into(), row.org.to_owned()]);
    t.row(vec!["status".into(), row.status()]);
    if !row.zones.is_everywhere() {
        t.row(vec!["zones".into(), row.zones.to_string()]);
    }
    if !row.permissions.is_empty() {
        t.row(vec!["permissions".into(), row.permissions.to_string()]);
    }
    t.row(vec!["failed codes".into(), user.failed_attempts.to_string()]);
    t.row(vec!["created".into(), row.created_at.clone()]);
    for k in &keys {
        t.row(vec!["ssh key".into(), k.clone()]);
    }
    output::print(&t.render(""))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const KEY_A: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGTVRpWbUzHHjUfJOT6sTbMJ/5Q2wQsvL41eenCzMebD";
    const KEY_B: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGUS0t+hhuwqwtZmyhnmq7/mzkQUcPDIzHWaJF1w7wkU";

    #[test]
    fn key_files_may_hold_several_keys_and_comments() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("k.pub");
        let (a, b) = (format!("{KEY_A} a"), format!("{KEY_B} b"));
        std::fs::write(&f, format!("# mine\n{a}\n\n  {b}  \n")).unwrap();
        assert_eq!(key_lines(std::slice::from_ref(&f)).unwrap(), vec![a, b]);
        std::fs::write(&f, format!("{KEY_A}\nssh-ed25519 AAAAbroken\n")).unwrap();
        let err = key_lines(&[f]).unwrap_err().to_string();
        assert!(err.contains("key #2 in SSH key file") && err.contains("k.pub"), "{err}");
        let empty = dir.path().join("e.pub");
        std::fs::write(&empty, "\n# nothing\n").unwrap();
        assert!(key_lines(&[empty]).unwrap_err().to_string().contains("holds no key"));
        assert!(key_lines(&[dir.path().join("missing")]).is_err());
    }
}
