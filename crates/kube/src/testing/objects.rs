//! API objects shaped as a cluster has them, for tests to put into the fake.

use super::rfc3339;
use flowlens_model::UnixMillis;
use serde_json::{Map, Value, json};

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), json!(v)))
            .collect::<Map<String, Value>>(),
    )
}

pub fn namespace(name: &str, pairs: &[(&str, &str)]) -> Value {
    let mut l = labels(pairs);
    l["kubernetes.io/metadata.name"] = json!(name);
    json!({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": name, "labels": l},
           "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
}

pub fn service_account(namespace: &str, name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": name, "namespace": namespace}})
}

/// A running pod of a Deployment (`<deployment>-<hash>-<suffix>`), on `node-1`, with a named
/// container port `http` (8080) and the given addresses (dual-stack when two).
pub fn pod(namespace: &str, name: &str, pairs: &[(&str, &str)], ips: &[&str]) -> Value {
    let generate_name = match name.rfind('-') {
        Some(i) => &name[..=i],
        None => "",
    };
    let pod_ips: Vec<Value> = ips.iter().map(|ip| json!({"ip": ip})).collect();
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels(pairs),
                     "generateName": generate_name},
        "spec": {"serviceAccountName": "default", "nodeName": "node-1",
                 "containers": [{"name": "main", "image": "registry.example/app:1",
                                 "ports": [{"name": "http", "containerPort": 8080,
                                            "protocol": "TCP"}]}]},
        "status": {"phase": "Running", "podIPs": pod_ips,
                   "conditions": [{"type": "Ready", "status": "True"}]}
    });
    if let Some(ip) = ips.first() {
        pod["status"]["podIP"] = json!(ip);
    }
    if generate_name.is_empty()
        && let Some(meta) = pod["metadata"].as_object_mut()
    {
        meta.remove("generateName");
    }
    pod
}

/// `pod` with `status.startTime`.
pub fn started_at(mut pod: Value, t: UnixMillis) -> Value {
    pod["status"]["startTime"] = json!(rfc3339(t));
    pod
}

/// A pod that is scheduled but has no address yet.
pub fn pending_pod(namespace: &str, name: &str, pairs: &[(&str, &str)]) -> Value {
    let mut pod = pod(namespace, name, pairs, &[]);
    pod["status"] = json!({"phase": "Pending"});
    pod
}

/// A pod on the host network: its address is its node's.
pub fn host_network_pod(namespace: &str, name: &str, node: &str, ip: &str) -> Value {
    let mut pod = pod(namespace, name, &[("k8s-app", name)], &[ip]);
    pod["spec"]["hostNetwork"] = json!(true);
    pod["spec"]["nodeName"] = json!(node);
    pod
}

pub fn service(namespace: &str, name: &str, selector: &[(&str, &str)], cluster_ip: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                    "selector": labels(selector),
                    "ports": [{"name": "http", "port": 80, "targetPort": "http",
                               "protocol": "TCP"}]}})
}

/// An EndpointSlice of `service` with the given (address, pod) backends on port 8080.
pub fn endpoint_slice(namespace: &str, service: &str, backends: &[(&str, &str)]) -> Value {
    let endpoints: Vec<Value> = backends
        .iter()
        .map(|(ip, pod)| {
            json!({"addresses": [ip], "conditions": {"ready": true},
                   "targetRef": {"kind": "Pod", "name": pod, "namespace": namespace},
                   "nodeName": "node-1"})
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": {"name": format!("{service}-abc12"), "namespace": namespace,
                        "labels": {"kubernetes.io/service-name": service}},
           "addressType": "IPv4", "endpoints": endpoints,
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
}

pub fn node(name: &str, ips: &[&str]) -> Value {
    let addresses: Vec<Value> = ips
        .iter()
        .map(|ip| json!({"type": "InternalIP", "address": ip}))
        .chain(std::iter::once(
            json!({"type": "Hostname", "address": name}),
        ))
        .collect();
    json!({"apiVersion": "v1", "kind": "Node",
           "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
           "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
           "status": {"addresses": addresses}})
}

pub fn tier(name: &str, order: f64) -> Value {
    json!({"apiVersion": "projectcalico.org/v3", "kind": "Tier",
           "metadata": {"name": name}, "spec": {"order": order}})
}

/// A Calico NetworkPolicy allowing ingress to `selector` on TCP 8080 from `from`.
pub fn calico_policy(
    namespace: &str,
    name: &str,
    tier: &str,
    order: f64,
    selector: &str,
    from: &str,
) -> Value {
    json!({"apiVersion": "projectcalico.org/v3", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"tier": tier, "order": order, "selector": selector, "types": ["Ingress"],
                    "ingress": [{"action": "Allow", "protocol": "TCP",
                                 "source": {"selector": from},
                                 "destination": {"ports": [8080]}}]}})
}

/// A Kubernetes NetworkPolicy admitting pods labelled `from` to `app: target` on 8080.
pub fn kubernetes_policy(namespace: &str, name: &str, target: &str, from: &str) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
           "metadata": {"name": name, "namespace": namespace},
           "spec": {"podSelector": {"matchLabels": {"app": target}},
                    "policyTypes": ["Ingress"],
                    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": from}}}],
                                 "ports": [{"protocol": "TCP", "port": 8080}]}]}})
}
