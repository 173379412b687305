//! Accounts, for admins: the list with each account's state (an end date passed, a vendor
//! without a key), adding an account, and disabling or enabling one; each account's own page
//! ([`super::admin_user`]) changes it. A new vendor's TOTP secret (QR code and text) or a new web
//! account's one-time password is shown once, on the page that answers the form, and never
//! again.

use portcullis_core::admin::NewUserSpec;
use super::enrol::secret_block;
use super::error::PageError;
use super::flash::FlashQuery;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::visitor::require;
use crate::api::error::ApiError;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{html, Markup};
use portcullis_core::admin::Admin;
use portcullis_core::clock;
use portcullis_core::domain::{Role, Username};
use portcullis_core::store::{Store, UserRecord};
use portcullis_core::webauth::TotpEnrolment;
use serde::Deserialize;

/// Who may manage accounts.
pub(super) const ADMINS: &[Role] = &[Role::Admin];

/// The account's state; `keys` is how many SSH keys a vendor has.
fn status(u: &UserRecord, keys: usize) -> &'static str {
    if u.disabled {
        "disabled"
    } else if u.expired_at(clock::now()) {
        "expired"
    } else if u.role == Role::Vendor && keys == 0 {
        "no SSH key: cannot sign in"
    } else if u.locked_at(clock::now()) {
        "locked"
    } else if u.password_must_change {
        "first sign-in pending"
    } else {
        "active"
    }
}

fn user_row(admin: &Authed, u: &UserRecord, keys: usize) -> Markup {
    let (action, label) = if u.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
    let state = status(u, keys);
    html! {
        tr data-user=(u.username.as_str()) {
            td { (u.username.as_str()) }
            td { (u.role.as_str()) }
            td { (u.org) }
            td {
                span class={ "state state-" (state.split(' ').next().unwrap_or("")) } { (state) }
                @if let Some(t) = u.expires_at.filter(|_| !u.expired_at(clock::now())) { br; small { "until " (format::utc(&clock::rfc3339(t))) } }
            }
            td { (format::utc(&clock::rfc3339(u.created_at))) }
            td {
                a.button.small href={ "/admin/users/" (u.username.as_str()) } { "Change…" }
                @if &u.username != admin.name() {
                    " "
                    form.inline method="post" action={ "/admin/users/" (u.username.as_str()) "/" (action) } {
                        (layout::csrf(admin))
                        button.small type="submit" { (label) }
                    }
                }
            }
        }
    }
}

fn add_form(admin: &Authed) -> Markup {
    html! {
        form #add-user .card method="post" action="/admin/users" {
            h2 { "Add an account" }
            (layout::csrf(admin))
            div.row {
                label { "User name" input name="username" type="text" required autocapitalize="none" spellcheck="false"; }
                label {
                    "Role"
                    select name="role" {
                        @for r in Role::ALL { option value=(r.as_str()) { (r.as_str()) } }
                    }
                }
                label { "Organisation" input name="org" type="text" placeholder="e.g. Acme Medical"; }
            }
            label { "SSH public key (vendors: required)" textarea name="ssh_key" rows="2" placeholder="ssh-ed25519 AAAA… jdoe@laptop" {} }
            label { "Last day (optional, e.g. the contract's end)" input name="expires" type="date"; }
            button.primary type="submit" { "Add account" }
        }
    }
}

async fn render(frame: &Frame, store: &Store, admin: &Authed, notice: Notice, status: StatusCode) -> Result<Response, PageError> {
    let users = store.list_users().await.map_err(ApiError::from)?;
    let mut keys = Vec::with_capacity(users.len());
    for u in &users {
        keys.push(if u.role == Role::Vendor { store.user_key_fingerprints(u.id).await.map_err(ApiError::from)?.len() } else { 0 });
    }
    let body = html! {
        h1 { "Accounts" }
        div.scroll role="region" aria-label="Accounts" tabindex="0" {
            table.users {
                thead { tr { th { "User" } th { "Role" } th { "Organisation" } th { "State" } th { "Created" } th { span.sr-only { "Actions" } } } }
                tbody { @for (u, k) in users.iter().zip(&keys) { (user_row(admin, u, *k)) } }
            }
        }
        (add_form(admin))
    };
    Ok((status, layout::page(frame, admin, Tab::Users, "Accounts", notice, body).await).into_response())
}

/// `GET /admin/users`.
pub async fn list(
    State(frame): State<Frame>,
    State(store): State<Store>,
    PageUser(user): PageUser,
    flash: Result<Query<FlashQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, ADMINS, "manage users")?;
    render(&frame, &store, &user, Notice::flash(flash.ok().and_then(|Query(f)| f.message())), StatusCode::OK).await
}

/// The new-account form.
#[derive(Deserialize)]
pub struct NewUser {
    #[serde(rename = "_csrf")]
    csrf: String,
    username: String,
    role: String,
    #[serde(default)]
    org: String,
    #[serde(default)]
    ssh_key: String,
    #[serde(default)]
    expires: String,
}

impl HasCsrf for NewUser {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/users`: creates the account and shows its secrets once.
pub async fn create(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(admin): State<Admin>,
    PageForm { user, form }: PageForm<NewUser>,
) -> Result<Response, PageError> {
    require(&user, ADMINS, "manage users")?;
    let parsed = Username::parse(form.username.trim()).map_err(|e| e.to_string()).and_then(|n| Role::parse(&form.role).map(|r| (n, r)).map_err(|e| e.to_string()));
    let (name, role) = match parsed {
        Ok(v) => v,
        Err(m) => return render(&frame, &store, &user, Notice::error(m), StatusCode::BAD_REQUEST).await,
    };
    let keys: Vec<String> = form.ssh_key.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    let expires = match Some(form.expires.trim()).filter(|s| !s.is_empty()).map(portcullis_core::admin::input::parse_end_date).transpose() {
        Ok(at) => at,
        Err(m) => return render(&frame, &store, &user, Notice::error(m), StatusCode::BAD_REQUEST).await,
    };
    let actor = user.actor();
    let (created, e) = match admin.create_user(&actor, NewUserSpec::new(name.clone(), role, &form.org).ssh_keys(keys.to_vec()).expires_at(expires)).await {
        Ok(v) => v,
        Err(e) => {
            let e = ApiError::from(e);
            if e.status.is_server_error() {
                return Err(e.into());
            }
            return render(&frame, &store, &user, Notice::error(e.message), e.status).await;
        }
    };
    let body = html! {
        h1 { "Account " (created.username.as_str()) " created" }
        p.flash role="status" { (created.role.as_str()) @if !created.org.is_empty() { ", " (created.org) } ". Hand this to the account holder now: it is not shown again." }
        @if role == Role::Vendor {
            section.card {
                h2 { "Authenticator for SSH sign-in" }
                (secret_block(&TotpEnrolment { secret_base32: e.totp_secret_base32.clone(), otpauth_uri: e.otpauth_uri.clone() }))
            }
        } @else if let Some(otp) = &e.one_time_password {
            section.card {
                h2 { "One-time password" }
                p { code #one-time-password { (otp) } }
                p.hint { "At the first sign-in (code left empty) they choose their own password and set up their authenticator." }
            }
        }
        p { a.button href="/admin/users" { "Back to the accounts" } }
    };
    Ok((StatusCode::CREATED, layout::page(&frame, &user, Tab::Users, "Account created", Notice::default(), body).await).into_response())
}
