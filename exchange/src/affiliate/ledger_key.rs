//! The exchange's Ed25519 ledger key on disk: 64 hex digits (the seed) in a file only its
//! owner can read, created on first start.

use crate::shared::StoreError;
use exchange_core::ledger::{hex, unhex, LedgerKey};
use std::io::Write;
use std::path::Path;

/// The key in `path`, or a new one written there (mode 0600, never overwritten).
pub fn load_or_create(path: &Path) -> Result<LedgerKey, StoreError> {
    let fail =
        |what: String| StoreError::Unavailable(format!("ledger key {}: {what}", path.display()));
    match std::fs::read_to_string(path) {
        Ok(text) => unhex::<32>(text.trim())
            .map(LedgerKey::from_seed)
            .ok_or_else(|| fail("not 64 hex digits".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut seed = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut seed);
            if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
                std::fs::create_dir_all(folder).map_err(|e| fail(e.to_string()))?;
            }
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            match options.open(path) {
                Ok(mut file) => {
                    file.write_all(format!("{}\n", hex(&seed)).as_bytes())
                        .and_then(|()| file.sync_all())
                        .map_err(|e| fail(e.to_string()))?;
                    Ok(LedgerKey::from_seed(seed))
                }
                // Another node or process created it meanwhile: read theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create(path),
                Err(e) => Err(fail(e.to_string())),
            }
        }
        Err(e) => Err(fail(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_then_read_back() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("keys/ledger.key");
        let made = load_or_create(&path).expect("created");
        let read = load_or_create(&path).expect("read");
        assert_eq!(made.public_hex(), read.public_hex());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not hex").expect("write");
        assert!(load_or_create(&path).is_err());
    }
}
