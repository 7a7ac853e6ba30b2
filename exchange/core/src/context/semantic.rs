//! The semantic resource: word vectors, so a page that never names a product can still be
//! near it in meaning. Read once at start from `[context] semantic` (the sample:
//! `configs/semantic/zh-vectors.bin`, 75-dimensional Chinese word vectors from the
//! Apache-2.0 `cnsyn` package, quantised by `configs/semantic/build.py`), shared by every
//! snapshot, bounded in size.
//!
//! A snapshot gives each campaign the weighted mean vector of its document's terms; a page
//! gets the weighted mean vector of its terms (one hash lookup and 75 additions per term);
//! their cosine adds to the keyword evidence (`context::Relevance::semantic`). The hand
//! lexicon stays the operator's override: its rules add explicit evidence on top.
//!
//! Format (little-endian): `EXEMB1\n`, u32 word count, u16 dimensions; per word: u8 byte
//! length, the UTF-8 word, f32 scale, `dimensions` × i8 (value = i8 × scale).

use hashbrown::HashTable;
use std::hash::BuildHasher;

/// Largest resource file read.
pub const MAX_SEMANTIC_BYTES: u64 = 64 * 1024 * 1024;
/// Most words.
pub const MAX_WORDS: usize = 500_000;
/// Most dimensions.
pub const MAX_DIMENSIONS: usize = 512;
const MAGIC: &[u8] = b"EXEMB1\n";

/// Quantised word vectors.
#[derive(Debug, Default)]
pub struct Embeddings {
    dimensions: usize,
    index: WordIndex,
    scales: Vec<f32>,
    values: Vec<i8>,
}

impl Embeddings {
    /// Parses a resource; the error says what is wrong and where.
    pub fn parse(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = Reader { bytes, at: 0 };
        if reader.take(MAGIC.len())? != MAGIC {
            return Err("not an EXEMB1 word-vector file".to_owned());
        }
        let count = u32::from_le_bytes(reader.array()?) as usize;
        let dimensions = usize::from(u16::from_le_bytes(reader.array()?));
        if count > MAX_WORDS || dimensions == 0 || dimensions > MAX_DIMENSIONS {
            return Err(format!(
                "{count} words of {dimensions} dimensions: at most {MAX_WORDS} words of 1..={MAX_DIMENSIONS}"
            ));
        }
        let mut embeddings = Self {
            dimensions,
            index: WordIndex::with_capacity(count),
            scales: Vec::with_capacity(count),
            values: Vec::with_capacity(count * dimensions),
        };
        for n in 0..count {
            let length = usize::from(reader.take(1)?[0]);
            let word = std::str::from_utf8(reader.take(length)?)
                .map_err(|_| format!("word {n} is not UTF-8"))?;
            let scale = f32::from_le_bytes(reader.array()?);
            if !(scale.is_finite() && scale > 0.0) || word.is_empty() {
                return Err(format!(
                    "word {n} ({word:?}): empty, or scale {scale} not > 0"
                ));
            }
            let values = reader.take(dimensions)?;
            embeddings.index.insert(word, n as u32);
            embeddings.scales.push(scale);
            embeddings
                .values
                .extend(values.iter().map(|&b| i8::from_le_bytes([b])));
        }
        if reader.at != bytes.len() {
            return Err(format!(
                "{} bytes after the last word",
                bytes.len() - reader.at
            ));
        }
        Ok(embeddings)
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.scales.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.scales.is_empty()
    }

    /// Dimensions of every vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Heap bytes held: the vectors, their scales and the word index.
    pub fn heap_bytes(&self) -> usize {
        self.values.capacity() + self.scales.capacity() * 4 + self.index.heap_bytes()
    }

    /// Adds `weight` × the vector of `word` to `sum` (sized [`dimensions`](Self::dimensions));
    /// false when the word is unknown.
    pub fn add_to(&self, word: &str, weight: f32, sum: &mut [f32]) -> bool {
        let Some(n) = self.index.get(word) else {
            return false;
        };
        let n = n as usize;
        let scale = self.scales[n] * weight;
        let values = &self.values[n * self.dimensions..(n + 1) * self.dimensions];
        for (s, &v) in sum.iter_mut().zip(values) {
            *s += f32::from(v) * scale;
        }
        true
    }
}

/// Word → row, compactly: every word in one string, its end offset per row, and a hash
/// table of rows (4 bytes a slot) found by the word's hash; no allocation per word.
#[derive(Default)]
struct WordIndex {
    text: String,
    ends: Vec<u32>,
    rows: HashTable<u32>,
    /// foldhash: the words are the resource's own (no untrusted key is ever inserted).
    hasher: hashbrown::DefaultHashBuilder,
}

impl std::fmt::Debug for WordIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordIndex")
            .field("words", &self.ends.len())
            .finish()
    }
}

impl WordIndex {
    fn with_capacity(words: usize) -> Self {
        Self {
            text: String::with_capacity(words * 8),
            ends: Vec::with_capacity(words),
            rows: HashTable::with_capacity(words),
            hasher: hashbrown::DefaultHashBuilder::default(),
        }
    }

    fn word(&self, row: u32) -> &str {
        word_at(&self.text, &self.ends, row)
    }

    /// Adds `word` as `row` (rows come in order 0, 1, …); a repeated word points to its
    /// last row, as a map insert would.
    fn insert(&mut self, word: &str, row: u32) {
        debug_assert_eq!(row as usize, self.ends.len());
        let hash = self.hasher.hash_one(word);
        if let Some(earlier) = self.rows.find(hash, |&r| self.word(r) == word).copied() {
            self.text.push_str(word);
            self.ends.push(self.text.len() as u32);
            if let Some(slot) = self.rows.find_mut(hash, |&r| r == earlier) {
                *slot = row;
            }
            return;
        }
        self.text.push_str(word);
        self.ends.push(self.text.len() as u32);
        let Self {
            rows,
            hasher,
            text,
            ends,
        } = self;
        rows.insert_unique(hash, row, |&r| hasher.hash_one(word_at(text, ends, r)));
    }

    fn get(&self, word: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(word);
        self.rows.find(hash, |&r| self.word(r) == word).copied()
    }

    fn heap_bytes(&self) -> usize {
        self.text.capacity() + self.ends.capacity() * 4 + self.rows.capacity() * 5
    }
}

/// Word `row` of `text`, whose words end at `ends`.
fn word_at<'a>(text: &'a str, ends: &[u32], row: u32) -> &'a str {
    let row = row as usize;
    let start = if row == 0 { 0 } else { ends[row - 1] as usize };
    &text[start..ends[row] as usize]
}

/// `sum` scaled to unit length, or `None` when it is zero.
pub fn normalised(mut sum: Vec<f32>) -> Option<Box<[f32]>> {
    let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
    if !(norm.is_finite() && norm > 1e-6) {
        return None;
    }
    sum.iter_mut().for_each(|v| *v /= norm);
    Some(sum.into_boxed_slice())
}

/// The cosine of two unit vectors (0 when their sizes differ).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    // Eight running sums, one per lane, so that the products run as vector instructions
    // (one sum in order is a chain the compiler may not reorder).
    let mut lanes = [0.0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((sum, x), y) in lanes.iter_mut().zip(x).zip(y) {
            *sum += x * y;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// Lanes of [`cosine`]'s running sums (one AVX register of `f32`).
const LANES: usize = 8;

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.at))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// A resource holding `words` with their (unquantised) vectors, in the file format: for
/// tests and tools.
pub fn encode(words: &[(&str, Vec<f32>)]) -> Vec<u8> {
    let dimensions = words.first().map_or(0, |(_, v)| v.len());
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&(words.len() as u32).to_le_bytes());
    out.extend_from_slice(&(dimensions as u16).to_le_bytes());
    for (word, vector) in words {
        out.push(word.len() as u8);
        out.extend_from_slice(word.as_bytes());
        let max = vector.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-9);
        let scale = max / 127.0;
        out.extend_from_slice(&scale.to_le_bytes());
        out.extend(vector.iter().map(|v| (v / scale).round() as i8 as u8));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_index_finds_every_word_and_a_repeat_points_to_its_last_row() {
        let mut index = WordIndex::with_capacity(4);
        let words: Vec<String> = (0..5_000).map(|n| format!("词{n}")).collect();
        for (row, word) in words.iter().enumerate() {
            index.insert(word, row as u32);
        }
        index.insert("词7", 5_000);
        for (row, word) in words.iter().enumerate().filter(|(row, _)| *row != 7) {
            assert_eq!(index.get(word), Some(row as u32), "{word}");
        }
        assert_eq!(index.get("词7"), Some(5_000));
        assert_eq!(index.get("词5000"), None);
        assert_eq!(index.get(""), None);
    }

    #[test]
    fn vectors_round_trip_and_bad_files_are_refused() {
        let bytes = encode(&[("露营", vec![1.0, 0.0, 0.5]), ("帐篷", vec![0.9, 0.1, 0.4])]);
        let embeddings = Embeddings::parse(&bytes).expect("valid");
        assert_eq!((embeddings.len(), embeddings.dimensions()), (2, 3));
        let mut camping = vec![0.0; 3];
        assert!(embeddings.add_to("露营", 1.0, &mut camping));
        let mut tent = vec![0.0; 3];
        assert!(embeddings.add_to("帐篷", 1.0, &mut tent));
        assert!(!embeddings.add_to("股票", 1.0, &mut tent));
        let (a, b) = (
            normalised(camping).expect("known"),
            normalised(tent).expect("known"),
        );
        assert!(cosine(&a, &b) > 0.95);
        for bad in [
            &bytes[..bytes.len() - 1],
            &b"EXEMB2\n"[..],
            &[bytes.as_slice(), b"x"].concat()[..],
        ] {
            assert!(Embeddings::parse(bad).is_err());
        }
        assert!(normalised(vec![0.0; 3]).is_none());
    }

    #[test]
    fn cosine_is_the_dot_product_at_every_length() {
        let value =
            |i: usize, salt: usize| ((i * 7919 + salt * 104_729) % 1000) as f32 / 1000.0 - 0.5;
        for length in 0..40 {
            let a: Vec<f32> = (0..length).map(|i| value(i, 1)).collect();
            let b: Vec<f32> = (0..length).map(|i| value(i, 2)).collect();
            let dot: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            assert!(
                (f64::from(cosine(&a, &b)) - dot).abs() < 1e-5,
                "length {length}"
            );
        }
        assert_eq!(cosine(&[1.0, 2.0], &[1.0]), 0.0, "sizes differ");
    }
}
