//! Behind a real HAProxy (`deploy/haproxy.cfg`, TCP mode, `send-proxy-v2`): the broker trusts
//! HAProxy's address (127.0.0.1) and takes the client's address from its PROXY v2 header, so
//! the audit rows of a vendor's SSH sign-in (from 127.0.0.2) and of a staff web sign-in (from
//! 127.0.0.3) carry those addresses, not HAProxy's, and so does the row of an auditor's
//! download of a recording (from 127.0.0.4). Hostile: a connection from the trusted
//! address without a header is closed, and a header sent from an untrusted address is not
//! honoured (the spoofed address appears nowhere).

use crate::harness::browser::{base_url, web_user};
use crate::harness::haproxy::{Haproxy, NodeAddrs};
use crate::harness::proc;
use crate::harness::scenario::{Setup, VENDOR};
use serde_json::Value;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);

fn peer_of(row: &Value) -> String {
    row["detail"]["peer"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn through_haproxy_the_audit_rows_carry_the_clients_real_addresses() {
    let s = Setup::new("infusion-hx").serve_env("PORTCULLIS_PROXY_TRUSTED", "127.0.0.1/32").start();
    let node = NodeAddrs { ssh: s.broker.ssh_addr(), web: s.broker.web_addr() };
    let hx = Haproxy::start(&[node]);

    // A vendor from 127.0.0.2 signs in to the lobby through HAProxy.
    let out = s.vendor.exec(hx.ssh, VENDOR, &["-o", "BindAddress=127.0.0.2"], "true");
    let login = s.broker.wait_for_audit("auth.login", WAIT, |r| r["actor"] == VENDOR);
    assert!(peer_of(&login).starts_with("127.0.0.2"), "vendor's sign-in row has peer {:?}, not 127.0.0.2:\n{login}\nssh: {}", peer_of(&login), out.describe());

    // A staff member from 127.0.0.3 signs in on the web page through HAProxy.
    let u = web_user(&s.broker, "carol", "approver");
    let url = base_url(hx.web);
    let code = s.broker.totp("carol").next_code();
    let status = proc::tool("curl", &[
        "-sk", "--interface", "127.0.0.3", "-o", "/dev/null", "-w", "%{http_code}", "-H", &format!("Origin: {url}"),
        "--data-urlencode", &format!("username={}", u.name), "--data-urlencode", &format!("password={}", u.password),
        "--data-urlencode", &format!("code={code}"), &format!("{url}/login"),
    ]);
    assert_eq!(status.trim(), "303", "web sign-in through haproxy refused");
    let login = s.broker.wait_for_audit("auth.login", WAIT, |r| r["actor"] == "carol");
    assert!(peer_of(&login).starts_with("127.0.0.3"), "web sign-in row has peer {:?}, not 127.0.0.3:\n{login}", peer_of(&login));

    // No row names HAProxy's own address as a client's.
    for row in s.broker.audit() {
        assert!(!peer_of(&row).starts_with("127.0.0.1"), "a row carries HAProxy's address:\n{row}");
    }
}

#[test]
fn through_haproxy_a_recordings_download_is_audited_with_the_auditors_real_address() {
    let s = Setup::new("infusion-hy").serve_env("PORTCULLIS_PROXY_TRUSTED", "127.0.0.1/32").start();
    let node = NodeAddrs { ssh: s.broker.ssh_addr(), web: s.broker.web_addr() };
    let hx = Haproxy::start(&[node]);
    // The vendor comes through HAProxy too (a direct connection from the trusted address
    // without a header is closed).
    let asked = s.vendor.exec(hx.ssh, VENDOR, &[], "request infusion-hy --minutes 30 --reason 'INC-7400 download through the proxy'");
    asked.assert_success();
    let id = crate::harness::broker::parse_request_id(&asked.all_text()).unwrap_or_else(|| panic!("{}", asked.describe()));
    s.approve(id, crate::harness::scenario::APPROVERS[0], &[]).assert_success();
    s.wait_request_state(id, "approved", WAIT);
    s.vendor.exec(hx.ssh, &s.device_login(), &[], "echo through-the-proxy").assert_success();
    let session = s.wait_session_ended(id, WAIT);
    let sid = session["id"].as_u64().expect("session id");
    s.broker.wait_for_audit("recording.sealed", WAIT, |r| r["subject"] == format!("session:{sid}"));

    // An auditor at 127.0.0.4 signs in to the API and downloads the recording, through HAProxy.
    let u = web_user(&s.broker, "dana", "auditor");
    let url = base_url(hx.web);
    let code = s.broker.totp("dana").next_code();
    let body = serde_json::json!({ "username": u.name, "password": u.password, "code": code }).to_string();
    let login = proc::tool("curl", &["-sk", "--interface", "127.0.0.4", "-H", "content-type: application/json", "-d", &body, &format!("{url}/api/v1/auth/login")]);
    let token = serde_json::from_str::<Value>(&login).ok().and_then(|v| v["token"].as_str().map(str::to_owned)).unwrap_or_else(|| panic!("no token: {login}"));
    let file = proc::tool("curl", &["-sk", "--interface", "127.0.0.4", "-H", &format!("authorization: Bearer {token}"), &format!("{url}/api/v1/sessions/{sid}/recordings/1")]);
    assert!(file.contains("through-the-proxy"), "{file}");
    let row = s.broker.wait_for_audit("recording.downloaded", WAIT, |r| r["actor"] == "dana");
    let via = row["detail"]["via"].as_str().unwrap_or_default();
    assert!(via.starts_with("web 127.0.0.4:"), "the download row does not name the auditor's address: {row}");
}

/// Hostile: from the trusted address, a connection without a PROXY header (a vendor going
/// round HAProxy, say) is closed before the SSH version exchange, and the refusal is logged.
#[test]
fn a_connection_from_the_trusted_proxy_without_a_header_is_closed() {
    let s = Setup::new("infusion-hy").serve_env("PORTCULLIS_PROXY_TRUSTED", "127.0.0.1/32").start();
    let out = s.vendor.exec(s.broker.ssh_addr(), VENDOR, &["-o", "BindAddress=127.0.0.1"], "true");
    assert!(!out.status.success(), "a headerless connection from the trusted proxy was served:\n{}", out.describe());
    assert!(
        proc::poll(WAIT, || s.broker.server_output().contains("no valid PROXY v2 header").then_some(())).is_some(),
        "the refusal was not logged:\n{}",
        s.broker.server_output()
    );
    assert!(s.broker.audit_of_kind("auth.login").is_empty(), "a sign-in got through");
}

/// A `ProxyCommand` that opens the TCP connection itself and writes a PROXY v2 header
/// claiming 198.51.100.9:40000 before relaying the ssh client's bytes, as a vendor trying to
/// pass for another address would.
const SPOOFING_RELAY: &str = r#"
import os, socket, sys, threading
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes([198, 51, 100, 9, 127, 0, 0, 1]) + (40000).to_bytes(2, "big") + (22).to_bytes(2, "big"))
def up():
    while True:
        d = os.read(0, 65536)
        if not d:
            s.shutdown(socket.SHUT_WR)
            return
        s.sendall(d)
threading.Thread(target=up, daemon=True).start()
while True:
    d = s.recv(65536)
    if not d:
        break
    os.write(1, d)
"#;

/// Hostile: from an address that is not a trusted proxy, a PROXY v2 header is not read: it is
/// the protocol's first bytes, the SSH version exchange fails, and the claimed address reaches
/// no audit row or log line. (Were the header honoured, the vendor would sign in as
/// 198.51.100.9.)
#[test]
fn a_header_from_an_untrusted_address_is_not_honoured() {
    let s = Setup::new("infusion-hz").serve_env("PORTCULLIS_PROXY_TRUSTED", "127.0.0.9/32").start();
    let dir = tempfile::tempdir().unwrap();
    let relay = dir.path().join("relay.py");
    std::fs::write(&relay, SPOOFING_RELAY).unwrap();
    let proxy_command = format!("ProxyCommand=python3 {} {}", relay.display(), s.broker.ssh_addr().port());
    let out = s.vendor.exec(s.broker.ssh_addr(), VENDOR, &["-o", &proxy_command], "true");
    assert!(!out.status.success(), "the spoofing client was served:\n{}", out.describe());
    // A plain vendor from the same address still signs in, under its own address.
    let _ = s.vendor.exec(s.broker.ssh_addr(), VENDOR, &[], "true");
    let logins = s.broker.wait_for_audit("auth.login", WAIT, |r| r["actor"] == VENDOR);
    assert!(peer_of(&logins).starts_with("127.0.0.1"), "{logins}");
    let everything = format!("{:?}{}", s.broker.audit(), s.broker.server_output());
    assert!(!everything.contains("198.51.100.9"), "the spoofed address was taken:\n{everything}");
}
