// The fields of a flow log, as the API's JSON spells them (Calico's names). This module is the
// UI's one list of them: the record type, the order the expanded row shows them in, and the
// fields a filter can name all come from here, so it can be swapped for a list generated from
// the server's own definition.
import type { EndpointType } from "./types";

/** One flow log, with Calico's field names. `-` (or null) means not applicable. */
export interface Flow {
  id: number;
  start_time: number;
  end_time: number;
  source_ip: string | null;
  source_name: string;
  source_name_aggr: string;
  source_namespace: string;
  source_port: number | null;
  source_type: EndpointType | string;
  source_labels: { labels: string[] } | null;
  dest_ip: string | null;
  dest_name: string;
  dest_name_aggr: string;
  dest_namespace: string;
  dest_port: number | null;
  dest_type: EndpointType | string;
  dest_labels: { labels: string[] } | null;
  dest_service_namespace: string;
  dest_service_name: string;
  dest_service_port: string;
  dest_service_port_num: number | null;
  proto: string;
  action: "allow" | "deny" | string;
  reporter: "src" | "dst" | string;
  policies: { enforced_policies?: string[]; pending_policies?: string[] } | null;
  bytes_in: number;
  bytes_out: number;
  packets_in: number;
  packets_out: number;
  num_flows: number;
  num_flows_started: number;
  num_flows_completed: number;
  process_name: string;
  process_id: string;
  host: string;
}

/** Every field of a flow log, in the order a person reads one (what, who, how much). */
export const FLOW_FIELDS = [
  "id",
  "start_time",
  "end_time",
  "action",
  "reporter",
  "proto",
  "source_namespace",
  "source_name_aggr",
  "source_name",
  "source_ip",
  "source_port",
  "source_type",
  "source_labels",
  "dest_namespace",
  "dest_name_aggr",
  "dest_name",
  "dest_ip",
  "dest_port",
  "dest_type",
  "dest_labels",
  "dest_service_namespace",
  "dest_service_name",
  "dest_service_port",
  "dest_service_port_num",
  "policies",
  "bytes_in",
  "bytes_out",
  "packets_in",
  "packets_out",
  "num_flows",
  "num_flows_started",
  "num_flows_completed",
  "process_name",
  "process_id",
  "host",
] as const satisfies readonly (keyof Flow)[];

export type FlowField = (typeof FLOW_FIELDS)[number];

/** Fields a `filter=` term can name (the policy trace has its own `policy=` parameter). */
export const FILTER_FIELDS: readonly FlowField[] = FLOW_FIELDS.filter((f) => f !== "id" && f !== "policies");

/** The values a field can take, where the set is closed (for autocompletion and hints). */
export const FIELD_DOMAINS: Partial<Record<FlowField, readonly string[]>> = {
  action: ["allow", "deny"],
  reporter: ["src", "dst"],
  proto: ["tcp", "udp", "icmp", "sctp"],
  source_type: ["wep", "hep", "ns", "net"],
  dest_type: ["wep", "hep", "ns", "net"],
};
