use super::*;
use crate::shared::{CounterBump, EventId};

fn event(n: u32) -> EventId {
    EventId {
        auction: format!("a{n}"),
        imp: "1".into(),
    }
}

fn spend(n: u32, micros: i64) -> Write {
    Write::Spend {
        campaign: "c1".into(),
        day: 20_000,
        micros,
        event: event(n),
        release: crate::shared::Release::NONE,
    }
}

fn impression(n: u32) -> Write {
    Write::Impression {
        user: UserKey(7),
        event: event(n),
        bumps: vec![CounterBump {
            field: "c:c1:86400".into(),
            bucket: 3,
            ttl_secs: 3_600,
        }],
    }
}

const NOW: u64 = 20_000 * 86_400 + 3_600;

#[test]
fn a_batch_counts_once_and_survives_reopening() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.db");
    {
        let db = Database::open(&path).expect("open");
        let counted = db
            .persist(
                &[spend(1, 500), impression(1), spend(1, 500), spend(2, 250)],
                NOW,
            )
            .expect("persist");
        assert_eq!(
            counted,
            [true, true, false, true],
            "the second spend(1) is a replay"
        );
        assert_eq!(
            db.persist(&[impression(1), impression(2)], NOW)
                .expect("persist"),
            [false, true]
        );
    }
    let db = Database::open(&path).expect("reopen");
    let state = db.load(NOW).expect("load");
    assert_eq!(state.spend["mem:b:{c1}:t"], 750);
    assert_eq!(state.spend["mem:b:{c1}:d:20000"], 750);
    assert_eq!(
        state.counters[&UserKey(7)],
        [("c:c1:86400".to_owned(), 3, 2, NOW + 3_600)]
    );
    // Markers outlive the reopening: a replay after a restart still counts nothing.
    assert_eq!(
        db.persist(&[spend(2, 250)], NOW + 60).expect("persist"),
        [false]
    );
    assert!(db.has_marker("mem:b:{c1}:n:a2:1").expect("marker"));
}

#[test]
fn expired_rows_go_and_lifetime_spend_stays() {
    let dir = tempfile::tempdir().expect("dir");
    let db = Database::open(&dir.path().join("store.db")).expect("open");
    db.persist(&[spend(1, 100), impression(1)], NOW)
        .expect("persist");
    let later = NOW + 10 * 86_400;
    assert!(
        db.expire(later).expect("expire") >= 3,
        "marker, counter, day spend"
    );
    let state = db.load(later).expect("load");
    assert_eq!(state.spend.get("mem:b:{c1}:t"), Some(&100));
    assert!(!state.spend.contains_key("mem:b:{c1}:d:20000"));
    assert!(state.counters.is_empty());
    // The marker expired with the validity window: the same event counts again.
    assert_eq!(
        db.persist(&[spend(1, 100)], later).expect("persist"),
        [true]
    );
}

#[test]
fn the_journal_keeps_batches_in_order_until_delivered() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.db");
    {
        let db = Database::open(&path).expect("open");
        db.spill(&[spend(1, 10), impression(1)]).expect("spill");
        db.spill(&[spend(2, 20)]).expect("spill");
    }
    let db = Database::open(&path).expect("reopen");
    assert_eq!(db.journal_len().expect("len"), 3);
    let rows = db.journal_rows(0, 2).expect("rows");
    let writes: Vec<Write> = rows.iter().map(|(_, w)| w.clone()).collect();
    assert_eq!(writes, [spend(1, 10), impression(1)]);
    // The second row could not be delivered: only the first goes.
    db.journal_remove(&[rows[0].0]).expect("remove");
    let rest = db.journal_rows(0, 10).expect("rows");
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].1, impression(1));
    // Reading on after the stuck row reaches the rows behind it.
    let behind = db.journal_rows(rest[0].0, 10).expect("rows");
    assert_eq!(
        behind.iter().map(|(_, w)| w.clone()).collect::<Vec<_>>(),
        [spend(2, 20)]
    );
    db.journal_remove(&[rest[0].0, rest[1].0]).expect("remove");
    assert!(db.journal_rows(0, 10).expect("rows").is_empty());
}

#[test]
fn a_folder_that_cannot_be_made_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let error = Database::open(&file.join("sub/store.db")).expect_err("not a folder");
    assert!(error.to_string().contains("cannot create"), "{error}");
}

#[test]
fn a_kept_secret_is_the_same_after_reopening() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.db");
    let first = Database::open(&path)
        .expect("open")
        .secret("notice")
        .expect("secret");
    assert_eq!(first.len(), 32);
    let again = Database::open(&path)
        .expect("reopen")
        .secret("notice")
        .expect("secret");
    assert_eq!(first, again);
    let other = Database::open(&path)
        .expect("reopen")
        .secret("other")
        .expect("secret");
    assert_ne!(first, other);
}
