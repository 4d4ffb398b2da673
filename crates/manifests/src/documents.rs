//! From file text to resources: split into YAML documents, parse each into a [`Node`] tree,
//! unwrap `kind: List` and typed lists (`PodList`, …), and hand each object to the parser
//! for its kind.
//!
//! Documents are split at `---` lines before parsing, rather than letting the YAML parser
//! read the whole stream, so that a syntax error in one document does not hide the others:
//! YAML forbids `---` and `...` at the start of a line inside a document's content, so the
//! split is exact.

use crate::LoadOptions;
use crate::errors::{Diag, LoadError, Path};
use crate::node::{Node, Value};
use crate::read::Field;
use crate::resource::{Resource, ResourceBody};
use crate::{anp, calico, cluster_network_policy, knp, kubernetes};
use flowlens_model::{PolicyKind, SourceRef};
use std::collections::BTreeMap;

/// More documents than this in one file is not a set of manifests.
const MAX_DOCUMENTS_PER_FILE: usize = 100_000;

/// What parsing one file produced.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub resources: Vec<Resource>,
    pub errors: Vec<LoadError>,
    pub warnings: Vec<String>,
    /// Non-empty documents.
    pub documents: usize,
    /// Objects of modelled kinds, by kind.
    pub kinds: BTreeMap<String, usize>,
    /// Objects of kinds Flowlens does not model, by kind.
    pub skipped: BTreeMap<String, usize>,
    /// Objects with errors that were left out ([`LoadOptions::skip_invalid_objects`]).
    pub invalid: Vec<InvalidObject>,
}

/// An object left out because of its errors.
#[derive(Debug)]
pub(crate) struct InvalidObject {
    pub kind: String,
    /// `namespace/name` or `name`, when the metadata could be read.
    pub name: Option<String>,
    pub errors: Vec<LoadError>,
}

impl InvalidObject {
    pub fn describe(&self) -> String {
        match &self.name {
            Some(name) => format!("the {} {name}", self.kind),
            None => format!("the {}", self.kind),
        }
    }
}

/// Kinds whose invalid objects can be left out: without one, the answer for the rest of the
/// cluster is still right, and asking about the missing object says it is missing. A
/// missing policy, tier or host endpoint would instead change verdicts for other traffic.
fn skippable_kind(kind: &str) -> bool {
    kubernetes::is_workload_kind(kind)
        || matches!(
            kind,
            "Namespace" | "ServiceAccount" | "Pod" | "Service" | "NetworkSet" | "GlobalNetworkSet"
        )
}

/// `namespace/name` as far as the metadata gives it as plain strings.
fn object_name(f: &Field) -> Option<String> {
    let meta = f.get("metadata")?;
    let text = |key: &str| match meta.get(key).map(|f| &f.node.value) {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let name = text("name")?;
    Some(match text("namespace") {
        Some(ns) => format!("{ns}/{name}"),
        None => name,
    })
}

/// One document of a file: its index and where it starts.
struct RawDocument<'t> {
    index: usize,
    /// Lines before the document's first line.
    line_offset: usize,
    text: &'t str,
}

fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Whether a line carries document content (not blank, a comment, a directive or a marker).
fn is_content(line: &str) -> bool {
    let t = line.trim();
    !(t.is_empty()
        || t.starts_with('#')
        || line.starts_with('%')
        || is_marker(line, "---") && t == "---"
        || is_marker(line, "..."))
}

/// Splits a YAML stream at document markers. A piece counts as a document when it begins
/// with `---` or has content, which numbers documents the way a YAML parser would (a
/// leading comment block before the first `---` is not a document).
fn split_documents(text: &str) -> Vec<RawDocument<'_>> {
    struct Piece {
        start: usize,
        end: usize,
        line_offset: usize,
        explicit: bool,
        content: bool,
    }
    let mut pieces: Vec<Piece> = Vec::new();
    let mut current = Piece {
        start: 0,
        end: 0,
        line_offset: 0,
        explicit: false,
        content: false,
    };
    let mut offset = 0;
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        let line_end = offset + line.len();
        if is_marker(line, "---") {
            current.end = offset;
            if current.end > current.start || current.explicit {
                pieces.push(current);
            }
            current = Piece {
                start: offset,
                end: offset,
                line_offset: line_no,
                explicit: true,
                content: false,
            };
            current.content = line.trim() != "---";
        } else if is_marker(line, "...") {
            current.end = line_end;
            pieces.push(current);
            current = Piece {
                start: line_end,
                end: line_end,
                line_offset: line_no + 1,
                explicit: false,
                content: false,
            };
        } else if is_content(line) {
            current.content = true;
        }
        offset = line_end;
    }
    current.end = text.len();
    pieces.push(current);

    pieces
        .into_iter()
        .filter(|p| p.explicit || p.content)
        .enumerate()
        .map(|(index, p)| RawDocument {
            index,
            line_offset: p.line_offset,
            text: text.get(p.start..p.end).unwrap_or(""),
        })
        .collect()
}

fn yaml_options() -> serde_saphyr::Options {
    let mut options = serde_saphyr::Options::default();
    // Errors carry line and column; the source snippet would only clutter one-line messages.
    options.with_snippet = false;
    // YAML 1.2 booleans only, so `name: n` or `country: no` stay strings.
    options.strict_booleans = true;
    // Alias bombs: a few thousand expanded events is far more than real manifests use.
    options.alias_limits.max_total_replayed_events = 200_000;
    options.alias_limits.max_alias_expansions_per_anchor = 10_000;
    options
}

/// serde-saphyr appends ` at line L, column C`; the position is reported separately.
fn plain_message(e: &serde_saphyr::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(i) => text.get(..i).unwrap_or(&text).to_owned(),
        None => text,
    };
    format!("invalid YAML: {text}")
}

/// Parses every document of one file.
pub(crate) fn parse_file(text: &str, file: &str, json: bool, opts: &LoadOptions) -> Parsed {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parsed = Parsed::default();
    let documents = if json {
        // JSON has no document markers; one file is one document.
        vec![RawDocument {
            index: 0,
            line_offset: 0,
            text,
        }]
    } else {
        split_documents(text)
    };
    if documents.len() > MAX_DOCUMENTS_PER_FILE {
        let mut d = Diag::new(file, 0);
        d.error_at(
            None,
            None,
            &Path::root(),
            format!("more than {MAX_DOCUMENTS_PER_FILE} documents in one file"),
        );
        parsed.errors = d.errors;
        return parsed;
    }
    for doc in documents {
        let mut d = Diag::new(file, doc.index);
        match serde_saphyr::from_str_with_options::<Node>(doc.text, yaml_options()) {
            Err(e) => {
                let at = e.location().filter(|l| l.line() > 0);
                d.error_at(
                    at.map(|l| l.line() as usize + doc.line_offset),
                    at.map(|l| l.column() as usize),
                    &Path::root(),
                    plain_message(&e),
                );
            }
            Ok(mut node) => {
                node.shift_lines(doc.line_offset);
                if node.value != Value::Null {
                    parsed.documents += 1;
                    let source = SourceRef {
                        file: file.to_owned(),
                        document: doc.index,
                        line: Some(node.line.max(1)),
                    };
                    objects(
                        &mut d,
                        &Field::root(&node),
                        None,
                        &source,
                        opts,
                        &mut parsed,
                    );
                }
            }
        }
        parsed.errors.append(&mut d.errors);
        parsed.warnings.append(&mut d.warnings);
    }
    parsed
}

/// One object that is already in memory (a Kubernetes API object from a watch), read
/// through any serde deserializer. It goes through the same steps as a document of a file;
/// only positions are unknown.
pub(crate) fn parse_value<'de, D: serde::Deserializer<'de>>(
    object: D,
    name: &str,
    opts: &LoadOptions,
) -> Parsed {
    use serde::Deserialize;
    let mut parsed = Parsed::default();
    let mut d = Diag::new(name, 0);
    match Node::deserialize(object) {
        Err(e) => d.error_at(None, None, &Path::root(), format!("invalid object: {e}")),
        Ok(node) => {
            parsed.documents = 1;
            let source = SourceRef {
                file: name.to_owned(),
                document: 0,
                line: None,
            };
            objects(
                &mut d,
                &Field::root(&node),
                None,
                &source,
                opts,
                &mut parsed,
            );
        }
    }
    parsed.errors = d.errors;
    parsed.warnings = d.warnings;
    parsed
}

/// One object, or the items of a list. `inherited` is the (kind, apiVersion) a typed list
/// gives items that do not say.
fn objects(
    d: &mut Diag,
    f: &Field,
    inherited: Option<(&str, &str)>,
    source: &SourceRef,
    opts: &LoadOptions,
    out: &mut Parsed,
) {
    if !f.is_map() {
        d.error(
            f.node,
            &f.path,
            format!(
                "expected a Kubernetes object (a mapping with apiVersion and kind), found {}",
                f.node.value.type_name()
            ),
        );
        return;
    }
    let kind = match f.get("kind") {
        Some(k) => d.string(&k),
        None => match inherited {
            Some((kind, _)) => Some(kind.to_owned()),
            None => {
                d.error(f.node, &f.path.key("kind"), "missing required field");
                None
            }
        },
    };
    let api_version = match f.get("apiVersion") {
        Some(v) => d.string(&v),
        None => match inherited {
            Some((_, v)) => Some(v.to_owned()),
            None => {
                d.error(f.node, &f.path.key("apiVersion"), "missing required field");
                None
            }
        },
    };
    let (Some(kind), Some(api_version)) = (kind, api_version) else {
        return;
    };

    // `kind: List` (kubectl's generic list) and typed lists such as `PodList`.
    let is_list = kind == "List" || (kind.ends_with("List") && f.get("items").is_some());
    if is_list {
        let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
        let inherited = item_kind.map(|k| (k, api_version.as_str()));
        for item in d.opt_list(f, "items") {
            let source = SourceRef {
                line: Some(item.node.line.max(1)),
                ..source.clone()
            };
            objects(d, &item, inherited, &source, opts, out);
        }
        return;
    }

    // Field paths inside a list item start with `items[i]`.
    let item_prefix = concat_path(&d.prefix, &f.path);
    let saved_prefix = std::mem::replace(&mut d.prefix, item_prefix);
    let root = Field::root(f.node);
    let errors_before = d.error_count();
    let mut body = match dispatch(d, &root, &kind, &api_version, opts) {
        Dispatch::Parsed(body) => {
            *out.kinds.entry(kind.clone()).or_default() += 1;
            body
        }
        Dispatch::Unknown => {
            let key = if known_kind(&kind) {
                format!("{kind} ({api_version})")
            } else {
                kind.clone()
            };
            *out.skipped.entry(key).or_default() += 1;
            None
        }
    };
    d.prefix = saved_prefix;
    if opts.skip_invalid_objects && d.error_count() > errors_before && skippable_kind(&kind) {
        // Left out whole, even if its parser kept something.
        body = None;
        let errors = d.errors.split_off(errors_before);
        if let Some(n) = out.kinds.get_mut(&kind) {
            *n -= 1;
            if *n == 0 {
                out.kinds.remove(&kind);
            }
        }
        out.invalid.push(InvalidObject {
            kind: kind.clone(),
            name: object_name(&root),
            errors,
        });
    }
    if let Some(mut body) = body.map(|b| *b) {
        if let ResourceBody::Policy(p) = &mut body {
            p.policy.source = Some(source.clone());
        }
        out.resources.push(Resource {
            source: source.clone(),
            kind,
            body,
        });
    }
}

fn concat_path(prefix: &Path, path: &Path) -> Path {
    match (prefix.as_str(), path.as_str()) {
        (_, "") => prefix.clone(),
        ("", _) => path.clone(),
        (a, b) => Path::root().key(&format!("{a}.{b}")),
    }
}

enum Dispatch {
    /// A kind Flowlens models; `None` when it had errors or is deliberately left out (e.g. a
    /// host-networked pod).
    Parsed(Option<Box<ResourceBody>>),
    Unknown,
}

/// The API group of an apiVersion (`apps/v1` → `apps`, `v1` → ``).
fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map_or("", |(g, _)| g)
}

fn is_calico(api_version: &str) -> bool {
    matches!(
        group(api_version),
        "projectcalico.org" | "crd.projectcalico.org"
    )
}

/// Kinds Flowlens reads from some API group; with another group they are someone else's
/// resource of the same name (Antrea also has a `Tier`).
fn known_kind(kind: &str) -> bool {
    kubernetes::is_workload_kind(kind)
        || matches!(
            kind,
            "Namespace"
                | "Pod"
                | "Service"
                | "ServiceAccount"
                | "NetworkPolicy"
                | "AdminNetworkPolicy"
                | "BaselineAdminNetworkPolicy"
                | "ClusterNetworkPolicy"
                | "Tier"
                | "GlobalNetworkPolicy"
                | "StagedNetworkPolicy"
                | "StagedGlobalNetworkPolicy"
                | "StagedKubernetesNetworkPolicy"
                | "NetworkSet"
                | "GlobalNetworkSet"
                | "HostEndpoint"
        )
}

fn dispatch(
    d: &mut Diag,
    root: &Field,
    kind: &str,
    api_version: &str,
    opts: &LoadOptions,
) -> Dispatch {
    let g = group(api_version);
    let parsed = match kind {
        "Namespace" if g.is_empty() => kubernetes::namespace(d, root),
        "ServiceAccount" if g.is_empty() => kubernetes::service_account(d, root, opts),
        "Pod" if g.is_empty() => kubernetes::pod(d, root, opts),
        "Service" if g.is_empty() => kubernetes::service(d, root, opts),
        "ReplicationController" if g.is_empty() => kubernetes::workload(d, root, kind, opts),
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
            if matches!(g, "apps" | "extensions") =>
        {
            kubernetes::workload(d, root, kind, opts)
        }
        "Job" | "CronJob" if g == "batch" => kubernetes::workload(d, root, kind, opts),
        "NetworkPolicy" if matches!(g, "networking.k8s.io" | "extensions") => {
            knp::kubernetes_network_policy(d, root, false, opts)
        }
        "AdminNetworkPolicy" if g == "policy.networking.k8s.io" => {
            anp::admin_network_policy(d, root, false)
        }
        "BaselineAdminNetworkPolicy" if g == "policy.networking.k8s.io" => {
            anp::admin_network_policy(d, root, true)
        }
        "ClusterNetworkPolicy" if g == "policy.networking.k8s.io" => {
            cluster_network_policy::cluster_network_policy(d, root)
        }
        _ if is_calico(api_version) => match kind {
            "Tier" => calico::tier(d, root),
            "NetworkPolicy" => calico::calico_policy(d, root, PolicyKind::NetworkPolicy, opts),
            "GlobalNetworkPolicy" => {
                calico::calico_policy(d, root, PolicyKind::GlobalNetworkPolicy, opts)
            }
            "StagedNetworkPolicy" => {
                calico::calico_policy(d, root, PolicyKind::StagedNetworkPolicy, opts)
            }
            "StagedGlobalNetworkPolicy" => {
                calico::calico_policy(d, root, PolicyKind::StagedGlobalNetworkPolicy, opts)
            }
            "StagedKubernetesNetworkPolicy" => knp::kubernetes_network_policy(d, root, true, opts),
            "NetworkSet" => calico::network_set(d, root, false, opts),
            "GlobalNetworkSet" => calico::network_set(d, root, true, opts),
            "HostEndpoint" => calico::host_endpoint(d, root),
            _ => return Dispatch::Unknown,
        },
        _ => return Dispatch::Unknown,
    };
    Dispatch::Parsed(parsed.map(Box::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<(usize, usize, String)> {
        split_documents(text)
            .into_iter()
            .map(|d| (d.index, d.line_offset, d.text.to_owned()))
            .collect()
    }

    #[test]
    fn splits_at_markers_and_numbers_like_yaml() {
        assert_eq!(
            docs("a: 1\n---\nb: 2\n"),
            vec![(0, 0, "a: 1\n".into()), (1, 1, "---\nb: 2\n".into())]
        );
        // A leading `---` (and comments before it) start document 0.
        assert_eq!(docs("# c\n---\na: 1\n"), vec![(0, 1, "---\na: 1\n".into())]);
        // Empty documents keep their index.
        assert_eq!(docs("---\n---\na: 1\n").len(), 2);
        assert_eq!(docs("a: 1\n...\n---\nb: 2\n").len(), 2);
        assert_eq!(docs("a: 1\n...\nb: 2\n").len(), 2);
        assert_eq!(docs(""), vec![]);
        assert_eq!(docs("# only a comment\n"), vec![]);
        // `---x` is content, not a marker.
        assert_eq!(docs("a: |\n  ---x\n").len(), 1);
    }
}
