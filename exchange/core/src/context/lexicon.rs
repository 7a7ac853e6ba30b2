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

/// One compiled rule: any trigger phrase present fires it.
#[derive(Debug)]
struct Rule {
    triggers: Vec<Vec<String>>,
    expansions: Vec<String>,
    weight: f32,
}

/// The compiled lexicon.
#[derive(Debug, Default)]
pub struct Lexicon {
    rules: Vec<Rule>,
    /// First term of a trigger phrase → (rule, trigger).
    by_first_term: HashMap<String, Vec<(u32, u32)>>,
    /// `cattax` value → (category id → IAB 1.0 code).
    cattax: HashMap<i32, HashMap<String, String>>,
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
        for (i, group) in spec.synonyms.iter().enumerate() {
            let field = format!("synonyms[{i}]");
            let weight = check_weight(group.weight, 0.9, &field, &mut errors, &error);
            let triggers = phrases(&group.terms, &format!("{field}.terms"), &mut errors, &error);
            let expansions = triggers.iter().flatten().cloned().collect();
            lexicon.push(triggers, expansions, weight);
        }
        for (i, link) in spec.links.iter().enumerate() {
            let field = format!("links[{i}]");
            let weight = check_weight(link.weight, 0.6, &field, &mut errors, &error);
            let triggers = phrases(&link.need, &format!("{field}.need"), &mut errors, &error);
            let products = phrases(
                &link.products,
                &format!("{field}.products"),
                &mut errors,
                &error,
            );
            lexicon.push(triggers, products.into_iter().flatten().collect(), weight);
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
        if errors.is_empty() {
            Ok(lexicon)
        } else {
            Err(errors)
        }
    }

    fn push(&mut self, triggers: Vec<Vec<String>>, mut expansions: Vec<String>, weight: f32) {
        expansions.sort();
        expansions.dedup();
        let rule = self.rules.len() as u32;
        for (trigger, phrase) in triggers.iter().enumerate() {
            if let Some(first) = phrase.first() {
                self.by_first_term
                    .entry(first.clone())
                    .or_default()
                    .push((rule, trigger as u32));
            }
        }
        self.rules.push(Rule {
            triggers,
            expansions,
            weight,
        });
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

fn phrases(
    terms: &[String],
    field: &str,
    errors: &mut Vec<CampaignError>,
    error: &impl Fn(String, String) -> CampaignError,
) -> Vec<Vec<String>> {
    if terms.is_empty() || terms.len() > MAX_RULE_TERMS {
        errors.push(error(
            field.to_owned(),
            format!("1 to {MAX_RULE_TERMS} terms, not {}", terms.len()),
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (i, term) in terms.iter().enumerate() {
        let tokens = tokenizer().terms(term, MAX_PHRASE_TERMS + 1);
        if tokens.is_empty() || tokens.len() > MAX_PHRASE_TERMS {
            errors.push(error(
                format!("{field}[{i}]"),
                format!("{term:?} has no usable word, or more than {MAX_PHRASE_TERMS}"),
            ));
        } else {
            out.push(tokens);
        }
    }
    out
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

    fn expand(lexicon: &Lexicon, text: &str) -> Vec<(String, f32)> {
        let mut page = tokenizer().terms(text, 64);
        page.sort();
        page.dedup();
        let page: Vec<&str> = page.iter().map(String::as_str).collect();
        lexicon.expand(&page)
    }

    #[test]
    fn a_need_reaches_its_products_in_both_languages() {
        let lexicon = Lexicon::parse(SAMPLE, "t").expect("valid");
        let zh = expand(&lexicon, "扁平足怎么办");
        // "足弓垫" segments into "足弓" + "垫": matching works on the same terms both sides.
        assert!(zh.iter().any(|(t, w)| t == "足弓" && *w == 0.7), "{zh:?}");
        assert!(zh.iter().any(|(t, _)| t == "insol"), "{zh:?}");
        let en = expand(&lexicon, "living with flat feet");
        assert!(en.iter().any(|(t, _)| t == "足弓"), "{en:?}");
    }

    #[test]
    fn phrases_fire_only_whole_and_synonyms_bring_each_other() {
        let lexicon = Lexicon::parse(SAMPLE, "t").expect("valid");
        assert!(expand(&lexicon, "flat screen").is_empty());
        let shoes = expand(&lexicon, "best running shoes");
        assert!(
            shoes.iter().any(|(t, w)| t == "跑鞋" && *w == 0.9),
            "{shoes:?}"
        );
        assert!(
            !shoes.iter().any(|(t, _)| t == "shoe"),
            "already on the page"
        );
        assert_eq!(lexicon.map_category(6, "483"), Some("IAB17"));
        assert_eq!(lexicon.map_category(6, "1"), None);
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
