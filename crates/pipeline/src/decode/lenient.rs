//! Field types that accept what Calico's flow logs actually contain: `-` or `null` for "not
//! applicable", numbers written as strings, and labels as `{"labels": [...]}` or a map.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// How Calico writes "not applicable" in a text field: `-` or nothing.
pub(crate) fn is_absent(text: &str) -> bool {
    text == "-" || text.is_empty()
}

/// A JSON string, borrowed from the line unless it had escapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// A string where `-`, `""` and `null` mean absent (numbers are taken as their digits).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptText<'a>(pub Option<Cow<'a, str>>);

impl OptText<'_> {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for OptText<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, \"-\" or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<OptText<'de>, E> {
                Ok(OptText((!is_absent(v)).then_some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OptText<'de>, E> {
                Ok(OptText((!is_absent(v)).then(|| Cow::Owned(v.to_string()))))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptText<'de>, E> {
                Ok(OptText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptText<'de>, E> {
                Ok(OptText(Some(Cow::Owned(v.to_string()))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OptText<'de>, E> {
                Ok(OptText(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<OptText<'de>, E> {
                Ok(OptText(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// An integer that may be written as a number, a numeric string, `-` or `null`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OptInt(pub Option<i64>);

impl<'de> Deserialize<'de> for OptInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer, a numeric string, \"-\" or null")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptInt, E> {
                i64::try_from(v)
                    .map(|v| OptInt(Some(v)))
                    .map_err(|_| E::custom("number too large"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptInt, E> {
                Ok(OptInt(Some(v)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<OptInt, E> {
                if v.is_finite() && v.abs() < 9.0e18 {
                    Ok(OptInt(Some(v.trunc() as i64)))
                } else {
                    Err(E::custom("number out of range"))
                }
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OptInt, E> {
                let v = v.trim();
                if is_absent(v) {
                    return Ok(OptInt(None));
                }
                v.parse()
                    .map(|n| OptInt(Some(n)))
                    .map_err(|_| E::custom(format!("{v:?} is not a number")))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OptInt, E> {
                Ok(OptInt(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<OptInt, E> {
                Ok(OptInt(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// Labels as Calico writes them: `{"labels": ["k=v", …]}`, a plain list, a map, `-` or null.
/// Kept as `k=v` texts in the order and with the uniqueness of [`Labels`](flowlens_model::Labels):
/// sorted by key, the last value of a repeated key winning.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelTexts<'a>(pub Vec<Cow<'a, str>>);

fn key(text: &str) -> &str {
    text.split_once('=').map_or(text, |(k, _)| k)
}

impl<'a> LabelTexts<'a> {
    pub(crate) fn add<E: de::Error>(&mut self, pair: Cow<'a, str>) -> Result<(), E> {
        match pair.split_once('=') {
            Some((k, _)) if !k.is_empty() => {
                self.0.push(pair);
                Ok(())
            }
            _ => Err(E::custom(format!("label {pair:?} is not key=value"))),
        }
    }

    /// Sorts by key and keeps the last of each key; Calico's own lists are sorted already,
    /// which is checked first because it is cheap.
    pub(crate) fn normalize(mut self) -> Self {
        let ordered = self.0.windows(2).all(|w| key(&w[0]) < key(&w[1]));
        if !ordered {
            // Stable, so that of equal keys the last one read stays last.
            self.0.sort_by(|a, b| key(a).cmp(key(b)));
            let mut kept: Vec<Cow<'a, str>> = Vec::with_capacity(self.0.len());
            for pair in self.0 {
                match kept.last_mut() {
                    Some(last) if key(last) == key(&pair) => *last = pair,
                    _ => kept.push(pair),
                }
            }
            self.0 = kept;
        }
        self
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LabelTexts<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelTexts<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{\"labels\": [\"k=v\", ...]}, a list of \"k=v\", a map, \"-\" or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelTexts<'de>, E> {
                if is_absent(v) {
                    Ok(LabelTexts::default())
                } else {
                    Err(E::custom("labels must be a list or a map"))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<LabelTexts<'de>, E> {
                Ok(LabelTexts::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<LabelTexts<'de>, E> {
                Ok(LabelTexts::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LabelTexts<'de>, A::Error> {
                let mut labels = LabelTexts::default();
                while let Some(pair) = seq.next_element::<Text<'de>>()? {
                    labels.add(pair.0)?;
                }
                Ok(labels.normalize())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LabelTexts<'de>, A::Error> {
                let mut labels = LabelTexts::default();
                while let Some(name) = map.next_key::<Text<'de>>()? {
                    if name.0 == "labels" {
                        // Calico's {"labels": [...]} wrapper (or null inside it).
                        let inner: Option<Vec<Text<'de>>> = map.next_value()?;
                        for pair in inner.unwrap_or_default() {
                            labels.add(pair.0)?;
                        }
                    } else {
                        let value: Text<'de> = map.next_value()?;
                        if name.0.is_empty() {
                            return Err(de::Error::custom("a label key is empty"));
                        }
                        labels.0.push(Cow::Owned(format!("{}={}", name.0, value.0)));
                    }
                }
                Ok(labels.normalize())
            }
        }
        d.deserialize_any(V)
    }
}
