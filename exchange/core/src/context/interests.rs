//! The user's declared interests, read from the request under the same consent rules as
//! purchase history (`signals::UserInputs::allowed`): `user.keywords` (comma-separated),
//! `user.data[].segment[]` names and values (a data provider's segments, such as
//! "camping enthusiasts" or "母婴"), and the documented `user.ext` signals:
//!
//! | field | meaning |
//! | --- | --- |
//! | `user.ext.interests` | array of interest strings, Chinese or English |
//! | `user.ext.member` | `true` (or `1`): a member of the publisher's or shop's programme |
//!
//! Interests are read like page text (the snapshot's tokenizer and user words) into the
//! snapshot's vocabulary; their match with a campaign's document is a bounded boost next to
//! page relevance (`context.interest_lift`), membership a bounded pCVR lift
//! (`context.member_cvr_lift`). Bounded: 32 texts of at most 256 bytes, 64 terms.

use super::index::{ContextIndex, TermId};
use super::tokenize::{tokenizer, truncate};
use bidder_sdk::openrtb::User;

/// Most interest texts read.
pub const MAX_INTEREST_TEXTS: usize = 32;
/// Most bytes of one interest text.
pub const MAX_INTEREST_BYTES: usize = 256;
/// Most interest terms kept.
pub const MAX_INTEREST_TERMS: usize = 64;
/// Weight of a data segment against a keyword or an `ext` interest.
const SEGMENT_WEIGHT: f32 = 0.8;

/// What the request says the user is interested in, in the snapshot's vocabulary.
#[derive(Debug, Default, Clone)]
pub struct Interests {
    /// (term, weight), sorted by term, unique.
    pub query: Vec<(TermId, f32)>,
    /// `user.ext.member` is true.
    pub member: bool,
    /// Interest texts read.
    pub texts: usize,
}

impl Interests {
    /// Reads `user` against `index`.
    pub fn read(user: &User, index: &ContextIndex) -> Self {
        let mut texts: Vec<(&str, f32)> = Vec::new();
        if let Some(keywords) = user.keywords.as_deref() {
            texts.extend(keywords.split(',').map(|k| (k, 1.0)));
        }
        for segment in user.data.iter().flat_map(|d| &d.segment) {
            for text in [&segment.name, &segment.value].into_iter().flatten() {
                texts.push((text, SEGMENT_WEIGHT));
            }
        }
        let ext = user.ext.as_ref();
        if let Some(list) = ext
            .and_then(|e| e.get("interests"))
            .and_then(|v| v.as_array())
        {
            texts.extend(list.iter().filter_map(|v| v.as_str()).map(|s| (s, 1.0)));
        }
        let member = ext
            .and_then(|e| e.get("member"))
            .is_some_and(|v| v.as_bool() == Some(true) || v.as_i64() == Some(1));
        let mut query: Vec<(TermId, f32)> = Vec::new();
        let mut scratch = Vec::new();
        let mut read = 0;
        for (text, weight) in texts.into_iter().filter(|(t, _)| !t.trim().is_empty()) {
            if read == MAX_INTEREST_TEXTS || query.len() >= MAX_INTEREST_TERMS {
                break;
            }
            read += 1;
            scratch.clear();
            let text = truncate(text, MAX_INTEREST_BYTES);
            tokenizer().terms_with(text, &mut scratch, MAX_INTEREST_TERMS, &index.user_words);
            for term in &scratch {
                if let Some(id) = index.term(term) {
                    query.push((id, weight));
                }
            }
        }
        query.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        query.dedup_by(|later, kept| later.0 == kept.0);
        query.truncate(MAX_INTEREST_TERMS);
        Self {
            query,
            member,
            texts: read,
        }
    }

    /// True when no interest reached the vocabulary and the user is no member.
    pub fn is_empty(&self) -> bool {
        self.query.is_empty() && !self.member
    }

    /// How well the interests fit campaign `id`, in 0..1 (like page relevance, never
    /// saturating).
    pub fn fit(&self, index: &ContextIndex, id: usize) -> f32 {
        let score = super::match_score(&self.query, index.document(id));
        let fit = 1.0 - (-2.0 * score).exp();
        if fit.is_finite() {
            fit.clamp(0.0, 1.0)
        } else {
            0.0
        }
    }
}
