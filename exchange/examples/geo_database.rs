//! Writes `configs/geo/sample.mmdb` from `configs/geo/sample.csv`:
//! `cargo run -p exchange --example geo_database [table.csv] [out.mmdb]`.

#[path = "../src/enrich/sample_geo.rs"]
#[allow(dead_code)]
mod sample_geo;

use std::path::PathBuf;

fn main() -> Result<(), String> {
    let folder = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/geo");
    let mut args = std::env::args().skip(1);
    let table = args.next().map_or(folder.join("sample.csv"), PathBuf::from);
    let out = args
        .next()
        .map_or(folder.join("sample.mmdb"), PathBuf::from);
    let text = std::fs::read_to_string(&table).map_err(|e| format!("{}: {e}", table.display()))?;
    let rows = sample_geo::parse(&text)?;
    let bytes = sample_geo::build(&rows)?;
    std::fs::write(&out, &bytes).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "{} networks, {} bytes -> {}",
        rows.len(),
        bytes.len(),
        out.display()
    );
    Ok(())
}
