//! Contextual understanding: what a page is about, and how relevant each campaign is to
//! it, without knowing anything about the person reading it.
//!
//! - [`tokenize`]: Chinese (jieba-rs) and English (stop words, Snowball stemming) text →
//!   terms, bounded.
//! - [`lexicon`]: synonyms, "need → product" links and category-taxonomy maps, loaded from
//!   `configs/` with the campaign snapshot.
//! - [`category`]: IAB 1.0 categories and their exact / parent / sibling match.
//! - [`index`]: per campaign, its keyword document as normalised BM25 weights (built with
//!   the snapshot), its ad categories and brand-safety phrases.
//! - [`interests`]: the user's declared interests and membership (with consent).
//! - [`page`]: per request, the page's weighted terms, expansions and categories.
//!
//! - [`semantic`]: related words from a resource (embedding neighbours), beyond the
//!   hand lexicon; each snapshot keeps the relations that reach its vocabulary.
//! - [`user_words`]: the snapshot's keywords and phrases, which segmentation keeps whole.
//!
//! [`Relevance`] of a campaign to a page = `1 − exp(−2 × (keyword + category_weight ×
//! category))`: strictly increasing in the evidence and never saturating, so two strongly
//! relevant campaigns still rank by how relevant they are. It lifts pCTR by
//! `1 + relevance_lift × relevance` and gives the quality weight `signals` ranks by.

pub mod category;
pub mod index;
pub mod interests;
pub mod lexicon;
pub mod page;
pub mod segment;
pub mod semantic;
pub mod tokenize;
pub mod user_words;

use crate::campaign::Campaign;
use category::best_match;
use index::ContextIndex;
use page::{PageContext, PageTerms};
use serde::Serialize;

/// Evidence → relevance scale: one of a campaign's specific keywords in page text
/// (≈ 0.25 of evidence) reads as relevance ≈ 0.4, its three strongest as ≈ 0.7.
const EVIDENCE_SCALE: f32 = 2.0;

/// Cosine below which page and campaign vectors say nothing (unrelated words of one
/// language are this similar).
const SEMANTIC_FLOOR: f32 = 0.5;
/// Evidence of a page whose vector equals the campaign's (one specific keyword on the
/// page is ~0.15–0.3): small, since vectors tell a page's topic better than its product.
const SEMANTIC_WEIGHT: f32 = 0.3;

/// A campaign's relevance to a page and its parts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Relevance {
    /// Keyword match: Σ page-term weight × the campaign's BM25 weight (normalised across
    /// the snapshot: about 1 for a typical campaign's three strongest terms), ≥ 0.
    pub keyword: f32,
    /// Best category match (exact 1, parent/child 0.6, sibling 0.3).
    pub category: f32,
    /// Cosine of the page's and the campaign's mean word vectors (0 without a semantic
    /// resource); above `SEMANTIC_FLOOR` it adds evidence.
    pub semantic: f32,
    /// The combination the auction uses.
    pub total: f32,
}

/// Σ query weight × document weight over the terms both hold (both sorted by term): a
/// merge, nothing allocated.
pub fn match_score(query: &[(index::TermId, f32)], document: &[(index::TermId, f32)]) -> f32 {
    let (mut i, mut j, mut score) = (0, 0, 0.0f32);
    while i < query.len() && j < document.len() {
        match query[i].0.cmp(&document[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                score += query[i].1 * document[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    score
}

/// The request's page, ready to score campaigns against.
#[derive(Debug, Default, Clone)]
pub struct RequestContext {
    /// What the page says.
    pub page: PageContext,
    /// The page in the snapshot's vocabulary.
    pub terms: PageTerms,
}

impl RequestContext {
    /// Reads the page of `request` against `index`.
    pub fn new(
        request: &bidder_sdk::openrtb::BidRequest,
        index: &ContextIndex,
        max_terms: usize,
    ) -> Self {
        let page = PageContext::extract(request, index, max_terms);
        let terms = PageTerms::new(&page, index);
        Self { page, terms }
    }

    /// True when the page gave nothing to match (every campaign is equally relevant).
    pub fn is_empty(&self) -> bool {
        self.page.is_empty()
    }

    /// Relevance of campaign `id`.
    pub fn relevance(&self, index: &ContextIndex, id: usize, category_weight: f32) -> Relevance {
        let keyword = match_score(&self.terms.query, index.document(id));
        let category = best_match(&self.page.categories, index.ad_categories(id));
        let semantic = self
            .terms
            .vector
            .as_deref()
            .map_or(0.0, |page| semantic::cosine(page, index.vector(id)));
        let meaning =
            SEMANTIC_WEIGHT * ((semantic - SEMANTIC_FLOOR) / (1.0 - SEMANTIC_FLOOR)).max(0.0);
        let evidence = EVIDENCE_SCALE * (keyword + category_weight * category + meaning);
        let total = 1.0 - (-evidence).exp();
        Relevance {
            keyword,
            category,
            semantic,
            total: if total.is_finite() {
                total.clamp(0.0, 1.0)
            } else {
                0.0
            },
        }
    }

    /// Whether the page trips one of campaign `id`'s brand-safety exclusions.
    pub fn unsafe_for(&self, index: &ContextIndex, id: usize, campaign: &Campaign) -> bool {
        let rules = &campaign.context;
        let category_hit = rules
            .exclude_categories
            .iter()
            .any(|ex| self.page.categories.iter().any(|c| c.within(*ex)));
        category_hit
            || index.exclusions(id).iter().any(|phrase| {
                phrase
                    .iter()
                    .all(|t| self.terms.direct.binary_search(t).is_ok())
            })
    }
}
