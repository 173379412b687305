//! A real HTTP receiver on 127.0.0.1 for the webhook tests: records each JSON body it
//! accepts. It can be "down" (every connection is closed at once, before any answer), answer
//! 500 a number of times, and refuses with 400 any body whose reason contains `REJECT`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Fails a hung test.
pub const HUNG: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Shared {
    up: AtomicBool,
    /// Requests still to answer with 500.
    fail_next: AtomicUsize,
    /// Every request that reached the handler, answered or not.
    requests: AtomicUsize,
    /// Connections closed while down.
    refused: AtomicUsize,
    /// Bodies accepted (answered 200).
    bodies: Mutex<Vec<Value>>,
    /// Bumped on every event above, to wait on.
    events: Option<watch::Sender<u64>>,
}

impl Shared {
    fn bump(&self) {
        if let Some(tx) = &self.events {
            tx.send_modify(|n| *n += 1);
        }
    }
}

/// The running receiver; stops when dropped.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
    events: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn hook(State(s): State<Arc<Shared>>, Json(body): Json<Value>) -> StatusCode {
    s.requests.fetch_add(1, Ordering::SeqCst);
    let status = if s.fail_next.load(Ordering::SeqCst) > 0 {
        s.fail_next.fetch_sub(1, Ordering::SeqCst);
        StatusCode::INTERNAL_SERVER_ERROR
    } else if body["portcullis"]["reason"].as_str().is_some_and(|r| r.contains("REJECT")) {
        StatusCode::BAD_REQUEST
    } else {
        s.bodies.lock().unwrap().push(body);
        StatusCode::OK
    };
    s.bump();
    status
}

impl Receiver {
    /// Binds 127.0.0.1:0 and starts accepting; `up` says whether it answers.
    pub async fn start(up: bool) -> Receiver {
        let (tx, events) = watch::channel(0);
        let shared = Arc::new(Shared { up: AtomicBool::new(up), events: Some(tx), ..Default::default() });
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = Router::new().route("/hook", post(hook)).with_state(shared.clone());
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else { continue };
                if !s.up.load(Ordering::SeqCst) {
                    drop(sock);
                    s.refused.fetch_add(1, Ordering::SeqCst);
                    s.bump();
                    continue;
                }
                let svc = TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _ = Builder::new(TokioExecutor::new()).serve_connection(TokioIo::new(sock), svc).await;
                });
            }
        });
        Receiver { url, shared, events, task }
    }

    pub fn set_up(&self, up: bool) {
        self.shared.up.store(up, Ordering::SeqCst);
    }

    pub fn fail_next(&self, n: usize) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn requests(&self) -> usize {
        self.shared.requests.load(Ordering::SeqCst)
    }

    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }

    pub fn bodies(&self) -> Vec<Value> {
        self.shared.bodies.lock().unwrap().clone()
    }

    /// Waits until `cond` holds, re-checking on every event.
    pub async fn wait(&self, what: &str, cond: impl Fn(&Receiver) -> bool) {
        let mut events = self.events.clone();
        let wait = async {
            while !cond(self) {
                events.changed().await.unwrap();
            }
        };
        tokio::time::timeout(HUNG, wait).await.unwrap_or_else(|_| panic!("receiver never saw {what}"));
    }
}
