//! IP geolocation from a MaxMind-format (`.mmdb`) database: GeoLite2/GeoIP2 Country or
//! City, DB-IP's lite databases, or the sample one in `configs/geo/`. Read by the
//! `maxminddb` crate; the whole file is loaded into memory and checked once at start.

use maxminddb::{MaxMindDbError, Reader};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::Path;

/// Largest database file read (GeoIP2-City is about 130 MB).
pub const MAX_DATABASE_BYTES: u64 = 512 * 1024 * 1024;

/// Longest region or city name copied into a request.
const MAX_NAME_BYTES: usize = 64;

/// Why the database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is larger than [`MAX_DATABASE_BYTES`].
    #[error("{path} is {bytes} bytes, over the {MAX_DATABASE_BYTES}-byte limit")]
    TooLarge {
        /// The file.
        path: String,
        /// Its size.
        bytes: u64,
    },
    /// The file is not a valid MaxMind DB.
    #[error("{path} is not a valid MaxMind DB: {source}")]
    Invalid {
        /// The file.
        path: String,
        /// What the reader found.
        source: MaxMindDbError,
    },
}

/// Where an IP address is, as OpenRTB's `geo` object spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    /// ISO-3166-1 alpha-3 country (`CHN`).
    pub country: &'static str,
    /// ISO-3166-2 subdivision code without the country (`SH`), when known.
    pub region: Option<String>,
    /// City name in English, when known.
    pub city: Option<String>,
}

/// An open geolocation database.
pub struct GeoDatabase {
    reader: Reader<Vec<u8>>,
}

impl std::fmt::Debug for GeoDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let metadata = self.reader.metadata();
        f.debug_struct("GeoDatabase")
            .field("type", &metadata.database_type)
            .field("build_epoch", &metadata.build_epoch)
            .finish()
    }
}

/// The part of a GeoIP2 Country/City record the exchange reads.
#[derive(Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    country: Option<Country<'a>>,
    #[serde(borrow, default)]
    subdivisions: Vec<Subdivision<'a>>,
    #[serde(borrow)]
    city: Option<City<'a>>,
}

#[derive(Deserialize)]
struct Country<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct Subdivision<'a> {
    iso_code: Option<&'a str>,
}

#[derive(Deserialize)]
struct City<'a> {
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

#[derive(Deserialize)]
struct Names<'a> {
    en: Option<&'a str>,
}

impl GeoDatabase {
    /// Opens and verifies a database file (bounded in size).
    pub fn open(path: &Path) -> Result<Self, GeoError> {
        let shown = path.display().to_string();
        let read_error = |source| GeoError::Read {
            path: shown.clone(),
            source,
        };
        let bytes = std::fs::metadata(path).map_err(read_error)?.len();
        if bytes > MAX_DATABASE_BYTES {
            return Err(GeoError::TooLarge { path: shown, bytes });
        }
        let buffer = std::fs::read(path).map_err(read_error)?;
        Self::from_bytes(buffer).map_err(|source| GeoError::Invalid {
            path: shown,
            source,
        })
    }

    /// A database from its bytes, verified (the search tree and data section are walked
    /// once, so a damaged file is refused at start rather than misread per request).
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, MaxMindDbError> {
        let reader = Reader::from_source(bytes)?;
        reader.verify()?;
        Ok(Self { reader })
    }

    /// The database's type (`GeoLite2-City`, …) and build time (unix seconds).
    pub fn describe(&self) -> (&str, u64) {
        let metadata = self.reader.metadata();
        (&metadata.database_type, metadata.build_epoch)
    }

    /// Where `ip` is: `None` when the database has no record for it or the record has no
    /// country the ISO list knows.
    pub fn locate(&self, ip: IpAddr) -> Option<Place> {
        let found = self.reader.lookup(ip).ok()?;
        let record: Record<'_> = found.decode().ok()??;
        let alpha2 = record.country?.iso_code?;
        let country = celes::Country::from_alpha2(alpha2).ok()?.alpha3;
        let bounded = |text: &str| {
            (!text.is_empty() && text.len() <= MAX_NAME_BYTES).then(|| text.to_owned())
        };
        Some(Place {
            country,
            region: record
                .subdivisions
                .first()
                .and_then(|s| s.iso_code)
                .and_then(bounded),
            city: record
                .city
                .and_then(|c| c.names)
                .and_then(|n| n.en)
                .and_then(bounded),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::sample_geo;

    #[test]
    fn a_database_built_here_answers_v4_v6_and_mapped_addresses() {
        let rows = sample_geo::parse(
            "network,country,region,city\n\
             10.1.0.0/16,DE,BE,Berlin\n\
             2001:db8:5::/48,JP,13,\n\
             198.18.0.0/15,ZZ,,\n",
        )
        .expect("rows");
        let database = GeoDatabase::from_bytes(sample_geo::build(&rows).expect("built"))
            .expect("valid database");
        let berlin = database.locate("10.1.2.3".parse().expect("ip"));
        assert_eq!(
            berlin,
            Some(Place {
                country: "DEU",
                region: Some("BE".to_owned()),
                city: Some("Berlin".to_owned()),
            })
        );
        let mapped = database.locate("::ffff:10.1.2.3".parse().expect("ip"));
        assert_eq!(
            mapped, berlin,
            "an IPv4-mapped IPv6 address is the IPv4 one"
        );
        let tokyo = database
            .locate("2001:db8:5::1".parse().expect("ip"))
            .expect("found");
        assert_eq!(
            (tokyo.country, tokyo.region.as_deref()),
            ("JPN", Some("13"))
        );
        assert_eq!(tokyo.city, None);
        assert_eq!(database.locate("10.2.0.1".parse().expect("ip")), None);
        assert_eq!(
            database.locate("198.18.0.1".parse().expect("ip")),
            None,
            "a code that is not a country is no place"
        );
    }

    #[test]
    fn damaged_or_foreign_files_are_refused() {
        assert!(GeoDatabase::from_bytes(b"not a database".to_vec()).is_err());
        let rows = sample_geo::parse("network,country,region,city\n10.0.0.0/8,CN,SH,Shanghai\n")
            .expect("rows");
        let mut bytes = sample_geo::build(&rows).expect("built");
        bytes.truncate(bytes.len() / 2);
        assert!(GeoDatabase::from_bytes(bytes).is_err());
        let missing = GeoDatabase::open(Path::new("/nonexistent/geo.mmdb")).expect_err("missing");
        assert!(
            missing.to_string().contains("/nonexistent/geo.mmdb"),
            "{missing}"
        );
    }

    #[test]
    fn the_sample_database_is_exactly_what_its_table_builds() {
        let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/geo");
        let table = std::fs::read_to_string(folder.join("sample.csv")).expect("table");
        let rows = sample_geo::parse(&table).expect("rows");
        let built = sample_geo::build(&rows).expect("built");
        let committed = std::fs::read(folder.join("sample.mmdb")).expect("database");
        assert!(
            built == committed,
            "configs/geo/sample.mmdb is stale: run `cargo run -p exchange --example geo_database`"
        );
        let database = GeoDatabase::from_bytes(committed).expect("valid");
        for row in &rows {
            let place = database
                .locate(row.network.network())
                .expect("each row is found");
            assert_eq!(
                celes::Country::from_alpha3(place.country)
                    .expect("alpha-3")
                    .alpha2,
                row.country
            );
        }
        let loopback = database
            .locate("127.0.0.1".parse().expect("ip"))
            .expect("loopback is mapped");
        assert_eq!(loopback.country, "CHN");
    }
}
