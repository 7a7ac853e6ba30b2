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

    /// Sets `start..=end`, a word at a time (a range of every id costs 1,024 writes, not
    /// 65,535).
    fn insert_range(&mut self, start: u16, end: u16) {
        let (first, last) = (usize::from(start), usize::from(end));
        if self.words.len() <= last / 64 {
            self.words.resize(last / 64 + 1, 0);
        }
        for word in first / 64..=last / 64 {
            let low = if word == first / 64 { first % 64 } else { 0 };
            let high = if word == last / 64 { last % 64 } else { 63 };
            let mask = (u64::MAX >> (63 - high)) & (u64::MAX << low);
            self.words[word] |= mask;
        }
    }

    /// Sets the vendors `first..first + 64` whose bits are set in `bits` (bit 0: `first`).
    fn insert_word(&mut self, first: u16, bits: u64) {
        if bits == 0 {
            return;
        }
        let word = usize::from(first) / 64;
        let shift = u32::from(first % 64);
        if self.words.len() < word + 2 {
            self.words.resize(word + 2, 0);
        }
        self.words[word] |= bits << shift;
        if shift > 0 {
            self.words[word + 1] |= bits >> (64 - shift);
        }
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
fn bitfield(bits: &mut Bits, n: u32) -> Result<u32, TcError> {
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
fn vendor_section(bits: &mut Bits) -> Result<VendorSet, TcError> {
    let max = bits.read(16)? as u16;
    let is_range = bits.read(1)? == 1;
    if is_range {
        return ranges(bits, max);
    }
    // 64 flags at a time: the first flag read is the lowest vendor of the chunk.
    let mut set = VendorSet {
        words: vec![0; usize::from(max) / 64 + 2],
    };
    let mut first: u32 = 1;
    while first <= u32::from(max) {
        let n = (u32::from(max) - first + 1).min(64);
        let raw = bits.read(n)?;
        let lowest_first = raw.reverse_bits() >> (64 - n);
        set.insert_word(first as u16, lowest_first);
        first += n;
    }
    Ok(set)
}

/// NumEntries (12 bits), each a single id or a range of 16-bit ids, at most `max`.
fn ranges(bits: &mut Bits, max: u16) -> Result<VendorSet, TcError> {
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
        set.insert_range(start, end);
    }
    Ok(set)
}

/// A big-endian bit reader over base64url text, decoded once into bytes.
struct Bits {
    bytes: Vec<u8>,
    at: usize,
}

impl Bits {
    fn new(text: &str) -> Result<Self, TcError> {
        if text.is_empty() {
            return Err(TcError::Encoding);
        }
        let mut bytes = Vec::with_capacity(text.len() * 3 / 4 + 1);
        let (mut acc, mut held) = (0u32, 0u32);
        for c in text.bytes() {
            acc = acc << 6 | u32::from(sextet(c).ok_or(TcError::Encoding)?);
            held += 6;
            if held >= 8 {
                held -= 8;
                bytes.push((acc >> held) as u8);
                acc &= (1 << held) - 1;
            }
        }
        if held > 0 {
            bytes.push((acc << (8 - held)) as u8);
        }
        Ok(Self { bytes, at: 0 })
    }

    /// The next `n` (≤ 64) bits, the first read the most significant.
    fn read(&mut self, n: u32) -> Result<u64, TcError> {
        if self.at + n as usize > self.bytes.len() * 8 {
            return Err(TcError::Truncated);
        }
        let mut out = 0u64;
        let mut left = n;
        while left > 0 {
            let byte = self.bytes[self.at / 8];
            let offset = (self.at % 8) as u32;
            let take = left.min(8 - offset);
            let chunk = (u32::from(byte) >> (8 - offset - take)) & ((1 << take) - 1);
            out = out << take | u64::from(chunk);
            self.at += take as usize;
            left -= take;
        }
        Ok(out)
    }

    fn skip(&mut self, n: usize) -> Result<(), TcError> {
        if self.at + n > self.bytes.len() * 8 {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_set_exactly_their_ids_and_bad_strings_are_named() {
        let mut set = VendorSet::default();
        set.insert_range(60, 130);
        set.insert_range(5, 5);
        set.insert_range(65_500, 65_535);
        let ids = set.ids();
        assert_eq!(ids.len(), 71 + 1 + 36);
        assert!(set.contains(60) && set.contains(130) && set.contains(5) && set.contains(65_535));
        assert!(!set.contains(59) && !set.contains(131) && !set.contains(4));
        let mut words = VendorSet::default();
        words.insert_word(1, 0b1011);
        assert_eq!(words.ids(), [1, 2, 4]);
        words.insert_word(63, 0b11);
        assert_eq!(words.ids(), [1, 2, 4, 63, 64]);
        assert_eq!(decode(""), Err(TcError::Encoding));
        assert_eq!(decode("CP*X"), Err(TcError::Encoding));
        assert_eq!(decode("CPXxRf"), Err(TcError::Truncated));
        // Version 1 (a TCF v1 string's first six bits are 000001).
        assert_eq!(
            decode("BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA"),
            Err(TcError::Version(1))
        );
    }
}
