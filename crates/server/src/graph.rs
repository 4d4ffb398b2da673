//! The Dynamic Service Graph: flow aggregates folded into nodes (namespaces, or their
//! workloads and services when expanded; networks, network sets and hosts apart) and
//! directed edges coloured by what policy did.

use flowlens_model::FlowField;
use flowlens_store::{AggregateRow, FieldFilter, FilterOp};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, Serialize)]
pub struct Node {
    /// Stable across refreshes: `ns:NS`, `wl:NS/NAME`, `svc:NS/NAME`, `net:pub`, `net:pvt`,
    /// `netset:[NS/]NAME`, `hep:NAME`.
    pub id: String,
    pub kind: &'static str,
    pub label: String,
    pub namespace: Option<String>,
    pub parent: Option<String>,
    pub expanded: bool,
    pub num_flows: u64,
    pub denied_flows: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct PortUse {
    pub proto: String,
    pub port: Option<u16>,
    pub num_flows: u64,
    pub allowed_flows: u64,
    pub denied_flows: u64,
    pub bytes: u64,
    pub packets: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Edge {
    pub id: String,
    pub source: String,
    pub target: String,
    /// `allowed`, `denied` or `mixed`.
    pub status: &'static str,
    pub num_flows: u64,
    pub allowed_flows: u64,
    pub denied_flows: u64,
    pub bytes: u64,
    pub packets: u64,
    pub ports: Vec<PortUse>,
    /// The hop from a Service to a backend: its flows are those of the edges into the
    /// Service, where they are counted; sums over edges leave these out.
    pub backend_hop: bool,
}

/// The graph's traffic, each flow counted once however many edges draw it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// Connections (`num_flows`), and those allowed and denied.
    pub num_flows: u64,
    pub allowed_flows: u64,
    pub denied_flows: u64,
    pub bytes: u64,
    pub packets: u64,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub totals: Totals,
}

/// Which namespaces show their workloads and services.
#[derive(Clone, Debug, Default)]
pub enum Expand {
    #[default]
    None,
    All,
    Some(BTreeSet<String>),
}

impl Expand {
    fn has(&self, ns: &str) -> bool {
        match self {
            Expand::None => false,
            Expand::All => true,
            Expand::Some(set) => set.contains(ns),
        }
    }
}

/// One end of a flow as the graph places it.
struct Place {
    id: String,
    kind: &'static str,
    label: String,
    namespace: Option<String>,
    parent: Option<String>,
}

fn place(kind: Option<&str>, ns: Option<&str>, name: Option<&str>, expand: &Expand) -> Place {
    let name = name.unwrap_or("-");
    let plain = |id: String, kind, label: String| Place {
        id,
        kind,
        label,
        namespace: ns.map(str::to_string),
        parent: None,
    };
    match (kind, ns) {
        (Some("net"), _) | (None, None) => plain(
            format!("net:{name}"),
            "net",
            match name {
                "pub" => "public network".into(),
                "pvt" => "private network".into(),
                other => other.to_string(),
            },
        ),
        (Some("hep"), _) => plain(format!("hep:{name}"), "host", name.to_string()),
        (Some("ns"), Some(ns)) => plain(
            format!("netset:{ns}/{name}"),
            "network_set",
            name.to_string(),
        ),
        (Some("ns"), None) => plain(format!("netset:{name}"), "network_set", name.to_string()),
        (_, Some(ns)) if expand.has(ns) => Place {
            id: format!("wl:{ns}/{name}"),
            kind: "workload",
            label: name.to_string(),
            namespace: Some(ns.to_string()),
            parent: Some(format!("ns:{ns}")),
        },
        (_, Some(ns)) => plain(format!("ns:{ns}"), "namespace", ns.to_string()),
        (Some(_), None) => plain(format!("net:{name}"), "net", name.to_string()),
    }
}

#[derive(Default)]
struct EdgeSums {
    allowed: u64,
    denied: u64,
    bytes: u64,
    packets: u64,
    ports: BTreeMap<(String, Option<u16>), PortUse>,
}

impl EdgeSums {
    fn add(&mut self, row: &AggregateRow) {
        self.allowed += row.allowed_flows;
        self.denied += row.denied_flows;
        let bytes = row.bytes_in + row.bytes_out;
        let packets = row.packets_in + row.packets_out;
        self.bytes += bytes;
        self.packets += packets;
        let proto = row.key.proto.clone().unwrap_or_else(|| "-".into());
        let port = self
            .ports
            .entry((proto.clone(), row.key.dest_port))
            .or_insert_with(|| PortUse {
                proto,
                port: row.key.dest_port,
                ..PortUse::default()
            });
        port.num_flows += row.num_flows;
        port.allowed_flows += row.allowed_flows;
        port.denied_flows += row.denied_flows;
        port.bytes += bytes;
        port.packets += packets;
    }
}

/// Folds [`GroupBy::ServiceEdge`](flowlens_store::GroupBy::ServiceEdge) rows into a graph.
/// A flow to a Service of an expanded namespace goes through the Service's node.
pub fn build(rows: &[AggregateRow], expand: &Expand) -> Graph {
    let mut nodes: BTreeMap<String, Node> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), EdgeSums> = BTreeMap::new();
    let mut totals = Totals::default();
    let touch = |p: &Place, row: &AggregateRow, nodes: &mut BTreeMap<String, Node>| {
        if let Some(parent) = &p.parent {
            let ns = p.namespace.clone().unwrap_or_default();
            nodes.entry(parent.clone()).or_insert_with(|| Node {
                id: parent.clone(),
                kind: "namespace",
                label: ns.clone(),
                namespace: Some(ns),
                parent: None,
                expanded: true,
                num_flows: 0,
                denied_flows: 0,
            });
        }
        let node = nodes.entry(p.id.clone()).or_insert_with(|| Node {
            id: p.id.clone(),
            kind: p.kind,
            label: p.label.clone(),
            namespace: p.namespace.clone(),
            parent: p.parent.clone(),
            expanded: false,
            num_flows: 0,
            denied_flows: 0,
        });
        node.num_flows += row.num_flows;
        node.denied_flows += row.denied_flows;
    };
    for row in rows {
        totals.num_flows += row.allowed_flows + row.denied_flows;
        totals.allowed_flows += row.allowed_flows;
        totals.denied_flows += row.denied_flows;
        totals.bytes += row.bytes_in + row.bytes_out;
        totals.packets += row.packets_in + row.packets_out;
        let k = &row.key;
        let src = place(
            k.source_type.as_deref(),
            k.source_namespace.as_deref(),
            k.source_name_aggr.as_deref(),
            expand,
        );
        let dst = place(
            k.dest_type.as_deref(),
            k.dest_namespace.as_deref(),
            k.dest_name_aggr.as_deref(),
            expand,
        );
        touch(&src, row, &mut nodes);
        touch(&dst, row, &mut nodes);
        let service = match (&k.dest_service_namespace, &k.dest_service_name) {
            (Some(ns), Some(name)) if expand.has(ns) => Some(Place {
                id: format!("svc:{ns}/{name}"),
                kind: "service",
                label: name.clone(),
                namespace: Some(ns.clone()),
                parent: Some(format!("ns:{ns}")),
            }),
            _ => None,
        };
        match service {
            Some(svc) => {
                touch(&svc, row, &mut nodes);
                edges
                    .entry((src.id.clone(), svc.id.clone()))
                    .or_default()
                    .add(row);
                edges.entry((svc.id, dst.id)).or_default().add(row);
            }
            None => edges.entry((src.id, dst.id)).or_default().add(row),
        }
    }
    let edges = edges
        .into_iter()
        .map(|((source, target), sums)| {
            let backend_hop = source.starts_with("svc:");
            let mut ports: Vec<PortUse> = sums.ports.into_values().collect();
            ports.sort_by_key(|p| std::cmp::Reverse(p.num_flows));
            Edge {
                id: format!("{source}->{target}"),
                status: match (sums.allowed, sums.denied) {
                    (_, 0) => "allowed",
                    (0, _) => "denied",
                    _ => "mixed",
                },
                source,
                target,
                num_flows: sums.allowed + sums.denied,
                allowed_flows: sums.allowed,
                denied_flows: sums.denied,
                bytes: sums.bytes,
                packets: sums.packets,
                ports,
                backend_hop,
            }
        })
        .collect();
    Graph {
        nodes: nodes.into_values().collect(),
        edges,
        totals,
    }
}

/// Filters that select the flows behind a node, as the source (`as_source`) or destination
/// end of an edge. A Service node is always a destination (flows go to it, then on to its
/// backends).
pub fn node_filters(id: &str, as_source: bool) -> Option<Vec<FieldFilter>> {
    let (prefix, rest) = id.split_once(':')?;
    let side = |src: FlowField, dst: FlowField| if as_source { src } else { dst };
    let eq = |f: FlowField, v: &str| FieldFilter::new(f, FilterOp::Eq(v.to_string()));
    let ns_name = || match rest.split_once('/') {
        Some((ns, name)) => (Some(ns), name),
        None => (None, rest),
    };
    let ty = side(FlowField::SourceType, FlowField::DestType);
    let ns_field = side(FlowField::SourceNamespace, FlowField::DestNamespace);
    let name_field = side(FlowField::SourceNameAggr, FlowField::DestNameAggr);
    Some(match prefix {
        "ns" => vec![eq(ns_field, rest)],
        "wl" => {
            let (ns, name) = ns_name();
            vec![eq(ns_field, ns?), eq(name_field, name)]
        }
        "net" => vec![eq(ty, "net"), eq(name_field, rest)],
        "hep" => vec![eq(ty, "hep"), eq(name_field, rest)],
        "netset" => {
            let (ns, name) = ns_name();
            vec![
                eq(ty, "ns"),
                eq(ns_field, ns.unwrap_or("-")),
                eq(name_field, name),
            ]
        }
        "svc" => {
            let (ns, name) = ns_name();
            vec![
                eq(FlowField::DestServiceNamespace, ns?),
                eq(FlowField::DestServiceName, name),
            ]
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flowlens_model::Action;
    use flowlens_store::GroupKey;

    fn row(
        src: (&str, &str, &str),
        dst: (&str, &str, &str),
        svc: Option<(&str, &str)>,
        action: Action,
        n: u64,
    ) -> AggregateRow {
        let opt = |s: &str| (s != "-").then(|| s.to_string());
        AggregateRow {
            key: GroupKey {
                source_type: opt(src.0),
                source_namespace: opt(src.1),
                source_name_aggr: opt(src.2),
                dest_type: opt(dst.0),
                dest_namespace: opt(dst.1),
                dest_name_aggr: opt(dst.2),
                dest_service_namespace: svc.map(|s| s.0.to_string()),
                dest_service_name: svc.map(|s| s.1.to_string()),
                proto: Some("tcp".into()),
                dest_port: Some(80),
                action: Some(action),
                ..GroupKey::default()
            },
            num_flows: n,
            allowed_flows: if action == Action::Allow { n } else { 0 },
            denied_flows: if action == Action::Deny { n } else { 0 },
            ..AggregateRow::default()
        }
    }

    #[test]
    fn collapsed_namespaces_and_external_networks() {
        let rows = [
            row(
                ("wep", "shop", "web-*"),
                ("wep", "db", "pg-*"),
                None,
                Action::Allow,
                5,
            ),
            row(
                ("wep", "shop", "web-*"),
                ("wep", "db", "pg-*"),
                None,
                Action::Deny,
                2,
            ),
            row(
                ("wep", "shop", "api-*"),
                ("net", "-", "pub"),
                None,
                Action::Allow,
                3,
            ),
        ];
        let g = build(&rows, &Expand::None);
        let ids: Vec<_> = g.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids, ["net:pub", "ns:db", "ns:shop"]);
        let e = g.edges.iter().find(|e| e.target == "ns:db").unwrap();
        assert_eq!((e.status, e.num_flows, e.denied_flows), ("mixed", 7, 2));
        let e = g.edges.iter().find(|e| e.target == "net:pub").unwrap();
        assert_eq!(e.status, "allowed");
    }

    #[test]
    fn expanded_namespace_routes_through_services() {
        let rows = [row(
            ("wep", "shop", "rogue"),
            ("wep", "shop", "ms1-*"),
            Some(("shop", "ms1")),
            Action::Deny,
            4,
        )];
        let g = build(&rows, &Expand::Some(["shop".to_string()].into()));
        let ids: Vec<_> = g.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(
            ids,
            ["ns:shop", "svc:shop/ms1", "wl:shop/ms1-*", "wl:shop/rogue"]
        );
        assert!(
            g.nodes
                .iter()
                .filter(|n| n.kind != "namespace")
                .all(|n| n.parent.as_deref() == Some("ns:shop"))
        );
        let edges: Vec<_> = g.edges.iter().map(|e| (e.id.as_str(), e.status)).collect();
        assert_eq!(
            edges,
            [
                ("svc:shop/ms1->wl:shop/ms1-*", "denied"),
                ("wl:shop/rogue->svc:shop/ms1", "denied")
            ]
        );
    }

    #[test]
    fn totals_count_each_flow_once_when_services_are_drawn() {
        let rows = [
            row(
                ("wep", "shop", "rogue"),
                ("wep", "shop", "ms1-*"),
                Some(("shop", "ms1")),
                Action::Deny,
                4,
            ),
            row(
                ("wep", "shop", "web-*"),
                ("wep", "db", "pg-*"),
                Some(("db", "pg")),
                Action::Allow,
                6,
            ),
        ];
        let collapsed = build(&rows, &Expand::None);
        let expanded = build(&rows, &Expand::All);
        for g in [&collapsed, &expanded] {
            assert_eq!(
                (
                    g.totals.num_flows,
                    g.totals.allowed_flows,
                    g.totals.denied_flows
                ),
                (10, 6, 4)
            );
            // Summing the edges that are not backend hops gives the same figures.
            let (flows, denied) = g
                .edges
                .iter()
                .filter(|e| !e.backend_hop)
                .fold((0, 0), |(f, d), e| (f + e.num_flows, d + e.denied_flows));
            assert_eq!((flows, denied), (10, 4));
        }
        // Expanded, each flow is drawn twice (into the Service, on to the backend).
        let drawn: u64 = expanded.edges.iter().map(|e| e.num_flows).sum();
        assert_eq!(drawn, 20);
        assert_eq!(expanded.edges.iter().filter(|e| e.backend_hop).count(), 2);
    }

    #[test]
    fn node_filters_round_trip_the_ids() {
        let f = node_filters("wl:shop/web-*", true).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].field, FlowField::SourceNameAggr);
        assert!(node_filters("svc:shop", false).is_none());
        assert!(node_filters("bogus", true).is_none());
        let f = node_filters("net:pub", false).unwrap();
        assert_eq!(
            f[0],
            FieldFilter::new(FlowField::DestType, FilterOp::Eq("net".into()))
        );
    }
}
