//! One device, for admins: its settings with a form to change them, a new credential (it goes
//! in, never out), another host key to pin once checked on the device's console, and
//! disabling or enabling it. Each form post is one call of the core administration service,
//! so the change is checked and audited (old and new values) as from the CLI or the API.

use super::admin_devices::ADMINS;
use super::error::PageError;
use super::flash::FlashQuery;
use super::layout::{self, Frame, Notice, Tab};
use super::visitor::require;
use crate::api::error::ApiError;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::admin::devices::{DeviceEdit, PinSource};
use portcullis_core::admin::input::host_key_fingerprint;
use portcullis_core::admin::Admin;
use portcullis_core::domain::{Criticality, DeviceName, Zone};
use portcullis_core::store::{DeviceRecord, Store};
use portcullis_core::vault::Credential;
use serde::Deserialize;

fn settings_form(admin: &Authed, d: &DeviceRecord) -> Markup {
    let ports: Vec<String> = d.tcp_ports.iter().map(u16::to_string).collect();
    html! {
        form #device-settings .card method="post" action={ "/admin/devices/" (d.name.as_str()) "/settings" } {
            h2 { "Settings" }
            (layout::csrf(admin))
            div.row {
                label { "Address" input name="address" type="text" required value=(d.address); }
                label { "Login" input name="login" type="text" required value=(d.login) autocapitalize="none"; }
            }
            div.row {
                label {
                    "Criticality"
                    select name="criticality" {
                        @for c in Criticality::ALL { option value=(c.as_str()) selected[*c == d.criticality] { (c.as_str()) } }
                    }
                }
                label { "Zone" input name="zone" type="text" required value=(d.zone.as_str()) autocapitalize="none"; }
                label { "TCP ports (comma separated)" input name="tcp_ports" type="text" value=(ports.join(", ")); }
            }
            input type="hidden" name="phi_shown" value="1";
            label.choice { input type="checkbox" name="phi" value="1" checked[d.phi]; span { "Tagged " strong { "phi" } ": its screens can show patient data, so replaying, downloading, watching or exporting its sessions needs the phi permission" } }
            button.primary type="submit" { "Save settings" }
        }
    }
}

fn credential_form(admin: &Authed, d: &DeviceRecord) -> Markup {
    html! {
        form #device-credential .card method="post" action={ "/admin/devices/" (d.name.as_str()) "/credential" } {
            h2 { "New credential" }
            p { small { "The current one is never shown. It is replaced in the vault; the next connection uses the new one." } }
            (layout::csrf(admin))
            label { "New device password" input name="password" type="password" required autocomplete="new-password"; }
            button type="submit" { "Replace the credential" }
        }
    }
}

fn host_key_form(admin: &Authed, d: &DeviceRecord) -> Markup {
    html! {
        form #device-host-key .card method="post" action={ "/admin/devices/" (d.name.as_str()) "/host-key" } {
            h2 { "Pin another host key" }
            p { "Pinned now: " code { (host_key_fingerprint(&d.host_key).unwrap_or_else(|| "(unreadable)".into())) } }
            p { small { "Check the new key's fingerprint on the device's console or with its vendor before pinning it: until then the broker refuses the device." } }
            (layout::csrf(admin))
            label { "New host key line" textarea name="host_key" rows="2" required placeholder="ssh-ed25519 AAAA…" {} }
            button type="submit" { "Pin this key" }
        }
    }
}

async fn render(frame: &Frame, store: &Store, admin: &Authed, name: &DeviceName, notice: Notice, status: StatusCode) -> Result<Response, PageError> {
    let d = store.device_by_name(name).await.map_err(ApiError::from)?.ok_or_else(|| PageError::not_found("no such device"))?;
    let (action, label) = if d.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
    let body = html! {
        h1 { "Device " (d.name.as_str()) }
        p {
            span class={ "state state-" (if d.disabled { "disabled" } else { "active" }) } { (if d.disabled { "disabled" } else { "active" }) }
            " "
            form.inline method="post" action={ "/admin/devices/" (d.name.as_str()) "/" (action) } {
                (layout::csrf(admin))
                button.small type="submit" { (label) }
            }
            " " a.button.small.contain href={ "/admin/contain/device/" (d.name.as_str()) } { "Contain…" }
            " " a href="/admin/devices" { "All devices" }
        }
        (settings_form(admin, &d))
        (credential_form(admin, &d))
        (host_key_form(admin, &d))
    };
    Ok((status, layout::page(frame, admin, Tab::Devices, d.name.as_str(), notice, body).await).into_response())
}

/// `GET /admin/devices/{name}`.
pub async fn show(
    State(frame): State<Frame>,
    State(store): State<Store>,
    PageUser(user): PageUser,
    Path(name): Path<String>,
    flash: Result<Query<FlashQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, ADMINS, "manage devices")?;
    let name = DeviceName::parse(&name).map_err(|_| PageError::not_found("no such device"))?;
    render(&frame, &store, &user, &name, Notice::flash(flash.ok().and_then(|Query(f)| f.message())), StatusCode::OK).await
}

/// Every form of the device page; each action reads the fields it needs.
#[derive(Deserialize)]
pub struct DeviceForm {
    #[serde(rename = "_csrf")]
    csrf: String,
    address: Option<String>,
    login: Option<String>,
    criticality: Option<String>,
    zone: Option<String>,
    tcp_ports: Option<String>,
    /// Present when the settings form (with its phi checkbox) was sent.
    phi_shown: Option<String>,
    phi: Option<String>,
    password: Option<String>,
    host_key: Option<String>,
}

impl HasCsrf for DeviceForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl DeviceForm {
    fn edit(&self) -> Result<DeviceEdit, String> {
        let ports = match &self.tcp_ports {
            Some(text) => Some(
                text.split([',', ' '])
                    .filter(|p| !p.is_empty())
                    .map(|p| p.parse::<u16>().map_err(|_| format!("{p:?} is not a TCP port")))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        Ok(DeviceEdit {
            address: self.address.clone(),
            login: self.login.clone(),
            criticality: self.criticality.as_deref().map(Criticality::parse).transpose().map_err(|e| e.to_string())?,
            zone: self.zone.as_deref().map(|z| Zone::parse(z.trim())).transpose().map_err(|e| e.to_string())?,
            tcp_ports: ports,
            phi: self.phi_shown.as_ref().map(|_| self.phi.is_some()),
        })
    }
}

/// `POST /admin/devices/{name}/{settings|credential|host-key|disable|enable}`.
pub async fn change(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(admin): State<Admin>,
    Path((name, action)): Path<(String, String)>,
    PageForm { user, form }: PageForm<DeviceForm>,
) -> Result<Response, PageError> {
    require(&user, ADMINS, "manage devices")?;
    let name = DeviceName::parse(&name).map_err(|_| PageError::not_found("no such device"))?;
    let actor = user.actor();
    let outcome: Result<&str, ApiError> = match action.as_str() {
        "disable" | "enable" => admin.set_device_disabled(&actor, &name, action == "disable").await.map(|()| if action == "disable" { "device-disabled" } else { "device-enabled" }).map_err(ApiError::from),
        "settings" => match form.edit() {
            Ok(edit) => admin.edit_device(&actor, &name, edit).await.map(|_| "device-changed").map_err(ApiError::from),
            Err(m) => Err(ApiError::bad_request(m)),
        },
        "credential" => {
            let credential = Credential::Password(form.password.clone().unwrap_or_default());
            admin.rotate_device_credential(&actor, &name, &credential).await.map(|()| "device-rotated").map_err(ApiError::from)
        }
        "host-key" => admin.repin_device(&actor, &name, form.host_key.as_deref().unwrap_or_default(), PinSource::Given).await.map(|_| "device-repinned").map_err(ApiError::from),
        _ => return Err(PageError::not_found("no such action")),
    };
    match outcome {
        // Enabling and disabling are also buttons of the list, which they return to.
        Ok(done @ ("device-disabled" | "device-enabled")) => Ok(Redirect::to(&format!("/admin/devices?done={done}&id={name}")).into_response()),
        Ok(done) => Ok(Redirect::to(&format!("/admin/devices/{name}?done={done}&id={name}")).into_response()),
        Err(e) if e.status.is_server_error() => Err(e.into()),
        Err(e) => render(&frame, &store, &user, &name, Notice::error(e.message), e.status).await,
    }
}
