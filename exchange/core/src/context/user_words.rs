//! The snapshot's own words, which segmentation must keep whole: every campaign keyword
//! and lexicon phrase. Chinese ones are joined back together after jieba has split them
//! ("辅食" + "机" → "辅食机"), found inside longer words ("降噪耳机" also gives "耳机"),
//! and are the only single characters kept; English ones become phrase terms of their
//! stems ("power bank" → `power bank` beside `power` and `bank`).
//!
//! jieba's own dictionary is process-wide and immutable (adding words to it would need a
//! copy per snapshot of its ~60 MiB); these sets are per snapshot, built with it, and
//! applied by the tokenizer (`Tokenizer::terms_with`) on both
//! sides of a match, so campaign documents, lexicon rules and pages agree.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Most characters of a Chinese user word.
pub const MAX_WORD_CHARS: usize = 8;
/// Most segments joined into one user word.
pub const MAX_JOINED: usize = 4;
/// Most words of an English phrase.
pub const MAX_PHRASE_WORDS: usize = 3;
/// Most user words and phrases of one snapshot.
pub const MAX_USER_WORDS: usize = 200_000;

/// Chinese user words and English user phrases of one snapshot.
#[derive(Debug, Default, Clone)]
pub struct UserWords {
    /// Chinese words (2..=8 characters, or single characters given alone).
    han: HashSet<String>,
    /// Every proper prefix (by characters) of a Chinese word: where a join may start.
    han_prefixes: HashSet<String>,
    /// English phrases: stems joined by one space.
    phrases: HashSet<String>,
    /// Every proper prefix (whole stems) of a phrase.
    phrase_prefixes: HashSet<String>,
    /// Changes with every word added (0: none yet): equal versions, equal words.
    version: u64,
}

/// The last version given to any set of user words in this process.
static LAST_VERSION: AtomicU64 = AtomicU64::new(0);

impl UserWords {
    /// Adds a Chinese word (ignored when empty, too long, or past the limit).
    pub fn add_han(&mut self, word: &str) {
        let chars = word.chars().count();
        if chars == 0 || chars > MAX_WORD_CHARS || self.len() >= MAX_USER_WORDS {
            return;
        }
        for (at, _) in word.char_indices().skip(1) {
            self.han_prefixes.insert(word[..at].to_owned());
        }
        self.han.insert(word.to_owned());
        self.changed();
    }

    /// Adds an English phrase of stems (ignored unless 2..=3 stems).
    pub fn add_phrase(&mut self, stems: &[String]) {
        if !(2..=MAX_PHRASE_WORDS).contains(&stems.len()) || self.len() >= MAX_USER_WORDS {
            return;
        }
        for end in 1..stems.len() {
            self.phrase_prefixes.insert(stems[..end].join(" "));
        }
        self.phrases.insert(stems.join(" "));
        self.changed();
    }

    /// Identifies these words: two sets with the same version hold the same words (a
    /// clone keeps its original's version until either changes).
    pub fn version(&self) -> u64 {
        self.version
    }

    fn changed(&mut self) {
        self.version = LAST_VERSION.fetch_add(1, Ordering::Relaxed) + 1;
    }

    /// Number of words and phrases.
    pub fn len(&self) -> usize {
        self.han.len() + self.phrases.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether `word` is a Chinese user word.
    pub fn is_han_word(&self, word: &str) -> bool {
        self.han.contains(word)
    }

    /// The longest user word made of the first 2..=4 `segments`, with how many it took.
    pub fn join(&self, segments: &[String]) -> Option<(String, usize)> {
        let first = segments.first()?;
        if !self.han_prefixes.contains(first.as_str()) {
            return None;
        }
        let mut joined = first.clone();
        let mut best = None;
        for (taken, next) in segments.iter().enumerate().skip(1).take(MAX_JOINED - 1) {
            joined.push_str(next);
            if self.han.contains(&joined) {
                best = Some((joined.clone(), taken + 1));
            }
            if !self.han_prefixes.contains(&joined) {
                break;
            }
        }
        best
    }

    /// The user words strictly inside `word` (at least two characters each), longest
    /// first, at most `limit`.
    pub fn parts_of<'w>(&self, word: &'w str, limit: usize) -> Vec<&'w str> {
        let mut parts = Vec::new();
        // Most words are one or two characters: nothing to find, nothing allocated.
        let chars = word.chars().count();
        if !(3..=MAX_WORD_CHARS * 2).contains(&chars) {
            return parts;
        }
        let bounds: Vec<usize> = word
            .char_indices()
            .map(|(at, _)| at)
            .chain(std::iter::once(word.len()))
            .collect();
        for length in (2..chars).rev() {
            for start in 0..=chars - length {
                let part = &word[bounds[start]..bounds[start + length]];
                if self.han.contains(part) && parts.len() < limit {
                    parts.push(part);
                }
            }
        }
        parts
    }

    /// Whether `prefix` (stems joined by spaces) starts some phrase.
    pub fn starts_phrase(&self, prefix: &str) -> bool {
        self.phrase_prefixes.contains(prefix)
    }

    /// Whether `phrase` (stems joined by spaces) is a user phrase.
    pub fn is_phrase(&self, phrase: &str) -> bool {
        self.phrases.contains(phrase)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn segments_join_into_the_longest_user_word() {
        let mut user = UserWords::default();
        user.add_han("辅食机");
        user.add_han("辅食机器人");
        assert_eq!(
            user.join(&words(&["辅食", "机", "好"])),
            Some(("辅食机".to_owned(), 2))
        );
        assert_eq!(
            user.join(&words(&["辅食", "机", "器", "人"])),
            Some(("辅食机器人".to_owned(), 4))
        );
        assert_eq!(user.join(&words(&["辅食", "好"])), None);
        assert_eq!(user.join(&words(&["机"])), None);
    }

    #[test]
    fn parts_inside_a_compound_are_found() {
        let mut user = UserWords::default();
        user.add_han("耳机");
        user.add_han("降噪");
        assert_eq!(user.parts_of("降噪耳机", 8), ["降噪", "耳机"]);
        assert!(
            user.parts_of("耳机", 8).is_empty(),
            "the word itself is not a part"
        );
    }

    #[test]
    fn phrases_are_whole_stems() {
        let mut user = UserWords::default();
        user.add_phrase(&words(&["power", "bank"]));
        user.add_phrase(&words(&["alone"]));
        assert!(user.starts_phrase("power") && user.is_phrase("power bank"));
        assert!(!user.is_phrase("alone") && user.len() == 1);
    }
}
