//! Scalar functions the query engine evaluates per row: Calico label selectors over the
//! stored `key=value` label lists, and policy-hit matching over the stored hit lists.
//!
//! `selector_matches(labels, 'selector text')` is registered in every session (so `sql()`
//! can use it too); the selector is a literal, parsed once per batch. Policy-hit matching
//! carries its [`PolicyFilter`] in the function value itself.

use crate::query::hit_text::HitRef;
use crate::records::texts::Texts;
use crate::types::PolicyFilter;
use datafusion::arrow::array::{Array, AsArray, BooleanArray, GenericListArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use flowlens_selector::{Labels, Selector};
use std::sync::Arc;

/// One row's `key=value` entries, read in place.
struct RowLabels<'a, 'b> {
    texts: &'b Texts<'a>,
    range: std::ops::Range<usize>,
}

impl Labels for RowLabels<'_, '_> {
    fn get_label(&self, key: &str) -> Option<&str> {
        self.range.clone().find_map(|i| {
            let entry = self.texts.get(i)?;
            let rest = entry.strip_prefix(key)?;
            rest.strip_prefix('=')
        })
    }
}

/// Applies `row_matches` to each row's slice of a list-of-strings argument.
fn map_list_rows(
    arg: &ColumnarValue,
    rows: usize,
    mut row_matches: impl FnMut(&Texts<'_>, std::ops::Range<usize>) -> bool,
) -> Result<ColumnarValue> {
    let array = arg.to_array(rows)?;
    let list: &GenericListArray<i32> = match array.as_list_opt::<i32>() {
        Some(list) => list,
        None => return exec_err!("expected a list of strings, got {}", array.data_type()),
    };
    let values = list.values();
    let Some(texts) = Texts::of(values.as_ref()) else {
        return exec_err!(
            "expected a list of strings, got a list of {}",
            values.data_type()
        );
    };
    let offsets = list.value_offsets();
    let result: BooleanArray = (0..list.len())
        .map(|row| {
            let range = if list.is_null(row) {
                0..0
            } else {
                offsets[row] as usize..offsets[row + 1] as usize
            };
            Some(row_matches(&texts, range))
        })
        .collect();
    Ok(ColumnarValue::Array(Arc::new(result)))
}

fn literal_text(arg: &ColumnarValue, what: &str) -> Result<String> {
    match arg {
        ColumnarValue::Scalar(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
        ) => Ok(s.clone()),
        _ => exec_err!("{what} must be a text literal"),
    }
}

fn check_list_arg(name: &str, t: &DataType) -> Result<()> {
    match t {
        DataType::List(f) | DataType::LargeList(f)
            if matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            ) =>
        {
            Ok(())
        }
        DataType::Null => Ok(()),
        other => plan_err!("{name}: first argument must be a list of strings, got {other}"),
    }
}

/// `selector_matches(labels, 'app == "web"')`: whether a Calico selector matches a row's
/// `key=value` label list. Typed queries use [`SelectorMatches::with`], which carries the
/// parsed selector and takes only the labels.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SelectorMatches {
    signature: Signature,
    selector: Option<Selector>,
}

impl SelectorMatches {
    pub const NAME: &'static str = "selector_matches";

    /// The two-argument SQL function (selector as text).
    pub fn udf() -> ScalarUDF {
        ScalarUDF::from(SelectorMatches {
            signature: Signature::any(2, Volatility::Immutable),
            selector: None,
        })
    }

    /// The one-argument function for a given selector.
    pub fn with(selector: Selector) -> ScalarUDF {
        ScalarUDF::from(SelectorMatches {
            signature: Signature::any(1, Volatility::Immutable),
            selector: Some(selector),
        })
    }
}

impl ScalarUDFImpl for SelectorMatches {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => check_list_arg(Self::NAME, t)?,
            None => return plan_err!("selector_matches needs the labels"),
        }
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let parsed;
        let (labels, selector) = match (args.args.as_slice(), &self.selector) {
            ([labels], Some(selector)) => (labels, selector),
            ([labels, text], None) => {
                let text = literal_text(text, "the selector")?;
                parsed = match Selector::parse(&text) {
                    Ok(s) => s,
                    Err(e) => return exec_err!("invalid selector {text:?}: {e}"),
                };
                (labels, &parsed)
            }
            _ => return exec_err!("selector_matches takes (labels, selector)"),
        };
        map_list_rows(labels, args.number_rows, |texts, range| {
            selector.matches(&RowLabels { texts, range })
        })
    }
}

/// Whether a row's hit list has at least one hit satisfying the filter.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PolicyHitMatches {
    signature: Signature,
    filter: PolicyFilter,
}

impl PolicyHitMatches {
    pub const NAME: &'static str = "policy_hit_matches";

    pub fn udf(filter: PolicyFilter) -> ScalarUDF {
        ScalarUDF::from(PolicyHitMatches {
            signature: Signature::any(1, Volatility::Immutable),
            filter,
        })
    }
}

impl ScalarUDFImpl for PolicyHitMatches {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => check_list_arg(Self::NAME, t)?,
            None => return plan_err!("{} needs a list argument", Self::NAME),
        }
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [hits] = args.args.as_slice() else {
            return exec_err!("policy_hit_matches takes one argument");
        };
        map_list_rows(hits, args.number_rows, |texts, range| {
            range.into_iter().any(|i| {
                texts
                    .get(i)
                    .and_then(HitRef::split)
                    .is_some_and(|h| h.matches(&self.filter))
            })
        })
    }
}

/// Whether some entry of a row's list equals one of `values` (or, with `prefix`, starts with
/// `values[0]`).
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ListAny {
    signature: Signature,
    values: Vec<String>,
    prefix: bool,
}

impl ListAny {
    pub const NAME: &'static str = "list_any";

    pub fn udf(values: Vec<String>, prefix: bool) -> ScalarUDF {
        ScalarUDF::from(ListAny {
            signature: Signature::any(1, Volatility::Immutable),
            values,
            prefix,
        })
    }
}

impl ScalarUDFImpl for ListAny {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(t) => check_list_arg(Self::NAME, t)?,
            None => return plan_err!("{} needs a list argument", Self::NAME),
        }
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [list] = args.args.as_slice() else {
            return exec_err!("list_any takes one argument");
        };
        map_list_rows(list, args.number_rows, |texts, range| {
            range.into_iter().any(|i| {
                texts.get(i).is_some_and(|entry| {
                    if self.prefix {
                        self.values.iter().any(|p| entry.starts_with(p.as_str()))
                    } else {
                        self.values.iter().any(|v| v == entry)
                    }
                })
            })
        })
    }
}
