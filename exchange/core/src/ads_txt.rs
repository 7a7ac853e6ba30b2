//! ads.txt and app-ads.txt (IAB Tech Lab 1.1): which advertising systems a site or app
//! owner authorises to sell its inventory, under which account ids.
//!
//! The exchange never crawls: the operator's own fetcher drops the files in a folder
//! (`[supply_chain] ads_txt_dir`, `<domain>.ads.txt` and `<domain>.app-ads.txt`), read
//! with every reload into a [`Table`] of the lines naming the exchange (`asi`), so a
//! request's check is one or two hash lookups. `exchange ads-txt` checks given files
//! against the publisher registry with [`check`].

use crate::publishers::{Registry, SellerType};
use crate::url_host::site_host;
use bidder_sdk::openrtb::BidRequest;
use std::collections::{HashMap, HashSet};

/// Largest file read.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;
/// Longest line read (longer lines are a problem, skipped).
pub const MAX_LINE_BYTES: usize = 2048;
/// Most parent domains tried when looking up a site's file (`m.news.example` →
/// `news.example`).
const MAX_PARENT_STEPS: usize = 4;

/// An account's relationship to the advertising system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relationship {
    /// The owner's own account.
    Direct,
    /// A reseller's account.
    Reseller,
}

/// One data record: `domain, account, relationship[, certification authority id]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Line number (1-based).
    pub line: usize,
    /// The advertising system's domain, lower case.
    pub system: String,
    /// The seller's account id in that system.
    pub account: String,
    /// DIRECT or RESELLER.
    pub relationship: Relationship,
    /// The certification authority's id, if given.
    pub authority: Option<String>,
}

/// Why a line is not a record or a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineProblem {
    /// Longer than [`MAX_LINE_BYTES`].
    TooLong,
    /// Fewer than three comma-separated fields.
    Fields,
    /// The first field is not a domain.
    System,
    /// The account id is empty or holds spaces.
    Account,
    /// The third field is neither DIRECT nor RESELLER.
    Relationship,
}

impl LineProblem {
    /// What is wrong, in words.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLong => "line longer than 2048 bytes",
            Self::Fields => "fewer than 3 fields (domain, account id, DIRECT|RESELLER)",
            Self::System => "the first field is not an advertising system's domain",
            Self::Account => "the account id is empty or holds a space",
            Self::Relationship => "the relationship is neither DIRECT nor RESELLER",
        }
    }
}

/// A parsed file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Data records.
    pub records: Vec<Record>,
    /// Variables (`contact=`, `subdomain=`, `ownerdomain=`, …): (line, lower-case name, value).
    pub variables: Vec<(usize, String, String)>,
    /// Lines that are neither: (line, why).
    pub problems: Vec<(usize, LineProblem)>,
}

/// Parses ads.txt or app-ads.txt text (comments after `#`, extension fields after `;`,
/// blank lines and a byte-order mark ignored).
pub fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        if raw.len() > MAX_LINE_BYTES {
            parsed.problems.push((line, LineProblem::TooLong));
            continue;
        }
        let content = raw.split('#').next().unwrap_or("");
        let content = content.split(';').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        if !content.contains(',') {
            if let Some((name, value)) = content.split_once('=') {
                parsed.variables.push((
                    line,
                    name.trim().to_ascii_lowercase(),
                    value.trim().to_owned(),
                ));
                continue;
            }
        }
        match record(line, content) {
            Ok(record) => parsed.records.push(record),
            Err(problem) => parsed.problems.push((line, problem)),
        }
    }
    parsed
}

fn record(line: usize, content: &str) -> Result<Record, LineProblem> {
    let fields: Vec<&str> = content.split(',').map(str::trim).collect();
    if fields.len() < 3 {
        return Err(LineProblem::Fields);
    }
    let system = fields[0].trim_end_matches('.').to_ascii_lowercase();
    if !crate::url_host::is_domain(&system) {
        return Err(LineProblem::System);
    }
    let account = fields[1];
    if account.is_empty() || account.contains(char::is_whitespace) || account.len() > 256 {
        return Err(LineProblem::Account);
    }
    let relationship = match fields[2].to_ascii_uppercase().as_str() {
        "DIRECT" => Relationship::Direct,
        "RESELLER" => Relationship::Reseller,
        _ => return Err(LineProblem::Relationship),
    };
    let authority = fields
        .get(3)
        .filter(|a| !a.is_empty())
        .map(|a| (*a).to_owned());
    Ok(Record {
        line,
        system,
        account: account.to_owned(),
        relationship,
        authority,
    })
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// Buyers will treat the traffic as unauthorised.
    Error,
    /// Probably a mistake, not a block.
    Warning,
}

/// One thing the check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The line it is about (0: the whole file).
    pub line: usize,
    /// Error or warning.
    pub severity: Severity,
    /// What, in words.
    pub message: String,
}

/// A file checked against the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The file's domain.
    pub domain: String,
    /// Lines naming the exchange.
    pub lines_for_exchange: usize,
    /// Registered sellers the file authorises on the exchange.
    pub authorised: Vec<String>,
    /// The registered publishers of this domain the file does not authorise.
    pub unauthorised_owners: Vec<String>,
    /// Everything worth saying, in line order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

/// Checks the file of `domain` against `registry`, for the exchange `asi`.
pub fn check(parsed: &Parsed, domain: &str, asi: &str, registry: &Registry) -> Report {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let mut findings: Vec<Finding> = parsed
        .problems
        .iter()
        .map(|(line, problem)| Finding {
            line: *line,
            severity: Severity::Warning,
            message: format!("skipped: {}", problem.as_str()),
        })
        .collect();
    let mut authorised: Vec<String> = Vec::new();
    let mut lines_for_exchange = 0;
    for record in parsed.records.iter().filter(|r| r.system == asi) {
        lines_for_exchange += 1;
        let mut say = |severity, message: String| {
            findings.push(Finding {
                line: record.line,
                severity,
                message,
            })
        };
        let Some(seller) = registry.get(&record.account) else {
            say(
                Severity::Error,
                format!(
                    "{asi} has no seller {:?} (not in its sellers.json)",
                    record.account
                ),
            );
            continue;
        };
        let owns = seller.domains.contains(&domain);
        match (record.relationship, seller.seller_type) {
            (Relationship::Direct, SellerType::Intermediary) => say(
                Severity::Warning,
                format!(
                    "DIRECT, but {} is an INTERMEDIARY in sellers.json",
                    record.account
                ),
            ),
            (Relationship::Direct, _) if !owns => say(
                Severity::Warning,
                format!(
                    "DIRECT, but {domain} is not registered as {}'s own",
                    record.account
                ),
            ),
            (Relationship::Reseller, SellerType::Publisher) => say(
                Severity::Warning,
                format!(
                    "RESELLER, but {} is a PUBLISHER in sellers.json",
                    record.account
                ),
            ),
            _ => {}
        }
        if !authorised.contains(&record.account) {
            authorised.push(record.account.clone());
        }
    }
    let owners: Vec<String> = registry
        .sorted()
        .into_iter()
        .filter(|(_, p)| p.domains.contains(&domain))
        .map(|(id, _)| id.to_owned())
        .collect();
    let unauthorised_owners: Vec<String> = owners
        .into_iter()
        .filter(|id| !authorised.contains(id))
        .collect();
    for owner in &unauthorised_owners {
        findings.push(Finding {
            line: 0,
            severity: Severity::Error,
            message: format!(
                "no line \"{asi}, {owner}, DIRECT\": requests from {domain} by {owner} are unauthorised"
            ),
        });
    }
    findings.sort_by_key(|f| f.line);
    Report {
        domain,
        lines_for_exchange,
        authorised,
        unauthorised_owners,
        findings,
    }
}

/// Which file of a domain: the web's or the apps'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// `ads.txt`, for sites.
    Site,
    /// `app-ads.txt`, for apps (at the developer's domain).
    App,
}

/// What a request's check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The file lists the request's publisher on the exchange.
    Authorised,
    /// There is a file, and it does not.
    Unauthorised,
    /// No file for the domain (nothing to check against).
    NoFile,
}

impl Verdict {
    /// Every verdict, in label order.
    pub const ALL: [Verdict; 3] = [Self::Authorised, Self::Unauthorised, Self::NoFile];

    /// Stable label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorised => "authorised",
            Self::Unauthorised => "unauthorised",
            Self::NoFile => "no_file",
        }
    }
}

/// The request's verdict under `table`: a site by its host's ads.txt, an app by the
/// app-ads.txt of its developer's domain (`app.publisher.domain`, else the registered
/// publisher's business or first domain); `None` when there is nothing to look up.
pub fn request_verdict(
    table: &Table,
    registry: &Registry,
    request: &BidRequest,
) -> Option<Verdict> {
    if table.is_empty() {
        return None;
    }
    let seller = crate::publishers::publisher_id(request);
    if let Some(site) = &request.site {
        let host = site_host(site.domain.as_deref(), site.page.as_deref())?;
        return Some(table.verdict(Kind::Site, &host, seller));
    }
    let app = request.app.as_ref()?;
    let declared = app
        .publisher
        .as_ref()
        .and_then(|p| p.domain.as_deref())
        .map(|d| d.trim_end_matches('.').to_ascii_lowercase());
    let registered = seller.and_then(|id| registry.get(id)).and_then(|p| {
        p.business_domain
            .clone()
            .or_else(|| p.domains.first().cloned())
    });
    let domain = declared.or(registered)?;
    Some(table.verdict(Kind::App, &domain, seller))
}

/// The account ids each domain's file lists for the exchange, read with a reload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Table {
    /// Per [`Kind`] (site, app): domain → the account ids listed for the exchange.
    files: [HashMap<String, HashSet<String>>; 2],
}

impl Table {
    /// Adds the file of `domain` (lower case), keeping only the exchange's lines.
    pub fn insert(&mut self, kind: Kind, domain: &str, parsed: &Parsed, asi: &str) {
        let accounts = parsed
            .records
            .iter()
            .filter(|r| r.system == asi)
            .map(|r| r.account.clone())
            .collect();
        self.files[kind as usize].insert(domain.to_ascii_lowercase(), accounts);
    }

    /// Files held.
    pub fn len(&self) -> usize {
        self.files.iter().map(HashMap::len).sum()
    }

    /// Whether no file is held (no check is made).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the file of `host` (or of its nearest parent domain that has one) lists
    /// `seller` on the exchange.
    pub fn verdict(&self, kind: Kind, host: &str, seller: Option<&str>) -> Verdict {
        let files = &self.files[kind as usize];
        let mut domain = host;
        for _ in 0..=MAX_PARENT_STEPS {
            if let Some(accounts) = files.get(domain) {
                return match seller {
                    Some(seller) if accounts.contains(seller) => Verdict::Authorised,
                    _ => Verdict::Unauthorised,
                };
            }
            match domain.split_once('.') {
                Some((_, parent)) if parent.contains('.') => domain = parent,
                _ => break,
            }
        }
        Verdict::NoFile
    }
}

#[cfg(test)]
mod tests;
