//! Chinese word segmentation: jieba's dictionary method (the most probable path through
//! the graph of dictionary words, no HMM) over jieba's own dictionary, kept as a
//! finite-state transducer (`fst`) in the binary's read-only data: 3.2 MB of pages the
//! kernel shares and loads on touch, where `jieba-rs` builds ~68 MB of heap (its trie and
//! one record per word) at start-up. The cuts are jieba-rs's `cut(text, false)`, word for
//! word (the tests hold them to it over the repository's texts and generated ones).
//!
//! The dictionary is built by `examples/build_segmenter_dict.rs` from jieba-rs 0.7.4's
//! `src/data/dict.txt` (jieba's dictionary, MIT; `data/README.md`).

use fst::raw::{Fst, Output};

/// The dictionary: word → frequency.
static DICTIONARY: &[u8] = include_bytes!("../../data/jieba-dict.fst");

/// Sum of the dictionary's frequencies (jieba's `total`; a test sums the map).
pub const DICTIONARY_TOTAL: u64 = 60_101_964;

/// Words in the dictionary (a test counts the map).
pub const DICTIONARY_WORDS: u64 = 349_045;

/// A segmenter over the built-in dictionary; cheap to build, shares the static bytes.
pub struct Segmenter {
    fst: Fst<&'static [u8]>,
    log_total: f64,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter")
            .field("dictionary_bytes", &DICTIONARY.len())
            .finish()
    }
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

/// Bytes of the built-in dictionary.
pub fn dictionary_bytes() -> usize {
    DICTIONARY.len()
}

impl Segmenter {
    /// The segmenter over the built-in dictionary.
    pub fn new() -> Self {
        // The bytes are the repository's own, checked by the tests; a corrupt build is
        // the only way to fail here.
        let fst = Fst::new(DICTIONARY).expect("the built-in segmenter dictionary is an FST");
        Self {
            fst,
            log_total: (DICTIONARY_TOTAL as f64).ln(),
        }
    }

    /// The dictionary frequency of `word`, if it is a word.
    pub fn frequency(&self, word: &str) -> Option<u64> {
        self.fst.get(word).map(|output| output.value())
    }

    /// Appends the words of `text` to `out`, as jieba-rs's `cut(text, false)` would:
    /// runs of jieba's Han-and-alphanumeric class are cut along the most probable path;
    /// every other character is a word of its own (`\r\n` is one).
    pub fn cut<'a>(&self, text: &'a str, out: &mut Vec<&'a str>) {
        let mut block_start = None;
        let mut scratch = Scratch::default();
        let mut chars = text.char_indices().peekable();
        while let Some((at, ch)) = chars.next() {
            if in_block(ch) {
                block_start.get_or_insert(at);
                continue;
            }
            if let Some(start) = block_start.take() {
                self.cut_block(&text[start..at], out, &mut scratch);
            }
            if ch == '\r' && chars.peek().is_some_and(|&(_, next)| next == '\n') {
                chars.next();
                out.push(&text[at..at + 2]);
            } else {
                out.push(&text[at..at + ch.len_utf8()]);
            }
        }
        if let Some(start) = block_start {
            self.cut_block(&text[start..], out, &mut scratch);
        }
    }

    /// One block along the most probable path (jieba's `cut_dag_no_hmm`).
    fn cut_block<'a>(&self, block: &'a str, out: &mut Vec<&'a str>, scratch: &mut Scratch) {
        scratch.graph(self, block);
        let route = scratch.route(self.log_total, block.len());
        let mut at = 0;
        let mut alphanumeric_from: Option<usize> = None;
        while at < block.len() {
            let end = route[at].1;
            let word = &block[at..end];
            let mut chars = word.chars();
            let single_ascii = matches!((chars.next(), chars.next()), (Some(c), None) if c.is_ascii_alphanumeric());
            if single_ascii {
                alphanumeric_from.get_or_insert(at);
            } else {
                if let Some(from) = alphanumeric_from.take() {
                    out.push(&block[from..at]);
                }
                out.push(word);
            }
            at = end;
        }
        if let Some(from) = alphanumeric_from {
            out.push(&block[from..]);
        }
    }
}

/// Whether jieba's default Han pattern (`RE_HAN_DEFAULT`) takes `ch` into a block.
fn in_block(ch: char) -> bool {
    matches!(ch as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF
        | 0x2A700..=0x2B73F | 0x2B740..=0x2B81F | 0x2B820..=0x2CEAF | 0x2CEB0..=0x2EBEF
        | 0x2F800..=0x2FA1F)
        || ch.is_ascii_alphanumeric()
        || matches!(ch, '+' | '#' | '&' | '.' | '_' | '%' | '-')
}

/// The word graph and route of one block, reused across the blocks of one call.
#[derive(Default)]
struct Scratch {
    /// Char starts of the block, in order.
    starts: Vec<usize>,
    /// Per char start (same index): its edges' range in `edges`.
    spans: Vec<(u32, u32)>,
    /// (end byte, frequency) of each dictionary word starting there, shortest first.
    edges: Vec<(usize, u64)>,
    /// Per byte: (best log probability from there to the end, end of its first word).
    route: Vec<(f64, usize)>,
}

impl Scratch {
    /// Every dictionary word starting at every char of `block`: one walk of the
    /// transducer per char start, as far as the block's bytes follow a word prefix.
    fn graph(&mut self, segmenter: &Segmenter, block: &str) {
        self.starts.clear();
        self.spans.clear();
        self.edges.clear();
        let fst = &segmenter.fst;
        let bytes = block.as_bytes();
        for (start, _) in block.char_indices() {
            let first = self.edges.len() as u32;
            let mut node = fst.root();
            let mut output = Output::zero();
            for (offset, &byte) in bytes[start..].iter().enumerate() {
                let Some(index) = node.find_input(byte) else {
                    break;
                };
                let transition = node.transition(index);
                output = output.cat(transition.out);
                node = fst.node(transition.addr);
                if node.is_final() {
                    let frequency = output.cat(node.final_output()).value();
                    self.edges.push((start + offset + 1, frequency));
                }
            }
            self.starts.push(start);
            self.spans.push((first, self.edges.len() as u32));
        }
    }

    /// jieba's `calc`: from the last char back, each start's best first word; ties go to
    /// the longest (the last maximum, as `Iterator::max_by` picks).
    fn route(&mut self, log_total: f64, len: usize) -> &[(f64, usize)] {
        self.route.clear();
        self.route.resize(len + 1, (0.0, 0));
        let mut next_start = len;
        for (index, &start) in self.starts.iter().enumerate().rev() {
            let (first, last) = self.spans[index];
            let route = &self.route;
            let best = self.edges[first as usize..last as usize]
                .iter()
                .map(|&(end, frequency)| ((frequency as f64).ln() - log_total + route[end].0, end))
                .max_by(|x, y| x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
            self.route[start] = best.unwrap_or((-log_total + route[next_start].0, next_start));
            next_start = start;
        }
        &self.route
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fst::Streamer;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::sync::OnceLock;

    fn jieba() -> &'static jieba_rs::Jieba {
        static JIEBA: OnceLock<jieba_rs::Jieba> = OnceLock::new();
        JIEBA.get_or_init(jieba_rs::Jieba::new)
    }

    fn cut(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Segmenter::new().cut(text, &mut out);
        out
    }

    #[test]
    fn the_dictionary_holds_jiebas_words_and_total() {
        let segmenter = Segmenter::new();
        let mut stream = segmenter.fst.stream();
        let (mut words, mut total) = (0u64, 0u64);
        while let Some((_, output)) = stream.next() {
            words += 1;
            total += output.value();
        }
        assert_eq!(words, DICTIONARY_WORDS);
        assert_eq!(total, DICTIONARY_TOTAL);
        assert_eq!(segmenter.frequency("纸尿裤"), Some(3));
        assert_eq!(segmenter.frequency("我们"), Some(98_740));
        assert_eq!(segmenter.frequency("不是一个词的串"), None);
    }

    #[test]
    fn cuts_the_familiar_sentences() {
        assert_eq!(
            cut("我们中出了一个叛徒"),
            ["我们", "中", "出", "了", "一个", "叛徒"]
        );
        assert_eq!(
            cut("婴儿纸尿裤哪个牌子好"),
            ["婴儿", "纸尿裤", "哪个", "牌子", "好"]
        );
        assert_eq!(cut(""), Vec::<&str>::new());
    }

    fn assert_cuts_like_jieba(text: &str) {
        let ours = cut(text);
        let theirs = jieba().cut(text, false);
        assert_eq!(ours, theirs, "{text:?}");
    }

    /// Every Han run (and every line) of the repository's texts: campaigns, lexicons,
    /// intent cases, scenarios, the conformance corpus.
    #[test]
    fn cuts_the_repositorys_texts_like_jieba() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut files = Vec::new();
        for folder in ["configs", "tests/data", "../shared/conformance"] {
            collect(&root.join(folder), &mut files);
        }
        let mut lines = 0;
        for file in files {
            let Ok(text) = std::fs::read_to_string(&file) else {
                continue;
            };
            for line in text
                .lines()
                .filter(|l| l.chars().any(|c| c as u32 >= 0x3400))
            {
                assert_cuts_like_jieba(line);
                lines += 1;
            }
        }
        assert!(lines > 500, "only {lines} lines with Han text found");
    }

    fn collect(folder: &std::path::Path, files: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(folder) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect(&path, files);
            } else if entry.metadata().is_ok_and(|m| m.len() < 4 << 20) {
                files.push(path);
            }
        }
    }

    /// Generated text: dictionary words, their pieces, rare and unknown characters,
    /// ASCII, punctuation and whitespace, glued at random (fixed seed).
    #[test]
    fn cuts_generated_text_like_jieba() {
        let segmenter = Segmenter::new();
        let mut words = Vec::new();
        let mut stream = segmenter.fst.stream();
        let mut index = 0;
        while let Some((word, _)) = stream.next() {
            if index % 37 == 0 {
                words.push(String::from_utf8(word.to_vec()).expect("UTF-8 words"));
            }
            index += 1;
        }
        let extras = [
            "a", "B", "7", "x1", "-", "+", "#", ".", "%", " ", "  ", "\t", "\n", "\r\n", "\r",
            "，", "。", "！", "㐀", "𠀀", "𰀀", "丽", "é", "😀", "iPhone", "4S", "AA", "abc_def",
        ];
        let mut rng = StdRng::seed_from_u64(20261206);
        for _ in 0..20_000 {
            let mut text = String::new();
            for _ in 0..rng.gen_range(1..12) {
                if rng.gen_bool(0.15) {
                    text.push_str(extras[rng.gen_range(0..extras.len())]);
                    continue;
                }
                let word = &words[rng.gen_range(0..words.len())];
                if rng.gen_bool(0.2) {
                    let chars: Vec<char> = word.chars().collect();
                    let from = rng.gen_range(0..chars.len());
                    text.extend(&chars[from..]);
                } else {
                    text.push_str(word);
                }
            }
            assert_cuts_like_jieba(&text);
        }
    }
}
