//! The money ledger and settlement, on this machine's disk:
//! - `ledger/append_in_memory`: one entry's canonical encoding and chain hash (the CPU cost
//!   of an append);
//! - `ledger/append_sqlite_1000`: 1,000 entries appended in one SQLite transaction (head
//!   lock, insert, head update; a checkpoint every 1,000), committed with `synchronous =
//!   FULL`;
//! - `ledger/queue_then_sequence_1000`: the path money events take: 1,000 queued in one
//!   transaction, then chained by the sequencer in one (insert, delete from the queue);
//! - `ledger/append_sqlite_1`: one entry appended directly in its own transaction;
//! - `ledger/verify_10k`: `verify_export` of a 10,000-entry export with its checkpoints;
//! - `settlement/sqlite_2000_lines`: settling a period of 1,000 attributed orders of two
//!   lines each (lock, realised commission with volume tiers, deltas scan, two statements
//!   with Merkle roots, ~4,000 ledger entries, a checkpoint), one transaction.

#![allow(missing_docs)] // criterion_group! generates an undocumented function.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use exchange::affiliate::database::ledger::LedgerSettings;
use exchange::affiliate::database::{AffiliateDb, CampaignTerms, ClickRecord, OrderContext};
use exchange::config::FraudConfig;
use exchange::cycle::{Cycle, Period};
use exchange::ledger::{checkpoint_body, unhex, verify_export, Entry, LedgerKey, GENESIS};
use exchange::orders::OrderReport;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CYCLE: Cycle = Cycle {
    close_day: 15,
    pay_day: 20,
    utc_offset_secs: 8 * 3600,
};
/// 2026-11-01 00:00 UTC: orders are placed and confirmed then; period 2026-12 settles them.
const ORDER_TIME: i64 = 1_793_491_200;

fn body(i: u64) -> serde_json::Value {
    serde_json::json!({
        "kind": "commission", "at_ms": 1_793_491_200_000u64 + i, "advertiser": "adv-zhutie",
        "order_id": format!("O{i}"), "line_id": "1", "version": 1, "state": "confirmed",
        "campaign": "c032-kitchen-zhutie", "publisher": "pub-mama", "currency": "CNY",
        "value_micros": 299_000_000, "commission_micros": 59_800_000,
        "exchange_micros": 59_800_000, "delta_micros": 59_800_000, "fee_micros": 5_980_000,
        "rules": ["base", "fee"], "review": null,
    })
}

fn settings() -> LedgerSettings {
    LedgerSettings {
        key: LedgerKey::from_seed([3; 32]),
        checkpoint_every: 1000,
    }
}

/// What settlement reads outside the database: one CPS campaign, the cycle.
struct Context;

impl OrderContext for Context {
    fn campaign(&self, _: &str) -> Option<CampaignTerms> {
        let spec: exchange::commission::CommissionSpec = serde_json::from_str(
            r#"{"repurchase":{"within_days":90,"rate":0.25},"platform_fee":0.1,"lock_days":15,
                "volume_tiers":[{"orders":500,"bonus":0.02,"applies":"whole_period"}]}"#,
        )
        .ok()?;
        Some(CampaignTerms {
            window_secs: 7 * 86_400,
            base_rate: Some(0.2),
            cps: true,
            view_through_secs: None,
            commission: exchange::commission::CommissionRules::compile(Some(&spec), Some(0.2))
                .ok()?,
        })
    }
    fn to_exchange(&self, _: &str, micros: i64) -> Option<i64> {
        Some(micros)
    }
    fn is_publishers_own(&self, _: &str, _: &str) -> bool {
        false
    }
    fn rules(&self) -> FraudConfig {
        FraudConfig {
            click_needs_impression: false,
            orders_per_buyer_per_hour: 1_000_000,
            outlier_factor: 1e9,
            ..FraudConfig::default()
        }
    }
    fn user_keys(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
    fn cycle(&self) -> Cycle {
        CYCLE
    }
}

/// A fresh database with `orders` attributed, confirmed orders of two lines.
fn populated(dir: &tempfile::TempDir, orders: usize) -> AffiliateDb {
    let db = AffiliateDb::open(&dir.path().join("affiliate.db"), settings()).expect("db");
    let clicks: Vec<ClickRecord> = (0..orders)
        .map(|i| ClickRecord {
            click_id: format!("click-{i}"),
            at_ms: (ORDER_TIME - 60) * 1000,
            auction: format!("a{i}"),
            imp: "1".into(),
            campaign: "c032-kitchen-zhutie".into(),
            creative: "b300x250".into(),
            advertiser: "adv-zhutie".into(),
            user: None,
            publisher: Some("pub-mama".into()),
            placement: Some(["guide-top", "live-room"][i % 2].into()),
            sub_id: Some(format!("koc-{}", i % 7)),
            source_mismatch: false,
            page_category: None,
            cpc_micros: None,
            commission_rate: Some(0.2),
            served_ms: (ORDER_TIME - 61) * 1000,
            ip: Some(format!("198.51.100.{}", i % 250)),
            user_agent: None,
            flag: None,
        })
        .collect();
    db.insert_events(&[], &clicks, &Context.rules())
        .expect("clicks");
    let confirmed_ms = ORDER_TIME * 1000 + 60_000;
    for i in 0..orders {
        let report: OrderReport = serde_json::from_value(serde_json::json!({
            "order_id": format!("O{i}"), "currency": "CNY", "order_time": ORDER_TIME,
            "click_id": format!("click-{i}"), "status": "confirmed",
            "buyer": {"account": format!("buyer-{}", i % 400)},
            "lines": [{"line_id": "1", "sku": "WOK-32", "quantity": 1, "price": 299.0},
                      {"line_id": "2", "sku": "WOK-LID-32", "quantity": 2, "price": 49.5}],
        }))
        .expect("report");
        let update = report.validate(ORDER_TIME + 60).expect("valid");
        db.apply_order("adv-zhutie", &update, confirmed_ms, &Context)
            .expect("applied");
    }
    db
}

fn ledger(c: &mut Criterion) {
    let mut group = c.benchmark_group("ledger");
    group.throughput(Throughput::Elements(1));
    let sample = body(7);
    group.bench_function("append_in_memory", |b| {
        let mut head = GENESIS;
        let mut seq = 0;
        b.iter(|| {
            seq += 1;
            let entry = Entry::next(seq, &head, black_box(&sample)).expect("canonical");
            head = unhex(&entry.hash).expect("hex");
            entry
        })
    });
    let dir = tempfile::tempdir().expect("dir");
    let db = AffiliateDb::open(&dir.path().join("ledger.db"), settings()).expect("db");
    let batch: Vec<serde_json::Value> = (0..1000).map(body).collect();
    group.throughput(Throughput::Elements(1000));
    group.sample_size(20);
    group.bench_function("append_sqlite_1000", |b| {
        b.iter(|| db.append_ledger(black_box(&batch), 0).expect("appended"))
    });
    group.bench_function("queue_then_sequence_1000", |b| {
        b.iter(|| {
            db.queue_ledger(black_box(&batch), 0).expect("queued");
            db.sequence_ledger(10_000).expect("chained")
        })
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("append_sqlite_1", |b| {
        b.iter(|| {
            db.append_ledger(std::slice::from_ref(&sample), 0)
                .expect("appended")
        })
    });
    // A 10,000-entry export, checkpointed every 1,000.
    let key = LedgerKey::from_seed([3; 32]);
    let mut head = GENESIS;
    let mut text = String::new();
    for seq in 1..=10_000u64 {
        let body = if seq % 1000 == 0 {
            checkpoint_body(&key, seq - 1, &head)
        } else {
            body(seq)
        };
        let entry = Entry::next(seq, &head, &body).expect("canonical");
        head = unhex(&entry.hash).expect("hex");
        text.push_str(&serde_json::to_string(&entry).expect("json"));
        text.push('\n');
    }
    let public = key.public_hex();
    group.throughput(Throughput::Elements(10_000));
    group.sample_size(10);
    group.bench_function("verify_10k", |b| {
        b.iter(|| verify_export(black_box(&text), Some(&public)).expect("sound"))
    });
    group.finish();

    let mut group = c.benchmark_group("settlement");
    group.sample_size(10);
    group.throughput(Throughput::Elements(2000));
    let period = Period::parse("2026-12").expect("period");
    let after = CYCLE.bounds_ms(period).1 + 3_600_000;
    group.bench_function("sqlite_2000_lines", |b| {
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("dir");
                let db = populated(&dir, 1000);
                (dir, db)
            },
            |(dir, db)| {
                let settled = db.settle(CYCLE, period, after, &Context).expect("settled");
                assert_eq!(settled.summary["lines"], 2000);
                (dir, db)
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, ledger);
criterion_main!(benches);
