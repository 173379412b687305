//! The change feed across processes: on PostgreSQL a decision made by another process (here
//! the CLI) reaches the vendor waiting in `portcullis serve` through LISTEN/NOTIFY. The
//! safety-net poll is set to an hour, so nothing else could wake the waiting session.

use crate::harness::pg::TestDb;
use crate::harness::scenario::{Setup, APPROVERS};
use std::time::Duration;

#[test]
fn postgres_approval_from_another_process_wakes_the_waiting_vendor_without_polling() {
    let db = TestDb::create();
    let s = Setup::new("pump-listen")
        .store(&db.url)
        .serve_env("PORTCULLIS_SESSION_CONTROL_POLL", "1h")
        .start();
    let (mut term, id) = s.interactive_request(10, "INC-9 waiting on LISTEN");
    s.approve(id, APPROVERS[0], &[]).assert_success();
    // The generous limit only fails a hung test; the wake-up itself is immediate.
    term.expect(&format!("request #{id} approved"), Duration::from_secs(30));
}
