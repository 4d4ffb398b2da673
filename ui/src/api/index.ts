// The typed client of the Flowlens HTTP API (docs/api.md), one module per job: the flow-log
// fields, the answers' types, the query state the views share, policy hits, the HTTP calls,
// the React hook that loads them, and formatting.
export * from "./fields";
export * from "./types";
export * from "./query";
export * from "./hits";
export * from "./http";
export * from "./useApi";
export * from "./format";
export * from "./me";
