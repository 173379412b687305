//! The frame of every page: head (stylesheet and script from `/static/`, phone-width
//! viewport), the navigation bar with the pending-request badge, the signed-in user and the
//! sign-out form, and the flash and error lines above the content.

use crate::auth::Authed;
use crate::state::{AppState, Site};
use axum::extract::FromRef;
use maud::{html, Markup, DOCTYPE};
use portcullis_core::domain::{RequestState, Role};
use portcullis_core::store::Store;

/// What the frame of a signed-in page needs: where the pending badge is counted, and the
/// site's name for the footer.
#[derive(Clone, Debug)]
pub struct Frame {
    pub store: Store,
    pub site: Site,
}

/// Appended to asset URLs so a new build is fetched despite the long cache.
const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Which navigation entry is the current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Requests,
    Sessions,
    History,
    Users,
    Devices,
    Audit,
    Alerts,
    BreakGlass,
}

/// The lines shown above a page's content.
#[derive(Debug, Default)]
pub struct Notice {
    /// Confirmation of what was just done (`.flash`).
    pub flash: Option<String>,
    /// Why what was just tried did not happen (`.error`).
    pub error: Option<String>,
}

impl Notice {
    pub fn flash(flash: Option<String>) -> Notice {
        Notice { flash, error: None }
    }
    pub fn error(error: impl Into<String>) -> Notice {
        Notice { flash: None, error: Some(error.into()) }
    }
}

fn head(title: &str, extra: Markup) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // The server's header says `no-referrer`; under it a browser sends `Origin: null`
            // on form posts, which the Origin check must refuse. `same-origin` keeps the
            // Referer and Origin inside this site only, so our own forms pass.
            meta name="referrer" content="same-origin";
            title { (title) " · Portcullis" }
            link rel="icon" type="image/svg+xml" href={ "/static/favicon.svg?v=" (ASSET_VERSION) };
            link rel="stylesheet" href={ "/static/app.css?v=" (ASSET_VERSION) };
            script src={ "/static/app.js?v=" (ASSET_VERSION) } defer {}
            (extra)
        }
    }
}

/// A stylesheet and scripts from `/static/` for one page (the player's), in order.
pub fn assets(styles: &[&str], scripts: &[&str]) -> Markup {
    html! {
        @for s in styles { link rel="stylesheet" href={ "/static/" (s) "?v=" (ASSET_VERSION) }; }
        @for s in scripts { script src={ "/static/" (s) "?v=" (ASSET_VERSION) } defer {} }
    }
}

/// A page without navigation (sign-in, enrolment, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, html! {}))
            body.bare {
                main.narrow {
                    p.brand { span.logo aria-hidden="true" { "▥" } " Portcullis" }
                    (body)
                }
            }
        }
    }
}

/// The number of pending requests, for the badge (none shown if it cannot be read). An
/// auditor limited to zones gets its own count from the API (the page's script), never the
/// installation's.
async fn pending(frame: &Frame, user: &Authed) -> Option<usize> {
    if !user.session.user.zones.is_everywhere() {
        return None;
    }
    frame.store.count_requests(RequestState::Pending).await.ok().map(|n| n.max(0) as usize)
}

fn nav(user: &Authed, tab: Tab, pending: Option<usize>) -> Markup {
    let link = |t: Tab, href: &str, label: &str| {
        html! { a href=(href) aria-current=[(t == tab).then_some("page")] { (label) } }
    };
    html! {
        header.top {
            nav.bar aria-label="Main" {
                a.brand href="/requests" { span.logo aria-hidden="true" { "▥" } " Portcullis" }
                div.links {
                    a href="/requests" aria-current=[(tab == Tab::Requests).then_some("page")] {
                        "Requests "
                        @if let Some(n) = pending {
                            span #pending-badge .badge data-count=(n) aria-label={ (n) " pending" } { (n) }
                        }
                    }
                    (link(Tab::Sessions, "/sessions", "Sessions"))
                    (link(Tab::History, "/history", "History"))
                    @if matches!(user.role(), Role::Approver | Role::Auditor | Role::Admin) {
                        (link(Tab::Alerts, "/alerts", "Alerts"))
                        (link(Tab::BreakGlass, "/breakglass", "Break-glass"))
                    }
                    @if matches!(user.role(), Role::Auditor | Role::Admin) && portcullis_core::viewing::whole_log(&user.session.user) {
                        (link(Tab::Audit, "/audit", "Audit log"))
                    }
                    @if user.role() == Role::Admin {
                        (link(Tab::Users, "/admin/users", "Users"))
                        (link(Tab::Devices, "/admin/devices", "Devices"))
                    }
                }
                div.who {
                    span.user { (user.name().as_str()) " " span.role { (user.role().as_str()) } }
                    form.logout method="post" action="/logout" {
                        input type="hidden" name="_csrf" value=(user.csrf);
                        button.link type="submit" { "Sign out" }
                    }
                }
            }
        }
    }
}

/// A page for a signed-in user.
pub async fn page(frame: &Frame, user: &Authed, tab: Tab, title: &str, notice: Notice, body: Markup) -> Markup {
    page_with(frame, user, tab, title, notice, html! {}, body).await
}

/// A page for a signed-in user with more in its head ([`assets`]).
pub async fn page_with(frame: &Frame, user: &Authed, tab: Tab, title: &str, notice: Notice, extra_head: Markup, body: Markup) -> Markup {
    let pending = pending(frame, user).await;
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, extra_head))
            body {
                (nav(user, tab, pending))
                main {
                    @if let Some(f) = &notice.flash { p.flash role="status" { (f) } }
                    @if let Some(e) = &notice.error { p.error role="alert" { (e) } }
                    (body)
                }
                footer { (frame.site.name) }
            }
        }
    }
}

/// The hidden CSRF field of a form.
pub fn csrf(user: &Authed) -> Markup {
    html! { input type="hidden" name="_csrf" value=(user.csrf); }
}

/// The frame is built from the state here, not in `state`, so that `state` needs no page type.
impl FromRef<AppState> for Frame {
    fn from_ref(s: &AppState) -> Frame {
        Frame { store: s.ctx.store.clone(), site: Site::from_ref(s) }
    }
}
