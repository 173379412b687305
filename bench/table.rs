//! The printed table: one row per measure, with the figure of each route (direct to the
//! device's `sshd`, through an OpenSSH jump host, through Portcullis) and Portcullis's ratio
//! to the jump host. A measure with no figure on a route shows `-`.

/// One row of the table.
pub struct Row {
    name: String,
    direct: String,
    jump: String,
    broker: String,
    ratio: String,
}

impl Row {
    pub fn new(name: String, direct: String, jump: String, broker: String, ratio: String) -> Row {
        Row { name, direct, jump, broker, ratio }
    }

    /// A measure of Portcullis alone, with a reference figure (or `-`) in the direct column.
    pub fn single(name: String, broker: String, reference: String) -> Row {
        Row::new(name, reference, "-".to_owned(), broker, "-".to_owned())
    }
}

/// Prints the rows under a header.
pub fn print(rows: &[Row]) {
    let w = rows.iter().map(|r| r.name.chars().count()).max().unwrap_or(0).max("measure".len());
    let pad = |s: &str| format!("{s}{}", " ".repeat(w.saturating_sub(s.chars().count())));
    println!();
    println!("{}  {:>14}  {:>14}  {:>14}  {:>7}", pad("measure"), "direct sshd", "ProxyJump", "Portcullis", "ratio");
    println!("{}  {:->14}  {:->14}  {:->14}  {:->7}", "-".repeat(w), "", "", "", "");
    for r in rows {
        println!("{}  {:>14}  {:>14}  {:>14}  {:>7}", pad(&r.name), r.direct, r.jump, r.broker, r.ratio);
    }
    println!();
    println!("ratio: Portcullis against ProxyJump (throughput: higher is better; setup time: lower is better).");
}
