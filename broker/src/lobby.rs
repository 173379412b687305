//! The lobby: what a vendor gets with a plain `VENDOR` user name. A few commands, usable
//! interactively (`ssh VENDOR@broker`) or one at a time (`ssh VENDOR@broker request …`):
//! list devices, see my requests and grants, and file a request. ssh joins the words of a
//! remote command with spaces, so `--reason` takes every following word up to the next flag.
//! `config` prints an `~/.ssh/config` block for each device the vendor holds a current grant
//! for; every suggested command names the broker's real host and port ([`crate::hint`]).

use crate::hint::Hints;
use crate::kind::Kind;
use portcullis_core::approvals::RequestInput;
use crate::prompt::{Line, Term};
use crate::state::Conn;
use portcullis_core::clock;
use portcullis_core::domain::{ChannelSet, DeviceName};

const HELP_HEAD: &str = "Commands:
  devices                                       devices you can ask for, and your current access
  status                                        your requests and their state
  request DEVICE --minutes N --reason TEXT... [--shell] [--files] [--tcp PORT]...
                                                ask for access to DEVICE for N minutes: a terminal
                                                (the default), file transfer (sftp/scp), TCP ports
";
const HELP_TAIL: &str = "  config                                        ~/.ssh/config blocks for the devices you have access to
  help                                          this text
  exit                                          leave
";

/// The help text, with the commands that connect once a request is approved.
fn help(conn: &Conn) -> String {
    let h = Hints::new(&conn.entry, &conn.user.username);
    let dev = "DEVICE";
    let mut out = format!("{HELP_HEAD}{}{HELP_TAIL}Once a request is approved, connect with:\n", crate::emergency::HELP);
    out.push_str(&h.channels(dev, &ChannelSet::shell()));
    if let Ok(files) = ChannelSet::parse("files") {
        out.push_str(&h.channels(dev, &files));
    }
    out.push_str(&format!("  {:<10}{}   (PORT: one the grant names)\n", "tunnel:", h.tunnel_to("LOCALPORT", "DEVICE", "PORT")));
    out.push_str(&format!("or add the output of '{} config' to ~/.ssh/config, then: ssh DEVICE, sftp DEVICE, scp FILE DEVICE:PATH\n", h.lobby()));
    out
}

/// A lobby command's result.
struct Reply {
    text: String,
    status: u32,
}

impl Reply {
    fn ok(text: String) -> Self {
        Self { text, status: 0 }
    }
    fn err(text: String) -> Self {
        Self { text, status: 1 }
    }
}

/// Runs the lobby on one channel.
pub(crate) async fn run(conn: &Conn, mut term: Term<'_>, kind: Kind) {
    match kind {
        Kind::Exec(cmd) => {
            let reply = execute(conn, &String::from_utf8_lossy(&cmd)).await;
            if reply.status == 0 {
                term.say(&reply.text).await;
            } else {
                term.warn(&reply.text).await;
            }
            term.exit(reply.status).await;
        }
        Kind::Sftp => {
            let hint = Hints::new(&conn.entry, &conn.user.username).sftp("DEVICE");
            term.warn(&format!("portcullis: name the device for file transfer: {hint}\n")).await;
            term.exit(1).await;
        }
        Kind::Shell => {
            term.say(&format!("Portcullis — signed in as {}. Type 'help' for commands.\n", conn.user.username)).await;
            loop {
                term.say("portcullis> ").await;
                let line = tokio::select! {
                    l = term.read_line() => l,
                    _ = conn.cancel.cancelled() => Line::Closed,
                };
                match line {
                    Line::Text(l) if matches!(l.trim(), "exit" | "quit" | "logout") => break,
                    Line::Text(l) if l.trim().is_empty() => {}
                    Line::Text(l) => {
                        let reply = execute(conn, &l).await;
                        term.say(&reply.text).await;
                    }
                    Line::Interrupted => {}
                    Line::Closed => break,
                }
            }
            term.exit(0).await;
        }
    }
}

/// A parsed `request` command.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestArgs {
    pub device: String,
    pub minutes: i64,
    pub reason: String,
    /// `shell` when no channel option was given.
    pub channels: ChannelSet,
}

/// Parses the words after `request`.
pub(crate) fn parse_request(words: &[String]) -> Result<RequestArgs, String> {
    let w = crate::words::parse(words, &[("--reason", "-r")])?;
    Ok(RequestArgs {
        device: w.device.ok_or("which device? usage: request DEVICE --minutes N --reason TEXT")?,
        minutes: w.minutes.ok_or("--minutes N is required")?,
        reason: w.texts.concat(),
        channels: w.channels,
    })
}

/// A lobby command line, parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Help,
    Devices,
    Status,
    Request(RequestArgs),
    BreakGlass(crate::emergency::BreakGlassArgs),
    Config,
    /// A line that cannot run, with the error to show (exit status 1).
    Invalid(String),
    /// A command the lobby does not have, by name (exit status 127).
    Unknown(String),
}

/// Parses one command line: words split as a shell would, the first one the command.
pub(crate) fn parse_line(line: &str) -> Command {
    let words = match shell_words::split(line) {
        Ok(w) => w,
        Err(_) => return Command::Invalid("error: unbalanced quotes\n".into()),
    };
    let Some((cmd, rest)) = words.split_first() else { return Command::Help };
    match cmd.as_str() {
        "help" | "--help" | "-h" => Command::Help,
        "devices" => Command::Devices,
        "status" | "requests" => Command::Status,
        "config" if rest.is_empty() => Command::Config,
        "config" => Command::Invalid("error: config takes no arguments\n".into()),
        "request" => match parse_request(rest) {
            Ok(args) => Command::Request(args),
            Err(e) => Command::Invalid(format!("error: {e}\n")),
        },
        "break-glass" => match crate::emergency::parse(rest) {
            Ok(args) => Command::BreakGlass(args),
            Err(e) => Command::Invalid(format!("error: {e}\n")),
        },
        other => Command::Unknown(other.to_owned()),
    }
}

async fn execute(conn: &Conn, line: &str) -> Reply {
    match parse_line(line) {
        Command::Help => Reply::ok(help(conn)),
        Command::Config => ssh_config(conn).await,
        Command::Devices => devices(conn).await,
        Command::Status => status(conn).await,
        Command::Request(args) => request(conn, args).await,
        Command::BreakGlass(args) => {
            let (text, status) = crate::emergency::execute(conn, args).await;
            Reply { text, status }
        }
        Command::Invalid(text) => Reply::err(text),
        Command::Unknown(other) => Reply { text: format!("unknown command {other:?}; type 'help'\n"), status: 127 },
    }
}

async fn devices(conn: &Conn) -> Reply {
    let ctx = &conn.ctx;
    let Ok(devices) = ctx.store.list_devices().await else { return Reply::err("error: service unavailable\n".into()) };
    let now = clock::now();
    let mut out = format!("{:<28} {:<14} {:<14} {}\n", "DEVICE", "CRITICALITY", "ZONE", "ACCESS");
    for d in devices.iter().filter(|d| !d.disabled) {
        // Every running grant: a newer one may allow more than an older one still running.
        let access = match ctx.store.current_grants(conn.user.id, d.id, now).await {
            Ok(grants) if !grants.is_empty() => {
                grants.iter().map(|g| format!("#{} {} until {}", g.request_id, g.channels, clock::rfc3339(g.ends_at))).collect::<Vec<_>>().join("; ")
            }
            _ => "-".into(),
        };
        out.push_str(&format!("{:<28} {:<14} {:<14} {}\n", d.name, d.criticality, d.zone, access));
        if let Some(line) = crate::gate::window_line(ctx, &d.name, &d.zone) {
            out.push_str(&format!("  {line}"));
        }
        out.push_str(&moderated_line(ctx, d.criticality, &d.zone).map(|l| format!("  {l}")).unwrap_or_default());
    }
    Reply::ok(out)
}

/// What the vendor is told about a moderated device (policy `moderated`), if it is one.
fn moderated_line(ctx: &portcullis_core::context::Context, criticality: portcullis_core::domain::Criticality, zone: &portcullis_core::domain::Zone) -> Option<String> {
    ctx.approvals.policy().rule(criticality, zone).moderated.then(|| "moderated: the device is contacted only while an approver watches the session live as moderator\n".to_owned())
}

async fn status(conn: &Conn) -> Reply {
    let ctx = &conn.ctx;
    let Ok(reqs) = ctx.store.list_requests(None, Some(conn.user.id), 20).await else {
        return Reply::err("error: service unavailable\n".into());
    };
    if reqs.is_empty() {
        return Reply::ok("No requests yet. Ask with: request DEVICE --minutes N --reason TEXT\n".into());
    }
    let mut out = String::new();
    for r in reqs {
        let mut line = format!("request #{} {} {} ({} min, {}): {}", r.id, r.device, r.state, r.minutes, r.channels, r.reason);
        if r.state == portcullis_core::domain::RequestState::Pending {
            let signoff = ctx.approvals.signoff(&r).await.ok().flatten();
            line.push_str(&format!(" [{}]", crate::gate::approvals_text(&r, signoff.as_ref())));
        }
        if let Ok(Some(g)) = ctx.store.grant_of_request(r.id).await {
            if g.is_current(clock::now()) {
                line.push_str(&format!(" — {} until {}", g.channels, clock::rfc3339(g.ends_at)));
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    Reply::ok(out)
}

async fn request(conn: &Conn, args: RequestArgs) -> Reply {
    let device = match DeviceName::parse(&args.device) {
        Ok(d) => d,
        Err(e) => return Reply::err(format!("error: {e}\n")),
    };
    let ctx = &conn.ctx;
    match ctx.approvals.create_request(RequestInput::new(&conn.user.username, &device, &args.reason, args.minutes).channels(&args.channels).peer(&conn.peer)).await {
        Ok(r) => {
            let signoff = if matches!(ctx.approvals.signoff(&r).await, Ok(Some(_))) { " and a clinical sign-off" } else { "" };
            Reply::ok(format!(
                "request #{} created for {} ({} min, {}), waiting for {} approval(s){}.\n{}{}Once approved, connect with:\n{}",
                r.id, r.device, r.minutes, r.channels, r.required_approvals,
                signoff,
                crate::gate::window_line(ctx, &r.device, &r.zone).unwrap_or_default(),
                moderated_line(ctx, r.criticality, &r.zone).unwrap_or_default(),
                Hints::new(&conn.entry, &conn.user.username).channels(&r.device, &r.channels)
            ))
        }
        Err(e) => Reply::err(format!("error: {e}\n")),
    }
}

/// The `config` command: one `~/.ssh/config` block per device with a current grant.
async fn ssh_config(conn: &Conn) -> Reply {
    let ctx = &conn.ctx;
    let (Ok(devices), Ok(keys)) = (ctx.store.list_devices().await, ctx.store.user_key_fingerprints(conn.user.id).await) else {
        return Reply::err("error: service unavailable\n".into());
    };
    let h = Hints::new(&conn.entry, &conn.user.username);
    let now = clock::now();
    let mut out = format!("# Portcullis: add to ~/.ssh/config (devices {} has access to now).\n", conn.user.username);
    let mut blocks = 0;
    for d in devices.iter().filter(|d| !d.disabled) {
        let Ok(grants) = ctx.store.current_grants(conn.user.id, d.id, now).await else {
            return Reply::err("error: service unavailable\n".into());
        };
        // Every running grant: a newer one may allow more than an older one still running.
        let channels = match ChannelSet::from_channels(grants.iter().flat_map(|g| g.channels.iter())) {
            Ok(c) => c,
            Err(_) => match grants.first() {
                Some(g) => g.channels.clone(),
                None => continue,
            },
        };
        let Some(until) = grants.iter().map(|g| g.ends_at).max() else { continue };
        let ids: Vec<String> = grants.iter().map(|g| format!("#{}", g.request_id)).collect();
        out.push_str(&format!("\n# {}: {} until {} (request {})\n", d.name, channels, clock::rfc3339(until), ids.join(", ")));
        out.push_str(&h.ssh_config(&d.name, &channels, &keys));
        blocks += 1;
    }
    if blocks == 0 {
        out.push_str(&format!("# None yet. Ask with: {} request DEVICE --minutes N --reason TEXT\n", h.lobby()));
    }
    Reply::ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn reason_takes_all_following_words() {
        let a = parse_request(&words("pump-1 --minutes 90 --reason INC-4411 firmware update"));
        assert_eq!(a, Ok(RequestArgs { device: "pump-1".into(), minutes: 90, reason: "INC-4411 firmware update".into(), channels: ChannelSet::shell() }));
        let b = parse_request(&words("pump-1 --reason INC-1 check --minutes 5"));
        assert_eq!(b.map(|a| (a.reason, a.minutes)), Ok(("INC-1 check".into(), 5)));
    }

    #[test]
    fn refuses_bad_forms() {
        assert!(parse_request(&words("--minutes 5 --reason x")).is_err());
        assert!(parse_request(&words("pump --minutes five --reason x")).is_err());
        assert!(parse_request(&words("pump --reason x")).is_err());
        assert!(parse_request(&words("pump --minutes")).is_err());
        assert!(parse_request(&words("pump extra --minutes 5")).is_err());
        assert!(parse_request(&words("pump --minutes 5 --force")).is_err());
        assert!(parse_request(&words("pump --minutes 5 --tcp")).is_err());
        assert!(parse_request(&words("pump --minutes 5 --tcp 0")).is_err());
        assert!(parse_request(&words("pump --minutes 5 --tcp http")).is_err());
    }

    #[test]
    fn channel_options() {
        let a = parse_request(&words("pump --minutes 5 --reason INC-1 dicom --tcp 104 --files --tcp 443"));
        assert_eq!(a.map(|a| (a.reason, a.channels.to_string())), Ok(("INC-1 dicom".into(), "files,tcp:104,tcp:443".into())));
        let b = parse_request(&words("pump --shell --minutes 5 --reason x"));
        assert_eq!(b.map(|a| a.channels), Ok(ChannelSet::shell()));
    }
}
