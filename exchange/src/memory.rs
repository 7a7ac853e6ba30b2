//! Where the exchange's memory goes: the resident set (`/proc/self/status`) taken after
//! each start-up stage, so each large structure's cost is stated (`exchange
//! --print-memory`, `GET /admin/memory`), and the resident set now.

use serde::Serialize;
use std::fmt;

/// The process's resident set, KiB: anonymous (heap, stacks) and file-backed (the
/// binary's pages, mapped files) parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Resident {
    /// VmRSS.
    pub total_kib: u64,
    /// RssAnon.
    pub anon_kib: u64,
    /// RssFile + RssShmem.
    pub file_kib: u64,
    /// VmHWM: the highest resident set so far.
    pub peak_kib: u64,
}

impl Resident {
    /// The resident set now; `None` where `/proc/self/status` does not exist.
    pub fn now() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        Self::parse(&status)
    }

    /// Reads a `/proc/<pid>/status` text.
    pub fn parse(status: &str) -> Option<Self> {
        let mut resident = Self::default();
        let mut seen = false;
        for line in status.lines() {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let kib = || {
                value
                    .split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            match name {
                "VmRSS" => {
                    resident.total_kib = kib();
                    seen = true;
                }
                "RssAnon" => resident.anon_kib = kib(),
                "RssFile" | "RssShmem" => resident.file_kib += kib(),
                "VmHWM" => resident.peak_kib = kib(),
                _ => {}
            }
        }
        seen.then_some(resident)
    }
}

/// One start-up stage: what it loaded and what it added to the resident set.
#[derive(Debug, Clone, Serialize)]
pub struct Stage {
    /// What was loaded (`segmenter dictionary`, `campaign snapshot`, …).
    pub name: &'static str,
    /// Its size in its own terms (words, campaigns, bytes).
    pub detail: String,
    /// Resident KiB it added (negative when a stage freed more than it kept).
    pub added_kib: i64,
    /// Resident KiB after it.
    pub resident_kib: u64,
}

/// The start-up stages in order, the first being the process as it started.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StartupMemory {
    /// Every stage.
    pub stages: Vec<Stage>,
    #[serde(skip)]
    last_kib: u64,
}

impl StartupMemory {
    /// Starts the ledger with the process as it is now (binary, libraries, allocator).
    pub fn begin() -> Self {
        let mut ledger = Self::default();
        ledger.stage("process start", "binary, libraries, allocator".to_owned());
        ledger
    }

    /// Records a stage that just finished.
    pub fn stage(&mut self, name: &'static str, detail: String) {
        let now = Resident::now().map_or(0, |r| r.total_kib);
        self.stages.push(Stage {
            name,
            detail,
            added_kib: now as i64 - self.last_kib as i64,
            resident_kib: now,
        });
        self.last_kib = now;
    }
}

impl fmt::Display for StartupMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>10} {:>12}  detail",
            "stage", "added MiB", "resident MiB"
        )?;
        for stage in &self.stages {
            writeln!(
                f,
                "{:<28} {:>10.1} {:>12.1}  {}",
                stage.name,
                stage.added_kib as f64 / 1024.0,
                stage.resident_kib as f64 / 1024.0,
                stage.detail
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_resident_set_from_a_status_text() {
        let status = "Name:\texchange\nVmHWM:\t   52000 kB\nVmRSS:\t   48000 kB\nRssAnon:\t   30000 kB\nRssFile:\t   17000 kB\nRssShmem:\t    1000 kB\n";
        assert_eq!(
            Resident::parse(status),
            Some(Resident {
                total_kib: 48_000,
                anon_kib: 30_000,
                file_kib: 18_000,
                peak_kib: 52_000
            })
        );
        assert_eq!(Resident::parse("Name:\tx\n"), None);
    }
}
