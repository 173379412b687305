//! The bulk paths and connection setup, measured on every route ([`crate::route`]) in one
//! run. Each round runs every path once on every route, the routes alternating, so that a
//! change of machine state (page cache, another process) falls on all of them alike; a cell
//! is the best of the rounds. Every single figure is also printed as it is taken and kept in
//! the raw file.
//!
//! The paths, each checked for completeness (a short transfer is an error, not a figure):
//! - exec output: `yes TEXT | head -c BYTES` read to the end;
//! - exec input: BYTES written to `wc -c` on the device, which must count them all;
//! - terminal output and input: the same through a pty (`ssh -tt`); the input side puts the
//!   pty in raw mode first (`stty raw -echo`) so that the bytes reach the program unchanged;
//! - tunnel, both ways: `ssh -L` into a TCP sink, and out of a TCP source;
//! - SFTP upload and download of a file (`sftp -b`);
//! - connection setup: `ssh … true`, the median of N runs per route.
//!
//! Each path also gets a row of where the CPU went, over all its rounds: how busy the
//! machine's cores were on each route, and on the broker's route the broker's own CPU time
//! per transfer. A route that keeps every core busy is bound by the CPU the processes on it
//! need together (client, sshd or broker, sink), not by waiting.

use crate::harness::device::Device;
use crate::harness::proc::{self, Capture};
use crate::harness::tcp::Service;
use crate::route::{Hosts, Route};
use crate::procfs::clock_ticks_per_second;
use crate::stopwatch::{self, Span, Stopwatch};
use crate::table::Row;
use crate::transfer;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

/// Printable text, as a terminal carries it: every byte is then recorded as itself.
const TEXT: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Sizes and counts of one run.
pub struct Sizes {
    pub bytes: u64,
    pub tunnel_bytes: u64,
    pub sftp_bytes: u64,
    pub rounds: usize,
    pub setup_runs: usize,
    /// Only the paths whose name contains this (all when empty); for profiling one path.
    pub only: String,
}

/// How one run of a path is timed: its seconds on a route.
type Run<'a> = Box<dyn Fn(&Hosts, Route) -> f64 + 'a>;

/// One measured path: its name, the routes it runs on, and how one run is timed.
struct Bulk<'a> {
    name: String,
    bytes: u64,
    routes: &'static [Route],
    run: Run<'a>,
}

/// Best (lowest) seconds per route of one path, and where the CPU went over all its rounds.
struct Cells {
    best: [f64; 3],
    /// The clock ticks of the timed windows, per route.
    ticks: [Span; 3],
    /// Runs on the broker's route.
    runs: usize,
}

const ALL: &[Route] = &Route::ALL;
const TUNNEL: &[Route] = &[Route::Jump, Route::Broker];

/// Measures every path and the connection setup; appends a row each; writes every figure to
/// `raw` as `path<TAB>route<TAB>round<TAB>seconds<TAB>bytes`.
pub fn measure(hosts: &Hosts, sink: &Service, source: &Service, s: &Sizes, raw: &mut File) -> Vec<Row> {
    let work = tempfile::tempdir().expect("tempdir");
    let upload = work.path().join("upload.bin");
    transfer::make_file(&upload, s.sftp_bytes);
    let download = hosts.device.dir().join("download.bin");
    transfer::make_file(&download, s.sftp_bytes);
    let mut paths = paths(s, hosts.device, work.path(), sink, source, &upload, &download);
    paths.retain(|p| p.name.contains(&s.only));
    stopwatch::watch_broker(hosts.broker.server_pid());
    let mut cells: Vec<Cells> = paths.iter().map(|_| Cells { best: [f64::MAX; 3], ticks: [Span::default(); 3], runs: 0 }).collect();
    for round in 0..s.rounds {
        for (p, cell) in paths.iter().zip(cells.iter_mut()) {
            for (i, route) in Route::ALL.iter().enumerate() {
                if !p.routes.contains(route) {
                    continue;
                }
                let secs = (p.run)(hosts, *route);
                cell.ticks[i].add(stopwatch::take_last().expect("the path stopped a stopwatch"));
                cell.runs += usize::from(*route == Route::Broker);
                eprintln!("round {round}: {} via {}: {secs:.2} s", p.name, route.label());
                let _ = writeln!(raw, "{}\t{}\t{round}\t{secs:.4}", p.name, route.label());
                cell.best[i] = cell.best[i].min(secs);
            }
        }
    }
    let mut rows: Vec<Row> = paths
        .iter()
        .zip(&cells)
        .map(|(p, c)| {
            let mib = p.bytes as f64 / (1024.0 * 1024.0);
            let rate = |secs: f64| if secs == f64::MAX { "-".to_owned() } else { format!("{:.1}", mib / secs) };
            let ratio = if c.best[1] == f64::MAX { "-".to_owned() } else { format!("{:.2}×", c.best[1] / c.best[2]) };
            Row::new(format!("{} (MiB/s, best of {})", p.name, s.rounds), rate(c.best[0]), rate(c.best[1]), rate(c.best[2]), ratio)
        })
        .collect();
    let hz = clock_ticks_per_second();
    rows.extend(paths.iter().zip(&cells).map(|(p, c)| cpu_row(&p.name, c, hz)));
    if s.setup_runs > 0 {
        rows.push(setup(hosts, s.setup_runs, raw));
    }
    rows
}

/// Where the CPU went on one path: the cores' busy share per route, and the broker's CPU
/// seconds per transfer beside its route's share.
fn cpu_row(name: &str, c: &Cells, hz: f64) -> Row {
    let busy = |t: &Span| t.busy_percent().map_or("-".to_owned(), |p| format!("{p:.0} %"));
    let [d, j, b] = &c.ticks;
    let broker = if c.runs == 0 { "-".to_owned() } else { format!("{} ({:.2} s)", busy(b), b.broker as f64 / hz / c.runs as f64) };
    Row::new(format!("{name}: cores busy (Portcullis: and the broker's CPU-s per transfer)"), busy(d), busy(j), broker, "-".to_owned())
}

fn mib(bytes: u64) -> u64 {
    bytes >> 20
}

#[allow(clippy::too_many_arguments)]
fn paths<'a>(s: &Sizes, device: &Device, work: &Path, sink: &'a Service, source: &Service, upload: &Path, download: &Path) -> Vec<Bulk<'a>> {
    let n = s.bytes;
    let t = s.tunnel_bytes;
    let produce = format!("yes {TEXT} | head -c {n}");
    let consume = "wc -c".to_owned();
    let raw_consume = format!("stty raw -echo; head -c {n} | wc -c");
    let (sink_port, source_port) = (sink.port(), source.port());
    let sockets = work.to_owned();
    let sockets2 = work.to_owned();
    let (up, remote_up) = (upload.to_owned(), device.dir().join("uploaded.bin"));
    let (down, local_down) = (download.to_owned(), work.join("downloaded.bin"));
    let produce_tty = produce.clone();
    vec![
        Bulk {
            name: format!("exec output, {} MiB, device → vendor", mib(n)),
            bytes: n,
            routes: ALL,
            run: Box::new(move |h, r| drain(h.ssh(r, &[], &produce), n, false)),
        },
        Bulk {
            name: format!("exec input, {} MiB, vendor → device", mib(n)),
            bytes: n,
            routes: ALL,
            run: Box::new(move |h, r| feed(h.ssh(r, &[], &consume), n)),
        },
        Bulk {
            name: format!("terminal output, {} MiB, device → vendor", mib(n)),
            bytes: n,
            routes: ALL,
            run: Box::new(move |h, r| drain(h.ssh(r, &["-tt", "-e", "none"], &produce_tty), n, true)),
        },
        Bulk {
            name: format!("terminal input, {} MiB, vendor → device", mib(n)),
            bytes: n,
            routes: ALL,
            run: Box::new(move |h, r| feed(h.ssh(r, &["-tt", "-e", "none"], &raw_consume), n)),
        },
        Bulk {
            name: format!("tunnel (ssh -L), {} MiB, vendor → device", mib(t)),
            bytes: t,
            routes: TUNNEL,
            run: Box::new(move |h, r| {
                let socket = fresh_socket(&sockets);
                transfer::tunnel_secs(h.forward(r, &socket, sink_port), &socket, sink, t)
            }),
        },
        Bulk {
            name: format!("tunnel (ssh -L), {} MiB, device → vendor", mib(t)),
            bytes: t,
            routes: TUNNEL,
            run: Box::new(move |h, r| {
                let socket = fresh_socket(&sockets2);
                transfer::tunnel_read_secs(h.forward(r, &socket, source_port), &socket, t)
            }),
        },
        Bulk {
            name: format!("sftp upload, {} MiB", mib(s.sftp_bytes)),
            bytes: s.sftp_bytes,
            routes: ALL,
            run: Box::new(move |h, r| transfer::sftp_secs(h.client(r, "sftp", "-P", &[]), &format!("put {} {}", up.display(), remote_up.display()), &up, &remote_up)),
        },
        Bulk {
            name: format!("sftp download, {} MiB", mib(s.sftp_bytes)),
            bytes: s.sftp_bytes,
            routes: ALL,
            run: Box::new(move |h, r| transfer::sftp_secs(h.client(r, "sftp", "-P", &[]), &format!("get {} {}", down.display(), local_down.display()), &down, &local_down)),
        },
    ]
}

/// A socket path not used before in `dir`.
fn fresh_socket(dir: &Path) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    dir.join(format!("fwd-{}", N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)))
}

/// Runs `cmd`, reads its output to the end; returns the seconds from start to exit. It must
/// deliver `want` bytes (at least, through a pty, which turns each `\n` into `\r\n`).
fn drain(mut cmd: Command, want: u64, tty: bool) -> f64 {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let watch = Stopwatch::start();
    let mut child = cmd.spawn().expect("spawn");
    let errors = Capture::default();
    errors.pump(child.stderr.take().expect("stderr"));
    let mut stdout = child.stdout.take().expect("stdout");
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        match stdout.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => n += k as u64,
            Err(e) => panic!("read: {e}"),
        }
    }
    let status = child.wait().expect("wait");
    let secs = watch.stop();
    assert!(status.success(), "{} failed: {status}\n{}", proc::describe_command(&cmd), errors.text());
    let enough = if tty { n >= want } else { n == want };
    assert!(enough, "{}: received {n} bytes, expected {want}", proc::describe_command(&cmd));
    secs
}

/// Runs `cmd` (a `wc -c` on the device), writes `bytes` of text to its input and closes it;
/// returns the seconds from start to exit. The device must have counted every byte.
fn feed(mut cmd: Command, bytes: u64) -> f64 {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let watch = Stopwatch::start();
    let mut child = cmd.spawn().expect("spawn");
    let errors = Capture::default();
    errors.pump(child.stderr.take().expect("stderr"));
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        let line = format!("{TEXT}\n");
        let chunk: Vec<u8> = line.bytes().cycle().take(1 << 20).collect();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if stdin.write_all(&chunk[..n]).is_err() {
                return;
            }
            left -= n as u64;
        }
    });
    let mut out = String::new();
    child.stdout.take().expect("stdout").read_to_string(&mut out).expect("read");
    let status = child.wait().expect("wait");
    let secs = watch.stop();
    let _ = writer.join();
    assert!(status.success(), "{} failed: {status}\n{}", proc::describe_command(&cmd), errors.text());
    // The count is the last word: through a pty, what arrived before `stty raw -echo` took
    // effect was echoed ahead of it.
    let counted: Option<u64> = out.split_whitespace().next_back().and_then(|w| w.parse().ok());
    assert_eq!(counted, Some(bytes), "{}: the device counted {:?}", proc::describe_command(&cmd), out.get(out.len().saturating_sub(200)..).unwrap_or(&out));
    secs
}

/// Connection setup: `ssh … true` on every route in turn, `runs` times; medians in ms.
fn setup(hosts: &Hosts, runs: usize, raw: &mut File) -> Row {
    let mut times: [Vec<f64>; 3] = Default::default();
    for run in 0..runs {
        for (i, route) in Route::ALL.iter().enumerate() {
            let mut cmd = hosts.ssh(*route, &[], "true");
            let secs = exact_secs(&mut cmd);
            let _ = writeln!(raw, "setup\t{}\t{run}\t{secs:.4}", route.label());
            times[i].push(secs * 1000.0);
        }
    }
    let [d, j, b] = times.map(|mut t| median(&mut t));
    eprintln!("setup medians: direct {d:.0} ms, proxyjump {j:.0} ms, portcullis {b:.0} ms");
    Row::new(
        format!("connection setup + sign-in + `true`, curve25519-sha256 (ms, median of {runs}; ratio: lower is better)"),
        format!("{d:.0}"),
        format!("{j:.0}"),
        format!("{b:.0}"),
        format!("{:.2}×", b / j),
    )
}

/// Runs `cmd` to its end (stdin closed, output collected) and returns its wall time, taken by
/// waiting on the process itself: the harness's polling waits would round every run up to
/// their step, which is a sizeable part of a connection's setup.
pub fn exact_secs(cmd: &mut Command) -> f64 {
    cmd.stdin(Stdio::null());
    let watch = Stopwatch::start();
    let out = cmd.output().unwrap_or_else(|e| panic!("{}: {e}", proc::describe_command(cmd)));
    let secs = watch.stop();
    assert!(out.status.success(), "{} failed: {}\n{}", proc::describe_command(cmd), out.status, String::from_utf8_lossy(&out.stderr));
    secs
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}
