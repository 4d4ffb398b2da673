//! Kubernetes core and workload resources: Namespace, ServiceAccount, Pod, the workload
//! controllers (as pod templates), and Service.

use crate::LoadOptions;
use crate::errors::Diag;
use crate::read::Field;
use crate::resource::{PodTemplate, ResourceBody, ServiceResource, Workload};
use flowlens_model::{
    Endpoint, EndpointType, HostNetworkPod, NamedPort, Namespace, Protocol, Service,
    ServiceAccount, ServicePort, TargetPort, WorkloadRef,
};
use std::net::IpAddr;

/// More replicas than this is almost certainly a typo, and would make an inventory too big
/// to be useful.
pub const MAX_REPLICAS: i128 = 10_000;

pub(crate) fn namespace(d: &mut Diag, root: &Field) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    Some(ResourceBody::Namespace(Namespace {
        name: meta.name,
        labels: meta.labels,
    }))
}

pub(crate) fn service_account(
    d: &mut Diag,
    root: &Field,
    opts: &LoadOptions,
) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    Some(ResourceBody::ServiceAccount(ServiceAccount {
        namespace: meta
            .namespace
            .unwrap_or_else(|| opts.default_namespace.clone()),
        name: meta.name,
        labels: meta.labels,
    }))
}

/// A pod becomes a workload endpoint, except host-networked and finished pods, which Calico
/// does not give one (`None`, with a warning).
pub(crate) fn pod(d: &mut Diag, root: &Field, opts: &LoadOptions) -> Option<ResourceBody> {
    let meta = d.metadata(root, true)?;
    let spec = d.opt_map(root, "spec");
    let status = d.opt_map(root, "status");
    let errors_before = d.error_count();

    let namespace = meta
        .namespace
        .unwrap_or_else(|| opts.default_namespace.clone());
    let (name, name_aggr) = match &meta.generate_name {
        // Calico aggregates pods by their generateName, the part before the random suffix.
        Some(prefix) if meta.name.is_empty() => (
            format!(
                "{prefix}{}",
                crate::workloads::suffix(&format!("{namespace}/{prefix}"), 5)
            ),
            format!("{prefix}*"),
        ),
        Some(prefix) => (meta.name.clone(), format!("{prefix}*")),
        None => (meta.name.clone(), meta.name.clone()),
    };

    let template = match &spec {
        Some(spec) => pod_spec(d, spec),
        None => PodTemplate {
            service_account: "default".into(),
            ..PodTemplate::default()
        },
    };
    let host_network = spec
        .as_ref()
        .and_then(|s| d.opt_bool(s, "hostNetwork"))
        .unwrap_or(false);

    let phase = status.as_ref().and_then(|s| d.opt_string(s, "phase"));
    let mut ips = Vec::new();
    if let Some(status) = &status {
        for item in d.opt_list(status, "podIPs") {
            if let Some(f) = d.map(item)
                && let Some(ip) = f.get("ip").and_then(|f| d.ip(&f))
            {
                ips.push(ip);
            }
        }
        if ips.is_empty()
            && let Some(ip) = status.get("podIP").and_then(|f| d.ip(&f))
        {
            ips.push(ip);
        }
    }
    // On the host network, podIP is the node's address; hostIP says the same.
    if host_network
        && ips.is_empty()
        && let Some(ip) = status
            .as_ref()
            .and_then(|s| s.get("hostIP"))
            .and_then(|f| d.ip(&f))
    {
        ips.push(ip);
    }
    let workload = meta_owner(d, root);

    if d.error_count() > errors_before {
        return None;
    }
    if let Some(phase @ ("Succeeded" | "Failed")) = phase.as_deref() {
        d.warn(
            root.node,
            format!("pod {namespace}/{name} has finished ({phase}): skipped"),
        );
        return None;
    }
    if host_network {
        d.warn(root.node, format!("pod {namespace}/{name} uses the host network: Calico gives it no workload endpoint; it is kept as host traffic of its node"));
        return Some(ResourceBody::HostNetworkPod(HostNetworkPod {
            namespace,
            name,
            workload,
            labels: meta.labels,
            node: template.node,
            ips,
        }));
    }
    Some(ResourceBody::Pod(Endpoint {
        endpoint_type: EndpointType::Wep,
        namespace: Some(namespace),
        name,
        name_aggr,
        workload,
        labels: meta.labels,
        ips,
        service_account: Some(template.service_account),
        ports: template.ports,
        node: template.node,
        interface: None,
        profiles: Vec::new(),
    }))
}

/// The first owner reference (`ReplicaSet x-abc`, `StatefulSet db`, …) of a pod.
fn meta_owner(d: &mut Diag, root: &Field) -> Option<WorkloadRef> {
    let meta = root.get("metadata")?;
    let owner = d.opt_list(&meta, "ownerReferences").into_iter().next()?;
    let owner = d.map(owner)?;
    let kind = d.opt_string(&owner, "kind")?;
    let name = d.opt_string(&owner, "name")?;
    Some(WorkloadRef { kind, name })
}

/// The parts of a pod spec that matter for policy: service account, node and named ports.
fn pod_spec(d: &mut Diag, spec: &Field) -> PodTemplate {
    let service_account = d
        .opt_string(spec, "serviceAccountName")
        .or_else(|| d.opt_string(spec, "serviceAccount"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "default".into());
    let node = d.opt_string(spec, "nodeName").filter(|s| !s.is_empty());
    let mut ports = Vec::new();
    for key in ["containers", "initContainers"] {
        for container in d.opt_list(spec, key) {
            let Some(container) = d.map(container) else {
                continue;
            };
            for port in d.opt_list(&container, "ports") {
                let Some(port) = d.map(port) else { continue };
                let number = d
                    .required(&port, "containerPort")
                    .and_then(|f| d.int_in(&f, 1, 65535));
                let protocol = protocol_or_tcp(d, &port);
                let name = d.opt_string(&port, "name").filter(|n| !n.is_empty());
                // Only named ports can be referred to by policies; unnamed ones say nothing.
                if let (Some(name), Some(number), Some(protocol)) = (name, number, protocol) {
                    ports.push(NamedPort {
                        name,
                        protocol,
                        port: number as u16,
                    });
                }
            }
        }
    }
    PodTemplate {
        labels: Default::default(),
        service_account,
        ports,
        node,
    }
}

/// `protocol` of a port entry: TCP when absent; TCP, UDP or SCTP otherwise.
pub(crate) fn protocol_or_tcp(d: &mut Diag, parent: &Field) -> Option<Protocol> {
    let Some(f) = parent.get("protocol") else {
        return Some(Protocol::Tcp);
    };
    let text = d.string(&f)?;
    match Protocol::parse(&text) {
        Ok(p) if p.has_ports() => Some(p),
        _ => {
            d.error(
                f.node,
                &f.path,
                format!("unsupported protocol {text:?}: expected TCP, UDP or SCTP"),
            );
            None
        }
    }
}

/// Which workload kinds exist and where their pod template lives.
pub(crate) fn is_workload_kind(kind: &str) -> bool {
    matches!(
        kind,
        "Deployment"
            | "StatefulSet"
            | "DaemonSet"
            | "ReplicaSet"
            | "ReplicationController"
            | "Job"
            | "CronJob"
    )
}

pub(crate) fn workload(
    d: &mut Diag,
    root: &Field,
    kind: &str,
    opts: &LoadOptions,
) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.required(root, "spec").and_then(|f| d.map(f))?;
    let errors_before = d.error_count();
    let namespace = meta
        .namespace
        .unwrap_or_else(|| opts.default_namespace.clone());

    let replicas = if matches!(
        kind,
        "Deployment" | "StatefulSet" | "ReplicaSet" | "ReplicationController"
    ) {
        match spec.get("replicas") {
            Some(f) => d.int_in(&f, 0, MAX_REPLICAS),
            None => Some(1),
        }
    } else {
        Some(1)
    };

    let template = if kind == "CronJob" {
        d.required(&spec, "jobTemplate")
            .and_then(|f| d.map(f))
            .and_then(|jt| d.required(&jt, "spec"))
            .and_then(|f| d.map(f))
            .and_then(|js| d.required(&js, "template"))
    } else {
        d.required(&spec, "template")
    };
    let template = template.and_then(|f| d.map(f))?;
    let labels = template
        .get("metadata")
        .and_then(|m| d.map(m))
        .map(|m| d.opt_labels(&m, "labels"))
        .unwrap_or_default();
    let pod_spec_field = d.opt_map(&template, "spec");
    let mut pod = match &pod_spec_field {
        Some(s) => pod_spec(d, s),
        None => PodTemplate {
            service_account: "default".into(),
            ..PodTemplate::default()
        },
    };
    pod.labels = labels;
    let host_network = pod_spec_field
        .as_ref()
        .and_then(|s| d.opt_bool(s, "hostNetwork"))
        .unwrap_or(false);

    let replicas = replicas?;
    if d.error_count() > errors_before {
        return None;
    }
    if host_network {
        d.warn(root.node, format!("{kind} {namespace}/{} uses the host network: Calico gives its pods no workload endpoints; they are kept as host traffic of their nodes", meta.name));
        return Some(ResourceBody::HostNetworkPod(HostNetworkPod {
            namespace,
            name: meta.name.clone(),
            workload: Some(WorkloadRef {
                kind: kind.into(),
                name: meta.name,
            }),
            labels: pod.labels,
            node: pod.node,
            ips: Vec::new(),
        }));
    }
    // A workload scaled to zero still gets one endpoint so that policies selecting it can be
    // previewed and explained; the warning says it is not running.
    let replicas = if replicas == 0 {
        d.warn(root.node, format!("{kind} {namespace}/{} has replicas: 0; modelled as one endpoint so policies for it can still be previewed", meta.name));
        1
    } else {
        replicas as u32
    };
    Some(ResourceBody::Workload(Workload {
        kind: kind.into(),
        namespace,
        name: meta.name,
        replicas,
        template: pod,
    }))
}

pub(crate) fn service(d: &mut Diag, root: &Field, opts: &LoadOptions) -> Option<ResourceBody> {
    let meta = d.metadata(root, false)?;
    let spec = d.opt_map(root, "spec");
    let errors_before = d.error_count();
    let namespace = meta
        .namespace
        .unwrap_or_else(|| opts.default_namespace.clone());

    let mut headless = false;
    let mut cluster_ips: Vec<IpAddr> = Vec::new();
    let mut ports = Vec::new();
    let mut selector = None;
    if let Some(spec) = &spec {
        if d.opt_string(spec, "type").as_deref() == Some("ExternalName") {
            headless = true;
        }
        let ip_fields: Vec<Field> = match spec.get("clusterIPs") {
            Some(list) => d.list(&list),
            None => spec.get("clusterIP").into_iter().collect(),
        };
        for f in ip_fields {
            match d.string(&f).as_deref().map(str::trim) {
                Some("None") => headless = true,
                Some("") | None => {}
                Some(_) => cluster_ips.extend(d.ip(&f)),
            }
        }
        for port in d.opt_list(spec, "ports") {
            let Some(port) = d.map(port) else { continue };
            let number = d
                .required(&port, "port")
                .and_then(|f| d.int_in(&f, 1, 65535));
            let protocol = protocol_or_tcp(d, &port);
            let name = d.opt_string(&port, "name").filter(|n| !n.is_empty());
            let target = match port.get("targetPort") {
                None => number.map(|n| TargetPort::Number(n as u16)),
                Some(f) => match &f.node.value {
                    crate::node::Value::Int(_) => {
                        d.int_in(&f, 1, 65535).map(|n| TargetPort::Number(n as u16))
                    }
                    crate::node::Value::Str(s) => match s.trim().parse::<u16>() {
                        // Kubernetes accepts `targetPort: "8080"` and treats it as a number.
                        Ok(n) if n > 0 => Some(TargetPort::Number(n)),
                        _ if crate::ports::is_port_name(s) => Some(TargetPort::Name(s.clone())),
                        _ => {
                            d.error(f.node, &f.path, format!("invalid targetPort {s:?}: expected a port number or a port name"));
                            None
                        }
                    },
                    _ => {
                        d.type_error(&f, "a port number or a port name");
                        None
                    }
                },
            };
            if let (Some(number), Some(protocol), Some(target_port)) = (number, protocol, target) {
                ports.push(ServicePort {
                    name,
                    protocol,
                    port: number as u16,
                    target_port,
                });
            }
        }
        selector = spec
            .get("selector")
            .map(|f| d.labels(&f))
            .filter(|l| !l.is_empty());
    }
    if d.error_count() > errors_before {
        return None;
    }
    if headless {
        cluster_ips.clear();
    }
    Some(ResourceBody::Service(ServiceResource {
        service: Service {
            namespace,
            name: meta.name,
            cluster_ips,
            ports,
            selector,
        },
        headless,
    }))
}
