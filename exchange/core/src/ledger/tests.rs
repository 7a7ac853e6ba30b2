use super::*;
use serde_json::json;

fn key() -> LedgerKey {
    LedgerKey::from_seed([7; 32])
}

/// A small ledger: money entries, a checkpoint, a statement of two lines, more entries,
/// a final checkpoint.
fn sample() -> Vec<Entry> {
    let key = key();
    let mut bodies = vec![
        json!({"kind":"click_charge","at_ms":1,"campaign":"c-1","amount_micros":300_000}),
        json!({"kind":"commission","at_ms":2,"order_id":"o-1","commission_micros":1_000_000}),
    ];
    let lines = [
        json!({"order_id":"o-1","commission_micros":1_000_000,"fee_micros":100_000,"payout_micros":900_000}),
        json!({"order_id":"o-2","commission_micros":-200_000,"fee_micros":-20_000,"payout_micros":-180_000}),
    ];
    let mut entries = Vec::new();
    let mut head = GENESIS;
    let push = |entries: &mut Vec<Entry>, head: &mut Hash, body: &Value| {
        let entry = Entry::next(entries.len() as u64 + 1, head, body).expect("canonical");
        *head = unhex(&entry.hash).expect("hex");
        entries.push(entry);
    };
    for body in bodies.drain(..) {
        push(&mut entries, &mut head, &body);
    }
    let covers = entries.len() as u64;
    let checkpoint = checkpoint_body(&key, covers, &head);
    push(&mut entries, &mut head, &checkpoint);
    for (i, line) in lines.iter().enumerate() {
        push(
            &mut entries,
            &mut head,
            &statement_line_body("2026-11", "publisher:p-1", i, line),
        );
    }
    push(
        &mut entries,
        &mut head,
        &statement_body(&key, "2026-11", "publisher:p-1", &lines),
    );
    push(
        &mut entries,
        &mut head,
        &json!({"kind":"hold","at_ms":3,"order_id":"o-3"}),
    );
    let covers = entries.len() as u64;
    let checkpoint = checkpoint_body(&key, covers, &head);
    push(&mut entries, &mut head, &checkpoint);
    entries
}

fn export(entries: &[Entry]) -> String {
    entries
        .iter()
        .map(|e| serde_json::to_string(e).expect("entry") + "\n")
        .collect()
}

/// Recomputes every hash from `from` on, as a forger who can rewrite the file would.
fn rechain(entries: &mut [Entry]) {
    let mut prev = GENESIS;
    for entry in entries.iter_mut() {
        entry.prev = hex(&prev);
        prev = chain_hash(&prev, &entry.body);
        entry.hash = hex(&prev);
    }
}

#[test]
fn a_sound_ledger_verifies_with_its_key() {
    let entries = sample();
    let verified = verify_export(&export(&entries), Some(&key().public_hex())).expect("sound");
    assert_eq!(verified.entries, entries.len() as u64);
    assert_eq!(verified.checkpoints, 2);
    assert_eq!(verified.statements, 1);
    assert_eq!(verified.unsigned_tail, 0);
    assert_eq!(verified.head, entries.last().expect("entries").hash);
}

#[test]
fn another_key_is_refused() {
    let other = LedgerKey::from_seed([8; 32]).public_hex();
    let problem = verify_export(&export(&sample()), Some(&other)).expect_err("wrong key");
    assert_eq!(problem.seq, 3, "{problem}");
}

#[test]
fn altering_an_entry_is_detected_at_that_entry() {
    let mut entries = sample();
    entries[1].body = entries[1].body.replace("1000000", "9000000");
    let problem = verify_export(&export(&entries), None).expect_err("altered");
    assert_eq!(problem.seq, 2);
    assert!(problem.message.contains("altered"), "{problem}");
}

#[test]
fn altering_and_rechaining_breaks_the_next_checkpoint() {
    let mut entries = sample();
    entries[1].body = entries[1].body.replace("1000000", "9000000");
    rechain(&mut entries);
    let stale = verify_export(&export(&entries), None).expect_err("stale head");
    assert!(stale.message.contains("cover"), "{stale}");
    // The forger also points the checkpoint at the new head: its signature gives it away.
    let old_head = serde_json::from_str::<Value>(&entries[2].body).expect("json")["head"]
        .as_str()
        .expect("head")
        .to_owned();
    entries[2].body = entries[2].body.replace(&old_head, &entries[2].prev.clone());
    rechain(&mut entries);
    let problem = verify_export(&export(&entries), Some(&key().public_hex())).expect_err("forged");
    assert_eq!(problem.seq, 3);
    assert!(problem.message.contains("signature"), "{problem}");
}

#[test]
fn removing_reordering_or_inserting_an_entry_is_detected() {
    let entries = sample();
    let mut removed = entries.clone();
    removed.remove(4);
    assert_eq!(
        verify_export(&export(&removed), None)
            .expect_err("removed")
            .seq,
        6
    );

    let mut reordered = entries.clone();
    reordered.swap(4, 5);
    assert_eq!(
        verify_export(&export(&reordered), None)
            .expect_err("reordered")
            .seq,
        6
    );

    let mut inserted = entries.clone();
    let extra = Entry::next(
        5,
        &unhex(&entries[3].hash).expect("hex"),
        &json!({"kind":"x"}),
    )
    .expect("canonical");
    inserted.insert(4, extra);
    let problem = verify_export(&export(&inserted), None).expect_err("inserted");
    assert_eq!(problem.seq, 5, "{problem}");
}

#[test]
fn a_statement_whose_line_changed_fails_its_root_even_rechained_without_checkpoints() {
    let mut entries = sample();
    entries[4].body = entries[4].body.replace("-200000", "-100000");
    entries.truncate(7);
    rechain(&mut entries);
    let problem = verify_export(&export(&entries), None).expect_err("line changed");
    assert_eq!(problem.seq, 6);
    assert!(problem.message.contains("root"), "{problem}");
}

#[test]
fn non_canonical_bodies_and_floats_are_refused() {
    assert!(canonical(&json!({"a": 1.5})).is_err());
    assert_eq!(
        canonical(&json!({"b": 1, "a": [true, null]})).expect("ok"),
        r#"{"a":[true,null],"b":1}"#
    );
    let mut entries = sample();
    entries[0].body = r#"{"kind": "click_charge"}"#.to_owned();
    rechain(&mut entries);
    let problem = verify_export(&export(&entries), None).expect_err("spaces");
    assert_eq!(problem.seq, 1);
}

#[test]
fn every_leaf_of_every_small_tree_proves_and_a_changed_leaf_does_not() {
    for size in 1..=33usize {
        let leaves: Vec<Hash> = (0..size)
            .map(|i| leaf_hash(format!("line {i}").as_bytes()))
            .collect();
        let root = merkle_root(&leaves);
        for (index, leaf) in leaves.iter().enumerate() {
            let path = inclusion_proof(&leaves, index).expect("in range");
            assert!(
                verify_inclusion(leaf, index as u64, size as u64, &path, &root),
                "{size}/{index}"
            );
            let other = leaf_hash(b"forged");
            assert!(!verify_inclusion(
                &other,
                index as u64,
                size as u64,
                &path,
                &root
            ));
            if size > 1 {
                let wrong = (index + 1) % size;
                assert!(
                    !verify_inclusion(leaf, wrong as u64, size as u64, &path, &root),
                    "{size}/{index}"
                );
            }
        }
        assert!(inclusion_proof(&leaves, size).is_none());
    }
}

#[test]
fn the_tree_matches_rfc_9162_on_a_worked_example() {
    // Three leaves: root = H(1 ‖ H(1 ‖ a ‖ b) ‖ c).
    let (a, b, c) = (leaf_hash(b"a"), leaf_hash(b"b"), leaf_hash(b"c"));
    let node = |l: &Hash, r: &Hash| -> Hash {
        let mut h = Sha256::new();
        h.update([1u8]);
        h.update(l);
        h.update(r);
        h.finalize().into()
    };
    assert_eq!(merkle_root(&[a, b, c]), node(&node(&a, &b), &c));
    assert_eq!(
        inclusion_proof(&[a, b, c], 2).expect("in range"),
        vec![node(&a, &b)]
    );
}
