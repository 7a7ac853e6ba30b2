//! IAB 1.0 content categories (`IAB17`, `IAB17-3`) and how closely two of them match:
//! the same category fully, a parent and its child partly, two children of one parent
//! (siblings) less.

/// Match weight of a parent and its child.
pub const PARENT_MATCH: f32 = 0.6;
/// Match weight of two children of one parent.
pub const SIBLING_MATCH: f32 = 0.3;

/// A parsed IAB 1.0 category: tier-1 number and optional tier-2 number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Category {
    /// `17` in `IAB17-3`.
    pub tier1: u16,
    /// `3` in `IAB17-3`.
    pub tier2: Option<u16>,
}

impl Category {
    /// Parses `IAB<n>` or `IAB<n>-<m>` (case-insensitive); `None` for anything else.
    pub fn parse(code: &str) -> Option<Self> {
        let rest = code
            .get(..3)
            .filter(|p| p.eq_ignore_ascii_case("iab"))
            .and(code.get(3..))?;
        let (tier1, tier2) = match rest.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (rest, None),
        };
        let number = |s: &str| {
            (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u16>().ok())
                .flatten()
        };
        Some(Self {
            tier1: number(tier1)?,
            tier2: match tier2 {
                Some(b) => Some(number(b)?),
                None => None,
            },
        })
    }

    /// How closely `self` (the page's) matches `other` (the ad's), 0..=1.
    pub fn similarity(self, other: Category) -> f32 {
        if self.tier1 != other.tier1 {
            0.0
        } else if self.tier2 == other.tier2 {
            1.0
        } else if self.tier2.is_none() || other.tier2.is_none() {
            PARENT_MATCH
        } else {
            SIBLING_MATCH
        }
    }

    /// Whether `self` is `other` or falls under it (`IAB25-3` under `IAB25`).
    pub fn within(self, other: Category) -> bool {
        self.tier1 == other.tier1 && (other.tier2.is_none() || self.tier2 == other.tier2)
    }
}

/// The best match between any page category and any ad category.
pub fn best_match(page: &[Category], ad: &[Category]) -> f32 {
    let mut best = 0.0f32;
    for p in page {
        for a in ad {
            best = best.max(p.similarity(*a));
        }
    }
    best
}

/// IAB 1.0 tier-1 categories: `IAB1` to `IAB26`.
pub const TIER1: u16 = 26;

/// A tier-1 number as URLs carry it (`8`); `None` past the tier-1 list.
pub fn category_text(key: u16) -> Option<&'static str> {
    const TEXT: [&str; TIER1 as usize] = [
        "1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16",
        "17", "18", "19", "20", "21", "22", "23", "24", "25", "26",
    ];
    TEXT.get(usize::from(key).checked_sub(1)?).copied()
}

/// Reads a tier-1 number back from a URL (`8`); `None` for anything else.
pub fn category_from_text(text: &str) -> Option<u16> {
    let key: u16 = text.parse().ok()?;
    category_text(key).filter(|t| *t == text).map(|_| key)
}

/// The label of a tier-1 number in reports (`IAB8`).
pub fn category_label(key: u16) -> String {
    format!("IAB{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(code: &str) -> Category {
        Category::parse(code).expect(code)
    }

    #[test]
    fn codes_parse_and_others_do_not() {
        assert_eq!(
            c("IAB17-3"),
            Category {
                tier1: 17,
                tier2: Some(3)
            }
        );
        assert_eq!(
            c("iab6"),
            Category {
                tier1: 6,
                tier2: None
            }
        );
        for bad in [
            "IAB", "IAB-1", "IAB1-", "IABx", "483", "IAB1-2-3", "IAB99999", "ＩAB1",
        ] {
            assert_eq!(Category::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn exact_parent_and_sibling_match_in_that_order() {
        assert_eq!(c("IAB17-3").similarity(c("IAB17-3")), 1.0);
        assert_eq!(c("IAB17").similarity(c("IAB17-3")), PARENT_MATCH);
        assert_eq!(c("IAB17-3").similarity(c("IAB17")), PARENT_MATCH);
        assert_eq!(c("IAB17-3").similarity(c("IAB17-4")), SIBLING_MATCH);
        assert_eq!(c("IAB17-3").similarity(c("IAB18-3")), 0.0);
        assert_eq!(
            best_match(&[c("IAB1"), c("IAB17-4")], &[c("IAB17-3")]),
            SIBLING_MATCH
        );
        assert!(c("IAB25-3").within(c("IAB25")));
        assert!(!c("IAB25").within(c("IAB25-3")));
    }
}
