// Generated from the flow-log fields of crates/model/src/flow_field.rs and the store's
// filter syntax (crates/store/src/parse.rs) by crates/store/tests/ui_flow_fields.rs.
// Do not edit; after changing either, run:
//   FLOWLENS_REGENERATE=1 cargo test -p flowlens-store --test ui_flow_fields

/** How a field's values look, which decides the operators a filter can use on it. */
export type FieldKind = "text" | "optional_text" | "int" | "optional_int" | "counter" | "list";

/** A stored field, as the API's filters and sorts, the JSON and CSV exports name it
 * (Calico's spelling). */
export type FlowFieldName =
  | "start_time"
  | "end_time"
  | "source_ip"
  | "source_name"
  | "source_name_aggr"
  | "source_namespace"
  | "source_port"
  | "source_type"
  | "source_labels"
  | "dest_ip"
  | "dest_name"
  | "dest_name_aggr"
  | "dest_namespace"
  | "dest_port"
  | "dest_type"
  | "dest_labels"
  | "dest_service_namespace"
  | "dest_service_name"
  | "dest_service_port"
  | "dest_service_port_num"
  | "proto"
  | "action"
  | "reporter"
  | "enforced_policies"
  | "pending_policies"
  | "bytes_in"
  | "bytes_out"
  | "packets_in"
  | "packets_out"
  | "num_flows"
  | "num_flows_started"
  | "num_flows_completed"
  | "process_name"
  | "process_id"
  | "host"
  | "record_id";

export interface FlowFieldInfo {
  name: FlowFieldName;
  kind: FieldKind;
  /** Where the value sits in the API's JSON for a flow: the name, `policies.NAME` for the traces, `id` for `record_id`. */
  path: string;
  /** The column's name in SQL (`flowlens sql`); it differs from `name` only for the traces. */
  column: string;
  /** False for `record_id`, the store's number for a record (`id` in the API's JSON). */
  inFlowLog: boolean;
}

/** Every stored field, in storage order (Calico's flow-log fields in the order of CSV
 * exports, then `record_id`), `as const` so that each field's kind and path are known
 * to the type checker. */
export const FLOW_FIELDS = [
  { name: "start_time", kind: "int", path: "start_time", column: "start_time", inFlowLog: true },
  { name: "end_time", kind: "int", path: "end_time", column: "end_time", inFlowLog: true },
  { name: "source_ip", kind: "optional_text", path: "source_ip", column: "source_ip", inFlowLog: true },
  { name: "source_name", kind: "optional_text", path: "source_name", column: "source_name", inFlowLog: true },
  { name: "source_name_aggr", kind: "text", path: "source_name_aggr", column: "source_name_aggr", inFlowLog: true },
  { name: "source_namespace", kind: "optional_text", path: "source_namespace", column: "source_namespace", inFlowLog: true },
  { name: "source_port", kind: "optional_int", path: "source_port", column: "source_port", inFlowLog: true },
  { name: "source_type", kind: "optional_text", path: "source_type", column: "source_type", inFlowLog: true },
  { name: "source_labels", kind: "list", path: "source_labels", column: "source_labels", inFlowLog: true },
  { name: "dest_ip", kind: "optional_text", path: "dest_ip", column: "dest_ip", inFlowLog: true },
  { name: "dest_name", kind: "optional_text", path: "dest_name", column: "dest_name", inFlowLog: true },
  { name: "dest_name_aggr", kind: "text", path: "dest_name_aggr", column: "dest_name_aggr", inFlowLog: true },
  { name: "dest_namespace", kind: "optional_text", path: "dest_namespace", column: "dest_namespace", inFlowLog: true },
  { name: "dest_port", kind: "optional_int", path: "dest_port", column: "dest_port", inFlowLog: true },
  { name: "dest_type", kind: "optional_text", path: "dest_type", column: "dest_type", inFlowLog: true },
  { name: "dest_labels", kind: "list", path: "dest_labels", column: "dest_labels", inFlowLog: true },
  { name: "dest_service_namespace", kind: "optional_text", path: "dest_service_namespace", column: "dest_service_namespace", inFlowLog: true },
  { name: "dest_service_name", kind: "optional_text", path: "dest_service_name", column: "dest_service_name", inFlowLog: true },
  { name: "dest_service_port", kind: "optional_text", path: "dest_service_port", column: "dest_service_port", inFlowLog: true },
  { name: "dest_service_port_num", kind: "optional_int", path: "dest_service_port_num", column: "dest_service_port_num", inFlowLog: true },
  { name: "proto", kind: "text", path: "proto", column: "proto", inFlowLog: true },
  { name: "action", kind: "text", path: "action", column: "action", inFlowLog: true },
  { name: "reporter", kind: "text", path: "reporter", column: "reporter", inFlowLog: true },
  { name: "enforced_policies", kind: "list", path: "policies.enforced_policies", column: "policies_enforced", inFlowLog: true },
  { name: "pending_policies", kind: "list", path: "policies.pending_policies", column: "policies_pending", inFlowLog: true },
  { name: "bytes_in", kind: "counter", path: "bytes_in", column: "bytes_in", inFlowLog: true },
  { name: "bytes_out", kind: "counter", path: "bytes_out", column: "bytes_out", inFlowLog: true },
  { name: "packets_in", kind: "counter", path: "packets_in", column: "packets_in", inFlowLog: true },
  { name: "packets_out", kind: "counter", path: "packets_out", column: "packets_out", inFlowLog: true },
  { name: "num_flows", kind: "counter", path: "num_flows", column: "num_flows", inFlowLog: true },
  { name: "num_flows_started", kind: "counter", path: "num_flows_started", column: "num_flows_started", inFlowLog: true },
  { name: "num_flows_completed", kind: "counter", path: "num_flows_completed", column: "num_flows_completed", inFlowLog: true },
  { name: "process_name", kind: "optional_text", path: "process_name", column: "process_name", inFlowLog: true },
  { name: "process_id", kind: "optional_int", path: "process_id", column: "process_id", inFlowLog: true },
  { name: "host", kind: "optional_text", path: "host", column: "host", inFlowLog: true },
  { name: "record_id", kind: "int", path: "id", column: "record_id", inFlowLog: false },
] as const satisfies readonly FlowFieldInfo[];

/** The fields of a Calico flow log, by name, in order. */
export const FLOW_LOG_FIELD_NAMES: readonly FlowFieldName[] = ["start_time", "end_time", "source_ip", "source_name", "source_name_aggr", "source_namespace", "source_port", "source_type", "source_labels", "dest_ip", "dest_name", "dest_name_aggr", "dest_namespace", "dest_port", "dest_type", "dest_labels", "dest_service_namespace", "dest_service_name", "dest_service_port", "dest_service_port_num", "proto", "action", "reporter", "enforced_policies", "pending_policies", "bytes_in", "bytes_out", "packets_in", "packets_out", "num_flows", "num_flows_started", "num_flows_completed", "process_name", "process_id", "host"];

/** Filter operators (`FIELD OP VALUE`), longest first so that parsing finds `!=` before
 * `=`. */
export const FILTER_OPS = ["!^=", "!=", "^=", ">=", "<=", "=", ">", "<"] as const;
export type FilterOp = (typeof FILTER_OPS)[number];

/** The operators each kind of field takes. On lists, `=` and `!=` test whether an entry
 * equals the value, `^=` and `!^=` whether one starts with it. */
export const OPS_BY_KIND: Readonly<Record<FieldKind, readonly FilterOp[]>> = {
  text: ["!^=", "!=", "^=", ">=", "<=", "=", ">", "<"],
  optional_text: ["!^=", "!=", "^=", ">=", "<=", "=", ">", "<"],
  int: ["!=", ">=", "<=", "=", ">", "<"],
  optional_int: ["!=", ">=", "<=", "=", ">", "<"],
  counter: ["!=", ">=", "<=", "=", ">", "<"],
  list: ["!^=", "!=", "^=", "="],
};

/** After `=` or `!=`, a value starting with this lists alternatives: `action=in:allow,deny`. */
export const IN_LIST_PREFIX = "in:";

/** The value that stands for "absent" on optional fields, as in Calico's flow logs. */
export const ABSENT = "-";
