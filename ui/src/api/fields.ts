// The fields of a flow log, as the API's JSON spells them (Calico's names). The list itself is
// generated from the server's definition (flowFields.generated.ts, checked by a Rust test);
// this module derives what the views need from it: the record type, the order the expanded
// row shows the fields in, and the fields a filter can name.
import { FLOW_FIELDS as STORED_FIELDS, FLOW_LOG_FIELD_NAMES, FILTER_OPS, type FlowFieldName } from "./flowFields.generated";

export {
  ABSENT,
  FILTER_OPS,
  IN_LIST_PREFIX,
  OPS_BY_KIND,
  type FieldKind,
  type FilterOp,
  type FlowFieldInfo,
  type FlowFieldName,
} from "./flowFields.generated";

type StoredField = (typeof STORED_FIELDS)[number];
type FlowLogField = Extract<StoredField, { inFlowLog: true }>;
/** The policy traces, which the JSON keeps inside `policies`. */
type TraceField = Extract<FlowLogField, { path: `policies.${string}` }>;
type TopLevelField = Exclude<FlowLogField, TraceField>;

/** How a field of each kind looks in the API's JSON (`-` stands for an absent text). */
interface JsonOfKind {
  text: string;
  optional_text: string;
  int: number;
  optional_int: number | null;
  counter: number;
  list: { labels: string[] } | null;
}

/** The fields whose JSON is not what their kind alone says. */
interface JsonExceptions {
  /** An address, or null when the record has none. */
  source_ip: string | null;
  dest_ip: string | null;
  /** A number, or `-` when flows of several processes were aggregated. */
  process_id: number | string;
}

type JsonOf<F extends TopLevelField> = F["name"] extends keyof JsonExceptions ? JsonExceptions[F["name"]] : JsonOfKind[F["kind"]];

type FlowLogJson = { [F in TopLevelField as F["name"]]: JsonOf<F> } & {
  policies: { [F in TraceField as F["name"]]?: string[] } | null;
};

/** One flow log, with Calico's field names, and the store's number for it (`id`). */
export interface Flow extends FlowLogJson {
  id: number;
}

/** A member of a flow log's JSON. */
export type FlowField = keyof Flow;

/** What the expanded row shows first (when, what happened); the rest follow in storage order. */
const LEADING_FIELDS = ["id", "start_time", "end_time", "action", "reporter", "proto"] as const satisfies readonly FlowField[];

/** Every member of a flow log's JSON, in the order a person reads one (what, who, how much). */
export const FLOW_FIELDS: readonly FlowField[] = [
  ...LEADING_FIELDS,
  ...new Set(
    STORED_FIELDS.filter((f) => f.inFlowLog)
      .map((f) => f.path.split(".")[0] as FlowField)
      .filter((f) => !(LEADING_FIELDS as readonly FlowField[]).includes(f)),
  ),
];

/** Fields a `filter=` term can name: every field of a flow log, as the server takes them. */
export const FILTER_FIELDS: readonly FlowFieldName[] = FLOW_LOG_FIELD_NAMES;

/** The operators for a hint, shortest first (`=` before `!=`). */
export const FILTER_OPS_TEXT = [...FILTER_OPS].sort((a, b) => a.length - b.length).join(" ");

/** The values a field can take, where the set is closed (for autocompletion and hints). */
export const FIELD_DOMAINS: Partial<Record<FlowFieldName, readonly string[]>> = {
  action: ["allow", "deny"],
  reporter: ["src", "dst"],
  proto: ["tcp", "udp", "icmp", "sctp"],
  source_type: ["wep", "hep", "ns", "net"],
  dest_type: ["wep", "hep", "ns", "net"],
};
