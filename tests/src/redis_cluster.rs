//! A real Redis Cluster for tests: six `redis-server` processes in cluster mode (three
//! masters, three replicas) on free ports, joined with `redis-cli --cluster create`, stopped
//! on drop. It fails loudly when it cannot be built: a test that needs a cluster never
//! passes by skipping it.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the cluster may take to agree on its slots.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// Nodes of the cluster: three masters, each with one replica.
const NODES: usize = 6;

/// A running cluster.
#[derive(Debug)]
pub struct RedisCluster {
    ports: Vec<u16>,
    children: Vec<Child>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts six nodes and joins them (fails the test if it cannot). A port taken by
    /// someone else between choosing and binding it costs a retry with new ports.
    pub fn start() -> Self {
        for _ in 0..3 {
            if let Some(cluster) = Self::try_start() {
                return cluster;
            }
        }
        panic!("could not start a Redis Cluster in three tries");
    }

    fn try_start() -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir for the cluster");
        let mut ports = Vec::with_capacity(NODES);
        let mut children = Vec::with_capacity(NODES);
        for _ in 0..NODES {
            let port = free_port_pair();
            let data = dir.path().join(port.to_string());
            std::fs::create_dir_all(&data).expect("node dir");
            children.push(start_node(port, &data));
            ports.push(port);
        }
        let mut cluster = Self {
            ports,
            children,
            _dir: dir,
        };
        // Every node of ours answers; one that exited lost its port to another process
        // between choosing and binding it: start over with new ports.
        for index in 0..NODES {
            let port = cluster.ports[index];
            let mut exited = false;
            wait_until(|| {
                exited = !matches!(cluster.children[index].try_wait(), Ok(None));
                exited || command(port, &["PING"]).is_some_and(|a| a.contains("PONG"))
            });
            if exited {
                return None;
            }
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("redis-cli (tests/run installs redis-server, which brings it)");
        if !created.success() {
            return None;
        }
        for &port in &cluster.ports {
            wait_until(|| {
                command(port, &["CLUSTER", "INFO"]).is_some_and(|a| a.contains("cluster_state:ok"))
            });
        }
        // Every node agrees on every slot (no MOVED on the first commands of a test).
        wait_until(|| {
            Command::new("redis-cli")
                .args([
                    "--cluster",
                    "check",
                    &format!("127.0.0.1:{}", cluster.ports[0]),
                ])
                .output()
                .is_ok_and(|o| {
                    let text = String::from_utf8_lossy(&o.stdout);
                    o.status.success()
                        && text.contains("All nodes agree about slots configuration")
                        && text.contains("All 16384 slots covered")
                })
        });
        // Every replica in sync with its master: only a synced replica can be promoted.
        for &port in &cluster.ports {
            wait_until(|| {
                command(port, &["INFO", "replication"]).is_some_and(|info| {
                    !info.contains("role:slave") || info.contains("master_link_status:up")
                })
            });
        }
        Some(cluster)
    }

    /// Seed nodes as `store.redis_url` takes them with `cluster = true`.
    pub fn seeds(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}/"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One node's URL (as a single-node client would be pointed at it).
    pub fn node_url(&self, index: usize) -> String {
        format!("redis://127.0.0.1:{}/", self.ports[index])
    }
}

impl RedisCluster {
    /// The port of the master serving `key`'s slot now.
    pub fn master_of(&self, key: &str) -> u16 {
        let slot: u16 = command(self.ports[0], &["CLUSTER", "KEYSLOT", key])
            .and_then(|a| a.trim().parse().ok())
            .expect("CLUSTER KEYSLOT");
        let nodes = command(self.ports[0], &["CLUSTER", "NODES"]).expect("CLUSTER NODES");
        for line in nodes.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.len() < 9 || !fields[2].contains("master") {
                continue;
            }
            let port: u16 = fields[1]
                .split(['@', ':'])
                .nth(1)
                .and_then(|p| p.parse().ok())
                .expect("node address");
            let serves = fields[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    a.parse::<u16>().is_ok_and(|a| a <= slot)
                        && b.parse::<u16>().is_ok_and(|b| slot <= b)
                }
                None => range.parse::<u16>() == Ok(slot),
            });
            if serves {
                return port;
            }
        }
        panic!("no master serves slot {slot}");
    }

    /// Sends `signal` (`-STOP`, `-CONT`, `-KILL`) to the node on `port`.
    pub fn signal(&self, port: u16, signal: &str) {
        let index = self
            .ports
            .iter()
            .position(|&p| p == port)
            .expect("a node of this cluster");
        let status = Command::new("kill")
            .args([signal, &self.children[index].id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = Command::new("kill")
                .args(["-CONT", &child.id().to_string()])
                .status();
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn start_node(port: u16, data: &Path) -> Child {
    Command::new(std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".into()))
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
        ])
        .args([
            "--cluster-node-timeout",
            "2000",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        // Replicas sync at once (the default waits 5 s), so a failover can promote them.
        .args(["--repl-diskless-sync-delay", "0"])
        .arg("--dir")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start redis-server (install it, or run tests/run): {e}"))
}

/// A port free for the node and for its cluster bus (port + 10000).
fn free_port_pair() -> u16 {
    for _ in 0..100 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if port < 55_000 && std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return port;
        }
    }
    panic!("no free port pair for a cluster node");
}

fn wait_until(mut ready: impl FnMut() -> bool) {
    let until = Instant::now() + READY_TIMEOUT;
    while !ready() {
        assert!(
            Instant::now() < until,
            "the Redis Cluster did not come up within {READY_TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One command through `redis-cli`; its output, or `None` when it could not run.
fn command(port: u16, args: &[&str]) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}
