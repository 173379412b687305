//! What handlers can reach. [`AppState`] is what the binary hands in: the opened core
//! services, the token keys and the few settings the pages show. Handlers never take it
//! whole: each takes only the parts it uses (axum's `FromRef`), so a handler's signature says
//! which services it touches. The parts are small clonable handles of [`portcullis_core`]
//! (`Store`, `Approvals`, `Alerts`, `AuditLog`, `WebAuth`, `Admin`, `LiveHub`, `Arc<Config>`), the
//! token keys, [`Site`], and two bundles: [`Gate`] (what checks who is asking) and
//! [`crate::pages::Frame`] (what the frame of every page shows; built from the
//! state in the pages module, which imports this one).

use crate::auth::token::TokenKeys;
use crate::auth::Gate;
use crate::sso::Sso;
use axum::extract::FromRef;
use portcullis_core::admin::Admin;
use portcullis_core::alerts::Alerts;
use portcullis_core::breakglass::BreakGlass;
use portcullis_core::approvals::Approvals;
use portcullis_core::audit::AuditLog;
use portcullis_core::backlog::Backlog;
use portcullis_core::live::LiveHub;
use portcullis_core::store::Store;
use portcullis_core::recstore::RecStore;
use portcullis_core::webauth::WebAuth;
use portcullis_core::shards::Shards;
use portcullis_core::{Config, Context};
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
    /// Single sign-on with the OpenID provider (`[oidc]`), if configured.
    pub sso: Option<Arc<Sso>>,
}

impl AppState {
    /// Builds the state from an opened context and loaded keys.
    pub fn new(ctx: Context, keys: TokenKeys, name: String, version: &'static str) -> AppState {
        let admin = Admin::from_context(&ctx);
        AppState { ctx, admin, keys: Arc::new(keys), name, version, sso: None }
    }

    /// Adds single sign-on.
    pub fn with_sso(mut self, sso: Sso) -> AppState {
        self.sso = Some(Arc::new(sso));
        self
    }
}

/// The site's name (page footers) and the build's version (`/healthz`).
#[derive(Clone, Debug)]
pub struct Site {
    pub name: String,
    pub version: &'static str,
}

impl FromRef<AppState> for Site {
    fn from_ref(s: &AppState) -> Site {
        Site { name: s.name.clone(), version: s.version }
    }
}

impl FromRef<AppState> for Gate {
    fn from_ref(s: &AppState) -> Gate {
        Gate { keys: s.keys.clone(), webauth: s.ctx.webauth.clone(), config: s.ctx.config.clone() }
    }
}


/// `FromRef<AppState>` for parts that are a clone of one field.
macro_rules! part {
    ($($ty:ty => $($field:ident).+;)*) => {
        $(impl FromRef<AppState> for $ty {
            fn from_ref(s: &AppState) -> $ty {
                s.$($field).+.clone()
            }
        })*
    };
}

part! {
    Store => ctx.store;
    RecStore => ctx.recstore;
    Approvals => ctx.approvals;
    Alerts => ctx.alerts;
    BreakGlass => ctx.breakglass;
    AuditLog => ctx.audit;
    WebAuth => ctx.webauth;
    LiveHub => ctx.live;
    Backlog => ctx.backlog;
    Shards => ctx.shards;
    Arc<Config> => ctx.config;
    Admin => admin;
    Arc<TokenKeys> => keys;
    Option<Arc<Sso>> => sso;
}
