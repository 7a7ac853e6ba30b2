//! What the page says, read once per request: weighted terms from every text signal,
//! the lexicon's expansions of them, and the page's IAB categories.
//!
//! Text signals, strongest first (the term limit drops the weakest):
//!
//! | signal | weight |
//! | --- | --- |
//! | `site.search`, `site.ext.context.query`, `app.ext.context.query`, `imp[].ext.context.query` | 1.0 |
//! | `site.keywords`/`kwarray`, `app.keywords`/`kwarray`, `content.keywords`/`kwarray`, `content.title` | 1.0 |
//! | `site.page` (URL path words, percent-decoded) | 0.8 |
//! | `site.ext.context.text`, `app.ext.context.text` (page text or an excerpt) | 0.6 |
//! | `site.name`, `app.name` | 0.5 |
//! | `app.bundle` (dot-separated words) | 0.3 |
//!
//! Categories: `site`/`app` `cat`, `pagecat`, `sectioncat` and `content.cat`, read as
//! IAB 1.0 when the object's `cattax` is absent or 1, else mapped through the lexicon's
//! `cattax` tables (unmapped ones are ignored).

use super::category::Category;
use super::index::{ContextIndex, TermId};
use super::semantic::normalised;
use super::tokenize::tokenizer;
use super::user_words::UserWords;
use crate::memo::{remembered_if, Memo};
use bidder_sdk::openrtb::BidRequest;
use serde_json::Value as Json;
use std::rc::Rc;

/// Most page categories read.
pub const MAX_CATEGORIES: usize = 32;
/// Most imps whose `ext.context.query` is read.
const MAX_IMP_QUERIES: usize = 8;

/// The page as the auction sees it.
#[derive(Debug, Default, Clone)]
pub struct PageContext {
    /// Terms on the page with their signal weight, sorted by term, unique.
    pub terms: Vec<(String, f32)>,
    /// Terms the lexicon adds, with the rule's weight (not on the page).
    pub expansions: Vec<(String, f32)>,
    /// IAB 1.0 categories of the page.
    pub categories: Vec<Category>,
}

impl PageContext {
    /// Reads `request`, at most `max_terms` terms; `index` supplies the lexicon.
    pub fn extract(request: &BidRequest, index: &ContextIndex, max_terms: usize) -> Self {
        let site = request.site.as_ref();
        let app = request.app.as_ref();
        let content = site
            .and_then(|s| s.content.as_ref())
            .or_else(|| app.and_then(|a| a.content.as_ref()));
        let mut reader = TermReader {
            weighted: Vec::new(),
            scratch: Vec::new(),
            max_terms,
            user_words: &index.user_words,
        };
        let site_ext = site.and_then(|s| s.ext.as_ref());
        let app_ext = app.and_then(|a| a.ext.as_ref());
        reader.read(site.and_then(|s| s.search.as_deref()), 1.0);
        for ext in [site_ext, app_ext] {
            reader.read(context_field(ext, "query"), 1.0);
        }
        for imp in request.imp.iter().take(MAX_IMP_QUERIES) {
            reader.read(context_field(imp.ext.as_ref(), "query"), 1.0);
        }
        for csv in [
            site.and_then(|s| s.keywords.as_deref()),
            app.and_then(|a| a.keywords.as_deref()),
            content.and_then(|c| c.keywords.as_deref()),
            content.and_then(|c| c.title.as_deref()),
        ] {
            reader.read(csv, 1.0);
        }
        for list in [
            site.map(|s| &s.kwarray),
            app.map(|a| &a.kwarray),
            content.map(|c| &c.kwarray),
        ]
        .into_iter()
        .flatten()
        {
            for word in list.iter().take(64) {
                reader.read(Some(word), 1.0);
            }
        }
        if let Some(page) = site.and_then(|s| s.page.as_deref()) {
            let path = url_path_words(page);
            reader.read(Some(&path), 0.8);
        }
        for ext in [site_ext, app_ext] {
            reader.read(context_field(ext, "text"), 0.6);
        }
        reader.read(site.and_then(|s| s.name.as_deref()), 0.5);
        reader.read(app.and_then(|a| a.name.as_deref()), 0.5);
        if let Some(bundle) = app.and_then(|a| a.bundle.as_deref()) {
            reader.read(Some(&bundle.replace(['.', '_'], " ")), 0.3);
        }
        let mut terms = reader.weighted;
        terms.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        terms.dedup_by(|later, kept| later.0 == kept.0);
        let sorted: Vec<&str> = terms.iter().map(|(t, _)| t.as_str()).collect();
        let expansions = index.lexicon.expand(&sorted);
        Self {
            terms,
            expansions,
            categories: categories(request, index),
        }
    }

    /// True when the page said anything the auction can use.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.categories.is_empty()
    }
}

/// The page in the snapshot's vocabulary: what relevance is computed from.
#[derive(Debug, Default, Clone)]
pub struct PageTerms {
    /// (term, weight) of page terms and expansions the vocabulary knows, sorted by term.
    pub query: Vec<(TermId, f32)>,
    /// Terms on the page itself (not expansions), sorted.
    pub direct: Vec<TermId>,
    /// The unit mean vector of the page's terms in the semantic resource (none: no
    /// resource or no known word).
    pub vector: Option<Box<[f32]>>,
}

impl PageTerms {
    /// Maps `page` onto `index`'s vocabulary.
    pub fn new(page: &PageContext, index: &ContextIndex) -> Self {
        let mut query = Vec::with_capacity(page.terms.len() + page.expansions.len());
        let mut direct = Vec::with_capacity(page.terms.len());
        for (term, weight) in &page.terms {
            if let Some(id) = index.term(term) {
                query.push((id, *weight));
                direct.push(id);
            }
        }
        for (term, weight) in &page.expansions {
            if let Some(id) = index.term(term) {
                query.push((id, *weight));
            }
        }
        query.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        query.dedup_by(|later, kept| later.0 == kept.0);
        direct.sort_unstable();
        let vector = index.semantic().and_then(|semantic| {
            let mut sum = vec![0.0f32; semantic.dimensions()];
            let mut known = false;
            for (term, weight) in &page.terms {
                known |= semantic.add_to(term, *weight, &mut sum);
            }
            known.then(|| normalised(sum)).flatten()
        });
        Self {
            query,
            direct,
            vector,
        }
    }
}

struct TermReader<'u> {
    weighted: Vec<(String, f32)>,
    scratch: Vec<String>,
    max_terms: usize,
    user_words: &'u UserWords,
}

impl TermReader<'_> {
    fn read(&mut self, text: Option<&str>, weight: f32) {
        let Some(text) = text else { return };
        let room = self.max_terms.saturating_sub(self.weighted.len());
        if room == 0 {
            return;
        }
        match read_before(text, self.user_words) {
            Some(terms) if terms.len() <= room => {
                self.weighted
                    .extend(terms.iter().map(|term| (term.clone(), weight)));
            }
            _ => {
                self.scratch.clear();
                tokenizer().terms_with(text, &mut self.scratch, room, self.user_words);
                self.weighted
                    .extend(self.scratch.drain(..).map(|term| (term, weight)));
            }
        }
    }
}

/// Longest page string whose terms are remembered (titles, keyword lists, names, URL
/// paths; longer page texts are read each time).
const MAX_REMEMBERED_TEXT_BYTES: usize = 256;
/// Most page strings remembered per thread.
const REMEMBERED_TEXTS: usize = 1024;

thread_local! {
    /// Page strings read before on this thread: the version of the user words they were
    /// read with, and every term (no limit).
    static READ_BEFORE: Memo<Box<str>, (u64, Rc<[String]>)> = Memo::default();
}

/// Every term of `text` with `user` words (no limit), remembered: titles, keyword lists
/// and site names repeat across a site's requests. `None` for a text too long to keep.
///
/// When these are no more than the room left, they are exactly what reading `text` with
/// that limit gives: the limit only ever drops terms past it.
fn read_before(text: &str, user: &UserWords) -> Option<Rc<[String]>> {
    if text.len() > MAX_REMEMBERED_TEXT_BYTES {
        return None;
    }
    let version = user.version();
    let (_, terms) = remembered_if(
        &READ_BEFORE,
        REMEMBERED_TEXTS,
        text,
        || Box::from(text),
        |(made_with, _)| *made_with == version,
        || {
            let mut terms = Vec::new();
            tokenizer().terms_with(text, &mut terms, usize::MAX, user);
            (version, Rc::from(terms))
        },
    );
    Some(terms)
}

/// `ext.context.<field>` when it is a string.
fn context_field<'a>(ext: Option<&'a Json>, field: &str) -> Option<&'a str> {
    ext?.get("context")?.get(field)?.as_str()
}

/// The words of a URL's path (no scheme, host, query or fragment), percent-decoded.
fn url_path_words(url: &str) -> String {
    let url = super::tokenize::truncate(url, 2048);
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("", |at| &after_scheme[at..]);
    let path = path.split(['?', '#']).next().unwrap_or("");
    let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
    decoded.replace(['/', '-', '_', '.', '+'], " ")
}

/// The page's IAB 1.0 categories (other taxonomies mapped by the lexicon), most specific
/// list first, at most [`MAX_CATEGORIES`].
pub(crate) fn categories(request: &BidRequest, index: &ContextIndex) -> Vec<Category> {
    let mut out = Vec::new();
    let mut read = |codes: &[String], cattax: Option<i32>| {
        for code in codes {
            if out.len() >= MAX_CATEGORIES {
                return;
            }
            let category = match cattax.unwrap_or(1) {
                1 => Category::parse(code),
                tax => index
                    .lexicon
                    .map_category(tax, code)
                    .and_then(Category::parse),
            };
            if let Some(category) = category.filter(|c| !out.contains(c)) {
                out.push(category);
            }
        }
    };
    if let Some(site) = &request.site {
        for list in [&site.pagecat, &site.sectioncat, &site.cat] {
            read(list, site.cattax);
        }
        if let Some(content) = &site.content {
            read(&content.cat, content.cattax);
        }
    }
    if let Some(app) = &request.app {
        for list in [&app.pagecat, &app.sectioncat, &app.cat] {
            read(list, app.cattax);
        }
        if let Some(content) = &app.content {
            read(&content.cat, content.cattax);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_terms_are_the_terms_read_with_every_limit() {
        let mut user = UserWords::default();
        user.add_han("辅食机");
        user.add_han("降噪耳机");
        user.add_phrase(&["power".to_owned(), "bank".to_owned()]);
        let texts = [
            "宝宝辅食机推荐 power bank for kids, 降噪耳机 and running shoes 2026",
            "How to choose newborn diapers: 10 brands tested",
            "新生儿纸尿裤怎么选？十款实测对比",
            "",
        ];
        for text in texts {
            let mut every = Vec::new();
            tokenizer().terms_with(text, &mut every, usize::MAX, &user);
            for room in 0..every.len() + 3 {
                for _ in 0..2 {
                    let mut reader = TermReader {
                        weighted: Vec::new(),
                        scratch: Vec::new(),
                        max_terms: room,
                        user_words: &user,
                    };
                    reader.read(Some(text), 1.0);
                    let mut direct = Vec::new();
                    tokenizer().terms_with(text, &mut direct, room, &user);
                    let read: Vec<String> = reader.weighted.into_iter().map(|(t, _)| t).collect();
                    assert_eq!(read, direct, "{text:?} with room for {room}");
                }
            }
        }
        // New user words are a new version: the remembered terms are not reused.
        let text = "辅食机 and 降噪耳机";
        let before = read_before(text, &user).expect("short");
        user.add_han("耳机");
        let after = read_before(text, &user).expect("short");
        let mut direct = Vec::new();
        tokenizer().terms_with(text, &mut direct, usize::MAX, &user);
        assert_eq!(*after, *direct);
        assert_ne!(*before, *after, "耳机 is now a user word inside 降噪耳机");
    }

    #[test]
    fn url_paths_give_their_words() {
        assert_eq!(
            url_path_words(
                "https://m.example.cn/zh/%E8%B7%91%E9%9E%8B/best-running_shoes.html?x=1#a"
            ),
            " zh 跑鞋 best running shoes html"
        );
        assert_eq!(url_path_words("example.com"), "");
    }
}
