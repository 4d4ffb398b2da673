//! Kubernetes and Calico manifests into the Flowlens inventory.
mod node;
#[cfg(test)]
mod experiment {
    use crate::node::Node;
    fn show(text: &str) {
        let mut o = serde_saphyr::Options::default();
        o.with_snippet = false;
        let r: Result<Node, _> = serde_saphyr::from_str_with_options(text, o);
        match r {
            Ok(n) => println!("OK {:?}", n),
            Err(e) => println!("ERR loc={:?} display={} ", e.location().map(|l| (l.line(), l.column())), e),
        }
    }
    #[test]
    fn exp() {
        show("a: 1\nb: '2'\nc: 1.5\nd: None\ne:\nf: ~\ng: [1, x]\nh: yes\ni: 0x1F\nj: 007\n");
        show("");
        show("# only comment\n");
        show("--- a: 1\n");
        show("---\n");
        show("a: 1\n...\n");
        show("{\n\t\"a\": 1,\n\t\"b\": [1,\n\t\t2]\n}\n");
        show("{\n  \"a\": 1,\n  \"b\": [1 2]\n}\n");
        show("a: [1, 2\nb: 3\n");
        show("a: &x [1,2]\nb: *x\n");
        show("a: 1\na: 2\n");
        show("a: 99999999999999999999999999\n");
        show("a: .inf\n");
        show("key: value\n  bad: indent\n");
        show("!!str 5");
        show("a: !foo 5");
        show("a: \"x\ny\"");
        show("a:\n  - b: 1\n    c: 2\n");
    }
}
