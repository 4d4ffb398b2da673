//! Flow logs (owned, or views borrowed from the lines they were decoded from) → Arrow record
//! batches with the record's columns ([`record_schema`]).
//!
//! Labels become `key=value` strings (Calico's `{"labels": [...]}` form), policy hits their
//! Calico ≥ 3.32 spelling, protocols their flow-log name. `None` becomes null.

use crate::error::Result;
use crate::schema::{list_of_strings, record_schema};
use crate::types::{ReadMark, merge_marks};
use datafusion::arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder, UInt64Builder,
    new_null_array,
};
use flowlens_model::FlowField;
use flowlens_model::{FlowEnd, FlowEndView, FlowLog, FlowLogView, FlowServiceView, PolicyHit};
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

/// Encodes `logs`, numbering them `first_record_id`, `first_record_id + 1`, ….
pub fn encode_flows(logs: &[FlowLog], first_record_id: u64) -> Result<RecordBatch> {
    let mut b = FlowBatchBuilder::with_capacity(logs.len());
    for (i, log) in logs.iter().enumerate() {
        b.push_numbered(log, first_record_id + i as u64);
    }
    b.finish_batch()
}

/// Flow logs already in columns, ready for [`Store::append_batch`](crate::Store::append_batch).
/// Encoding is most of the cost of storing a flow log, and a batch can be built on any thread:
/// ingest encodes on every core and appends on one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlowBatch {
    /// In [`record_schema`]; the record ids are placeholders the store replaces. Several
    /// parts rather than one, so that joining batches copies nothing.
    parts: Vec<RecordBatch>,
    /// How far the inputs these rows were read from are stored once they are.
    marks: Vec<ReadMark>,
}

impl FlowBatch {
    pub fn from_logs(logs: &[FlowLog]) -> Result<FlowBatch> {
        let mut b = FlowBatchBuilder::with_capacity(logs.len());
        for log in logs {
            b.push(log);
        }
        b.finish()
    }

    /// Adds the rows of `other` after these.
    pub fn extend(&mut self, other: FlowBatch) {
        self.parts.extend(other.parts);
        merge_marks(&mut self.marks, other.marks);
    }

    /// Stores `mark` with these rows: once they are durable, so is the mark (a later mark
    /// of the same input replaces it). Marks of an empty batch are not stored.
    pub fn mark(&mut self, mark: ReadMark) {
        merge_marks(&mut self.marks, [mark]);
    }

    pub fn marks(&self) -> &[ReadMark] {
        &self.marks
    }

    /// The rows, in [`record_schema`] (their record ids are placeholders): how another
    /// backend reads a batch it stores.
    pub fn parts(&self) -> &[RecordBatch] {
        &self.parts
    }

    pub fn len(&self) -> usize {
        self.parts.iter().map(RecordBatch::num_rows).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn into_parts(self) -> (Vec<RecordBatch>, Vec<ReadMark>) {
        (self.parts, self.marks)
    }
}

/// Builds a [`FlowBatch`] one flow log at a time.
pub struct FlowBatchBuilder {
    b: Builders,
    rows: usize,
    texts: Texts,
}

impl FlowBatchBuilder {
    pub fn with_capacity(rows: usize) -> FlowBatchBuilder {
        FlowBatchBuilder {
            b: Builders::new(rows),
            rows: 0,
            texts: Texts::default(),
        }
    }

    pub fn push(&mut self, log: &FlowLog) {
        self.push_numbered(log, 0);
    }

    pub fn push_view(&mut self, log: &FlowLogView<'_>) {
        self.b.push(log, 0);
        self.rows += 1;
    }

    fn push_numbered(&mut self, log: &FlowLog, record_id: u64) {
        let t = &mut self.texts;
        fill(&mut t.source_labels, log.source.labels.iter(), label_text);
        fill(&mut t.dest_labels, log.dest.labels.iter(), label_text);
        fill(&mut t.enforced, log.enforced_policies.iter(), hit_text);
        fill(&mut t.pending, log.pending_policies.iter(), hit_text);
        let source_labels = strs(&t.source_labels);
        let dest_labels = strs(&t.dest_labels);
        let enforced = strs(&t.enforced);
        let pending = strs(&t.pending);
        let view = FlowLogView {
            start_time: log.start_time,
            end_time: log.end_time,
            source: end_view(&log.source, &source_labels),
            dest: end_view(&log.dest, &dest_labels),
            dest_service: log.dest_service.as_ref().map(|s| FlowServiceView {
                namespace: &s.namespace,
                name: &s.name,
                port_name: &s.port_name,
                port_num: s.port_num,
            }),
            proto: log.proto,
            action: log.action,
            reporter: log.reporter,
            enforced_policies: &enforced,
            pending_policies: &pending,
            bytes_in: log.bytes_in,
            bytes_out: log.bytes_out,
            packets_in: log.packets_in,
            packets_out: log.packets_out,
            num_flows: log.num_flows,
            num_flows_started: log.num_flows_started,
            num_flows_completed: log.num_flows_completed,
            process_name: log.process_name.as_deref(),
            process_id: log.process_id,
            host: log.host.as_deref(),
        };
        self.b.push(&view, record_id);
        self.rows += 1;
    }

    /// Rows pushed so far.
    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn finish(self) -> Result<FlowBatch> {
        Ok(FlowBatch {
            parts: vec![self.finish_batch()?],
            marks: Vec::new(),
        })
    }

    fn finish_batch(self) -> Result<RecordBatch> {
        self.b.finish()
    }
}

/// How a [`FlowLog`]'s labels and hits are spelled in storage, kept from row to row so that
/// their buffers are reused.
#[derive(Default)]
struct Texts {
    source_labels: Vec<String>,
    dest_labels: Vec<String>,
    enforced: Vec<String>,
    pending: Vec<String>,
}

/// Writes one text per item into `texts`, reusing the strings already there.
fn fill<T>(texts: &mut Vec<String>, items: impl Iterator<Item = T>, spell: fn(&mut String, T)) {
    let mut n = 0;
    for item in items {
        if n == texts.len() {
            texts.push(String::new());
        }
        texts[n].clear();
        spell(&mut texts[n], item);
        n += 1;
    }
    texts.truncate(n);
}

fn label_text(out: &mut String, (k, v): (&String, &String)) {
    out.push_str(k);
    out.push('=');
    out.push_str(v);
}

fn hit_text(out: &mut String, hit: &PolicyHit) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{hit}");
}

fn strs(texts: &[String]) -> Vec<&str> {
    texts.iter().map(String::as_str).collect()
}

fn end_view<'a>(end: &'a FlowEnd, labels: &'a [&'a str]) -> FlowEndView<'a> {
    FlowEndView {
        ip: end.ip,
        name: end.name.as_deref(),
        name_aggr: &end.name_aggr,
        namespace: end.namespace.as_deref(),
        port: end.port,
        endpoint_type: end.endpoint_type,
        labels,
    }
}

fn strings(capacity: usize) -> StringBuilder {
    StringBuilder::with_capacity(capacity, capacity * 16)
}

/// A list column for `rows` rows of about `items` texts of about `bytes` bytes each, sized up
/// front (growing the buffers row by row copies them each time).
fn lists(rows: usize, items: usize, bytes: usize) -> ListBuilder<StringBuilder> {
    let values = StringBuilder::with_capacity(rows * items, rows * items * bytes);
    ListBuilder::with_capacity(values, rows)
}

/// Labels per endpoint and bytes per `key=value`, typical of Kubernetes workloads.
const LABELS: (usize, usize) = (6, 24);
/// Policy hits per trace and bytes per hit.
const HITS: (usize, usize) = (2, 40);

struct EndBuilders {
    ip: StringBuilder,
    name: StringBuilder,
    name_aggr: StringBuilder,
    namespace: StringBuilder,
    port: Int32Builder,
    endpoint_type: StringBuilder,
    labels: ListBuilder<StringBuilder>,
}

impl EndBuilders {
    fn new(n: usize) -> Self {
        EndBuilders {
            ip: strings(n),
            name: strings(n),
            name_aggr: strings(n),
            namespace: strings(n),
            port: Int32Builder::with_capacity(n),
            endpoint_type: strings(n),
            labels: lists(n, LABELS.0, LABELS.1),
        }
    }

    fn push(&mut self, end: &FlowEndView<'_>) {
        match end.ip {
            Some(IpAddr::V4(ip)) => {
                let mut text = [0u8; 15];
                self.ip.append_value(ipv4_text(ip, &mut text));
            }
            Some(ip) => {
                // Formatted straight into the column, without a String per address.
                let _ = write!(self.ip, "{ip}");
                self.ip.append_value("");
            }
            None => self.ip.append_null(),
        }
        self.name.append_option(end.name);
        self.name_aggr.append_value(end.name_aggr);
        self.namespace.append_option(end.namespace);
        self.port.append_option(end.port.map(i32::from));
        self.endpoint_type
            .append_option(end.endpoint_type.map(|t| t.as_str()));
        push_texts(&mut self.labels, end.labels);
    }

    fn finish(mut self) -> [ArrayRef; 7] {
        [
            Arc::new(self.ip.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.name_aggr.finish()),
            Arc::new(self.namespace.finish()),
            Arc::new(self.port.finish()),
            Arc::new(self.endpoint_type.finish()),
            Arc::new(self.labels.finish()),
        ]
    }
}

fn push_texts(list: &mut ListBuilder<StringBuilder>, texts: &[&str]) {
    for text in texts {
        list.values().append_value(text);
    }
    list.append(true);
}

struct Builders {
    start_time: Int64Builder,
    end_time: Int64Builder,
    source: EndBuilders,
    dest: EndBuilders,
    service_namespace: StringBuilder,
    service_name: StringBuilder,
    service_port: StringBuilder,
    service_port_num: Int32Builder,
    proto: StringBuilder,
    action: StringBuilder,
    reporter: StringBuilder,
    enforced: ListBuilder<StringBuilder>,
    pending: PendingBuilder,
    counters: [UInt64Builder; 7],
    process_name: StringBuilder,
    process_id: Int64Builder,
    host: StringBuilder,
    record_id: UInt64Builder,
}

impl Builders {
    fn new(n: usize) -> Self {
        Builders {
            start_time: Int64Builder::with_capacity(n),
            end_time: Int64Builder::with_capacity(n),
            source: EndBuilders::new(n),
            dest: EndBuilders::new(n),
            service_namespace: strings(n),
            service_name: strings(n),
            service_port: strings(n),
            service_port_num: Int32Builder::with_capacity(n),
            proto: strings(n),
            action: strings(n),
            reporter: strings(n),
            enforced: lists(n, HITS.0, HITS.1),
            pending: PendingBuilder::default(),
            counters: std::array::from_fn(|_| UInt64Builder::with_capacity(n)),
            process_name: strings(n),
            process_id: Int64Builder::with_capacity(n),
            host: strings(n),
            record_id: UInt64Builder::with_capacity(n),
        }
    }

    fn push(&mut self, log: &FlowLogView<'_>, record_id: u64) {
        self.start_time.append_value(log.start_time);
        self.end_time.append_value(log.end_time);
        self.source.push(&log.source);
        self.dest.push(&log.dest);
        let svc = log.dest_service.as_ref();
        self.service_namespace
            .append_option(svc.map(|s| s.namespace));
        self.service_name.append_option(svc.map(|s| s.name));
        self.service_port.append_option(svc.map(|s| s.port_name));
        self.service_port_num
            .append_option(svc.map(|s| i32::from(s.port_num)));
        self.proto.append_value(log.proto.flow_log_name());
        self.action.append_value(log.action.as_str());
        self.reporter.append_value(log.reporter.as_str());
        push_texts(&mut self.enforced, log.enforced_policies);
        self.pending
            .push(log.enforced_policies, log.pending_policies);
        let counters = [
            log.bytes_in,
            log.bytes_out,
            log.packets_in,
            log.packets_out,
            log.num_flows,
            log.num_flows_started,
            log.num_flows_completed,
        ];
        for (builder, value) in self.counters.iter_mut().zip(counters) {
            builder.append_value(value);
        }
        self.process_name.append_option(log.process_name);
        self.process_id.append_option(log.process_id);
        self.host.append_option(log.host);
        self.record_id.append_value(record_id);
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(FlowField::ALL.len());
        columns.push(Arc::new(self.start_time.finish()));
        columns.push(Arc::new(self.end_time.finish()));
        columns.extend(self.source.finish());
        columns.extend(self.dest.finish());
        columns.push(Arc::new(self.service_namespace.finish()));
        columns.push(Arc::new(self.service_name.finish()));
        columns.push(Arc::new(self.service_port.finish()));
        columns.push(Arc::new(self.service_port_num.finish()));
        columns.push(Arc::new(self.proto.finish()));
        columns.push(Arc::new(self.action.finish()));
        columns.push(Arc::new(self.reporter.finish()));
        columns.push(Arc::new(self.enforced.finish()));
        columns.push(self.pending.finish());
        for mut builder in self.counters {
            columns.push(Arc::new(builder.finish()));
        }
        columns.push(Arc::new(self.process_name.finish()));
        columns.push(Arc::new(self.process_id.finish()));
        columns.push(Arc::new(self.host.finish()));
        columns.push(Arc::new(self.record_id.finish()));
        Ok(RecordBatch::try_new(record_schema(), columns)?)
    }
}

/// The pending traces of a batch, null where a row's pending trace is its enforced one (nearly
/// every row when no policy is staged): Parquet then encodes each such trace once, and readers
/// take the enforced trace there (`plan::logical`, `decode_flows`). Nothing is built until a
/// trace differs.
#[derive(Default)]
struct PendingBuilder {
    /// From the first row whose pending trace differs on: one entry per row.
    differing: Option<ListBuilder<StringBuilder>>,
    /// Rows before that one (all of them while no trace differs).
    leading_nulls: usize,
}

impl PendingBuilder {
    fn push(&mut self, enforced: &[&str], pending: &[&str]) {
        // A decoder hands the same slice for both when they are equal: no text compared.
        let same = std::ptr::eq(pending, enforced) || pending == enforced;
        match (&mut self.differing, same) {
            (None, true) => self.leading_nulls += 1,
            (Some(list), true) => list.append_null(),
            (differing, false) => {
                let list = differing.get_or_insert_with(|| {
                    let mut list = lists(0, HITS.0, HITS.1);
                    list.append_nulls(self.leading_nulls);
                    list
                });
                push_texts(list, pending);
            }
        }
    }

    fn finish(self) -> ArrayRef {
        match self.differing {
            Some(mut list) => Arc::new(list.finish()),
            None => new_null_array(&list_of_strings(), self.leading_nulls),
        }
    }
}

/// `ip` in dotted decimal, as `Display` writes it, written into `buf` without going through
/// `fmt`, which costs a few percent of an ingest.
fn ipv4_text(ip: Ipv4Addr, buf: &mut [u8; 15]) -> &str {
    let mut len = 0;
    for (i, octet) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    // Only ASCII digits and dots were written.
    std::str::from_utf8(&buf[..len]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::sample_flow;
    use flowlens_model::{HitAction, PolicyKind};

    fn hit(name: &str, staged: bool) -> PolicyHit {
        PolicyHit {
            index: 0,
            tier: "default".into(),
            kind: Some(if staged {
                PolicyKind::StagedNetworkPolicy
            } else {
                PolicyKind::NetworkPolicy
            }),
            namespace: Some("ns".into()),
            name: name.into(),
            action: HitAction::Allow,
            rule: 0,
        }
    }

    /// Flow logs whose pending trace is their enforced one, except those in `differ`.
    fn logs(n: u64, differ: &[u64]) -> Vec<FlowLog> {
        (0..n)
            .map(|i| {
                let mut log = sample_flow(i, 100);
                log.enforced_policies = vec![hit(&format!("p{}", i % 2), false)];
                log.pending_policies = log.enforced_policies.clone();
                if differ.contains(&i) {
                    log.pending_policies = vec![hit("staged", true)];
                }
                log
            })
            .collect()
    }

    #[test]
    fn pending_traces_are_null_where_equal_to_the_enforced_ones() {
        let pending = |batch: &RecordBatch| {
            let list = batch.column(crate::schema::index(FlowField::PoliciesPending));
            (0..list.len())
                .map(|row| list.is_valid(row))
                .collect::<Vec<_>>()
        };
        let same = encode_flows(&logs(5, &[]), 0).unwrap();
        assert_eq!(pending(&same), [false; 5]);
        for differ in [&[1, 4][..], &[0], &[4], &[0, 1, 2, 3, 4]] {
            let mixed_logs = logs(5, differ);
            let mixed = encode_flows(&mixed_logs, 0).unwrap();
            let expected: Vec<bool> = (0..5).map(|i| differ.contains(&i)).collect();
            assert_eq!(pending(&mixed), expected, "differing rows {differ:?}");
            let decoded: Vec<FlowLog> = crate::decode_flows(&mixed)
                .unwrap()
                .into_iter()
                .map(|(_, log)| log)
                .collect();
            assert_eq!(decoded, mixed_logs);
        }
    }

    #[test]
    fn ipv4_text_is_what_display_writes() {
        let mut buf = [0u8; 15];
        for octet in 0..=255u8 {
            for ip in [
                Ipv4Addr::new(octet, 0, 0, 0),
                Ipv4Addr::new(10, octet, 7, 99),
                Ipv4Addr::new(255, 100, octet, 1),
                Ipv4Addr::new(1, 20, 200, octet),
                Ipv4Addr::new(octet, octet, octet, octet),
            ] {
                assert_eq!(ipv4_text(ip, &mut buf), ip.to_string());
            }
        }
    }
}
