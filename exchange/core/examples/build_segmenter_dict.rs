//! Builds `exchange/core/data/jieba-dict.fst`, the segmenter's dictionary, from a jieba
//! dictionary file (`word [frequency [tag]]` per line, e.g. jieba-rs 0.7.4's
//! `src/data/dict.txt`): a map from each word to its frequency, last line winning as in
//! jieba. Prints the entry count and the frequency total (`segment::DICTIONARY_TOTAL`).
//!
//! `cargo run -p exchange-core --example build_segmenter_dict -- dict.txt out.fst`

use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        return Err("usage: build_segmenter_dict DICT.txt OUT.fst".into());
    };
    let text = std::fs::read_to_string(&input)?;
    let mut words: BTreeMap<&[u8], u64> = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(word) = fields.next() else { continue };
        let frequency = match fields.next() {
            Some(field) => field
                .parse()
                .map_err(|e| format!("{input}:{}: frequency {field:?}: {e}", number + 1))?,
            None => 0,
        };
        words.insert(word.as_bytes(), frequency);
    }
    let total: u64 = words.values().sum();
    let map = fst::Map::from_iter(words.iter().map(|(word, &frequency)| (*word, frequency)))?;
    let bytes = map.into_fst().into_inner();
    std::fs::write(&output, &bytes)?;
    println!(
        "{} words, frequency total {total}, {} bytes",
        words.len(),
        bytes.len()
    );
    Ok(())
}
