//! Typed reads from the [`Node`] tree: each read checks the value's type and, when it is
//! wrong, records an error with the field path and position instead of failing the document,
//! so one pass reports every problem.

use crate::errors::{Diag, Path};
use crate::node::{Node, Value};
use flowlens_model::Labels;
use flowlens_selector::Selector;
use ipnet::IpNet;
use std::net::IpAddr;

/// A value found in a document, with the path that leads to it.
#[derive(Clone, Debug)]
pub(crate) struct Field<'a> {
    pub node: &'a Node,
    pub path: Path,
}

impl<'a> Field<'a> {
    pub fn root(node: &'a Node) -> Field<'a> {
        Field {
            node,
            path: Path::root(),
        }
    }

    /// The child under `key`, when this is a mapping holding a non-null value there.
    pub fn get(&self, key: &str) -> Option<Field<'a>> {
        self.node.get(key).map(|node| Field {
            node,
            path: self.path.key(key),
        })
    }

    /// Whether the mapping has `key` at all (even as null).
    pub fn has(&self, key: &str) -> bool {
        matches!(&self.node.value, Value::Map(entries) if entries.iter().any(|(k, _)| k == key))
    }

    pub fn is_map(&self) -> bool {
        matches!(self.node.value, Value::Map(_))
    }
}

impl Diag {
    pub fn type_error(&mut self, f: &Field, expected: &str) {
        let found = f.node.value.type_name();
        self.error(
            f.node,
            &f.path,
            format!("expected {expected}, found {found}"),
        );
    }

    /// The child under `key`, or an error at the parent when it is missing.
    pub fn required<'a>(&mut self, parent: &Field<'a>, key: &str) -> Option<Field<'a>> {
        let child = parent.get(key);
        if child.is_none() && parent.is_map() {
            // `containerport` for `containerPort` is a common typo in real repositories.
            let near = match &parent.node.value {
                Value::Map(entries) => entries
                    .iter()
                    .find(|(k, _)| k != key && k.eq_ignore_ascii_case(key)),
                _ => None,
            };
            let message = match near {
                Some((k, _)) => {
                    format!("missing required field (found {k:?}: field names are case-sensitive)")
                }
                None => "missing required field".to_owned(),
            };
            self.error(parent.node, &parent.path.key(key), message);
        }
        child
    }

    /// Checks that the value is a mapping.
    pub fn map<'a>(&mut self, f: Field<'a>) -> Option<Field<'a>> {
        if f.is_map() {
            Some(f)
        } else {
            self.type_error(&f, "a mapping");
            None
        }
    }

    /// The mapping under `key`, if present and a mapping.
    pub fn opt_map<'a>(&mut self, parent: &Field<'a>, key: &str) -> Option<Field<'a>> {
        parent.get(key).and_then(|f| self.map(f))
    }

    pub fn string(&mut self, f: &Field) -> Option<String> {
        match &f.node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.type_error(f, "a string");
                None
            }
        }
    }

    pub fn opt_string(&mut self, parent: &Field, key: &str) -> Option<String> {
        parent.get(key).and_then(|f| self.string(&f))
    }

    pub fn bool(&mut self, f: &Field) -> Option<bool> {
        match f.node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.type_error(f, "true or false");
                None
            }
        }
    }

    pub fn opt_bool(&mut self, parent: &Field, key: &str) -> Option<bool> {
        parent.get(key).and_then(|f| self.bool(&f))
    }

    pub fn int(&mut self, f: &Field) -> Option<i128> {
        match f.node.value {
            Value::Int(i) => Some(i),
            _ => {
                self.type_error(f, "an integer");
                None
            }
        }
    }

    /// An integer within `min..=max`, or an error naming the range.
    pub fn int_in(&mut self, f: &Field, min: i128, max: i128) -> Option<i128> {
        let i = self.int(f)?;
        if (min..=max).contains(&i) {
            Some(i)
        } else {
            self.error(f.node, &f.path, format!("{i} is out of range {min}-{max}"));
            None
        }
    }

    /// A finite number, integer or not.
    pub fn number(&mut self, f: &Field) -> Option<f64> {
        let n = match f.node.value {
            Value::Int(i) => i as f64,
            Value::Float(x) => x,
            _ => {
                self.type_error(f, "a number");
                return None;
            }
        };
        if n.is_finite() {
            Some(n)
        } else {
            self.error(f.node, &f.path, "expected a finite number");
            None
        }
    }

    /// The items of a list, each with its indexed path.
    pub fn list<'a>(&mut self, f: &Field<'a>) -> Vec<Field<'a>> {
        match &f.node.value {
            Value::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, node)| Field {
                    node,
                    path: f.path.index(i),
                })
                .collect(),
            _ => {
                self.type_error(f, "a list");
                Vec::new()
            }
        }
    }

    pub fn opt_list<'a>(&mut self, parent: &Field<'a>, key: &str) -> Vec<Field<'a>> {
        parent.get(key).map(|f| self.list(&f)).unwrap_or_default()
    }

    pub fn string_list(&mut self, parent: &Field, key: &str) -> Vec<String> {
        self.opt_list(parent, key)
            .iter()
            .filter_map(|f| self.string(f))
            .collect()
    }

    /// A `string → string` mapping such as `metadata.labels` or a service's selector.
    pub fn labels(&mut self, f: &Field) -> Labels {
        let mut labels = Labels::new();
        let Value::Map(entries) = &f.node.value else {
            self.type_error(f, "a mapping of strings");
            return labels;
        };
        for (key, node) in entries {
            let field = Field {
                node,
                path: f.path.key(key),
            };
            if node.value == Value::Null {
                // `key:` with no value: Kubernetes reads it as the empty string.
                labels.insert(key.clone(), String::new());
            } else if let Some(value) = self.string(&field) {
                labels.insert(key.clone(), value);
            }
        }
        labels
    }

    pub fn opt_labels(&mut self, parent: &Field, key: &str) -> Labels {
        parent.get(key).map(|f| self.labels(&f)).unwrap_or_default()
    }

    /// A Calico selector string; empty means "not set".
    pub fn selector(&mut self, f: &Field) -> Option<Selector> {
        let text = self.string(f)?;
        if text.trim().is_empty() {
            return None;
        }
        match Selector::parse(&text) {
            Ok(sel) => Some(sel),
            Err(e) => {
                // ParseError prints as `selector error at column N: …`.
                self.error(f.node, &f.path, e.to_string());
                None
            }
        }
    }

    pub fn opt_selector(&mut self, parent: &Field, key: &str) -> Option<Selector> {
        parent.get(key).and_then(|f| self.selector(&f))
    }

    /// A CIDR or a bare address (which becomes a /32 or /128), normalised to its network
    /// address as Calico does (`10.1.2.3/8` → `10.0.0.0/8`).
    pub fn net(&mut self, f: &Field) -> Option<IpNet> {
        let text = self.string(f)?;
        match parse_net(&text) {
            Some(net) => Some(net),
            None => {
                self.error(
                    f.node,
                    &f.path,
                    format!(
                        "invalid CIDR {text:?}: expected an address or a prefix like 10.0.0.0/8"
                    ),
                );
                None
            }
        }
    }

    pub fn nets(&mut self, parent: &Field, key: &str) -> Vec<IpNet> {
        self.opt_list(parent, key)
            .iter()
            .filter_map(|f| self.net(f))
            .collect()
    }

    /// A strict CIDR (`a.b.c.d/n`), as Kubernetes requires in `ipBlock` and ANP `networks`.
    pub fn cidr(&mut self, f: &Field) -> Option<IpNet> {
        let text = self.string(f)?;
        match text.trim().parse::<IpNet>() {
            Ok(net) => Some(net.trunc()),
            Err(_) => {
                self.error(
                    f.node,
                    &f.path,
                    format!("invalid CIDR {text:?}: expected a prefix like 10.0.0.0/8"),
                );
                None
            }
        }
    }

    pub fn ip(&mut self, f: &Field) -> Option<IpAddr> {
        let text = self.string(f)?;
        match text.trim().parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                self.error(f.node, &f.path, format!("invalid IP address {text:?}"));
                None
            }
        }
    }
}

pub(crate) fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// `metadata` fields every resource has.
#[derive(Clone, Debug, Default)]
pub(crate) struct Meta {
    pub name: String,
    pub namespace: Option<String>,
    pub generate_name: Option<String>,
    pub labels: Labels,
}

impl Diag {
    /// Reads `metadata`. `name` is required unless `allow_generate_name` and a
    /// `generateName` is given (pods); then the name is returned empty.
    pub fn metadata(&mut self, root: &Field, allow_generate_name: bool) -> Option<Meta> {
        let meta = self.required(root, "metadata").and_then(|f| self.map(f))?;
        let generate_name = self
            .opt_string(&meta, "generateName")
            .filter(|s| !s.is_empty());
        let name_field = meta.get("name");
        let name = match &name_field {
            Some(f) => self.string(f)?,
            None => String::new(),
        };
        if !name.is_empty() {
            if let Some(f) = &name_field {
                self.check_name(f, &name);
            }
        } else if !(allow_generate_name && generate_name.is_some()) {
            let (node, path) = match &name_field {
                Some(f) => (f.node, f.path.clone()),
                None => (meta.node, meta.path.key("name")),
            };
            self.error(node, &path, "missing required field (a non-empty name)");
            return None;
        }
        let namespace = self
            .opt_string(&meta, "namespace")
            .filter(|s| !s.is_empty());
        if let (Some(ns), Some(f)) = (&namespace, meta.get("namespace")) {
            self.check_name(&f, ns);
        }
        let labels = self.opt_labels(&meta, "labels");
        Some(Meta {
            name,
            namespace,
            generate_name,
            labels,
        })
    }

    /// Names end up inside flow-log policy strings (`0|tier|np:ns/name|allow|0`) and
    /// selectors, so characters that would break those are rejected. Kubernetes itself is
    /// stricter (lower case only); upper case and `_` pass so older Calico names still load.
    fn check_name(&mut self, f: &Field, name: &str) {
        let ok = name.len() <= 253
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_');
        if !ok {
            self.error(
                f.node,
                &f.path,
                format!("invalid name {name:?}: use letters, digits, '-' and '.' (at most 253)"),
            );
        }
    }
}
