//! A real SMTP server on loopback for the e-mail tests: Debian's python3-aiosmtpd, run by
//! `/usr/bin/python3` with a small handler that prints each message it accepts as one JSON
//! line (envelope, headers as parsed by Python's `email` package, decoded body). It binds
//! port 0 itself and prints the port first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::receiver::HUNG;
use serde_json::Value;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

const SERVER: &str = r#"
import asyncio, email, email.policy, json
from aiosmtpd.smtp import SMTP

class Handler:
    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = msg.get_body(preferencelist=("plain",))
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": [[k, str(v)] for k, v in msg.items()],
            "body": body.get_content() if body is not None else "",
        }), flush=True)
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler(), hostname="localhost"), "127.0.0.1", 0)
    print(json.dumps({"port": server.sockets[0].getsockname()[1]}), flush=True)
    await server.serve_forever()

asyncio.run(main())
"#;

/// The running server; killed when dropped.
pub struct SmtpServer {
    pub port: u16,
    messages: mpsc::Receiver<Value>,
    _child: Child,
}

impl SmtpServer {
    pub async fn start() -> SmtpServer {
        let python = if std::path::Path::new("/usr/bin/python3").exists() { "/usr/bin/python3" } else { "python3" };
        let mut child = Command::new(python)
            .args(["-c", SERVER])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 with aiosmtpd (scripts/test.sh installs python3-aiosmtpd)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(HUNG, lines.next_line()).await.unwrap().unwrap().expect("aiosmtpd did not start");
        let port = serde_json::from_str::<Value>(&first).unwrap()["port"].as_u64().unwrap() as u16;
        let (tx, messages) = mpsc::channel(16);
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(serde_json::from_str(&line).unwrap()).await.is_err() {
                    break;
                }
            }
        });
        SmtpServer { port, messages, _child: child }
    }

    /// The next message the server accepted.
    pub async fn next(&mut self) -> Value {
        tokio::time::timeout(HUNG, self.messages.recv()).await.expect("no mail arrived").expect("aiosmtpd stopped")
    }
}
