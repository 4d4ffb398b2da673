//! Field types that accept what Calico's flow logs actually contain: `-` or `null` for "not
//! applicable", numbers written as strings, and labels as `{"labels": [...]}` or a map.

use flowlens_model::Labels;
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A string where `-`, `""` and `null` mean absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptText(pub Option<String>);

impl<'de> Deserialize<'de> for OptText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = OptText;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, \"-\" or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<OptText, E> {
                Ok(OptText(if v == "-" || v.is_empty() {
                    None
                } else {
                    Some(v.to_string())
                }))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptText, E> {
                Ok(OptText(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptText, E> {
                Ok(OptText(Some(v.to_string())))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OptText, E> {
                Ok(OptText(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<OptText, E> {
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
                if v == "-" || v.is_empty() {
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelField(pub Labels);

impl<'de> Deserialize<'de> for LabelField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        fn add_pair<E: de::Error>(labels: &mut Labels, pair: &str) -> Result<(), E> {
            match pair.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    labels.insert(k.to_string(), v.to_string());
                    Ok(())
                }
                _ => Err(E::custom(format!("label {pair:?} is not key=value"))),
            }
        }
        impl<'de> Visitor<'de> for V {
            type Value = LabelField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("{\"labels\": [\"k=v\", ...]}, a list of \"k=v\", a map, \"-\" or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LabelField, E> {
                if v == "-" || v.is_empty() {
                    Ok(LabelField::default())
                } else {
                    Err(E::custom("labels must be a list or a map"))
                }
            }
            fn visit_unit<E: de::Error>(self) -> Result<LabelField, E> {
                Ok(LabelField::default())
            }
            fn visit_none<E: de::Error>(self) -> Result<LabelField, E> {
                Ok(LabelField::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<LabelField, A::Error> {
                let mut labels = Labels::new();
                while let Some(pair) = seq.next_element::<String>()? {
                    add_pair(&mut labels, &pair)?;
                }
                Ok(LabelField(labels))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LabelField, A::Error> {
                let mut labels = Labels::new();
                while let Some(key) = map.next_key::<String>()? {
                    if key == "labels" {
                        // Calico's {"labels": [...]} wrapper (or null inside it).
                        let inner: Option<Vec<String>> = map.next_value()?;
                        for pair in inner.unwrap_or_default() {
                            add_pair(&mut labels, &pair)?;
                        }
                    } else {
                        let value: String = map.next_value()?;
                        labels.insert(key, value);
                    }
                }
                Ok(LabelField(labels))
            }
        }
        d.deserialize_any(V)
    }
}
