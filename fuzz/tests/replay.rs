//! Replays every committed fuzz input through its target, in the normal test suite: the
//! minimised corpus of each target (`fuzz/corpus/<target>/`, what the fuzzer found worth
//! keeping) and every input that once crashed or hung (`fuzz/regressions/<target>/`, each a
//! bug fixed since). A target whose corpus folder is empty or missing fails, so the replay
//! cannot pass by running nothing. It takes seconds: the corpora are small.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file() && !p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "README.md")).collect();
    files.sort();
    files
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// Runs one target over its corpus and regressions; returns how many inputs ran.
fn replay(name: &str, target: fn(&[u8])) -> usize {
    let corpus = inputs(&root().join("corpus").join(name));
    assert!(!corpus.is_empty(), "fuzz/corpus/{name} is empty or missing: nothing to replay");
    let regressions = inputs(&root().join("regressions").join(name));
    for file in corpus.iter().chain(&regressions) {
        let data = std::fs::read(file).unwrap();
        if std::panic::catch_unwind(|| target(&data)).is_err() {
            panic!("{name}: {} fails", file.display());
        }
    }
    corpus.len() + regressions.len()
}

#[test]
fn every_target_has_a_corpus_and_replays_it() {
    let mut ran = Vec::new();
    for (name, target) in portcullis_fuzz::TARGETS {
        ran.push((name, replay(name, target)));
    }
    eprintln!("replayed: {ran:?}");
}

/// The folders hold exactly the targets the crate has: a corpus left behind by a renamed
/// target, or one folder misspelt, would otherwise be silently skipped.
#[test]
fn corpus_folders_match_the_targets() {
    for folder in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root().join(folder)) else { continue };
        for e in entries {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(portcullis_fuzz::TARGETS.iter().any(|(t, _)| *t == name), "fuzz/{folder}/{name} is not a target");
        }
    }
}

/// The replay does fail on an input that breaks a target's check: a corpus is no help if a
/// crash in it went unnoticed.
#[test]
fn a_failing_input_fails_the_replay() {
    fn broken(data: &[u8]) {
        assert!(!data.windows(7).any(|w| w == b"request"), "found");
    }
    let result = std::panic::catch_unwind(|| replay("lobby", broken));
    assert!(result.is_err(), "the lobby corpus holds request lines, which the broken target refuses");
}
