//! The contextual side of a snapshot, built with it: the snapshot's user words (campaign
//! keywords, brand-safety phrases and lexicon phrases, kept whole by segmentation), each
//! campaign's keyword document as term weights, its ad categories, its brand-safety
//! phrases, and the lexicon compiled with those user words.
//!
//! Term weights are BM25 (k1 = 1.2, b = 0.75):
//! `w(t, d) = idf(t) × tf·(k1+1) / (tf + k1·(1 − b + b·|d|/avgdl))` with
//! `idf(t) = ln(1 + (N − df + 0.5)/(df + 0.5))`, times `1/√v(t, d)` where `v` is how many
//! campaigns of `d`'s vertical use `t` (a word every campaign of a vertical shares says
//! little about which of them fits). All documents are divided by one constant, the median
//! over campaigns of their three largest weights' sum, so weights compare across
//! campaigns: a campaign of generic words has small weights everywhere instead of being
//! scaled up to look as relevant as a specific one.
//!
//! Synonym groups of the lexicon share one term id: a page matching a group counts once.

use super::category::Category;
use super::lexicon::Lexicon;
use super::semantic::{normalised, Embeddings};
use super::tokenize::tokenizer;
use super::user_words::UserWords;
use crate::campaign::Campaign;
use std::collections::HashMap;

/// Terms read from one campaign's document.
pub const MAX_DOC_TERMS: usize = 256;
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Weight of an explicit campaign keyword against a word of a title or name.
const KEYWORD_TF: f32 = 2.0;
/// Weight of a word of an English phrase, against the phrase, in the same text.
const PHRASE_WORD: f32 = 0.4;
/// Weight of the campaign's vertical name (a generic word of its kind).
const VERTICAL_TF: f32 = 0.5;

/// A term's id in the snapshot's vocabulary.
pub type TermId = u32;

/// Contextual data of one snapshot.
#[derive(Debug, Default)]
pub struct ContextIndex {
    /// The lexicon loaded with the snapshot, compiled with its user words.
    pub lexicon: Lexicon,
    /// Words segmentation keeps whole for this snapshot (pages are read with them).
    pub user_words: UserWords,
    /// Per dense id: the unit mean vector of the campaign's terms in the semantic
    /// resource (empty: no resource, or no known term).
    vectors: Vec<Box<[f32]>>,
    /// foldhash: the terms are the campaigns' own; pages only look terms up.
    vocabulary: hashbrown::HashMap<String, TermId>,
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
    pub fn build(campaigns: &[Campaign], mut lexicon: Lexicon) -> Self {
        let tokenizer = tokenizer();
        let mut user_words = UserWords::default();
        for campaign in campaigns {
            let rules = &campaign.context.exclude_keywords;
            for text in campaign.keywords.iter().chain(rules) {
                super::tokenize::add_user_text(&mut user_words, text);
            }
        }
        for phrase in lexicon.phrases() {
            super::tokenize::add_user_text(&mut user_words, phrase);
        }
        lexicon.compile(&user_words);
        let mut vocabulary: hashbrown::HashMap<String, TermId> = hashbrown::HashMap::new();
        let mut next: TermId = 0;
        for group in lexicon.synonym_groups() {
            let shared = group.iter().find_map(|t| vocabulary.get(*t).copied());
            let id = shared.unwrap_or_else(|| {
                next += 1;
                next - 1
            });
            for term in group {
                vocabulary.entry(term.to_owned()).or_insert(id);
            }
        }
        let mut intern = |term: String| -> TermId {
            *vocabulary.entry(term).or_insert_with(|| {
                next += 1;
                next - 1
            })
        };
        let mut raw: Vec<Vec<(TermId, f32)>> = Vec::with_capacity(campaigns.len());
        let mut exclusions = Vec::with_capacity(campaigns.len());
        let mut terms = Vec::new();
        for campaign in campaigns {
            let mut tf: Vec<(TermId, f32)> = Vec::new();
            let mut add = |text: &str, weight: f32, tf: &mut Vec<(TermId, f32)>| {
                terms.clear();
                tokenizer.terms_with(text, &mut terms, MAX_DOC_TERMS, &user_words);
                // The words of an English phrase in the same text say less than the phrase
                // ("bank" of "power bank").
                let phrase_words: Vec<String> = terms
                    .iter()
                    .filter(|t| t.contains(' '))
                    .flat_map(|p| p.split(' ').map(str::to_owned).collect::<Vec<_>>())
                    .collect();
                for term in terms.drain(..) {
                    let weight = if phrase_words.contains(&term) {
                        weight * PHRASE_WORD
                    } else {
                        weight
                    };
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
                add(vertical, VERTICAL_TF, &mut tf);
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
                    let ids: Box<[TermId]> = super::lexicon::compile_phrase(phrase, &user_words)
                        .into_iter()
                        .map(&mut intern)
                        .collect();
                    ids
                })
                .filter(|ids| !ids.is_empty())
                .collect();
            exclusions.push(phrases);
        }
        let verticals: Vec<Option<&str>> =
            campaigns.iter().map(|c| c.vertical.as_deref()).collect();
        let documents = bm25(&raw, &verticals, next as usize);
        let vectors = match lexicon.semantic.as_deref() {
            Some(semantic) => {
                let mut names: Vec<&str> = vec![""; next as usize];
                // One name per id (synonyms share ids): the smallest, so builds agree
                // whatever the map's order.
                for (term, &id) in &vocabulary {
                    let name = &mut names[id as usize];
                    if name.is_empty() || term.as_str() < *name {
                        *name = term;
                    }
                }
                documents
                    .iter()
                    .map(|document| campaign_vector(semantic, &names, document))
                    .collect()
            }
            None => Vec::new(),
        };
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
            user_words,
            vectors,
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

    /// Term ids in use: every id is below this.
    pub fn term_count(&self) -> usize {
        self.vocabulary
            .values()
            .max()
            .map_or(0, |&max| max as usize + 1)
    }

    /// Each term id's name (a synonym group's smallest string), by id: built on demand
    /// (trends name their topics with it once a fold), never on the request path.
    pub fn term_names(&self) -> Vec<Option<&str>> {
        let mut names: Vec<Option<&str>> = vec![None; self.term_count()];
        for (term, &id) in &self.vocabulary {
            let slot = &mut names[id as usize];
            if slot.is_none_or(|name| term.as_str() < name) {
                *slot = Some(term.as_str());
            }
        }
        names
    }

    /// Campaign `id`'s unit vector in the semantic resource (empty: none).
    pub fn vector(&self, id: usize) -> &[f32] {
        self.vectors.get(id).map_or(&[], |v| v)
    }

    /// The semantic resource, if the snapshot has one.
    pub fn semantic(&self) -> Option<&Embeddings> {
        self.lexicon.semantic.as_deref()
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

/// The unit mean of the vectors of a document's terms, each weighted by its weight.
fn campaign_vector(
    semantic: &Embeddings,
    names: &[&str],
    document: &[(TermId, f32)],
) -> Box<[f32]> {
    let mut sum = vec![0.0f32; semantic.dimensions()];
    for &(term, weight) in document {
        semantic.add_to(names[term as usize], weight, &mut sum);
    }
    normalised(sum).unwrap_or_default()
}

fn bm25(
    raw: &[Vec<(TermId, f32)>],
    verticals: &[Option<&str>],
    terms: usize,
) -> Vec<Box<[(TermId, f32)]>> {
    let n = raw.len().max(1) as f32;
    let mut df = vec![0u32; terms];
    let mut in_vertical: HashMap<(TermId, &str), u32> = HashMap::new();
    for (doc, vertical) in raw.iter().zip(verticals) {
        for (term, _) in doc {
            df[*term as usize] += 1;
            if let Some(vertical) = vertical {
                *in_vertical.entry((*term, vertical)).or_default() += 1;
            }
        }
    }
    let lengths: Vec<f32> = raw.iter().map(|d| d.iter().map(|(_, c)| c).sum()).collect();
    let avgdl = (lengths.iter().sum::<f32>() / n).max(1.0);
    let mut documents: Vec<Vec<(TermId, f32)>> = raw
        .iter()
        .zip(&lengths)
        .zip(verticals)
        .map(|((doc, &length), vertical)| {
            doc.iter()
                .map(|&(term, tf)| {
                    let df = df[term as usize] as f32;
                    let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
                    let shared = vertical
                        .and_then(|v| in_vertical.get(&(term, v)))
                        .map_or(1.0, |&count| count.max(1) as f32);
                    let w = idf * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length / avgdl));
                    (term, w / shared.sqrt())
                })
                .collect()
        })
        .collect();
    let mut top_sums: Vec<f32> = documents
        .iter()
        .map(|doc| {
            let mut weights: Vec<f32> = doc.iter().map(|(_, w)| *w).collect();
            weights.sort_by(|a, b| b.total_cmp(a));
            weights.iter().take(3).sum()
        })
        .filter(|sum: &f32| *sum > 0.0)
        .collect();
    top_sums.sort_by(f32::total_cmp);
    let norm = top_sums.get(top_sums.len() / 2).copied().unwrap_or(1.0);
    documents
        .iter_mut()
        .map(|doc| {
            for (_, w) in doc.iter_mut() {
                *w /= norm;
            }
            doc.sort_by_key(|(term, _)| *term);
            std::mem::take(doc).into_boxed_slice()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::campaign::Pricing;
    use crate::testing::campaign;

    fn with(id: &str, vertical: &str, keywords: &[&str]) -> Campaign {
        let mut c = campaign(Pricing::Cpm { bid: 1.0 });
        c.id = id.to_owned();
        c.name = id.to_owned();
        c.vertical = Some(vertical.to_owned());
        c.keywords = keywords.iter().map(|k| (*k).to_owned()).collect();
        c.creatives
            .iter_mut()
            .for_each(|cr| cr.title = id.to_owned());
        c
    }

    fn weight(index: &ContextIndex, id: usize, term: &str) -> f32 {
        let term = index.term(term).expect("known term");
        index
            .document(id)
            .iter()
            .find(|(t, _)| *t == term)
            .map_or(0.0, |(_, w)| *w)
    }

    #[test]
    fn words_a_whole_vertical_shares_weigh_less_than_specific_ones() {
        let campaigns = [
            with("a", "baby", &["婴儿", "纸尿裤"]),
            with("b", "baby", &["婴儿", "奶粉"]),
            with("c", "baby", &["婴儿", "推车"]),
            with("d", "kitchen", &["炒锅"]),
        ];
        let index = ContextIndex::build(&campaigns, Lexicon::default());
        assert!(weight(&index, 0, "纸尿裤") > 2.0 * weight(&index, 0, "婴儿"));
        // Weights compare across campaigns: no per-campaign rescaling to 1.
        let top = |id: usize| {
            index
                .document(id)
                .iter()
                .map(|(_, w)| *w)
                .fold(0.0, f32::max)
        };
        assert!((top(0) - top(1)).abs() < 0.2 * top(0));
    }

    #[test]
    fn a_synonym_group_is_one_term() {
        let lexicon = Lexicon::parse(
            "[[synonyms]]\nterms = [\"尿不湿\", \"纸尿裤\", \"diapers\"]",
            "t",
        )
        .expect("valid");
        let index = ContextIndex::build(&[with("a", "baby", &["纸尿裤"])], lexicon);
        assert_eq!(index.term("尿不湿"), index.term("纸尿裤"));
        assert_eq!(index.term("diaper"), index.term("纸尿裤"));
    }
}
