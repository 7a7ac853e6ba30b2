//! `[privacy]`: how consent is read and enforced (`exchange_core::privacy`): whether GDPR
//! applies when a request does not say, the exchange's own TCF vendor id, and the
//! operator's activity rules (Prebid's activity controls, which here can only take
//! permissions away).

use crate::privacy::{Activity, PrivacySettings, Rule, Rules};
use serde::Deserialize;

/// Most activity rules.
pub const MAX_RULES: usize = 64;

/// One `[[privacy.rules]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// `fetchBids`, `transmitUfpd`, `transmitEids`, `transmitPreciseGeo`, `useUserData`,
    /// `stableId`, or `*` for every one.
    pub activity: String,
    /// Parties it applies to: bidder names, `exchange` for the exchange's own campaigns;
    /// empty: all.
    #[serde(default)]
    pub parties: Vec<String>,
    /// Publishers (`site/app.publisher.id`) it applies to; empty: all.
    #[serde(default)]
    pub publishers: Vec<String>,
    /// Applies only when one of these GPP sections is in `regs.gpp_sid`; empty: always.
    #[serde(default)]
    pub gpp_sid: Vec<i32>,
    /// Must be `false`: a rule takes the activity away (consent is never overridden).
    pub allow: bool,
}

/// Privacy settings.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// GDPR applies to requests that do not say (`regs.gdpr` absent and no GPP section 2
    /// in force).
    pub gdpr_default: bool,
    /// The exchange's own TCF vendor id (its campaigns' purposes are checked for it); none:
    /// the purposes alone.
    pub vendor_id: Option<u16>,
    /// Activity rules, in order.
    pub rules: Vec<RuleConfig>,
}

impl PrivacyConfig {
    /// Checks the rules.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.rules.len() > MAX_RULES {
            return Err((
                "privacy.rules".to_owned(),
                format!("at most {MAX_RULES} rules"),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let field = |key: &str| format!("privacy.rules[{i}].{key}");
            if rule.activity != "*" && Activity::parse(&rule.activity).is_none() {
                let names: Vec<&str> = Activity::ALL.iter().map(|a| a.as_str()).collect();
                return Err((
                    field("activity"),
                    format!("{:?}: one of {} or *", rule.activity, names.join(", ")),
                ));
            }
            if rule.allow {
                return Err((
                    field("allow"),
                    "rules only take activities away: allow = false (consent and \
                     regulation decide what is allowed)"
                        .to_owned(),
                ));
            }
            let too_long = |list: &[String]| {
                list.len() > 256 || list.iter().any(|s| s.is_empty() || s.len() > 64)
            };
            if too_long(&rule.parties) || too_long(&rule.publishers) || rule.gpp_sid.len() > 32 {
                return Err((
                    field("parties"),
                    "lists of at most 256 names of 1-64 bytes".to_owned(),
                ));
            }
        }
        Ok(())
    }

    /// The settings the core reads (`contextual_only` from `[context]`).
    pub fn settings(&self, contextual_only: bool) -> PrivacySettings {
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| Rule {
                activity: Activity::parse(&rule.activity),
                parties: rule.parties.clone(),
                publishers: rule.publishers.clone(),
                gpp_sids: rule.gpp_sid.clone(),
                // Built once per config load, at most MAX_RULES: the reason the debug
                // view shows ("privacy.rules[2]").
                label: Box::leak(format!("privacy.rules[{i}]").into_boxed_str()),
            })
            .collect();
        PrivacySettings {
            gdpr_default: self.gdpr_default,
            vendor_id: self.vendor_id,
            contextual_only,
            rules: Rules { rules },
        }
    }
}
