//! `/metrics`: the sources', the store's and the engine's key figures in Prometheus' text
//! exposition (OpenMetrics), named as Prometheus users expect (`flowlens_` prefix, base
//! units, `_total` for counters). The figures are read when scraped.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use flowlens_ingest::{SourceState, SourceStatus};
use flowlens_model::InventoryCounts;
use flowlens_store::StoreStats;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;
use std::time::UNIX_EPOCH;

const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub async fn metrics(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let store = state.store().stats().await?;
    let world = state.world();
    let figures = Figures {
        sources: state.sources(),
        https: state.https().cloned(),
        store,
        inventory: world.inventory.counts(),
        revision: world.revision,
    };
    let mut registry = Registry::default();
    registry.register_collector(Box::new(figures));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)
        .map_err(|e| ApiError::internal(format!("encoding metrics: {e}")))?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text))
}

/// The figures of one scrape.
#[derive(Debug)]
struct Figures {
    sources: Vec<SourceStatus>,
    https: Option<crate::tls::HttpsStats>,
    store: StoreStats,
    inventory: InventoryCounts,
    revision: u64,
}

type Labels = Vec<(&'static str, String)>;

fn labels(s: &SourceStatus) -> Labels {
    vec![("source", s.name.clone()), ("kind", s.kind.to_string())]
}

/// One metric family: a value per source.
fn per_source<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    sources: &[SourceStatus],
    metric: impl Fn(&SourceStatus) -> M,
) -> Result<(), std::fmt::Error> {
    let Some(first) = sources.first() else {
        return Ok(());
    };
    let mut family = encoder.encode_descriptor(name, help, None, metric(first).metric_type())?;
    for s in sources {
        metric(s).encode(family.encode_family(&labels(s))?)?;
    }
    Ok(())
}

/// One metric without labels.
fn single<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder<'_>,
    name: &str,
    help: &str,
    metric: M,
) -> Result<(), std::fmt::Error> {
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for Figures {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        if let Some(https) = &self.https {
            single(
                &mut e,
                "flowlens_https_handshake_failures",
                "TLS handshakes that failed or timed out",
                ConstCounter::new(https.failed_handshakes()),
            )?;
            single(
                &mut e,
                "flowlens_https_certificate_reloads",
                "Times the HTTPS certificate was read again after its files changed",
                ConstCounter::new(https.certificate().reloads()),
            )?;
            single(
                &mut e,
                "flowlens_https_certificate_reload_failures",
                "Changes of the HTTPS certificate files that did not give a usable pair",
                ConstCounter::new(https.certificate().failed_reloads()),
            )?;
        }
        let s = &self.sources;
        let health = |s: &SourceStatus| s.health.clone().unwrap_or_default();
        // Counter names are given without `_total`: the encoder appends it.
        per_source(
            &mut e,
            "flowlens_source_records",
            "Records accepted from the source",
            s,
            |s| ConstCounter::new(s.records),
        )?;
        per_source(
            &mut e,
            "flowlens_source_rejected",
            "Records of the source rejected as malformed or unattributable",
            s,
            |s| ConstCounter::new(s.rejected),
        )?;
        per_source(
            &mut e,
            "flowlens_source_dropped",
            "Records dropped because a queue between the source and the store was full",
            s,
            |s| ConstCounter::new(s.dropped + health(s).dropped),
        )?;
        per_source(
            &mut e,
            "flowlens_source_duplicates",
            "Records received again after a reconnect and skipped",
            s,
            |s| ConstCounter::new(health(s).duplicates),
        )?;
        per_source(
            &mut e,
            "flowlens_source_lost_upstream",
            "Records the sender reports lost before they reached Flowlens",
            s,
            |s| ConstCounter::new(health(s).lost_upstream),
        )?;
        per_source(
            &mut e,
            "flowlens_source_sequence_gaps",
            "Discontinuities in the sender's sequence numbers",
            s,
            |s| ConstCounter::new(health(s).sequence_gaps),
        )?;
        per_source(
            &mut e,
            "flowlens_source_errors",
            "Malformed input and failed connections",
            s,
            |s| ConstCounter::new(health(s).errors),
        )?;
        // Only sources whose records carry an observer's verdict (Hubble) are compared.
        let compared: Vec<SourceStatus> =
            s.iter().filter(|s| s.verdicts.is_some()).cloned().collect();
        let verdicts = |s: &SourceStatus| s.verdicts.clone().unwrap_or_default();
        per_source(
            &mut e,
            "flowlens_source_verdicts_compared",
            "Records whose observer verdict was held against the engine's",
            &compared,
            |s| ConstCounter::new(verdicts(s).compared),
        )?;
        per_source(
            &mut e,
            "flowlens_source_verdict_disagreements",
            "Records where the observer's verdict and the engine's differ",
            &compared,
            |s| ConstCounter::new(verdicts(s).disagreed),
        )?;
        per_source(
            &mut e,
            "flowlens_source_verdict_disagreements_unmodelled",
            "Disagreements where the observer credited a policy kind the engine does not model",
            &compared,
            |s| ConstCounter::new(verdicts(s).unmodelled),
        )?;
        per_source(
            &mut e,
            "flowlens_source_reconnects",
            "Reconnections after a broken connection",
            s,
            |s| ConstCounter::new(health(s).reconnects),
        )?;
        per_source(
            &mut e,
            "flowlens_source_connected",
            "1 while the source is connected (or listening, or running), 0 otherwise",
            s,
            |s| {
                let up = match &s.health {
                    Some(h) => h.connected,
                    None => s.state == SourceState::Running,
                };
                ConstGauge::new(i64::from(up))
            },
        )?;
        per_source(
            &mut e,
            "flowlens_source_records_per_second",
            "Records accepted per second over the last ten seconds",
            s,
            |s| ConstGauge::new(s.records_per_second),
        )?;
        per_source(
            &mut e,
            "flowlens_source_last_record_timestamp_seconds",
            "When the source's last record was accepted (Unix time)",
            s,
            |s| {
                ConstGauge::new(
                    s.last_record
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map_or(0.0, |d| d.as_secs_f64()),
                )
            },
        )?;
        let store = &self.store;
        single(
            &mut e,
            "flowlens_store_records",
            "Flow logs stored, in data files and buffered",
            ConstGauge::new(store.records as i64),
        )?;
        single(
            &mut e,
            "flowlens_store_buffered_records",
            "Flow logs buffered in memory (and in the write-ahead log)",
            ConstGauge::new(store.buffered_records as i64),
        )?;
        single(
            &mut e,
            "flowlens_store_files",
            "Data files",
            ConstGauge::new(store.files as i64),
        )?;
        single(
            &mut e,
            "flowlens_store_size_bytes",
            "Bytes of data files",
            ConstGauge::new(store.bytes_on_disk as i64),
        )?;
        single(
            &mut e,
            "flowlens_store_wal_size_bytes",
            "Bytes of write-ahead log not yet in data files",
            ConstGauge::new(store.wal_bytes as i64),
        )?;
        single(
            &mut e,
            "flowlens_store_quarantined_files",
            "Data files found corrupt and moved aside",
            ConstGauge::new(store.quarantined.len() as i64),
        )?;
        if let Some(bytes) = store.query_memory_bytes {
            single(
                &mut e,
                "flowlens_store_query_memory_bytes",
                "Bytes held by the operators of the queries running now (limit: --query-memory)",
                ConstGauge::new(bytes as i64),
            )?;
        }
        let inv = &self.inventory;
        single(
            &mut e,
            "flowlens_engine_policies",
            "Policies the engine evaluates (staged ones included)",
            ConstGauge::new(inv.policies as i64),
        )?;
        single(
            &mut e,
            "flowlens_engine_staged_policies",
            "Staged policies (they give the pending verdict only)",
            ConstGauge::new(inv.staged_policies as i64),
        )?;
        single(
            &mut e,
            "flowlens_engine_tiers",
            "Tiers",
            ConstGauge::new(inv.tiers as i64),
        )?;
        single(
            &mut e,
            "flowlens_engine_workload_endpoints",
            "Pods the engine knows",
            ConstGauge::new(inv.workload_endpoints as i64),
        )?;
        single(
            &mut e,
            "flowlens_engine_host_endpoints",
            "Host endpoints the engine knows",
            ConstGauge::new(inv.host_endpoints as i64),
        )?;
        single(
            &mut e,
            "flowlens_engine_inventory_revision",
            "How many times the inventory and its engine were replaced",
            ConstGauge::new(self.revision as i64),
        )?;
        Ok(())
    }
}
