//! The `Observer.GetFlows` client (`hubble://RELAY:4245`), against Hubble Relay or a
//! node's Hubble server, with or without TLS.
//!
//! It asks for `follow` (and `since`, when configured) and, after a broken stream,
//! reconnects with backoff and asks again from a little before the newest flow it has: a
//! relay merges nodes' streams in time order only approximately. Flows it already queued
//! are recognised by Hubble's flow UUID (or, for flows without one, by their time, node and
//! addresses) and skipped.

use super::{HubbleError, observed_flow, observed_record};
use crate::backoff::Backoff;
use crate::proto::flow as pb;
use crate::proto::observer::observer_client::ObserverClient;
use crate::proto::observer::{GetFlowsRequest, get_flows_response::ResponseTypes};
use crate::queue::{ItemSender, Sent, SourceItem};
use crate::tls::ClientTls;
use crate::{SourceError, connected_guard, error_chain};
use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::hash::{BuildHasher, Hash, Hasher, RandomState};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tonic::transport::Endpoint;

/// How far before the newest flow a resumed stream starts.
const RESUME_OVERLAP_SECS: i64 = 10;

/// The Hubble client's settings. [`HubbleClient::run`] does the work.
#[derive(Clone, Debug)]
pub struct HubbleClient {
    address: String,
    tls: Option<ClientTls>,
    since: Option<SystemTime>,
    whitelist: Vec<pb::FlowFilter>,
    backoff: Backoff,
    connect_timeout: Duration,
    full_observations: bool,
}

impl HubbleClient {
    /// A client for Hubble at `host:port` (Relay listens on 4245).
    pub fn new(address: impl Into<String>) -> HubbleClient {
        HubbleClient {
            address: address.into(),
            tls: None,
            since: None,
            whitelist: Vec::new(),
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(10),
            full_observations: false,
        }
    }

    pub fn tls(mut self, tls: ClientTls) -> HubbleClient {
        self.tls = Some(tls);
        self
    }

    /// Start with the flows Hubble still has from this time on; without it, only new flows.
    pub fn since(mut self, since: SystemTime) -> HubbleClient {
        self.since = Some(since);
        self
    }

    /// Only flows matching one of these filters.
    pub fn whitelist(mut self, filters: Vec<pb::FlowFilter>) -> HubbleClient {
        self.whitelist = filters;
        self
    }

    /// Queue every flow as a whole [`ObservedFlow`](crate::queue::ObservedFlow)
    /// ([`SourceItem::Observed`]: endpoints, labels, services, node, event id) instead of
    /// the raw record and verdict the ingest loop uses ([`SourceItem::Verdict`]), which
    /// cost less to make and to hand over.
    pub fn full_observations(mut self, full: bool) -> HubbleClient {
        self.full_observations = full;
        self
    }

    pub fn backoff(mut self, backoff: Backoff) -> HubbleClient {
        self.backoff = backoff;
        self
    }

    /// Reads flows into `tx` until `shutdown` resolves or the consumer goes away,
    /// reconnecting after failures (counted on the sender's counters).
    pub async fn run(
        mut self,
        tx: ItemSender,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), SourceError> {
        let endpoint = self.endpoint()?;
        let mut seen = SeenEvents::new(RESUME_OVERLAP_SECS * 3);
        let mut resume_from = self.since.map(timestamp);
        tokio::pin!(shutdown);
        let mut first = true;
        loop {
            if !first {
                let delay = self.backoff.next_delay();
                tokio::select! {
                    _ = &mut shutdown => return Ok(()),
                    _ = tx.closed() => return Ok(()),
                    _ = tokio::time::sleep(delay) => {}
                }
                tx.counters().reconnected();
                if let Some(newest) = seen.newest {
                    resume_from = Some(prost_types::Timestamp {
                        seconds: newest - RESUME_OVERLAP_SECS,
                        nanos: 0,
                    });
                }
            }
            first = false;
            let session = self.session(&endpoint, resume_from, &mut seen, &tx);
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tx.closed() => return Ok(()),
                ended = session => match ended {
                    Ok(false) => return Ok(()),
                    Ok(true) => tx.counters().error("Hubble ended the stream"),
                    Err(e) => tx.counters().error(format!("Hubble: {}", error_chain(&e))),
                },
            }
        }
    }

    fn endpoint(&self) -> Result<Endpoint, SourceError> {
        let host = self
            .address
            .rsplit_once(':')
            .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
            .filter(|h| !h.is_empty())
            .ok_or_else(|| SourceError::Address(format!("{}: expected HOST:PORT", self.address)))?;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let mut endpoint = Endpoint::from_shared(format!("{scheme}://{}", self.address))
            .map_err(|e| SourceError::Address(format!("{}: {e}", self.address)))?
            .connect_timeout(self.connect_timeout)
            .http2_keep_alive_interval(Duration::from_secs(30))
            .keep_alive_timeout(Duration::from_secs(10))
            .keep_alive_while_idle(true);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.config(host))
                .map_err(|e| SourceError::Tls(error_chain(&e)))?;
        }
        Ok(endpoint)
    }

    /// One connection. `Ok(true)`: the stream ended; `Ok(false)`: the consumer has gone.
    async fn session(
        &mut self,
        endpoint: &Endpoint,
        since: Option<prost_types::Timestamp>,
        seen: &mut SeenEvents,
        tx: &ItemSender,
    ) -> Result<bool, SourceError> {
        let channel = endpoint.connect().await?;
        let _connected = connected_guard(tx.counters());
        let mut client = ObserverClient::new(channel);
        let request = GetFlowsRequest {
            follow: true,
            since,
            whitelist: self.whitelist.clone(),
            ..GetFlowsRequest::default()
        };
        let mut stream = client.get_flows(request).await?.into_inner();
        let mut delivered = false;
        let counters = tx.counters();
        while let Some(response) = stream.message().await? {
            if !delivered {
                delivered = true;
                self.backoff.reset();
            }
            match response.response_types {
                Some(ResponseTypes::Flow(flow)) => {
                    let id = seen.identity(&flow, &response.node_name);
                    let item = if self.full_observations {
                        observed_flow(flow, &response.node_name, response.time.as_ref())
                            .map(|o| o.map(|o| SourceItem::Observed(Box::new(o))))
                    } else {
                        observed_record(&flow, response.time.as_ref())
                            .map(|o| o.map(SourceItem::Verdict))
                    };
                    match item {
                        Ok(Ok(item)) => {
                            let time = item.end_time();
                            if seen.contains(&id) {
                                counters.add_duplicates(1);
                                continue;
                            }
                            match tx.send(item) {
                                Sent::Queued => seen.insert(id, time),
                                Sent::Dropped => {}
                                Sent::Closed => return Ok(false),
                            }
                        }
                        Ok(Err(_skipped)) => counters.add_ignored(1),
                        Err(HubbleError(e)) => counters.error(format!("Hubble flow rejected: {e}")),
                    }
                }
                Some(ResponseTypes::LostEvents(lost)) => {
                    counters.add_lost_upstream(lost.num_events_lost)
                }
                Some(ResponseTypes::NodeStatus(_)) | None => counters.add_ignored(1),
            }
        }
        Ok(true)
    }
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    prost_types::Timestamp {
        seconds: since.as_secs() as i64,
        nanos: since.subsec_nanos() as i32,
    }
}

/// Identities of the flows queued in the last seconds (by flow time).
struct SeenEvents {
    retention: i64,
    hasher: RandomState,
    ids: HashSet<u64>,
    by_time: BTreeMap<i64, Vec<u64>>,
    newest: Option<i64>,
}

impl SeenEvents {
    fn new(retention: i64) -> SeenEvents {
        SeenEvents {
            retention,
            hasher: RandomState::new(),
            ids: HashSet::new(),
            by_time: BTreeMap::new(),
            newest: None,
        }
    }

    /// Hubble's UUID when it has one; otherwise what tells two packet events apart.
    fn identity(&self, flow: &pb::Flow, node: &str) -> u64 {
        let mut h = self.hasher.build_hasher();
        if flow.uuid.is_empty() {
            flow.time.map(|t| (t.seconds, t.nanos)).hash(&mut h);
            (flow.node_name.as_str(), node).hash(&mut h);
            flow.ip
                .as_ref()
                .map(|ip| (&ip.source, &ip.destination))
                .hash(&mut h);
            flow.l4.hash(&mut h);
            (flow.verdict, flow.traffic_direction, flow.is_reply).hash(&mut h);
            flow.trace_observation_point.hash(&mut h);
        } else {
            flow.uuid.hash(&mut h);
        }
        h.finish()
    }

    fn contains(&self, id: &u64) -> bool {
        self.ids.contains(id)
    }

    fn insert(&mut self, id: u64, time: i64) {
        if !self.ids.insert(id) {
            return;
        }
        self.by_time.entry(time).or_default().push(id);
        if self.newest.is_none_or(|n| time > n) {
            self.newest = Some(time);
            let kept = self.by_time.split_off(&(time - self.retention));
            for ids in std::mem::replace(&mut self.by_time, kept).into_values() {
                for id in ids {
                    self.ids.remove(&id);
                }
            }
        }
    }
}
