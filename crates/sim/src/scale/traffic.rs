//! The scale scenario's traffic: mostly within a namespace, some across namespaces and to
//! the outside, DNS from everything, at a total rate split by weight.

use super::{Cluster, Role, SCALE, ScaleParams, Workload};
use crate::peer::PeerRef;
use crate::spec::{Origin, TrafficSpec};
use crate::units::{Jittered, PortItem};
use flowlens_model::Protocol;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

impl Cluster {
    pub(super) fn traffic(&self, p: &ScaleParams) -> Vec<TrafficSpec> {
        let mut rng = ChaCha8Rng::seed_from_u64(p.seed ^ 0x0074_7261_6666_6963);
        let mut edges: Vec<Edge> = Vec::new();
        let dns = PeerRef::Named {
            namespace: "kube-system".into(),
            name: "kube-dns".into(),
        };
        for (ns_index, members) in self.by_namespace.iter().enumerate() {
            let ns = &self.namespaces[ns_index];
            let find = |role: Role| {
                members
                    .iter()
                    .map(|&w| &self.workloads[w])
                    .find(|w| w.role == role)
            };
            let named = |w: &Workload| PeerRef::Named {
                namespace: ns.clone(),
                name: w.name.clone(),
            };
            for &wi in members {
                let w = &self.workloads[wi];
                let me = named(w);
                let process = w.role.process();
                match w.role {
                    Role::Web => {
                        if let Some(api) = find(Role::Api) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(api),
                                3.0,
                                (800.0, 4_000.0, 0.2),
                                process,
                            ));
                        }
                        if rng.random_range(0..10) < 3 {
                            edges.push(Edge::tcp(
                                PeerRef::Internet,
                                me.clone(),
                                1.0,
                                (600.0, 15_000.0, 2.0),
                                "-",
                            ));
                        }
                    }
                    Role::Api => {
                        if let Some(db) = find(Role::Db) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(db),
                                2.0,
                                (300.0, 12_000.0, 0.05),
                                process,
                            ));
                        }
                        if let Some(cache) = find(Role::Cache) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(cache),
                                2.0,
                                (100.0, 400.0, 0.01),
                                process,
                            ));
                        }
                        if p.namespaces > 1 && rng.random_range(0..10) == 0 {
                            let other =
                                (ns_index + rng.random_range(1..p.namespaces)) % p.namespaces;
                            let api = self.by_namespace[other]
                                .iter()
                                .map(|&x| &self.workloads[x])
                                .find(|x| x.role == Role::Api);
                            if let Some(api) = api {
                                let to = PeerRef::Named {
                                    namespace: self.namespaces[other].clone(),
                                    name: api.name.clone(),
                                };
                                edges.push(Edge::tcp(
                                    me.clone(),
                                    to,
                                    1.0,
                                    (900.0, 3_000.0, 0.2),
                                    process,
                                ));
                            }
                        }
                        if rng.random_range(0..20) == 0 {
                            let to = PeerRef::NetworkSet {
                                namespace: None,
                                name: "partner-apis".into(),
                            };
                            edges.push(
                                Edge::tcp(me.clone(), to, 0.5, (1_500.0, 6_000.0, 0.5), process)
                                    .port(443),
                            );
                        }
                    }
                    Role::Worker => {
                        if let Some(api) = find(Role::Api) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(api),
                                1.0,
                                (2_000.0, 1_000.0, 0.3),
                                process,
                            ));
                        }
                        if let Some(cache) = find(Role::Cache) {
                            edges.push(Edge::tcp(
                                me.clone(),
                                named(cache),
                                1.0,
                                (100.0, 400.0, 0.01),
                                process,
                            ));
                        }
                        if rng.random_range(0..100) == 0 {
                            let to = PeerRef::NetworkSet {
                                namespace: None,
                                name: "threat-feed".into(),
                            };
                            edges.push(
                                Edge::tcp(me.clone(), to, 0.05, (300.0, 0.0, 3.0), process)
                                    .port(443),
                            );
                        }
                    }
                    Role::Db | Role::Cache => {}
                }
                let mut lookup =
                    Edge::tcp(me, dns.clone(), 0.5, (70.0, 130.0, 0.01), process).port(53);
                lookup.protocol = Protocol::Udp;
                edges.push(lookup);
            }
        }
        let total: f64 = edges.iter().map(|e| e.weight).sum();
        edges
            .into_iter()
            .enumerate()
            .map(|(i, e)| {
                let rate = if total > 0.0 {
                    p.flows_per_second * e.weight / total
                } else {
                    0.0
                };
                let mut t = TrafficSpec::new(
                    vec![e.from],
                    vec![e.to],
                    rate,
                    Origin::generated(SCALE, format!("traffic[{i}]")),
                );
                t.protocol = e.protocol;
                t.ports = e
                    .port
                    .map(|p| vec![PortItem::Single(p)])
                    .unwrap_or_default();
                t.bytes_out = Jittered::new(e.bytes.0, 0.3);
                t.bytes_in = Jittered::new(e.bytes.1, 0.3);
                t.duration = Jittered::new(e.bytes.2, 0.5);
                t.process_name = (e.process != "-").then(|| e.process.to_owned());
                t
            })
            .collect()
    }
}

struct Edge {
    from: PeerRef,
    to: PeerRef,
    protocol: Protocol,
    port: Option<u16>,
    weight: f64,
    /// Bytes out, bytes in, seconds.
    bytes: (f64, f64, f64),
    process: &'static str,
}

impl Edge {
    fn tcp(
        from: PeerRef,
        to: PeerRef,
        weight: f64,
        bytes: (f64, f64, f64),
        process: &'static str,
    ) -> Edge {
        Edge {
            from,
            to,
            protocol: Protocol::Tcp,
            port: None,
            weight,
            bytes,
            process,
        }
    }

    fn port(mut self, port: u16) -> Edge {
        self.port = Some(port);
        self
    }
}
