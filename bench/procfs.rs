//! What the benchmark reads of a process from `/proc`: resident and peak memory, and CPU time
//! (how busy the machine's cores were is read by `crate::stopwatch`).

/// A `kB` field of a process's `/proc/PID/status` (`VmHWM`, `VmRSS`), if it can be read.
pub(crate) fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')).and_then(|v| v.split_whitespace().next()).and_then(|v| v.parse().ok())
}

/// Resident set size of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS").expect("VmRSS in /proc status")
}

/// Peak resident set size (`VmHWM`) of a process, in KiB.
#[allow(dead_code)] // used by the full driver, not by portcullis-bench-idle
pub(crate) fn hwm_kib(pid: u32) -> u64 {
    status_kib(pid, "VmHWM").expect("VmHWM in /proc status")
}

/// User plus system CPU time of a process so far, in clock ticks (`/proc/PID/stat` fields 14
/// and 15, counted after the command name, which may hold spaces).
pub(crate) fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let rest = &stat[stat.rfind(')').expect("stat has a command name") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state): utime is field 14, stime field 15.
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

/// `getconf CLK_TCK` (100 on Linux).
pub(crate) fn clock_ticks_per_second() -> f64 {
    let out = std::process::Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(100.0)
}
