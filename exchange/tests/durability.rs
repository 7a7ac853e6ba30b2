//! What a notice answered 2xx is worth after a crash: the `exchange` binary is killed
//! (`kill -9`) or stopped (SIGTERM) and started again on the same files, and what it
//! acknowledged is counted against what survived — on the embedded store, and on Redis
//! while Redis hangs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Signing keys shared by every start (URLs issued before a restart must verify after).
const KEYS: &str = "k1:durability-test-secret-0123456789abcdef";
const TOKEN: &str = "durability-token";
/// One impression at 20 CPM, in currency units.
const IMPRESSION: f64 = 0.02;

fn campaign(cap: bool) -> String {
    let cap = if cap {
        r#","frequency_cap":{"count":3,"window":"1d"}"#
    } else {
        ""
    };
    format!(
        r#"{{"campaigns":[{{"id":"dur","name":"dur","advertiser":"adv","adomain":["dur.example"],
        "pricing":{{"model":"cpm","bid":20}},"budget":{{"total":1000,"pacing":"asap"}}{cap},
        "creatives":[{{"id":"b1","format":"banner","w":300,"h":250,
          "image_url":"https://img.example/d.jpg","landing_url":"https://dur.example/p"}}]}}]}}"#
    )
}

/// A folder with a config and a campaign file; the store file goes in `state/`.
fn setup(name: &str, cap: bool, extra: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("exchange-durability-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("campaigns.json"), campaign(cap)).expect("campaigns");
    let config = format!(
        "campaigns = \"campaigns.json\"\npublic_url = \"http://exchange.invalid\"\n\
         [admin]\ntoken = \"{TOKEN}\"\n[store]\npath = \"state/exchange.db\"\nsettle_ms = 100\n{extra}"
    );
    std::fs::write(dir.join("exchange.toml"), config).expect("config");
    dir
}

/// Starts the binary on `dir`'s config with the test's notice keys; the process and its
/// address.
fn start(dir: &Path, redis: Option<&str>) -> (Child, String) {
    start_with_keys(dir, redis, Some(KEYS))
}

/// Starts the binary on `dir`'s config with `keys` (none: the config's, here none).
fn start_with_keys(dir: &Path, redis: Option<&str>, keys: Option<&str>) -> (Child, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exchange"));
    command
        .arg("--config")
        .arg(dir.join("exchange.toml"))
        .args(["--listen", "127.0.0.1:0"])
        .env_remove("EXCHANGE_ADMIN_TOKEN")
        .env_remove("REDIS_URL")
        .env_remove("EXCHANGE_NOTICE_KEYS")
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped());
    if let Some(keys) = keys {
        command.env("EXCHANGE_NOTICE_KEYS", keys);
    }
    if let Some(url) = redis {
        command.args(["--redis", url]);
    }
    let mut child = command.spawn().expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listen=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server logged its address");
    (child, addr)
}

/// One HTTP/1.1 exchange on a fresh connection: status and body.
fn call(addr: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {TOKEN}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// An auction for `user`; the win notice's path (price filled), or `None` on no bid.
fn win_notice(addr: &str, id: &str, user: &str) -> Option<String> {
    let request = format!(
        r#"{{"id":"{id}","at":1,"tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
        "site":{{"id":"s1","domain":"news.example"}},"user":{{"id":"{user}"}}}}"#
    );
    let (status, body) = call(addr, "POST", "/openrtb2/auction", &request);
    if status == 204 {
        return None;
    }
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let nurl = json["seatbid"][0]["bid"][0]["nurl"].as_str().expect("nurl");
    Some(
        nurl.replace("http://exchange.invalid", "")
            .replace("${AUCTION_PRICE}", "20"),
    )
}

fn fire(addr: &str, path: &str) -> u16 {
    call(addr, "GET", path, "").0
}

/// Waits until the admin view's lifetime spend is `expected`; the last value seen.
fn spend_reaches(addr: &str, expected: f64) -> f64 {
    let until = Instant::now() + Duration::from_secs(20);
    let mut seen = f64::NAN;
    while Instant::now() < until {
        let (status, body) = call(addr, "GET", "/admin/campaigns/dur/pacing", "");
        if status == 200 {
            let json: serde_json::Value = serde_json::from_str(&body).expect("json");
            seen = json["spent_total"].as_f64().unwrap_or(f64::NAN);
            if (seen - expected).abs() < 1e-9 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    seen
}

fn kill(child: &mut Child, signal: &str) {
    Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill");
    child.wait().expect("wait");
}

/// Sends SIGTERM and waits for the process to exit, failing past `bound` (a shutdown
/// that never ends is the bug; how fast it ends is not measured here).
fn stop_within(child: &mut Child, bound: Duration) {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    let until = Instant::now() + bound;
    loop {
        if child.try_wait().expect("wait").is_some() {
            return;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("SIGTERM did not end the process within {bound:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_ends_the_process_under_a_notice_flood() {
    let dir = setup("flood-stop", false, "");
    let (mut child, addr) = start(&dir, None);
    let flooding = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut floods = Vec::new();
    for c in 0..4 {
        let (addr, flooding) = (addr.clone(), std::sync::Arc::clone(&flooding));
        floods.push(std::thread::spawn(move || {
            let mut i = 0;
            while flooding.load(std::sync::atomic::Ordering::Relaxed) {
                i += 1;
                let path = format!(
                    "/notice/win?auction=f{c}-{i}&imp=1&bid=b&campaign=x{i}&cur=USD&price=9"
                );
                let Ok(mut stream) = TcpStream::connect(&addr) else {
                    break;
                };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = stream.write_all(
                    format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
                        .as_bytes(),
                );
                let mut answer = String::new();
                let _ = stream.read_to_string(&mut answer);
            }
        }));
    }
    // Genuine ones in the middle of it.
    for i in 0..20 {
        let nurl = win_notice(&addr, &format!("g{i}"), &format!("g{i}")).expect("a bid");
        assert_eq!(fire(&addr, &nurl), 204);
    }
    stop_within(&mut child, Duration::from_secs(30));
    flooding.store(false, std::sync::atomic::Ordering::Relaxed);
    for flood in floods {
        let _ = flood.join();
    }
    let (mut child, addr) = start(&dir, None);
    let expected = 20.0 * IMPRESSION;
    assert!((spend_reaches(&addr, expected) - expected).abs() < 1e-9);
    kill(&mut child, "-KILL");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_embedded_store_keeps_what_it_acknowledged_through_kill_9_and_restart() {
    let dir = setup("embedded", true, "");
    let (mut child, addr) = start(&dir, None);
    let mut acknowledged = 0;
    let mut first = None;
    for i in 0..20 {
        let nurl = win_notice(&addr, &format!("r{i}"), &format!("u{i}")).expect("a bid");
        assert_eq!(fire(&addr, &nurl), 204);
        acknowledged += 1;
        first.get_or_insert(nurl);
    }
    // A loyal shopper reaches the 3-a-day cap.
    for i in 0..3 {
        let nurl = win_notice(&addr, &format!("l{i}"), "loyal").expect("under the cap");
        assert_eq!(fire(&addr, &nurl), 204);
        acknowledged += 1;
    }
    assert_eq!(win_notice(&addr, "l3", "loyal"), None, "capped");
    // A crash: no shutdown, no flush.
    kill(&mut child, "-KILL");

    let (mut child, addr) = start(&dir, None);
    let expected = acknowledged as f64 * IMPRESSION;
    assert!(
        (spend_reaches(&addr, expected) - expected).abs() < 1e-9,
        "every acknowledged notice is still counted after kill -9"
    );
    assert_eq!(
        win_notice(&addr, "l4", "loyal"),
        None,
        "still capped after the restart"
    );
    // A replay of a notice from before the crash is acknowledged and charged nothing: the
    // next genuine notice lands behind it and the spend moves by one impression only.
    let first = first.expect("a first notice");
    assert_eq!(fire(&addr, &first), 204);
    let nurl = win_notice(&addr, "r-after", "u-after").expect("a bid");
    assert_eq!(fire(&addr, &nurl), 204);
    let expected = expected + IMPRESSION;
    assert!((spend_reaches(&addr, expected) - expected).abs() < 1e-9);
    // A graceful stop and start: the same.
    kill(&mut child, "-TERM");
    let (mut child, addr) = start(&dir, None);
    assert!((spend_reaches(&addr, expected) - expected).abs() < 1e-9);
    assert_eq!(win_notice(&addr, "l5", "loyal"), None);
    kill(&mut child, "-KILL");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_configured_keys_the_embedded_store_keeps_the_signing_key() {
    let dir = setup("stored-key", false, "");
    let (mut child, addr) = start_with_keys(&dir, None, None);
    let before = win_notice(&addr, "r1", "u1").expect("a bid");
    assert!(before.contains("&kid=stored&"), "{before}");
    kill(&mut child, "-KILL");
    let (mut child, addr) = start_with_keys(&dir, None, None);
    assert_eq!(
        fire(&addr, &before),
        204,
        "a URL issued before the restart still verifies"
    );
    assert!((spend_reaches(&addr, IMPRESSION) - IMPRESSION).abs() < 1e-9);
    kill(&mut child, "-KILL");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `redis-server` of this test's own, persisting every write (so its data survives).
struct Redis {
    child: Child,
    url: String,
    _dir: PathBuf,
}

impl Redis {
    fn start(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let data = dir.join("redis");
        std::fs::create_dir_all(&data).expect("redis dir");
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always", "--dir"])
            .arg(&data)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (tests/run installs it)");
        let until = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            url: format!("redis://127.0.0.1:{port}/"),
            _dir: data,
        }
    }

    fn signal(&self, signal: &str) {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn notices_acknowledged_while_redis_hangs_survive_kill_9() {
    let dir = setup("redis", false, "");
    let redis = Redis::start(&dir);
    let (mut child, addr) = start(&dir, Some(&redis.url));
    let nurl = win_notice(&addr, "r0", "u0").expect("a bid");
    assert_eq!(fire(&addr, &nurl), 204);
    assert!((spend_reaches(&addr, IMPRESSION) - IMPRESSION).abs() < 1e-9);
    let pending: Vec<String> = (1..=30)
        .map(|i| win_notice(&addr, &format!("r{i}"), &format!("u{i}")).expect("a bid"))
        .collect();
    // Redis hangs (SIGSTOP: connections stay open, nothing answers).
    redis.signal("-STOP");
    for nurl in &pending {
        assert_eq!(
            fire(&addr, nurl),
            204,
            "acknowledged within the notice's bound"
        );
    }
    kill(&mut child, "-KILL");
    redis.signal("-CONT");
    let (mut child, addr) = start(&dir, Some(&redis.url));
    let expected = 31.0 * IMPRESSION;
    let seen = spend_reaches(&addr, expected);
    assert!(
        (seen - expected).abs() < 1e-9,
        "every notice acknowledged while Redis hung reached it after the restart: {seen} of {expected}"
    );
    // Replayed now, they change nothing.
    for nurl in &pending[..5] {
        assert_eq!(fire(&addr, nurl), 204);
    }
    let nurl = win_notice(&addr, "r-last", "u-last").expect("a bid");
    assert_eq!(fire(&addr, &nurl), 204);
    let expected = expected + IMPRESSION;
    assert!((spend_reaches(&addr, expected) - expected).abs() < 1e-9);
    // Again with a graceful stop while Redis hangs: it ends, and loses nothing.
    let pending: Vec<String> = (0..20)
        .map(|i| win_notice(&addr, &format!("t{i}"), &format!("v{i}")).expect("a bid"))
        .collect();
    redis.signal("-STOP");
    for nurl in &pending {
        assert_eq!(fire(&addr, nurl), 204);
    }
    stop_within(&mut child, Duration::from_secs(30));
    redis.signal("-CONT");
    let (mut child, addr) = start(&dir, Some(&redis.url));
    let expected = expected + 20.0 * IMPRESSION;
    let seen = spend_reaches(&addr, expected);
    assert!(
        (seen - expected).abs() < 1e-9,
        "{seen} of {expected} after SIGTERM"
    );
    kill(&mut child, "-KILL");
    drop(redis);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The advertiser's bearer token in [`orders_acknowledged_survive_kill_9_mid_stream`].
const ADVERTISER_TOKEN: &str = "durability-advertiser-token-0123456789";

/// `POST /orders` of one order as advertiser `adv`: the status.
fn report_order(addr: &str, order_id: &str) -> Option<u16> {
    let body = format!(
        r#"{{"order_id":"{order_id}","currency":"USD","order_time":1700000000,
            "lines":[{{"line_id":"1","sku":"S-1","quantity":1,"price":9.5}}]}}"#
    );
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let head = format!(
        "POST /orders HTTP/1.1\r\nhost: x\r\nx-advertiser: adv\r\n\
         authorization: Bearer {ADVERTISER_TOKEN}\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn orders_acknowledged_survive_kill_9_mid_stream() {
    let extra = format!(
        "[affiliate]\ndatabase = \"state/affiliate.db\"\n\
         [[advertisers]]\nid = \"adv\"\nbearer_token = \"{ADVERTISER_TOKEN}\"\n"
    );
    let dir = setup("orders", false, &extra);
    let (mut child, addr) = start(&dir, None);
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let senders: Vec<_> = (0..4)
        .map(|sender| {
            let addr = addr.clone();
            let acknowledged = std::sync::Arc::clone(&acknowledged);
            std::thread::spawn(move || {
                for i in 0.. {
                    let id = format!("o-{sender}-{i}");
                    match report_order(&addr, &id) {
                        Some(200) => acknowledged.lock().expect("list").push(id),
                        Some(status) => panic!("{id}: {status}"),
                        // The process is gone.
                        None => return,
                    }
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acknowledged.lock().expect("list").len() < 200 {
        assert!(started.elapsed() < Duration::from_secs(60), "orders flow");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A crash in the middle of the stream: no shutdown, no flush.
    kill(&mut child, "-KILL");
    for sender in senders {
        sender.join().expect("sender");
    }
    let acknowledged = acknowledged.lock().expect("list").clone();

    let (mut child, addr) = start(&dir, None);
    for id in &acknowledged {
        let (status, body) = call(
            &addr,
            "GET",
            &format!("/admin/orders?advertiser=adv&order_id={id}"),
            "",
        );
        assert_eq!(
            status, 200,
            "acknowledged order {id} lost after kill -9: {body}"
        );
        let order: serde_json::Value = serde_json::from_str(&body).expect("json");
        assert_eq!(order["lines"][0]["state"], "pending", "{order}");
    }
    kill(&mut child, "-KILL");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `GET path` on a fresh connection: the status, or `None` when the server is gone.
fn try_get(addr: &str, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let head = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// An auction's click URL (path and query) after its ad rendered (win notice fired).
fn served_click(addr: &str, id: &str) -> String {
    let request = format!(
        r#"{{"id":"{id}","at":1,"tmax":500,"imp":[{{"id":"1","banner":{{"w":300,"h":250}}}}],
        "site":{{"id":"s1","domain":"news.example"}},"user":{{"id":"u-{id}"}}}}"#
    );
    let (status, body) = call(addr, "POST", "/openrtb2/auction", &request);
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    let bid = &json["seatbid"][0]["bid"][0];
    let nurl = bid["nurl"].as_str().expect("nurl");
    let win = nurl
        .replace("http://exchange.invalid", "")
        .replace("${AUCTION_PRICE}", "20");
    assert_eq!(fire(addr, &win), 204);
    let adm = bid["adm"].as_str().expect("adm");
    let href = adm.split("href=\"").nth(1).expect("a link");
    href.split('"')
        .next()
        .expect("closed")
        .replace("&amp;", "&")
        .replace("http://exchange.invalid", "")
}

#[test]
fn a_crash_loses_at_most_the_clicks_of_the_last_flush_window() {
    let dir = setup(
        "clicks",
        false,
        "[affiliate]\ndatabase = \"state/affiliate.db\"\nclick_flush_ms = 50\n",
    );
    let (mut child, addr) = start(&dir, None);
    let clicks: Vec<String> = (0..20)
        .map(|i| served_click(&addr, &format!("c{i}")))
        .collect();
    std::thread::sleep(Duration::from_millis(400));
    let answered = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let clickers: Vec<_> = (0..4)
        .map(|t| {
            let (addr, clicks, answered) = (
                addr.clone(),
                clicks.clone(),
                std::sync::Arc::clone(&answered),
            );
            std::thread::spawn(move || {
                for i in t.. {
                    match try_get(&addr, &clicks[i % clicks.len()]) {
                        Some(302) => answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                        // The process is gone.
                        None => return,
                        Some(status) => panic!("click answered {status}"),
                    };
                }
            })
        })
        .collect();
    let started = Instant::now();
    while answered.load(std::sync::atomic::Ordering::SeqCst) < 2000 {
        assert!(started.elapsed() < Duration::from_secs(60), "clicks flow");
        std::thread::sleep(Duration::from_millis(5));
    }
    kill(&mut child, "-KILL");
    for clicker in clickers {
        clicker.join().expect("clicker");
    }
    let answered = answered.load(std::sync::atomic::Ordering::SeqCst);
    let rate = answered as f64 / started.elapsed().as_secs_f64();

    let (mut child, addr) = start(&dir, None);
    let (status, body) = call(&addr, "GET", "/admin/affiliate/report", "");
    assert_eq!(status, 200, "{body}");
    let report: serde_json::Value = serde_json::from_str(&body).expect("json");
    let recorded: u64 = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| {
            row["clicks"].as_u64().unwrap_or(0)
                + row["invalid_clicks"].as_object().map_or(0, |m| {
                    m.values().filter_map(serde_json::Value::as_u64).sum()
                })
        })
        .sum();
    let lost = answered as u64 - recorded.min(answered as u64);
    // Clicks answered within one flush window (and the batch being written) before the crash.
    let bound = (rate * 0.050 * 4.0).ceil() as u64 + 64;
    println!("clicks answered {answered} at {rate:.0}/s, recorded {recorded}, lost {lost} (bound {bound})");
    assert!(
        recorded <= answered as u64 + 4,
        "no click recorded twice: {recorded} of {answered}"
    );
    assert!(
        lost <= bound,
        "lost {lost} clicks, more than a flush window's {bound}"
    );
    kill(&mut child, "-KILL");
    let _ = std::fs::remove_dir_all(&dir);
}
