//! Scenarios: what traffic a run sends. A TOML file (documented in
//! `configs/loadtest/README.md`) either describes synthetic traffic (site/app mix,
//! formats, imps, user ids from a Zipf-distributed population, consent, page texts in
//! Chinese and English across verticals, floors, `tmax`) or names a folder of JSON
//! requests to replay. Generation is seeded and happens before the run starts: the timed
//! path only picks the next prepared body.

mod generate;

use bytes::Bytes;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Largest request pool a scenario may ask for (memory: a few KiB each).
pub const MAX_POOL: usize = 1 << 20;
/// Most files read from a replay folder.
pub const MAX_REPLAY_FILES: usize = 100_000;

/// A scenario file that cannot be used.
#[derive(Debug, Error)]
pub enum ScenarioError {
    /// A file could not be read.
    #[error("{path}: {message}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A value is out of range or inconsistent.
    #[error("{path}: {field}: {message}")]
    Invalid {
        /// The scenario file.
        path: String,
        /// The key.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A scenario as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Scenario {
    /// Name shown in reports.
    pub name: String,
    /// Seed of the generator: the same seed gives the same requests.
    pub seed: u64,
    /// Distinct requests generated before the run, sent round robin.
    pub pool: usize,
    /// `tmax` of every generated request, ms.
    pub tmax_ms: u64,
    /// Share of site requests (the rest are app requests).
    pub site_share: f64,
    /// Share of requests in Chinese.
    pub zh_share: f64,
    /// Page corpus file, relative to the scenario file.
    pub pages: PathBuf,
    /// Replay this folder of JSON requests instead of generating (relative path).
    pub replay: Option<PathBuf>,
    /// Format weights.
    pub formats: Formats,
    /// Imps per request.
    pub imps: ImpCount,
    /// User ids and consent.
    pub users: Users,
    /// Floors.
    pub floors: Floors,
}

/// Relative weights of the formats of an imp.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Formats {
    /// Banner weight.
    pub banner: f64,
    /// Native weight.
    pub native: f64,
    /// Video weight.
    pub video: f64,
}

/// Imps per request, uniform in `min..=max`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImpCount {
    /// Fewest imps.
    pub min: usize,
    /// Most imps.
    pub max: usize,
}

/// Who the requests are for.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Users {
    /// Share of requests with `user.id`.
    pub id_share: f64,
    /// Size of the user population the ids come from.
    pub population: u64,
    /// Zipf exponent of user popularity (> 0; larger: more repeat users).
    pub zipf_exponent: f64,
    /// Share of requests with `regs.gdpr = 1` and a consent string.
    pub consent_share: f64,
}

/// Floors on imps.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Floors {
    /// Share of imps with a floor.
    pub share: f64,
    /// Lowest floor, USD CPM.
    pub min: f64,
    /// Highest floor, USD CPM.
    pub max: f64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            name: "affiliate-mix".into(),
            seed: 1,
            pool: 4096,
            tmax_ms: 150,
            site_share: 0.7,
            zh_share: 0.6,
            pages: PathBuf::from("pages.toml"),
            replay: None,
            formats: Formats::default(),
            imps: ImpCount::default(),
            users: Users::default(),
            floors: Floors::default(),
        }
    }
}

impl Default for Formats {
    fn default() -> Self {
        Self {
            banner: 0.7,
            native: 0.2,
            video: 0.1,
        }
    }
}

impl Default for ImpCount {
    fn default() -> Self {
        Self { min: 1, max: 2 }
    }
}

impl Default for Users {
    fn default() -> Self {
        Self {
            id_share: 0.6,
            population: 100_000,
            zipf_exponent: 1.1,
            consent_share: 0.3,
        }
    }
}

impl Default for Floors {
    fn default() -> Self {
        Self {
            share: 0.5,
            min: 0.05,
            max: 1.5,
        }
    }
}

/// Page texts of one vertical (from the pages file).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vertical {
    /// Vertical name.
    pub name: String,
    /// IAB categories of its pages.
    pub cat: Vec<String>,
    /// Site domains.
    pub domains: Vec<String>,
    /// Chinese page titles.
    pub zh_titles: Vec<String>,
    /// English page titles.
    pub en_titles: Vec<String>,
    /// Chinese keywords.
    pub zh_keywords: Vec<String>,
    /// English keywords.
    pub en_keywords: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PagesFile {
    vertical: Vec<Vertical>,
}

/// Request bodies ready to send, and where they came from.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Scenario name.
    pub name: String,
    /// Bodies, sent round robin.
    pub bodies: Vec<Bytes>,
}

impl Scenario {
    /// Reads and validates a scenario file; returns it with the folder its relative
    /// paths start from.
    pub fn load(path: &Path) -> Result<(Self, PathBuf), ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        let scenario: Self = toml::from_str(&text).map_err(|e| ScenarioError::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        scenario.validate(&path.display().to_string())?;
        let folder = path
            .parent()
            .unwrap_or_else(|| Path::new("."))
            .to_path_buf();
        Ok((scenario, folder))
    }

    /// Checks ranges; `origin` names the file in errors.
    pub fn validate(&self, origin: &str) -> Result<(), ScenarioError> {
        let invalid = |field: &'static str, message: &str| {
            Err(ScenarioError::Invalid {
                path: origin.to_owned(),
                field,
                message: message.to_owned(),
            })
        };
        let share = |x: f64| (0.0..=1.0).contains(&x);
        if self.pool == 0 || self.pool > MAX_POOL {
            return invalid("pool", "must be 1..=1048576");
        }
        if !(10..=60_000).contains(&self.tmax_ms) {
            return invalid("tmax_ms", "must be 10..=60000");
        }
        if !share(self.site_share) || !share(self.zh_share) {
            return invalid("site_share", "shares must be within 0..1");
        }
        let f = &self.formats;
        let weights = [f.banner, f.native, f.video];
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || weights.iter().sum::<f64>() <= 0.0
        {
            return invalid("formats", "weights must be >= 0 and not all 0");
        }
        if self.imps.min == 0 || self.imps.min > self.imps.max || self.imps.max > 10 {
            return invalid("imps", "need 1 <= min <= max <= 10");
        }
        let u = &self.users;
        if !share(u.id_share) || !share(u.consent_share) {
            return invalid("users", "shares must be within 0..1");
        }
        if u.population == 0 || !(u.zipf_exponent.is_finite() && u.zipf_exponent > 0.0) {
            return invalid("users", "population must be > 0 and zipf_exponent > 0");
        }
        let fl = &self.floors;
        if !(share(fl.share) && fl.min >= 0.0 && fl.min <= fl.max && fl.max.is_finite()) {
            return invalid("floors", "need share within 0..1 and 0 <= min <= max");
        }
        Ok(())
    }

    /// Builds every request body, before any is sent; `folder` resolves relative paths.
    pub fn prepare(&self, folder: &Path) -> Result<Prepared, ScenarioError> {
        let bodies = match &self.replay {
            Some(replay) => read_replay(&folder.join(replay))?,
            None => {
                let pages_path = folder.join(&self.pages);
                let text =
                    std::fs::read_to_string(&pages_path).map_err(|e| ScenarioError::Read {
                        path: pages_path.display().to_string(),
                        message: e.to_string(),
                    })?;
                let pages: PagesFile = toml::from_str(&text).map_err(|e| ScenarioError::Read {
                    path: pages_path.display().to_string(),
                    message: e.to_string(),
                })?;
                if pages.vertical.is_empty() {
                    return Err(ScenarioError::Read {
                        path: pages_path.display().to_string(),
                        message: "no [[vertical]]".into(),
                    });
                }
                generate::requests(self, &pages.vertical)
            }
        };
        Ok(Prepared {
            name: self.name.clone(),
            bodies,
        })
    }
}

/// Every `*.json` file of a folder, sorted by name.
fn read_replay(folder: &Path) -> Result<Vec<Bytes>, ScenarioError> {
    let error = |message: String| ScenarioError::Read {
        path: folder.display().to_string(),
        message,
    };
    let mut paths: Vec<PathBuf> = std::fs::read_dir(folder)
        .map_err(|e| error(e.to_string()))?
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .take(MAX_REPLAY_FILES)
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(error("no *.json files to replay".into()));
    }
    paths
        .iter()
        .map(|p| {
            std::fs::read(p)
                .map(Bytes::from)
                .map_err(|e| error(format!("{}: {e}", p.display())))
        })
        .collect()
}

#[cfg(test)]
mod tests;
