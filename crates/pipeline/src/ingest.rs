//! Running lines through the pipeline: decode, attribute, aggregate, with every rejected
//! line counted and explained. The caller decides where the resulting flow logs go.

use crate::aggregate::{AggregationConfig, Aggregator};
use crate::attribute::{Attributed, Attributor};
use crate::decode::DecodedLines;
use flowlens_model::FlowLog;
use flowlens_policy::Engine;
use std::sync::Arc;

/// How many rejected lines are kept with their reasons; the rest are only counted.
const REJECTIONS_KEPT: usize = 1_000;

/// A rejected line: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub source: String,
    pub line: usize,
    pub reason: String,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: line {}: {}", self.source, self.line, self.reason)
    }
}

/// Counts of what went in and what came out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Lines that decoded: Calico flow logs and raw records.
    pub accepted: u64,
    pub calico_logs: u64,
    pub raw_records: u64,
    /// Malformed lines.
    pub rejected: u64,
    /// Raw records no cluster endpoint would have reported (both ends outside the cluster).
    pub unattributed: u64,
    /// Flow logs produced (after aggregation, for raw records).
    pub logs_out: u64,
    /// The first rejected lines, with reasons.
    pub rejections: Vec<Rejection>,
}

/// The pipeline with its state: open aggregates, counts.
pub struct Ingest {
    attributor: Attributor,
    aggregator: Aggregator,
    /// Late records attributed with the engine of their own time (see
    /// [`Engine::earlier_for`]), aggregated apart: their flow logs name that engine's
    /// endpoints and policies.
    earlier: Vec<(Attributor, Aggregator)>,
    stats: IngestStats,
    scratch: Vec<Attributed>,
    /// Set when raw records cannot be attributed (no inventory): why they are rejected.
    raw_rejection: Option<String>,
    /// The newest `end_time` of the raw records fed so far: how far the data's clock has
    /// come, for closing buckets while reading a file.
    newest_raw_end: Option<i64>,
    /// What the clock reads (unix seconds): records ending over a day after it are rejected.
    clock: i64,
}

impl Ingest {
    pub fn new(engine: Arc<Engine>, config: AggregationConfig) -> Ingest {
        Ingest {
            attributor: Attributor::new(engine.clone()),
            aggregator: Aggregator::new(engine, config),
            earlier: Vec::new(),
            stats: IngestStats::default(),
            scratch: Vec::new(),
            raw_rejection: None,
            newest_raw_end: None,
            clock: crate::clock::wall_clock(),
        }
    }

    /// Sets the clock records are held against (see [`crate::clock`]): the wall clock, or a
    /// source's own when it runs ahead (a scenario played faster than real time).
    pub fn set_clock(&mut self, now: i64) {
        self.clock = now;
    }

    /// `logs` without those whose times are implausible, which are rejected as lines
    /// `first_number`, `first_number + 1`, … of `source`.
    pub fn plausible_logs(
        &mut self,
        source: &str,
        first_number: usize,
        mut logs: Vec<FlowLog>,
    ) -> Vec<FlowLog> {
        let clock = self.clock;
        let mut number = first_number;
        logs.retain(|log| {
            let reason = crate::clock::implausible_end(log.end_time, clock);
            let keep = reason.is_none();
            if let Some(reason) = reason {
                self.reject_line(source, number, reason);
            }
            number += 1;
            keep
        });
        logs
    }

    /// Rejects raw records with this reason instead of attributing them, for runs that
    /// have no inventory to attribute them with.
    pub fn reject_raw_records(&mut self, reason: impl Into<String>) {
        self.raw_rejection = Some(reason.into());
    }

    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    pub fn engine(&self) -> &Arc<Engine> {
        self.attributor.engine()
    }

    /// Uses a new engine from now on (the inventory changed). Returns the aggregates that
    /// were open under the old one.
    pub fn set_engine(&mut self, engine: Arc<Engine>) -> Vec<FlowLog> {
        self.attributor = Attributor::new(engine.clone());
        let out = self.aggregator.set_engine(engine);
        self.stats.logs_out += out.len() as u64;
        out
    }

    /// Counts a line the caller could not even hand over as text (e.g. not UTF-8).
    pub fn reject_line(&mut self, source: &str, line: usize, reason: String) {
        self.stats.rejected += 1;
        if self.stats.rejections.len() < REJECTIONS_KEPT {
            self.stats.rejections.push(Rejection {
                source: source.to_string(),
                line,
                reason,
            });
        }
    }

    /// Takes a block decoded by [`LineDecoder::decode_lines`](crate::LineDecoder::decode_lines)
    /// (whose Calico flow logs the caller already has, as Felix attributed and aggregated
    /// them): counts it and runs its raw records through attribution and aggregation.
    pub fn take(&mut self, source: &str, block: DecodedLines) {
        self.stats.accepted += block.calico as u64;
        self.stats.calico_logs += block.calico as u64;
        self.stats.logs_out += block.calico as u64;
        // In line order, so that rejections are listed as they occur in the input.
        let mut rejected = block.rejected.into_iter().peekable();
        for (number, raw) in &block.raw {
            while let Some((line, reason)) = rejected.next_if(|(line, _)| line < number) {
                self.reject_line(source, line, reason);
            }
            self.raw(source, *number, raw);
        }
        for (line, reason) in rejected {
            self.reject_line(source, line, reason);
        }
    }

    /// Feeds one raw record (from a file line or straight from a generator). Returns what
    /// the engine made of it at each reporting end (empty when it was rejected or has no
    /// cluster endpoint), for callers that hold it against another verdict.
    pub fn raw(
        &mut self,
        source: &str,
        number: usize,
        raw: &flowlens_model::RawFlow,
    ) -> &[Attributed] {
        self.scratch.clear();
        if let Some(reason) = &self.raw_rejection {
            let reason = reason.clone();
            self.reject_line(source, number, reason);
            return &self.scratch;
        }
        if let Some(reason) = crate::clock::implausible_end(raw.end_time, self.clock) {
            self.reject_line(source, number, reason);
            return &self.scratch;
        }
        self.newest_raw_end = Some(
            self.newest_raw_end
                .map_or(raw.end_time, |t| t.max(raw.end_time)),
        );
        let earlier = self
            .attributor
            .engine()
            .earlier_for(raw.start_time.saturating_mul(1000))
            .map(|engine| self.earlier_pair(engine));
        let (attributor, aggregator) = match earlier {
            Some(i) => {
                let (attributor, aggregator) = &mut self.earlier[i];
                (&*attributor, aggregator)
            }
            None => (&self.attributor, &mut self.aggregator),
        };
        match attributor.attribute(raw, &mut self.scratch) {
            Ok(()) => {
                self.stats.accepted += 1;
                self.stats.raw_records += 1;
                for a in &self.scratch {
                    aggregator.add(a);
                }
                // The caller reads the result with the current engine: an earlier engine's
                // indices would name the wrong endpoints.
                if earlier.is_some() {
                    self.scratch.clear();
                }
            }
            Err(crate::attribute::Unattributed::NoClusterEndpoint) => {
                self.stats.accepted += 1;
                self.stats.raw_records += 1;
                self.stats.unattributed += 1;
            }
            Err(e) => self.reject_line(source, number, e.reason().to_string()),
        }
        &self.scratch
    }

    /// The attributor and aggregator of an earlier engine, made on first use.
    fn earlier_pair(&mut self, engine: Arc<Engine>) -> usize {
        if let Some(i) = self
            .earlier
            .iter()
            .position(|(a, _)| Arc::ptr_eq(a.engine(), &engine))
        {
            return i;
        }
        let config = self.aggregator.config();
        self.earlier.push((
            Attributor::new(engine.clone()),
            Aggregator::new(engine, config),
        ));
        self.earlier.len() - 1
    }

    /// What the earlier engines' aggregators close by `now`; those left empty are dropped.
    fn flush_earlier(&mut self, now: i64) -> Vec<FlowLog> {
        let mut out = Vec::new();
        for (_, aggregator) in &mut self.earlier {
            out.extend(aggregator.flush_until(now));
        }
        self.earlier.retain(|(_, a)| a.pending_len() > 0);
        out
    }

    /// Aggregates whose time bucket has closed by `now` (unix seconds).
    pub fn flush_until(&mut self, now: i64) -> Vec<FlowLog> {
        let mut out = self.flush_earlier(now);
        out.extend(self.aggregator.flush_until(now));
        self.stats.logs_out += out.len() as u64;
        out
    }

    /// Whether raw records taken so far wait in aggregates not yet closed.
    pub fn holds_open_aggregates(&self) -> bool {
        self.aggregator.pending_len() > 0
    }

    /// The newest `end_time` among the raw records fed so far.
    pub fn newest_raw_end(&self) -> Option<i64> {
        self.newest_raw_end
    }

    /// Everything still open (end of input).
    pub fn finish(&mut self) -> Vec<FlowLog> {
        let mut out = self.flush_earlier(i64::MAX);
        out.extend(self.aggregator.flush_all());
        self.stats.logs_out += out.len() as u64;
        out
    }
}
