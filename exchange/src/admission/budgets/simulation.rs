//! A simulated day of pacing: the real [`Pacing`] (leases, controller, day plan) over the
//! in-process store, an injected clock, and synthetic traffic that follows a daily curve
//! with its peak at night. Each request, each campaign's pacer decides whether it bids; a
//! bid wins with the campaign's win rate and is charged a second-price-like share of its
//! eCPM, and the win notice commits the spend at once. CPS campaigns are charged their
//! expected cost at serve time (their real cost arrives with orders later).
//!
//! Used by the pacing test (which asserts the figures) and by
//! `cargo run --release -p benches --example pacing_day` (which prints them).

use super::{Pacing, PacingSettings};
use crate::auction::mix;
use crate::campaign::{self, PacingMode};
use crate::index;
use crate::shared::memory::MemoryStore;
use crate::shared::{EventId, PacingStore, SharedStore, Write};
use std::fmt::Write as _;

/// Seconds in the simulated day.
const DAY_SECS: i64 = 86_400;
/// Report slot length, seconds (15 minutes).
pub const SLOT_SECS: i64 = 900;

/// A campaign in the simulation.
#[derive(Debug, Clone)]
pub struct SimCampaign {
    /// Campaign id.
    pub id: String,
    /// Daily budget, currency units.
    pub daily_budget: f64,
    /// `cpm` (the value is the CPM bid) or `cps` (the value is the eCPM its pCTR × pCVR ×
    /// order value × commission give).
    pub model: &'static str,
    /// CPM bid, or the CPS eCPM.
    pub ecpm: f64,
    /// Share of bids that win.
    pub win_rate: f64,
    /// Pacing mode.
    pub mode: PacingMode,
}

/// The traffic of the day.
#[derive(Debug, Clone, Copy)]
pub struct Traffic {
    /// Mean requests per second over the day.
    pub mean_per_sec: f64,
    /// Amplitude of the daily curve (0: flat; 0.6: peak 1.6×, trough 0.4× the mean).
    pub amplitude: f64,
    /// Local hour of the peak.
    pub peak_hour: f64,
    /// Seed of every random draw.
    pub seed: u64,
}

/// One campaign's day.
#[derive(Debug, Clone)]
pub struct CampaignDay {
    /// Campaign id.
    pub id: String,
    /// Pacing mode.
    pub mode: PacingMode,
    /// Daily budget, micros.
    pub budget: i64,
    /// Spend committed by the end of the day, micros.
    pub spent: i64,
    /// Largest spend committed at any moment, micros (never above the budget).
    pub max_spent: i64,
    /// Per 15-minute slot: |spend − target| / budget at the slot's end.
    pub slot_deviation: Vec<f64>,
    /// Share of the day gone when the budget ran out, if it did.
    pub exhausted_at: Option<f64>,
}

impl CampaignDay {
    /// Spend / budget at the end of the day.
    pub fn utilisation(&self) -> f64 {
        self.spent as f64 / self.budget.max(1) as f64
    }

    /// The largest slot deviation.
    pub fn max_deviation(&self) -> f64 {
        self.slot_deviation.iter().copied().fold(0.0, f64::max)
    }
}

/// The whole simulated day.
#[derive(Debug, Clone)]
pub struct DayReport {
    /// Per campaign.
    pub campaigns: Vec<CampaignDay>,
    /// Requests simulated.
    pub requests: u64,
}

impl DayReport {
    /// The figures as a table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "simulated day: {} requests\n{:<10} {:>5} {:>12} {:>12} {:>11} {:>14} {:>13}",
            self.requests,
            "campaign",
            "mode",
            "budget",
            "spent",
            "utilisation",
            "max deviation",
            "exhausted at"
        );
        for c in &self.campaigns {
            let _ = writeln!(
                out,
                "{:<10} {:>5} {:>12.2} {:>12.2} {:>10.2}% {:>13.2}% {:>13}",
                c.id,
                c.mode.as_str(),
                c.budget as f64 / 1e6,
                c.spent as f64 / 1e6,
                c.utilisation() * 100.0,
                c.max_deviation() * 100.0,
                c.exhausted_at
                    .map_or("-".to_owned(), |f| format!("{:.1}%", f * 100.0)),
            );
        }
        out
    }
}

/// The campaign file of the simulation (time zone +08:00).
fn campaign_file(campaigns: &[SimCampaign]) -> String {
    let entries: Vec<String> = campaigns
        .iter()
        .map(|c| {
            let pricing = match c.model {
                // pCTR 0.01 × pCVR 0.05 × order value × 10% commission × 1000 = eCPM.
                "cps" => format!(
                    r#""pricing":{{"model":"cps","commission_rate":0.1,"avg_order_value":{}}},"base_ctr":0.01,"base_cvr":0.05"#,
                    c.ecpm / (0.01 * 0.05 * 0.1 * 1000.0)
                ),
                _ => format!(r#""pricing":{{"model":"cpm","bid":{}}}"#, c.ecpm),
            };
            format!(
                r#"{{"id":"{}","name":"{}","advertiser":"sim","adomain":["sim.example"],{pricing},
                "budget":{{"daily":{},"pacing":"{}"}},"timezone":"+08:00",
                "creatives":[{{"id":"b","format":"banner","w":300,"h":250,
                  "image_url":"https://sim.example/b.jpg","landing_url":"https://sim.example/p"}}]}}"#,
                c.id,
                c.id,
                c.daily_budget,
                c.mode.as_str()
            )
        })
        .collect();
    format!(r#"{{"campaigns":[{}]}}"#, entries.join(","))
}

/// A uniform draw in [0, 1) from `seed` and a counter.
fn uniform(seed: u64, n: u64) -> f64 {
    (mix(seed ^ mix(n)) >> 11) as f64 / (1u64 << 53) as f64
}

/// Simulates one day (in the campaigns' time zone, +08:00, starting at local midnight of
/// unix day `day`), settling leases every `settle_secs`.
pub async fn simulate_day(
    campaigns: &[SimCampaign],
    traffic: Traffic,
    day: i64,
    settle_secs: i64,
) -> DayReport {
    let text = campaign_file(campaigns);
    let file = campaign::parse(&text, "simulation.json", false).expect("valid simulation file");
    let compiled = campaign::compile(&file, "simulation.json").expect("valid simulation campaigns");
    let snapshot = index::build(compiled, 1, "simulation".into());
    let store = SharedStore::Memory(MemoryStore::default());
    let pacing = Pacing::new(PacingSettings {
        node: "sim".into(),
        lease_ttl_ms: 120_000,
        lease_secs: 10.0,
        max_lease_share: 0.05,
        settle_ms: settle_secs * 1000,
        reservation_secs: 3_600,
    });
    let table = pacing.table(&snapshot);
    let offset = 8 * 3600;
    let start = day * DAY_SECS - offset;
    let ids: Vec<usize> = campaigns
        .iter()
        .map(|c| snapshot.ids[&c.id] as usize)
        .collect();
    let mut days: Vec<CampaignDay> = campaigns
        .iter()
        .zip(&ids)
        .map(|(c, &id)| CampaignDay {
            id: c.id.clone(),
            mode: c.mode,
            budget: snapshot.campaigns[id].daily_budget_micros.unwrap_or(0),
            spent: 0,
            max_spent: 0,
            slot_deviation: Vec::new(),
            exhausted_at: None,
        })
        .collect();
    let mut requests = 0u64;
    let mut carry = 0.0;
    let mut draws = 0u64;
    for second in 0..DAY_SECS {
        let now_ms = (start + second) * 1000;
        if second % settle_secs == 0 {
            pacing.tick(&store, now_ms).await;
        }
        let hour = second as f64 / 3600.0;
        let curve = 1.0
            + traffic.amplitude * (std::f64::consts::TAU * (hour - traffic.peak_hour) / 24.0).cos();
        carry += traffic.mean_per_sec * curve;
        let arriving = carry.floor();
        carry -= arriving;
        for _ in 0..arriving as u64 {
            requests += 1;
            for (k, (c, &id)) in campaigns.iter().zip(&ids).enumerate() {
                let Some(pacer) = table.get(id) else { continue };
                draws += 1;
                let draw = (mix(traffic.seed ^ draws) % u64::from(super::THROTTLE_SCALE)) as u32;
                if pacer.admits(now_ms, draw).is_err() {
                    continue;
                }
                draws += 1;
                if uniform(traffic.seed, draws) >= c.win_rate {
                    continue;
                }
                draws += 1;
                // A second-price-like clearing between 70% and 100% of the eCPM.
                let share = 0.7 + 0.3 * uniform(traffic.seed, draws);
                let micros = (c.ecpm * share * 1000.0).round() as i64;
                if !pacer.charge(micros) {
                    continue;
                }
                let event = EventId {
                    auction: requests.to_string(),
                    imp: k.to_string(),
                };
                let local_day = super::local_day(now_ms, offset as i32);
                let write = Write::Spend {
                    campaign: c.id.clone(),
                    day: local_day,
                    micros,
                    event,
                    // The win's reservation, as its signed notice would carry it.
                    release: crate::shared::Release {
                        micros,
                        bucket: (now_ms.div_euclid(1000) + 3_600)
                            .div_euclid(crate::shared::keys::RESERVE_BUCKET_SECS),
                    },
                };
                let _ = store.apply(std::slice::from_ref(&write)).await;
                let record = &mut days[k];
                record.spent += micros;
                record.max_spent = record.max_spent.max(record.spent);
            }
        }
        if (second + 1) % SLOT_SECS == 0 {
            let elapsed = (second + 1) as f64 / DAY_SECS as f64;
            for record in &mut days {
                let target = record.budget as f64 * elapsed;
                let deviation = (record.spent as f64 - target).abs() / record.budget.max(1) as f64;
                if record.mode == PacingMode::Even {
                    record.slot_deviation.push(deviation);
                }
            }
        }
        for (record, c) in days.iter_mut().zip(campaigns) {
            let smallest_charge = (c.ecpm * 0.7 * 1000.0) as i64;
            if record.exhausted_at.is_none() && record.budget - record.spent < smallest_charge {
                record.exhausted_at = Some((second + 1) as f64 / DAY_SECS as f64);
            }
        }
    }
    DayReport {
        campaigns: days,
        requests,
    }
}

/// The standard day: four even campaigns of different budgets (one CPS) and one `asap`,
/// 10 requests a second on average, peak at 22:00.
pub fn standard_day() -> (Vec<SimCampaign>, Traffic) {
    let even = |id: &str, budget: f64, model: &'static str, ecpm: f64, win_rate: f64| SimCampaign {
        id: id.into(),
        daily_budget: budget,
        model,
        ecpm,
        win_rate,
        mode: PacingMode::Even,
    };
    let campaigns = vec![
        even("small", 150.0, "cpm", 20.0, 0.3),
        even("medium", 600.0, "cpm", 30.0, 0.4),
        even("large", 1_500.0, "cpm", 50.0, 0.5),
        even("cps", 400.0, "cps", 25.0, 0.35),
        SimCampaign {
            id: "asap".into(),
            daily_budget: 300.0,
            model: "cpm",
            ecpm: 20.0,
            win_rate: 0.3,
            mode: PacingMode::Asap,
        },
    ];
    let traffic = Traffic {
        mean_per_sec: 10.0,
        amplitude: 0.6,
        peak_hour: 22.0,
        seed: 0x5eed,
    };
    (campaigns, traffic)
}
