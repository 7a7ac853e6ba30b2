//! The TC string's core segment (IAB TCF v2, policy versions 2–5), read bit by bit into
//! what decisions need: purposes, special features, vendor consents and legitimate
//! interests as bitsets, publisher restrictions.
//!
//! Why not the `iab_gpp` crate that reads GPP here: its 0.1.2 reads each publisher
//! restriction's vendors as an "optimized range" (a 16-bit maximum and a bitfield flag)
//! where the TCF specification has a plain range (a 12-bit count of single ids and
//! ranges); a TC string with restrictions fails to decode or decodes wrong, while both of
//! the IAB's own libraries read it (checked on the strings of `tests/consent`). It also
//! builds a `BTreeSet` per vendor list; this reader builds bitsets, no allocation per
//! vendor.

use std::fmt;

/// Why a TC string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcError {
    /// Not base64url.
    Encoding,
    /// Ends before a field does.
    Truncated,
    /// The version is not 2.
    Version(u8),
    /// A vendor range runs backwards or past its maximum.
    Range,
}

impl fmt::Display for TcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Encoding => write!(f, "not base64url"),
            Self::Truncated => write!(f, "ends before its last field"),
            Self::Version(v) => write!(f, "version {v}, not 2"),
            Self::Range => write!(f, "a vendor range runs backwards or past its maximum"),
        }
    }
}

/// A set of vendor ids (1..=65535) as bits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VendorSet {
    words: Vec<u64>,
}

impl VendorSet {
    /// Whether `vendor` is in the set.
    pub fn contains(&self, vendor: u16) -> bool {
        self.words
            .get(usize::from(vendor) / 64)
            .is_some_and(|w| w & (1 << (vendor % 64)) != 0)
    }

    fn insert(&mut self, vendor: u16) {
        let word = usize::from(vendor) / 64;
        if self.words.len() <= word {
            self.words.resize(word + 1, 0);
        }
        self.words[word] |= 1 << (vendor % 64);
    }

    /// The ids, ascending.
    pub fn ids(&self) -> Vec<u16> {
        (0..self.words.len() * 64)
            .filter_map(|v| u16::try_from(v).ok())
            .filter(|&v| self.contains(v))
            .collect()
    }
}

/// A publisher restriction's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestrictionKind {
    /// The purpose is not allowed.
    NotAllowed,
    /// Only on consent.
    RequireConsent,
    /// Only on legitimate interest.
    RequireLegitimateInterest,
}

/// One publisher restriction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    /// The purpose restricted.
    pub purpose: u8,
    /// How.
    pub kind: RestrictionKind,
    /// The vendors it applies to.
    pub vendors: VendorSet,
}

/// The core segment, as decisions read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Core {
    /// TCF policy version (4: TCF v2.2).
    pub policy_version: u8,
    /// Bit `p` set: consent to purpose `p`.
    pub purpose_consents: u32,
    /// Bit `p` set: legitimate interest established for purpose `p`.
    pub purpose_legitimate_interests: u32,
    /// Bit `f` set: opted in to special feature `f`.
    pub special_features: u16,
    /// Purpose 1 was not disclosed.
    pub purpose_one_treatment: bool,
    /// Vendors with consent.
    pub vendor_consents: VendorSet,
    /// Vendors with legitimate interest.
    pub vendor_legitimate_interests: VendorSet,
    /// Publisher restrictions.
    pub restrictions: Vec<Restriction>,
}

/// Reads the core segment of `text` (segments after the first `.` are not needed).
pub fn decode(text: &str) -> Result<Core, TcError> {
    let core = text.split('.').next().unwrap_or("");
    let mut bits = Bits::new(core)?;
    let version = bits.read(6)? as u8;
    if version != 2 {
        return Err(TcError::Version(version));
    }
    // Created, LastUpdated, CmpId, CmpVersion, ConsentScreen, ConsentLanguage,
    // VendorListVersion.
    bits.skip(36 + 36 + 12 + 12 + 6 + 12 + 12)?;
    let policy_version = bits.read(6)? as u8;
    // IsServiceSpecific, UseNonStandardTexts.
    bits.skip(2)?;
    let special_features = bitfield(&mut bits, 12)? as u16;
    let purpose_consents = bitfield(&mut bits, 24)?;
    let purpose_legitimate_interests = bitfield(&mut bits, 24)?;
    let purpose_one_treatment = bits.read(1)? == 1;
    bits.skip(12)?; // PublisherCC
    let vendor_consents = vendor_section(&mut bits)?;
    let vendor_legitimate_interests = vendor_section(&mut bits)?;
    let mut restrictions = Vec::new();
    // A string from before restrictions existed may end here.
    if let Ok(count) = bits.read(12) {
        for _ in 0..count {
            let purpose = bits.read(6)? as u8;
            let kind = match bits.read(2)? {
                0 => Some(RestrictionKind::NotAllowed),
                1 => Some(RestrictionKind::RequireConsent),
                2 => Some(RestrictionKind::RequireLegitimateInterest),
                _ => None,
            };
            let vendors = ranges(&mut bits, u16::MAX)?;
            if let Some(kind) = kind {
                restrictions.push(Restriction {
                    purpose,
                    kind,
                    vendors,
                });
            }
        }
    }
    Ok(Core {
        policy_version,
        purpose_consents,
        purpose_legitimate_interests,
        special_features,
        purpose_one_treatment,
        vendor_consents,
        vendor_legitimate_interests,
        restrictions,
    })
}

/// `n` flags, the first for id 1: returned with bit `i` for id `i`.
fn bitfield(bits: &mut Bits<'_>, n: u32) -> Result<u32, TcError> {
    let raw = bits.read(n)? as u32;
    Ok((1..=n).fold(0u32, |out, id| {
        if raw & (1 << (n - id)) != 0 {
            out | (1 << id)
        } else {
            out
        }
    }))
}

/// A vendor consent or legitimate-interest section: MaxVendorId, then a bitfield or
/// ranges.
fn vendor_section(bits: &mut Bits<'_>) -> Result<VendorSet, TcError> {
    let max = bits.read(16)? as u16;
    let is_range = bits.read(1)? == 1;
    if is_range {
        return ranges(bits, max);
    }
    let mut set = VendorSet::default();
    for vendor in 1..=max {
        if bits.read(1)? == 1 {
            set.insert(vendor);
        }
    }
    Ok(set)
}

/// NumEntries (12 bits), each a single id or a range of 16-bit ids, at most `max`.
fn ranges(bits: &mut Bits<'_>, max: u16) -> Result<VendorSet, TcError> {
    let count = bits.read(12)?;
    let mut set = VendorSet::default();
    for _ in 0..count {
        let is_range = bits.read(1)? == 1;
        let start = bits.read(16)? as u16;
        let end = if is_range {
            bits.read(16)? as u16
        } else {
            start
        };
        if start == 0 || end < start || end > max {
            return Err(TcError::Range);
        }
        for vendor in start..=end {
            set.insert(vendor);
        }
    }
    Ok(set)
}

/// A big-endian bit reader over base64url text.
struct Bits<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Bits<'a> {
    fn new(text: &'a str) -> Result<Self, TcError> {
        if text.is_empty() || !text.bytes().all(|b| sextet(b).is_some()) {
            return Err(TcError::Encoding);
        }
        Ok(Self {
            text: text.as_bytes(),
            at: 0,
        })
    }

    fn bit(&self, index: usize) -> Option<u64> {
        let value = sextet(*self.text.get(index / 6)?)?;
        Some(u64::from((value >> (5 - index % 6)) & 1))
    }

    fn read(&mut self, n: u32) -> Result<u64, TcError> {
        let mut out = 0u64;
        for _ in 0..n {
            out = out << 1 | self.bit(self.at).ok_or(TcError::Truncated)?;
            self.at += 1;
        }
        Ok(out)
    }

    fn skip(&mut self, n: usize) -> Result<(), TcError> {
        if self.at + n > self.text.len() * 6 {
            return Err(TcError::Truncated);
        }
        self.at += n;
        Ok(())
    }
}

/// The value of one base64url character.
fn sextet(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}
