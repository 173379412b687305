//! Rolling restart: two nodes on one store behind a real HAProxy (`deploy/haproxy.cfg`, whose
//! health check asks `/readyz`). SIGTERM to the node holding a vendor's session drains it:
//! `/readyz` turns 503 at once, HAProxy marks the node down, the vendor is told on the
//! terminal that the node is restarting, a new vendor connection lands on the other node, and
//! the old session is closed once `node.drain_timeout` has passed.

use crate::harness::haproxy::{Haproxy, NodeAddrs};
use crate::harness::proc;
use crate::harness::broker;
use crate::harness::scenario::{Setup, APPROVERS, VENDOR};
use std::process::Command;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const TRUSTED: (&str, &str) = ("PORTCULLIS_PROXY_TRUSTED", "127.0.0.1/32");
const DRAIN: (&str, &str) = ("PORTCULLIS_NODE_DRAIN_TIMEOUT", "20s");

/// `GET /readyz` straight to a node's web listener, from 127.0.0.4 (not a trusted proxy):
/// (status code, body).
fn readyz(web: std::net::SocketAddr) -> (String, String) {
    let out = proc::tool("curl", &["-sk", "--interface", "127.0.0.4", "-w", "\n%{http_code}", &format!("https://{web}/readyz")]);
    let (body, code) = out.trim_end().rsplit_once('\n').unwrap_or(("", ""));
    (code.to_owned(), body.to_owned())
}

/// The HAProxy server (`node1`, `node2`) that took the first connection from `client`.
fn server_of(hx: &Haproxy, client: &str) -> Option<String> {
    let log = hx.output();
    let line = log.lines().find(|l| l.contains(client) && l.contains("portcullis_ssh/node"))?;
    server_in(line)
}

/// The same for the latest connection from `client`.
fn server_of_last(hx: &Haproxy, client: &str) -> Option<String> {
    let log = hx.output();
    let line = log.lines().rfind(|l| l.contains(client) && l.contains("portcullis_ssh/node"))?;
    server_in(line)
}

fn server_in(line: &str) -> Option<String> {
    let at = line.find("portcullis_ssh/")? + "portcullis_ssh/".len();
    Some(line[at..].split_whitespace().next()?.to_owned())
}

#[test]
fn sigterm_drains_a_node_behind_haproxy_and_new_vendors_go_to_the_other() {
    let s = Setup::new("infusion-dr").serve_env(TRUSTED.0, TRUSTED.1).serve_env(DRAIN.0, DRAIN.1).start();
    let second = s.broker.another_node(&[TRUSTED, DRAIN]);
    let nodes = [NodeAddrs { ssh: s.broker.ssh_addr(), web: s.broker.web_addr() }, NodeAddrs { ssh: second.ssh_addr(), web: second.web_addr() }];
    assert_eq!(readyz(nodes[0].web).0, "200");
    assert_eq!(readyz(nodes[1].web).0, "200");
    let hx = Haproxy::start(&nodes);

    // A vendor from 127.0.0.2 works on the device through HAProxy.
    // (The nodes trust 127.0.0.1 as HAProxy, so even the request goes through it.)
    let asked = s.vendor.exec(hx.ssh, VENDOR, &["-o", "BindAddress=127.0.0.2"], &format!("request {} --minutes 30 --reason 'INC-7001 firmware check'", s.device.name));
    asked.assert_success();
    let id = broker::parse_request_id(&asked.all_text()).unwrap_or_else(|| panic!("no request id:\n{}", asked.describe()));
    s.approve(id, APPROVERS[0], &[]).assert_success();
    s.wait_request_state(id, "approved", WAIT);
    let mut term = s.vendor.interactive(hx.ssh, &s.device_login(), &["-o", "BindAddress=127.0.0.2"]);
    term.wait_for_shell(WAIT);
    let holder = proc::poll(WAIT, || server_of_last(&hx, "127.0.0.2:")).unwrap_or_else(|| panic!("no haproxy log line for the vendor:\n{}", hx.output()));
    let (pid, web, other) = if holder == "node1" { (s.broker.server_pid(), nodes[0].web, "node2") } else { (second.pid(), nodes[1].web, "node1") };

    // SIGTERM: not ready at once, the vendor told, HAProxy marks the node down.
    let sent = Command::new("kill").args(["-TERM", &pid.to_string()]).status().unwrap();
    assert!(sent.success());
    let (code, body) = proc::poll(WAIT, || Some(readyz(web)).filter(|(c, _)| c == "503")).unwrap_or_else(|| panic!("/readyz never turned 503: {:?}", readyz(web)));
    assert!(body.contains("draining") && body.contains("SIGTERM"), "{code} {body}");
    term.expect("this node is restarting", WAIT);
    assert!(hx.wait_for(&format!("portcullis_ssh/{holder} is DOWN"), WAIT), "haproxy did not mark {holder} down:\n{}", hx.output());
    // The session goes on meanwhile.
    let echoed = term.run_in_shell("echo still-here-$((40+2))", WAIT);
    assert!(echoed.contains("still-here-42"), "{echoed}");

    // A new vendor connection (from 127.0.0.3) goes to the other node and works.
    let out = s.vendor.exec(hx.ssh, &s.device_login(), &["-o", "BindAddress=127.0.0.3"], "echo second-$((1+1))");
    assert!(out.stdout_text().contains("second-2"), "{}", out.describe());
    assert_eq!(server_of(&hx, "127.0.0.3:").as_deref(), Some(other), "{}", hx.output());

    // At the drain timeout the old session is closed.
    term.wait_exit(Duration::from_secs(90));
    assert!(second.output().contains("draining") || s.broker.server_output().contains("draining before shutdown"), "no drain logged");
}
