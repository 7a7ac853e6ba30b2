//! One targeting dimension: key → campaigns, stored sparse or dense by size.

use fixedbitset::FixedBitSet;
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Campaigns for one key: a sorted id list when short, a bitset when long, whichever is
/// cheaper to merge into a request's mask.
#[derive(Debug)]
enum Posting {
    Sparse(Vec<u32>),
    Dense(FixedBitSet),
}

/// A targeting dimension.
#[derive(Debug)]
pub struct Dimension<K> {
    unconstrained: FixedBitSet,
    postings: HashMap<K, Posting>,
}

/// Collects a dimension while the index is built.
#[derive(Debug)]
pub struct DimensionBuilder<K> {
    len: usize,
    unconstrained: FixedBitSet,
    postings: HashMap<K, Vec<u32>>,
}

impl<K: Hash + Eq> DimensionBuilder<K> {
    /// A builder for `len` campaigns.
    pub fn new(len: usize) -> Self {
        Self {
            len,
            unconstrained: FixedBitSet::with_capacity(len),
            postings: HashMap::new(),
        }
    }

    /// Campaign `id` does not constrain this dimension.
    pub fn unconstrained(&mut self, id: u32) {
        self.unconstrained.insert(id as usize);
    }

    /// Campaign `id` targets `key`. Ids must arrive in increasing order. The key is
    /// copied only the first time it is seen.
    pub fn add<Q>(&mut self, key: &Q, id: u32)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let list = match self.postings.get_mut(key) {
            Some(list) => list,
            None => self.postings.entry(key.to_owned()).or_default(),
        };
        if list.last() != Some(&id) {
            list.push(id);
        }
    }

    /// Freezes the dimension, choosing each posting's representation.
    pub fn finish(self) -> Dimension<K> {
        let len = self.len;
        let postings = self
            .postings
            .into_iter()
            .map(|(key, ids)| {
                // Setting one bit per id costs about as much as OR-ing one 64-bit word.
                let posting = if ids.len() * 64 > len {
                    let mut bits = FixedBitSet::with_capacity(len);
                    bits.extend(ids.iter().map(|&id| id as usize));
                    Posting::Dense(bits)
                } else {
                    Posting::Sparse(ids)
                };
                (key, posting)
            })
            .collect();
        Dimension {
            unconstrained: self.unconstrained,
            postings,
        }
    }
}

impl<K: Hash + Eq> Dimension<K> {
    /// Writes into `mask` the campaigns admitted for a request with these `keys`
    /// (unconstrained ones, plus those targeting any of the keys).
    pub fn mask_into<'k, Q>(&self, keys: impl IntoIterator<Item = &'k Q>, mask: &mut FixedBitSet)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + 'k,
    {
        mask.clone_from(&self.unconstrained);
        for key in keys {
            self.union_key(key, mask);
        }
    }

    /// ORs the campaigns targeting `key` into `mask`.
    pub fn union_key<Q>(&self, key: &Q, mask: &mut FixedBitSet)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.postings.get(key) {
            Some(Posting::Dense(bits)) => mask.union_with(bits),
            Some(Posting::Sparse(ids)) => {
                for &id in ids {
                    mask.insert(id as usize);
                }
            }
            None => {}
        }
    }

    /// Whether campaign `id` is admitted for these `keys` (the per-campaign form of
    /// [`Self::mask_into`], used by the debug view).
    pub fn admits<'k, Q>(&self, keys: impl IntoIterator<Item = &'k Q>, id: u32) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized + 'k,
    {
        self.unconstrained.contains(id as usize)
            || keys.into_iter().any(|key| match self.postings.get(key) {
                Some(Posting::Dense(bits)) => bits.contains(id as usize),
                Some(Posting::Sparse(ids)) => ids.binary_search(&id).is_ok(),
                None => false,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_admits_agree_for_sparse_and_dense_postings() {
        let len = 1_000;
        let mut builder = DimensionBuilder::new(len);
        for id in 0..len as u32 {
            match id % 10 {
                0 => builder.unconstrained(id),
                1..=7 => builder.add("CHN", id), // dense: 700 ids
                _ if id < 100 => builder.add("USA", id), // sparse: 20 ids
                _ => {}
            }
        }
        let dimension = builder.finish();
        for keys in [
            vec![],
            vec!["CHN"],
            vec!["USA"],
            vec!["USA", "CHN"],
            vec!["FRA"],
        ] {
            let mut mask = FixedBitSet::with_capacity(len);
            dimension.mask_into(keys.iter().copied(), &mut mask);
            for id in 0..len as u32 {
                assert_eq!(
                    mask.contains(id as usize),
                    dimension.admits(keys.iter().copied(), id),
                    "{keys:?} {id}"
                );
            }
        }
        let mut mask = FixedBitSet::with_capacity(len);
        dimension.mask_into(["USA"], &mut mask);
        assert_eq!(mask.count_ones(..), 100 + 20);
    }
}
