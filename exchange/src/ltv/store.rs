//! The serving LTV model: read from `ltv.model`, validated, and swapped in whole with
//! `arc-swap`; a file that does not parse or validate is rejected and the previous model
//! keeps serving. Reloaded with the campaigns (admin call, `SIGHUP`, file watcher).

use super::train::LtvModel;
use arc_swap::ArcSwapOption;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

/// Largest model file read (a model is a few hundred bytes).
pub const MAX_MODEL_BYTES: u64 = 64 * 1024;

/// Where the model comes from and the one serving.
#[derive(Debug, Default)]
pub struct ModelStore {
    path: Option<PathBuf>,
    current: ArcSwapOption<LtvModel>,
    version: AtomicU64,
}

/// Reads and validates a model file.
pub fn read_model(path: &Path) -> Result<LtvModel, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .len();
    if size > MAX_MODEL_BYTES {
        return Err(format!(
            "{}: larger than {MAX_MODEL_BYTES} bytes",
            path.display()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let model: LtvModel =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    model
        .validate()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(model)
}

impl ModelStore {
    /// No model (the auction runs without LTV).
    pub fn none() -> Self {
        Self::default()
    }

    /// Loads the model at `path` (an error stops start-up, like a bad campaign file).
    pub fn open(path: &Path) -> Result<Self, String> {
        let model = read_model(path)?;
        Ok(Self {
            path: Some(path.to_path_buf()),
            current: ArcSwapOption::from_pointee(model),
            version: AtomicU64::new(1),
        })
    }

    /// The serving model, if any.
    pub fn load(&self) -> Option<Arc<LtvModel>> {
        self.current.load_full()
    }

    /// Version of the serving model (0: none).
    pub fn version(&self) -> u64 {
        self.version.load(Relaxed)
    }

    /// Re-reads the file and swaps the model in; on error the old one keeps serving.
    /// `Ok(None)` when no model file is configured.
    pub fn reload(&self) -> Result<Option<u64>, String> {
        let Some(path) = &self.path else {
            return Ok(None);
        };
        let model = read_model(path)?;
        self.current.store(Some(Arc::new(model)));
        Ok(Some(self.version.fetch_add(1, Relaxed) + 1))
    }
}
