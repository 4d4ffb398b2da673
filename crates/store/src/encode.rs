//! `FlowLog`s → one Arrow record batch with the record's columns ([`record_schema`]).
//!
//! Labels become `key=value` strings (Calico's `{"labels": [...]}` form), policy hits their
//! Calico ≥ 3.32 spelling, protocols their flow-log name. `None` becomes null.

use crate::error::Result;
use crate::schema::{Field, record_schema};
use datafusion::arrow::array::{
    ArrayRef, Int32Builder, Int64Builder, ListBuilder, RecordBatch, StringBuilder, UInt64Builder,
};
use flowlens_model::{FlowEnd, FlowLog, Labels, PolicyHit};
use std::sync::Arc;

/// Encodes `logs`, numbering them `first_record_id`, `first_record_id + 1`, ….
pub fn encode_flows(logs: &[FlowLog], first_record_id: u64) -> Result<RecordBatch> {
    let mut b = Builders::new(logs.len());
    for (i, log) in logs.iter().enumerate() {
        b.push(log, first_record_id + i as u64);
    }
    b.finish()
}

fn strings(capacity: usize) -> StringBuilder {
    StringBuilder::with_capacity(capacity, capacity * 16)
}

fn lists(capacity: usize) -> ListBuilder<StringBuilder> {
    ListBuilder::with_capacity(StringBuilder::new(), capacity)
}

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
            labels: lists(n),
        }
    }

    fn push(&mut self, end: &FlowEnd) {
        self.ip.append_option(end.ip.map(|ip| ip.to_string()));
        self.name.append_option(end.name.as_deref());
        self.name_aggr.append_value(&end.name_aggr);
        self.namespace.append_option(end.namespace.as_deref());
        self.port.append_option(end.port.map(i32::from));
        self.endpoint_type
            .append_option(end.endpoint_type.map(|t| t.as_str()));
        push_labels(&mut self.labels, &end.labels);
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

fn push_labels(list: &mut ListBuilder<StringBuilder>, labels: &Labels) {
    let mut text = String::new();
    for (k, v) in labels {
        text.clear();
        text.push_str(k);
        text.push('=');
        text.push_str(v);
        list.values().append_value(&text);
    }
    list.append(true);
}

fn push_hits(list: &mut ListBuilder<StringBuilder>, hits: &[PolicyHit]) {
    for hit in hits {
        list.values().append_value(hit.to_string());
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
    pending: ListBuilder<StringBuilder>,
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
            enforced: lists(n),
            pending: lists(n),
            counters: std::array::from_fn(|_| UInt64Builder::with_capacity(n)),
            process_name: strings(n),
            process_id: Int64Builder::with_capacity(n),
            host: strings(n),
            record_id: UInt64Builder::with_capacity(n),
        }
    }

    fn push(&mut self, log: &FlowLog, record_id: u64) {
        self.start_time.append_value(log.start_time);
        self.end_time.append_value(log.end_time);
        self.source.push(&log.source);
        self.dest.push(&log.dest);
        let svc = log.dest_service.as_ref();
        self.service_namespace
            .append_option(svc.map(|s| s.namespace.as_str()));
        self.service_name
            .append_option(svc.map(|s| s.name.as_str()));
        self.service_port
            .append_option(svc.map(|s| s.port_name.as_str()));
        self.service_port_num
            .append_option(svc.map(|s| i32::from(s.port_num)));
        self.proto.append_value(log.proto.flow_log_name());
        self.action.append_value(log.action.as_str());
        self.reporter.append_value(log.reporter.as_str());
        push_hits(&mut self.enforced, &log.enforced_policies);
        push_hits(&mut self.pending, &log.pending_policies);
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
        self.process_name.append_option(log.process_name.as_deref());
        self.process_id.append_option(log.process_id);
        self.host.append_option(log.host.as_deref());
        self.record_id.append_value(record_id);
    }

    fn finish(mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(Field::ALL.len());
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
        columns.push(Arc::new(self.pending.finish()));
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
