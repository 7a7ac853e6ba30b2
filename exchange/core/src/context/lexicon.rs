//! The intent lexicon: synonyms and "need → product" links in Chinese and English, and
//! maps from other category taxonomies to IAB 1.0 codes. Data, not code: read from the
//! file `[context] lexicon` names, validated, compiled with the campaign snapshot and
//! swapped with it.
//!
//! ```toml
//! [[synonyms]]                       # any term brings the others (weight 0.9 by default)
//! terms = ["跑鞋", "跑步鞋", "running shoes"]
//!
//! [[links]]                          # a page about a need reaches the products for it
//! need = ["扁平足", "flat feet"]
//! products = ["足弓垫", "arch support insoles", "跑鞋"]
//! weight = 0.7                       # default 0.6
//!
//! [cattax.6]                         # IAB Content Taxonomy 3.0 id → IAB 1.0 code
//! "483" = "IAB17"
//! ```
//!
//! Terms go through the page tokenizer, so "running shoes" means the terms `run` + `shoe`
//! and fires only when both are on the page.

use super::tokenize::tokenizer;
use super::user_words::UserWords;
use crate::campaign::CampaignError;
use serde::Deserialize;
use std::collections::HashMap;

/// Largest lexicon file read.
pub const MAX_LEXICON_BYTES: u64 = 8 * 1024 * 1024;
/// Most rules (synonym groups + links).
pub const MAX_RULES: usize = 50_000;
/// Most terms in one synonym group or one side of a link.
pub const MAX_RULE_TERMS: usize = 64;
/// Most expansion terms one page gets.
pub const MAX_EXPANSIONS: usize = 128;
/// Terms per lexicon phrase.
const MAX_PHRASE_TERMS: usize = 8;

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LexiconFile {
    #[serde(default)]
    synonyms: Vec<SynonymSpec>,
    #[serde(default)]
    links: Vec<LinkSpec>,
    #[serde(default)]
    cattax: HashMap<String, HashMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SynonymSpec {
    terms: Vec<String>,
    weight: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkSpec {
    need: Vec<String>,
    products: Vec<String>,
    weight: Option<f64>,
}

/// One rule: any trigger phrase present fires it.
#[derive(Debug)]
struct Rule {
    /// Trigger phrases as written.
    trigger_text: Vec<String>,
    /// Product phrases as written (`None`: a synonym group, whose triggers are its terms).
    product_text: Option<Vec<String>>,
    /// Compiled triggers: each a list of terms that must all be on the page.
    triggers: Vec<Vec<String>>,
    /// Compiled expansions: one term per phrase (a user word or phrase term).
    expansions: Vec<String>,
    weight: f32,
}

impl Rule {
    fn new(trigger_text: Vec<String>, product_text: Option<Vec<String>>, weight: f32) -> Self {
        Self {
            trigger_text,
            product_text,
            triggers: Vec::new(),
            expansions: Vec::new(),
            weight,
        }
    }
}

/// The compiled lexicon.
#[derive(Debug, Default)]
pub struct Lexicon {
    rules: Vec<Rule>,
    /// First term of a trigger phrase → (rule, trigger).
    by_first_term: HashMap<String, Vec<(u32, u32)>>,
    /// `cattax` value → (category id → IAB 1.0 code).
    cattax: HashMap<i32, HashMap<String, String>>,
    /// Problems that do not stop loading (stop words dropped from a phrase), to log.
    pub warnings: Vec<String>,
    /// The semantic resource read at start (`[context] semantic`), shared by snapshots.
    pub semantic: Option<std::sync::Arc<super::semantic::Embeddings>>,
}

impl Lexicon {
    /// Compiles lexicon text (TOML); `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, Vec<CampaignError>> {
        let error = |field: String, message: String| CampaignError {
            file: file.to_owned(),
            field,
            message,
        };
        let spec: LexiconFile =
            toml::from_str(text).map_err(|e| vec![error(String::new(), e.message().to_owned())])?;
        let mut errors = Vec::new();
        if spec.synonyms.len() + spec.links.len() > MAX_RULES {
            errors.push(error(String::new(), format!("more than {MAX_RULES} rules")));
        }
        let mut lexicon = Lexicon::default();
        let mut checked: Vec<(String, &[String])> = Vec::new();
        for (i, group) in spec.synonyms.iter().enumerate() {
            let field = format!("synonyms[{i}]");
            let weight = check_weight(group.weight, 0.9, &field, &mut errors, &error);
            let terms_field = format!("{field}.terms");
            check_count(&group.terms, &terms_field, &mut errors, &error);
            checked.push((terms_field, &group.terms));
            lexicon
                .rules
                .push(Rule::new(group.terms.clone(), None, weight));
        }
        for (i, link) in spec.links.iter().enumerate() {
            let field = format!("links[{i}]");
            let weight = check_weight(link.weight, 0.6, &field, &mut errors, &error);
            for (side, terms) in [("need", &link.need), ("products", &link.products)] {
                let side_field = format!("{field}.{side}");
                check_count(terms, &side_field, &mut errors, &error);
                checked.push((side_field, terms));
            }
            let products = Some(link.products.clone());
            lexicon
                .rules
                .push(Rule::new(link.need.clone(), products, weight));
        }
        for (tax, map) in &spec.cattax {
            let field = format!("cattax.{tax}");
            match tax.parse::<i32>() {
                Ok(value) if (2..=1000).contains(&value) => {
                    for (id, code) in map {
                        if super::category::Category::parse(code).is_none() {
                            errors.push(error(
                                format!("{field}.{id}"),
                                format!("{code:?} is not an IAB 1.0 code such as IAB17-3"),
                            ));
                        }
                    }
                    lexicon.cattax.insert(value, map.clone());
                }
                _ => errors.push(error(
                    field,
                    "a taxonomy other than 1 (IAB 1.0 is read as is), such as 6".to_owned(),
                )),
            }
        }
        let mut user = UserWords::default();
        for text in lexicon.phrases() {
            super::tokenize::add_user_text(&mut user, text);
        }
        for (field, terms) in checked {
            for (i, term) in terms.iter().enumerate() {
                let compiled = compile_phrase(term, &user);
                if compiled.is_empty() || compiled.len() > MAX_PHRASE_TERMS {
                    errors.push(error(
                        format!("{field}[{i}]"),
                        format!("{term:?} has no usable word, or more than {MAX_PHRASE_TERMS}"),
                    ));
                } else if let Some(dropped) = stop_word_in(term) {
                    lexicon.warnings.push(format!(
                        "{file}: {field}[{i}] {term:?}: the stop word {dropped:?} is ignored, \
                         so the phrase matches without it"
                    ));
                }
            }
        }
        if errors.is_empty() {
            lexicon.compile(&user);
            Ok(lexicon)
        } else {
            Err(errors)
        }
    }

    /// Every phrase of every rule as written (the snapshot adds them to its user words).
    pub fn phrases(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().flat_map(|rule| {
            rule.trigger_text
                .iter()
                .chain(rule.product_text.iter().flatten())
                .map(String::as_str)
        })
    }

    /// Re-tokenizes every rule with `user` words (the snapshot's), so rules match pages
    /// segmented the same way; a product phrase expands to its one whole term.
    pub fn compile(&mut self, user: &UserWords) {
        self.by_first_term.clear();
        for (index, rule) in self.rules.iter_mut().enumerate() {
            rule.triggers = rule
                .trigger_text
                .iter()
                .map(|text| compile_phrase(text, user))
                .filter(|terms| !terms.is_empty())
                .collect();
            let products = rule.product_text.as_ref().unwrap_or(&rule.trigger_text);
            rule.expansions = products
                .iter()
                .filter_map(|text| whole_term(compile_phrase(text, user)))
                .collect();
            rule.expansions.sort();
            rule.expansions.dedup();
            for (trigger, phrase) in rule.triggers.iter().enumerate() {
                if let Some(first) = phrase.first() {
                    self.by_first_term
                        .entry(first.clone())
                        .or_default()
                        .push((index as u32, trigger as u32));
                }
            }
        }
    }

    /// The synonym groups as compiled, each as its single-term members (the snapshot gives
    /// them one term id, so a group counts once).
    pub fn synonym_groups(&self) -> impl Iterator<Item = Vec<&str>> {
        self.rules
            .iter()
            .filter(|rule| rule.product_text.is_none())
            .map(|rule| {
                rule.triggers
                    .iter()
                    .filter(|t| t.len() == 1)
                    .map(|t| t[0].as_str())
                    .collect()
            })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True when the lexicon has no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Terms the page's terms imply, with the weight of the strongest rule that implied
    /// each, excluding terms already on the page. `page` must be sorted and deduplicated.
    pub fn expand(&self, page: &[&str]) -> Vec<(String, f32)> {
        let mut fired: Vec<u32> = Vec::new();
        for term in page {
            for &(rule, trigger) in self.by_first_term.get(*term).into_iter().flatten() {
                let phrase = &self.rules[rule as usize].triggers[trigger as usize];
                if phrase[1..]
                    .iter()
                    .all(|t| page.binary_search(&t.as_str()).is_ok())
                    && !fired.contains(&rule)
                {
                    fired.push(rule);
                }
            }
        }
        let mut out: Vec<(String, f32)> = Vec::new();
        for rule in fired {
            let rule = &self.rules[rule as usize];
            for term in &rule.expansions {
                if page.binary_search(&term.as_str()).is_ok() {
                    continue;
                }
                match out.iter().position(|(t, _)| t == term) {
                    Some(at) => out[at].1 = out[at].1.max(rule.weight),
                    None if out.len() < MAX_EXPANSIONS => out.push((term.clone(), rule.weight)),
                    None => {}
                }
            }
        }
        out
    }

    /// The IAB 1.0 code a category of taxonomy `cattax` maps to, if the lexicon knows it.
    pub fn map_category(&self, cattax: i32, id: &str) -> Option<&str> {
        self.cattax.get(&cattax)?.get(id).map(String::as_str)
    }
}

fn check_weight(
    weight: Option<f64>,
    default: f64,
    field: &str,
    errors: &mut Vec<CampaignError>,
    error: &impl Fn(String, String) -> CampaignError,
) -> f32 {
    let weight = weight.unwrap_or(default);
    if !(weight.is_finite() && weight > 0.0 && weight <= 1.0) {
        errors.push(error(
            format!("{field}.weight"),
            format!("{weight} is not in (0, 1]"),
        ));
    }
    weight as f32
}

fn check_count(
    terms: &[String],
    field: &str,
    errors: &mut Vec<CampaignError>,
    error: &impl Fn(String, String) -> CampaignError,
) {
    if terms.is_empty() || terms.len() > MAX_RULE_TERMS {
        errors.push(error(
            field.to_owned(),
            format!("1 to {MAX_RULE_TERMS} terms, not {}", terms.len()),
        ));
    }
}

/// The terms of one phrase that must all be on a page: its user word or phrase term when
/// it is one, else its words.
pub fn compile_phrase(text: &str, user: &UserWords) -> Vec<String> {
    let tokens = tokenizer().terms_with_user(text, MAX_PHRASE_TERMS * 2 + 2, user);
    let words: Vec<&String> = tokens.iter().filter(|t| !t.contains(' ')).collect();
    let whole = tokens
        .iter()
        .find(|t| t.contains(' ') && t.split(' ').count() == words.len());
    if let Some(phrase) = whole {
        return vec![phrase.clone()];
    }
    let mut out: Vec<String> = Vec::new();
    for word in words {
        if !out.contains(word) {
            out.push(word.clone());
        }
    }
    out
}

/// A compiled phrase as one expansion term; a phrase of several terms expands to nothing,
/// since its words alone would lift unrelated products.
fn whole_term(terms: Vec<String>) -> Option<String> {
    let mut terms = terms;
    (terms.len() == 1).then(|| terms.remove(0))
}

/// The first English stop word in `text`, if any (phrases match without them).
fn stop_word_in(text: &str) -> Option<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && w.is_ascii())
        .map(str::to_lowercase)
        .find(|w| tokenizer().is_stop_word(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
        [[synonyms]]
        terms = ["跑鞋", "跑步鞋", "running shoes"]
        [[links]]
        need = ["扁平足", "flat feet"]
        products = ["足弓垫", "arch support insoles"]
        weight = 0.7
        [cattax.6]
        "483" = "IAB17"
    "#;

    /// `text` read as a page of a snapshot whose only user words are the lexicon's own.
    fn expand(lexicon: &Lexicon, text: &str) -> Vec<(String, f32)> {
        let mut user = UserWords::default();
        for phrase in lexicon.phrases() {
            crate::context::tokenize::add_user_text(&mut user, phrase);
        }
        let mut page = tokenizer().terms_with_user(text, 64, &user);
        page.sort();
        page.dedup();
        let page: Vec<&str> = page.iter().map(String::as_str).collect();
        lexicon.expand(&page)
    }

    #[test]
    fn a_need_reaches_its_products_in_both_languages() {
        let lexicon = Lexicon::parse(SAMPLE, "t").expect("valid");
        let zh = expand(&lexicon, "扁平足怎么办");
        // Products expand whole: "足弓垫" is one term (not "足弓" + "垫"), and the English
        // product phrase is one phrase term, so "support" alone lifts nothing.
        assert!(zh.iter().any(|(t, w)| t == "足弓垫" && *w == 0.7), "{zh:?}");
        assert!(zh.iter().any(|(t, _)| t == "arch support insol"), "{zh:?}");
        assert!(
            !zh.iter().any(|(t, _)| t == "support" || t == "足弓"),
            "{zh:?}"
        );
        let en = expand(&lexicon, "living with flat feet");
        assert!(en.iter().any(|(t, _)| t == "足弓垫"), "{en:?}");
    }

    #[test]
    fn phrases_fire_only_whole_and_synonyms_bring_each_other() {
        let lexicon = Lexicon::parse(SAMPLE, "t").expect("valid");
        assert!(expand(&lexicon, "flat screen").is_empty());
        assert!(
            expand(&lexicon, "feet that are flat").is_empty(),
            "a phrase is adjacent words"
        );
        let shoes = expand(&lexicon, "best running shoes");
        assert!(
            shoes.iter().any(|(t, w)| t == "跑鞋" && *w == 0.9),
            "{shoes:?}"
        );
        assert!(
            !shoes.iter().any(|(t, _)| t == "run shoe"),
            "already on the page"
        );
        assert_eq!(lexicon.map_category(6, "483"), Some("IAB17"));
        assert_eq!(lexicon.map_category(6, "1"), None);
    }

    #[test]
    fn stop_words_in_phrases_are_warned_about() {
        let text = "[[links]]\nneed = [\"what to wear\"]\nproducts = [\"dress\"]";
        let lexicon = Lexicon::parse(text, "t").expect("valid");
        assert_eq!(lexicon.warnings.len(), 1, "{:?}", lexicon.warnings);
        assert!(
            lexicon.warnings[0].contains("links[0].need[0]"),
            "{:?}",
            lexicon.warnings
        );
        assert!(Lexicon::parse(SAMPLE, "t")
            .expect("valid")
            .warnings
            .is_empty());
    }

    #[test]
    fn bad_lexicons_name_the_field() {
        for (text, field) in [
            ("[[synonyms]]\nterms = []", "synonyms[0].terms"),
            (
                "[[links]]\nneed = [\"a\"]\nproducts = [\"鞋\"]",
                "links[0].need[0]",
            ),
            (
                "[[links]]\nneed = [\"feet\"]\nproducts = [\"鞋\"]\nweight = 2.0",
                "links[0].weight",
            ),
            ("[cattax.6]\n\"1\" = \"sports\"", "cattax.6.1"),
            ("[cattax.x]\n\"1\" = \"IAB1\"", "cattax.x"),
        ] {
            let errors = Lexicon::parse(text, "t").expect_err(text);
            assert_eq!(errors[0].field, field, "{text}: {errors:?}");
        }
        assert!(Lexicon::parse("surprise = 1", "t").is_err());
    }
}
