//! The `loadtest` binary as people run it: `run` and `sweep` against the baseline.

use std::process::Command;

fn loadtest() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_loadtest"));
    command.current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    command
}

#[test]
fn run_writes_the_reports_people_read() {
    let baseline = loadtest::servers::start_baseline().expect("baseline");
    let dir = std::env::temp_dir().join(format!("loadtest-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (json, html) = (dir.join("report.json"), dir.join("report.html"));
    let output = loadtest()
        .args(["run", "--target", &format!("http://{}", baseline.addr)])
        .args([
            "--rate",
            "100",
            "--duration",
            "1s",
            "--warmup",
            "0s",
            "--quiet",
        ])
        .arg("--json")
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .output()
        .expect("run loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("achieved") && stdout.contains("p99"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("valid json");
    assert_eq!(report["target_rate"], 100.0);
    assert_eq!(report["errors"], 0);
    assert!(
        report["requests"].as_u64().is_some_and(|n| n >= 95),
        "{report}"
    );
    for key in ["p50", "p90", "p99", "p999", "p9999", "max"] {
        assert!(
            report["latency_us"][key].as_u64().is_some_and(|us| us > 0),
            "{key}: {report}"
        );
    }
    let page = std::fs::read_to_string(&html).expect("html");
    assert!(page.contains("<svg") && page.contains("percentile spectrum"));
    let _ = std::fs::remove_dir_all(&dir);
    baseline.stop();
}

#[test]
fn sweep_reports_the_highest_rate_holding_the_objective() {
    let baseline = loadtest::servers::start_baseline().expect("baseline");
    let output = loadtest()
        .args(["sweep", "--target", &format!("http://{}", baseline.addr)])
        .args([
            "--from",
            "50",
            "--to",
            "100",
            "--step",
            "50",
            "--slo-p99",
            "500ms",
        ])
        .args(["--duration", "1s", "--warmup", "0s"])
        .output()
        .expect("run loadtest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("| 50 |") && stdout.contains("| 100 |"),
        "{stdout}"
    );
    assert!(stdout.contains("highest rate holding p99"), "{stdout}");
    baseline.stop();
}

#[test]
fn bad_arguments_are_refused_with_a_reason() {
    let output = loadtest()
        .args(["run", "--target", "ftp://x", "--rate", "10"])
        .output()
        .expect("run loadtest");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("http://host"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = loadtest()
        .args([
            "run",
            "--target",
            "http://127.0.0.1:1",
            "--rate",
            "10",
            "--duration",
            "5",
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("add a unit"));
}
