//! Tests of the accept loop on a real loopback listener: each test connection on the server
//! side reports itself to the test and then does only what the test tells it (free its slot,
//! end), so every step waits on an event, never on time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use tokio::io::AsyncReadExt as _;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Longest any single step may take before the test gives up (a safety net, not a measure).
const STEP: Duration = Duration::from_secs(10);

/// A connection as the server side serves it, remote-controlled by the test.
struct Served {
    peer: SocketAddr,
    /// Send an acknowledgement sender: the connection drops its slot, then acknowledges.
    free_slot: oneshot::Sender<oneshot::Sender<()>>,
    /// Send (or drop) to end the connection.
    end: oneshot::Sender<()>,
}

/// A running accept loop and what the test observes of it.
struct Harness {
    addr: SocketAddr,
    /// Every connection handed to `on_conn`, in order.
    seen: mpsc::UnboundedReceiver<Served>,
    /// Peers of connections that ran to their end (not aborted).
    ended: mpsc::UnboundedReceiver<SocketAddr>,
    shutdown: CancellationToken,
    served: JoinHandle<()>,
}

async fn start(caps: Caps) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (ended_tx, ended) = mpsc::unbounded_channel();
    let shutdown = CancellationToken::new();
    let on_conn = move |acc: Accepted| {
        let (free_slot, free_rx) = oneshot::channel::<oneshot::Sender<()>>();
        let (end, end_rx) = oneshot::channel();
        // Reported before the task is spawned, so a refused connection can never be reported.
        seen_tx.send(Served { peer: acc.peer, free_slot, end }).unwrap();
        let ended_tx = ended_tx.clone();
        async move {
            let Accepted { stream, peer, slot } = acc;
            let mut end_rx = end_rx;
            tokio::select! {
                ack = free_rx => {
                    if let Ok(ack) = ack {
                        drop(slot);
                        let _ = ack.send(());
                    }
                    let _ = (&mut end_rx).await;
                }
                _ = &mut end_rx => {}
            }
            drop(stream);
            let _ = ended_tx.send(peer);
        }
    };
    let served = tokio::spawn(serve_connections(listener, caps, shutdown.clone(), on_conn));
    Harness { addr, seen, ended, shutdown, served }
}

impl Harness {
    /// Connects and waits until the loop handed this connection out.
    async fn connect_served(&mut self) -> (TcpStream, Served) {
        let client = TcpStream::connect(self.addr).await.unwrap();
        let served = tokio::time::timeout(STEP, self.seen.recv()).await.unwrap().unwrap();
        assert_eq!(served.peer, client.local_addr().unwrap());
        (client, served)
    }
}

/// Reads until the server closes `client`; true when it did (end of stream or reset).
async fn closed_by_server(client: &mut TcpStream) -> bool {
    let mut buf = [0u8; 16];
    match tokio::time::timeout(STEP, client.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) | Err(_) => false,
    }
}

#[tokio::test]
async fn a_connection_over_the_cap_is_closed_at_once() {
    let mut h = start(Caps::new("test", 1)).await;
    let (_first, first) = h.connect_served().await;
    let mut extra = TcpStream::connect(h.addr).await.unwrap();
    assert!(closed_by_server(&mut extra).await, "the connection over the cap must be closed");
    assert!(h.seen.try_recv().is_err(), "the refused connection must not be served");
    // The first one is untouched: still served, still holding its slot.
    assert!(!first.end.is_closed());
    h.shutdown.cancel();
    drop(first);
    tokio::time::timeout(STEP, h.served).await.unwrap().unwrap();
}

#[tokio::test]
async fn a_freed_slot_lets_the_next_connection_in() {
    let mut h = start(Caps::new("test", 1)).await;
    let (_first_client, first) = h.connect_served().await;
    // Like the broker after authentication: the slot goes, the connection stays.
    let (ack_tx, ack_rx) = oneshot::channel();
    first.free_slot.send(ack_tx).unwrap();
    tokio::time::timeout(STEP, ack_rx).await.unwrap().unwrap();
    let (_second_client, second) = h.connect_served().await;
    assert!(!first.end.is_closed(), "the first connection is still being served");
    h.shutdown.cancel();
    let mut expected = vec![first.peer, second.peer];
    drop((first.end, second));
    tokio::time::timeout(STEP, h.served).await.unwrap().unwrap();
    let mut ended = vec![h.ended.try_recv().unwrap(), h.ended.try_recv().unwrap()];
    ended.sort();
    expected.sort();
    assert_eq!(ended, expected, "both ran to their end");
}

#[tokio::test]
async fn shutdown_stops_accepting_and_waits_for_connections() {
    let caps = Caps { grace: Duration::from_secs(3600), ..Caps::new("test", 8) };
    let mut h = start(caps).await;
    let (_client, served) = h.connect_served().await;
    h.shutdown.cancel();
    // A connection arriving after shutdown is never served: refused, or reset with the listener.
    if let Ok(mut late) = TcpStream::connect(h.addr).await {
        assert!(closed_by_server(&mut late).await, "a connection after shutdown must be closed");
    }
    // The listener is closed, but the loop still waits for the running connection.
    assert!(!h.served.is_finished(), "the loop must wait for its connections");
    assert!(h.seen.try_recv().is_err(), "nothing is accepted after shutdown");
    served.end.send(()).unwrap();
    tokio::time::timeout(STEP, h.served).await.unwrap().unwrap();
    assert_eq!(h.ended.try_recv().unwrap(), served.peer, "the connection ran to its end first");
}

#[tokio::test]
async fn overdue_connections_are_aborted_after_the_grace() {
    let caps = Caps { grace: Duration::ZERO, ..Caps::new("test", 8) };
    let mut h = start(caps).await;
    let (_client, served) = h.connect_served().await;
    h.shutdown.cancel();
    tokio::time::timeout(STEP, h.served).await.unwrap().unwrap();
    assert!(served.end.is_closed(), "the overdue connection was dropped");
    assert!(h.ended.try_recv().is_err(), "it did not run to its end");
}

#[tokio::test]
async fn overdue_connections_may_be_left_running() {
    let caps = Caps { grace: Duration::ZERO, overdue: Overdue::Detach, ..Caps::new("test", 8) };
    let mut h = start(caps).await;
    let (_client, served) = h.connect_served().await;
    h.shutdown.cancel();
    tokio::time::timeout(STEP, h.served).await.unwrap().unwrap();
    assert!(!served.end.is_closed(), "the overdue connection is still running");
    served.end.send(()).unwrap();
    assert_eq!(tokio::time::timeout(STEP, h.ended.recv()).await.unwrap(), Some(served.peer));
}
