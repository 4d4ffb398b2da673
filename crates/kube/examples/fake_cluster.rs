//! A small cluster served by the fake API server, for trying `flowlens serve --kube` and for
//! the UI's screenshots without a cluster: a shop namespace with a few pods, a Service, a
//! Calico tier with a policy and a Kubernetes NetworkPolicy.
//!
//! ```sh
//! cargo run -p flowlens-kube --features test-support --example fake_cluster -- KUBECONFIG [read-only]
//! flowlens serve --data /tmp/d --kube --kubeconfig KUBECONFIG
//! ```
//!
//! It writes a kubeconfig reaching it (context `fake`) to KUBECONFIG, prints `ready`, and
//! serves until its standard input closes. `read-only` denies every policy write, as a
//! cluster without Flowlens' write role does.

use flowlens_kube::testing::{FakeApiServer, objects};
use std::io::Read;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: fake_cluster KUBECONFIG [read-only]");
        std::process::exit(2);
    };
    let read_only = args.next().as_deref() == Some("read-only");
    let fake = FakeApiServer::start().await;
    fake.apply(objects::namespace("shop", &[("team", "web")]));
    fake.apply(objects::node("node-1", &["192.168.1.10"]));
    for (name, app, ip) in [
        ("frontend-7d9f8b6c5-x2k4p", "frontend", "10.244.0.11"),
        ("frontend-7d9f8b6c5-m8q7z", "frontend", "10.244.0.12"),
        ("checkout-5c6d7e8f9-abcde", "checkout", "10.244.0.21"),
        ("payments-6b7c8d9e0-fghij", "payments", "10.244.0.31"),
    ] {
        fake.apply(objects::pod("shop", name, &[("app", app)], &[ip]));
    }
    fake.apply(objects::service(
        "shop",
        "checkout",
        &[("app", "checkout")],
        "10.96.0.21",
    ));
    fake.apply(objects::endpoint_slice(
        "shop",
        "checkout",
        &[("10.244.0.21", "checkout-5c6d7e8f9-abcde")],
    ));
    fake.apply(objects::tier("security", 100.0));
    fake.apply(objects::calico_policy(
        "shop",
        "security.payments-from-checkout",
        "security",
        10.0,
        "app == 'payments'",
        "app == 'checkout'",
    ));
    fake.apply(objects::kubernetes_policy(
        "shop", "checkout", "checkout", "frontend",
    ));
    if read_only {
        for group in [
            "networking.k8s.io",
            "projectcalico.org",
            "policy.networking.k8s.io",
        ] {
            for verb in ["create", "patch", "delete"] {
                fake.deny(verb, group, "*", true);
            }
        }
    }
    std::fs::write(&path, fake.kubeconfig("fake")).expect("write the kubeconfig");
    println!("ready {}", fake.url());
    // Serve until whoever started us closes our standard input.
    tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
    })
    .await
    .ok();
}
