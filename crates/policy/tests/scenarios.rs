//! The seeds' stories, asserted: the storefront lab (zones, rogue pod) and the FME Flow case
//! (engines → core on the port pool, denied by default deny until the policy is fixed).

mod common;
use common::*;
use flowlens_model::{Action, PolicyHitFormat};
use flowlens_policy::{PeerSpec, TraceStep};

const SECURITY_PASS: &str = "0|security|gnp:security.block-threatfeed|pass|1";
const PLATFORM_PASS: &str = "1|platform|gnp:platform.allow-kube-dns|pass|2";

#[test]
fn storefront_zones_allow_the_application_paths() {
    let e = engine_from_scenario(&["storefront/manifests"]);
    let o = flow(
        &e,
        "storefront/frontend",
        "storefront/microservice1",
        "tcp",
        80,
    );
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.egress,
        strs(&[
            SECURITY_PASS,
            PLATFORM_PASS,
            "2|default|np:storefront/dmz|allow|0"
        ])
    );
    assert_eq!(
        o.ingress,
        strs(&["0|default|np:storefront/trusted|allow|0"])
    );

    let o = flow(
        &e,
        "storefront/microservice1",
        "storefront/backend",
        "tcp",
        80,
    );
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.egress,
        strs(&[
            SECURITY_PASS,
            PLATFORM_PASS,
            "2|default|np:storefront/trusted|allow|1"
        ])
    );
    assert_eq!(
        o.ingress,
        strs(&["0|default|np:storefront/restricted|allow|0"])
    );

    // backend → logging: restricted egress allows, trusted ingress rule 2 lets restricted
    // reach logging only.
    let o = flow(&e, "storefront/backend", "storefront/logging", "tcp", 8080);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.ingress,
        strs(&["0|default|np:storefront/trusted|allow|2"])
    );

    // microservice2 → Twilio, a network set outside the cluster: only egress applies.
    let o = flow(&e, "storefront/microservice2", "54.172.60.10", "tcp", 443);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.egress,
        strs(&[
            SECURITY_PASS,
            PLATFORM_PASS,
            "2|default|np:storefront/trusted|allow|2"
        ])
    );
    assert_eq!(o.ingress, None);

    // DNS: allowed by the platform tier before the zones see it.
    let o = flow(&e, "storefront/frontend", "kube-system/kube-dns", "udp", 53);
    assert_eq!(
        o.egress,
        strs(&[
            SECURITY_PASS,
            "1|platform|gnp:platform.allow-kube-dns|allow|0"
        ])
    );
    assert_eq!(
        o.ingress,
        strs(&["0|__PROFILE__|pro:kns.kube-system|allow|0"])
    );
}

#[test]
fn storefront_guard_rails_deny_threat_feeds_and_zones_deny_the_rest() {
    let e = engine_from_scenario(&["storefront/manifests"]);
    let o = flow(&e, "storefront/frontend", "192.0.2.44", "tcp", 443);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(
        o.egress,
        strs(&["0|security|gnp:security.block-threatfeed|deny|0"])
    );

    // frontend may not reach backend directly: dmz egress ends the default tier with a deny.
    let o = flow(&e, "storefront/frontend", "storefront/backend", "tcp", 80);
    assert_eq!(o.action, Action::Deny);
    assert_eq!(
        o.egress,
        strs(&[
            SECURITY_PASS,
            PLATFORM_PASS,
            "2|default|np:storefront/dmz|deny|-1"
        ])
    );
}

#[test]
fn storefront_rogue_pod_is_denied_by_the_zone_it_probes() {
    let e = engine_from_scenario(&["storefront/manifests", "storefront/steps/rogue.yaml"]);
    for (target, policy) in [
        ("storefront/microservice1", "np:storefront/trusted"),
        ("storefront/microservice2", "np:storefront/trusted"),
        ("storefront/logging", "np:storefront/trusted"),
        ("storefront/backend", "np:storefront/restricted"),
    ] {
        let o = flow(&e, "storefront/rogue", target, "tcp", 80);
        assert_eq!(o.action, Action::Deny, "rogue → {target}");
        // No policy selects the rogue pod: its egress falls to the namespace profile.
        assert_eq!(
            o.egress,
            strs(&[
                SECURITY_PASS,
                PLATFORM_PASS,
                "2|__PROFILE__|pro:kns.storefront|allow|0"
            ])
        );
        assert_eq!(
            o.ingress,
            Some(vec![format!("0|default|{policy}|deny|-1")]),
            "rogue → {target}"
        );
    }
    // The frontend (dmz) accepts port 80 from anywhere, the rogue pod included.
    let o = flow(&e, "storefront/rogue", "storefront/frontend", "tcp", 80);
    assert_eq!(o.action, Action::Allow);
    assert_eq!(o.ingress, strs(&["0|default|np:storefront/dmz|allow|0"]));
}

#[test]
fn storefront_rogue_trace_explains_each_rule() {
    let e = engine_from_scenario(&["storefront/manifests", "storefront/steps/rogue.yaml"]);
    let src = e
        .resolve_spec(&"storefront/rogue".parse::<PeerSpec>().unwrap())
        .unwrap();
    let dst = e
        .resolve_spec(&"storefront/microservice1".parse::<PeerSpec>().unwrap())
        .unwrap();
    let q = flowlens_policy::FiveTuple {
        src: src.ip,
        dst: dst.ip,
        protocol: flowlens_model::Protocol::Tcp,
        src_port: 40000,
        dst_port: 80,
        icmp: None,
    };
    let x = e.explain(&src, &dst, &q, PolicyHitFormat::Enterprise);
    let ingress = x.ingress.expect("ingress applies");
    assert_eq!(
        ingress.policies,
        ["0|default|storefront/default.trusted|deny|-1"]
    );
    let texts: Vec<String> = ingress
        .steps
        .iter()
        .filter_map(|s| match s {
            TraceStep::Rule { clauses, .. } => Some(
                clauses
                    .iter()
                    .filter(|c| !c.matched)
                    .map(|c| c.text.clone())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(
        texts.iter().any(|t| t
            .starts_with("source selector fw-zone == \"dmz\" does not match storefront/rogue-")
            && t.ends_with("{app=rogue}")),
        "{texts:#?}"
    );
    assert!(
        matches!(ingress.steps.last(), Some(TraceStep::EndOfTier { tier, action, .. }) if tier == "default" && action == "deny")
    );
    assert_eq!(
        x.egress
            .expect("egress applies")
            .policies
            .last()
            .map(String::as_str),
        Some("2|__PROFILE__|__PROFILE__.kns.storefront|allow|0")
    );
}

#[test]
fn fme_engines_cannot_register_until_the_port_range_is_allowed() {
    let before = engine_from_scenario(&["fme/manifests"]);
    // 7070 is allowed both ways.
    let o = flow(
        &before,
        "fme/engine-standard-group",
        "fme/fmeserver-core",
        "tcp",
        7070,
    );
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.egress,
        strs(&["0|application|np:fme/application.engine-fmeserver|allow|0"])
    );
    assert_eq!(
        o.ingress,
        strs(&["0|application|np:fme/application.core-fmeserver|allow|0"])
    );
    // The port pool is missing from the engine policy: the application tier passes, and the
    // default deny ends it.
    for port in [42000, 42001, 42002, 43000] {
        let o = flow(
            &before,
            "fme/engine-standard-group",
            "fme/fmeserver-core",
            "tcp",
            port,
        );
        assert_eq!(o.action, Action::Deny, "port {port}");
        assert_eq!(
            o.egress,
            strs(&[
                "0|application|np:fme/application.engine-fmeserver|pass|-1",
                "1|default|knp:fme/default-deny|deny|-1"
            ]),
            "port {port}"
        );
        // The core itself would accept it.
        assert_eq!(
            o.ingress,
            strs(&["0|application|np:fme/application.core-fmeserver|allow|0"])
        );
    }
    // Postgres is fine.
    let o = flow(
        &before,
        "fme/engine-standard-group",
        "fme/fmeserver-postgresql",
        "tcp",
        5432,
    );
    assert_eq!(o.action, Action::Allow);

    let after = engine_from_scenario(&["fme/manifests", "fme/steps/fix.yaml"]);
    for port in [7070, 42000, 42001, 42002, 43000] {
        let o = flow(
            &after,
            "fme/engine-standard-group",
            "fme/fmeserver-core",
            "tcp",
            port,
        );
        assert_eq!(o.action, Action::Allow, "port {port}");
        assert_eq!(
            o.egress,
            strs(&["0|application|np:fme/application.engine-fmeserver|allow|0"])
        );
    }
    // Outside the pool stays denied.
    let o = flow(
        &after,
        "fme/engine-standard-group",
        "fme/fmeserver-core",
        "tcp",
        43001,
    );
    assert_eq!(o.action, Action::Deny);
}

#[test]
fn fme_ingress_and_web_paths() {
    let e = engine_from_scenario(&["fme/manifests"]);
    let o = flow(
        &e,
        "ingress-nginx/ingress-nginx-controller",
        "fme/fmeserver-web",
        "tcp",
        8080,
    );
    assert_eq!(o.action, Action::Allow);
    assert_eq!(
        o.ingress,
        strs(&["0|application|np:fme/application.web-fmeserver|allow|0"])
    );
    // The queue only accepts the FME components.
    let o = flow(
        &e,
        "ingress-nginx/ingress-nginx-controller",
        "fme/fmeserver-queue",
        "tcp",
        6379,
    );
    assert_eq!(o.action, Action::Deny);
    assert_eq!(
        o.ingress,
        strs(&[
            "0|application|np:fme/application.data-fmeserver|pass|-1",
            "1|default|knp:fme/default-deny|deny|-1"
        ])
    );
}
