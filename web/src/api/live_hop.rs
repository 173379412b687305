//! The live view's hop between nodes: a session's terminal is in memory only on the node that
//! runs it, so a viewer signed in on another node is served through this hop.
//!
//! - **Asking** ([`Hop::open`]): the viewer's node has checked the viewer may watch (and
//!   written `session.watched`); it signs a token of [`crate::auth::token::HOP_TTL`] seconds with the shared
//!   `web.token_key`, naming the viewer, the session and the owning node, and asks
//!   `GET WEB_URL/internal/v1/sessions/{id}/live` at the `web_url` of that node's lease. The
//!   connection is TLS pinned to this installation's own certificate (nodes behind HAProxy
//!   in TCP mode serve one certificate): a node that does not hold its key is never sent the
//!   token, and nothing it answers is read.
//! - **Answering** ([`serve`]): only a valid hop token counts (no cookie, no sign-in token),
//!   and only for this node and a session whose terminal runs here; the answer is the
//!   terminal's asciicast lines (the header, the recent screen, then each event), one per
//!   line, until the terminal closes. It carries nothing but that session's frames, so the
//!   hop is no relay to anything else.

use crate::auth::token::TokenKeys;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use portcullis_core::domain::SessionId;
use portcullis_core::live::{FrameKind, LiveHub, Watch};
use portcullis_core::Config;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// The path a node answers hops on.
pub const PATH: &str = "/internal/v1/sessions/{id}/live";

/// Longest a hop may take to connect and answer its first bytes.
const CONNECT: Duration = Duration::from_secs(5);

/// Answers a hop from another node (see the module documentation).
pub async fn serve(State(live): State<LiveHub>, State(keys): State<Arc<TokenKeys>>, State(config): State<Arc<Config>>, axum::extract::Path(id): axum::extract::Path<i64>, headers: HeaderMap) -> Response {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    let Some(claims) = token.and_then(|t| keys.verify_hop(t.trim())) else {
        return (StatusCode::UNAUTHORIZED, "a hop token is needed").into_response();
    };
    if claims.node != config.node.id.as_str() || claims.session != id {
        return (StatusCode::FORBIDDEN, "this token is for another node or session").into_response();
    }
    let session = SessionId(id);
    let mut watch = live.watch(session);
    let Some((channel, head, backlog)) = watch.open.pop() else {
        drop(watch);
        live.release(session);
        return (StatusCode::NOT_FOUND, "no terminal of this session runs on this node").into_response();
    };
    tracing::info!(session = %session, viewer = %claims.sub, "live view served to another node");
    let mut first: VecDeque<String> = VecDeque::from([head.to_string()]);
    first.extend(backlog.into_iter().map(|l| l.to_string()));
    let feed = Feed { live, session, watch: Some(watch), channel, first };
    let body = futures_util::stream::unfold(feed, |mut f| async move { f.next().await.map(|line| (Ok::<_, std::io::Error>(line + "\n"), f)) });
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], Body::from_stream(body)).into_response()
}

/// One terminal's lines for a hop; gives its watch back to the hub when dropped.
struct Feed {
    live: LiveHub,
    session: SessionId,
    watch: Option<Watch>,
    channel: u32,
    /// The header and the recent screen, sent first.
    first: VecDeque<String>,
}

impl Feed {
    async fn next(&mut self) -> Option<String> {
        if let Some(line) = self.first.pop_front() {
            return Some(line);
        }
        let watch = self.watch.as_mut()?;
        loop {
            match watch.frames.recv().await {
                Ok(f) if f.channel != self.channel => {}
                Ok(f) => match f.kind {
                    FrameKind::Event(line) => return Some(line.to_string()),
                    FrameKind::Header(_) => {}
                    FrameKind::End => return None,
                },
                // A hop that falls behind ends; the viewer's node starts it again.
                Err(RecvError::Lagged(_) | RecvError::Closed) => return None,
            }
        }
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        drop(self.watch.take());
        self.live.release(self.session);
    }
}

/// A hop being read: the lines of the owning node's answer.
pub struct Hop {
    resp: reqwest::Response,
    partial: Vec<u8>,
}

impl Hop {
    /// Asks the node at `web_url` (its lease's) for session `id` on behalf of `viewer`;
    /// `node` is that node's id, `cert` this installation's certificate file.
    pub async fn open(keys: &TokenKeys, cert: &std::path::Path, web_url: &str, node: &str, id: SessionId, viewer: &str) -> Result<Hop, String> {
        let pinned = CertificateDer::from_pem_file(cert).map_err(|e| format!("{}: {e}", cert.display()))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned { cert: pinned, provider }))
            .with_no_client_auth();
        let client = reqwest::Client::builder().tls_backend_preconfigured(tls).connect_timeout(CONNECT).build().map_err(|e| e.to_string())?;
        let token = keys.issue_hop(viewer, id.0, node).map_err(|e| e.to_string())?;
        let url = format!("{}{}", web_url.trim_end_matches('/'), PATH.replace("{id}", &id.0.to_string()));
        let resp = tokio::time::timeout(CONNECT, client.get(&url).bearer_auth(token).send())
            .await
            .map_err(|_| format!("{url}: no answer within {CONNECT:?}"))?
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: {}", resp.status()));
        }
        Ok(Hop { resp, partial: Vec::new() })
    }

    /// The next complete lines; None when the owning node ended the answer.
    pub async fn lines(&mut self) -> Option<Vec<String>> {
        loop {
            let chunk = self.resp.chunk().await.ok()??;
            self.partial.extend_from_slice(&chunk);
            if self.partial.len() > super::live_tail::MAX_LINE {
                return None;
            }
            if let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') {
                let rest = self.partial.split_off(end + 1);
                let done = std::mem::replace(&mut self.partial, rest);
                let text = String::from_utf8_lossy(&done).into_owned();
                return Some(text.lines().map(str::to_owned).collect());
            }
        }
    }
}

/// Accepts only a peer that presents this installation's own certificate (and proves it
/// holds its key, by the handshake signatures checked below).
#[derive(Debug)]
struct Pinned {
    cert: CertificateDer<'static>,
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(&self, end_entity: &CertificateDer<'_>, _: &[CertificateDer<'_>], _: &ServerName<'_>, _: &[u8], _: UnixTime) -> Result<ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.cert.as_ref() {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("the node does not present this installation's certificate".into()))
        }
    }

    fn verify_tls12_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(&self, message: &[u8], cert: &CertificateDer<'_>, dss: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
