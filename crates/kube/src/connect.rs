//! Reaching a cluster: a kubeconfig file (`--kubeconfig`, `--context`, or `KUBECONFIG` and
//! `~/.kube/config` as kubectl reads them), or the service account of the pod Flowlens runs
//! in.

use kube::config::{Config, KubeConfigOptions, Kubeconfig};
use serde::Serialize;
use std::path::PathBuf;

/// How to reach the cluster.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// A kubeconfig file; without one, `KUBECONFIG` (a list of files, merged) or
    /// `~/.kube/config`, and failing those the in-cluster service account.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig instead of its current one.
    pub context: Option<String>,
    /// Only the in-cluster service account, whatever kubeconfig files exist.
    pub in_cluster: bool,
}

/// Which cluster a client talks to, for the UI's connection panel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClusterInfo {
    /// The kubeconfig context, when one was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The kubeconfig's name of the cluster, when one was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The API server's address.
    pub server: String,
    pub in_cluster: bool,
    /// Namespace of the kubeconfig context or of the service account.
    pub default_namespace: String,
}

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read kubeconfig {path}: {source}")]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("no context {context:?} in the kubeconfig (contexts: {available})")]
    NoSuchContext { context: String, available: String },
    #[error("invalid kubeconfig: {0}")]
    Kubeconfig(#[source] kube::config::KubeconfigError),
    #[error(
        "not running in a cluster ({0}): give --kubeconfig, set KUBECONFIG, or run Flowlens in a pod with a service account"
    )]
    InCluster(#[source] kube::config::InClusterError),
    #[error(
        "no kubeconfig found ({kubeconfig}) and not running in a cluster ({in_cluster}): give --kubeconfig or set KUBECONFIG"
    )]
    Nothing {
        kubeconfig: String,
        in_cluster: String,
    },
    #[error("cannot build a client for {server}: {source}")]
    Client {
        server: String,
        #[source]
        source: kube::Error,
    },
}

/// A client for the cluster the options name, and which cluster that is.
pub async fn connect(opts: &ConnectOptions) -> Result<(kube::Client, ClusterInfo), ConnectError> {
    let (config, mut info) = config(opts).await?;
    info.server = config.cluster_url.to_string();
    info.default_namespace = config.default_namespace.clone();
    let client = kube::Client::try_from(config).map_err(|source| ConnectError::Client {
        server: info.server.clone(),
        source,
    })?;
    Ok((client, info))
}

async fn config(opts: &ConnectOptions) -> Result<(Config, ClusterInfo), ConnectError> {
    if opts.in_cluster {
        let config = Config::incluster().map_err(ConnectError::InCluster)?;
        return Ok((
            config,
            ClusterInfo {
                in_cluster: true,
                ..ClusterInfo::default()
            },
        ));
    }
    let kubeconfig = match &opts.kubeconfig {
        Some(path) => {
            Some(
                Kubeconfig::read_from(path).map_err(|source| ConnectError::ReadKubeconfig {
                    path: path.clone(),
                    source,
                })?,
            )
        }
        None => match Kubeconfig::read() {
            Ok(kc) => Some(kc),
            // A context was asked for: it can only come from a kubeconfig.
            Err(e) if opts.context.is_some() => return Err(ConnectError::Kubeconfig(e)),
            Err(kubeconfig_error) => {
                let config = Config::incluster().map_err(|in_cluster| ConnectError::Nothing {
                    kubeconfig: kubeconfig_error.to_string(),
                    in_cluster: in_cluster.to_string(),
                })?;
                return Ok((
                    config,
                    ClusterInfo {
                        in_cluster: true,
                        ..ClusterInfo::default()
                    },
                ));
            }
        },
    };
    let kubeconfig = kubeconfig.unwrap_or_default();
    let context = opts
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    if let Some(name) = &context
        && !kubeconfig.contexts.iter().any(|c| &c.name == name)
    {
        let available: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(ConnectError::NoSuchContext {
            context: name.clone(),
            available: if available.is_empty() {
                "none".into()
            } else {
                available.join(", ")
            },
        });
    }
    let cluster = context.as_ref().and_then(|name| {
        kubeconfig
            .contexts
            .iter()
            .find(|c| &c.name == name)
            .and_then(|c| c.context.as_ref())
            .map(|c| c.cluster.clone())
    });
    let options = KubeConfigOptions {
        context: context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(ConnectError::Kubeconfig)?;
    Ok((
        config,
        ClusterInfo {
            context,
            cluster,
            in_cluster: false,
            ..ClusterInfo::default()
        },
    ))
}
