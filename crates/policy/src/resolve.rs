//! Turning user-named flow ends (`ns/pod`, `ns/workload`, `ns/service`, an IP) into the
//! 5-tuples the engine evaluates, following Services to their backends as Calico does (policy after DNAT).

use crate::{Engine, FiveTuple, Peer, PeerSpec, PeerSpecError, ServiceTarget};
use flowlens_model::Protocol;

/// A flow ready for the engine, with the Service it went through, if any.
pub struct ResolvedFlow {
    pub src: Peer,
    pub dst: Peer,
    pub tuple: FiveTuple,
    pub service: Option<ServiceTarget>,
    /// Lines for the trace about how the ends were resolved (a pod on the host network).
    pub notes: Vec<String>,
}

/// Why a named flow could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("{0}")]
    Protocol(String),
    #[error("source: {0}")]
    Source(PeerSpecError),
    #[error("destination: {0}")]
    Destination(PeerSpecError),
}

impl Engine {
    /// Resolves a flow between two named ends; a destination naming a Service goes to one of
    /// its backends on the target port.
    pub fn resolve_flow(
        &self,
        src: &str,
        dst: &str,
        proto: &str,
        src_port: u16,
        dst_port: u16,
    ) -> Result<ResolvedFlow, ResolveError> {
        let protocol = Protocol::parse(proto).map_err(|e| ResolveError::Protocol(e.to_string()))?;
        let src_spec: PeerSpec = src.parse().map_err(ResolveError::Source)?;
        let dst_spec: PeerSpec = dst.parse().map_err(ResolveError::Destination)?;
        let mut notes = Vec::new();
        let src = self
            .resolve_named(&src_spec, &mut notes)
            .map_err(ResolveError::Source)?;
        // A destination naming a Service (and nothing else) means its cluster IP.
        let mut dst_peer = match service_ip(self, &dst_spec) {
            Some(ip) => self.resolve(ip),
            None => self
                .resolve_named(&dst_spec, &mut notes)
                .map_err(ResolveError::Destination)?,
        };
        let mut port = dst_port;
        let service = self.service_target(dst_peer.ip, dst_port, protocol, u64::from(src_port));
        if let Some(t) = &service {
            dst_peer = self.resolve(t.endpoint_ip);
            port = t.target_port;
        }
        let tuple = FiveTuple {
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
            tuple,
            service,
            notes,
        })
    }

    /// [`Engine::resolve_spec`], and for a name it does not know, a pod on the host network.
    fn resolve_named(
        &self,
        spec: &PeerSpec,
        notes: &mut Vec<String>,
    ) -> Result<Peer, PeerSpecError> {
        match self.resolve_spec(spec) {
            Err(PeerSpecError::NotFound { namespace, name }) => {
                match self.resolve_host_network(&namespace, &name) {
                    Some(Ok((peer, note))) => {
                        notes.push(note);
                        Ok(peer)
                    }
                    Some(Err(e)) => Err(e),
                    None => Err(PeerSpecError::NotFound { namespace, name }),
                }
            }
            other => other,
        }
    }
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
