//! Maintenance windows on the admin pages: the list of configured windows with what each
//! covers and its next opening, and the cell that says where one device stands now. Windows
//! come from the configuration (`[[maintenance.windows]]`, put in force by a restart or a
//! reload); the pages show them and do not edit them.

use maud::{html, Markup};
use portcullis_core::approvals::Approvals;
use portcullis_core::clock;
use portcullis_core::maintenance::WindowStatus;
use portcullis_core::store::DeviceRecord;

/// Where `d` stands against its windows now: "—" when none covers it.
pub fn device_cell(approvals: &Approvals, d: &DeviceRecord) -> Markup {
    let status = approvals.policy().window_status(&d.name, &d.zone, clock::now());
    let rule = approvals.policy().rule(d.criticality, &d.zone);
    html! {
        @match &status {
            WindowStatus::Unrestricted => { "—" }
            WindowStatus::Inside(o) => {
                span.window-open { "open: " (o.window) } br; small { "until " (o.until()) }
            }
            WindowStatus::Outside(next) => {
                span.window-closed { "closed" } " " small { "(" (rule.outside_window.as_str()) " outside)" }
                @if let Some(o) = next { br; small { "next: " (o.window) ", " (o.local_start) } }
            }
        }
    }
}

/// The configured windows: name, what it covers, when, the next opening.
pub fn section(approvals: &Approvals) -> Markup {
    let windows = approvals.policy().windows();
    let now = clock::now();
    html! {
        section #maintenance-windows .card {
            h2 { "Maintenance windows" }
            p.hint { "Windows come from the configuration ([[maintenance.windows]]); a reload (SIGHUP) or a restart puts changes in force. What a request outside a window needs is the policy's outside_window." }
            @if windows.all().is_empty() {
                p { "No maintenance windows are configured: no device is restricted by them." }
            } @else {
                div.scroll role="region" aria-label="Maintenance windows" tabindex="0" {
                    table.windows {
                        thead { tr { th { "Window" } th { "Covers" } th { "When" } th { "Next opening" } } }
                        tbody {
                            @for w in windows.all() {
                                tr data-window=(w.name) {
                                    td { (w.name) }
                                    td {
                                        @if let Some(z) = &w.zone { "zone " (z.as_str()) }
                                        @if w.zone.is_some() && w.device.is_some() { ", " }
                                        @if let Some(d) = &w.device { "device " (d.as_str()) }
                                    }
                                    td { (w.describe()) }
                                    td {
                                        @match w.current_or_next(now) {
                                            Some(o) if o.starts_at <= now => { "open now, until " (o.until()) }
                                            Some(o) => { (o.describe()) }
                                            None => { "none is due to open" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
