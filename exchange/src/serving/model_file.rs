//! The LTV model file: read from `ltv.model`, validated, and kept with the fingerprint of
//! the bytes it was read from (the file watcher compares against it). A file that does not
//! parse or validate is rejected and the previous model keeps serving. What requests see
//! is the model published with the serving set (`crate::serving`).

use crate::serving::snapshots::source;
use crate::serving::snapshots::LoadedSources;
use arc_swap::{ArcSwap, ArcSwapOption};
use exchange_core::ltv::train::LtvModel;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Largest model file read (a model is a few hundred bytes).
pub const MAX_MODEL_BYTES: u64 = 64 * 1024;

/// Where the model comes from, the one loaded, and what it was read from.
#[derive(Debug, Default)]
pub struct ModelStore {
    path: Option<PathBuf>,
    current: ArcSwapOption<LtvModel>,
    sources: ArcSwap<LoadedSources>,
    version: AtomicU64,
}

/// Reads and validates a model file.
pub fn read_model(path: &Path) -> Result<LtvModel, String> {
    read_with_fingerprint(path).map(|(model, _)| model)
}

fn read_with_fingerprint(path: &Path) -> Result<(LtvModel, source::Fingerprint), String> {
    let (text, fingerprint) =
        source::read(path, MAX_MODEL_BYTES).map_err(|e| format!("{}: {e}", path.display()))?;
    let model = LtvModel::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((model, fingerprint))
}

impl ModelStore {
    /// No model (the auction runs without LTV).
    pub fn none() -> Self {
        Self::default()
    }

    /// Loads the model at `path` (an error stops start-up, like a bad campaign file).
    pub fn open(path: &Path) -> Result<Self, String> {
        let (model, fingerprint) = read_with_fingerprint(path)?;
        Ok(Self {
            path: Some(path.to_path_buf()),
            current: ArcSwapOption::from_pointee(model),
            sources: ArcSwap::from_pointee(LoadedSources {
                version: 1,
                files: vec![fingerprint],
            }),
            version: AtomicU64::new(1),
        })
    }

    /// The loaded model, if any.
    pub fn load(&self) -> Option<Arc<LtvModel>> {
        self.current.load_full()
    }

    /// Version of the loaded model (0: none).
    pub fn version(&self) -> u64 {
        self.version.load(Relaxed)
    }

    /// The file the loaded model was read from (none without a model file).
    pub fn loaded_sources(&self) -> Arc<LoadedSources> {
        self.sources.load_full()
    }

    /// Re-reads the file and swaps the model in; on error the old one stays.
    /// `Ok(None)` when no model file is configured.
    pub fn reload(&self) -> Result<Option<u64>, String> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let (model, fingerprint) = read_with_fingerprint(path)?;
        self.current.store(Some(Arc::new(model)));
        let version = self.version.fetch_add(1, Relaxed) + 1;
        self.sources.store(Arc::new(LoadedSources {
            version,
            files: vec![fingerprint],
        }));
        Ok(Some(version))
    }
}
