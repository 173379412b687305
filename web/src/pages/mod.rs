//! The approvers' pages: server-rendered HTML (maud) over the same core services as the JSON
//! API, for approvers, auditors and admins. Every page works without JavaScript: reading is a
//! GET, every change is a plain form post checked for origin and CSRF token
//! ([`crate::auth::PageForm`]) and answered with a redirect carrying a short flash code, or
//! with the page again and a clear message when the domain refuses. Roles are enforced here
//! on the server, not only by leaving buttons out. Styles and the small script that refreshes
//! the pending badge are compiled into the binary and served from `/static/`.

mod admin_device;
mod alerts;
mod admin_user;
mod admin_devices;
mod admin_users;
mod assets;
mod audit;
mod breakglass;
mod enrol;
mod detail;
mod error;
mod flash;
mod format;
mod history;
mod layout;
mod login;
mod replay;
mod requests;
mod session;
mod sessions;
mod contain;
mod sso;
mod visitor;
mod windows;

use crate::state::AppState;
use axum::routing::{get, post};
use axum::Router;

pub use layout::Frame;

/// Page routes (merged with the API by [`crate::router`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(login::root))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::logout))
        .route("/login/sso", get(sso::start))
        .route("/login/sso/callback", get(sso::callback))
        .route("/login/sso/code", get(sso::code_form).post(sso::code_submit))
        .route("/enrol", get(enrol::form).post(enrol::submit))
        .route("/requests", get(requests::list))
        .route("/requests/{id}/approve", post(requests::approve))
        .route("/requests/{id}/deny", post(requests::deny))
        .route("/requests/{id}/revoke", post(requests::revoke))
        .route("/sessions", get(sessions::list))
        .route("/sessions/{id}", get(session::show))
        .route("/sessions/{id}/evidence", post(session::export))
        .route("/sessions/{id}/replay/{channel}", get(replay::show))
        .route("/sessions/{id}/replay/{channel}/cast", get(replay::cast))
        .route("/sessions/{id}/live", get(replay::live))
        .route("/sessions/{id}/stop", get(sessions::confirm).post(sessions::stop))
        .route("/history", get(history::list))
        .route("/audit", get(audit::list))
        .route("/audit/verify", post(audit::verify))
        .route("/alerts", get(alerts::list))
        .route("/alerts/{seq}/acknowledge", post(alerts::acknowledge))
        .route("/breakglass", get(breakglass::list))
        .route("/breakglass/{id}/review", post(breakglass::review))
        .route("/admin/users", get(admin_users::list).post(admin_users::create))
        .route("/admin/users/{name}", get(admin_user::show))
        .route("/admin/users/{name}/{action}", post(admin_user::change))
        .route("/admin/contain/{kind}/{name}", get(contain::confirm).post(contain::order))
        .route("/admin/contain/{kind}/{name}/lift", post(contain::lift))
        .route("/admin/devices", get(admin_devices::list).post(admin_devices::create))
        .route("/admin/devices/{name}", get(admin_device::show))
        .route("/admin/devices/{name}/{action}", post(admin_device::change))
        .route("/static/{*file}", get(assets::serve))
}
