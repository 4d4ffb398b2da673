//! `serve --kube`: connecting to the cluster and starting its watch.

use crate::cli::{ClusterOptions, SnapshotOptions};
use anyhow::{Context, Result};
use flowlens_kube::{Cluster, ConnectOptions, WatchOptions};
use flowlens_server::ClusterLink;
use std::sync::Arc;

/// The options' connection: `--kubeconfig`/`--context`, else in a pod (the service account's
/// environment is there) the service account, else `KUBECONFIG` or `~/.kube/config`.
pub fn connect_options(options: &ClusterOptions, in_a_pod: bool) -> ConnectOptions {
    ConnectOptions {
        kubeconfig: options.kubeconfig.clone(),
        context: options.context.clone(),
        in_cluster: options.kubeconfig.is_none() && options.context.is_none() && in_a_pod,
    }
}

/// Connects and starts watching; the watch lists in the background.
pub async fn connect(
    options: &ClusterOptions,
    snapshot: &SnapshotOptions,
) -> Result<Arc<ClusterLink>> {
    let in_a_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let cluster = Cluster::connect(&connect_options(options, in_a_pod))
        .await
        .context("--kube: cannot connect to the cluster")?;
    let info = cluster.info();
    let name = match (&info.context, info.in_cluster) {
        (Some(context), _) => format!("context {context}"),
        (None, true) => "this pod's service account".to_string(),
        (None, false) => "the kubeconfig".to_string(),
    };
    eprintln!(
        "watching the cluster at {} ({name}); flows are attributed once it is listed",
        info.server
    );
    let watch = cluster.watch(watch_options(snapshot));
    Ok(Arc::new(
        ClusterLink::new(watch, cluster.writer()).with_reviewer(cluster.reviewer()),
    ))
}

/// How the watch reads objects: as a snapshot's manifests with these options, an object it
/// cannot read skipped (and listed) rather than stopping everything.
fn watch_options(snapshot: &SnapshotOptions) -> WatchOptions {
    WatchOptions {
        load_options: flowlens_manifests::LoadOptions {
            default_namespace: snapshot.namespace.clone(),
            pod_cidr: snapshot.pod_cidr,
            service_cidr: snapshot.service_cidr,
            skip_invalid_objects: true,
        },
        ..WatchOptions::default()
    }
}

/// How long a one-off listing may take before the command gives up.
const LISTING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// The cluster's inventory as it is now, for commands that read it once (`recommend --kube`,
/// `audit --kube`): every served kind listed, as `serve --kube` starts.
pub async fn list_once(
    options: &ClusterOptions,
    snapshot: &SnapshotOptions,
) -> Result<flowlens_model::Inventory> {
    let in_a_pod = std::env::var_os("KUBERNETES_SERVICE_HOST").is_some();
    let cluster = Cluster::connect(&connect_options(options, in_a_pod))
        .await
        .context("--kube: cannot connect to the cluster")?;
    let watch = cluster.watch(watch_options(snapshot));
    tokio::time::timeout(LISTING_TIMEOUT, watch.synced())
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "--kube: listing the cluster took longer than {} s ({})",
                LISTING_TIMEOUT.as_secs(),
                listing_state(&watch)
            )
        })?;
    let inventory = (*watch.inventory()).clone();
    let counts = inventory.counts();
    eprintln!(
        "listed {} ({} pods, {} policies){}",
        cluster.info().server,
        counts.workload_endpoints,
        counts.policies,
        match listing_state(&watch) {
            s if s.is_empty() => String::new(),
            s => format!("; {s}"),
        }
    );
    Ok(inventory)
}

/// Kinds the cluster does not serve or whose listing failed, in a few words.
fn listing_state(watch: &flowlens_kube::ClusterWatch) -> String {
    let status = watch.status();
    let mut parts = Vec::new();
    let skipped: Vec<String> = status
        .kinds
        .iter()
        .filter(|k| k.state == flowlens_kube::WatchState::NotServed)
        .map(|k| k.kind.to_string())
        .collect();
    if !skipped.is_empty() {
        parts.push(format!("not served: {}", skipped.join(", ")));
    }
    for k in status.kinds.iter().filter(|k| k.last_error.is_some()) {
        parts.push(format!(
            "{}: {}",
            k.kind,
            k.last_error.as_deref().unwrap_or_default()
        ));
    }
    parts.join("; ")
}

/// Asks what Flowlens may write (the Policy Editor's read-only mode) without holding up the
/// start.
pub fn check_access_in_background(link: Arc<ClusterLink>) {
    tokio::spawn(async move {
        match link.check_access().await {
            Ok(review) if review.read_only => {
                eprintln!("the cluster grants no policy writes: the Policy Editor is read-only")
            }
            Ok(_) => {}
            Err(e) => eprintln!("warning: cannot check what Flowlens may write: {e}"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    /// The container arguments of the committed manifests (the chart's default rendering).
    fn manifest_args() -> Vec<String> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/kubernetes/flowlens.yaml"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let mut lines = text.lines().skip_while(|l| l.trim() != "args:").skip(1);
        let mut args = Vec::new();
        for line in lines.by_ref() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            let Some(arg) = line.strip_prefix("- ") else {
                break;
            };
            args.push(arg.trim_matches('"').to_string());
        }
        args
    }

    #[test]
    fn the_deployed_arguments_are_the_command_line_s() {
        let args = manifest_args();
        assert_eq!(args.first().map(String::as_str), Some("serve"), "{args:?}");
        assert!(args.iter().any(|a| a == "--kube"), "{args:?}");
        let cli =
            crate::cli::Cli::try_parse_from(std::iter::once("flowlens".to_string()).chain(args))
                .unwrap_or_else(|e| panic!("deploy/kubernetes/flowlens.yaml: {e}"));
        let crate::cli::Command::Serve(serve) = cli.command else {
            panic!("not serve")
        };
        assert!(serve.cluster.kube);
        assert!(serve.snapshot.is_empty());
        let options = connect_options(&serve.cluster, true);
        assert!(options.in_cluster, "in the pod, the service account");
    }

    #[test]
    fn kube_and_a_snapshot_are_exclusive() {
        let e = crate::cli::Cli::try_parse_from([
            "flowlens",
            "serve",
            "--data",
            "d",
            "--kube",
            "--snapshot",
            "s",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("--kube") && e.contains("--snapshot"), "{e}");
        let e =
            crate::cli::Cli::try_parse_from(["flowlens", "serve", "--data", "d", "--context", "x"])
                .unwrap_err()
                .to_string();
        assert!(e.contains("--kube"), "{e}");
    }

    #[test]
    fn in_a_pod_without_a_kubeconfig_the_service_account_is_used() {
        let none = ClusterOptions::default();
        assert!(connect_options(&none, true).in_cluster);
        assert!(!connect_options(&none, false).in_cluster);
        let file = ClusterOptions {
            kubeconfig: Some("/k".into()),
            ..ClusterOptions::default()
        };
        assert!(!connect_options(&file, true).in_cluster);
        let context = ClusterOptions {
            context: Some("prod".into()),
            ..ClusterOptions::default()
        };
        let opts = connect_options(&context, true);
        assert!(!opts.in_cluster);
        assert_eq!(opts.context.as_deref(), Some("prod"));
    }
}
