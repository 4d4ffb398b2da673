//! The two built-in scenarios load with exactly the expected inventory. The policy engine's
//! tests build on these fixtures, so their details are pinned down here.

mod common;

use common::{policy, scenarios_dir, sel};
use flowlens_manifests::{LoadOptions, Loaded, load_paths};
use flowlens_model::{
    EndpointType, EntityRule, Inventory, PolicyKind, PolicyTypes, PortMatch, Protocol, Rule,
    RuleAction, TierDefaultAction,
};
use ipnet::IpNet;
use std::net::IpAddr;
use std::path::PathBuf;

fn scenario(path: &str) -> PathBuf {
    scenarios_dir().join(path)
}

fn load(paths: &[&str]) -> Loaded {
    let paths: Vec<PathBuf> = paths.iter().map(|p| scenario(p)).collect();
    load_paths(&paths, &LoadOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn rule(
    action: RuleAction,
    protocol: Option<Protocol>,
    source: EntityRule,
    destination: EntityRule,
) -> Rule {
    Rule {
        protocol,
        source,
        destination,
        ..Rule::new(action)
    }
}

fn to(selector: &str, ports: &[PortMatch]) -> EntityRule {
    EntityRule {
        selector: Some(sel(selector)),
        ports: ports.to_vec(),
        ..EntityRule::default()
    }
}

fn ports(ports: &[PortMatch]) -> EntityRule {
    EntityRule {
        ports: ports.to_vec(),
        ..EntityRule::default()
    }
}

fn none() -> EntityRule {
    EntityRule::default()
}

const TCP: Option<Protocol> = Some(Protocol::Tcp);
const UDP: Option<Protocol> = Some(Protocol::Udp);
use PortMatch::Single;
use RuleAction::{Allow, Deny, Pass};

fn names<T>(items: &[T], name: impl Fn(&T) -> String) -> Vec<String> {
    items.iter().map(name).collect()
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap_or_else(|_| panic!("bad IP {text}"))
}

fn storefront() -> Loaded {
    load(&["storefront/manifests"])
}

#[test]
fn storefront_counts_and_report() {
    let loaded = storefront();
    let inv = &loaded.inventory;
    let c = inv.counts();
    assert_eq!(
        (
            c.namespaces,
            c.workload_endpoints,
            c.host_endpoints,
            c.services,
            c.service_accounts,
            c.network_sets,
            c.tiers,
            c.policies
        ),
        (2, 6, 0, 6, 2, 2, 5, 5)
    );
    assert_eq!(loaded.report.files, 7);
    assert_eq!(loaded.report.documents, 23);
    assert!(
        loaded.report.warnings.is_empty(),
        "{:?}",
        loaded.report.warnings
    );
    assert!(loaded.report.skipped_kinds.is_empty());
    assert_eq!(loaded.report.resources.get("Deployment"), Some(&6));
    assert_eq!(loaded.report.resources.get("GlobalNetworkPolicy"), Some(&2));
    assert_eq!(loaded.report.resources.get("NetworkPolicy"), Some(&3));
}

#[test]
fn storefront_inventory() {
    let inv = storefront().inventory;
    assert_eq!(
        names(&inv.namespaces, |n| n.name.clone()),
        vec!["kube-system", "storefront"]
    );
    assert_eq!(
        inv.namespace("storefront")
            .and_then(|n| n.labels.get("app"))
            .map(String::as_str),
        Some("storefront")
    );

    let zones = [
        ("backend", "restricted"),
        ("frontend", "dmz"),
        ("logging", "trusted"),
        ("microservice1", "trusted"),
        ("microservice2", "trusted"),
    ];
    for (app, zone) in zones {
        let eps: Vec<_> = inv
            .endpoints
            .iter()
            .filter(|e| e.labels.get("app").map(String::as_str) == Some(app))
            .collect();
        assert_eq!(eps.len(), 1, "{app}");
        let e = eps[0];
        assert_eq!(e.endpoint_type, EndpointType::Wep);
        assert_eq!(e.namespace.as_deref(), Some("storefront"));
        assert_eq!(e.labels.get("fw-zone").map(String::as_str), Some(zone));
        assert!(
            e.name.starts_with(&format!("{app}-")) && e.name_aggr.ends_with("-*"),
            "{}",
            e.name
        );
        assert_eq!(e.name_aggr.len(), app.len() + 1 + 10 + 2, "{}", e.name_aggr);
        let port = if app == "logging" { 8080 } else { 80 };
        assert_eq!(e.named_port("http", Protocol::Tcp), Some(port));
        let net: IpNet = "10.244.0.0/16".parse().unwrap_or_else(|_| unreachable!());
        assert!(e.ips.len() == 1 && net.contains(&e.ips[0]), "{:?}", e.ips);
    }
    let dns = inv
        .endpoints
        .iter()
        .find(|e| e.labels.get("k8s-app").map(String::as_str) == Some("kube-dns"))
        .unwrap_or_else(|| panic!("no kube-dns"));
    assert_eq!(dns.namespace.as_deref(), Some("kube-system"));
    assert_eq!(dns.named_port("dns", Protocol::Udp), Some(53));
    assert_eq!(dns.named_port("dns-tcp", Protocol::Tcp), Some(53));

    let kube_dns = inv
        .services
        .iter()
        .find(|s| s.name == "kube-dns")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(kube_dns.cluster_ips, vec![ip("10.96.0.10")]);
    let frontend = inv
        .services
        .iter()
        .find(|s| s.name == "frontend")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(frontend.ports[0].port, 80);
    assert_eq!(
        frontend.ports[0].target_port,
        flowlens_model::TargetPort::Name("http".into())
    );
    let logging = inv
        .services
        .iter()
        .find(|s| s.name == "logging")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(logging.ports[0].port, 8080);

    let twilio = inv
        .network_sets
        .iter()
        .find(|n| n.name == "twilio")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(twilio.namespace.as_deref(), Some("storefront"));
    assert_eq!(
        names(&twilio.nets, |n| n.to_string()),
        vec!["54.172.60.0/23", "34.203.250.0/23"]
    );
    assert_eq!(
        twilio.labels.get("external-api").map(String::as_str),
        Some("twilio")
    );
    let feodo = inv
        .network_sets
        .iter()
        .find(|n| n.name == "threatfeed-feodo")
        .unwrap_or_else(|| unreachable!());
    assert_eq!(feodo.namespace, None);
    assert_eq!(
        names(&feodo.nets, |n| n.to_string()),
        vec!["192.0.2.0/24", "198.51.100.0/24"]
    );
}

#[test]
fn storefront_tiers_and_policy_order() {
    let inv = storefront().inventory;
    let tiers: Vec<(String, Option<f64>, TierDefaultAction)> = inv
        .tiers_in_order()
        .iter()
        .map(|t| (t.name.clone(), t.order, t.default_action))
        .collect();
    assert_eq!(
        tiers,
        vec![
            ("security".into(), Some(100.0), TierDefaultAction::Pass),
            ("platform".into(), Some(200.0), TierDefaultAction::Pass),
            ("kube-admin".into(), Some(1000.0), TierDefaultAction::Pass),
            ("default".into(), Some(1_000_000.0), TierDefaultAction::Deny),
            (
                "kube-baseline".into(),
                Some(10_000_000.0),
                TierDefaultAction::Pass
            ),
        ]
    );
    let order: Vec<(String, String, Option<f64>)> = inv
        .policies
        .iter()
        .map(|p| (p.tier.clone(), p.name.clone(), p.order))
        .collect();
    assert_eq!(
        order,
        vec![
            (
                "security".into(),
                "security.block-threatfeed".into(),
                Some(100.0)
            ),
            (
                "platform".into(),
                "platform.allow-kube-dns".into(),
                Some(100.0)
            ),
            ("default".into(), "dmz".into(), Some(100.0)),
            ("default".into(), "trusted".into(), Some(200.0)),
            ("default".into(), "restricted".into(), Some(300.0)),
        ]
    );
}

#[test]
fn storefront_policies() {
    let inv = storefront().inventory;
    let egress_only = PolicyTypes {
        ingress: false,
        egress: true,
    };
    let both = PolicyTypes {
        ingress: true,
        egress: true,
    };

    let p = policy(&inv, "security.block-threatfeed");
    assert_eq!(
        (p.kind, p.namespace.as_deref(), p.types),
        (PolicyKind::GlobalNetworkPolicy, None, egress_only)
    );
    assert!(p.selector.is_all());
    assert_eq!(
        p.egress,
        vec![
            rule(Deny, None, none(), to("threatfeed == 'feodo'", &[])),
            Rule::new(Pass)
        ]
    );

    let p = policy(&inv, "platform.allow-kube-dns");
    assert_eq!(
        (p.kind, p.types),
        (PolicyKind::GlobalNetworkPolicy, egress_only)
    );
    assert!(p.selector.is_all());
    let dns = EntityRule {
        selector: Some(sel("k8s-app == 'kube-dns'")),
        namespace_selector: Some(sel("projectcalico.org/name == 'kube-system'")),
        ports: vec![Single(53)],
        ..EntityRule::default()
    };
    assert_eq!(
        p.egress,
        vec![
            rule(Allow, UDP, none(), dns.clone()),
            rule(Allow, TCP, none(), dns),
            Rule::new(Pass)
        ]
    );

    let p = policy(&inv, "dmz");
    assert_eq!(
        (p.kind, p.namespace.as_deref(), p.tier.as_str()),
        (PolicyKind::NetworkPolicy, Some("storefront"), "default")
    );
    assert_eq!(
        (p.selector.clone(), p.types),
        (sel("fw-zone == 'dmz'"), both)
    );
    let internet = EntityRule {
        nets: vec!["0.0.0.0/0".parse().unwrap_or_else(|_| unreachable!())],
        ..EntityRule::default()
    };
    assert_eq!(
        p.ingress,
        vec![rule(Allow, TCP, internet, ports(&[Single(80)]))]
    );
    assert_eq!(
        p.egress,
        vec![rule(
            Allow,
            TCP,
            none(),
            to("fw-zone == 'trusted'", &[Single(80), Single(8080)])
        )]
    );

    let p = policy(&inv, "trusted");
    assert_eq!(
        (p.selector.clone(), p.types),
        (sel("fw-zone == 'trusted'"), both)
    );
    assert_eq!(
        p.ingress,
        vec![
            rule(Allow, TCP, to("fw-zone == 'dmz'", &[]), none()),
            rule(Allow, TCP, to("fw-zone == 'trusted'", &[]), none()),
            rule(
                Allow,
                TCP,
                to("fw-zone == 'restricted'", &[]),
                to("app == 'logging'", &[])
            ),
        ]
    );
    assert_eq!(
        p.egress,
        vec![
            rule(Allow, TCP, none(), to("fw-zone == 'trusted'", &[])),
            rule(Allow, TCP, none(), to("fw-zone == 'restricted'", &[])),
            rule(
                Allow,
                TCP,
                none(),
                to("external-api == 'twilio'", &[Single(443)])
            ),
        ]
    );

    let p = policy(&inv, "restricted");
    assert_eq!(
        (p.selector.clone(), p.types, p.order),
        (sel("fw-zone == 'restricted'"), both, Some(300.0))
    );
    assert_eq!(
        p.ingress,
        vec![rule(Allow, TCP, to("fw-zone == 'trusted'", &[]), none())]
    );
    assert_eq!(
        p.egress,
        vec![rule(Allow, TCP, none(), to("app == 'logging'", &[]))]
    );
}

#[test]
fn storefront_rogue_step_adds_an_unzoned_pod() {
    let inv = load(&["storefront/manifests", "storefront/steps/rogue.yaml"]).inventory;
    assert_eq!(inv.counts().workload_endpoints, 7);
    let rogue = inv
        .endpoints
        .iter()
        .find(|e| e.name.starts_with("rogue-"))
        .unwrap_or_else(|| panic!("no rogue"));
    assert_eq!(rogue.labels.get("app").map(String::as_str), Some("rogue"));
    assert!(!rogue.labels.contains_key("fw-zone"));
    assert_eq!(rogue.namespace.as_deref(), Some("storefront"));
    // Adding a pod does not move the others' addresses.
    let before = storefront().inventory;
    for e in &before.endpoints {
        let after = inv
            .endpoints
            .iter()
            .find(|a| a.name == e.name)
            .unwrap_or_else(|| unreachable!());
        assert_eq!(after.ips, e.ips, "{}", e.name);
    }
}

fn fme() -> Loaded {
    load(&["fme/manifests"])
}

#[test]
fn fme_counts() {
    let loaded = fme();
    let c = loaded.inventory.counts();
    assert_eq!(
        (
            c.namespaces,
            c.workload_endpoints,
            c.services,
            c.service_accounts,
            c.network_sets,
            c.tiers,
            c.policies
        ),
        (3, 8, 6, 3, 0, 4, 6)
    );
    assert!(
        loaded.report.warnings.is_empty(),
        "{:?}",
        loaded.report.warnings
    );
    let inv = &loaded.inventory;
    assert_eq!(
        names(&inv.namespaces, |n| n.name.clone()),
        vec!["fme", "ingress-nginx", "kube-system"]
    );
    let engines: Vec<_> = inv
        .endpoints
        .iter()
        .filter(|e| e.name.starts_with("engine-standard-group-"))
        .collect();
    assert_eq!(engines.len(), 2);
    assert_ne!(engines[0].name, engines[1].name);
    assert_eq!(engines[0].name_aggr, engines[1].name_aggr);
    assert_eq!(
        engines[0].named_port("engine-ctl", Protocol::Tcp),
        Some(7500)
    );
    let pg = inv
        .endpoints
        .iter()
        .find(|e| e.name == "fmeserver-postgresql-0")
        .unwrap_or_else(|| panic!("no postgres"));
    assert_eq!(pg.name_aggr, "fmeserver-postgresql-*");
    let core = inv
        .endpoints
        .iter()
        .find(|e| e.name.starts_with("fmeserver-core-"))
        .unwrap_or_else(|| unreachable!());
    assert_eq!(core.named_port("registration", Protocol::Tcp), Some(7070));
    assert_eq!(core.named_port("http", Protocol::Tcp), Some(8080));
    let services = names(&inv.services, |s| format!("{}/{}", s.namespace, s.name));
    assert_eq!(
        services,
        vec![
            "fme/fmeserver-core",
            "fme/fmeserver-postgresql",
            "fme/fmeserver-queue",
            "fme/fmeserver-web",
            "ingress-nginx/ingress-nginx-controller",
            "kube-system/kube-dns",
        ]
    );
}

#[test]
fn fme_tiers_and_policy_order() {
    let inv = fme().inventory;
    let tiers = names(&inv.tiers_in_order(), |t| t.name.clone());
    assert_eq!(
        tiers,
        vec!["application", "kube-admin", "default", "kube-baseline"]
    );
    let application = inv.tier("application").unwrap_or_else(|| unreachable!());
    assert_eq!(
        (application.order, application.default_action),
        (Some(400.0), TierDefaultAction::Pass)
    );
    let order: Vec<(String, String, Option<f64>, PolicyKind)> = inv
        .policies
        .iter()
        .map(|p| (p.tier.clone(), p.name.clone(), p.order, p.kind))
        .collect();
    let np = PolicyKind::NetworkPolicy;
    let knp = PolicyKind::KubernetesNetworkPolicy;
    assert_eq!(
        order,
        vec![
            (
                "application".into(),
                "application.engine-fmeserver".into(),
                Some(37.5),
                np
            ),
            (
                "application".into(),
                "application.core-fmeserver".into(),
                Some(40.0),
                np
            ),
            (
                "application".into(),
                "application.web-fmeserver".into(),
                Some(50.0),
                np
            ),
            (
                "application".into(),
                "application.data-fmeserver".into(),
                Some(60.0),
                np
            ),
            ("default".into(), "allow-dns".into(), Some(1000.0), knp),
            ("default".into(), "default-deny".into(), Some(1000.0), knp),
        ]
    );
}

const ENGINE: &str = "safe.k8s.fmeserver.component == 'engine'";
const CORE: &str = "safe.k8s.fmeserver.component == 'core'";
const WEB: &str = "safe.k8s.fmeserver.component == 'web'";
const QUEUE: &str = "safe.k8s.fmeserver.component == 'queue'";
const POSTGRES: &str = "app.kubernetes.io/name == 'postgresql'";

#[test]
fn fme_engine_policy_misses_the_port_pool_until_fixed() {
    let both = PolicyTypes {
        ingress: true,
        egress: true,
    };
    let inv = fme().inventory;
    let p = policy(&inv, "application.engine-fmeserver");
    assert_eq!(
        (p.namespace.as_deref(), p.tier.as_str(), p.order, p.types),
        (Some("fme"), "application", Some(37.5), both)
    );
    assert_eq!(p.selector, sel(ENGINE));
    assert_eq!(p.service_account_selector, None);
    assert_eq!(
        p.ingress,
        vec![rule(Allow, TCP, to(CORE, &[]), ports(&[Single(7500)]))]
    );
    assert_eq!(
        p.egress,
        vec![
            rule(Allow, TCP, none(), to(CORE, &[Single(7070)])),
            rule(Allow, TCP, none(), to(POSTGRES, &[Single(5432)]))
        ]
    );

    let fixed = load(&["fme/manifests", "fme/steps/fix.yaml"]);
    assert!(
        fixed.report.warnings.iter().any(|w| w.contains("replaces")),
        "{:?}",
        fixed.report.warnings
    );
    let p = policy(&fixed.inventory, "application.engine-fmeserver");
    assert_eq!(
        p.egress[0].destination.ports,
        vec![
            Single(7070),
            PortMatch::Range {
                first: 42000,
                last: 43000
            }
        ]
    );
    assert_eq!(fixed.inventory.policies.len(), 6);
}

#[test]
fn fme_other_policies() {
    let inv = fme().inventory;
    let p = policy(&inv, "application.core-fmeserver");
    assert_eq!(p.selector, sel(CORE));
    assert_eq!(
        p.ingress,
        vec![
            rule(
                Allow,
                TCP,
                to(ENGINE, &[]),
                ports(&[
                    Single(7070),
                    PortMatch::Range {
                        first: 42000,
                        last: 43000
                    }
                ])
            ),
            rule(Allow, TCP, to(WEB, &[]), ports(&[Single(7070)])),
        ]
    );
    assert_eq!(
        p.egress,
        vec![
            rule(Allow, TCP, none(), to(ENGINE, &[Single(7500)])),
            rule(Allow, TCP, none(), to(POSTGRES, &[Single(5432)])),
            rule(Allow, TCP, none(), to(QUEUE, &[Single(6379)])),
        ]
    );

    let p = policy(&inv, "application.web-fmeserver");
    let nginx = EntityRule {
        selector: Some(sel("all()")),
        namespace_selector: Some(sel("projectcalico.org/name == 'ingress-nginx'")),
        ..EntityRule::default()
    };
    assert_eq!(
        p.ingress,
        vec![rule(Allow, TCP, nginx, ports(&[Single(8080)]))]
    );
    assert_eq!(
        p.egress,
        vec![
            rule(Allow, TCP, none(), to(CORE, &[Single(7070)])),
            rule(Allow, TCP, none(), to(POSTGRES, &[Single(5432)]))
        ]
    );

    let p = policy(&inv, "application.data-fmeserver");
    assert_eq!(p.selector, sel(&format!("{POSTGRES} || {QUEUE}")));
    assert_eq!(
        p.types,
        PolicyTypes {
            ingress: true,
            egress: false
        }
    );
    assert_eq!(
        p.ingress,
        vec![rule(
            Allow,
            TCP,
            to(
                "safe.k8s.fmeserver.component in {'core', 'web', 'engine'}",
                &[]
            ),
            none()
        )]
    );

    let orch = "projectcalico.org/orchestrator == 'k8s'";
    let p = policy(&inv, "default-deny");
    assert_eq!(
        (p.selector.clone(), p.types),
        (
            sel(orch),
            PolicyTypes {
                ingress: true,
                egress: true
            }
        )
    );
    assert!(p.ingress.is_empty() && p.egress.is_empty());

    let p = policy(&inv, "allow-dns");
    assert_eq!(
        (p.selector.clone(), p.types),
        (
            sel(orch),
            PolicyTypes {
                ingress: false,
                egress: true
            }
        )
    );
    let dns = EntityRule {
        selector: Some(sel(&format!("{orch} && k8s-app == 'kube-dns'"))),
        namespace_selector: Some(sel("kubernetes.io/metadata.name == 'kube-system'")),
        ports: vec![Single(53)],
        ..EntityRule::default()
    };
    assert_eq!(
        p.egress,
        vec![
            rule(Allow, TCP, none(), dns.clone()),
            rule(Allow, UDP, none(), dns)
        ]
    );
}

#[test]
fn fixtures_load_the_same_every_time() {
    let a: Inventory = fme().inventory;
    let b: Inventory = fme().inventory;
    assert_eq!(a, b);
}
