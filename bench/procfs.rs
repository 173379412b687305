//! What the benchmark reads of a process from `/proc`: resident and peak memory.

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
