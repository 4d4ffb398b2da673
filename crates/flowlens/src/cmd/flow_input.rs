//! Turning user-named flow ends into engine queries, following Services to their backends.

use anyhow::{Context, Result, anyhow};
use flowlens_model::Protocol;
use flowlens_policy::{Engine, FlowQuery, Peer, PeerSpec, ServiceTarget};

/// A flow ready for the engine, with the Service it went through, if any.
pub struct ResolvedFlow {
    pub src: Peer,
    pub dst: Peer,
    pub query: FlowQuery,
    pub service: Option<ServiceTarget>,
}

pub fn resolve(
    engine: &Engine,
    src: &str,
    dst: &str,
    proto: &str,
    src_port: u16,
    dst_port: u16,
) -> Result<ResolvedFlow> {
    let protocol = Protocol::parse(proto).map_err(|e| anyhow!("{e}"))?;
    let src_spec: PeerSpec = src.parse().with_context(|| "bad source")?;
    let dst_spec: PeerSpec = dst.parse().with_context(|| "bad destination")?;
    let src = engine
        .resolve_spec(&src_spec)
        .with_context(|| format!("source {src}"))?;
    // A destination naming a Service (and nothing else) means its cluster IP.
    let mut dst_peer = match service_ip(engine, &dst_spec) {
        Some(ip) => engine.resolve(ip),
        None => engine
            .resolve_spec(&dst_spec)
            .with_context(|| format!("destination {dst}"))?,
    };
    let mut port = dst_port;
    // Calico evaluates policy after DNAT: a flow to a cluster IP is a flow to a backend.
    let service = engine.service_target(dst_peer.ip, dst_port, protocol, u64::from(src_port));
    if let Some(t) = &service {
        dst_peer = engine.resolve(t.endpoint_ip);
        port = t.target_port;
    }
    let query = FlowQuery {
        src: src.ip,
        dst: dst_peer.ip,
        protocol,
        src_port,
        dst_port: port,
        icmp: None,
    };
    Ok(ResolvedFlow {
        src,
        dst: dst_peer,
        query,
        service,
    })
}

fn service_ip(engine: &Engine, spec: &PeerSpec) -> Option<std::net::IpAddr> {
    let PeerSpec::Named { namespace, name } = spec else {
        return None;
    };
    let inv = engine.inventory();
    let names_endpoint = inv.endpoints.iter().any(|e| {
        e.namespace.as_deref() == Some(namespace.as_str())
            && (e.name == *name || e.workload.as_ref().is_some_and(|w| w.name == *name))
    });
    if names_endpoint {
        return None;
    }
    inv.services
        .iter()
        .find(|s| s.namespace == *namespace && s.name == *name)
        .and_then(|s| s.cluster_ips.first().copied())
}
