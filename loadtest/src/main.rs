//! `loadtest`: the open-loop load generator. This is a placeholder until the load-test
//! issue lands; it builds, answers `--help`, and says plainly that it measures nothing yet.

use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Open-loop load generator for the exchange (not implemented yet).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Subcommand and arguments (run, sweep, baseline, compare, demo, mock-bidder).
    #[arg(trailing_var_arg = true)]
    args: Vec<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    eprintln!(
        "loadtest {:?}: not implemented yet (see the load-test issue); use the criterion benches: cargo bench -p benches",
        cli.args
    );
    ExitCode::from(2)
}
