//! Every validation error, with its exact field path and line, and the promise that all
//! errors are reported, not just the first.

mod common;

use common::*;
use flowlens_manifests::{LoadError, LoadOptions, load_str};
use flowlens_selector::Selector;

fn gnp(spec: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: g\nspec:\n{spec}"
    )
}

fn np(spec: &str) -> String {
    format!(
        "apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: n\n  namespace: x\nspec:\n{spec}"
    )
}

fn knp(spec: &str) -> String {
    format!(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: k\nspec:\n{spec}"
    )
}

/// The one error of `text`, at `field`, on the line containing `needle`.
fn check(text: &str, field: &str, needle: &str, message: &str) -> LoadError {
    let e = error_at(text, field);
    assert_eq!(e.line, Some(line_of(text, needle)), "wrong line: {e}");
    assert!(e.column.is_some(), "no column: {e}");
    assert!(
        e.message.contains(message),
        "message {:?} lacks {message:?}",
        e.message
    );
    e
}

#[test]
fn display_names_file_document_line_column_and_field() {
    let text = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n{}",
        gnp(
            "  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [80, '80-90']\n"
        )
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 1);
    assert_eq!(
        errs[0].to_string(),
        r#"test.yaml: document 1, line 15, column 21: spec.ingress[0].destination.ports[1]: invalid port "80-90": expected a port number, a range "a:b" or a port name"#
    );
}

#[test]
fn ports_need_tcp_udp_or_sctp() {
    let msg = "ports may only be specified with protocol TCP, UDP or SCTP";
    check(
        &gnp("  ingress:\n    - action: Allow\n      destination:\n        ports: [80]\n"),
        "spec.ingress[0].destination.ports",
        "ports:",
        msg,
    );
    check(
        &gnp(
            "  egress:\n    - action: Allow\n      protocol: ICMP\n      source:\n        notPorts: [80]\n",
        ),
        "spec.egress[0].source.notPorts",
        "notPorts",
        msg,
    );
    // notProtocol does not count.
    check(
        &gnp(
            "  egress:\n    - action: Allow\n      notProtocol: TCP\n      destination:\n        ports: [80]\n",
        ),
        "spec.egress[0].destination.ports",
        "ports:",
        msg,
    );
}

#[test]
fn port_values() {
    check(
        &gnp(
            "  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [70000]\n",
        ),
        "spec.ingress[0].destination.ports[0]",
        "70000",
        "out of range 0-65535",
    );
    check(
        &gnp(
            "  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: [80, '2000:1000']\n",
        ),
        "spec.ingress[0].destination.ports[1]",
        "2000:1000",
        "greater than",
    );
    check(
        &gnp(
            "  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports:\n          - {a: 1}\n",
        ),
        "spec.ingress[0].destination.ports[0]",
        "{a: 1}",
        "found a mapping",
    );
}

#[test]
fn do_not_track_and_pre_dnat() {
    check(
        &gnp("  doNotTrack: true\n  preDNAT: true\n  applyOnForward: true\n"),
        "spec.preDNAT",
        "preDNAT",
        "cannot both be true",
    );
    check(
        &gnp("  doNotTrack: true\n"),
        "spec.applyOnForward",
        "doNotTrack",
        "applyOnForward must be true",
    );
    check(
        &gnp("  preDNAT: true\n  applyOnForward: false\n"),
        "spec.applyOnForward",
        "applyOnForward",
        "applyOnForward must be true",
    );
    check(
        &gnp("  preDNAT: true\n  applyOnForward: true\n  egress:\n    - action: Allow\n"),
        "spec.egress",
        "- action",
        "cannot have egress rules",
    );
    check(
        &gnp("  preDNAT: true\n  applyOnForward: true\n  types: [Egress]\n"),
        "spec.types",
        "types",
        "cannot apply to Egress",
    );
    check(
        &np("  doNotTrack: true\n"),
        "spec.doNotTrack",
        "doNotTrack",
        "only valid on GlobalNetworkPolicy",
    );
    check(
        &np("  preDNAT: false\n"),
        "spec.preDNAT",
        "preDNAT",
        "only valid on GlobalNetworkPolicy",
    );
}

#[test]
fn icmp_and_ip_version() {
    check(
        &gnp("  ingress:\n    - action: Allow\n      protocol: TCP\n      icmp: {type: 8}\n"),
        "spec.ingress[0].icmp",
        "icmp",
        "protocol ICMP or ICMPv6",
    );
    check(
        &gnp("  ingress:\n    - action: Allow\n      notICMP: {type: 8}\n"),
        "spec.ingress[0].notICMP",
        "notICMP",
        "protocol ICMP or ICMPv6",
    );
    check(
        &gnp("  ingress:\n    - action: Allow\n      protocol: ICMP\n      icmp: {code: 1}\n"),
        "spec.ingress[0].icmp.type",
        "icmp",
        "needs an ICMP type",
    );
    check(
        &gnp("  ingress:\n    - action: Allow\n      protocol: ICMP\n      icmp: {type: 255}\n"),
        "spec.ingress[0].icmp.type",
        "icmp",
        "out of range 0-254",
    );
    check(
        &gnp("  ingress:\n    - action: Allow\n      protocol: ICMP\n      ipVersion: 6\n"),
        "spec.ingress[0].ipVersion",
        "ipVersion",
        "IPv4 only",
    );
    check(
        &gnp("  ingress:\n    - action: Allow\n      protocol: ICMPv6\n      ipVersion: 4\n"),
        "spec.ingress[0].ipVersion",
        "ipVersion",
        "IPv6 only",
    );
    check(
        &gnp("  ingress:\n    - action: Allow\n      ipVersion: 5\n"),
        "spec.ingress[0].ipVersion",
        "ipVersion",
        "not 4 or 6",
    );
    check(
        &gnp(
            "  egress:\n    - action: Allow\n      ipVersion: 4\n      destination:\n        nets: [10.0.0.0/8, 'fd00::/8']\n",
        ),
        "spec.egress[0].destination.nets[1]",
        "nets",
        "IPv6 network but the rule has ipVersion 4",
    );
    check(
        &gnp(
            "  egress:\n    - action: Allow\n      ipVersion: 6\n      source:\n        notNets:\n          - 10.0.0.0/8\n",
        ),
        "spec.egress[0].source.notNets[0]",
        "- 10.0.0.0/8",
        "IPv4 network",
    );
}

#[test]
fn selectors_report_the_selector_column() {
    let bad = "app == 'a' &&& x";
    let text = gnp(&format!("  selector: \"{bad}\"\n"));
    let e = check(
        &text,
        "spec.selector",
        "selector:",
        "selector error at column",
    );
    let expected = Selector::parse(bad)
        .err()
        .unwrap_or_else(|| unreachable!())
        .to_string();
    assert_eq!(e.message, expected);
    check(
        &gnp("  ingress:\n    - action: Allow\n      source:\n        namespaceSelector: 'has('\n"),
        "spec.ingress[0].source.namespaceSelector",
        "namespaceSelector",
        "selector error at column 5",
    );
    check(
        &gnp("  serviceAccountSelector: 'a in'\n"),
        "spec.serviceAccountSelector",
        "serviceAccountSelector",
        "selector error",
    );
}

#[test]
fn actions() {
    check(
        &gnp("  ingress:\n    - action: Accept\n"),
        "spec.ingress[0].action",
        "Accept",
        "unknown action \"Accept\"",
    );
    check(
        &gnp("  ingress:\n    - protocol: TCP\n"),
        "spec.ingress[0].action",
        "protocol",
        "missing required field",
    );
    check(
        &gnp("  ingress:\n    - action: Deny\n      http:\n        methods: [GET]\n"),
        "spec.ingress[0].http",
        "methods",
        "only valid on Allow rules",
    );
}

#[test]
fn wrong_types_are_errors_with_positions() {
    check(
        &gnp("  order: high\n"),
        "spec.order",
        "order",
        "expected a number, found a string",
    );
    check(
        &gnp("  ingress: {action: Allow}\n"),
        "spec.ingress",
        "ingress",
        "expected a list, found a mapping",
    );
    check(
        &gnp("  types: [Both]\n"),
        "spec.types[0]",
        "Both",
        "unknown policy type",
    );
    check(
        &gnp("  types: [Ingress, Ingress]\n"),
        "spec.types[1]",
        "types",
        "listed twice",
    );
    check(
        &gnp("  ingress:\n    - action: Allow\n      protocol: 300\n"),
        "spec.ingress[0].protocol",
        "300",
        "unknown protocol",
    );
    check(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels:\n    version: 1\n",
        "metadata.labels.version",
        "version",
        "expected a string, found an integer",
    );
    check(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  hostNetwork: yes\n",
        "spec.hostNetwork",
        "hostNetwork",
        "expected true or false",
    );
    // Unknown fields are ignored.
    inventory(&gnp(
        "  somethingNew: 1\n  ingress:\n    - action: Allow\n      future: {x: 1}\n",
    ));
}

#[test]
fn required_fields() {
    check(
        "apiVersion: v1\nmetadata:\n  name: a\n",
        "kind",
        "apiVersion",
        "missing required field",
    );
    check(
        "kind: Namespace\nmetadata:\n  name: a\n",
        "apiVersion",
        "kind",
        "missing required field",
    );
    check(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  labels: {}\n",
        "metadata.name",
        "labels",
        "missing required field",
    );
    check(
        "apiVersion: v1\nkind: Namespace\nspec: {}\n",
        "metadata",
        "apiVersion",
        "missing required field",
    );
    check(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: 'bad|name'\n",
        "metadata.name",
        "bad|name",
        "invalid name",
    );
    check(
        "- just\n- a list\n",
        "",
        "just",
        "expected a Kubernetes object",
    );
}

#[test]
fn workload_limits() {
    let deployment = |replicas: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: {replicas}\n  template:\n    metadata:\n      labels: {{app: d}}\n"
        )
    };
    check(
        &deployment("20000"),
        "spec.replicas",
        "replicas",
        "out of range 0-10000",
    );
    check(
        &deployment("-1"),
        "spec.replicas",
        "replicas",
        "out of range",
    );
    check(
        &deployment("'3'"),
        "spec.replicas",
        "replicas",
        "expected an integer",
    );
    check(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 1\n",
        "spec.template",
        "replicas",
        "missing required field",
    );
    check(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: c\n      ports:\n        - containerPort: 99999\n",
        "spec.containers[0].ports[0].containerPort",
        "99999",
        "out of range 1-65535",
    );
    check(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\nspec:\n  ports:\n    - port: 80\n      protocol: ICMP\n",
        "spec.ports[0].protocol",
        "ICMP",
        "expected TCP, UDP or SCTP",
    );
}

#[test]
fn kubernetes_network_policy_validation() {
    check(
        &knp(
            "  podSelector: {}\n  ingress:\n    - ports:\n        - port: http\n          endPort: 90\n",
        ),
        "spec.ingress[0].ports[0].endPort",
        "endPort",
        "numeric port",
    );
    check(
        &knp(
            "  podSelector: {}\n  ingress:\n    - ports:\n        - port: 100\n          endPort: 90\n",
        ),
        "spec.ingress[0].ports[0].endPort",
        "endPort",
        "less than port 100",
    );
    check(
        &knp("  podSelector: {}\n  ingress:\n    - ports:\n        - port: '80'\n"),
        "spec.ingress[0].ports[0].port",
        "'80'",
        "expected a port number or a port name",
    );
    check(
        &knp("  podSelector: {}\n  ingress:\n    - ports:\n        - endPort: 90\n"),
        "spec.ingress[0].ports[0].endPort",
        "endPort",
        "numeric port",
    );
    check(
        &knp(
            "  podSelector: {}\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.0/16\n            except: [10.1.0.0/24]\n",
        ),
        "spec.egress[0].to[0].ipBlock.except[0]",
        "except",
        "not inside 10.0.0.0/16",
    );
    check(
        &knp(
            "  podSelector: {}\n  egress:\n    - to:\n        - ipBlock:\n            cidr: 10.0.0.300/8\n",
        ),
        "spec.egress[0].to[0].ipBlock.cidr",
        "cidr",
        "invalid CIDR",
    );
    check(
        &knp(
            "  podSelector: {}\n  egress:\n    - to:\n        - ipBlock: {cidr: 10.0.0.0/8}\n          podSelector: {}\n",
        ),
        "spec.egress[0].to[0]",
        "ipBlock",
        "cannot be combined",
    );
    check(
        &knp("  podSelector: {}\n  egress:\n    - to:\n        - {}\n"),
        "spec.egress[0].to[0]",
        "- {}",
        "needs podSelector",
    );
    check(
        &knp(
            "  podSelector:\n    matchExpressions:\n      - {key: a, operator: Equals, values: [b]}\n",
        ),
        "spec.podSelector.matchExpressions[0].operator",
        "Equals",
        "unknown operator",
    );
    check(
        &knp("  podSelector:\n    matchExpressions:\n      - {key: a, operator: In}\n"),
        "spec.podSelector.matchExpressions[0].values",
        "operator: In",
        "at least one value",
    );
    check(
        &knp("  podSelector: {}\n  policyTypes: [ingress]\n"),
        "spec.policyTypes[0]",
        "policyTypes",
        "unknown policy type",
    );
    check(
        &knp("  podSelector: {}\n  ingress:\n    - ports:\n        - protocol: ICMP\n"),
        "spec.ingress[0].ports[0].protocol",
        "ICMP",
        "TCP, UDP or SCTP",
    );
    check(
        "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: k\n",
        "spec",
        "apiVersion",
        "missing required field",
    );
}

#[test]
fn admin_network_policy_validation() {
    let anp = |body: &str| {
        format!(
            "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: AdminNetworkPolicy\nmetadata:\n  name: a\nspec:\n{body}"
        )
    };
    check(
        &anp("  priority: 1001\n  subject: {namespaces: {}}\n"),
        "spec.priority",
        "priority",
        "out of range 0-1000",
    );
    check(
        &anp("  subject: {namespaces: {}}\n"),
        "spec.priority",
        "subject",
        "missing required field",
    );
    check(
        &anp("  priority: 1\n  subject: {}\n"),
        "spec.subject",
        "subject",
        "exactly one of namespaces or pods",
    );
    check(
        &anp(
            "  priority: 1\n  subject: {namespaces: {}}\n  ingress:\n    - action: Accept\n      from: [{namespaces: {}}]\n",
        ),
        "spec.ingress[0].action",
        "Accept",
        "Allow, Deny or Pass",
    );
    check(
        &anp(
            "  priority: 1\n  subject: {namespaces: {}}\n  ingress:\n    - action: Allow\n      from: []\n",
        ),
        "spec.ingress[0].from",
        "action",
        "at least one peer",
    );
    check(
        &anp(
            "  priority: 1\n  subject: {namespaces: {}}\n  ingress:\n    - action: Allow\n      from: [{networks: [10.0.0.0/8]}]\n",
        ),
        "spec.ingress[0].from[0]",
        "networks",
        "exactly one of namespaces, pods",
    );
    check(
        &anp(
            "  priority: 1\n  subject: {namespaces: {}}\n  egress:\n    - action: Allow\n      to: [{namespaces: {}}]\n      ports:\n        - portRange: {start: 30, end: 20}\n",
        ),
        "spec.egress[0].ports[0].portRange",
        "portRange",
        "less than end",
    );
    check(
        &anp(
            "  priority: 1\n  subject: {namespaces: {}}\n  egress:\n    - action: Allow\n      to: [{namespaces: {}}]\n      ports:\n        - {portNumber: {port: 1}, namedPort: x}\n",
        ),
        "spec.egress[0].ports[0]",
        "portNumber",
        "exactly one of portNumber",
    );
    let banp = |name: &str, action: &str| {
        format!(
            "apiVersion: policy.networking.k8s.io/v1alpha1\nkind: BaselineAdminNetworkPolicy\nmetadata:\n  name: {name}\nspec:\n  subject: {{namespaces: {{}}}}\n  ingress:\n    - action: {action}\n      from: [{{namespaces: {{}}}}]\n"
        )
    };
    check(
        &banp("other", "Deny"),
        "metadata.name",
        "other",
        "must be named \"default\"",
    );
    check(
        &banp("default", "Pass"),
        "spec.ingress[0].action",
        "Pass",
        "Allow or Deny",
    );
}

#[test]
fn calico_resource_validation() {
    check(
        "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: h\nspec:\n  node: n1\n",
        "spec",
        "node",
        "needs interfaceName or expectedIPs",
    );
    check(
        "apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: h\nspec:\n  expectedIPs: [not-an-ip]\n",
        "spec.expectedIPs[0]",
        "expectedIPs",
        "invalid IP address",
    );
    check(
        "apiVersion: projectcalico.org/v3\nkind: Tier\nmetadata:\n  name: t\nspec:\n  defaultAction: Allow\n",
        "spec.defaultAction",
        "defaultAction",
        "expected Deny or Pass",
    );
    check(
        "apiVersion: projectcalico.org/v3\nkind: NetworkSet\nmetadata:\n  name: s\nspec:\n  nets: [10.0.0.0/33]\n",
        "spec.nets[0]",
        "nets",
        "invalid CIDR",
    );
    check(
        &gnp(
            "  ingress:\n    - action: Allow\n      destination:\n        services: {namespace: x}\n",
        ),
        "spec.ingress[0].destination.services.name",
        "services",
        "missing required field",
    );
    check(
        "apiVersion: projectcalico.org/v3\nkind: StagedGlobalNetworkPolicy\nmetadata:\n  name: s\nspec:\n  stagedAction: Remove\n",
        "spec.stagedAction",
        "stagedAction",
        "expected Set or Delete",
    );
}

#[test]
fn undeclared_tier_is_an_error_at_spec_tier() {
    let text = gnp("  tier: missing\n  order: 1\n");
    check(
        &text,
        "spec.tier",
        "tier: missing",
        "tier \"missing\" is not declared",
    );
    // Built-in tiers need no declaration.
    inventory(&gnp("  tier: kube-admin\n"));
    inventory(&gnp("  tier: default\n"));
}

#[test]
fn yaml_syntax_errors_have_positions() {
    let text = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: [a, b\n  labels: {}\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 1);
    let e = &errs[0];
    assert!(e.message.starts_with("invalid YAML:"), "{e}");
    assert!(e.line.is_some() && e.column.is_some(), "{e}");
    assert_eq!(e.field, "");
}

#[test]
fn all_errors_are_reported_across_documents() {
    let text = format!(
        "{}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: fine\n---\nkind: [\n---\n{}",
        gnp("  order: x\n  selector: '&&'\n"),
        np("  ingress:\n    - action: Nope\n")
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 4, "{}", list(&errs));
    let summary: Vec<(usize, &str)> = errs
        .iter()
        .map(|e| (e.document, e.field.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "spec.order"),
            (0, "spec.selector"),
            (2, ""),
            (3, "spec.ingress[0].action")
        ]
    );
    // The syntax error of document 2 is on its own line in the file.
    assert_eq!(errs[2].line, Some(line_of(&text, "kind: [")));
    assert_eq!(errs[3].line, Some(line_of(&text, "Nope")));
    // One line per error.
    let display = flowlens_manifests::LoadErrors(errs).to_string();
    assert_eq!(display.lines().count(), 4);
}

#[test]
fn list_items_are_named_in_field_paths() {
    let text = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Namespace\n    metadata:\n      name: ok\n  - apiVersion: projectcalico.org/v3\n    kind: GlobalNetworkPolicy\n    metadata:\n      name: g\n    spec:\n      order: nope\n  - metadata: {name: x}\n";
    let errs = errors(text);
    assert_eq!(errs.len(), 3, "{}", list(&errs));
    assert_eq!(errs[0].field, "items[1].spec.order");
    assert_eq!(errs[0].line, Some(line_of(text, "order: nope")));
    // Items of a `kind: List` must say what they are.
    assert_eq!(errs[1].field, "items[2].kind");
    assert_eq!(errs[2].field, "items[2].apiVersion");
}

#[test]
fn absurd_inputs_are_refused_gracefully() {
    // An alias bomb.
    let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = if i == 1 {
            "a".to_string()
        } else {
            format!("a{}", i - 1)
        };
        bomb.push_str(&format!("a{i}: &a{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
    }
    let result = load_str(&bomb, "bomb.yaml", &LoadOptions::default());
    assert!(result.is_err());
    // Deep nesting.
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(load_str(&deep, "deep.yaml", &LoadOptions::default()).is_err());
}
