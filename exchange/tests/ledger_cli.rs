//! `exchange ledger verify` on a ledger export and on each way of tampering with it:
//! altering, removing, reordering and inserting an entry, rewriting the chain after an
//! alteration, and changing a statement line. The binary names the first bad entry, and
//! the independent Python verifier (`tests/ledger_verify.py`) agrees entry for entry.

use exchange::ledger::{
    chain_hash, checkpoint_body, hex, statement_body, statement_line_body, unhex, Entry, LedgerKey,
    GENESIS,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn key() -> LedgerKey {
    LedgerKey::from_seed([42; 32])
}

/// Money entries, a checkpoint, a statement of three lines, more entries, a checkpoint.
fn ledger() -> Vec<Entry> {
    let key = key();
    let lines: Vec<serde_json::Value> = (0..3)
        .map(|i| {
            json!({"kind":"settled","order_id":format!("O{i}"),"line_id":"1",
                   "publisher":"p1","rules":["base","fee"],"note":"面霜 \u{1F600} \"quoted\"",
                   "commission_micros":1_000_000 * (i + 1),"fee_micros":100_000 * (i + 1),
                   "payout_micros":900_000 * (i + 1)})
        })
        .collect();
    let mut bodies = vec![
        json!({"kind":"click_charge","at_ms":1,"campaign":"c","amount_micros":300_000}),
        json!({"kind":"commission","at_ms":2,"order_id":"O0","commission_micros":1_000_000}),
        json!({"kind":"hold","at_ms":3,"order_id":"F9","reasons":["burst"]}),
    ];
    let mut entries: Vec<Entry> = Vec::new();
    let mut head = GENESIS;
    let push = |body: serde_json::Value, entries: &mut Vec<Entry>, head: &mut [u8; 32]| {
        let entry = Entry::next(entries.len() as u64 + 1, head, &body).expect("canonical");
        *head = unhex(&entry.hash).expect("hex");
        entries.push(entry);
    };
    for body in bodies.drain(..) {
        push(body, &mut entries, &mut head);
    }
    let checkpoint = checkpoint_body(&key, entries.len() as u64, &head);
    push(checkpoint, &mut entries, &mut head);
    for (i, line) in lines.iter().enumerate() {
        push(
            statement_line_body("2026-12", "publisher:p1", i, line),
            &mut entries,
            &mut head,
        );
    }
    push(
        statement_body(&key, "2026-12", "publisher:p1", &lines),
        &mut entries,
        &mut head,
    );
    push(
        json!({"kind":"review","at_ms":4,"order_id":"O1"}),
        &mut entries,
        &mut head,
    );
    let checkpoint = checkpoint_body(&key, entries.len() as u64, &head);
    push(checkpoint, &mut entries, &mut head);
    entries
}

fn text(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| serde_json::to_string(e).expect("json") + "\n")
        .collect()
}

fn rechain(entries: &mut [Entry]) {
    let mut prev = GENESIS;
    for entry in entries {
        entry.prev = hex(&prev);
        prev = chain_hash(&prev, &entry.body);
        entry.hash = hex(&prev);
    }
}

/// Both verifiers on `entries`: (binary ok, its output, python ok, its output).
fn verify(entries: &[Entry], with_key: bool) -> (bool, String, bool, String) {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("ledger.jsonl");
    std::fs::write(&file, text(entries)).expect("write");
    let public = key().public_hex();
    let mut binary = Command::new(env!("CARGO_BIN_EXE_exchange"));
    binary.args(["ledger", "verify"]).arg(&file);
    let mut python = Command::new("python3");
    python.arg(repo().join("tests/ledger_verify.py")).arg(&file);
    if with_key {
        binary.args(["--key", &public]);
        python.args(["--key", &public]);
    }
    let ours = binary.output().expect("exchange runs");
    let theirs = python.output().expect("python3 runs");
    (
        ours.status.success(),
        String::from_utf8_lossy(&ours.stdout).into_owned(),
        theirs.status.success(),
        String::from_utf8_lossy(&theirs.stdout).into_owned(),
    )
}

/// Both refuse, naming `entry`.
fn both_refuse(entries: &[Entry], entry: u64, why: &str) {
    let (ok, ours, py_ok, theirs) = verify(entries, true);
    assert!(!ok && !py_ok, "{why}: {ours} / {theirs}");
    let named = format!("bad: entry {entry} ");
    assert!(ours.starts_with(&named), "{why}: ours {ours}");
    assert!(theirs.starts_with(&named), "{why}: python {theirs}");
}

#[test]
fn a_sound_export_verifies_in_both() {
    let entries = ledger();
    let (ok, ours, py_ok, theirs) = verify(&entries, true);
    assert!(ok, "{ours}");
    assert!(py_ok, "{theirs}");
    assert!(
        ours.contains("10 entries from 1, 2 checkpoints, 1 statements, 0 entries after"),
        "{ours}"
    );
    assert!(
        theirs.contains("10 entries, 2 checkpoints, 1 statements"),
        "{theirs}"
    );
    let head = &entries.last().expect("entries").hash;
    assert!(ours.contains(head.as_str()) && theirs.contains(head.as_str()));
    // Without --key, the key is trusted as found, and said so.
    let (ok, ours, py_ok, _) = verify(&entries, false);
    assert!(ok && py_ok);
    assert!(ours.contains("trusted as found"), "{ours}");
}

#[test]
fn every_kind_of_tampering_is_named_at_its_first_bad_entry_by_both() {
    let sound = ledger();

    let mut altered = sound.clone();
    altered[1].body = altered[1].body.replace("1000000", "2000000");
    both_refuse(&altered, 2, "altered");

    let mut removed = sound.clone();
    removed.remove(2);
    both_refuse(&removed, 4, "removed");

    let mut reordered = sound.clone();
    reordered.swap(0, 1);
    both_refuse(&reordered, 1, "reordered: entry 1 after entry 2");

    let mut inserted = sound.clone();
    let forged = Entry::next(
        3,
        &unhex(&sound[1].hash).expect("hex"),
        &json!({"kind":"commission","order_id":"FORGED","commission_micros":9}),
    )
    .expect("canonical");
    inserted.insert(2, forged);
    both_refuse(&inserted, 3, "inserted: the next entry repeats 3");

    // Rewritten after an alteration: the checkpoint's head (and then its signature) breaks.
    let mut rewritten = sound.clone();
    rewritten[1].body = rewritten[1].body.replace("1000000", "2000000");
    rechain(&mut rewritten);
    both_refuse(&rewritten, 4, "rechained");

    // A statement line changed and everything after rewritten: the root gives it away.
    let mut line = sound[..8].to_vec();
    line[5].body = line[5].body.replace("2000000", "2500000");
    rechain(&mut line);
    both_refuse(&line, 8, "statement line");

    // Signed by another key.
    let (ok, ours, py_ok, theirs) = verify(&sound, true);
    assert!(ok && py_ok, "{ours}{theirs}");
    let other = LedgerKey::from_seed([1; 32]);
    let mut foreign = sound[..3].to_vec();
    let head = unhex(&foreign[2].hash).expect("hex");
    foreign.push(Entry::next(4, &head, &checkpoint_body(&other, 3, &head)).expect("canonical"));
    both_refuse(&foreign, 4, "another key");
}
