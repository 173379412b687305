//! What every handler can reach: the opened core services, the token keys and the few
//! settings the pages show.

use crate::auth::token::TokenKeys;
use portcullis_core::admin::Admin;
use portcullis_core::Context;
use std::sync::Arc;

/// Shared, cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    pub ctx: Context,
    pub admin: Admin,
    pub keys: Arc<TokenKeys>,
    /// Shown in page titles.
    pub name: String,
    /// Reported by `/healthz`.
    pub version: &'static str,
}

impl AppState {
    /// Builds the state from an opened context and loaded keys.
    pub fn new(ctx: Context, keys: TokenKeys, name: String, version: &'static str) -> AppState {
        let admin = Admin::from_context(&ctx);
        AppState { ctx, admin, keys: Arc::new(keys), name, version }
    }
}
