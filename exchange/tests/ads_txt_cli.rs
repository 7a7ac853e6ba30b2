//! `exchange ads-txt`: ads.txt files (and standard input) checked against the publisher
//! registry, as text and JSON, exit 1 on an error.

use serde_json::{json, Value};

const ASI: &str = "exchange.example";

const REGISTRY: &str = r#"
[[publishers]]
id = "pub-owner"
name = "Owner Media"
domains = ["owner.example"]
"#;

#[test]
fn the_ads_txt_command_checks_files_against_the_registry() {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(dir.path().join("publishers.toml"), REGISTRY).expect("registry");
    std::fs::write(
        dir.path().join("exchange.toml"),
        format!("publishers = \"publishers.toml\"\n[supply_chain]\nasi = \"{ASI}\"\n"),
    )
    .expect("config");
    std::fs::write(dir.path().join("campaigns.json"), r#"{"campaigns": []}"#).expect("campaigns");
    let good = dir.path().join("owner.example.ads.txt");
    std::fs::write(&good, "exchange.example, pub-owner, DIRECT\n").expect("file");
    let exchange = env!("CARGO_BIN_EXE_exchange");
    let run = |args: &[&str], stdin: &str| {
        use std::io::Write;
        let mut child = std::process::Command::new(exchange)
            .arg("--config")
            .arg(dir.path().join("exchange.toml"))
            .arg("ads-txt")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("run");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(stdin.as_bytes())
            .expect("write");
        let out = child.wait_with_output().expect("wait");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&[good.to_str().expect("path")], "");
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("authorises: pub-owner"), "{out}");
    let (code, out) = run(
        &["-", "--domain", "owner.example", "--json"],
        "exchange.example, pub-nobody, RESELLER\n",
    );
    assert_eq!(code, Some(1), "{out}");
    let reports: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(reports[0]["unauthorised_owners"], json!(["pub-owner"]));
    assert_eq!(reports[0]["findings"][1]["line"], 1);
    assert_eq!(reports[0]["findings"][1]["severity"], "error");
}
