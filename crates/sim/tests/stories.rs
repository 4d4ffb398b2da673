//! The traffic models exercise the stories they were written for: the policy engine, fed
//! the generated raw records the way the pipeline will (service DNAT, then the 5-tuple),
//! denies exactly what each story says, before and after its step.

mod common;

use common::*;
use flowlens_model::RawFlow;
use flowlens_policy::{Action, Engine};
use flowlens_sim::Generator;

fn denied<'a>(engine: &Engine, flows: &'a [RawFlow]) -> Vec<&'a RawFlow> {
    flows
        .iter()
        .filter(|f| verdict(engine, f) == Action::Deny)
        .collect()
}

#[test]
fn fme_port_pool_goes_from_deny_to_allow_with_the_fix() {
    let mut s = builtin("fme");
    let core = pod_ip(&s, "fme", "fmeserver-core");
    let engines = pod_ips(&s, "fme", "engine-standard-group");
    let is_pool = |f: &RawFlow| {
        engines.contains(&f.src_ip) && f.dst_ip == core && (42000..=43000).contains(&f.dst_port)
    };

    let mut generator = Generator::new(&s, 42, START);
    let before = generator.advance(600.0);
    let engine = Engine::new(s.inventory().clone());
    let pool_before: Vec<&RawFlow> = before.iter().filter(|f| is_pool(f)).collect();
    assert!(pool_before.len() > 1000);
    assert!(
        pool_before
            .iter()
            .all(|f| verdict(&engine, f) == Action::Deny),
        "every pool flow denied before the fix"
    );
    // Everything else the application does is allowed: the bug is the port pool alone.
    let other_denials: Vec<&RawFlow> = denied(&engine, &before)
        .into_iter()
        .filter(|f| !is_pool(f))
        .collect();
    assert!(
        other_denials.is_empty(),
        "unexpected denials: {:?}",
        &other_denials[..other_denials.len().min(3)]
    );

    let inventory = s.apply_step("fix").expect("fix");
    generator.set_scenario(&s);
    let after = generator.advance(600.0);
    let engine = Engine::new(inventory);
    assert!(after.iter().filter(|f| is_pool(f)).count() > 1000);
    assert!(
        denied(&engine, &after).is_empty(),
        "everything allowed after the fix"
    );
}

#[test]
fn storefront_rogue_is_denied_except_at_the_dmz() {
    let mut s = builtin("storefront");
    let mut generator = Generator::new(&s, 7, START);
    let before = generator.advance(600.0);
    let engine = Engine::new(s.inventory().clone());
    let d = denied(&engine, &before);
    assert!(
        d.is_empty(),
        "the lab's own traffic is allowed: {:?}",
        &d[..d.len().min(3)]
    );

    let inventory = s.apply_step("rogue").expect("rogue");
    generator.set_scenario(&s);
    let after = generator.advance(600.0);
    let engine = Engine::new(inventory);
    let rogue = pod_ip(&s, "storefront", "rogue");
    let from_rogue: Vec<&RawFlow> = after
        .iter()
        .filter(|f| f.src_ip == rogue && f.dst_port != 53)
        .collect();
    assert!(from_rogue.len() > 1000);
    let verdict_to = |service: &str| {
        let ip = service_ip(&s, "storefront", service);
        let v: Vec<Action> = from_rogue
            .iter()
            .filter(|f| f.dst_ip == ip)
            .map(|f| verdict(&engine, f))
            .collect();
        assert!(!v.is_empty(), "no probes to {service}");
        v
    };
    for service in ["microservice1", "microservice2", "backend", "logging"] {
        assert!(
            verdict_to(service).iter().all(|a| *a == Action::Deny),
            "rogue → {service} denied"
        );
    }
    assert!(
        verdict_to("frontend").iter().all(|a| *a == Action::Allow),
        "the DMZ accepts anyone on 80"
    );
    // The rogue pod's DNS and everyone else's traffic is still allowed.
    let d = denied(&engine, &after);
    assert!(d.iter().all(|f| f.src_ip == rogue && f.dst_port != 53));
}

#[test]
fn boutique_misconfiguration_denies_checkout_to_payment() {
    let mut s = builtin("boutique");
    let checkout = pod_ips(&s, "boutique", "checkoutservice");
    let payment = service_ip(&s, "boutique", "paymentservice");
    let is_payment = |f: &RawFlow| checkout.contains(&f.src_ip) && f.dst_ip == payment;

    let mut generator = Generator::new(&s, 3, START);
    let before = generator.advance(600.0);
    let engine = Engine::new(s.inventory().clone());
    assert!(before.iter().filter(|f| is_payment(f)).count() > 300);
    let d = denied(&engine, &before);
    assert!(
        d.is_empty(),
        "the call graph is allowed: {:?}",
        &d[..d.len().min(3)]
    );

    let inventory = s.apply_step("misconfigure").expect("misconfigure");
    generator.set_scenario(&s);
    let after = generator.advance(600.0);
    let engine = Engine::new(inventory);
    let d = denied(&engine, &after);
    assert!(d.len() > 300);
    assert!(
        d.iter().all(|f| is_payment(f)),
        "only checkout → payment is denied"
    );
    assert!(
        after
            .iter()
            .filter(|f| is_payment(f))
            .all(|f| verdict(&engine, f) == Action::Deny)
    );
}
