//! `exchange` binary: parse the CLI, load and validate config and campaigns, bind, and
//! hand over to [`exchange::run`]. `exchange check-config` validates and summarises.

use anyhow::Context;
use clap::{Parser, Subcommand};
use exchange::campaign::Pricing;
use exchange::config::ExchangeConfig;
use exchange::shared::SharedStore;
use exchange::{AppState, SnapshotStore};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Latency-tuned OpenRTB 2.6 ad exchange.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Config file (TOML).
    #[arg(long, global = true, default_value = "configs/exchange.toml")]
    config: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Redis URL for frequency counters and budgets (overrides `REDIS_URL` and
    /// `store.redis_url`); without any, an in-process store serves one node.
    #[arg(long, global = true)]
    redis: Option<String>,
    /// Load everything as serving would, print what each start-up stage added to the
    /// resident set, and exit without listening.
    #[arg(long)]
    print_memory: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the config and campaign files and print a summary.
    CheckConfig,
    /// Fit the LTV models (BG/NBD + Gamma-Gamma) on an order file and write the model.
    TrainLtv(TrainLtvArgs),
    /// Write synthetic e-commerce orders (drawn from BG/NBD + Gamma-Gamma) for train-ltv.
    GenerateOrders(GenerateOrdersArgs),
    /// Send an advertiser's order file (CSV or JSON lines) to a running exchange's
    /// `POST /orders/batch`, in chunks, and report each order's outcome.
    ImportOrders(ImportOrdersArgs),
    /// Ask a running exchange to settle a closed period (idempotent) and print the summary.
    Settle(SettleArgs),
    /// The money ledger: export it, verify an export, check one statement line.
    #[command(subcommand)]
    Ledger(LedgerCommand),
    /// Run the labelled intent cases through the contextual auction on the configured
    /// campaigns and lexicon; report precision@1, the none rate and each miss's reason.
    IntentEval(IntentEvalArgs),
    /// Check ads.txt or app-ads.txt files (or stdin) against the publisher registry and the
    /// exchange's `supply_chain.asi`: unknown sellers, wrong relationships, owners left
    /// out. Exit 1 when a file has an error.
    AdsTxt(AdsTxtArgs),
}

/// `exchange ads-txt`.
#[derive(Debug, clap::Args)]
struct AdsTxtArgs {
    /// The files (`-`: standard input). A file's domain is its name without `.ads.txt`,
    /// `.app-ads.txt` or `.txt`, or its folder's name when it is called `ads.txt` or
    /// `app-ads.txt`.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The domain the files belong to (needed for standard input).
    #[arg(long)]
    domain: Option<String>,
    /// Print the reports as JSON.
    #[arg(long)]
    json: bool,
}

/// `exchange intent-eval`.
#[derive(Debug, clap::Args)]
struct IntentEvalArgs {
    /// The case file (`split<TAB>expected<TAB>text`).
    #[arg(long, default_value = "tests/data/intent/cases.tsv")]
    cases: PathBuf,
    /// Which cases: `tune`, `held` or `all`.
    #[arg(long, default_value = "all")]
    split: String,
    /// More campaigns competing beside the configured ones (e.g. the generic-keyword
    /// decoys in `tests/data/intent/generic.json`).
    #[arg(long)]
    decoys: Option<PathBuf>,
    /// Below this relevance the winner counts as "nothing relevant".
    #[arg(long, default_value_t = 0.1)]
    relevant_at: f32,
    /// Print each miss with its reason.
    #[arg(long)]
    misses: bool,
}

/// `exchange settle`.
#[derive(Debug, clap::Args)]
struct SettleArgs {
    /// The period, `YYYY-MM` (the month it closes in).
    #[arg(long)]
    period: String,
    /// The exchange (`http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Its admin token (or set EXCHANGE_ADMIN_TOKEN).
    #[arg(long, env = "EXCHANGE_ADMIN_TOKEN")]
    admin_token: Option<String>,
}

/// `exchange ledger …`.
#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Check an export offline: the chain, checkpoint signatures, statement roots and
    /// totals; names the first bad entry.
    Verify {
        /// The export (JSON lines), `-` for stdin.
        file: PathBuf,
        /// The exchange's public key (hex, from `GET /ledger/key`); without it, the key the
        /// first checkpoint names is trusted.
        #[arg(long)]
        key: Option<String>,
    },
    /// Download the whole ledger from a running exchange.
    Export {
        /// Where to write it.
        #[arg(long)]
        out: PathBuf,
        /// The exchange.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Its admin token (or set EXCHANGE_ADMIN_TOKEN).
        #[arg(long, env = "EXCHANGE_ADMIN_TOKEN")]
        admin_token: Option<String>,
    },
    /// Check one line of a statement (JSON) against its signed root, by its inclusion
    /// proof, without the rest of the ledger.
    CheckLine {
        /// The statement as the exchange served it.
        statement: PathBuf,
        /// The line's index.
        #[arg(long)]
        index: usize,
        /// The exchange's public key (hex); default: the statement's own.
        #[arg(long)]
        key: Option<String>,
    },
}

/// `exchange import-orders`.
#[derive(Debug, clap::Args)]
struct ImportOrdersArgs {
    /// The order file: CSV (by its `.csv` extension) or JSON lines.
    file: PathBuf,
    /// The exchange (`http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The advertiser (its `[[advertisers]]` id).
    #[arg(long)]
    advertiser: String,
    /// Its bearer token (or set EXCHANGE_ADVERTISER_TOKEN).
    #[arg(long, env = "EXCHANGE_ADVERTISER_TOKEN", conflicts_with = "key")]
    token: Option<String>,
    /// Its HMAC key, to sign each chunk (or set EXCHANGE_ADVERTISER_KEY).
    #[arg(long, env = "EXCHANGE_ADVERTISER_KEY")]
    key: Option<String>,
}

/// `exchange generate-orders`.
#[derive(Debug, clap::Args)]
struct GenerateOrdersArgs {
    /// Where to write the CSV.
    #[arg(long)]
    out: PathBuf,
    /// Customers.
    #[arg(long, default_value_t = 5_000)]
    customers: usize,
    /// First day of the data, YYYY-MM-DD (78 weeks follow; first orders in the first 12).
    #[arg(long, default_value = "2025-01-06")]
    start: String,
    /// Seed (the same seed gives the same file).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// `exchange train-ltv`.
#[derive(Debug, clap::Args)]
struct TrainLtvArgs {
    /// Orders, CSV `customer_id,date,amount` (same-day orders of a customer are one
    /// transaction).
    #[arg(long)]
    orders: PathBuf,
    /// Last day of the calibration period, YYYY-MM-DD.
    #[arg(long)]
    calibration_end: String,
    /// Last day of a holdout period to judge the predictions on, YYYY-MM-DD.
    #[arg(long)]
    holdout_end: Option<String>,
    /// Where to write the model (JSON).
    #[arg(long)]
    out: PathBuf,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| DEFAULT_LOG_FILTER.into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::CheckConfig) => check_config(&cli.config, cli.redis.as_deref()),
        Some(Command::TrainLtv(args)) => train_ltv(&args),
        Some(Command::GenerateOrders(args)) => generate_orders(&args),
        Some(Command::ImportOrders(args)) => import_orders(&args),
        Some(Command::Settle(args)) => settle(&args),
        Some(Command::Ledger(command)) => ledger(&command),
        Some(Command::IntentEval(args)) => intent_eval(&cli.config, &args),
        Some(Command::AdsTxt(args)) => ads_txt(&cli.config, &args),
        None => serve(
            &cli.config,
            cli.listen,
            cli.redis.as_deref(),
            cli.print_memory,
        ),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// The config at `path`, with `--redis` applied (and checked) when given.
fn load_config(path: &std::path::Path, redis: Option<&str>) -> anyhow::Result<ExchangeConfig> {
    let mut config = ExchangeConfig::load(path)?;
    if let Some(url) = redis {
        config.store.redis_url = url.to_owned();
        config.validate(&path.display().to_string())?;
    }
    Ok(config)
}

fn ads_txt(config: &std::path::Path, args: &AdsTxtArgs) -> anyhow::Result<ExitCode> {
    use exchange::transparency::{ads_txt_domain, render};
    use std::io::Read;
    let config = load_config(config, None)?;
    if !config.supply_chain.enabled() {
        anyhow::bail!("supply_chain.asi is not set: ads.txt lines name the exchange by it");
    }
    let registry = match &config.publishers {
        Some(path) => exchange::serving::snapshots::read_publishers(path).map_err(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", list.join("; "))
        })?,
        None => anyhow::bail!("no publisher registry (exchange.toml: publishers) to check against"),
    };
    let mut reports = Vec::new();
    for file in &args.files {
        let stdin = file.as_os_str() == "-";
        let domain = match (&args.domain, ads_txt_domain(file)) {
            (Some(domain), _) => domain.clone(),
            (None, Some(domain)) if !stdin => domain,
            _ => anyhow::bail!("{}: give --domain", file.display()),
        };
        let mut bytes = Vec::new();
        let limit = exchange::ads_txt::MAX_FILE_BYTES as u64 + 1;
        if stdin {
            std::io::stdin().take(limit).read_to_end(&mut bytes)?;
        } else {
            std::fs::File::open(file)
                .and_then(|f| f.take(limit).read_to_end(&mut bytes))
                .with_context(|| format!("reading {}", file.display()))?;
        }
        if bytes.len() as u64 >= limit {
            anyhow::bail!("{}: larger than {} bytes", file.display(), limit - 1);
        }
        let parsed = exchange::ads_txt::parse(&String::from_utf8_lossy(&bytes));
        let report =
            exchange::ads_txt::check(&parsed, &domain, &config.supply_chain.asi, &registry);
        reports.push((file.display().to_string(), report));
    }
    let (text, errors) = render(&reports, &config.supply_chain.asi, args.json);
    print!("{text}");
    Ok(if errors {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn intent_eval(config: &std::path::Path, args: &IntentEvalArgs) -> anyhow::Result<ExitCode> {
    use exchange::intent_eval::{evaluate, parse_cases, tally, Script, Split};
    let keep_split = match args.split.as_str() {
        "all" => None,
        "tune" => Some(Split::Tune),
        "held" => Some(Split::Held),
        other => anyhow::bail!("--split {other}: expected tune, held or all"),
    };
    let config = load_config(config, None)?;
    let text = std::fs::read_to_string(&args.cases)
        .with_context(|| format!("reading {}", args.cases.display()))?;
    let cases = parse_cases(&text)
        .map_err(|errors| anyhow::anyhow!("{}: {}", args.cases.display(), errors.join("; ")))?;
    let snapshot = exchange::intent_eval::catalogue(&config, args.decoys.as_deref())
        .map_err(|e| anyhow::anyhow!(e))?;
    let auction = config.auction_config();
    let now = exchange::intent_eval::EVAL_NOW;
    let answers = evaluate(&cases, &snapshot, &auction, args.relevant_at, now);
    let in_split = |case: &exchange::intent_eval::Case| keep_split.is_none_or(|s| case.split == s);
    println!(
        "intent-eval {}: {} cases, {} campaigns, relevant at {}",
        args.cases.display(),
        cases.iter().filter(|c| in_split(c)).count(),
        snapshot.len(),
        args.relevant_at
    );
    for (label, split) in [("tune", Split::Tune), ("held", Split::Held)] {
        if keep_split.is_some_and(|s| s != split) {
            continue;
        }
        let all = tally(&cases, &answers, |c| c.split == split);
        println!(
            "  {label:<5} precision@1 {:.3} ({}/{})  none {:.3} ({}/{})  generic wins {}  \
             most relevant right {:.3}  mean winner eCPM {:.3}",
            all.precision(),
            all.hits,
            all.products,
            all.none_rate(),
            all.none_hits,
            all.nones,
            all.generic_wins,
            all.understanding(),
            all.mean_ecpm()
        );
        for (name, script) in [
            ("zh", Script::Zh),
            ("en", Script::En),
            ("mixed", Script::Mixed),
        ] {
            let part = tally(&cases, &answers, |c| {
                c.split == split && c.script() == script
            });
            println!(
                "    {name:<6} precision@1 {:.3} ({}/{})",
                part.precision(),
                part.hits,
                part.products
            );
        }
    }
    if args.misses {
        for (case, answer) in cases.iter().zip(&answers) {
            if in_split(case) && !answer.correct {
                println!(
                    "  miss line {} [{}] {}: {}",
                    case.line,
                    if case.expected.is_empty() {
                        "none".to_owned()
                    } else {
                        case.expected.join(",")
                    },
                    case.text,
                    answer.reason
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check_config(path: &std::path::Path, redis: Option<&str>) -> anyhow::Result<ExitCode> {
    let config = load_config(path, redis)?;
    println!("config {}: ok", path.display());
    if let Some(path) = &config.ltv.model {
        let model = exchange::serving::model_file::read_model(path)
            .map_err(|e| anyhow::anyhow!("LTV model: {e}"))?;
        println!(
            "  ltv model {}: BG/NBD r {:.3} alpha {:.3} a {:.3} b {:.3}, Gamma-Gamma p {:.3} q {:.3} gamma {:.3}",
            path.display(), model.bgnbd.r, model.bgnbd.alpha, model.bgnbd.a, model.bgnbd.b,
            model.gamma_gamma.p, model.gamma_gamma.q, model.gamma_gamma.gamma
        );
    }
    if let Some(path) = &config.context.lexicon {
        match exchange::serving::snapshots::read_lexicon(path) {
            Ok(lexicon) => {
                println!("  lexicon {}: {} rules", path.display(), lexicon.len());
                for warning in &lexicon.warnings {
                    println!("  warning: {warning}");
                }
            }
            Err(errors) => {
                for error in &errors {
                    eprintln!("{error}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    if let Some(path) = &config.context.semantic {
        match exchange::serving::snapshots::read_semantic(path) {
            Ok(resource) => println!("  semantic {}: {} words", path.display(), resource.len()),
            Err(errors) => {
                for error in &errors {
                    eprintln!("{error}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    if let Some((dir, asi)) = config.supply_chain.ads_txt() {
        match exchange::serving::snapshots::read_ads_txt(&dir, &asi) {
            Ok(table) => println!("  ads.txt {}: {} files", dir.display(), table.len()),
            Err(errors) => {
                for error in &errors {
                    eprintln!("{error}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let ivt = config.ivt.detector().map_err(|e| anyhow::anyhow!(e))?;
    println!(
        "  ivt: {} data-center ranges; crawler {:?}, datacenter {:?}, device_mismatch {:?}",
        ivt.datacenter_ranges(),
        config.ivt.crawler,
        config.ivt.datacenter,
        config.ivt.device_mismatch
    );
    if let Some(path) = &config.publishers {
        match exchange::serving::snapshots::read_publishers(path) {
            Ok(registry) => println!(
                "  publishers {}: {} registered",
                path.display(),
                registry.len()
            ),
            Err(errors) => {
                for error in &errors {
                    eprintln!("{error}");
                }
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    let file = config.store.path.display();
    let no_file = config.store.path.as_os_str().is_empty();
    if config.store.redis_url.is_empty() {
        if no_file {
            println!("  store: in process (one node), memory only: forgotten on restart");
        } else {
            println!("  store: in process (one node), durable in {file}");
        }
    } else {
        println!(
            "  store: redis{} {} (key prefix {}), {}",
            if config.store.cluster { " cluster" } else { "" },
            config.store.redis_url,
            config.store.key_prefix,
            if no_file {
                "no journal: notices wait while Redis is down".to_owned()
            } else {
                format!("journal {file}")
            }
        );
    }
    if config.notices.keys.is_empty() {
        println!("  notice keys: none configured (a key kept in the store file, or a random one per process without a file; set [[notices.keys]] or EXCHANGE_NOTICE_KEYS for several nodes)");
    } else {
        let ids: Vec<&str> = config.notices.keys.iter().map(|k| k.id.as_str()).collect();
        println!(
            "  notice keys: {} (signs with {}); URLs valid {} s",
            ids.join(", "),
            ids[0],
            config.notices.ttl_secs
        );
    }
    for bidder in &config.bidders {
        println!(
            "  bidder {}: {} (timeout {} ms, max qps {}, adjustment {}, {}{}{})",
            bidder.name,
            bidder.endpoint,
            bidder.timeout_ms,
            if bidder.max_qps == 0 {
                "unlimited".to_owned()
            } else {
                bidder.max_qps.to_string()
            },
            bidder.bid_adjustment,
            bidder.currency,
            if bidder.gzip { ", gzip" } else { "" },
            if bidder.test { ", test mode" } else { "" },
        );
    }
    match exchange::serving::snapshots::read_campaigns(&config.campaigns) {
        Ok(campaigns) => {
            let creatives: usize = campaigns.iter().map(|c| c.creatives.len()).sum();
            let mut models = BTreeMap::new();
            let mut verticals = BTreeMap::new();
            for c in &campaigns {
                *models.entry(c.pricing.model()).or_insert(0) += 1;
                *verticals
                    .entry(c.vertical.clone().unwrap_or_else(|| "-".into()))
                    .or_insert(0) += 1;
            }
            println!(
                "campaigns {}: {} campaigns, {} creatives",
                config.campaigns.display(),
                campaigns.len(),
                creatives
            );
            println!("  pricing: {}", join(&models));
            println!("  verticals: {}", join(&verticals));
            let paused = campaigns.iter().filter(|c| !c.active).count();
            let cps_top = campaigns
                .iter()
                .filter_map(|c| match c.pricing {
                    Pricing::Cps {
                        commission_rate, ..
                    } => Some(commission_rate),
                    _ => None,
                })
                .fold(0.0f64, f64::max);
            println!(
                "  paused: {paused}; highest CPS commission: {:.0}%",
                cps_top * 100.0
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(errors) => {
            for error in &errors {
                println!("error: {error}");
            }
            println!(
                "{} error(s) in {}",
                errors.len(),
                config.campaigns.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}

fn train_ltv(args: &TrainLtvArgs) -> anyhow::Result<ExitCode> {
    use exchange::ltv::orders::parse_date;
    let day = |text: &str, flag: &str| {
        parse_date(text).ok_or_else(|| anyhow::anyhow!("{flag}: {text:?} is not YYYY-MM-DD"))
    };
    let calibration_end = day(&args.calibration_end, "--calibration-end")?;
    let holdout_end = args
        .holdout_end
        .as_deref()
        .map(|text| day(text, "--holdout-end"))
        .transpose()?;
    let text = std::fs::read_to_string(&args.orders)
        .with_context(|| format!("cannot read {}", args.orders.display()))?;
    let (model, report) = exchange::ltv::train::train(&text, calibration_end, holdout_end)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.orders.display()))?;
    let json = serde_json::to_string_pretty(&model).context("model JSON")?;
    std::fs::write(&args.out, json + "\n")
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let b = &model.bgnbd;
    let g = &model.gamma_gamma;
    println!(
        "{} customers, calibration to {}\nBG/NBD r {:.4} alpha {:.4} a {:.4} b {:.4} (log-likelihood {:.2})\nGamma-Gamma p {:.4} q {:.4} gamma {:.4} (log-likelihood {:.2})",
        model.customers, model.calibration_end, b.r, b.alpha, b.a, b.b, model.log_likelihood.bgnbd,
        g.p, g.q, g.gamma, model.log_likelihood.gamma_gamma
    );
    if let Some(report) = report {
        print!("{report}");
    }
    println!("model written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn import_orders(args: &ImportOrdersArgs) -> anyhow::Result<ExitCode> {
    use exchange::affiliate::import::{import, Credential};
    let credential = match (&args.key, &args.token) {
        (Some(key), _) => Credential::Key(key.clone()),
        (None, Some(token)) => Credential::Token(token.clone()),
        (None, None) => anyhow::bail!("give --token or --key (or their environment variables)"),
    };
    let text =
        std::fs::read_to_string(&args.file).with_context(|| format!("{}", args.file.display()))?;
    let csv = args
        .file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let summary = runtime.block_on(import(&args.url, &args.advertiser, &credential, &text, csv))?;
    for (line, status, field, message) in &summary.refused {
        eprintln!("line {line}: {status} {field}: {message}");
    }
    println!(
        "{} orders applied, {} refused",
        summary.applied,
        summary.refused.len()
    );
    Ok(if summary.refused.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn settle(args: &SettleArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?;
    let path = format!("/admin/settle?period={}", args.period);
    let (status, body) = runtime.block_on(exchange::affiliate::ledger_cli::admin_call(
        &args.url,
        args.admin_token.as_deref(),
        http::Method::POST,
        &path,
    ))?;
    println!("{}", String::from_utf8_lossy(&body));
    Ok(if status.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn ledger(command: &LedgerCommand) -> anyhow::Result<ExitCode> {
    use exchange::affiliate::ledger_cli;
    match command {
        LedgerCommand::Verify { file, key } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(file).with_context(|| format!("{}", file.display()))?
            };
            match exchange_core::ledger::verify_export(&text, key.as_deref()) {
                Ok(v) => {
                    println!(
                        "ok: {} entries from {}, {} checkpoints, {} statements, {} entries after the last checkpoint, head {}",
                        v.entries, v.first_seq, v.checkpoints, v.statements, v.unsigned_tail, v.head
                    );
                    if key.is_none() {
                        println!(
                            "  signed by {} (trusted as found: pass --key to check it is the exchange's)",
                            v.key.unwrap_or_default()
                        );
                    }
                    Ok(ExitCode::SUCCESS)
                }
                Err(problem) => {
                    println!("bad: {problem}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        LedgerCommand::Export {
            out,
            url,
            admin_token,
        } => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .context("tokio runtime")?;
            let text = runtime.block_on(ledger_cli::export(url, admin_token.as_deref()))?;
            std::fs::write(out, &text).with_context(|| format!("{}", out.display()))?;
            println!(
                "{} entries written to {}",
                text.lines().count(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        LedgerCommand::CheckLine {
            statement,
            index,
            key,
        } => {
            let text = std::fs::read_to_string(statement)
                .with_context(|| format!("{}", statement.display()))?;
            let statement: serde_json::Value = serde_json::from_str(&text)?;
            match ledger_cli::check_line(&statement, *index, key.as_deref()) {
                Ok(line) => {
                    println!("ok: line {index} is in the signed statement: {line}");
                    Ok(ExitCode::SUCCESS)
                }
                Err(problem) => {
                    println!("bad: {problem}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}

fn generate_orders(args: &GenerateOrdersArgs) -> anyhow::Result<ExitCode> {
    use exchange::ltv::synthetic::{generate, Population};
    let start = exchange::ltv::orders::parse_date(&args.start)
        .ok_or_else(|| anyhow::anyhow!("--start: {:?} is not YYYY-MM-DD", args.start))?;
    let population = Population {
        customers: args.customers,
        ..Population::ecommerce(start, args.seed)
    };
    let csv = generate(&population).map_err(|e| anyhow::anyhow!("{e}"))?;
    std::fs::write(&args.out, &csv)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    let last = start + time::Duration::days(population.days - 1);
    println!(
        "{} orders of {} customers from {start} to {last} written to {}\ntry: exchange train-ltv --orders {} --calibration-end {} --holdout-end {last} --out model.json",
        csv.lines().count() - 1,
        population.customers,
        args.out.display(),
        args.out.display(),
        start + time::Duration::days(population.days / 2 - 1),
    );
    Ok(ExitCode::SUCCESS)
}

fn join<K: std::fmt::Display>(counts: &BTreeMap<K, usize>) -> String {
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn serve(
    config_path: &std::path::Path,
    listen: SocketAddr,
    redis: Option<&str>,
    print_memory: bool,
) -> anyhow::Result<ExitCode> {
    let mut memory = exchange::memory::StartupMemory::begin();
    let config = load_config(config_path, redis)?;
    memory.stage("config", config_path.display().to_string());
    exchange::context::tokenize::tokenizer();
    memory.stage(
        "segmenter",
        format!(
            "jieba dictionary, {} words in a {:.1} MB transducer read in place",
            exchange::context::segment::DICTIONARY_WORDS,
            exchange::context::segment::dictionary_bytes() as f64 / 1e6
        ),
    );
    let sidecars = exchange::serving::snapshots::Sidecars {
        lexicon: config.context.lexicon.clone(),
        publishers: config.publishers.clone(),
        semantic: config.context.semantic.clone(),
        ads_txt: config.supply_chain.ads_txt(),
    };
    let store = on_loading_thread(|| SnapshotStore::open_with(&config.campaigns, sidecars))
        .map_err(|error| anyhow::anyhow!("{error}"))?;
    memory.stage("campaign snapshot", store.describe());
    let runtime = exchange::receive::runtime::build().context("tokio runtime")?;
    memory.stage("runtime", exchange::receive::runtime::describe());
    let served = runtime.block_on(async move {
        let shared = SharedStore::open(&config.store)
            .await
            .with_context(|| format!("cannot use the store at {}", config.store.redis_url))?;
        tracing::info!(store = shared.kind(), "shared store ready");
        memory.stage("shared store", shared.kind().to_owned());
        let models = match &config.ltv.model {
            Some(path) => exchange::serving::model_file::ModelStore::open(path).map_err(|e| anyhow::anyhow!("LTV model: {e}"))?,
            None => exchange::serving::model_file::ModelStore::none(),
        };
        memory.stage("LTV models", format!("model files: {}", models.loaded_sources().files.len()));
        let enricher = exchange::enrich::Enricher::open(&config.enrichment)
            .map_err(|e| anyhow::anyhow!("enrichment.geo_database: {e}"))?;
        if let Some(database) = enricher.geo() {
            let (kind, built) = database.describe();
            tracing::info!(kind, built, "IP geolocation database loaded");
        }
        memory.stage("geolocation", config.enrichment.geo_database.display().to_string());
        let ivt = on_loading_thread(|| config.ivt.detector()).map_err(|e| anyhow::anyhow!(e))?;
        memory.stage("invalid-traffic checks", ivt.describe());
        let affiliate = exchange::affiliate::Affiliate::open(&config)
            .await
            .map_err(|e| anyhow::anyhow!("affiliate.database: {e}"))?;
        if let Some(database) = &affiliate.database {
            tracing::info!(kind = database.kind(), "affiliate database ready");
        }
        memory.stage("affiliate database", affiliate.database.as_ref().map_or("none".to_owned(), |d| d.kind().to_owned()));
        let state = AppState::new(config, store)
            .with_enricher(enricher)
            .with_ivt(ivt)
            .with_shared_store(shared)
            .with_affiliate(affiliate)
            .with_stored_notice_key()
            .with_ltv_models(models);
        memory.stage("state", "metrics, pacers, queues, learned rates".to_owned());
        if print_memory {
            print!("{memory}");
            return Ok(ExitCode::SUCCESS);
        }
        let state = Arc::new(state.with_startup_memory(memory));
        let keys = state.notice_keys.ids();
        if state.notice_keys.is_ephemeral() {
            tracing::warn!("no notice keys configured (and no embedded store file to keep one in): signing with a random per-process key (notices issued before a restart or by another node are refused); set [[notices.keys]] or EXCHANGE_NOTICE_KEYS");
        } else if keys == [exchange::notice::STORED_KEY_ID] {
            tracing::info!("no notice keys configured: signing with the key kept in the store file (one node; set [[notices.keys]] or EXCHANGE_NOTICE_KEYS for several)");
        } else {
            tracing::info!(?keys, "notice keys loaded");
        }
        let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        let local = listener.local_addr().context("local address")?;
        let admin = match state.config.admin.listen_addr().map_err(anyhow::Error::msg)? {
            Some(addr) => {
                let admin = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (admin.listen)"))?;
                let local = admin.local_addr().context("local address")?;
                tracing::info!(admin_listen = %local, "metrics and admin API on their own listener");
                Some(admin)
            }
            None => None,
        };
        let snapshot = state.snapshots.load_full();
        tracing::info!(listen = %local, campaigns = snapshot.len(), version = snapshot.version, "exchange listening");
        drop(snapshot);
        exchange::run_with_admin(listener, admin, state, shutdown_signal()).await.context("server")?;
        tracing::info!("exchange stopped");
        Ok(ExitCode::SUCCESS)
    });
    // Whatever task is still running (a connection, a blocked store call) gets this long,
    // then the process ends anyway: shutdown is bounded.
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN_TIMEOUT);
    served
}

/// Runs start-up `load` on a thread of its own that ends with it. What loading allocates
/// and frees (file bytes, parse trees, growing tables) stays with that thread's allocator
/// heap, which mimalloc hands back when the thread ends, instead of staying resident in
/// the main thread's heap: 3–5 MiB less resident once serving (`loadtest cost`, idle).
fn on_loading_thread<T: Send>(load: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(load).join() {
        Ok(loaded) => loaded,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// Log filter when `RUST_LOG` is unset. The Redis client's own reconnect warnings repeat
/// hundreds of times a second while a node is down; the exchange counts store failures in
/// its metrics (`exchange_store_write_batches_total`, `exchange_budget_leases_total`) and
/// logs them itself, with backoff.
const DEFAULT_LOG_FILTER: &str = "info,redis=error";

/// Longest wait, after serving ended, for the runtime's remaining tasks.
const RUNTIME_SHUTDOWN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Completes on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
    tracing::info!("shutdown requested; draining");
}
