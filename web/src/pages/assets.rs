//! The pages' static files (stylesheet, scripts, icon, the session player), compiled into the binary and served
//! from `/static/` with their content type and a long cache lifetime: pages link them with the
//! build's version in the query string, so an upgrade is fetched anew.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../static/app.css") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../static/app.js") },
    Asset { name: "favicon.svg", content_type: "image/svg+xml", body: include_bytes!("../../static/favicon.svg") },
    Asset { name: "replay.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../static/replay.js") },
    Asset { name: "live.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../static/live.js") },
    // asciinema-player from npm (web/player, refreshed by scripts/vendor-player.sh).
    Asset {
        name: "player/asciinema-player.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/player/asciinema-player.min.js"),
    },
    Asset { name: "player/asciinema-player.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../static/player/asciinema-player.css") },
    Asset { name: "player/LICENSE", content_type: "text/plain; charset=utf-8", body: include_bytes!("../../static/player/LICENSE") },
];

/// `Cache-Control` of the static files (one year; URLs change with the version).
pub const LONG_CACHE: &str = "public, max-age=31536000, immutable";

/// `GET /static/{file}`.
pub async fn serve(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|a| a.name == file) {
        Some(a) => ([(CONTENT_TYPE, a.content_type), (CACHE_CONTROL, LONG_CACHE)], a.body).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
