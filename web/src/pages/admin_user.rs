//! One account, for admins: its role, organisation and state; a vendor's SSH keys with a form
//! to add one and a button to remove each (never the last); the account's end date; a new
//! TOTP secret (shown once, on the page that answers); what it may see of recordings (an
//! auditor's zones, the `phi` permission); disabling or enabling it. Each form
//! post is one call of the core administration service, checked and audited as from the CLI
//! or the API.

use super::admin_users::ADMINS;
use super::enrol::secret_block;
use super::error::PageError;
use super::flash::FlashQuery;
use super::format;
use super::layout::{self, Frame, Notice, Tab};
use super::visitor::require;
use crate::api::error::ApiError;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::admin::accounts::{AccessEdit, UserKey};
use portcullis_core::admin::{input, Admin};
use portcullis_core::clock;
use portcullis_core::domain::{Permission, Role, Username, ZoneSet};
use portcullis_core::store::UserRecord;
use portcullis_core::webauth::TotpEnrolment;
use serde::Deserialize;

fn keys_card(admin: &Authed, u: &UserRecord, keys: &[UserKey]) -> Markup {
    let base = format!("/admin/users/{}", u.username.as_str());
    html! {
        section #user-keys .card {
            h2 { "SSH keys" }
            @if keys.is_empty() { p.error { "No SSH key: this vendor cannot sign in." } }
            ul {
                @for k in keys {
                    li data-fingerprint=(k.fingerprint) {
                        code { (k.fingerprint) } " " small { "added " (format::utc(&clock::rfc3339(k.added_at))) }
                        @if keys.len() > 1 {
                            " "
                            form.inline method="post" action={ (base) "/key-remove" } {
                                (layout::csrf(admin))
                                input type="hidden" name="fingerprint" value=(k.fingerprint);
                                button.small type="submit" { "Remove" }
                            }
                        }
                    }
                }
            }
            form #add-key method="post" action={ (base) "/key-add" } {
                (layout::csrf(admin))
                label { "Add a key (a new laptop)" textarea name="ssh_key" rows="2" required placeholder="ssh-ed25519 AAAA… jdoe@laptop" {} }
                button type="submit" { "Add key" }
            }
        }
    }
}

fn expiry_form(admin: &Authed, u: &UserRecord) -> Markup {
    let current = u.expires_at.map(|t| format::utc(&clock::rfc3339(t)));
    html! {
        form #user-expiry .card method="post" action={ "/admin/users/" (u.username.as_str()) "/expiry" } {
            h2 { "End date" }
            p { @if let Some(t) = &current { "Signs in until " (t) "." } @else { "No end date." } }
            (layout::csrf(admin))
            label { "Last day (empty: no end date)" input name="expires" type="date"; }
            button type="submit" { "Set the end date" }
        }
    }
}

/// Zones (auditors) and permissions: what the account may see of sessions and recordings (`phi`, not for vendors), whether its approval is a clinical sign-off (approvers and admins) and whether it may open break-glass.
fn access_form(admin: &Authed, u: &UserRecord) -> Markup {
    let phi = u.permissions.has(Permission::Phi);
    html! {
        form #user-access .card method="post" action={ "/admin/users/" (u.username.as_str()) "/access" } {
            h2 { "Access" }
            (layout::csrf(admin))
            @if u.role == Role::Auditor {
                label { "Zones (comma separated; empty: the whole installation)" input name="zones" type="text" value=(u.zones.to_string()) placeholder="icu, nicu" autocapitalize="none"; }
            }
            @if u.role != Role::Vendor {
                input type="hidden" name="phi_shown" value="1";
                label.choice { input type="checkbox" name="phi" value="1" checked[phi]; span { strong { "phi" } ": may replay, download, watch and export the sessions of devices tagged phi (patient data). No role has it by itself." } }
            }
            @if u.role.may_approve() {
                input type="hidden" name="clinical_signoff_shown" value="1";
                label.choice { input type="checkbox" name="clinical_signoff" value="1" checked[u.permissions.has(Permission::ClinicalSignoff)]; span { strong { "clinical-signoff" } ": an approval by this account is the clinical sign-off that a request outside its device's maintenance windows needs where the policy says so." } }
            }
            input type="hidden" name="break_glass_shown" value="1";
            label.choice { input type="checkbox" name="break_glass" value="1" checked[u.permissions.has(Permission::BreakGlass)]; span { strong { "break-glass" } ": may open an emergency session without a prior approval, stating an incident and a reason; approvers are alerted and review it afterwards." } }
            button type="submit" { "Save" }
        }
    }
}

fn totp_form(admin: &Authed, u: &UserRecord) -> Markup {
    html! {
        form #user-reset-totp .card method="post" action={ "/admin/users/" (u.username.as_str()) "/reset-totp" } {
            h2 { "Authenticator" }
            p { small { "A lost or replaced phone: a new secret is shown once; codes from the old one stop working." } }
            (layout::csrf(admin))
            button type="submit" { "Issue a new TOTP secret" }
        }
    }
}

async fn render(frame: &Frame, admin_svc: &Admin, store: &portcullis_core::store::Store, admin: &Authed, name: &Username, notice: Notice, status: StatusCode) -> Result<Response, PageError> {
    let u = store.user_by_name(name).await.map_err(ApiError::from)?.ok_or_else(|| PageError::not_found("no such account"))?;
    let keys = if u.role == Role::Vendor { admin_svc.user_keys(name).await.map_err(ApiError::from)? } else { Vec::new() };
    let (action, label) = if u.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
    let body = html! {
        h1 { "Account " (u.username.as_str()) }
        p.lead {
            (u.role.as_str()) @if !u.org.is_empty() { " · " (u.org) } " · "
            span class={ "state state-" (if u.disabled || u.expired_at(clock::now()) { "disabled" } else { "active" }) } {
                (if u.disabled { "disabled" } else if u.expired_at(clock::now()) { "expired" } else { "active" })
            }
            @if &u.username != admin.name() {
                " "
                form.inline method="post" action={ "/admin/users/" (u.username.as_str()) "/" (action) } {
                    (layout::csrf(admin))
                    button.small type="submit" { (label) }
                }
            }
            " " a href="/admin/users" { "All accounts" }
        }
        @if u.role == Role::Vendor { (keys_card(admin, &u, &keys)) }
        (expiry_form(admin, &u))
        (access_form(admin, &u))
        (totp_form(admin, &u))
    };
    Ok((status, layout::page(frame, admin, Tab::Users, u.username.as_str(), notice, body).await).into_response())
}

/// `GET /admin/users/{name}`.
pub async fn show(
    State(frame): State<Frame>,
    State(store): State<portcullis_core::store::Store>,
    State(admin): State<Admin>,
    PageUser(user): PageUser,
    Path(name): Path<String>,
    flash: Result<Query<FlashQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, ADMINS, "manage users")?;
    let name = Username::parse(&name).map_err(|_| PageError::not_found("no such account"))?;
    render(&frame, &admin, &store, &user, &name, Notice::flash(flash.ok().and_then(|Query(f)| f.message())), StatusCode::OK).await
}

/// Every form of the account page; each action reads the fields it needs.
#[derive(Deserialize)]
pub struct AccountForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    ssh_key: Option<String>,
    fingerprint: Option<String>,
    expires: Option<String>,
    zones: Option<String>,
    /// Present when the access form (with its phi checkbox) was sent.
    phi_shown: Option<String>,
    phi: Option<String>,
    /// Present when the access form (with its break-glass checkbox) was sent.
    break_glass_shown: Option<String>,
    break_glass: Option<String>,
    /// Present when the access form (with its clinical-signoff checkbox) was sent.
    clinical_signoff_shown: Option<String>,
    clinical_signoff: Option<String>,
}

impl AccountForm {
    /// The access form as a change: zones when the field was sent, each permission whose
    /// checkbox was shown granted when ticked and revoked when not.
    fn access(&self) -> Result<AccessEdit, String> {
        let zones = self.zones.as_deref().map(ZoneSet::parse).transpose().map_err(|e| e.to_string())?;
        let (mut grant, mut revoke) = (Vec::new(), Vec::new());
        let boxes = [
            (&self.phi_shown, &self.phi, Permission::Phi),
            (&self.break_glass_shown, &self.break_glass, Permission::BreakGlass),
            (&self.clinical_signoff_shown, &self.clinical_signoff, Permission::ClinicalSignoff),
        ];
        for (shown, ticked, p) in boxes {
            if shown.is_some() {
                if ticked.is_some() { grant.push(p) } else { revoke.push(p) }
            }
        }
        Ok(AccessEdit { zones, grant, revoke })
    }
}

impl HasCsrf for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// `POST /admin/users/{name}/{disable|enable|key-add|key-remove|expiry|reset-totp}`.
pub async fn change(
    State(frame): State<Frame>,
    State(store): State<portcullis_core::store::Store>,
    State(admin): State<Admin>,
    Path((name, action)): Path<(String, String)>,
    PageForm { user, form }: PageForm<AccountForm>,
) -> Result<Response, PageError> {
    require(&user, ADMINS, "manage users")?;
    let name = Username::parse(&name).map_err(|_| PageError::not_found("no such account"))?;
    let actor = user.actor();
    let outcome: Result<&str, ApiError> = match action.as_str() {
        "disable" if &name == user.name() => Err(ApiError::bad_request("You cannot disable your own account.")),
        "disable" | "enable" => admin.set_user_disabled(&actor, &name, action == "disable").await.map(|()| if action == "disable" { "user-disabled" } else { "user-enabled" }).map_err(ApiError::from),
        "key-add" => admin.add_user_key(&actor, &name, form.ssh_key.as_deref().unwrap_or_default()).await.map(|_| "user-key-added").map_err(ApiError::from),
        "key-remove" => admin.remove_user_key(&actor, &name, form.fingerprint.as_deref().unwrap_or_default()).await.map(|()| "user-key-removed").map_err(ApiError::from),
        "expiry" => match form.expires.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(input::parse_end_date).transpose() {
            Ok(at) => admin.set_user_expiry(&actor, &name, at).await.map(|()| "user-expiry").map_err(ApiError::from),
            Err(m) => Err(ApiError::bad_request(m)),
        },
        "access" => match form.access() {
            Ok(edit) => admin.set_user_access(&actor, &name, edit).await.map(|_| "user-access").map_err(ApiError::from),
            Err(m) => Err(ApiError::bad_request(m)),
        },
        "reset-totp" => return reset_totp(&frame, &admin, &user, &actor, &name).await,
        _ => return Err(PageError::not_found("no such action")),
    };
    match outcome {
        // Enabling and disabling are also buttons of the list, which they return to.
        Ok(done @ ("user-disabled" | "user-enabled")) => Ok(Redirect::to(&format!("/admin/users?done={done}&id={name}")).into_response()),
        Ok(done) => Ok(Redirect::to(&format!("/admin/users/{name}?done={done}&id={name}")).into_response()),
        Err(e) if e.status.is_server_error() => Err(e.into()),
        Err(e) => render(&frame, &admin, &store, &user, &name, Notice::error(e.message), e.status).await,
    }
}

/// A new TOTP secret, shown once on the page that answers the form.
async fn reset_totp(frame: &Frame, admin: &Admin, user: &Authed, actor: &str, name: &Username) -> Result<Response, PageError> {
    let e = admin.reset_totp(actor, name).await.map_err(ApiError::from)?;
    let body = html! {
        h1 { "New authenticator for " (name.as_str()) }
        p.flash role="status" { "Codes from the old secret no longer work. Hand this to the account holder now: it is not shown again." }
        section.card { (secret_block(&TotpEnrolment { secret_base32: e.totp_secret_base32.clone(), otpauth_uri: e.otpauth_uri.clone() })) }
        p { a.button href={ "/admin/users/" (name.as_str()) } { "Back to the account" } }
    };
    Ok(layout::page(frame, user, Tab::Users, "New authenticator", Notice::default(), body).await.into_response())
}
