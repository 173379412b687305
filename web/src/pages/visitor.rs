//! Who is looking at a page, beyond the extractors of [`crate::auth`]: a visitor who may or
//! may not be signed in (the root and sign-in pages), a visitor midway through a first
//! sign-in (the enrolment page), and the role check of every page and form.

use super::error::PageError;
use crate::auth::{authenticate, Authed, Gate, Refused};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use portcullis_core::domain::Role;
use portcullis_core::webauth::Scope;

/// A fully signed-in user, if the request carries one.
pub struct MaybeUser(pub Option<Authed>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUser
where
    Gate: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeUser(authenticate(parts, &Gate::from_ref(state), Scope::Full).await.ok()))
    }
}

/// A user signed in with a one-time password who must still enrol; anyone else is sent
/// where they belong (to sign in, or to the requests when already enrolled).
pub struct EnrolUser(pub Authed);

impl<S: Send + Sync> FromRequestParts<S> for EnrolUser
where
    Gate: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match authenticate(parts, &Gate::from_ref(state), Scope::Enrol).await {
            Ok(a) => Ok(EnrolUser(a)),
            Err(Refused::NotSignedIn(_)) => Err(Redirect::to("/login").into_response()),
            Err(Refused::Forbidden(_)) => Err(Redirect::to("/requests").into_response()),
            Err(Refused::Internal(m)) => Err(PageError::from(crate::api::error::ApiError::internal(m)).into_response()),
        }
    }
}

/// Refuses (403 page) unless the user has one of `roles`.
pub fn require(user: &Authed, roles: &[Role], what: &str) -> Result<(), PageError> {
    user.require(roles, what).map_err(PageError::from)
}

/// Whether the user may decide requests and stop sessions.
pub fn decides(user: &Authed) -> bool {
    crate::api::requests::DECIDERS.contains(&user.role())
}
