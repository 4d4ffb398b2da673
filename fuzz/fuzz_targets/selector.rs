//! Parses arbitrary UTF-8 as a Calico selector. The parser must never panic
//! (or overflow the stack), and whatever it accepts must print to a canonical
//! form that parses back to the same selector and prints identically.

#![no_main]

use flowlens_selector::Selector;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &str| {
    let Ok(sel) = Selector::parse(input) else {
        return;
    };
    let canonical = sel.to_string();
    let again = match Selector::parse(&canonical) {
        Ok(s) => s,
        Err(e) => panic!("canonical form {canonical:?} of {input:?} does not parse: {e}"),
    };
    assert_eq!(again, sel, "round trip changed the tree for {input:?}");
    assert_eq!(
        again.to_string(),
        canonical,
        "canonical form is not a fixed point"
    );
});
