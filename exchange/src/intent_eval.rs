//! The intent evaluation: labelled pages (`tests/data/intent/cases.tsv`) run through the
//! real contextual auction on a snapshot, and how often the winner is the right product.
//!
//! Each case's text is the page text of a one-banner request (`site.ext.context.text`,
//! no other page signal, no user); the auction is [`decide`] with the live
//! [`AuctionSignals`]. The answer is the winner when its relevance reaches
//! `relevant_at`, else "nothing relevant". Precision@1 is the share of product cases whose
//! answer is one of their expected campaigns; the none rate is the share of `none` cases
//! answered "nothing relevant". `exchange intent-eval` prints the report.

use crate::config::AuctionConfig;
use crate::decision::decide;
use crate::index::Snapshot;
use crate::signals::{AuctionSignals, UserInputs};
use bidder_sdk::openrtb::BidRequest;
use serde::Serialize;
use std::fmt::Write as _;

/// The instant every evaluation runs at (2026-06-01 12:00 UTC), so figures do not change
/// with the hour (pacing and tie-breaks read the clock).
pub const EVAL_NOW: i64 = 1_780_315_200;

/// Most cases read from one file.
pub const MAX_CASES: usize = 10_000;

/// Which part of the set a case belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    /// Looked at while tuning.
    Tune,
    /// Held out: reported, never tuned on.
    Held,
}

/// The script of a case's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Script {
    /// Han characters only (besides digits and punctuation).
    Zh,
    /// No Han characters.
    En,
    /// Both.
    Mixed,
}

/// One labelled page.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// 1-based line in its file.
    pub line: usize,
    /// Its split.
    pub split: Split,
    /// Campaign id prefixes that are right answers; empty: nothing is relevant.
    pub expected: Vec<String>,
    /// The page text.
    pub text: String,
}

impl Case {
    /// The script of the text.
    pub fn script(&self) -> Script {
        let han = self.text.chars().any(crate::context::tokenize::is_han);
        let latin = self.text.chars().any(|c| c.is_ascii_alphabetic());
        match (han, latin) {
            (true, true) => Script::Mixed,
            (true, false) => Script::Zh,
            _ => Script::En,
        }
    }

    /// Whether `campaign_id` is one of the right answers.
    pub fn accepts(&self, campaign_id: &str) -> bool {
        self.expected.iter().any(|prefix| {
            campaign_id == prefix
                || campaign_id
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with('-'))
        })
    }
}

/// Parses a case file: `split<TAB>expected<TAB>text` per line, `#` comments and blank
/// lines skipped; every bad line is named.
pub fn parse_cases(text: &str) -> Result<Vec<Case>, Vec<String>> {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut columns = raw.splitn(3, '\t');
        let (Some(split), Some(expected), Some(page)) =
            (columns.next(), columns.next(), columns.next())
        else {
            errors.push(format!("line {line}: expected split<TAB>expected<TAB>text"));
            continue;
        };
        let split = match split.trim() {
            "tune" => Split::Tune,
            "held" => Split::Held,
            other => {
                errors.push(format!("line {line}: split `{other}` is not tune or held"));
                continue;
            }
        };
        let expected: Vec<String> = match expected.trim() {
            "none" => Vec::new(),
            list => list.split(',').map(|s| s.trim().to_owned()).collect(),
        };
        if expected.iter().any(String::is_empty) || page.trim().is_empty() {
            errors.push(format!("line {line}: empty expected id or text"));
            continue;
        }
        if cases.len() == MAX_CASES {
            errors.push(format!("line {line}: more than {MAX_CASES} cases"));
            break;
        }
        cases.push(Case {
            line,
            split,
            expected,
            text: page.trim().to_owned(),
        });
    }
    if errors.is_empty() {
        Ok(cases)
    } else {
        Err(errors)
    }
}

/// What the auction answered for one case.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    /// The case's line.
    pub line: usize,
    /// The winner, when relevant enough (none: "nothing relevant").
    pub answer: Option<String>,
    /// Whether that was right.
    pub correct: bool,
    /// Whether the most relevant campaign (ignoring price) would have been right: what
    /// the page reading alone gets.
    pub understood: bool,
    /// The winner's eCPM (0 without a winner): what the auction earns.
    pub ecpm: f64,
    /// Why, for a miss: the winner's and the best expected campaign's relevance and
    /// eCPM, and what the page read as.
    pub reason: String,
}

/// The figures of one evaluation.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tally {
    /// Product cases.
    pub products: usize,
    /// Of them, answered with a right campaign.
    pub hits: usize,
    /// `none` cases.
    pub nones: usize,
    /// Of them, answered "nothing relevant".
    pub none_hits: usize,
    /// Product cases whose most relevant campaign is a right one (reading alone).
    pub understood: usize,
    /// Cases won by a campaign whose id starts with `generic-` (the decoys).
    pub generic_wins: usize,
    /// Σ winner eCPM over all cases.
    pub ecpm_sum: f64,
    /// Cases.
    pub cases: usize,
}

impl Tally {
    /// Precision@1 over product cases.
    pub fn precision(&self) -> f64 {
        ratio(self.hits, self.products)
    }

    /// Share of `none` cases answered "nothing relevant".
    pub fn none_rate(&self) -> f64 {
        ratio(self.none_hits, self.nones)
    }

    /// Share of product cases whose most relevant campaign is right.
    pub fn understanding(&self) -> f64 {
        ratio(self.understood, self.products)
    }

    /// Mean winner eCPM per case (the revenue side of the trade-off).
    pub fn mean_ecpm(&self) -> f64 {
        if self.cases == 0 {
            0.0
        } else {
            self.ecpm_sum / self.cases as f64
        }
    }

    fn add(&mut self, case: &Case, answer: &Answer) {
        if case.expected.is_empty() {
            self.nones += 1;
            self.none_hits += usize::from(answer.correct);
        } else {
            self.products += 1;
            self.hits += usize::from(answer.correct);
            self.understood += usize::from(answer.understood);
        }
        self.cases += 1;
        self.ecpm_sum += answer.ecpm;
        // A decoy counts only when it won as a relevant answer (a page nothing is relevant
        // to goes to the highest price, decoy or not, and is answered "nothing relevant").
        if answer
            .answer
            .as_deref()
            .is_some_and(|id| id.starts_with("generic-"))
        {
            self.generic_wins += 1;
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

/// Removes from `campaigns` every targeting rule that is not about the page's meaning
/// (geography, device, OS, site lists, day parts, flights, frequency caps, page-keyword
/// and page-category filters, budgets), so every campaign could serve every case and the
/// evaluation measures understanding and ranking; keywords, categories, prices, base
/// rates, minimum relevance and brand-safety rules stay.
pub fn keep_context_only(campaigns: &mut [crate::campaign::Campaign]) {
    for campaign in campaigns {
        campaign.active = true;
        campaign.daily_budget_micros = None;
        campaign.total_budget_micros = None;
        campaign.frequency_cap = None;
        campaign.flight = None;
        campaign.countries.clear();
        campaign.regions.clear();
        campaign.device_classes.clear();
        campaign.os.clear();
        campaign.sites = Default::default();
        campaign.apps = Default::default();
        campaign.publishers = Default::default();
        campaign.page_categories.clear();
        campaign.targeting_keywords.clear();
        campaign.languages.clear();
        campaign.daypart_hours = None;
    }
}

/// The configured campaigns (plus those of `decoys`) and lexicon as one snapshot, with
/// [`keep_context_only`] applied; the error names every bad file and field.
pub fn catalogue(
    config: &crate::config::ExchangeConfig,
    decoys: Option<&std::path::Path>,
) -> Result<Snapshot, String> {
    use crate::serving::snapshots::{read_campaigns, read_lexicon, read_semantic};
    let named = |errors: Vec<crate::campaign::CampaignError>| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        lines.join("\n")
    };
    let mut campaigns = read_campaigns(&config.campaigns).map_err(named)?;
    if let Some(path) = decoys {
        campaigns.extend(read_campaigns(path).map_err(named)?);
    }
    let mut lexicon: crate::context::lexicon::Lexicon = match &config.context.lexicon {
        Some(path) => read_lexicon(path).map_err(named)?,
        None => Default::default(),
    };
    if let Some(path) = &config.context.semantic {
        lexicon.semantic = Some(std::sync::Arc::new(read_semantic(path).map_err(named)?));
    }
    keep_context_only(&mut campaigns);
    Ok(crate::index::build_with(
        campaigns,
        lexicon,
        1,
        "intent-eval".into(),
    ))
}

/// Evaluates `cases` on `snapshot`: one auction each.
pub fn evaluate(
    cases: &[Case],
    snapshot: &Snapshot,
    config: &AuctionConfig,
    relevant_at: f32,
    now_unix: i64,
) -> Vec<Answer> {
    cases
        .iter()
        .map(|case| answer(case, snapshot, config, relevant_at, now_unix))
        .collect()
}

/// The tallies of `answers` to `cases` for the cases `keep` selects.
pub fn tally(cases: &[Case], answers: &[Answer], keep: impl Fn(&Case) -> bool) -> Tally {
    let mut tally = Tally::default();
    for (case, answer) in cases.iter().zip(answers) {
        if keep(case) {
            tally.add(case, answer);
        }
    }
    tally
}

/// The request a case is read as: one 300×250 banner on a Chinese site page whose text is
/// the case's.
pub fn case_request(text: &str) -> BidRequest {
    let json = serde_json::json!({
        "id": "intent-eval",
        "imp": [{"id": "1", "banner": {"w": 300, "h": 250}}],
        "site": {
            "id": "eval", "domain": "eval.example", "page": "https://eval.example/",
            "ext": {"context": {"text": text}}
        },
        "device": {"geo": {"country": "CHN"}, "ua": "Mozilla/5.0", "ip": "203.0.113.9"}
    });
    serde_json::from_value(json).expect("the eval request is a valid BidRequest")
}

fn answer(
    case: &Case,
    snapshot: &Snapshot,
    config: &AuctionConfig,
    relevant_at: f32,
    now_unix: i64,
) -> Answer {
    let request = case_request(&case.text);
    let signals = AuctionSignals::new(&request, snapshot, config, UserInputs::default());
    let decision = decide(&request, snapshot, config, &signals, now_unix);
    let winner = decision
        .clearings
        .first()
        .copied()
        .flatten()
        .and_then(|c| c.winner.source.campaign())
        .map(|id| id as usize);
    let relevance_of = |id: usize| {
        signals
            .report(id, &snapshot.campaigns[id])
            .relevance
            .unwrap_or_default()
    };
    let answer = winner
        .filter(|&id| relevance_of(id).total >= relevant_at)
        .map(|id| snapshot.campaigns[id].id.clone());
    let correct = match &answer {
        None => case.expected.is_empty(),
        Some(id) => case.accepts(id),
    };
    let most_relevant = (0..snapshot.campaigns.len())
        .map(|id| (id, relevance_of(id).total))
        .filter(|(_, total)| *total >= relevant_at)
        .max_by(|a, b| a.1.total_cmp(&b.1));
    let understood = most_relevant.is_some_and(|(id, _)| case.accepts(&snapshot.campaigns[id].id));
    let ecpm = decision
        .clearings
        .first()
        .copied()
        .flatten()
        .map_or(0.0, |c| c.winner.ecpm);
    let mut reason = String::new();
    if !correct {
        let ecpm_of = |id: usize| {
            decision.auctions[0]
                .candidates
                .iter()
                .find(|c| c.source.campaign() == Some(id as u32))
                .map(|c| c.ecpm)
        };
        let describe = |id: usize, reason: &mut String| {
            let r = relevance_of(id);
            let ecpm = ecpm_of(id).map_or("not scored".to_owned(), |e| format!("{e:.3}"));
            let _ = write!(
                reason,
                "{} (relevance {:.2}: keyword {:.2}, category {:.2}, semantic {:.2}; eCPM {ecpm})",
                snapshot.campaigns[id].id, r.total, r.keyword, r.category, r.semantic
            );
        };
        match winner {
            Some(id) => {
                reason.push_str("won: ");
                describe(id, &mut reason);
            }
            None => reason.push_str("no winner"),
        }
        let expected = (0..snapshot.campaigns.len())
            .filter(|&id| case.accepts(&snapshot.campaigns[id].id))
            .max_by(|&a, &b| relevance_of(a).total.total_cmp(&relevance_of(b).total));
        if let Some(id) = expected {
            reason.push_str("; expected ");
            describe(id, &mut reason);
        }
        let page = &signals.context().page;
        let _ = write!(
            reason,
            "; page terms [{}] expansions [{}]",
            first_terms(&page.terms, 16),
            first_terms(&page.expansions, 8)
        );
    }
    Answer {
        line: case.line,
        answer,
        correct,
        understood,
        ecpm,
        reason,
    }
}

/// The first `n` of weighted `terms`, space-separated.
fn first_terms(terms: &[(String, f32)], n: usize) -> String {
    let words: Vec<&str> = terms.iter().take(n).map(|(t, _)| t.as_str()).collect();
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_files_parse_and_bad_lines_are_named() {
        let cases = parse_cases("# c\n\ntune\tc001,c002\t宝宝 diapers\nheld\tnone\tnothing\n")
            .expect("valid");
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].line, 3);
        assert_eq!(cases[0].script(), Script::Mixed);
        assert!(cases[0].accepts("c002-baby-oakling"));
        assert!(!cases[0].accepts("c0021-other"));
        assert!(cases[1].expected.is_empty());
        assert_eq!(cases[1].script(), Script::En);
        let errors = parse_cases("tune\tc1\nodd\tc1\ttext\n").expect_err("bad");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors[1].contains("line 2"), "{errors:?}");
    }
}
