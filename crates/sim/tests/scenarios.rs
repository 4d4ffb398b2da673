//! Scenario files: the built-in ones load and resolve; broken ones give errors that name the
//! file, the entry and the field; steps change the inventory and the traffic mix.

mod common;

use common::*;
use flowlens_model::{EndpointType, PortMatch};
use flowlens_sim::{
    Error, Generator, Scenario, SimEvent, Simulation, list_builtin, list_in, scenarios_dir,
};

#[test]
fn every_builtin_scenario_loads_and_resolves() {
    let names: Vec<String> = list_builtin().into_iter().map(|(n, _)| n).collect();
    for expected in ["boutique", "fme", "scale", "storefront"] {
        assert!(
            names.iter().any(|n| n == expected),
            "{expected} missing from {names:?}"
        );
    }
    for (name, description) in list_builtin() {
        assert!(!description.is_empty(), "{name} has no description");
        let scenario = builtin(&name);
        assert_eq!(scenario.name(), name);
        assert!(!scenario.traffic().is_empty(), "{name} has no traffic");
        // Resolution happened at load; a generator over it produces records.
        let flows = Generator::new(&scenario, 1, START).advance(10.0);
        assert!(!flows.is_empty(), "{name} generated nothing in 10 s");
    }
}

#[test]
fn builtin_steps_are_declared() {
    let steps = |name: &str| {
        builtin(name)
            .steps()
            .iter()
            .map(|s| (s.name.clone(), s.at))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps("storefront"), vec![("rogue".to_string(), None)]);
    assert_eq!(steps("fme"), vec![("fix".to_string(), None)]);
    assert_eq!(steps("boutique"), vec![("misconfigure".to_string(), None)]);
}

#[test]
fn scenario_directory_is_found_and_listed() {
    let dir = scenarios_dir().expect("the source tree's scenarios directory");
    let listed: Vec<String> = list_in(&dir).into_iter().map(|(n, _)| n).collect();
    assert!(listed.contains(&"fme".to_string()));
    let err = Scenario::builtin("nope").expect_err("unknown scenario");
    let text = err.to_string();
    assert!(
        text.contains("\"nope\"") && text.contains("storefront") && text.contains("scale"),
        "{text}"
    );
    assert!(Scenario::builtin("../fme").is_err());
}

#[test]
fn loads_from_memory_like_from_disk() {
    let dir = scenarios_dir().expect("scenarios dir").join("fme");
    let mut files = Vec::new();
    for entry in walk(&dir) {
        let rel = entry
            .strip_prefix(&dir)
            .expect("inside")
            .to_string_lossy()
            .replace('\\', "/");
        files.push((rel, std::fs::read_to_string(&entry).expect("read")));
    }
    let from_memory = Scenario::from_files("fme", files).expect("loads from memory");
    let from_disk = builtin("fme");
    // The same cluster; only the file names policies remember differ.
    let (m, d) = (from_memory.inventory(), from_disk.inventory());
    assert_eq!(m.endpoints, d.endpoints);
    assert_eq!(m.services, d.services);
    let strip = |inv: &flowlens_model::Inventory| {
        inv.policies
            .iter()
            .cloned()
            .map(|mut p| {
                p.source = None;
                p
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(m), strip(d));
    assert!(m.policies.iter().all(|p| {
        p.source
            .as_ref()
            .is_some_and(|s| s.file.starts_with("fme/manifests/"))
    }));
    let a = Generator::new(&from_memory, 3, START).advance(60.0);
    let b = Generator::new(&from_disk, 3, START).advance(60.0);
    assert_eq!(a, b);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path))
        } else {
            out.push(path)
        }
    }
    out
}

fn scenario_with_traffic(traffic: &str) -> flowlens_sim::Result<Scenario> {
    let text = format!("name: demo\nmanifests: [manifests/]\ntraffic:\n{traffic}");
    from_files(&[
        ("scenario.yaml", &text),
        ("manifests/demo.yaml", DEMO_MANIFESTS),
    ])
}

#[test]
fn a_missing_workload_names_file_entry_and_field() {
    let err = scenario_with_traffic(
        "  - {from: demo/web, to: demo/api, rate: 1}\n  - {from: demo/web, to: demo/payments, rate: 1}\n",
    )
    .expect_err("unresolvable");
    let text = err.to_string();
    assert!(matches!(err, Error::Scenario(_)));
    assert!(text.starts_with("mem/scenario.yaml: line 5: traffic[1].to: no service, workload, pod or network set named demo/payments"), "{text}");

    let err = scenario_with_traffic("  - {from: [demo/web, nowhere/x], to: demo/api, rate: 1}\n")
        .expect_err("bad");
    let text = err.to_string();
    assert!(
        text.contains("traffic[0].from[1]") && text.contains("there is no namespace \"nowhere\""),
        "{text}"
    );
}

#[test]
fn a_service_is_reached_on_its_own_ports() {
    let err =
        scenario_with_traffic("  - {from: demo/web, to: demo/api, ports: 42000-43000, rate: 1}\n")
            .expect_err("range on a service");
    assert!(
        err.to_string()
            .contains("write workload:demo/<workload name>"),
        "{err}"
    );
    let err = scenario_with_traffic("  - {from: demo/web, to: demo/api, port: 80, rate: 1}\n")
        .expect_err("wrong port");
    assert!(
        err.to_string()
            .contains("80 is not a TCP port of service demo/api (its ports: 9090)"),
        "{err}"
    );
    let err = scenario_with_traffic("  - {from: demo/web, to: demo/api, protocol: UDP, rate: 1}\n")
        .expect_err("no UDP");
    assert!(err.to_string().contains("has no UDP port"), "{err}");
    // Addressing the pods directly allows any port, and named container ports.
    scenario_with_traffic(
        "  - {from: demo/web, to: workload:demo/api, ports: [42000-43000, grpc], rate: 1}\n",
    )
    .expect("pods");
    let err = scenario_with_traffic("  - {from: demo/web, to: 203.0.113.9, rate: 1}\n")
        .expect_err("no port");
    assert!(err.to_string().contains("give port or ports"), "{err}");
    let err = scenario_with_traffic(
        "  - {from: demo/web, to: api.unknown.example, port: 443, rate: 1}\n",
    )
    .expect_err("host");
    assert!(
        err.to_string()
            .contains("unknown host \"api.unknown.example\""),
        "{err}"
    );
}

#[test]
fn scenario_hosts_map_domains() {
    let text = "name: demo\nmanifests: [manifests/]\nhosts:\n  api.partner.example: [203.0.113.7]\ntraffic:\n  - {from: demo/web, to: api.partner.example, port: 443, rate: 5}\n";
    let s = from_files(&[
        ("scenario.yaml", text),
        ("manifests/demo.yaml", DEMO_MANIFESTS),
    ])
    .expect("loads");
    let flows = Generator::new(&s, 1, START).advance(20.0);
    assert!(!flows.is_empty());
    assert!(
        flows
            .iter()
            .all(|f| f.dst_ip.to_string() == "203.0.113.7" && f.dst_port == 443)
    );
}

#[test]
fn broken_files_are_errors_not_panics() {
    let manifests = ("manifests/demo.yaml", DEMO_MANIFESTS);
    // A missing scenario file, a missing manifest path, a broken manifest.
    assert!(
        from_files(&[manifests])
            .expect_err("missing")
            .to_string()
            .contains("mem/scenario.yaml")
    );
    let err = from_files(&[
        ("scenario.yaml", "name: x\nmanifests: [nothere/]\n"),
        manifests,
    ])
    .expect_err("missing path");
    assert!(err.to_string().contains("manifests[0]"), "{err}");
    let err = from_files(&[
        ("scenario.yaml", "name: x\nmanifests: [bad.yaml]\n"),
        ("bad.yaml", "kind: Service\nmetadata: {name: 5\n"),
    ])
    .expect_err("broken manifest");
    assert!(
        matches!(err, Error::Manifests(_)) && err.to_string().contains("mem/bad.yaml"),
        "{err}"
    );
    let err = from_files(&[(
        "scenario.yaml",
        "name: x\nsteps:\n  - {name: s, apply: [gone.yaml]}\n",
    )])
    .expect_err("step file");
    assert!(err.to_string().contains("steps[0].apply[0]"), "{err}");
    let err = from_files(&[("scenario.yaml", "name: x\nmanifests: [manifests/]\nsteps:\n  - {name: s, delete: [Deployment/demo/nothing]}\n"), manifests])
        .expect_err("delete of nothing");
    assert!(
        err.to_string()
            .contains("steps[0].delete[0]: no Deployment named demo/nothing"),
        "{err}"
    );

    // Mangled variants of a real scenario file must never panic.
    let text = std::fs::read_to_string(
        scenarios_dir()
            .expect("dir")
            .join("storefront/scenario.yaml"),
    )
    .expect("read");
    let bytes = text.as_bytes();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..300 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut mangled = bytes.to_vec();
        let at = (state % mangled.len() as u64) as usize;
        match state % 4 {
            0 => mangled.truncate(at),
            1 => mangled[at] = b":-[{'\"0 \n"[(state >> 8) as usize % 9],
            2 => {
                mangled.remove(at);
            }
            _ => mangled.insert(at, b'\t'),
        }
        let mangled = String::from_utf8_lossy(&mangled).into_owned();
        let _ = from_files(&[("scenario.yaml", &mangled), manifests]);
    }
}

#[test]
fn rogue_step_adds_the_pod_and_its_probes() {
    let mut s = builtin("storefront");
    let rogue = |s: &Scenario| {
        s.inventory()
            .endpoints
            .iter()
            .any(|e| e.endpoint_type == EndpointType::Wep && e.name.starts_with("rogue-"))
    };
    assert!(!rogue(&s));
    let before = s.traffic().len();
    let inventory = s.apply_step("rogue").expect("rogue applies");
    assert!(rogue(&s));
    assert!(
        inventory
            .endpoints
            .iter()
            .any(|e| e.name.starts_with("rogue-"))
    );
    assert_eq!(s.traffic().len(), before + 2);
    assert_eq!(s.applied_steps(), vec!["rogue"]);
    assert!(matches!(
        s.apply_step("rogue"),
        Err(Error::StepAlreadyApplied { .. })
    ));
    let err = s.apply_step("nope").expect_err("unknown step");
    assert!(err.to_string().contains("its steps are: rogue"), "{err}");
}

#[test]
fn fix_step_replaces_the_engine_policy() {
    let mut s = builtin("fme");
    let pool_allowed = |s: &Scenario| {
        let policy = s
            .inventory()
            .policies
            .iter()
            .find(|p| p.name == "application.engine-fmeserver")
            .expect("engine policy");
        policy.egress[0]
            .destination
            .ports
            .contains(&PortMatch::Range {
                first: 42000,
                last: 43000,
            })
    };
    assert!(!pool_allowed(&s));
    let policies = s.inventory().policies.len();
    s.apply_step("fix").expect("fix applies");
    assert!(pool_allowed(&s));
    assert_eq!(
        s.inventory().policies.len(),
        policies,
        "replaced, not added"
    );
}

const STEPPED: &str = r#"
name: stepped
manifests: [manifests/]
traffic:
  - {name: web-api, from: demo/web, to: demo/api, rate: 10}
steps:
  - name: later
    at: 30s
    delete: [Deployment/demo/web]
    traffic:
      - {name: api-self, from: demo/api, to: demo/api, rate: 5}
  - name: manual
    stop: [api-self]
"#;

#[test]
fn timed_steps_apply_themselves_and_deletes_stop_traffic() {
    let s = from_files(&[
        ("scenario.yaml", STEPPED),
        ("manifests/demo.yaml", DEMO_MANIFESTS),
    ])
    .expect("loads");
    let web = pod_ips(&s, "demo", "web");
    let mut sim = Simulation::new(s, 9, START);
    let events = sim.advance(60.0).expect("advances");
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| {
            if matches!(e, SimEvent::Flows(_)) {
                "flows"
            } else {
                "step"
            }
        })
        .collect();
    assert_eq!(kinds, vec!["flows", "step", "flows"]);
    let SimEvent::Step(step) = &events[1] else {
        unreachable!("checked")
    };
    assert_eq!(step.name, "later");
    assert_eq!(step.time, START + 30);
    assert!(
        step.warnings
            .iter()
            .any(|w| w.contains("web-api") && w.contains("demo/web")),
        "{:?}",
        step.warnings
    );
    assert!(
        !step
            .inventory
            .endpoints
            .iter()
            .any(|e| e.name.starts_with("web-"))
    );
    let SimEvent::Flows(before) = &events[0] else {
        unreachable!("checked")
    };
    let SimEvent::Flows(after) = &events[2] else {
        unreachable!("checked")
    };
    assert!(
        before
            .iter()
            .all(|f| f.start_time < START + 30 && web.contains(&f.src_ip))
    );
    assert!(
        after
            .iter()
            .all(|f| f.start_time >= START + 30 && !web.contains(&f.src_ip))
    );
    assert!(!after.is_empty());

    // The manual step stops the api-self traffic: nothing flows any more.
    sim.trigger("manual").expect("manual applies");
    let events = sim.advance(60.0).expect("advances");
    assert!(events.is_empty(), "{} events", events.len());
}

#[test]
fn scenarios_built_in_code_are_checked_too() {
    use flowlens_sim::{Origin, PeerRef, TrafficSpec};
    let inventory = from_files(&[
        ("scenario.yaml", "name: x\nmanifests: [m.yaml]\n"),
        ("m.yaml", DEMO_MANIFESTS),
    ])
    .expect("loads")
    .inventory()
    .as_ref()
    .clone();
    let web: PeerRef = "demo/web".parse().expect("peer");
    let api: PeerRef = "demo/api".parse().expect("peer");
    let origin = Origin::generated("code", "traffic[0]".into());
    let entry = |rate: f64, to: PeerRef| {
        TrafficSpec::new(vec![web.clone()], vec![to], rate, origin.clone())
    };
    let build =
        |t: TrafficSpec, hosts| Scenario::from_parts("code", "", inventory.clone(), vec![t], hosts);
    assert!(build(entry(f64::INFINITY, api.clone()), Default::default()).is_err());
    assert!(build(entry(-1.0, api.clone()), Default::default()).is_err());
    let host = PeerRef::Host("empty.example".into());
    let hosts = [("empty.example".to_string(), vec![])]
        .into_iter()
        .collect();
    let mut t = entry(1.0, host);
    t.ports = vec![flowlens_sim::PortItem::Single(443)];
    assert!(
        build(t, hosts)
            .expect_err("no addresses")
            .to_string()
            .contains("no addresses")
    );
    let ok = build(entry(2.0, api), Default::default()).expect("valid");
    assert_eq!(ok.steps().len(), 0);
    assert!(!Generator::new(&ok, 1, START).advance(10.0).is_empty());
}
