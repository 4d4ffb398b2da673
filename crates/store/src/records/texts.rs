//! Reading a text column whichever string layout the query engine produced (`Utf8`,
//! `LargeUtf8` or `Utf8View`), without copying.

use datafusion::arrow::array::{Array, AsArray, LargeStringArray, StringArray, StringViewArray};

pub(crate) enum Texts<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Texts<'a> {
    /// `None` when the array does not hold text.
    pub fn of(array: &'a dyn Array) -> Option<Texts<'a>> {
        if let Some(a) = array.as_string_opt::<i32>() {
            Some(Texts::Utf8(a))
        } else if let Some(a) = array.as_string_opt::<i64>() {
            Some(Texts::Large(a))
        } else {
            array.as_string_view_opt().map(Texts::View)
        }
    }

    #[inline]
    pub fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Texts::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Texts::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Texts::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}
