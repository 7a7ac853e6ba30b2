//! A server as the operator runs it: a process of its own (the `exchange` binary, or this
//! binary's `baseline`), optionally pinned to one core, and what it uses as the kernel
//! counts it: CPU time, resident set, context switches (`/proc/<pid>`).

use anyhow::Context;
use exchange::memory::Resident;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a process has used so far.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// User + system CPU time of all its threads, living and ended, µs.
    pub cpu_us: u64,
    /// Voluntary + involuntary context switches of its living threads (each is a sleep
    /// and a wake-up, or a preemption).
    pub switches: u64,
    /// Its resident set.
    pub resident: Resident,
}

impl Usage {
    /// Reads `/proc/<pid>`; `None` when the process is gone (or not on Linux).
    pub fn of(pid: u32) -> Option<Self> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let ticks = cpu_ticks(&stat)?;
        let mut switches = 0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
                    switches += context_switches(&status);
                }
            }
        }
        Some(Self {
            cpu_us: ticks * 1_000_000 / clock_ticks_per_second(),
            switches,
            resident: Resident::parse(&status)?,
        })
    }
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15; the command name,
/// field 2, may hold spaces and parentheses, so fields are counted after its last `)`).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// voluntary + nonvoluntary context switches from a `/proc/<pid>/task/<tid>/status`.
pub fn context_switches(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            matches!(
                name,
                "voluntary_ctxt_switches" | "nonvoluntary_ctxt_switches"
            )
            .then(|| value.trim().parse::<u64>().ok())
            .flatten()
        })
        .sum()
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 where it cannot say).
fn clock_ticks_per_second() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .filter(|&ticks| ticks > 0)
            .unwrap_or(100)
    })
}

/// Which cores the servers and the load get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning {
    /// Servers on core 0, this process (load, mock DSPs) on the others.
    Split,
    /// Nobody pinned (one core, or no `taskset`).
    None,
}

impl Pinning {
    /// Pins this process to cores 1.. when there are two cores or more and `taskset`
    /// exists; says which it could do.
    pub fn apply() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if cores < 2 {
            return Self::None;
        }
        let pinned = Command::new("taskset")
            .args(["-a", "-p", "-c", &format!("1-{}", cores - 1)])
            .arg(std::process::id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if pinned {
            Self::Split
        } else {
            Self::None
        }
    }
}

/// A server process, killed when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    /// What it is (`exchange`, `baseline`).
    pub name: &'static str,
    /// Where it listens.
    pub addr: SocketAddr,
    child: Child,
}

impl ServerProcess {
    /// Starts `program args… --listen <free port>` (on core 0 when `pinning` says so),
    /// its standard error to `log`, and waits until it answers `ready_path` with 200
    /// (or, without one, accepts connections), 60 s at most.
    pub fn start(
        name: &'static str,
        program: &Path,
        args: &[String],
        pinning: Pinning,
        log: &Path,
        ready_path: Option<&str>,
    ) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let mut command = match pinning {
            Pinning::Split => {
                let mut command = Command::new("taskset");
                command.args(["-c", "0"]).arg(program);
                command
            }
            Pinning::None => Command::new(program),
        };
        command
            .args(args)
            .args(["--listen", &addr.to_string()])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).with_context(|| log.display().to_string())?);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        let mut server = Self { name, addr, child };
        let started = Instant::now();
        loop {
            if let Some(status) = server.child.try_wait()? {
                let log_text = std::fs::read_to_string(log).unwrap_or_default();
                anyhow::bail!("{name} exited ({status}) before it was ready:\n{log_text}");
            }
            if answers(addr, ready_path) {
                return Ok(server);
            }
            if started.elapsed() > Duration::from_secs(60) {
                server.stop();
                anyhow::bail!("{name} not ready within 60 s (log: {})", log.display());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its usage so far.
    pub fn usage(&self) -> anyhow::Result<Usage> {
        Usage::of(self.pid()).with_context(|| format!("{} (pid {}) is gone", self.name, self.pid()))
    }

    /// The auction URL.
    pub fn auction_url(&self) -> String {
        format!("http://{}/openrtb2/auction", self.addr)
    }

    /// Ends it (SIGKILL: its store files are the run's own and thrown away).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port free now on 127.0.0.1 (bound, then let go).
fn free_port() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?)
}

/// Whether `addr` accepts a connection (and answers `path` with 200, when given).
fn answers(addr: SocketAddr, path: Option<&str>) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let Some(path) = path else {
        return true;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// A copy of `config`'s folder for one run: every entry linked, the config rewritten so
/// the run's store and affiliate database files live in `run_dir` (the repository's
/// sample data is never touched) and with `bidders` (TOML tables) added. Returns the
/// rewritten config's path.
pub fn run_config(
    config: &Path,
    run_dir: &Path,
    bidders: &[toml::Table],
) -> anyhow::Result<PathBuf> {
    let folder = config.parent().unwrap_or_else(|| Path::new("."));
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    let folder = folder
        .canonicalize()
        .with_context(|| folder.display().to_string())?;
    let name = config
        .file_name()
        .context("the config path names no file")?;
    std::fs::create_dir_all(run_dir)?;
    for entry in std::fs::read_dir(&folder)? {
        let entry = entry?;
        if entry.file_name() == name {
            continue;
        }
        let link = run_dir.join(entry.file_name());
        if !link.exists() {
            std::os::unix::fs::symlink(entry.path(), &link)?;
        }
    }
    let text = std::fs::read_to_string(config).with_context(|| config.display().to_string())?;
    let mut table: toml::Table = toml::from_str(&text).context("the exchange config")?;
    let own = |file: &str| toml::Value::String(run_dir.join(file).display().to_string());
    table_at(&mut table, "store").insert("path".into(), own("exchange.db"));
    let affiliate = table_at(&mut table, "affiliate");
    if affiliate.contains_key("database") {
        affiliate.insert("database".into(), own("affiliate.db"));
    }
    if affiliate.contains_key("ledger_key") {
        affiliate.insert("ledger_key".into(), own("ledger.key"));
    }
    let list = table
        .entry("bidders")
        .or_insert_with(|| toml::Value::Array(Vec::new()));
    if let toml::Value::Array(list) = list {
        list.extend(bidders.iter().cloned().map(toml::Value::Table));
    }
    let path = run_dir.join(name);
    std::fs::write(&path, toml::to_string(&table)?)?;
    Ok(path)
}

fn table_at<'a>(table: &'a mut toml::Table, key: &str) -> &'a mut toml::Table {
    if !table.get(key).is_some_and(toml::Value::is_table) {
        table.insert(key.into(), toml::Value::Table(toml::Table::new()));
    }
    match table.get_mut(key) {
        Some(toml::Value::Table(inner)) => inner,
        // Inserted just above.
        _ => unreachable!("{key} is a table"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_ticks_after_the_command_name() {
        let stat = "4242 (exchange (x) y) S 1 4242 4242 0 -1 4194560 2313 0 0 0 1500 250 0 0 20 0 3 0 100 1000000 2000 18446744073709551615";
        assert_eq!(cpu_ticks(stat), Some(1750));
        assert_eq!(cpu_ticks("12 (short) S 1"), None);
    }

    #[test]
    fn counts_both_kinds_of_switch() {
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(context_switches(status), 127);
    }

    #[test]
    fn this_process_uses_cpu_and_memory() {
        let before = Usage::of(std::process::id()).expect("Linux /proc");
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut x = 0u64;
        let mut after = before;
        while after.cpu_us < before.cpu_us + 100_000 && Instant::now() < deadline {
            for _ in 0..1_000_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            after = Usage::of(std::process::id()).expect("Linux /proc");
        }
        assert!(x != 1, "keeps the loop");
        assert!(
            after.cpu_us >= before.cpu_us + 100_000,
            "{before:?} {after:?}"
        );
        assert!(
            after.resident.total_kib > 0 && after.switches > 0,
            "{after:?}"
        );
    }

    #[test]
    fn the_run_config_keeps_the_sample_data_untouched() {
        let run_dir =
            std::env::temp_dir().join(format!("loadtest-cost-test-{}", std::process::id()));
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/exchange.toml");
        let mut bidder = toml::Table::new();
        bidder.insert("name".into(), "mock-0".into());
        bidder.insert("endpoint".into(), "http://127.0.0.1:9/openrtb2/bid".into());
        let path = run_config(&config, &run_dir, &[bidder]).expect("run config");
        let loaded = exchange::config::ExchangeConfig::load(&path).expect("a valid config");
        assert!(
            loaded.store.path.starts_with(&run_dir),
            "{:?}",
            loaded.store.path
        );
        assert!(loaded.affiliate.database.starts_with(&run_dir));
        assert!(loaded.bidders.iter().any(|b| b.name == "mock-0"));
        assert!(
            run_dir.join("campaigns.json").exists(),
            "the folder's files are linked"
        );
        let _ = std::fs::remove_dir_all(&run_dir);
    }
}
