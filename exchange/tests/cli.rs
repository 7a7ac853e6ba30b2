//! The `exchange` binary as a newcomer runs it: `check-config` on the sample configs, and
//! serving the README's example request, then a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn exchange() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exchange"));
    command
        .current_dir(repo())
        .env_remove("EXCHANGE_ADMIN_TOKEN")
        .env_remove("REDIS_URL");
    command
}

#[test]
fn the_store_is_named_and_a_bad_redis_is_a_clear_error() {
    let output = exchange().arg("check-config").output().expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("store: in process"), "{stdout}");
    let output = exchange()
        .args(["--redis", "ftp://nowhere", "check-config"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("store.redis_url"), "{stderr}");
    let output = exchange()
        .env("REDIS_URL", "redis://127.0.0.1:9/")
        .args(["check-config"])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("store: redis redis://127.0.0.1:9/"),
        "{stdout}"
    );
    // Nothing listens on port 9: serving fails at once, naming the store.
    let output = exchange()
        .args(["--redis", "redis://127.0.0.1:9/", "--listen", "127.0.0.1:0"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("cannot use the store at redis://127.0.0.1:9/"),
        "{stderr}"
    );
}

#[test]
fn check_config_accepts_the_samples() {
    let output = exchange().arg("check-config").output().expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("64 campaigns"), "{stdout}");
    assert!(stdout.contains("cps"), "{stdout}");
    let output = exchange()
        .args([
            "--config",
            "configs/exchange-with-bidders.toml",
            "check-config",
        ])
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("bidder fixed-price: http://127.0.0.1:9001/openrtb2/bid"),
        "{stdout}"
    );
    assert!(stdout.contains("bidder contextual:"), "{stdout}");
}

#[test]
fn check_config_names_file_and_field_of_every_error() {
    let dir = tempfile_dir();
    let campaigns = std::fs::read_to_string(repo().join("configs/campaigns.json")).expect("sample");
    let broken = campaigns
        .replacen("\"commission_rate\": ", "\"commission_rate\": 4", 1)
        .replacen("\"CHN\"", "\"CN\"", 1);
    std::fs::write(dir.join("campaigns.json"), broken).expect("write");
    std::fs::write(
        dir.join("exchange.toml"),
        "campaigns = \"campaigns.json\"\n",
    )
    .expect("write");
    let output = exchange()
        .args(["check-config", "--config"])
        .arg(dir.join("exchange.toml"))
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success());
    assert!(
        stdout.contains("campaigns.json: campaigns[")
            && stdout.contains("(c001-baby-nuanya).pricing.commission_rate: must be in (0, 1]"),
        "{stdout}"
    );
    assert!(
        stdout.contains(".targeting.countries[0]: use ISO-3166-1 alpha-3"),
        "{stdout}"
    );
    assert!(stdout.contains("2 error(s)"), "{stdout}");
    std::fs::write(dir.join("exchange.toml"), "[auction]\nmin_increment = 0\n").expect("write");
    let output = exchange()
        .args(["--config"])
        .arg(dir.join("exchange.toml"))
        .output()
        .expect("run");
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("auction.min_increment"),
        "exits before binding, naming the key"
    );
}

/// Starts the binary with `args` and returns it with the address it logged.
fn start(args: &[&std::ffi::OsStr]) -> (std::process::Child, String) {
    let mut command = exchange();
    command.args(["--listen", "127.0.0.1:0"]).args(args);
    spawn_listening(command)
}

/// Spawns `command` (a server told to listen on port 0) and returns it with the address
/// it logged.
fn spawn_listening(mut command: Command) -> (std::process::Child, String) {
    let (child, addr, _log) = spawn_logging(command.env("RUST_LOG", "info"));
    (child, addr)
}

/// Spawns `command` (a server told to listen on port 0); the server, the address it
/// logged, and every line of its log (the thread ends when the server does).
fn spawn_logging(
    command: &mut Command,
) -> (
    std::process::Child,
    String,
    std::thread::JoinHandle<Vec<String>>,
) {
    let mut child = command.stderr(Stdio::piped()).spawn().expect("spawn");
    // Read the log on a thread so that a server that never says where it listens fails
    // the test after a deadline instead of hanging it.
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let log = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listen=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
            lines.push(line);
        }
        lines
    });
    let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        panic!("the server did not log its listen address within 30 s");
    };
    (child, addr, log)
}

#[test]
fn serves_the_readme_example_and_stops_gracefully() {
    let (mut child, addr) = start(&[]);
    let body = std::fs::read(repo().join("configs/examples/banner-request.json")).expect("example");
    let (status, response) = post(&addr, "/openrtb2/auction", &body);
    assert_eq!(status, 200, "{response}");
    let json: serde_json::Value = serde_json::from_str(&response).expect("json");
    let bid = &json["seatbid"][0]["bid"][0];
    assert!(
        bid["adm"]
            .as_str()
            .is_some_and(|a| a.contains("<img src=\"https://")),
        "{json}"
    );
    assert_eq!(json["id"], "demo-banner-1");
    let native =
        std::fs::read(repo().join("configs/examples/native-request.json")).expect("example");
    let (status, response) = post(&addr, "/openrtb2/auction", &native);
    assert_eq!(status, 200, "{response}");
    let json: serde_json::Value = serde_json::from_str(&response).expect("json");
    let adm: serde_json::Value =
        serde_json::from_str(json["seatbid"][0]["bid"][0]["adm"].as_str().expect("adm"))
            .expect("native adm is JSON");
    assert!(
        adm["assets"].as_array().is_some_and(|a| a.len() >= 2),
        "{adm}"
    );

    let memory = admin_get(&addr, "/admin/memory", Some("change-me"));
    assert!(memory.starts_with("HTTP/1.1 200"), "{memory}");
    let view: serde_json::Value =
        serde_json::from_str(memory.split("\r\n\r\n").nth(1).expect("body")).expect("json");
    assert!(
        view["resident"]["total_kib"]
            .as_u64()
            .is_some_and(|kib| kib > 0),
        "{view}"
    );
    let stages: Vec<&str> = view["startup"]
        .as_array()
        .expect("stages")
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert!(
        stages.contains(&"segmenter") && stages.contains(&"campaign snapshot"),
        "{view}"
    );
    let refused = admin_get(&addr, "/admin/memory", None);
    assert!(refused.starts_with("HTTP/1.1 401"), "{refused}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = child.wait().expect("wait");
    assert!(status.success(), "graceful stop exits 0, got {status}");
}

/// `--print-memory` loads what serving loads, states what each stage added to the
/// resident set, and exits; the segmenter's dictionary is read in place from the binary
/// (a heap-built jieba dictionary added ~68 MiB).
#[test]
fn print_memory_states_each_start_up_stage_and_exits() {
    let output = exchange().arg("--print-memory").output().expect("run");
    let text = succeeded(&output);
    let added = |stage: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with(stage))
            .unwrap_or_else(|| panic!("no {stage:?} stage in\n{text}"));
        line[stage.len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{line}"))
    };
    for stage in [
        "process start",
        "config",
        "campaign snapshot",
        "runtime",
        "invalid-traffic checks",
        "affiliate database",
        "state",
    ] {
        added(stage);
    }
    assert!(added("segmenter") < 8.0, "{text}");
    assert!(text.contains("word vectors 64382 × 75"), "{text}");
}

fn admin_get(addr: &str, path: &str, token: Option<&str>) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{auth}connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

#[test]
fn sighup_reloads_the_campaign_file() {
    let dir = tempfile_dir().join("sighup");
    std::fs::create_dir_all(&dir).expect("dir");
    let campaigns = std::fs::read_to_string(repo().join("configs/campaigns.json")).expect("sample");
    std::fs::write(dir.join("campaigns.json"), &campaigns).expect("write");
    // The file watcher is off: only the signal can reload.
    std::fs::write(
        dir.join("exchange.toml"),
        "campaigns = \"campaigns.json\"\n[reload]\nwatch_interval_ms = 0\n",
    )
    .expect("write");
    let config = dir.join("exchange.toml");
    let (mut child, addr) = start(&["--config".as_ref(), config.as_os_str()]);
    assert!(get(&addr, "/readyz").contains("\"snapshot_version\":1"));
    let mut file: serde_json::Value = serde_json::from_str(&campaigns).expect("json");
    file["campaigns"].as_array_mut().expect("array").truncate(5);
    std::fs::write(dir.join("campaigns.json"), file.to_string()).expect("write");
    assert!(Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .expect("kill")
        .success());
    let mut ready = String::new();
    for _ in 0..100 {
        ready = get(&addr, "/readyz");
        if ready.contains("\"campaigns\":5") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        ready.contains("\"campaigns\":5") && ready.contains("\"snapshot_version\":2"),
        "{ready}"
    );
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().expect("wait").success());
}

fn get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

fn post(addr: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "exchange-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Runs `exchange train-ltv --orders ORDERS <dates...> --out OUT`.
fn train_ltv(orders: &Path, dates: &[&str], out: &Path) -> std::process::Output {
    exchange()
        .arg("train-ltv")
        .arg("--orders")
        .arg(orders)
        .args(dates)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run")
}

/// The standard output of a run that must have succeeded (both streams shown if not).
fn succeeded(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn train_ltv_fits_the_cdnow_orders_and_judges_the_holdout() {
    let shared =
        std::env::var_os("SHARED_DIR").map_or_else(|| repo().join("../shared"), PathBuf::from);
    let orders = shared.join("datasets/cdnow/orders.csv");
    assert!(
        orders.is_file(),
        "{} is missing: set SHARED_DIR",
        orders.display()
    );
    let dir = tempfile_dir();
    let out = dir.join("model.json");
    let output = train_ltv(
        &orders,
        &[
            "--calibration-end",
            "1997-09-30",
            "--holdout-end",
            "1998-06-30",
        ],
        &out,
    );
    let stdout = succeeded(&output);
    assert!(stdout.contains("2357 customers"), "{stdout}");
    assert!(stdout.contains("BG/NBD r 0.2426 alpha 4.41"), "{stdout}");
    assert!(stdout.contains("normalised Gini"), "{stdout}");
    assert!(stdout.contains("decile"), "{stdout}");
    let model: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("model")).expect("json");
    for key in ["r", "alpha", "a", "b"] {
        assert!(
            model["bgnbd"][key].as_f64().is_some_and(|v| v > 0.0),
            "{model}"
        );
    }
    for key in ["p", "q", "gamma"] {
        assert!(
            model["gamma_gamma"][key].as_f64().is_some_and(|v| v > 0.0),
            "{model}"
        );
    }
    assert!(model["log_likelihood"]["bgnbd"]
        .as_f64()
        .is_some_and(|ll| (ll + 9582.43).abs() < 0.05));
    // Bad input: a clear error, nothing written.
    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "customer_id,date,amount\n1,1997-02-30,10\n").expect("write");
    let output = train_ltv(
        &bad,
        &["--calibration-end", "1997-09-30"],
        &dir.join("none.json"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("line 2: date must be YYYY-MM-DD"),
        "{stderr}"
    );
    assert!(!dir.join("none.json").exists());
    let output = train_ltv(
        &orders,
        &["--calibration-end", "1997-9-30"],
        &dir.join("none.json"),
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("--calibration-end"));
}

#[test]
fn generated_orders_train_and_the_shipped_model_is_valid() {
    let dir = tempfile_dir();
    let orders = dir.join("orders.csv");
    let output = exchange()
        .args([
            "generate-orders",
            "--customers",
            "400",
            "--seed",
            "3",
            "--out",
        ])
        .arg(&orders)
        .output()
        .expect("run");
    succeeded(&output);
    let csv = std::fs::read_to_string(&orders).expect("orders");
    assert!(
        csv.starts_with("customer_id,date,amount\nc1,2025-"),
        "{}",
        &csv[..60]
    );
    let output = train_ltv(
        &orders,
        &["--calibration-end", "2025-10-05"],
        &dir.join("synthetic.json"),
    );
    let stdout = succeeded(&output);
    assert!(stdout.contains("400 customers"), "{stdout}");
    let shipped = std::fs::read_to_string(repo().join("configs/models/ltv.json")).expect("model");
    let model: exchange::ltv::train::LtvModel = serde_json::from_str(&shipped).expect("model file");
    model.validate().expect("the shipped model can serve");
}

/// CPU time (user + system) the process `pid` has used, in clock ticks (`/proc`).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    // Fields after the command name (which is in parentheses): utime is the 12th, stime
    // the 13th of those.
    let after = stat.rsplit_once(')').expect("stat format").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

#[test]
fn at_the_file_limit_silent_connections_do_not_spin_or_starve_the_server() {
    // The sample config with a short first-byte timeout, in a folder of its own.
    let dir = tempfile_dir().join("fd-limit");
    std::fs::create_dir_all(&dir).expect("dir");
    let configs = repo().join("configs");
    let sample = std::fs::read_to_string(configs.join("exchange.toml")).expect("sample");
    let config = sample
        .replace(
            "\"campaigns.json\"",
            &format!("{:?}", configs.join("campaigns.json")),
        )
        .replace(
            "\"models/ltv.json\"",
            &format!("{:?}", configs.join("models/ltv.json")),
        )
        .replace(
            "\"lexicon.toml\"",
            &format!("{:?}", configs.join("lexicon.toml")),
        )
        .replace(
            "\"semantic/zh-vectors.bin\"",
            &format!("{:?}", configs.join("semantic/zh-vectors.bin")),
        )
        .replace(
            "\"geo/sample.mmdb\"",
            &format!("{:?}", configs.join("geo/sample.mmdb")),
        )
        .replace(
            "\"publishers.toml\"",
            &format!("{:?}", configs.join("publishers.toml")),
        )
        .replace("\"ads-txt\"", &format!("{:?}", configs.join("ads-txt")))
        .replace(
            "\"ivt/datacenter.txt\"",
            &format!("{:?}", configs.join("ivt/datacenter.txt")),
        )
        .replace(
            "first_byte_timeout_ms = 5000",
            "first_byte_timeout_ms = 1000",
        );
    assert!(
        config.contains("first_byte_timeout_ms = 1000"),
        "the sample sets it"
    );
    let config_path = dir.join("exchange.toml");
    std::fs::write(&config_path, config).expect("config");
    // The binary under `ulimit -n 256` (a shell sets it: the tests forbid unsafe code).
    let mut command = Command::new("bash");
    command
        .args([
            "-c",
            "ulimit -n 256 && exec \"$0\" \"$@\"",
            env!("CARGO_BIN_EXE_exchange"),
            "--config",
        ])
        .arg(&config_path)
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(repo())
        .env_remove("EXCHANGE_ADMIN_TOKEN")
        .env_remove("REDIS_URL");
    let (mut child, addr) = spawn_listening(command);
    // More silent connections than the server has descriptors.
    let silent: Vec<TcpStream> = (0..400)
        .map(|_| TcpStream::connect(&addr).expect("connect"))
        .collect();
    let before = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(2));
    let spent = cpu_ticks(child.id()) - before;
    // A busy accept loop burns the whole 2 s (~200 ticks); a waiting one next to nothing.
    assert!(
        spent < 50,
        "{spent} ticks of CPU in 2 s with the descriptors full"
    );
    // A real request is served: silent connections time out and free their slots.
    let mut stream = TcpStream::connect(&addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream
        .write_all(
            format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n")
                .as_bytes(),
        )
        .expect("write");
    let mut answer = String::new();
    let read = stream.read_to_string(&mut answer);
    drop(silent);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    read.expect("an answer within 20 s");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

/// A child process killed and reaped when dropped (also when a test panics).
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private `redis-server` on a free port; its URL.
fn private_redis() -> (Reaped, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Reaped(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (bash tests/run installs it)"),
    );
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (child, format!("redis://127.0.0.1:{port}/"));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("redis-server did not listen on {port}");
}

/// The value of one Prometheus sample line (`name{labels} value`) in `metrics`.
fn sample(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {metrics}"))
}

/// Fires the bill notice of the first bid in an auction `response`, if any.
fn bill(addr: &str, response: &str) {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(response) else {
        return;
    };
    if let Some(burl) = json["seatbid"][0]["bid"][0]["burl"].as_str() {
        let path = burl
            .split_once("/notice/")
            .map(|(_, p)| format!("/notice/{p}"));
        let path = path
            .expect("a notice URL")
            .replace("${AUCTION_PRICE}", "1.0");
        get(addr, &path);
    }
}

#[test]
fn a_dead_store_is_logged_a_few_times_and_counted_every_time() {
    let dir = tempfile_dir().join("dead-store");
    std::fs::create_dir_all(&dir).expect("dir");
    let (redis, url) = private_redis();
    let campaigns = repo().join("configs/campaigns.json");
    std::fs::write(
        dir.join("exchange.toml"),
        format!(
            "campaigns = {:?}\n[store]\nredis_url = {url:?}\npath = \"journal.db\"\n",
            campaigns.display().to_string()
        ),
    )
    .expect("write");
    let mut command = exchange();
    command
        .env_remove("RUST_LOG")
        .arg("--config")
        .arg(dir.join("exchange.toml"))
        .args(["--listen", "127.0.0.1:0"]);
    let (mut child, addr, log) = spawn_logging(&mut command);
    let body: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("configs/examples/banner-request.json")).expect("example"),
    )
    .expect("json");
    let auction = |n: usize| {
        let mut request = body.clone();
        request["user"]["id"] = format!("u-{n}").into();
        post(&addr, "/openrtb2/auction", request.to_string().as_bytes())
    };
    // The store up: fills, notices land.
    let mut filled = 0;
    for n in 0..50 {
        let (status, response) = auction(n);
        if status == 200 {
            filled += 1;
            bill(&addr, &response);
        }
    }
    assert!(filled > 0, "nothing filled while the store was up");
    drop(redis);
    // The store dead for a few seconds: every request's frequency read fails, leases fail,
    // notices go to the journal; each failure is counted, few are logged.
    let until = std::time::Instant::now() + Duration::from_secs(4);
    let mut n = 1_000;
    while std::time::Instant::now() < until {
        let (_, response) = auction(n);
        bill(&addr, &response);
        n += 1;
    }
    let metrics = get(&addr, "/metrics");
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let log = log.join().expect("log");

    let failures = sample(&metrics, "exchange_frequency_reads_total{result=\"error\"}")
        + sample(&metrics, "exchange_frequency_reads_total{result=\"late\"}")
        + sample(&metrics, "exchange_budget_leases_total{result=\"error\"}")
        + sample(
            &metrics,
            "exchange_store_write_batches_total{result=\"failed\"}",
        );
    let suppressed: u64 = ["frequency_read", "budget_lease", "store_write", "accept"]
        .iter()
        .map(|site| {
            sample(
                &metrics,
                &format!("exchange_log_lines_suppressed_total{{site=\"{site}\"}}"),
            )
        })
        .sum();
    let warnings: Vec<&String> = log
        .iter()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect();
    assert!(
        failures >= 100,
        "the dead store should fail many calls ({failures}): {metrics}"
    );
    assert!(
        suppressed >= 50,
        "repeats are counted ({suppressed} of {failures})"
    );
    // Each site logs at most once per 10 s (a few sites, plus the shutdown's own lines).
    assert!(
        warnings.len() <= 10,
        "{} warnings for {failures} failures: {warnings:#?}",
        warnings.len()
    );
    assert!(
        warnings.iter().any(|l| l.contains("left_out=")),
        "{warnings:#?}"
    );
    assert!(
        !log.iter().any(|l| l.contains(" redis::")),
        "the Redis client's own reconnect noise is filtered by default: {log:#?}"
    );
}
