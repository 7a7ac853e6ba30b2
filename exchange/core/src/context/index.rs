//! The contextual side of a snapshot, built with it: each campaign's keyword document
//! as BM25 term weights (normalised per campaign, so relevance is 0..=1 and nothing is
//! computed per request but a merge), its ad categories, its brand-safety phrases, and
//! the lexicon the snapshot was loaded with.
//!
//! BM25 (k1 = 1.2, b = 0.75): `w(t, d) = idf(t) × tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))`
//! with `idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5))`; a document's weights are divided by
//! the sum of its three largest, so a page carrying a campaign's three strongest terms
//! scores it 1.

use super::category::Category;
use super::lexicon::Lexicon;
use super::tokenize::tokenizer;
use crate::campaign::Campaign;
use std::collections::HashMap;

/// Terms read from one campaign's document.
pub const MAX_DOC_TERMS: usize = 256;
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Weight of an explicit campaign keyword against a word of a title or name.
const KEYWORD_TF: f32 = 2.0;

/// A term's id in the snapshot's vocabulary.
pub type TermId = u32;

/// Contextual data of one snapshot.
#[derive(Debug, Default)]
pub struct ContextIndex {
    /// The lexicon loaded with the snapshot.
    pub lexicon: Lexicon,
    vocabulary: HashMap<String, TermId>,
    /// Per dense id: (term, normalised weight), sorted by term.
    documents: Vec<Box<[(TermId, f32)]>>,
    /// Per dense id: the ad's IAB categories.
    ad_categories: Vec<Box<[Category]>>,
    /// Per dense id: brand-safety phrases as term lists.
    exclusions: Vec<Box<[Box<[TermId]>]>>,
    /// Some campaign has a minimum relevance or an exclusion (so pages must be read even
    /// when relevance lifts nothing).
    pub any_rules: bool,
}

impl ContextIndex {
    /// Builds the index of `campaigns` (in dense-id order).
    pub fn build(campaigns: &[Campaign], lexicon: Lexicon) -> Self {
        let tokenizer = tokenizer();
        let mut vocabulary: HashMap<String, TermId> = HashMap::new();
        let mut intern = |term: String| -> TermId {
            let next = vocabulary.len() as TermId;
            *vocabulary.entry(term).or_insert(next)
        };
        let mut raw: Vec<Vec<(TermId, f32)>> = Vec::with_capacity(campaigns.len());
        let mut exclusions = Vec::with_capacity(campaigns.len());
        let mut terms = Vec::new();
        for campaign in campaigns {
            let mut tf: Vec<(TermId, f32)> = Vec::new();
            let mut add = |text: &str, weight: f32, tf: &mut Vec<(TermId, f32)>| {
                terms.clear();
                tokenizer.terms_into(text, &mut terms, MAX_DOC_TERMS);
                for term in terms.drain(..) {
                    let id = intern(term);
                    match tf.iter_mut().find(|(t, _)| *t == id) {
                        Some((_, count)) => *count += weight,
                        None => tf.push((id, weight)),
                    }
                }
            };
            for keyword in &campaign.keywords {
                add(keyword, KEYWORD_TF, &mut tf);
            }
            add(&campaign.name, 1.0, &mut tf);
            if let Some(vertical) = &campaign.vertical {
                add(vertical, 1.0, &mut tf);
            }
            for creative in campaign.creatives.iter().take(4) {
                let optional = [&creative.description, &creative.brand];
                for text in std::iter::once(&creative.title).chain(optional.into_iter().flatten()) {
                    add(text, 0.5, &mut tf);
                }
            }
            tf.truncate(MAX_DOC_TERMS);
            raw.push(tf);
            let phrases: Box<[Box<[TermId]>]> = campaign
                .context
                .exclude_keywords
                .iter()
                .map(|phrase| {
                    let ids: Box<[TermId]> = tokenizer
                        .terms(phrase, 8)
                        .into_iter()
                        .map(&mut intern)
                        .collect();
                    ids
                })
                .filter(|ids| !ids.is_empty())
                .collect();
            exclusions.push(phrases);
        }
        let documents = bm25(&raw, vocabulary.len());
        let ad_categories = campaigns
            .iter()
            .map(|c| {
                c.cat
                    .iter()
                    .filter_map(|code| Category::parse(code))
                    .collect()
            })
            .collect();
        let any_rules = campaigns.iter().any(|c| {
            c.context.min_relevance > 0.0
                || !c.context.exclude_categories.is_empty()
                || !c.context.exclude_keywords.is_empty()
        });
        Self {
            lexicon,
            vocabulary,
            documents,
            ad_categories,
            exclusions,
            any_rules,
        }
    }

    /// The id of `term`, if some campaign uses it.
    pub fn term(&self, term: &str) -> Option<TermId> {
        self.vocabulary.get(term).copied()
    }

    /// Campaign `id`'s normalised term weights, sorted by term.
    pub fn document(&self, id: usize) -> &[(TermId, f32)] {
        self.documents.get(id).map_or(&[], |d| d)
    }

    /// Campaign `id`'s ad categories.
    pub fn ad_categories(&self, id: usize) -> &[Category] {
        self.ad_categories.get(id).map_or(&[], |c| c)
    }

    /// Campaign `id`'s brand-safety phrases.
    pub fn exclusions(&self, id: usize) -> &[Box<[TermId]>] {
        self.exclusions.get(id).map_or(&[], |e| e)
    }
}

fn bm25(raw: &[Vec<(TermId, f32)>], terms: usize) -> Vec<Box<[(TermId, f32)]>> {
    let n = raw.len().max(1) as f32;
    let mut df = vec![0u32; terms];
    for doc in raw {
        for (term, _) in doc {
            df[*term as usize] += 1;
        }
    }
    let lengths: Vec<f32> = raw.iter().map(|d| d.iter().map(|(_, c)| c).sum()).collect();
    let avgdl = (lengths.iter().sum::<f32>() / n).max(1.0);
    raw.iter()
        .zip(&lengths)
        .map(|(doc, &length)| {
            let mut weights: Vec<(TermId, f32)> = doc
                .iter()
                .map(|&(term, tf)| {
                    let df = df[term as usize] as f32;
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    let w = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / avgdl));
                    (term, w)
                })
                .collect();
            let mut strongest: Vec<f32> = weights.iter().map(|(_, w)| *w).collect();
            strongest.sort_by(|a, b| b.total_cmp(a));
            let norm: f32 = strongest.iter().take(3).sum();
            if norm > 0.0 {
                for (_, w) in &mut weights {
                    *w /= norm;
                }
            }
            weights.sort_by_key(|(term, _)| *term);
            weights.into_boxed_slice()
        })
        .collect()
}
