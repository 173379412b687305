//! The live view's hop between nodes is no open door: a node answers
//! `/internal/v1/sessions/{id}/live` only to a hop token signed with the installation's token
//! key, for itself and that session. Without a token, with one signed by another key, or with
//! one for another node or session it refuses; with the right one it streams that session's
//! terminal and nothing else. (The hop's happy path through the web page is
//! `auditor_browser::a_session_held_by_another_node_is_watched_through_a_hop_to_that_node`.)

use crate::harness::broker::id_of;
use crate::harness::pg::TestDb;
use crate::harness::proc;
use crate::harness::scenario::Setup;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// An HS256 hop token signed with the key in `key_file` (python3's standard library).
fn token(key_file: &Path, node: &str, session: u64) -> String {
    let script = r#"
import base64, hashlib, hmac, json, sys, time
key = open(sys.argv[1], 'rb').read()
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b'=').decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
body = b64(json.dumps({"sub": "mallory", "session": int(sys.argv[3]), "node": sys.argv[2], "iat": now, "exp": now + 30, "aud": "portcullis-live-hop", "iss": "portcullis"}).encode())
sig = b64(hmac.new(key, (head + '.' + body).encode(), hashlib.sha256).digest())
print(head + '.' + body + '.' + sig)
"#;
    proc::tool("python3", &["-c", script, key_file.to_str().unwrap(), node, &session.to_string()]).trim().to_owned()
}

/// `GET` the hop path of `session` on `web` with `token` (if any) for at most 3 seconds:
/// (status code, what came).
fn ask(web: SocketAddr, session: u64, token: Option<&str>) -> (String, String) {
    let url = format!("https://{web}/internal/v1/sessions/{session}/live");
    let mut cmd = Command::new("curl");
    cmd.args(["-sk", "--max-time", "3", "-w", "\n%{http_code}"]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    let out = cmd.arg(&url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.trim_end().rsplit_once('\n').unwrap_or(("", text.trim()));
    (code.to_owned(), body.to_owned())
}

#[test]
fn the_hop_answers_only_a_token_signed_for_this_node_and_session() {
    let db = TestDb::create();
    let s = Setup::new("monitor-hop").store(&db.url).serve_env("PORTCULLIS_NODE_ID", "node-a").start();
    s.grant_channels(30, "INC-7300 hop", "--shell", &[]);
    let _b = s.broker.another_node(&[("PORTCULLIS_NODE_ID", "node-b")]);
    let mut term = s.interactive(&[]);
    term.wait_for_shell(Duration::from_secs(60));
    let out = term.run_in_shell("echo hop-$((40+2))", Duration::from_secs(30));
    assert!(out.contains("hop-42"), "{out:?}");
    let session = proc::poll_until("the session", Duration::from_secs(30), || s.broker.sessions(true).first().map(id_of));
    let web = s.broker.web_addr();
    let key = s.broker.data_dir.join("keys/web_token.key");
    let stranger = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(stranger.path(), [7u8; 32]).unwrap();

    assert_eq!(ask(web, session, None).0, "401");
    assert_eq!(ask(web, session, Some("not-a-token")).0, "401");
    assert_eq!(ask(web, session, Some(&token(stranger.path(), "node-a", session))).0, "401", "signed with another key");
    assert_eq!(ask(web, session, Some(&token(&key, "node-b", session))).0, "403", "a token for another node");
    assert_eq!(ask(web, session + 1000, Some(&token(&key, "node-a", session))).0, "403", "a token for another session");
    assert_eq!(ask(web, session + 1000, Some(&token(&key, "node-a", session + 1000))).0, "404", "no such terminal here");
    // The right token: the session's terminal, header first, with what was on the screen.
    let (code, body) = ask(web, session, Some(&token(&key, "node-a", session)));
    assert_eq!(code, "200", "{body}");
    let first: serde_json::Value = serde_json::from_str(body.lines().next().unwrap_or_default()).unwrap_or_default();
    assert_eq!(first["version"], 2, "{body}");
    assert!(body.contains("hop-42"), "{body}");
    term.send_line("exit");
    term.wait_exit(Duration::from_secs(30));
}
