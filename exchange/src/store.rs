//! The snapshot store: the one place the serving [`Snapshot`] lives, behind `arc-swap`.
//!
//! Readers `load()` it without locks; a reload parses, validates and indexes a new
//! snapshot off the request path and swaps it in whole. A failed reload leaves the old
//! snapshot serving. Reloads are serialised among themselves (a std mutex that only
//! reload threads touch), never with readers.

use crate::campaign::{self, Campaign, CampaignError};
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
    versions: AtomicU64,
    reloading: Mutex<()>,
}

impl SnapshotStore {
    /// Loads the campaign file at `path` as version 1.
    pub fn open(path: &Path) -> Result<Self, LoadError> {
        let campaigns = campaign::load(path).map_err(|errors| LoadError { errors })?;
        Ok(Self::with_campaigns(path, campaigns))
    }

    /// A store serving `campaigns` as version 1; reloads read `path`.
    pub fn with_campaigns(path: &Path, campaigns: Vec<Campaign>) -> Self {
        let snapshot = index::build(campaigns, 1, path.display().to_string());
        Self {
            current: ArcSwap::from_pointee(snapshot),
            path: path.to_owned(),
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
        let campaigns = campaign::load(&self.path).map_err(|errors| LoadError { errors })?;
        Ok(self.replace(campaigns))
    }

    /// Indexes `campaigns` as the next version and swaps it in.
    pub fn replace(&self, campaigns: Vec<Campaign>) -> LoadSummary {
        let _serialised = self
            .reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let snapshot = index::build(campaigns, version, self.path.display().to_string());
        let summary = LoadSummary {
            version,
            campaigns: snapshot.len(),
            creatives: snapshot.creative_count(),
        };
        self.current.store(Arc::new(snapshot));
        summary
    }
}
