//! Prints the trend simulation's figures (the season `exchange_core::trends`'s tests assert
//! on): when a topic rising to four times its share is detected, how strongly it trends at
//! its top, when it fades, whether a steady topic ever trends, and the rising topic's ratio
//! every 12 hours.
//! `cargo run --release -p benches --example trend_simulation`.

use exchange::trends::simulation::{run, RISE};
use exchange::trends::TrendSettings;

fn main() {
    let settings = TrendSettings::default();
    println!(
        "defaults: recent half-life {} h, baseline {} h, trending from ratio {} with {} pages, full at {}",
        settings.recent_half_life_hours,
        settings.baseline_half_life_hours,
        settings.min_ratio,
        settings.min_pages,
        settings.full_ratio
    );
    println!(
        "rise from hour {} to {} (4x), fall from {} over 48 h",
        RISE.0, RISE.1, RISE.2
    );
    for (seed, pages) in [(1, 2_000), (2, 2_000), (3, 200), (4, 20_000)] {
        let report = run(seed, pages, &settings);
        println!(
            "seed {seed}, {pages} pages/h: detected after {:?} h, at the top ratio {:.2} strength {:.2}, faded {:?} h after the fall began, false alarms {}",
            report.detected_after_hours,
            report.at_peak.0,
            report.at_peak.1,
            report.faded_after_hours,
            report.false_alarms.len()
        );
    }
    let report = run(1, 2_000, &settings);
    println!("seed 1 timeline (hour: ratio, strength):");
    for (hour, ratio, strength) in report
        .timeline
        .iter()
        .filter(|t| t.0 >= RISE.0 - 24 && t.0 <= RISE.2 + 72)
    {
        println!("  {hour:>4}: {ratio:.2}, {strength:.2}");
    }
}
