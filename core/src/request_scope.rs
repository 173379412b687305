//! The id of the request being served, for the rows it writes. The web side runs each HTTP
//! request inside [`scope`] with the id it answers in `x-request-id`; the audit log reads
//! [`current`] when it appends and adds the id to the row's detail (as `request_id`), so a
//! log line, a response and an audit row can be matched up. The id lives in a tokio task
//! local: it follows the request's future wherever it is polled, but not into tasks that
//! future spawns (those run outside any request unless they are scoped again).

use std::future::Future;

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `f` as part of the request `id`.
pub async fn scope<F: Future>(id: String, f: F) -> F::Output {
    REQUEST_ID.scope(id, f).await
}

/// The id of the request being served, if the caller runs inside [`scope`].
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::audit::{self, Event, Kind, Subject};
    use crate::testdb::{audit_log, stores};
    use serde_json::{json, Value};

    #[tokio::test]
    async fn scope_sets_and_ends_the_current_id() {
        assert_eq!(current(), None);
        let inside = scope("req-1".into(), async { current() }).await;
        assert_eq!(inside, Some("req-1".into()));
        let nested = scope("outer".into(), scope("inner".into(), async { current() })).await;
        assert_eq!(nested, Some("inner".into()));
        assert_eq!(current(), None);
    }

    #[tokio::test]
    async fn rows_appended_in_a_scope_carry_its_id() {
        for t in stores().await {
            let log = audit_log(&t.store, 0);
            log.record(Event::new("tester", Kind::UserCreated, Subject::User("u1".into()), json!({ "i": 1 }))).await.unwrap();
            scope("abc-123".into(), async {
                log.record(Event::new("tester", Kind::UserCreated, Subject::User("u2".into()), json!({ "i": 2, "z": true }))).await.unwrap();
                // An id the event already names is kept, and a detail that is not an object
                // is stored as it is.
                log.record(Event::new("tester", Kind::UserCreated, Subject::User("u3".into()), json!({ "request_id": "own" }))).await.unwrap();
                log.record(Event::new("tester", Kind::UserCreated, Subject::User("u4".into()), json!("plain"))).await.unwrap();
            })
            .await;
            let rows = audit::tail(&t.store, 10).await.unwrap();
            let details: Vec<&str> = rows.iter().map(|r| r.detail.as_str()).collect();
            assert_eq!(details, [r#"{"i":1}"#, r#"{"i":2,"request_id":"abc-123","z":true}"#, r#"{"request_id":"own"}"#, r#""plain""#], "{}", t.name);
            let v: Value = serde_json::from_str(&rows[1].detail).unwrap();
            assert_eq!(v["request_id"], "abc-123");
            // The id is inside the hashed detail: the chain still verifies.
            assert!(audit::verify(&t.store, log.signer()).await.unwrap().ok, "{}", t.name);
        }
    }
}
