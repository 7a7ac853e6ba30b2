//! The sample geolocation table (`configs/geo/sample.csv`: network, ISO alpha-2 country,
//! ISO-3166-2 region, English city name) built into a MaxMind DB with the GeoIP2-City
//! record layout. Shared by the lib's tests and `examples/geo_database.rs`, which writes
//! `configs/geo/sample.mmdb`; the bytes are reproducible (fixed build time).

use ipnet::IpNet;
use serde::Serialize;
use std::time::{Duration, SystemTime};

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// The network it covers.
    pub network: IpNet,
    /// ISO-3166-1 alpha-2 country.
    pub country: String,
    /// Subdivision code, or empty.
    pub region: String,
    /// City, or empty.
    pub city: String,
}

/// Reads the CSV table (a header line, then `network,country,region,city`; `#` comments).
pub fn parse(text: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate().skip(1) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [network, country, region, city] = fields[..] else {
            return Err(format!("line {}: four fields", number + 1));
        };
        rows.push(Row {
            network: network
                .parse()
                .map_err(|e| format!("line {}: {e}", number + 1))?,
            country: country.to_owned(),
            region: region.to_owned(),
            city: city.to_owned(),
        });
    }
    Ok(rows)
}

#[derive(Serialize)]
struct Names {
    en: String,
}

#[derive(Serialize)]
struct Country {
    iso_code: String,
}

#[derive(Serialize)]
struct Subdivision {
    iso_code: String,
}

#[derive(Serialize)]
struct City {
    names: Names,
}

#[derive(Serialize)]
struct Record {
    country: Country,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subdivisions: Vec<Subdivision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    city: Option<City>,
}

/// The table as a MaxMind DB (IPv6 tree, IPv4 reachable at its mapped addresses).
pub fn build(rows: &[Row]) -> Result<Vec<u8>, String> {
    let mut writer = mmdb_writer::Writer::builder("Exchange-Sample-City")
        .description(&[(
            "en",
            "Sample IP geolocation for tests and the sample config; not real data",
        )])
        .build_epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600))
        .build();
    for row in rows {
        let record = Record {
            country: Country {
                iso_code: row.country.clone(),
            },
            subdivisions: (!row.region.is_empty())
                .then(|| Subdivision {
                    iso_code: row.region.clone(),
                })
                .into_iter()
                .collect(),
            city: (!row.city.is_empty()).then(|| City {
                names: Names {
                    en: row.city.clone(),
                },
            }),
        };
        writer
            .insert(row.network, &record)
            .map_err(|e| format!("{}: {e}", row.network))?;
    }
    writer.to_bytes().map_err(|e| e.to_string())
}
