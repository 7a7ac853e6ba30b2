//! Bounded gzip for bodies on the wire (feature `gzip`): decompression stops at a size
//! cap, so a small "zip bomb" cannot make the reader allocate gigabytes.

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::{Read, Write};

/// Why a gzip body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum GunzipError {
    /// Decompressed, the body would exceed the cap.
    #[error("decompressed body exceeds the size cap")]
    TooLarge,
    /// Not a valid gzip stream.
    #[error("body is not valid gzip")]
    Corrupt,
}

/// Decompresses `body`, refusing output longer than `max_bytes`.
pub fn gunzip(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, GunzipError> {
    let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(max_bytes));
    let mut decoder = GzDecoder::new(body).take(max_bytes as u64 + 1);
    decoder
        .read_to_end(&mut out)
        .map_err(|_| GunzipError::Corrupt)?;
    if out.len() > max_bytes {
        return Err(GunzipError::TooLarge);
    }
    Ok(out)
}

/// Compresses `body` (fast level: bodies are small and latency matters more than bytes).
pub fn gzip(body: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 3 + 64), Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(body);
    encoder.finish().unwrap_or_default()
}

/// Whether an `Accept-Encoding` or `Content-Encoding` value names gzip.
pub fn names_gzip(header: &str) -> bool {
    header.split(',').any(|coding| {
        coding
            .split(';')
            .next()
            .is_some_and(|c| c.trim().eq_ignore_ascii_case("gzip"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_caps() {
        let body = vec![b'x'; 100_000];
        let packed = gzip(&body);
        assert!(packed.len() < 1_000);
        assert_eq!(gunzip(&packed, 100_000), Ok(body));
        assert_eq!(gunzip(&packed, 99_999), Err(GunzipError::TooLarge));
        assert_eq!(gunzip(b"not gzip", 10), Err(GunzipError::Corrupt));
    }

    #[test]
    fn header_values() {
        assert!(names_gzip("br, gzip;q=0.8"));
        assert!(names_gzip("GZIP"));
        assert!(!names_gzip("identity"));
    }
}
