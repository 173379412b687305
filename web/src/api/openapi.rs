//! The OpenAPI 3.1 document, generated from the handlers' annotations and served at
//! `/api/v1/openapi.json`. Security: the bearer token (scripts) or the sign-in cookie with
//! the `X-CSRF-Token` header (the page).

use super::views::*;
use super::{accounts, alerts, audit, auth, breakglass, containments, device_changes, devices, error, evidence, live, moderation, recordings, requests, sessions, users};
use axum::Json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document.
#[derive(OpenApi)]
#[openapi(
    info(title = "Portcullis API", description = "Approvals, sessions and their recordings, users, devices and the audit log of a Portcullis vendor access broker."),
    paths(
        serve,
        auth::login, auth::logout, auth::enrol, auth::refresh, auth::me,
        requests::list, requests::pending_count, requests::show, requests::create, requests::approve, requests::deny, requests::revoke,
        sessions::list, sessions::show, sessions::stop, sessions::audit, recordings::list, recordings::download, evidence::create, live::watch, moderation::pause, moderation::resume,
        users::list, users::show, users::create, users::disable, users::enable,
        accounts::keys, accounts::add_key, accounts::remove_key, accounts::expiry, accounts::reset_totp, accounts::access,
        devices::list, devices::show, devices::create, device_changes::disable,
        device_changes::edit, device_changes::rotate, device_changes::repin, device_changes::enable, device_changes::import,
        audit::list, audit::verify,
        containments::list, containments::preview, containments::contain, containments::lift,
        alerts::list, alerts::acknowledge,
        breakglass::list, breakglass::show, breakglass::review,
    ),
    components(schemas(
        error::ErrorBody, error::ErrorDetail, TokenView, EnrolmentView, LoginBody, EnrolBody, MeView, GrantView, PolicyView, WindowView, SignoffView,
        RequestView, NewRequestBody, ApproveBody, ApproveView, DenyBody, SessionView, StopBody, UserView, NewUserBody,
        CreatedUserView, DeviceView, NewDeviceBody, CountView, audit::AuditRowView, audit::VerifyView,
        recordings::RecordingView, device_changes::DeviceEditBody, device_changes::CredentialBody,
        device_changes::HostKeyBody, device_changes::RepinView, device_changes::CredentialView,
        device_changes::ImportBody, device_changes::ImportError, device_changes::ImportView,
        super::viewings::ViewingView, accounts::AccessBody, super::moderation::InputView,
        accounts::KeyView, accounts::NewKeyBody, accounts::RemoveKeyBody, accounts::ExpiryBody, accounts::TotpView,
        containments::ContainmentView, containments::ContainBody, containments::LiftBody, containments::PlanView,
        containments::PlanSessionView, containments::PlanRequestView, containments::ContainedView, containments::StoppedView,
        alerts::AlertItem,
        breakglass::BreakGlassView, breakglass::ReviewView, breakglass::ReviewBody, breakglass::ReviewedView,
    )),
    modifiers(&Security),
    security(("bearer" = []), ("cookie" = [])),
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()));
        c.add_security_scheme("cookie", SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::cookie::NAME))));
    }
}

/// This document.
#[utoipa::path(get, operation_id = "openapi_document", path = "/api/v1/openapi.json", tag = "meta", security(()), responses((status = 200, description = "the OpenAPI document")))]
pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
