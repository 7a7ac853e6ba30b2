//! `[ivt]`: invalid traffic at the request (`exchange_core::ivt`): what to do per reason,
//! and the data-center ranges file.

use crate::ivt::{Detector, IpRanges, IvtReason};
use serde::Deserialize;
use std::path::PathBuf;

/// What to do with a request that gives a reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IvtAction {
    /// Do not check.
    Allow,
    /// Answer it, flagged: counted, `bid.ext.ivt`, the debug view.
    #[default]
    Flag,
    /// Answer with no bid (204; a Prebid call gets an empty 200) and call no bidder.
    Refuse,
}

/// Invalid-traffic checks.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IvtConfig {
    /// A known bot's user agent.
    pub crawler: IvtAction,
    /// An address in `datacenter_ranges`.
    pub datacenter: IvtAction,
    /// A device that contradicts itself (os, agent, device type, screen).
    pub device_mismatch: IvtAction,
    /// Data-center and anonymising ranges, one CIDR a line (`#` comments), relative to
    /// the config file; read at start. Empty: no address check.
    pub datacenter_ranges: PathBuf,
}

/// Largest ranges file read.
pub const MAX_RANGES_BYTES: u64 = 64 * 1024 * 1024;

impl IvtConfig {
    /// The action for `reason`.
    pub fn action(&self, reason: IvtReason) -> IvtAction {
        match reason {
            IvtReason::Crawler => self.crawler,
            IvtReason::Datacenter => self.datacenter,
            IvtReason::DeviceMismatch => self.device_mismatch,
        }
    }

    /// The detector: the bot list and the ranges file read (the error names the file and
    /// the line).
    pub fn detector(&self) -> Result<Detector, String> {
        if self.datacenter_ranges.as_os_str().is_empty() {
            return Ok(Detector::new(IpRanges::default()));
        }
        use std::io::Read;
        let path = self.datacenter_ranges.display();
        let mut text = String::new();
        std::fs::File::open(&self.datacenter_ranges)
            .and_then(|f| f.take(MAX_RANGES_BYTES + 1).read_to_string(&mut text))
            .map_err(|e| format!("ivt.datacenter_ranges {path}: {e}"))?;
        if text.len() as u64 > MAX_RANGES_BYTES {
            return Err(format!(
                "ivt.datacenter_ranges {path}: larger than {MAX_RANGES_BYTES} bytes"
            ));
        }
        let ranges =
            IpRanges::parse(&text).map_err(|e| format!("ivt.datacenter_ranges {path}: {e}"))?;
        Ok(Detector::new(ranges))
    }
}
