//! Text → terms, for pages and for campaign keyword documents alike (one tokenizer, so
//! both sides of a match agree).
//!
//! Text is split into runs of Han characters and runs of other letters and digits; Han
//! runs are segmented by jieba's dictionary method (`segment`: dictionary only, no HMM:
//! unknown words fall apart into known ones rather than inventing terms), the rest is lower-cased, stop words
//! dropped and stemmed with the Snowball English stemmer (`rust-stemmers`). Mixed text
//! ("Nike跑步鞋 running shoes") works because runs are found per character. Everything is
//! bounded: input bytes per call, run length, term length, terms per call.

use super::segment::Segmenter;
use super::user_words::UserWords;
use rust_stemmers::{Algorithm, Stemmer};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::OnceLock;

/// Most bytes of one text read (the rest is ignored; cut at a character boundary).
pub const MAX_TEXT_BYTES: usize = 8 * 1024;
/// Longest Han run handed to the segmenter at once, in characters.
const MAX_HAN_RUN: usize = 128;
/// Longest term kept, in bytes (longer ones are noise: hashes, base64, URLs).
pub const MAX_TERM_BYTES: usize = 48;

/// English stop words (the common function words; content words are kept).
const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "about", "after", "all", "also", "am", "an", "and", "any", "are", "as", "at", "be",
    "because", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "for",
    "from", "had", "has", "have", "he", "her", "here", "him", "his", "how", "i", "if", "in",
    "into", "is", "it", "its", "just", "me", "more", "most", "my", "no", "not", "of", "on", "one",
    "or", "our", "out", "she", "so", "some", "such", "than", "that", "the", "their", "them",
    "then", "there", "these", "they", "this", "those", "to", "too", "up", "us", "very", "was",
    "we", "were", "what", "when", "where", "which", "while", "who", "why", "will", "with", "would",
    "you", "your", "www", "com", "html", "htm", "php",
];

/// Chinese stop words (particles, pronouns, light verbs).
const CHINESE_STOP_WORDS: &[&str] = &[
    "的",
    "了",
    "是",
    "在",
    "和",
    "与",
    "及",
    "或",
    "我",
    "你",
    "他",
    "她",
    "它",
    "们",
    "我们",
    "你们",
    "这",
    "那",
    "这个",
    "那个",
    "一个",
    "有",
    "也",
    "就",
    "都",
    "而",
    "把",
    "被",
    "让",
    "给",
    "对",
    "从",
    "到",
    "吗",
    "呢",
    "吧",
    "啊",
    "呀",
    "哦",
    "嗯",
    "着",
    "过",
    "很",
    "还",
    "又",
    "更",
    "最",
    "去",
    "来",
    "上",
    "下",
    "中",
    "里",
    "个",
    "么",
    "什么",
    "怎么",
    "如何",
    "为什么",
    "可以",
    "自己",
    "没有",
    "不",
    "要",
    "会",
    "能",
    "说",
    "看",
    "用",
    "做",
    "好",
];

/// The shared tokenizer: the segmenter's dictionary is loaded once per process.
pub struct Tokenizer {
    segmenter: Segmenter,
    stemmer: Stemmer,
    /// Both stop-word lists, sorted (looked up by binary search).
    stop_words: Vec<&'static str>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tokenizer")
    }
}

static TOKENIZER: OnceLock<Tokenizer> = OnceLock::new();

/// Most entries of each per-thread memo (stems; segmented Han runs).
const MEMO_ENTRIES: usize = 16_384;

thread_local! {
    static STEM_MEMO: RefCell<HashMap<String, String>> = RefCell::new(HashMap::new());
    static SEGMENT_MEMO: RefCell<HashMap<String, Rc<[String]>>> = RefCell::new(HashMap::new());
}

/// The process-wide tokenizer, built on first use (`exchange::run` builds it at start-up,
/// so no request pays for the dictionary).
pub fn tokenizer() -> &'static Tokenizer {
    TOKENIZER.get_or_init(|| {
        let mut stop_words: Vec<&'static str> = ENGLISH_STOP_WORDS
            .iter()
            .chain(CHINESE_STOP_WORDS)
            .copied()
            .collect();
        stop_words.sort_unstable();
        Tokenizer {
            segmenter: Segmenter::new(),
            stemmer: Stemmer::create(Algorithm::English),
            stop_words,
        }
    })
}

/// Most user words found inside one segmented word.
const MAX_PARTS: usize = 4;

static NO_USER_WORDS: OnceLock<UserWords> = OnceLock::new();

impl Tokenizer {
    /// Appends the terms of `text` to `out` until `out` holds `max_terms`; returns how
    /// many it appended. Terms may repeat (callers count or deduplicate). No user words.
    pub fn terms_into(&self, text: &str, out: &mut Vec<String>, max_terms: usize) -> usize {
        self.terms_with(
            text,
            out,
            max_terms,
            NO_USER_WORDS.get_or_init(UserWords::default),
        )
    }

    /// [`terms_into`](Self::terms_into) with the snapshot's `user` words: Chinese user
    /// words kept whole and found inside compounds, other single Han characters dropped
    /// (segmentation noise), English user phrases added as phrase terms.
    pub fn terms_with(
        &self,
        text: &str,
        out: &mut Vec<String>,
        max_terms: usize,
        user: &UserWords,
    ) -> usize {
        let before = out.len();
        let text = truncate(text, MAX_TEXT_BYTES);
        let mut run: Option<(usize, bool)> = None;
        let mut latin = LatinPhrase::default();
        for (at, ch) in text
            .char_indices()
            .chain(std::iter::once((text.len(), ' ')))
        {
            let class = class_of(ch);
            if let Some((start, han)) = run {
                if class == Some(han) {
                    continue;
                }
                let run_text = &text[start..at];
                if han {
                    latin.words.clear();
                    self.han_run(run_text, out, max_terms, user);
                } else {
                    self.latin_term(run_text, out, max_terms, user, &mut latin);
                }
                if out.len() >= max_terms {
                    break;
                }
            }
            run = class.map(|han| (at, han));
        }
        out.len() - before
    }

    /// The terms of `text`, at most `max_terms`.
    pub fn terms(&self, text: &str, max_terms: usize) -> Vec<String> {
        let mut out = Vec::new();
        self.terms_into(text, &mut out, max_terms);
        out
    }

    /// The terms of `text` with `user` words, at most `max_terms`.
    pub fn terms_with_user(&self, text: &str, max_terms: usize, user: &UserWords) -> Vec<String> {
        let mut out = Vec::new();
        self.terms_with(text, &mut out, max_terms, user);
        out
    }

    fn han_run(&self, run: &str, out: &mut Vec<String>, max_terms: usize, user: &UserWords) {
        let mut chunk_start = 0;
        for (count, (at, _)) in run.char_indices().enumerate() {
            if count > 0 && count % MAX_HAN_RUN == 0 {
                self.han_terms(&run[chunk_start..at], out, max_terms, user);
                chunk_start = at;
            }
        }
        self.han_terms(&run[chunk_start..], out, max_terms, user);
    }

    fn han_terms(&self, run: &str, out: &mut Vec<String>, max_terms: usize, user: &UserWords) {
        let words = memoised(&SEGMENT_MEMO, run, || {
            let mut words = Vec::new();
            self.segmenter.cut(run, &mut words);
            words
                .into_iter()
                .map(str::to_owned)
                .collect::<Rc<[String]>>()
        });
        let mut at = 0;
        while at < words.len() && out.len() < max_terms {
            if let Some((joined, taken)) = user.join(&words[at..]) {
                for part in user.parts_of(&joined, MAX_PARTS) {
                    if out.len() + 1 < max_terms {
                        out.push(part.to_owned());
                    }
                }
                out.push(joined);
                at += taken;
                continue;
            }
            let word = &words[at];
            at += 1;
            if word.len() > MAX_TERM_BYTES || self.is_stop_word(word) {
                continue;
            }
            let chars = word.chars().count();
            if chars == 1 && !user.is_han_word(word) {
                continue;
            }
            out.push(word.clone());
            for part in user.parts_of(word, MAX_PARTS) {
                if out.len() < max_terms {
                    out.push(part.to_owned());
                }
            }
        }
    }

    /// Whether `word` (lower case) is a stop word.
    pub fn is_stop_word(&self, word: &str) -> bool {
        self.stop_words.binary_search(&word).is_ok()
    }

    fn latin_term(
        &self,
        word: &str,
        out: &mut Vec<String>,
        max_terms: usize,
        user: &UserWords,
        latin: &mut LatinPhrase,
    ) {
        if out.len() >= max_terms || word.len() > MAX_TERM_BYTES {
            return;
        }
        let lower = word.to_lowercase();
        let all_digits = lower.chars().all(|c| c.is_ascii_digit());
        if lower.chars().count() < 2 || all_digits || self.is_stop_word(&lower) {
            return;
        }
        // Stems of words with digits (models, sizes, "5g") are the words themselves.
        let term = if lower.bytes().any(|b| b.is_ascii_digit()) {
            lower
        } else {
            self.stem(lower)
        };
        if !user.is_empty() {
            latin.push(&term, user, out, max_terms);
        }
        if out.len() < max_terms {
            out.push(term);
        }
    }

    /// The Snowball stem of `lower` (memoised).
    fn stem(&self, lower: String) -> String {
        memoised(&STEM_MEMO, &lower, || {
            self.stemmer.stem(&lower).into_owned()
        })
    }
}

/// The English words just read, for phrase terms: the last stems that still start a user
/// phrase (reset by Chinese text).
#[derive(Default)]
struct LatinPhrase {
    words: Vec<String>,
}

impl LatinPhrase {
    /// Adds `term` after the words before it; pushes every user phrase that ends with it.
    fn push(&mut self, term: &str, user: &UserWords, out: &mut Vec<String>, max_terms: usize) {
        // Most words start no phrase and follow none: nothing to join, nothing allocated.
        if self.words.is_empty() && !user.starts_phrase(term) {
            return;
        }
        self.words.push(term.to_owned());
        if self.words.len() > super::user_words::MAX_PHRASE_WORDS {
            self.words.remove(0);
        }
        // Longest suffix first: "air fryer basket" then "fryer basket".
        for start in 0..self.words.len().saturating_sub(1) {
            let phrase = self.words[start..].join(" ");
            if user.is_phrase(&phrase) && out.len() < max_terms {
                out.push(phrase);
            }
        }
        // Keep only the suffixes that can still grow into a phrase.
        while !self.words.is_empty() && !user.starts_phrase(&self.words.join(" ")) {
            self.words.remove(0);
        }
    }
}

/// Adds to `user` what `text` (a keyword or lexicon phrase as written) holds: each run of
/// Han characters as a word (a lone character only when it is the whole text), and the
/// stems of an all-English text of 2..=3 words as a phrase.
pub fn add_user_text(user: &mut UserWords, text: &str) {
    let text = text.trim();
    let mut han_runs = text
        .split(|c: char| !is_han(c))
        .filter(|run| !run.is_empty())
        .peekable();
    if han_runs.peek().is_none() {
        let stems = tokenizer().terms(text, super::user_words::MAX_PHRASE_WORDS + 1);
        user.add_phrase(&stems);
        return;
    }
    for run in han_runs {
        if run.chars().count() >= 2 || run == text {
            user.add_han(run);
        }
    }
}

/// `compute()` for `key`, memoised in this thread's `memo`: pages repeat across requests
/// (titles, keywords, the same words), a stem costs ~3k instructions and a segmentation
/// a few thousand where a hit costs a hash and a clone. The functions are pure, so a memo
/// changes no result; it is cleared when full (bounded memory, no lock).
fn memoised<V: Clone>(
    memo: &'static std::thread::LocalKey<RefCell<HashMap<String, V>>>,
    key: &str,
    compute: impl FnOnce() -> V,
) -> V {
    crate::memo::remembered(memo, MEMO_ENTRIES, key, || key.to_owned(), compute)
}

/// `Some(true)` for a Han character, `Some(false)` for another letter or digit (apostrophes
/// inside words are dropped by splitting), `None` for a separator.
fn class_of(ch: char) -> Option<bool> {
    if is_han(ch) {
        Some(true)
    } else if ch.is_alphanumeric() {
        Some(false)
    } else {
        None
    }
}

/// Whether `ch` is a Han (CJK unified ideograph) character.
pub fn is_han(ch: char) -> bool {
    matches!(ch as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF | 0x30000..=0x3134F)
}

/// `text` cut to at most `max` bytes at a character boundary.
pub fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        tokenizer().terms(text, 256)
    }

    #[test]
    fn english_is_lower_cased_stemmed_and_stop_words_go() {
        assert_eq!(
            terms("How to choose Running Shoes for the flat feet"),
            ["choos", "run", "shoe", "flat", "feet"]
        );
    }

    #[test]
    fn chinese_is_segmented_into_words() {
        let t = terms("扁平足如何选择跑步鞋");
        assert!(t.contains(&"扁平足".to_owned()), "{t:?}");
        assert!(
            t.contains(&"跑步鞋".to_owned()) || t.contains(&"跑步".to_owned()),
            "{t:?}"
        );
        assert!(!t.contains(&"如何".to_owned()), "{t:?}");
    }

    #[test]
    fn mixed_text_splits_by_script() {
        let t = terms("Nike跑步鞋running shoes，限时折扣!");
        assert_eq!(t[0], "nike");
        assert!(
            t.contains(&"run".to_owned()) && t.contains(&"shoe".to_owned()),
            "{t:?}"
        );
        assert!(t.contains(&"折扣".to_owned()), "{t:?}");
    }

    #[test]
    fn hostile_text_is_bounded() {
        for text in [
            "啊".repeat(100_000),
            "a".repeat(100_000),
            "😀".repeat(30_000),
            "\u{0}\u{1b}[31m\u{7f}".repeat(10_000),
            "é".repeat(50_000),
        ] {
            let t = terms(&text);
            assert!(t.len() <= 256);
            assert!(t.iter().all(|w| w.len() <= MAX_TERM_BYTES));
        }
        assert!(terms("").is_empty());
        assert!(terms("   ,,, !!! 😀😀").is_empty());
    }

    #[test]
    fn the_term_limit_is_respected() {
        let text = "alpha beta gamma delta epsilon ".repeat(100);
        assert_eq!(tokenizer().terms(&text, 7).len(), 7);
    }

    #[test]
    fn the_memos_change_nothing_and_stay_bounded() {
        let first = terms("Running shoes for runners, choosing sizes like 42EU and 5G phones");
        assert_eq!(
            first,
            terms("Running shoes for runners, choosing sizes like 42EU and 5G phones")
        );
        assert!(first.contains(&"42eu".to_owned()) && first.contains(&"5g".to_owned()));
        // More distinct words than the memo holds (letters only: digits skip the stemmer).
        let word = |mut i: usize| {
            let mut w = String::from("zz");
            while i > 0 {
                w.push(char::from(b'a' + (i % 26) as u8));
                i /= 26;
            }
            w
        };
        let words: Vec<String> = (0..MEMO_ENTRIES + 100).map(word).collect();
        for chunk in words.chunks(500) {
            tokenizer().terms(&chunk.join(" "), 1024);
        }
        STEM_MEMO.with(|memo| assert!(memo.borrow().len() <= MEMO_ENTRIES));
        let han: Vec<String> = (0..MEMO_ENTRIES as u32 + 100)
            .map(|i| {
                let ch = |n: u32| char::from_u32(0x4E00 + n % 20_000).unwrap_or('一');
                format!("{}{} ", ch(i), ch(i / 7 + 3))
            })
            .collect();
        for chunk in han.chunks(200) {
            tokenizer().terms(&chunk.join(" "), 1024);
        }
        SEGMENT_MEMO.with(|memo| assert!(memo.borrow().len() <= MEMO_ENTRIES));
        let zh = terms("扁平足如何选择跑步鞋");
        assert_eq!(zh, terms("扁平足如何选择跑步鞋"));
        assert_eq!(
            first,
            terms("Running shoes for runners, choosing sizes like 42EU and 5G phones")
        );
    }

    #[test]
    fn user_words_stay_whole_parts_are_found_and_lone_characters_go() {
        let mut user = UserWords::default();
        for word in ["辅食机", "耳机", "power bank", "伞"] {
            add_user_text(&mut user, word);
        }
        let t =
            tokenizer().terms_with_user("宝宝辅食机和降噪耳机，带把伞和power bank出门", 64, &user);
        assert!(t.contains(&"辅食机".to_owned()), "joined back: {t:?}");
        assert!(
            t.contains(&"耳机".to_owned()),
            "found inside the compound: {t:?}"
        );
        assert!(
            t.contains(&"伞".to_owned()),
            "a one-character user word stays: {t:?}"
        );
        assert!(
            t.contains(&"power bank".to_owned()) && t.contains(&"bank".to_owned()),
            "{t:?}"
        );
        assert!(
            t.iter().all(|w| w.chars().count() > 1 || w == "伞"),
            "no lone characters: {t:?}"
        );
        let plain = terms("宝宝辅食机和降噪耳机");
        assert!(
            !plain.contains(&"辅食机".to_owned()),
            "without user words: {plain:?}"
        );
    }

    #[test]
    fn truncation_keeps_characters_whole() {
        assert_eq!(truncate("跑步鞋", 4), "跑");
        assert_eq!(truncate("abc", 10), "abc");
    }
}
