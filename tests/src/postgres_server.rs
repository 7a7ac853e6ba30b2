//! A real PostgreSQL for tests: a throw-away cluster of our own (`initdb` in a temp dir,
//! started by `pg_ctl` on a free loopback port; as root, run as the `postgres` user, which
//! the server requires), stopped on drop — or, when `TEST_POSTGRES_URL` names a server
//! (`postgres://user@host:port`, no database) whose user may create databases, that one. Each [`PostgresServer`] hands
//! out databases of their own ([`PostgresServer::database`]). It fails loudly when no
//! server can be had: a test that needs PostgreSQL never passes by skipping it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a starting server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// A PostgreSQL server for one test.
#[derive(Debug)]
pub struct PostgresServer {
    /// `postgres://user@host:port` without a database.
    base: String,
    /// Our own cluster: its folder (stopped and removed on drop).
    own: Option<Own>,
}

#[derive(Debug)]
struct Own {
    bin: PathBuf,
    data: PathBuf,
    as_postgres: bool,
    _dir: tempfile::TempDir,
}

impl PostgresServer {
    /// `TEST_POSTGRES_URL` if set, else a fresh cluster of our own.
    pub fn shared_or_own() -> Self {
        match std::env::var("TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => Self {
                base: url.trim_end_matches('/').to_owned(),
                own: None,
            },
            _ => Self::own(),
        }
    }

    /// A fresh cluster of our own on a free port.
    pub fn own() -> Self {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir for postgres");
        let as_postgres = is_root();
        let data = dir.path().join("data");
        if as_postgres {
            chown_postgres(dir.path());
        }
        run(
            &bin,
            as_postgres,
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50",
            dir.path().display()
        );
        let log = dir.path().join("server.log").display().to_string();
        run(
            &bin,
            as_postgres,
            "pg_ctl",
            &[
                "-D",
                &data.display().to_string(),
                "-o",
                &options,
                "-l",
                &log,
                "-w",
                "-t",
                "30",
                "start",
            ],
        );
        let server = Self {
            base: format!("postgres://postgres@127.0.0.1:{port}"),
            own: Some(Own {
                bin,
                data,
                as_postgres,
                _dir: dir,
            }),
        };
        let until = Instant::now() + READY_TIMEOUT;
        while off_runtime(|| {
            postgres::Client::connect(&server.url_of("postgres"), postgres::NoTls).map(drop)
        })
        .is_err()
        {
            assert!(
                Instant::now() < until,
                "postgres on {port} did not accept connections"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// A new, empty database on this server; its URL.
    pub fn database(&self) -> String {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let admin_url = self.url_of("postgres");
        off_runtime(|| {
            let mut client = postgres::Client::connect(&admin_url, postgres::NoTls)
                .unwrap_or_else(|e| panic!("postgres at {admin_url}: {e}"));
            client
                .batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database");
        });
        self.url_of(&name)
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        if let Some(own) = &self.own {
            let _ = command(&own.bin, own.as_postgres, "pg_ctl")
                .args([
                    "-D",
                    &own.data.display().to_string(),
                    "-m",
                    "immediate",
                    "stop",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Where the server binaries are: `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`
/// (Debian's layout), else the `PATH`.
fn bin_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path().join("bin"))
                .filter(|bin| bin.join("initdb").exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions.pop().unwrap_or_default()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn chown_postgres(dir: &Path) {
    let status = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(dir)
        .status()
        .expect("chown");
    assert!(
        status.success(),
        "chown to the postgres user failed (install postgresql: it creates that user)"
    );
}

/// `program` from `bin` (or the `PATH` when `bin` is empty), as the `postgres` user when
/// `as_postgres`.
fn command(bin: &Path, as_postgres: bool, program: &str) -> Command {
    let path = if bin.as_os_str().is_empty() {
        PathBuf::from(program)
    } else {
        bin.join(program)
    };
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn run(bin: &Path, as_postgres: bool, program: &str, args: &[&str]) {
    let output = command(bin, as_postgres, program)
        .args(args)
        .current_dir("/")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (install postgresql, or set TEST_POSTGRES_URL): {e}")
        });
    assert!(
        output.status.success(),
        "{program} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs `work` on a thread of its own: the blocking `postgres` client starts a runtime of
/// its own, which it may not do inside a test's async runtime.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().expect("postgres helper thread"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
