//! Serde helper: `null` where an array is expected reads as the empty array.
//!
//! Real traffic sends `"bcat": null`; the spec says such a field is simply absent.

use serde::{Deserialize, Deserializer};

/// Deserialises `null` or a missing field as `T::default()`.
pub(crate) fn or_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
