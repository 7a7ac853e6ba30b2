//! The request's consent and regulation signals, read once: TCF v2.2 (`user.consent`, or
//! `user.ext.consent` of OpenRTB 2.5, or the GPP string's TCF EU v2 section), GPP
//! (`regs.gpp` with `regs.gpp_sid`: US national and state sections, US Privacy), US Privacy
//! (`regs.us_privacy` or `regs.ext.us_privacy`), COPPA, and whether GDPR applies
//! (`regs.gdpr` or `regs.ext.gdpr`, or GPP section 2 in force).
//!
//! GPP, its US sections and US Privacy strings are decoded by the `iab_gpp` crate
//! (Apache-2.0); the TC string (alone, or as the GPP TCF EU v2 section, encoded the same
//! way) by [`tc_string`](super::tc_string), which says why. Both are reduced to what the
//! exchange decides with: purpose and special-feature bits, vendor bitsets, publisher
//! restrictions, and one US opt-out flag.

use crate::memo::{remembered, Memo};
use bidder_sdk::openrtb::{BidRequest, Json};
use iab_gpp::sections::uspv1::{Flag, UspV1};
use iab_gpp::sections::{Section, SectionId};
use iab_gpp::v1::GPPString;
use std::str::FromStr;

use super::tc_string::{self, Core, RestrictionKind, VendorSet};

/// Longest consent or GPP string read (longer ones are not decoded, and count as absent
/// consent).
pub const MAX_STRING_BYTES: usize = 16 * 1024;

/// A TC string, reduced to what decisions read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tcf {
    /// The core segment's fields.
    pub core: Core,
}

/// Purposes a legitimate interest can stand for under TCF v2.2 (not 1, 3, 4, 5, 6).
const LI_PURPOSES: [u8; 6] = [2, 7, 8, 9, 10, 11];

impl Tcf {
    /// Whether `purpose` may be used by `vendor` (`None`: the purposes alone, for a party
    /// without a vendor id of its own): consent to the purpose and the vendor, or for the
    /// purposes that allow it, legitimate interest for both; publisher restrictions win.
    pub fn purpose(&self, purpose: u8, vendor: Option<u16>) -> bool {
        let core = &self.core;
        let bit = |bits: u32| purpose < 32 && bits & (1 << purpose) != 0;
        let listed = |set: &VendorSet| vendor.is_none_or(|v| set.contains(v));
        let treated = purpose == 1 && core.purpose_one_treatment;
        let consent = (bit(core.purpose_consents) || treated) && listed(&core.vendor_consents);
        let interest = LI_PURPOSES.contains(&purpose)
            && bit(core.purpose_legitimate_interests)
            && listed(&core.vendor_legitimate_interests);
        if let Some(vendor) = vendor {
            let restriction = core
                .restrictions
                .iter()
                .find(|r| r.purpose == purpose && r.vendors.contains(vendor));
            match restriction.map(|r| r.kind) {
                Some(RestrictionKind::NotAllowed) => return false,
                Some(RestrictionKind::RequireConsent) => return consent,
                Some(RestrictionKind::RequireLegitimateInterest) => return interest,
                None => {}
            }
        }
        consent || interest
    }

    /// Whether the user opted in to special `feature` and `vendor` has consent.
    pub fn special_feature(&self, feature: u8, vendor: Option<u16>) -> bool {
        feature < 16
            && self.core.special_features & (1 << feature) != 0
            && vendor.is_none_or(|v| self.core.vendor_consents.contains(v))
    }
}

/// What the request says about its user's privacy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Consent {
    /// COPPA applies (`regs.coppa` = 1).
    pub coppa: bool,
    /// GDPR applies.
    pub gdpr: bool,
    /// The TC string, when GDPR applies and one was given and decoded.
    pub tcf: Option<Tcf>,
    /// The user opted out of sale, sharing or targeted advertising (US Privacy, or a GPP US
    /// section in force; a section in force that cannot be read counts as an opt-out).
    pub us_opt_out: bool,
    /// Where the US opt-out came from (`usp`, `gpp:7`, …), for the debug view.
    pub us_source: Option<String>,
    /// What could not be read, in words (bounded).
    pub problems: Vec<String>,
}

/// At most this many problems are kept.
const MAX_PROBLEMS: usize = 8;

/// Strings decoded are remembered per thread (a user's strings repeat on every page they
/// view): a TC string's decode costs ~30k instructions at real size, a GPP US section's
/// ~20k, a repeat a hash and a clone. Past this many entries a memo starts over, so a
/// flood of distinct strings costs decoding, never memory.
const MEMO_ENTRIES: usize = 512;

thread_local! {
    static TC_MEMO: Memo<Box<str>, Result<Tcf, String>> = Memo::default();
    static US_MEMO: Memo<(i32, Box<str>), Result<bool, String>> = Memo::default();
}

impl Consent {
    /// Reads every signal of `request`; `gdpr_default` is whether GDPR applies when the
    /// request does not say.
    pub fn read(request: &BidRequest, gdpr_default: bool) -> Self {
        let mut consent = Self::default();
        let regs = request.regs.as_ref();
        let regs_ext = regs.and_then(|r| r.ext.as_ref());
        consent.coppa = regs.and_then(|r| r.coppa) == Some(1);
        let gdpr_flag = regs.and_then(|r| r.gdpr).or_else(|| {
            regs_ext
                .and_then(|e| e.get("gdpr"))
                .and_then(Json::as_i64)
                .map(|g| g as i32)
        });
        let gpp = regs
            .and_then(|r| r.gpp.as_deref())
            .filter(|g| !g.is_empty());
        let gpp_sid: &[i32] = regs.map_or(&[], |r| r.gpp_sid.as_slice());
        consent.gdpr = match gdpr_flag {
            Some(flag) => flag == 1,
            None => gdpr_default || gpp_sid.contains(&(SectionId::TcfEuV2 as i32)),
        };
        let mut gpp_tcf = None;
        if let Some(text) = gpp {
            consent.read_gpp(text, gpp_sid, &mut gpp_tcf);
        }
        let user = request.user.as_ref();
        let tc_string = user
            .and_then(|u| u.consent.as_deref())
            .or_else(|| {
                user.and_then(|u| u.ext.as_ref())
                    .and_then(|e| e.get("consent"))
                    .and_then(Json::as_str)
            })
            .map(str::trim)
            .filter(|s| !s.is_empty());
        // A TC string decides only where GDPR applies: elsewhere it is not even decoded.
        consent.tcf = match tc_string.filter(|_| consent.gdpr) {
            Some(text) => consent.decode_tcf(text, "user.consent"),
            None => gpp_tcf,
        };
        let us_privacy = regs
            .and_then(|r| r.us_privacy.as_deref())
            .or_else(|| {
                regs_ext
                    .and_then(|e| e.get("us_privacy"))
                    .and_then(Json::as_str)
            })
            .filter(|s| !s.is_empty());
        if let Some(text) = us_privacy {
            consent.read_us_privacy(text, "usp");
        }
        consent
    }

    fn problem(&mut self, text: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(text);
        }
    }

    fn opt_out(&mut self, source: &str) {
        self.us_opt_out = true;
        if self.us_source.is_none() {
            self.us_source = Some(source.to_owned());
        }
    }

    fn decode_tcf(&mut self, text: &str, field: &str) -> Option<Tcf> {
        if text.len() > MAX_STRING_BYTES {
            self.problem(format!("{field}: longer than {MAX_STRING_BYTES} bytes"));
            return None;
        }
        let decoded = remembered(
            &TC_MEMO,
            MEMO_ENTRIES,
            text,
            || Box::from(text),
            || {
                tc_string::decode(text)
                    .map(|core| Tcf { core })
                    .map_err(|e| e.to_string())
            },
        );
        match decoded {
            Ok(tcf) => Some(tcf),
            Err(error) => {
                self.problem(format!("{field}: not a TCF v2 string ({error})"));
                None
            }
        }
    }

    fn read_us_privacy(&mut self, text: &str, source: &str) {
        match UspV1::from_str(text) {
            Ok(usp) => {
                if usp.opt_out_sale == Flag::Yes {
                    self.opt_out(source);
                }
            }
            Err(error) => {
                // Unreadable: the user may have opted out; assume they did.
                self.problem(format!("{source}: not a US Privacy string ({error})"));
                self.opt_out(source);
            }
        }
    }

    fn read_gpp(&mut self, text: &str, sids: &[i32], tcf: &mut Option<Tcf>) {
        if text.len() > MAX_STRING_BYTES {
            self.problem(format!("regs.gpp: longer than {MAX_STRING_BYTES} bytes"));
            if sids.iter().any(|&s| s >= SectionId::UspV1 as i32) {
                self.opt_out("gpp");
            }
            return;
        }
        let gpp = match GPPString::from_str(text) {
            Ok(gpp) => gpp,
            Err(error) => {
                self.problem(format!("regs.gpp: not a GPP string ({error})"));
                if sids.iter().any(|&s| s >= SectionId::UspV1 as i32) {
                    self.opt_out("gpp");
                }
                return;
            }
        };
        let present: Vec<SectionId> = gpp.section_ids().copied().collect();
        for &sid in sids {
            let source = || format!("gpp:{sid}");
            let Some(&id) = present.iter().find(|id| **id as i32 == sid) else {
                // A US section said to be in force but absent: assume the user opted out.
                if sid >= SectionId::UspV1 as i32 {
                    self.problem(format!(
                        "regs.gpp: section {sid} is in gpp_sid but not in the string"
                    ));
                    self.opt_out(&source());
                }
                continue;
            };
            match id {
                SectionId::TcfEuV2 if self.gdpr => {
                    if let Some(section) = gpp.section(id) {
                        *tcf = self.decode_tcf(section, "regs.gpp (TCF EU v2)");
                    }
                }
                SectionId::UspV1 => {
                    if let Some(section) = gpp.section(id) {
                        self.read_us_privacy(section, &source());
                    }
                }
                id if (id as i32) >= SectionId::UsNat as i32 => {
                    let text = gpp.section(id).unwrap_or_default();
                    let key = (sid, Box::from(text));
                    let decided = remembered(
                        &US_MEMO,
                        MEMO_ENTRIES,
                        &key,
                        || key.clone(),
                        || {
                            gpp.decode_section(id)
                                .map(|section| us_section_opts_out(&section))
                                .map_err(|e| e.to_string())
                        },
                    );
                    match decided {
                        Ok(opted_out) => {
                            if opted_out {
                                self.opt_out(&source());
                            }
                        }
                        Err(error) => {
                            self.problem(format!("regs.gpp section {sid}: {error}"));
                            self.opt_out(&source());
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Whether a decoded US national or state section records an opt-out of sale, sharing or
/// targeted advertising, or a Global Privacy Control signal. The sections differ in shape,
/// so their fields are read by name through their serde form.
fn us_section_opts_out(section: &Section) -> bool {
    let Ok(value) = serde_json::to_value(section) else {
        return true;
    };
    fn walk(value: &Json) -> bool {
        match value {
            Json::Object(map) => map.iter().any(|(key, value)| {
                let opted_out = matches!(
                    key.as_str(),
                    "sale_opt_out" | "sharing_opt_out" | "targeted_advertising_opt_out"
                ) && value == "OptedOut";
                let gpc = key == "gpc" && value == &Json::Bool(true);
                opted_out || gpc || walk(value)
            }),
            Json::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    walk(&value)
}
