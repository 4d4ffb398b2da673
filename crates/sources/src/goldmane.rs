//! Goldmane client: reads Calico's aggregated flows from Goldmane (`goldmane://HOST:7443`).
//!
//! On its first connection the client backfills what Goldmane keeps (an hour by default)
//! with `Flows.List`, one 15-second bucket per request, then follows `Flows.Stream` from
//! where the backfill ended. After a broken stream it reconnects with backoff and streams
//! again from the start time of the newest flow it has; Goldmane sends that bucket again
//! and [`FlowDedup`] drops what was already queued.
//!
//! Goldmane requires client certificates: give [`ClientTls`] with a CA and an identity.

use crate::backoff::Backoff;
use crate::calico::{DEFAULT_DEDUP_RETENTION_SECS, FlowConverter, FlowDedup};
use crate::proto::goldmane as pb;
use crate::proto::goldmane::flows_client::FlowsClient;
use crate::queue::{ItemSender, Sent, SourceItem};
use crate::tls::ClientTls;
use crate::{SourceError, connected_guard, error_chain, unix_now};
use std::future::Future;
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// Goldmane's aggregation interval: the width of every flow it streams.
pub const AGGREGATION_INTERVAL_SECS: i64 = 15;

/// The Goldmane client's settings. [`GoldmaneClient::run`] does the work.
#[derive(Clone, Debug)]
pub struct GoldmaneClient {
    address: String,
    tls: Option<ClientTls>,
    backfill: Option<Duration>,
    page_size: i64,
    backoff: Backoff,
    dedup_retention_secs: i64,
    connect_timeout: Duration,
}

impl GoldmaneClient {
    /// A client for Goldmane at `host:port`.
    pub fn new(address: impl Into<String>) -> GoldmaneClient {
        GoldmaneClient {
            address: address.into(),
            tls: None,
            backfill: Some(Duration::from_secs(3600)),
            page_size: 1000,
            backoff: Backoff::default(),
            dedup_retention_secs: DEFAULT_DEDUP_RETENTION_SECS,
            connect_timeout: Duration::from_secs(10),
        }
    }

    /// TLS (Goldmane insists on mTLS). Without it the client speaks plain HTTP/2.
    pub fn tls(mut self, tls: ClientTls) -> GoldmaneClient {
        self.tls = Some(tls);
        self
    }

    /// How far back to read with `Flows.List` on the first connection; `None` streams new
    /// flows only.
    pub fn backfill(mut self, window: Option<Duration>) -> GoldmaneClient {
        self.backfill = window;
        self
    }

    pub fn backoff(mut self, backoff: Backoff) -> GoldmaneClient {
        self.backoff = backoff;
        self
    }

    /// Flows per `Flows.List` page.
    pub fn page_size(mut self, page_size: i64) -> GoldmaneClient {
        self.page_size = page_size.max(1);
        self
    }

    /// Reads flows into `tx` until `shutdown` resolves or the consumer goes away,
    /// reconnecting after failures. Errors are counted on the sender's counters; only a
    /// configuration that can never work (a bad address) ends the loop with an error.
    pub async fn run(
        mut self,
        tx: ItemSender,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), SourceError> {
        let endpoint = self.endpoint()?;
        let mut state = Progress {
            converter: FlowConverter::default(),
            dedup: FlowDedup::new(self.dedup_retention_secs),
            newest_start: None,
            backfilled: self.backfill.is_none(),
        };
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
            }
            first = false;
            let session = self.session(&endpoint, &mut state, &tx);
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = tx.closed() => return Ok(()),
                ended = session => match ended {
                    Ok(SessionEnd::ConsumerGone) => return Ok(()),
                    Ok(SessionEnd::StreamEnded) => {
                        tx.counters().error("Goldmane ended the stream");
                    }
                    Err(e) => tx.counters().error(format!("Goldmane: {}", error_chain(&e))),
                },
            }
        }
    }

    fn endpoint(&self) -> Result<Endpoint, SourceError> {
        let (host, _) = split_host(&self.address)?;
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

    async fn session(
        &mut self,
        endpoint: &Endpoint,
        state: &mut Progress,
        tx: &ItemSender,
    ) -> Result<SessionEnd, SourceError> {
        let channel = endpoint.connect().await?;
        let _connected = connected_guard(tx.counters());
        let mut client = FlowsClient::new(channel);
        if !state.backfilled {
            if let SessionEnd::ConsumerGone =
                self.backfill_with_list(&mut client, state, tx).await?
            {
                return Ok(SessionEnd::ConsumerGone);
            }
            state.backfilled = true;
        }
        let request = pb::FlowStreamRequest {
            // 0 asks for new flows only; a start time makes Goldmane send from there.
            start_time_gte: state.newest_start.unwrap_or(0),
            filter: None,
            aggregation_interval: AGGREGATION_INTERVAL_SECS,
        };
        let mut stream = client.stream(request).await?.into_inner();
        let mut delivered = false;
        while let Some(result) = stream.message().await? {
            if !delivered {
                delivered = true;
                self.backoff.reset();
            }
            if let Some(flow) = result.flow
                && !state.take(flow, tx)
            {
                return Ok(SessionEnd::ConsumerGone);
            }
        }
        Ok(SessionEnd::StreamEnded)
    }

    /// Lists the backfill window bucket by bucket, so that every flow keeps its own
    /// 15-second window (a List over a longer range would merge the buckets). Buckets
    /// younger than two intervals may still be filling; the stream delivers those.
    async fn backfill_with_list(
        &self,
        client: &mut FlowsClient<Channel>,
        state: &mut Progress,
        tx: &ItemSender,
    ) -> Result<SessionEnd, SourceError> {
        let Some(window) = self.backfill else {
            return Ok(SessionEnd::StreamEnded);
        };
        let cut = unix_now() - 2 * AGGREGATION_INTERVAL_SECS;
        let mut from = cut - window.as_secs() as i64;
        while from < cut {
            let to = (from + AGGREGATION_INTERVAL_SECS).min(cut);
            let mut page = 0;
            loop {
                let request = pb::FlowListRequest {
                    start_time_gte: from,
                    start_time_lt: to,
                    page,
                    page_size: self.page_size,
                    sort_by: vec![pb::SortOption {
                        sort_by: pb::SortBy::Time as i32,
                    }],
                    filter: None,
                    aggregation_interval: AGGREGATION_INTERVAL_SECS,
                };
                let result = client.list(request).await?.into_inner();
                for flow in result.flows.into_iter().filter_map(|r| r.flow) {
                    if !state.take(flow, tx) {
                        return Ok(SessionEnd::ConsumerGone);
                    }
                }
                let pages = result.meta.map_or(0, |m| m.total_pages);
                page += 1;
                if page >= pages {
                    break;
                }
            }
            from = to;
        }
        // Stream from the cut on, even when the backfill found nothing.
        state.newest_start = Some(state.newest_start.map_or(cut, |n| n.max(cut)));
        Ok(SessionEnd::StreamEnded)
    }
}

enum SessionEnd {
    StreamEnded,
    ConsumerGone,
}

/// What the client knows across reconnects.
struct Progress {
    converter: FlowConverter,
    dedup: FlowDedup,
    newest_start: Option<i64>,
    backfilled: bool,
}

impl Progress {
    /// Queues one flow unless it was queued before. Returns false when the consumer has
    /// gone.
    fn take(&mut self, flow: pb::Flow, tx: &ItemSender) -> bool {
        let log = match self.converter.convert(flow) {
            Ok(log) => log,
            Err(e) => {
                tx.counters().error(format!("Goldmane flow rejected: {e}"));
                return true;
            }
        };
        // One Goldmane server is one scope.
        let fp = self.dedup.fingerprint(&log);
        if self.dedup.contains("", fp) {
            tx.counters().add_duplicates(1);
            return true;
        }
        let start = log.start_time;
        match tx.send(SourceItem::FlowLog(Box::new(log))) {
            Sent::Queued => {
                self.dedup.insert("", fp);
                self.newest_start = Some(self.newest_start.map_or(start, |n| n.max(start)));
                true
            }
            // Not remembered: should Goldmane send it again, it gets another chance.
            Sent::Dropped => true,
            Sent::Closed => false,
        }
    }
}

/// `host` and `port` of `host:port` (`[v6]:port` too).
fn split_host(address: &str) -> Result<(&str, u16), SourceError> {
    let bad = || SourceError::Address(format!("{address}: expected HOST:PORT"));
    let (host, port) = address.rsplit_once(':').ok_or_else(bad)?;
    let port = port.parse().map_err(|_| bad())?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad());
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert_eq!(
            split_host("goldmane.calico-system:7443").unwrap(),
            ("goldmane.calico-system", 7443)
        );
        assert_eq!(split_host("[::1]:7443").unwrap(), ("::1", 7443));
        for bad in ["goldmane", ":7443", "host:port", "host:70000"] {
            assert!(split_host(bad).is_err(), "{bad}");
        }
    }
}
