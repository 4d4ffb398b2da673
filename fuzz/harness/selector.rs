//! Parses arbitrary UTF-8 as a Calico selector. The parser must never panic
//! (or overflow the stack), and whatever it accepts must print to a canonical
//! form that parses back to the same selector and prints identically.

use flowlens_selector::Selector;

pub fn run(input: &[u8]) {
    let Ok(input) = std::str::from_utf8(input) else {
        return;
    };
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
}
