//! A real `redis-server` for tests: started on a free port (or `REDIS_URL` when set),
//! stopped on drop. It fails loudly when none can be started: a test that needs Redis
//! never passes by skipping it. Each test takes its own key prefix ([`unique_prefix`]),
//! so tests never share keys even on one server.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server may take to answer `PING`.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A Redis server for one test.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    url: String,
    child: Option<Child>,
    dir: Option<tempfile::TempDir>,
}

/// A key prefix no other test in this run uses.
pub fn unique_prefix() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "t{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

impl RedisServer {
    /// `REDIS_URL` if set, else a fresh server of our own.
    pub fn shared_or_own() -> Self {
        match std::env::var("REDIS_URL") {
            Ok(url) if !url.is_empty() => Self {
                port: 0,
                url,
                child: None,
                dir: None,
            },
            _ => Self::own(),
        }
    }

    /// A fresh server of our own on a free port, persisting every write to an
    /// append-only file (so a killed and restarted server keeps its data, like a
    /// production Redis with `appendfsync always`).
    pub fn own() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for redis");
        let port = free_port();
        let mut server = Self {
            port,
            url: format!("redis://127.0.0.1:{port}/"),
            child: None,
            dir: Some(dir),
        };
        server.start();
        server
    }

    /// The URL to connect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn data_dir(&self) -> PathBuf {
        self.dir
            .as_ref()
            .map(|d| d.path().to_path_buf())
            .expect("an own server has a data dir")
    }

    /// Starts (or restarts) our server on its port and waits until it answers.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let binary = std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&binary)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.data_dir())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {binary} (install redis-server, or set REDIS_URL): {e}")
            });
        self.child = Some(child);
        let until = Instant::now() + READY_TIMEOUT;
        while Instant::now() < until {
            if ping(self.port) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server on port {} did not answer PING within {READY_TIMEOUT:?}",
            self.port
        );
    }

    /// Kills our server at once (SIGKILL: no shutdown, like a crash).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Keys under `prefix` on the server at `url`: how many, and those with no TTL.
pub fn keys_under(url: &str, prefix: &str) -> (usize, Vec<String>) {
    let client = redis::Client::open(url).expect("redis url");
    let mut connection = client.get_connection().expect("redis connection");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query(&mut connection)
        .expect("KEYS");
    let mut immortal = Vec::new();
    for key in &keys {
        let ttl: i64 = redis::cmd("TTL")
            .arg(key)
            .query(&mut connection)
            .expect("TTL");
        if ttl == -1 {
            immortal.push(key.clone());
        }
    }
    (keys.len(), immortal)
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn ping(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut answer = [0u8; 7];
    stream.read_exact(&mut answer).is_ok() && &answer == b"+PONG\r\n"
}
