//! `portcullis audit …`: verify the hash chain and signed checkpoints (exit 1 when broken,
//! naming the first bad row), print the log's tail with each row's detail as JSON, and
//! export it once in a SIEM format ([`export`]).

mod export;

use crate::cli::AuditCmd;
use base64::Engine;
use crate::output::{self, Table};
use portcullis_core::audit::{self, VerifyReport};
use portcullis_core::clock;
use portcullis_core::Context;

use portcullis_core::export::format::checkpoint;
use portcullis_core::export::format::jsonl::JsonRow as TailRow;

/// Runs one `audit` command.
pub async fn run(ctx: &Context, cmd: AuditCmd) -> anyhow::Result<()> {
    match cmd {
        AuditCmd::Verify { witness, out } => {
            let witness = match witness {
                Some(path) => read_witness(&path)?,
                None => Vec::new(),
            };
            let report = audit::verify_with_witness(&ctx.store, ctx.audit.signer(), &witness).await?;
            if out.json {
                output::json(&report)?;
            } else {
                output::line(&verify_text(&report))?;
            }
            match report.first_bad_seq {
                _ if report.ok => Ok(()),
                Some(seq) => anyhow::bail!("the audit log is not intact (first bad row: {seq})"),
                None => anyhow::bail!("the audit log is not intact"),
            }
        }
        AuditCmd::Checkpoints { out } => {
            let checkpoints = audit::checkpoints(&ctx.store).await?;
            if out.json {
                return output::json(&checkpoints);
            }
            for cp in checkpoints {
                output::line(&serde_json::to_string(&cp)?)?;
            }
            Ok(())
        }
        AuditCmd::Export { format, since, output, out } => {
            anyhow::ensure!(!out.json || output.is_some(), "--json needs --output: the export itself is what goes to standard output");
            let (rows, last_seq) = export::run(ctx, format, since, output.as_deref()).await?;
            if let (true, Some(path)) = (out.json, &output) {
                return output::json(&serde_json::json!({ "file": path.display().to_string(), "rows": rows, "last_seq": last_seq }));
            }
            Ok(())
        }
        AuditCmd::PublicKey { out } => {
            let signer = ctx.audit.signer();
            let key = base64::engine::general_purpose::STANDARD.encode(signer.public_key());
            if out.json {
                return output::json(&serde_json::json!({ "key_id": signer.key_id(), "public_key": key }));
            }
            output::line(&key)?;
            Ok(())
        }
        AuditCmd::Tail { n, out } => {
            let rows = audit::tail(&ctx.store, n.max(0)).await?;
            if out.json {
                let rows: Vec<TailRow> = rows.iter().map(TailRow::of).collect();
                return output::json(&rows);
            }
            let mut t = Table::new(&["SEQ", "TIME", "ACTOR", "KIND", "SUBJECT", "DETAIL"]);
            for r in &rows {
                t.row(vec![r.seq.to_string(), clock::rfc3339_ms(r.ts), r.actor.clone(), r.kind.clone(), r.subject.clone(), r.detail.clone()]);
            }
            output::print(&t.render("(the audit log is empty)"))?;
            Ok(())
        }
    }
}

/// The one-line text verdict.
fn verify_text(r: &VerifyReport) -> String {
    if r.ok {
        let latest = r.last_checkpoint_seq.map_or_else(|| "none yet".to_owned(), |s| format!("latest at row {s}"));
        let tail = if r.unsigned_tail > 0 { format!("; {} newer rows not yet signed", r.unsigned_tail) } else { String::new() };
        return format!("audit log intact: {} rows, {} signed checkpoints ({latest}){tail}", r.rows, r.checkpoints);
    }
    let problem = r.problem.as_deref().unwrap_or("unknown problem");
    match r.first_bad_seq {
        Some(seq) => format!("audit log BROKEN at row {seq}: {problem}"),
        None => format!("audit log BROKEN: {problem}"),
    }
}

/// Reads a witness file: the checkpoints kept off this host, either as `audit checkpoints`
/// printed them or as a SIEM sink received them (JSON lines, syslog or CEF; every other line,
/// audit rows included, is skipped). Read line by line: a SIEM's file can be large, and only
/// the checkpoints are kept. A file with no checkpoint at all is refused: it proves nothing.
fn read_witness(path: &std::path::Path) -> anyhow::Result<Vec<audit::Checkpoint>> {
    use anyhow::Context as _;
    use std::io::BufRead as _;
    let file = std::fs::File::open(path).with_context(|| format!("cannot read the witness file {}", path.display()))?;
    let mut found = Vec::new();
    for line in std::io::BufReader::new(file).split(b'\n') {
        let line = line.with_context(|| format!("cannot read the witness file {}", path.display()))?;
        if let Some(cp) = checkpoint::parse_line(&String::from_utf8_lossy(&line)) {
            found.push(cp);
        }
    }
    anyhow::ensure!(!found.is_empty(), "{}: no checkpoint in the witness file", path.display());
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::audit::AuditRow;

    fn report(ok: bool) -> VerifyReport {
        VerifyReport {
            ok,
            rows: 12,
            checkpoints: 3,
            last_checkpoint_seq: Some(12),
            unsigned_tail: 0,
            first_bad_seq: (!ok).then_some(4),
            problem: (!ok).then(|| "row 4 was altered: its content does not match its hash".to_owned()),
        }
    }

    #[test]
    fn verdicts() {
        assert_eq!(verify_text(&report(true)), "audit log intact: 12 rows, 3 signed checkpoints (latest at row 12)");
        assert_eq!(
            verify_text(&report(false)),
            "audit log BROKEN at row 4: row 4 was altered: its content does not match its hash"
        );
        let fresh = VerifyReport { last_checkpoint_seq: None, unsigned_tail: 2, ..report(true) };
        assert!(verify_text(&fresh).contains("(none yet); 2 newer rows not yet signed"));
    }

    #[test]
    fn tail_rows_carry_parsed_detail() {
        let row = AuditRow {
            seq: 3,
            ts: 1_500,
            actor: "cli:root".into(),
            kind: "user.created".into(),
            subject: "user:jdoe".into(),
            detail: "{\"role\":\"vendor\"}".into(),
            prev_hash: "a".into(),
            hash: "b".into(),
        };
        let v = serde_json::to_value(TailRow::of(&row)).unwrap_or_default();
        assert_eq!(v["detail"]["role"], "vendor");
        assert_eq!(v["seq"], 3);
        assert_eq!(v["ts"], "1970-01-01T00:00:01.5Z");
    }
}
