//! Devices, for admins: the list with the policy and maintenance windows that apply to each
//! (the configured windows listed below it), adding a device (its
//! address, login, password credential and pinned host key line) and disabling or enabling
//! one; each device's own page ([`super::admin_device`]) changes it. Credentials go in and
//! are sealed by the core; they are never shown.

use super::error::PageError;
use super::flash::FlashQuery;
use super::layout::{self, Frame, Notice, Tab};
use super::requests::criticality;
use super::visitor::require;
use crate::api::error::ApiError;
use crate::auth::{Authed, HasCsrf, PageForm, PageUser};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{html, Markup};
use portcullis_core::admin::input::host_key_fingerprint;
use portcullis_core::admin::{Admin, NewDeviceSpec};
use portcullis_core::approvals::Approvals;
use portcullis_core::domain::{Criticality, DeviceName, Role, Zone};
use portcullis_core::store::{DeviceRecord, Store};
use portcullis_core::vault::Credential;
use serde::Deserialize;

/// Who may manage devices.
pub(super) const ADMINS: &[Role] = &[Role::Admin];

fn device_row(approvals: &Approvals, admin: &Authed, d: &DeviceRecord) -> Markup {
    let rule = approvals.policy().rule(d.criticality, &d.zone);
    let (action, label) = if d.disabled { ("enable", "Enable") } else { ("disable", "Disable") };
    let ports: Vec<String> = d.tcp_ports.iter().map(u16::to_string).collect();
    // The full fingerprint is in the tooltip; the column shows its start.
    let fingerprint = host_key_fingerprint(&d.host_key).unwrap_or_default();
    let short_fingerprint = match fingerprint.char_indices().nth(19) {
        Some((i, _)) => format!("{}…", &fingerprint[..i]),
        None => fingerprint.clone(),
    };
    html! {
        tr data-device=(d.name.as_str()) {
            td { (d.name.as_str()) br; small { (d.login) "@" (d.address) } }
            td { (criticality(d.criticality.as_str())) br; small { "zone " (d.zone.as_str()) } }
            td { (rule.approvals) " approver" @if rule.approvals != 1 { "s" } br; small { "≤ " (rule.max_minutes) " min" } }
            td.window { (super::windows::device_cell(approvals, d)) }
            td { @if ports.is_empty() { "—" } @else { (ports.join(", ")) } }
            td { small.mono title=(fingerprint) { (short_fingerprint) } }
            td { span class={ "state state-" (if d.disabled { "disabled" } else { "active" }) } { (if d.disabled { "disabled" } else { "active" }) } }
            td {
                a.button.small href={ "/admin/devices/" (d.name.as_str()) } { "Change…" }
                " "
                form.inline method="post" action={ "/admin/devices/" (d.name.as_str()) "/" (action) } {
                    (layout::csrf(admin))
                    button.small type="submit" { (label) }
                }
            }
        }
    }
}

fn add_form(admin: &Authed) -> Markup {
    html! {
        form #add-device .card method="post" action="/admin/devices" {
            h2 { "Add a device" }
            (layout::csrf(admin))
            div.row {
                label { "Name" input name="name" type="text" required placeholder="infusion-pump-12" autocapitalize="none"; }
                label { "Address" input name="address" type="text" required placeholder="10.20.0.12:22"; }
                label { "Login" input name="login" type="text" required placeholder="service" autocapitalize="none"; }
            }
            div.row {
                label { "Password" input name="password" type="password" required autocomplete="off"; }
                label {
                    "Criticality"
                    select name="criticality" {
                        @for c in Criticality::ALL { option value=(c.as_str()) selected[*c == Criticality::Standard] { (c.as_str()) } }
                    }
                }
                label { "Zone" input name="zone" type="text" required placeholder="icu" autocapitalize="none"; }
            }
            label { "Host key line (as in known_hosts, without the host name)" textarea name="host_key" rows="2" required placeholder="ssh-ed25519 AAAA…" {} }
            label { "TCP ports a grant may forward (comma separated, optional)" input name="tcp_ports" type="text" placeholder="443, 8080"; }
            label.choice { input type="checkbox" name="phi" value="1"; span { "Tagged " strong { "phi" } ": its screens can show patient data" } }
            button.primary type="submit" { "Add device" }
        }
    }
}

/// The zones of the devices, each with its "Contain…" button, and the containments in force.
fn zones(devices: &[DeviceRecord], contained: &[portcullis_core::store::ContainmentRecord]) -> Markup {
    let mut zones: Vec<&str> = devices.iter().map(|d| d.zone.as_str()).collect();
    zones.sort_unstable();
    zones.dedup();
    html! {
        section.zones aria-label="Zones" {
            @for c in contained {
                p.contained role="status" data-containment=(c.id) {
                    strong { (c.scope) " is contained" } " (#" (c.id) ", by " (c.ordered_by) "): " (c.reason) " "
                    a.button.small href={ "/admin/contain/" (c.scope.kind()) "/" (c.scope.name()) } { "Details / lift…" }
                }
            }
            @if !zones.is_empty() {
                p { "Zones: " @for z in &zones {
                    span.zone data-zone=(z) { (z) " " a.button.small.contain href={ "/admin/contain/zone/" (z) } { "Contain zone " (z) "…" } } " "
                } }
            }
        }
    }
}

/// The services the devices page reads.
#[derive(Clone, Copy)]
struct Sources<'a> {
    frame: &'a Frame,
    store: &'a Store,
    approvals: &'a Approvals,
}

async fn render(pages: Sources<'_>, admin: &Authed, notice: Notice, status: StatusCode) -> Result<Response, PageError> {
    let devices = pages.store.list_devices().await.map_err(ApiError::from)?;
    let contained = pages.store.containments(true, 500).await.map_err(ApiError::from)?;
    let body = html! {
        h1 { "Devices" }
        (zones(&devices, &contained))
        div.scroll role="region" aria-label="Devices" tabindex="0" {
            table.devices {
                thead { tr { th { "Device" } th { "Criticality" } th { "Policy" } th { "Maintenance" } th { "Ports" } th { "Host key" } th { "State" } th { span.sr-only { "Actions" } } } }
                tbody { @for d in &devices { (device_row(pages.approvals, admin, d)) } }
            }
        }
        (super::windows::section(pages.approvals))
        (add_form(admin))
    };
    Ok((status, layout::page(pages.frame, admin, Tab::Devices, "Devices", notice, body).await).into_response())
}

/// `GET /admin/devices`.
pub async fn list(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    PageUser(user): PageUser,
    flash: Result<Query<FlashQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    require(&user, ADMINS, "manage devices")?;
    render(Sources { frame: &frame, store: &store, approvals: &approvals }, &user, Notice::flash(flash.ok().and_then(|Query(f)| f.message())), StatusCode::OK).await
}

/// The new-device form.
#[derive(Deserialize)]
pub struct NewDevice {
    #[serde(rename = "_csrf")]
    csrf: String,
    name: String,
    address: String,
    login: String,
    password: String,
    host_key: String,
    criticality: String,
    zone: String,
    #[serde(default)]
    tcp_ports: String,
    /// The phi checkbox (absent when unticked).
    phi: Option<String>,
}

impl HasCsrf for NewDevice {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl NewDevice {
    fn spec(self) -> Result<NewDeviceSpec, String> {
        let ports = self
            .tcp_ports
            .split([',', ' '])
            .filter(|p| !p.is_empty())
            .map(|p| p.parse::<u16>().map_err(|_| format!("{p:?} is not a TCP port")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(NewDeviceSpec {
            name: DeviceName::parse(self.name.trim()).map_err(|e| e.to_string())?,
            address: self.address,
            login: self.login,
            credential: Credential::Password(self.password),
            host_key: self.host_key,
            criticality: Criticality::parse(&self.criticality).map_err(|e| e.to_string())?,
            zone: Zone::parse(self.zone.trim()).map_err(|e| e.to_string())?,
            tcp_ports: ports,
            phi: self.phi.is_some(),
        })
    }
}

async fn refused(pages: Sources<'_>, admin: &Authed, e: ApiError) -> Result<Response, PageError> {
    if e.status.is_server_error() {
        return Err(e.into());
    }
    render(pages, admin, Notice::error(e.message), e.status).await
}

/// `POST /admin/devices`.
pub async fn create(
    State(frame): State<Frame>,
    State(store): State<Store>,
    State(approvals): State<Approvals>,
    State(admin): State<Admin>,
    PageForm { user, form }: PageForm<NewDevice>,
) -> Result<Response, PageError> {
    let pages = Sources { frame: &frame, store: &store, approvals: &approvals };
    require(&user, ADMINS, "manage devices")?;
    let spec = match form.spec() {
        Ok(s) => s,
        Err(m) => return refused(pages, &user, ApiError::bad_request(m)).await,
    };
    let name = spec.name.clone();
    match admin.create_device(&user.actor(), spec).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/devices?done=device-added&id={name}")).into_response()),
        Err(e) => refused(pages, &user, e.into()).await,
    }
}
