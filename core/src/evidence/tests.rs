#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Offline verification of a hand-made bundle: intact, then each kind of tampering.

use super::*;
use crate::audit::{checkpoint_message, row_hash, AuditRow, AuditSigner, Checkpoint, GENESIS_HASH};
use base64::Engine;

fn row(seq: i64, kind: &str, detail: &str, prev: &str) -> AuditRow {
    let (actor, subject) = ("jdoe", "session:1");
    AuditRow {
        seq,
        ts: 1_000 + seq,
        actor: actor.into(),
        kind: kind.into(),
        subject: subject.into(),
        detail: detail.into(),
        prev_hash: prev.into(),
        hash: row_hash(seq, 1_000 + seq, actor, kind, subject, detail, prev),
    }
}

fn seal(members: &mut Members, signer: &AuditSigner) {
    members.remove(MANIFEST);
    members.remove(SIGNATURE);
    let public = base64::engine::general_purpose::STANDARD.encode(signer.public_key());
    let m = Manifest::of(members, 1, 5, signer.key_id(), &public);
    members.insert(SIGNATURE.into(), m.sign(signer).into_bytes());
    members.insert(MANIFEST.into(), m.canonical());
}

fn bundle(signer: &AuditSigner) -> Members {
    let cast = b"{\"version\":2}\n[0.1,\"o\",\"hi\"]\n".to_vec();
    let a = row(1, "session.started", "{}", GENESIS_HASH);
    let detail = format!("{{\"channel\":1,\"path\":\"/r/1/1.cast\",\"sha256\":\"{}\"}}", sha256_hex(&cast));
    let b = row(2, "recording.sealed", &detail, &a.hash);
    let cp = Checkpoint { seq: 2, hash: b.hash.clone(), ts: 9, key_id: signer.key_id().into(), signature: signer.sign_b64(&checkpoint_message(2, &b.hash)) };
    let mut m = Members::new();
    let rows = [&a, &b].iter().map(|r| serde_json::to_string(r).unwrap() + "\n").collect::<String>();
    m.insert("audit/rows.jsonl".into(), rows.into_bytes());
    m.insert("audit/involved.json".into(), b"[1, 2]".to_vec());
    m.insert("audit/checkpoint.json".into(), serde_json::to_vec(&cp).unwrap());
    m.insert("recordings/1/1.cast".into(), cast);
    seal(&mut m, signer);
    m
}

fn signer() -> AuditSigner {
    AuditSigner::from_pkcs8(&AuditSigner::generate_pkcs8().unwrap()).unwrap()
}

#[test]
fn intact_bundle_verifies_and_survives_the_archive() {
    let s = signer();
    let m = bundle(&s);
    let mut file = Vec::new();
    write_archive(&m, &mut file).unwrap();
    let r = verify(&read_archive(file.as_slice()).unwrap(), Some(&KeyPin::PublicKey(s.public_key())));
    assert!(r.ok, "{r:?}");
    assert_eq!((r.recordings_verified, r.audit_rows, r.checkpoint_seq), (1, 2, Some(2)));
    assert!(!verify(&m, None).key_pinned);
}

#[test]
fn each_tampering_is_named() {
    let s = signer();
    let good = bundle(&s);

    let mut m = good.clone();
    m.get_mut("recordings/1/1.cast").unwrap()[3] ^= 1;
    assert!(verify(&m, None).failures.contains(&"recordings/1/1.cast: SHA-256 differs from the manifest".to_owned()));
    seal(&mut m, &s);
    assert_eq!(verify(&m, None).failures, ["recordings/1/1.cast: SHA-256 differs from the sealed value in audit row 2"]);

    let mut m = good.clone();
    let text = String::from_utf8(m["audit/rows.jsonl"].clone()).unwrap().replacen("jdoe", "mallory", 1);
    m.insert("audit/rows.jsonl".into(), text.into_bytes());
    seal(&mut m, &s);
    assert_eq!(verify(&m, None).failures, ["audit row 1: hash does not match its fields"]);

    let mut m = good.clone();
    m.insert(SIGNATURE.into(), signer().sign_b64(b"x").into_bytes());
    assert_eq!(verify(&m, None).failures, ["manifest signature invalid"]);

    let mut m = good.clone();
    m.remove("audit/involved.json");
    m.insert("notes.txt".into(), b"x".to_vec());
    let f = verify(&m, None).failures;
    assert!(f.contains(&"missing file audit/involved.json".to_owned()) && f.contains(&"extra file notes.txt (not in the manifest)".to_owned()), "{f:?}");

    let other = signer();
    let mut m = good.clone();
    seal(&mut m, &other);
    let r = verify(&m, Some(&KeyPin::KeyId(s.key_id().to_owned())));
    assert!(r.failures.contains(&format!("bundle signed with key {}, expected key {}", other.key_id(), s.key_id())), "{r:?}");
    assert!(r.failures.contains(&"checkpoint at audit row 2: signature invalid".to_owned()), "{r:?}");
}

#[test]
fn a_deleted_recording_is_a_note() {
    let s = signer();
    let mut m = bundle(&s);
    m.remove("recordings/1/1.cast");
    let text = String::from_utf8(m["audit/rows.jsonl"].clone()).unwrap();
    let last: AuditRow = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let del = row(3, "recording.deleted", "{\"channel\":1}", &last.hash);
    let text = text + &serde_json::to_string(&del).unwrap() + "\n";
    m.insert("audit/rows.jsonl".into(), text.into_bytes());
    let cp = Checkpoint { seq: 3, hash: del.hash.clone(), ts: 9, key_id: s.key_id().into(), signature: s.sign_b64(&checkpoint_message(3, &del.hash)) };
    m.insert("audit/checkpoint.json".into(), serde_json::to_vec(&cp).unwrap());
    seal(&mut m, &s);
    let r = verify(&m, None);
    assert!(r.ok, "{r:?}");
    assert!(r.notes[0].contains("recording.deleted in audit row 3"), "{r:?}");
}
