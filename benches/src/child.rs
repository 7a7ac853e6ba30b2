//! The release `exchange` binary as a child process, for examples that measure it from
//! outside: a free port, a start that waits until it listens, and its CPU time (`/proc`).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A TCP port free on loopback right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Starts `binary --config config --listen 127.0.0.1:port` and waits (up to 5 s) until
/// it accepts connections.
pub fn start_exchange(binary: &Path, config: &Path, port: u16) -> Child {
    let mut child = Command::new(binary)
        .arg("--config")
        .arg(config)
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start exchange (cargo build --release -p exchange)");
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("exchange did not start");
}

/// utime + stime of a process, in clock ticks (10 ms: USER_HZ = 100 on Linux); 0 when
/// it is gone. The reading is the load harness's (`loadtest::process::cpu_ticks`).
pub fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| loadtest::process::cpu_ticks(&stat))
        .unwrap_or(0)
}
