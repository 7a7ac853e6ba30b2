//! Campaigns: the file format advertisers write, and its compilation into the
//! validated, pre-computed form the index serves from.
//!
//! `spec` is the serde shape of the file (documented field by field in
//! `configs/README.md`); `compile` validates it and turns it into [`Campaign`]s, collecting
//! every error with its file and field rather than stopping at the first. Reading the
//! file is the server's (`store`); `counter` names each frequency counter.

mod compile;
pub mod counter;
mod markup;
mod spec;

pub(crate) use compile::normalise_os;
pub use compile::{
    compile, Attribution, Campaign, CampaignError, ContextRules, Creative, CreativeKind,
    DeviceClass, FrequencyCap, ListFilter, LtvTier, PacingMode, Pricing, DEFAULT_ATTRIBUTION_HOURS,
    MAX_ATTRIBUTION_HOURS, MAX_VIEW_THROUGH_HOURS,
};
pub use markup::{MarkupTemplate, MarkupValues};
pub use spec::{AttributionSpec, CampaignFile, CampaignSpec, ContextSpec, LtvTierSpec};

use std::path::Path;

/// Parses and compiles campaign file text read from `path` (JSON, or TOML by the
/// `.toml` extension); errors name `path`.
pub fn from_text(text: &str, path: &Path) -> Result<Vec<Campaign>, Vec<CampaignError>> {
    let origin = path.display().to_string();
    let file = parse(text, &origin, is_toml(path))?;
    compile(&file, &origin)
}

/// Parses campaign file text without compiling it.
pub fn parse(
    text: &str,
    origin: &str,
    toml_format: bool,
) -> Result<CampaignFile, Vec<CampaignError>> {
    if toml_format {
        toml::from_str(text).map_err(|error| {
            let field = error
                .span()
                .map(|s| format!("bytes {}..{}", s.start, s.end));
            vec![CampaignError::new(
                origin,
                field.as_deref().unwrap_or("$"),
                error.message().to_owned(),
            )]
        })
    } else {
        // Fast path without path tracking; only a rejected file pays for naming the field.
        serde_json::from_str(text).map_err(|_| {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            match serde_path_to_error::deserialize::<_, CampaignFile>(&mut deserializer) {
                Ok(_) => vec![CampaignError::new(origin, "$", "rejected by the parser")],
                Err(error) => {
                    let field = error.path().to_string();
                    vec![CampaignError::new(
                        origin,
                        &field,
                        error.into_inner().to_string(),
                    )]
                }
            }
        })
    }
}

fn is_toml(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("toml"))
}
