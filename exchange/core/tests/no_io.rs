//! The auction core does no IO by construction: its manifest names no async runtime, HTTP
//! stack, store or file-watching crate, and takes the SDK without its server feature. This
//! test keeps it so (a dependency added by mistake fails here, with the reason).

#[test]
fn the_core_depends_on_no_runtime_http_stack_or_store() {
    let manifest = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .expect("manifest");
    let dependencies: Vec<&str> = manifest
        .split("\n[")
        .filter(|section| section.starts_with("dependencies]"))
        .flat_map(|section| section.lines().skip(1))
        .filter_map(|line| line.split(['=', '.', ' ']).next())
        .filter(|name| !name.is_empty() && !name.starts_with('#'))
        .collect();
    assert!(
        dependencies.contains(&"serde"),
        "read the section: {dependencies:?}"
    );
    for forbidden in [
        "tokio",
        "hyper",
        "hyper-util",
        "redis",
        "rusqlite",
        "arc-swap",
        "mio",
        "reqwest",
        "crossbeam-channel",
        "tracing-subscriber",
    ] {
        assert!(
            !dependencies.contains(&forbidden),
            "exchange-core must not depend on {forbidden}: the auction does no IO"
        );
    }
    let sdk = manifest
        .lines()
        .find(|line| line.starts_with("bidder-sdk"))
        .expect("the SDK");
    assert!(!sdk.contains("server"), "the SDK without its server: {sdk}");
}
