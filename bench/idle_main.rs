//! Runs only the idle-sessions measurement of the bench ([`idle`]), for a quick look without
//! the throughput runs: `portcullis-bench-idle [SIZES...]` (default 200 1000 5000), with
//! `PORTCULLIS_TEST_BIN` naming the `portcullis` binary.

#[allow(dead_code)]
#[path = "../tests/e2e/harness/mod.rs"]
mod harness;
mod idle;
mod procfs;

fn main() {
    let mut sizes: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap_or_else(|_| panic!("{a}: not a session count"))).collect();
    if sizes.is_empty() {
        sizes = vec![200, 1000, 5000];
    }
    let mut rows = Vec::new();
    idle::rows(&sizes, &mut rows);
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!();
    for (name, value, _) in rows {
        println!("{name:<w$}  {value:>20}");
    }
}
