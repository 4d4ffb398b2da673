use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hash};

/// A set of labels that a [`Selector`](crate::Selector) can be evaluated against.
///
/// Implemented for the common map types and for slices/vectors/arrays of
/// `(key, value)` pairs (where the first pair with a matching key wins), with
/// any mix of `String` and `&str`. Implement it for your own types to avoid
/// copying labels into a map just to evaluate a selector.
pub trait Labels {
    /// The value of label `key`, or `None` if the label is absent.
    ///
    /// A present label with an empty value must return `Some("")`.
    fn get_label(&self, key: &str) -> Option<&str>;
}

impl<T: Labels + ?Sized> Labels for &T {
    fn get_label(&self, key: &str) -> Option<&str> {
        (**self).get_label(key)
    }
}

impl<K, V> Labels for BTreeMap<K, V>
where
    K: Borrow<str> + Ord,
    V: AsRef<str>,
{
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<K, V, S> Labels for HashMap<K, V, S>
where
    K: Borrow<str> + Hash + Eq,
    V: AsRef<str>,
    S: BuildHasher,
{
    fn get_label(&self, key: &str) -> Option<&str> {
        self.get(key).map(AsRef::as_ref)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Labels for [(K, V)] {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.iter()
            .find(|(k, _)| k.as_ref() == key)
            .map(|(_, v)| v.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Labels for Vec<(K, V)> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.as_slice().get_label(key)
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Labels for [(K, V); N] {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.as_slice().get_label(key)
    }
}
