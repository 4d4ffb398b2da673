//! Kubernetes and Calico YAML/JSON manifests into the Flowlens inventory, with precise errors.
//!
//! This is the only crate that knows about manifests. It reads files and directories
//! (multi-document YAML, JSON, `kind: List` and typed lists), understands Kubernetes
//! Namespaces, Pods, workload controllers, Services, ServiceAccounts, NetworkPolicies and
//! (Baseline)AdminNetworkPolicies, and Calico Tiers, policies of every kind, NetworkSets and
//! HostEndpoints, and produces one [`flowlens_model::Inventory`]. Kubernetes policies are
//! converted into Calico's shape exactly as Calico converts them, so the policy engine needs
//! to know only one model.
//!
//! Loading happens in two steps: documents are parsed into [`Resource`]s
//! ([`parse_resources`]), then [`build_inventory`] assembles them. A live Kubernetes watch
//! parses each API object with [`parse_object`], the same first step without the text, so
//! a cluster and a snapshot of it give the same model objects.
//!
//! Every problem is reported, not just the first, each with file, document, line, column
//! and field path:
//!
//! ```text
//! storefront.yaml: document 3, line 42, column 11: spec.ingress[0].destination.ports[1]: invalid port "80-90": expected a port number, a range "a:b" or a port name
//! ```
//!
//! Choices made where manifests say less than a running cluster would know:
//! - Workloads become the pods they would run, with names derived deterministically from
//!   namespace and name (`frontend-<hash>-<suffix>`, `db-0`, …). A workload with
//!   `replicas: 0` still gets one endpoint (with a warning), so policies for it can be
//!   previewed. Pods get only their template's labels (no `pod-template-hash`).
//! - Pods and services without addresses get deterministic ones from
//!   [`LoadOptions::pod_cidr`] and [`LoadOptions::service_cidr`].
//! - When the same resource is defined twice, the later one wins (with a warning), as
//!   `kubectl apply` of the files in order would; so `load_paths(&[manifests, fix.yaml])`
//!   applies a fix.
//! - AdminNetworkPolicy egress `nodes` peers are skipped with a warning.
//! - With [`LoadOptions::skip_invalid_objects`], a namespace, pod, workload, service or
//!   network set with errors is left out with a warning per error, and the rest loads.

mod anp;
mod build;
mod calico;
mod cluster_network_policy;
mod documents;
mod errors;
mod export;
mod ips;
mod knp;
mod kubernetes;
mod label_selector;
mod node;
mod ports;
mod read;
mod resource;
mod rules;
mod workloads;

pub use build::{Built, MAX_ENDPOINTS, build_inventory};
pub use errors::{LoadError, LoadErrors};
pub use export::{ExportError, export_policies, policy_to_yaml, tier_to_yaml};
pub use kubernetes::MAX_REPLICAS;
pub use resource::{
    FieldRef, PodTemplate, PolicyResource, Resource, ResourceBody, ServiceResource, Workload,
};
pub use workloads::expand_workload;

use flowlens_model::{Inventory, Policy};
use ipnet::IpNet;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// Files larger than this are refused rather than read into memory.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// How to fill in what manifests leave out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Namespace of namespaced resources that name none (`default`).
    pub default_namespace: String,
    /// Where pods without a stated IP get one (`10.244.0.0/16`).
    pub pod_cidr: IpNet,
    /// Where services without a stated cluster IP get one (`10.96.0.0/12`).
    pub service_cidr: IpNet,
    /// Skip a namespace, service account, pod, workload, service or network set that has
    /// errors (each error becomes a warning) instead of refusing the whole load. Errors in
    /// policies, tiers and host endpoints, and documents that are not valid YAML, still
    /// refuse: leaving one of those out would change verdicts without a trace. Off by
    /// default: a library caller sees every error.
    pub skip_invalid_objects: bool,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            default_namespace: "default".into(),
            pod_cidr: IpNet::V4(ipnet::Ipv4Net::new_assert([10, 244, 0, 0].into(), 16)),
            service_cidr: IpNet::V4(ipnet::Ipv4Net::new_assert([10, 96, 0, 0].into(), 12)),
            skip_invalid_objects: false,
        }
    }
}

/// The inventory and a report of what was read.
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub inventory: Inventory,
    pub report: LoadReport,
}

/// What was read, for `flowlens load`-style summaries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub files: usize,
    /// Non-empty YAML documents (a `kind: List` is one document).
    pub documents: usize,
    /// Objects of the kinds Flowlens models, by kind (list items counted one by one).
    pub resources: BTreeMap<String, usize>,
    /// Objects of other kinds (ConfigMap, Ingress, …), which are skipped.
    pub skipped_kinds: BTreeMap<String, usize>,
    /// Objects left out because they had errors (with [`LoadOptions::skip_invalid_objects`]),
    /// by kind; each error is also in `warnings`.
    pub skipped_invalid: BTreeMap<String, usize>,
    pub warnings: Vec<String>,
}

/// Everything parsed from some texts, before the inventory is built.
#[derive(Debug, Default)]
pub struct ParsedResources {
    pub resources: Vec<Resource>,
    pub errors: Vec<LoadError>,
    pub report: LoadReport,
}

impl ParsedResources {
    fn add(&mut self, parsed: documents::Parsed) {
        self.resources.extend(parsed.resources);
        self.errors.extend(parsed.errors);
        self.report.files += 1;
        self.report.documents += parsed.documents;
        self.report.warnings.extend(parsed.warnings);
        for (kind, n) in parsed.kinds {
            *self.report.resources.entry(kind).or_default() += n;
        }
        for (kind, n) in parsed.skipped {
            *self.report.skipped_kinds.entry(kind).or_default() += n;
        }
        for skipped in parsed.invalid {
            *self
                .report
                .skipped_invalid
                .entry(skipped.kind.clone())
                .or_default() += 1;
            for e in &skipped.errors {
                self.report
                    .warnings
                    .push(format!("{e}; {} is skipped", skipped.describe()));
            }
        }
    }
}

fn is_json(file_name: &str) -> bool {
    file_name.to_ascii_lowercase().ends_with(".json")
}

/// Parses one text (YAML or, for a `.json` file name, JSON) into resources.
pub fn parse_resources(text: &str, file_name: &str, opts: &LoadOptions) -> ParsedResources {
    let mut out = ParsedResources::default();
    out.add(documents::parse_file(
        text,
        file_name,
        is_json(file_name),
        opts,
    ));
    out
}

/// Parses one object that is already in memory, such as a Kubernetes API object received
/// from a watch, given through any serde `Deserializer` (`&serde_json::Value` is one). It is
/// read exactly as the same object written in a file would be; `source` names it in errors
/// and warnings. Positions are unknown, so errors carry the field path only.
pub fn parse_object<'de, D: serde::Deserializer<'de>>(
    object: D,
    source: &str,
    opts: &LoadOptions,
) -> ParsedResources {
    let parsed = documents::parse_value(object, source, opts);
    let mut out = ParsedResources::default();
    out.add(parsed);
    out.report.files = 0;
    out
}

fn finish(mut parsed: ParsedResources, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    let mut errors = std::mem::take(&mut parsed.errors);
    match build_inventory(parsed.resources, opts) {
        Ok(built) if errors.is_empty() => {
            let mut report = parsed.report;
            report.warnings.extend(built.warnings);
            Ok(Loaded {
                inventory: built.inventory,
                report,
            })
        }
        Ok(_) => Err(LoadErrors(errors)),
        Err(more) => {
            errors.extend(more.0);
            Err(LoadErrors(errors))
        }
    }
}

/// Loads one text as if it were a file called `file_name`.
pub fn load_str(text: &str, file_name: &str, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    finish(parse_resources(text, file_name, opts), opts)
}

/// Loads files and directories. Directories are searched recursively for `*.yaml`, `*.yml`
/// and `*.json` (hidden entries skipped), in sorted order; paths given explicitly are read
/// whatever their extension, in the order given, so later ones override earlier ones.
pub fn load_paths<P: AsRef<Path>>(paths: &[P], opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let mut seen_dirs = HashSet::new();
    for p in paths {
        collect_files(p.as_ref(), true, &mut files, &mut errors, &mut seen_dirs);
    }
    let mut parsed = ParsedResources::default();
    for file in files {
        let name = file.display().to_string();
        match read_text(&file) {
            Ok(text) => parsed.add(documents::parse_file(&text, &name, is_json(&name), opts)),
            Err(message) => errors.push(file_error(&name, message)),
        }
    }
    parsed.errors.splice(0..0, errors);
    finish(parsed, opts)
}

fn file_error(file: &str, message: String) -> LoadError {
    LoadError {
        file: file.to_owned(),
        document: 0,
        line: None,
        column: None,
        field: String::new(),
        message,
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {e}"))?
        .len();
    if size > MAX_FILE_BYTES {
        return Err(format!(
            "file is {size} bytes; at most {MAX_FILE_BYTES} are read"
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        )
    })
}

fn is_manifest_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

fn collect_files(
    path: &Path,
    explicit: bool,
    files: &mut Vec<PathBuf>,
    errors: &mut Vec<LoadError>,
    seen_dirs: &mut HashSet<PathBuf>,
) {
    let name = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            errors.push(file_error(&name, format!("cannot read: {e}")));
            return;
        }
    };
    if meta.is_file() {
        if explicit || is_manifest_name(path) {
            files.push(path.to_path_buf());
        }
        return;
    }
    if !meta.is_dir() {
        return;
    }
    // Symlinked directories can loop; each real directory is read once.
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if !seen_dirs.insert(real) {
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => {
            errors.push(file_error(&name, format!("cannot read directory: {e}")));
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.path())
        .collect();
    children.sort();
    for child in children {
        collect_files(&child, false, files, errors, seen_dirs);
    }
}

/// For the policy editor: exactly one policy document (any of the eight policy kinds) as a
/// model [`Policy`]. Tiers are not checked here; there is no inventory to check against.
pub fn parse_policy(text: &str, file_name: &str, opts: &LoadOptions) -> Result<Policy, LoadErrors> {
    let parsed = parse_resources(text, file_name, opts);
    if !parsed.errors.is_empty() {
        return Err(LoadErrors(parsed.errors));
    }
    let mut found = parsed.resources.into_iter();
    let whole_file = |message: String| LoadErrors(vec![file_error(file_name, message)]);
    match (found.next(), found.next()) {
        (Some(r), None) => match r.body {
            ResourceBody::Policy(p) => Ok(p.policy),
            _ => Err(LoadErrors(vec![LoadError {
                file: file_name.to_owned(),
                document: r.source.document,
                line: r.source.line,
                column: None,
                field: "kind".into(),
                message: format!("{} is not a policy kind", r.kind),
            }])),
        },
        (None, _) => match parsed.report.skipped_kinds.keys().next() {
            Some(kind) => Err(whole_file(format!("{kind} is not a policy kind"))),
            None => Err(whole_file("no policy found: the text is empty".into())),
        },
        (Some(_), Some(_)) => Err(whole_file(
            "expected exactly one policy, found several documents".into(),
        )),
    }
}

/// For fuzzing: loads arbitrary bytes (as lossy UTF-8), strictly and skipping invalid
/// objects, and throws the results away. It must never panic.
pub fn fuzz_load(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = load_str(&text, "fuzz.yaml", &LoadOptions::default());
    let tolerant = LoadOptions {
        skip_invalid_objects: true,
        ..LoadOptions::default()
    };
    let _ = load_str(&text, "fuzz.yaml", &tolerant);
}
