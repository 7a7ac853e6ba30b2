//! `bidder-check --endpoint URL`: runs the SDK's conformance kit against any bidder
//! endpoint over HTTP and prints what is wrong. Exit status 1 when a check fails.

use bidder_sdk::testing::{check_endpoint, CheckOptions};
use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Checks an OpenRTB 2.6 bidder endpoint against the exchange's contract.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Bid endpoint, e.g. http://127.0.0.1:9001/openrtb2/bid
    #[arg(long)]
    endpoint: String,
    /// Corpus folder with requests/ and invalid/ (e.g. ../shared/conformance/openrtb)
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// tmax for built-in requests and corpus requests without one, ms
    #[arg(long, default_value_t = 100)]
    tmax_ms: u64,
    /// Print the report as JSON instead of a table
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("bidder-check: cannot start a runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let options = CheckOptions {
        endpoint: args.endpoint,
        corpus: args.corpus,
        tmax: Duration::from_millis(args.tmax_ms),
    };
    let report = runtime.block_on(check_endpoint(&options));
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => println!("{text}"),
            Err(error) => {
                eprintln!("bidder-check: {error}");
                return ExitCode::from(2);
            }
        }
    } else {
        print!("{report}");
    }
    if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
