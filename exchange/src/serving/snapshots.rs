//! The snapshot store: the one place the serving [`Snapshot`] lives, behind `arc-swap`.
//!
//! Readers `load()` it without locks; a reload parses, validates and indexes a new
//! snapshot off the request path and swaps it in whole. A failed reload leaves the old
//! snapshot serving. Reloads are serialised among themselves, read to swap (a std mutex
//! that only reload threads touch), never with readers. Beside the snapshot it keeps the
//! [`Fingerprint`]s of the source bytes that snapshot was built from, for the file
//! watcher.

pub(crate) mod source;

pub use source::{Fingerprint, Stat, RACY_WINDOW};

use crate::ads_txt;
use crate::campaign::{self, Campaign, CampaignError};
use crate::context::lexicon::{Lexicon, MAX_LEXICON_BYTES};
use crate::context::semantic::{Embeddings, MAX_SEMANTIC_BYTES};
use crate::index::{self, Snapshot};
use crate::publishers::{Registry, MAX_REGISTRY_BYTES};
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

/// The source files a snapshot was built from, as they were read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedSources {
    /// The snapshot version built from them.
    pub version: u64,
    /// The campaign file, then the lexicon and the publisher registry (if any).
    pub files: Vec<Fingerprint>,
}

/// The files read with the campaign file into the same snapshot, and reloaded with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sidecars {
    /// The intent lexicon (`[context] lexicon`).
    pub lexicon: Option<PathBuf>,
    /// The publisher registry (`publishers`).
    pub publishers: Option<PathBuf>,
    /// The semantic resource (`[context] semantic`): read once, when the store opens, and
    /// given to every snapshot (a change needs a restart).
    pub semantic: Option<PathBuf>,
    /// The ads.txt folder (`[supply_chain] ads_txt_dir`) and the exchange's `asi`: its
    /// files are re-read with every reload (not watched: reload after a fetch).
    pub ads_txt: Option<(PathBuf, String)>,
}

/// Holds the serving snapshot and knows where to reload it from.
#[derive(Debug)]
pub struct SnapshotStore {
    current: ArcSwap<Snapshot>,
    sources: ArcSwap<LoadedSources>,
    path: PathBuf,
    sidecars: Sidecars,
    semantic: Option<Arc<Embeddings>>,
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
        let sidecars = Sidecars {
            lexicon: lexicon.map(Path::to_owned),
            publishers: None,
            semantic: None,
            ads_txt: None,
        };
        Self::open_with(path, sidecars)
    }

    /// Loads the campaign file at `path` and its `sidecars` as version 1; reloads re-read
    /// them all, and any one that fails keeps the old snapshot serving.
    pub fn open_with(path: &Path, sidecars: Sidecars) -> Result<Self, LoadError> {
        let semantic = match &sidecars.semantic {
            Some(file) => Some(Arc::new(
                read_semantic(file).map_err(|errors| LoadError { errors })?,
            )),
            None => None,
        };
        let (campaigns, mut lexicon, (registry, ads_txt), files) = load_sources(path, &sidecars)?;
        lexicon.semantic = semantic.clone();
        let mut snapshot = index::build_with(campaigns, lexicon, 1, path.display().to_string());
        snapshot.publishers = registry;
        snapshot.ads_txt = ads_txt;
        Ok(Self {
            current: ArcSwap::from_pointee(snapshot),
            sources: ArcSwap::from_pointee(LoadedSources { version: 1, files }),
            path: path.to_owned(),
            sidecars,
            semantic,
            versions: AtomicU64::new(1),
            reloading: Mutex::new(()),
        })
    }

    /// What the serving snapshot holds, for the start-up memory ledger.
    pub fn describe(&self) -> String {
        let snapshot = self.load_full();
        let mut parts = vec![format!("{} campaigns", snapshot.len())];
        if let Some(semantic) = &self.semantic {
            parts.push(format!(
                "word vectors {} × {} ({:.1} MB)",
                semantic.len(),
                semantic.dimensions(),
                semantic.heap_bytes() as f64 / 1e6
            ));
        }
        if self.sidecars.publishers.is_some() {
            parts.push("publisher registry".to_owned());
        }
        if self.sidecars.lexicon.is_some() {
            parts.push("lexicon".to_owned());
        }
        parts.join(", ")
    }

    /// The lexicon file reloaded with the campaigns, if any.
    pub fn lexicon_path(&self) -> Option<&Path> {
        self.sidecars.lexicon.as_deref()
    }

    /// A store serving `campaigns` as version 1; reloads read `path`.
    pub fn with_campaigns(path: &Path, campaigns: Vec<Campaign>) -> Self {
        let snapshot = index::build(campaigns, 1, path.display().to_string());
        Self {
            current: ArcSwap::from_pointee(snapshot),
            sources: ArcSwap::default(),
            path: path.to_owned(),
            sidecars: Sidecars::default(),
            semantic: None,
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

    /// The source files the serving snapshot was last loaded from (empty when it was
    /// given campaigns rather than a file). [`replace`](Self::replace) leaves it as is.
    pub fn loaded_sources(&self) -> Arc<LoadedSources> {
        self.sources.load_full()
    }

    /// Re-reads the campaign file (and lexicon) and swaps the new snapshot in, with the
    /// fingerprints of the bytes read. Blocking: call it from a blocking thread. On error
    /// the old snapshot keeps serving.
    pub fn reload(&self) -> Result<LoadSummary, LoadError> {
        // Held from the read to the swap, so two reloads cannot swap in out of order.
        let _serialised = self.serialise();
        let (campaigns, lexicon, supply, files) = load_sources(&self.path, &self.sidecars)?;
        let summary = self.swap_in(campaigns, lexicon, supply);
        self.sources.store(Arc::new(LoadedSources {
            version: summary.version,
            files,
        }));
        Ok(summary)
    }

    /// Indexes `campaigns` (without a lexicon) as the next version and swaps it in (what
    /// requests see changes once `AppState::publish` runs: `AppState::replace_campaigns`).
    pub fn replace(&self, campaigns: Vec<Campaign>) -> LoadSummary {
        let _serialised = self.serialise();
        let serving = self.load();
        let supply = (serving.publishers.clone(), serving.ads_txt.clone());
        self.swap_in(campaigns, Lexicon::default(), supply)
    }

    fn serialise(&self) -> std::sync::MutexGuard<'_, ()> {
        self.reloading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn swap_in(
        &self,
        campaigns: Vec<Campaign>,
        mut lexicon: Lexicon,
        (registry, ads_txt): (Registry, ads_txt::Table),
    ) -> LoadSummary {
        lexicon.semantic = self.semantic.clone();
        let version = self.versions.fetch_add(1, Ordering::Relaxed) + 1;
        let mut snapshot =
            index::build_with(campaigns, lexicon, version, self.path.display().to_string());
        snapshot.publishers = registry;
        snapshot.ads_txt = ads_txt;
        let summary = LoadSummary {
            version,
            campaigns: snapshot.len(),
            creatives: snapshot.creative_count(),
        };
        self.current.store(Arc::new(snapshot));
        summary
    }
}

/// What [`load_sources`] produced: campaigns, lexicon, publisher registry, and the
/// fingerprints of the bytes they were built from.
type Sources = (
    Vec<Campaign>,
    Lexicon,
    (Registry, ads_txt::Table),
    Vec<Fingerprint>,
);

/// Reads the campaign file and the lexicon, each once; every error of both.
/// Reads and compiles a campaign file (JSON, or TOML by the `.toml` extension).
pub fn read_campaigns(path: &Path) -> Result<Vec<Campaign>, Vec<CampaignError>> {
    read_text(path, u64::MAX, "$").and_then(|(text, _)| campaign::from_text(&text, path))
}

/// Reads and compiles the publisher registry at `path`; every problem names file and field.
pub fn read_publishers(path: &Path) -> Result<Registry, Vec<CampaignError>> {
    read_text(path, MAX_REGISTRY_BYTES, "")
        .and_then(|(text, _)| Registry::parse(&text, &path.display().to_string()))
}

/// Most files read from the ads.txt folder.
pub const MAX_ADS_TXT_FILES: usize = 100_000;

/// Reads the ads.txt folder: `<domain>.ads.txt` and `<domain>.app-ads.txt` (other names are
/// skipped with a warning), each at most `ads_txt::MAX_FILE_BYTES`, keeping the lines that
/// name `asi`. A missing folder, an unreadable or oversized file is an error naming it.
pub fn read_ads_txt(dir: &Path, asi: &str) -> Result<ads_txt::Table, Vec<CampaignError>> {
    use std::io::Read;
    let fail = |path: &Path, message: String| {
        vec![CampaignError::new(&path.display().to_string(), "", message)]
    };
    let entries = std::fs::read_dir(dir).map_err(|e| fail(dir, e.to_string()))?;
    let mut table = ads_txt::Table::default();
    let mut read = 0usize;
    for entry in entries {
        let path = entry.map_err(|e| fail(dir, e.to_string()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (domain, kind) = if let Some(domain) = name.strip_suffix(".app-ads.txt") {
            (domain, ads_txt::Kind::App)
        } else if let Some(domain) = name.strip_suffix(".ads.txt") {
            (domain, ads_txt::Kind::Site)
        } else {
            tracing::warn!(file = %path.display(), "ads.txt folder: not <domain>.ads.txt or <domain>.app-ads.txt, skipped");
            continue;
        };
        read += 1;
        if read > MAX_ADS_TXT_FILES {
            return Err(fail(dir, format!("more than {MAX_ADS_TXT_FILES} files")));
        }
        let mut bytes = Vec::new();
        std::fs::File::open(&path)
            .and_then(|f| {
                f.take(ads_txt::MAX_FILE_BYTES as u64 + 1)
                    .read_to_end(&mut bytes)
            })
            .map_err(|e| fail(&path, e.to_string()))?;
        if bytes.len() > ads_txt::MAX_FILE_BYTES {
            return Err(fail(
                &path,
                format!("larger than {} bytes", ads_txt::MAX_FILE_BYTES),
            ));
        }
        let text = String::from_utf8_lossy(&bytes);
        table.insert(kind, domain, &ads_txt::parse(&text), asi);
    }
    Ok(table)
}

/// Reads the semantic resource (word vectors) at `path`, at most `MAX_SEMANTIC_BYTES`;
/// the error names the file and what is wrong.
pub fn read_semantic(path: &Path) -> Result<Embeddings, Vec<CampaignError>> {
    use std::io::Read;
    let file = path.display().to_string();
    let fail = |message: String| vec![CampaignError::new(&file, "", message)];
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_SEMANTIC_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|e| fail(e.to_string()))?;
    if bytes.len() as u64 > MAX_SEMANTIC_BYTES {
        return Err(fail(format!("larger than {MAX_SEMANTIC_BYTES} bytes")));
    }
    Embeddings::parse(&bytes).map_err(fail)
}

/// Reads and compiles the lexicon at `path`; every problem names file and field.
pub fn read_lexicon(path: &Path) -> Result<Lexicon, Vec<CampaignError>> {
    read_text(path, MAX_LEXICON_BYTES, "")
        .and_then(|(text, _)| Lexicon::parse(&text, &path.display().to_string()))
}

/// One source file's text (at most `max_bytes`) and fingerprint; an error names `field`.
fn read_text(
    path: &Path,
    max_bytes: u64,
    field: &str,
) -> Result<(String, Fingerprint), Vec<CampaignError>> {
    source::read(path, max_bytes).map_err(|message| {
        vec![CampaignError::new(
            &path.display().to_string(),
            field,
            message,
        )]
    })
}

fn load_sources(campaigns: &Path, sidecars: &Sidecars) -> Result<Sources, LoadError> {
    let mut files = Vec::with_capacity(3);
    let mut read = |path: &Path, max_bytes: u64, field: &str| {
        read_text(path, max_bytes, field).map(|(text, fingerprint)| {
            files.push(fingerprint);
            text
        })
    };
    let loaded =
        read(campaigns, u64::MAX, "$").and_then(|text| campaign::from_text(&text, campaigns));
    let lexicon = match &sidecars.lexicon {
        None => Ok(Lexicon::default()),
        Some(path) => read(path, MAX_LEXICON_BYTES, "")
            .and_then(|text| Lexicon::parse(&text, &path.display().to_string()))
            .inspect(|lexicon| {
                for warning in &lexicon.warnings {
                    tracing::warn!("lexicon: {warning}");
                }
            }),
    };
    let registry = match &sidecars.publishers {
        None => Ok(Registry::default()),
        Some(path) => read(path, MAX_REGISTRY_BYTES, "")
            .and_then(|text| Registry::parse(&text, &path.display().to_string())),
    };
    let ads_txt = match &sidecars.ads_txt {
        None => Ok(ads_txt::Table::default()),
        Some((dir, asi)) => read_ads_txt(dir, asi),
    };
    match (loaded, lexicon, registry, ads_txt) {
        (Ok(campaigns), Ok(lexicon), Ok(registry), Ok(ads_txt)) => {
            Ok((campaigns, lexicon, (registry, ads_txt), files))
        }
        (campaigns, lexicon, registry, ads_txt) => Err(LoadError {
            errors: campaigns
                .err()
                .into_iter()
                .chain(lexicon.err())
                .chain(registry.err())
                .chain(ads_txt.err())
                .flatten()
                .collect(),
        }),
    }
}
