//! Per-thread memos of pure functions of request strings (consent strings, user agents,
//! stems, segmented runs): a user's strings repeat on every page they view, so a repeat
//! costs a hash and a clone instead of a decode. No lock (each thread its own), bounded:
//! a memo at its limit starts over, so a flood of distinct strings costs computing, never
//! memory. The functions are pure, so a memo changes no result.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::Hash;
use std::thread::LocalKey;

/// A per-thread memo.
pub type Memo<K, V> = RefCell<HashMap<K, V>>;

/// `compute()` remembered in `memo` under `key`, at most `limit` entries; `owned` makes the
/// key to keep (a hit allocates nothing).
pub fn remembered<K, Q, V: Clone>(
    memo: &'static LocalKey<Memo<K, V>>,
    limit: usize,
    key: &Q,
    owned: impl FnOnce() -> K,
    compute: impl FnOnce() -> V,
) -> V
where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    remembered_if(memo, limit, key, owned, |_| true, compute)
}

/// [`remembered`], where a remembered value that is not `current` (made from inputs
/// that have changed since) is computed again and replaced.
pub fn remembered_if<K, Q, V: Clone>(
    memo: &'static LocalKey<Memo<K, V>>,
    limit: usize,
    key: &Q,
    owned: impl FnOnce() -> K,
    current: impl Fn(&V) -> bool,
    compute: impl FnOnce() -> V,
) -> V
where
    K: Hash + Eq + std::borrow::Borrow<Q>,
    Q: Hash + Eq + ?Sized,
{
    memo.with(|memo| {
        if let Some(known) = memo.borrow().get(key).filter(|known| current(known)) {
            return known.clone();
        }
        let value = compute();
        let mut memo = memo.borrow_mut();
        if memo.len() >= limit {
            memo.clear();
        }
        memo.insert(owned(), value.clone());
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static SQUARES: Memo<Box<str>, usize> = Memo::default();
    }

    #[test]
    fn a_repeat_is_not_computed_again_and_a_full_memo_starts_over() {
        let mut computed = 0;
        for key in ["a", "bb", "a", "bb", "ccc"] {
            let value = remembered(
                &SQUARES,
                2,
                key,
                || Box::from(key),
                || {
                    computed += 1;
                    key.len() * key.len()
                },
            );
            assert_eq!(value, key.len() * key.len());
        }
        assert_eq!(computed, 3, "a and bb once each, then ccc");
        SQUARES.with(|memo| assert_eq!(memo.borrow().len(), 1, "started over at the limit"));
    }

    thread_local! {
        static VERSIONED: Memo<Box<str>, (u32, usize)> = Memo::default();
    }

    #[test]
    fn a_value_from_older_inputs_is_computed_again() {
        let mut computed = 0;
        for version in [1, 1, 2, 2, 1] {
            let (made_from, value) = remembered_if(
                &VERSIONED,
                8,
                "key",
                || Box::from("key"),
                |(made_from, _)| *made_from == version,
                || {
                    computed += 1;
                    (version, computed)
                },
            );
            assert_eq!(made_from, version);
            assert!(value <= computed);
        }
        assert_eq!(computed, 3, "version 1, then 2, then 1 again");
    }
}
