//! The snapshot store: the one place the serving [`Snapshot`] lives, behind `arc-swap`.
//!
//! Readers `load()` it without locks; a reload parses, validates and indexes a new
//! snapshot off the request path and swaps it in whole. A failed reload leaves the old
//! snapshot serving. Reloads are serialised among themselves (a std mutex that only
//! reload threads touch), never with readers.

use crate::campaign::{self, Campaign, CampaignError};
use crate::context::lexicon::Lexicon;
use crate::index::{self, Snapshot};
use arc_swap::{ArcSwap, Guard};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What a successful load produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// New snapshot version.
    pub version: u64,
    /// Campaigns loaded.
    pub campaigns: usize,
    /// Creatives loaded.
    pub creatives: usize,
}

/// A failed load: every problem found, each naming file and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The problems.
    pub errors: Vec<CampaignError>,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Holds the serving snapshot and knows where to reload it from.
#[derive(Debug)]
pub struct SnapshotStore {
    current: ArcSwap<Snapshot>,
    path: PathBuf,
    lexicon: Option<PathBuf>,
    versions: AtomicU64,
    reloading: Mutex<()>,
}

impl SnapshotStore {
    /// Loads the campaign file at `path` as version 1.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        Self::open_with_lexicon(path, None)
    }

    /// Loads the campaign file at `path` and the lexicon at `lexicon` as version 1;
    /// reloads re-read both.
    pub fn open_with_lexicon(path: &Path, lexicon: Option<&Path>) -> Result<Self, LoadError> {
        let (campaigns, lexicon_data) = load_sources(path, lexicon)?;
        let snapshot = index::build_with(campaigns, lexicon_data, 1, path.display().to_string());
        Ok(Self {
            current: ArcSwap::from_pointee(snapshot),
            path: path.to_owned(),
            lexicon: lexicon.map(Path::to_owned),
            versions: AtomicU64::new(1),
            reloading: Mutex::new(()),
        })
    }

    /// The lexicon file reloaded with the campaigns, if any.
    pub fn lexicon_path(&self) -> Option<&Path> {
        self.lexicon.as_deref()
    }

    /// A store serving `campaigns` as version 1; reloads read `path`.
    pub fn with_campaigns(path: &Path, campaigns: Vec<Campaign>) -> Self {
        let snapshot = index::build(campaigns, 1, path.display().to_string());
        Self {
            current: ArcSwap::from_pointee(snapshot),
            path: path.to_owned(),
            lexicon: None,
            versions: AtomicU64::new(1),
            reloading: Mutex::new(()),
        }
    }

    /// The serving snapshot. Do not hold the guard across an `.await`.
    pub fn load(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The serving snapshot as an owned `Arc` (to keep across an `.await`).
    pub fn load_full(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The campaign file this store reloads from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Re-reads the campaign file and swaps the new snapshot in. Blocking: call it from
    /// a blocking thread. On error the old snapshot keeps serving.
    pub fn reload(&self) -> Result<LoadSummary, LoadError> {
        let (campaigns, lexicon) = load_sources(&self.path, self.lexicon.as_deref())?;
        Ok(self.replace_with(campaigns, lexicon))
    }

    /// Indexes `campaigns` (without a lexicon) as the next version and swaps it in.
    pub fn replace(&self, campaigns: Vec<Campaign>) -> LoadSummary {
        self.replace_with(campaigns, Lexicon::default())
    }

    fn replace_with(&self, campaigns: Vec<Campaign>, lexicon: Lexicon) -> LoadSummary {
        let _serialised = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot =
            index::build_with(campaigns, lexicon, version, self.path.display().to_string());
        let summary = LoadSummary {
            version,
            campaigns: snapshot.len(),
            creatives: snapshot.creative_count(),
        };
        self.current.store(Arc::new(snapshot));
        summary
    }
}

/// Reads the campaign file and the lexicon; every error of both.
fn load_sources(
    campaigns: &Path,
    lexicon: Option<&Path>,
) -> Result<(Vec<Campaign>, Lexicon), LoadError> {
    let loaded = campaign::load(campaigns);
    let lexicon = lexicon.map_or_else(|| Ok(Lexicon::default()), Lexicon::load);
    match (loaded, lexicon) {
        (Ok(campaigns), Ok(lexicon)) => Ok((campaigns, lexicon)),
        (campaigns, lexicon) => Err(LoadError {
            errors: campaigns
                .err()
                .into_iter()
                .chain(lexicon.err())
                .flatten()
                .collect(),
        }),
    }
}
