//! The tables Flowlens keeps in its ClickHouse database, created and migrated by Flowlens:
//! `flowlens_schema` records the versions applied, `flows` holds the flow logs, `read_marks`
//! how far each input file is stored, `policy_hits_hourly` the Policy Board's hourly sums.
//!
//! # The flow-log table
//!
//! A `MergeTree` partitioned by day of `end_time` and ordered by `(end_time, record_id)`:
//!
//! - Every query Flowlens makes has a time window (the UI's are the last 15 minutes to a few
//!   days), and it is the one condition every query shares: day partitions let ClickHouse skip
//!   whole days, and `end_time` first in the sorting key lets the primary index skip granules
//!   within the day. Namespace or name first would serve the queries filtered by them but
//!   scatter every time window over the whole day's index.
//! - `record_id` second makes the default order of the Flows table (newest first, then record
//!   id) the table's own order, so keyset pages (`(end_time, record_id) < (t, id)`) are ranges
//!   of the primary key, and servers that read in key order (`optimize_read_in_order`, 19.14 on)
//!   stop after a page.
//! - Retention drops whole partitions (days), which costs nothing to merge.
//!
//! The one DDL works on ClickHouse 18.16 (Debian's) and current servers alike. 18.16 lacks
//! `Map`, `DateTime64`, `TTL`, column codecs and `LowCardinality` (without a setting), so
//! labels and policy hits are `Array(String)` (`key=value` entries, Calico hit strings),
//! times are `Int64` seconds and optional fields `Nullable`. Newer servers would store the
//! low-cardinality texts (namespaces, aggregated names, types, proto, action, reporter) as
//! `LowCardinality(Nullable(String))`, times with `CODEC(Delta, ZSTD)`, and expire days with
//! `TTL`; RowBinary is the same for those types, so only the DDL would differ.

use flowlens_model::{FieldKind, FlowField};

/// The schema this build creates and reads.
pub const SCHEMA_VERSION: u32 = 2;

/// The version table.
pub(crate) const VERSIONS: &str = "flowlens_schema";
/// The flow-log table.
pub const FLOWS: &str = "flows";
/// How far each input is stored.
pub(crate) const READ_MARKS: &str = "read_marks";
/// Per hour, reporter and hit: the `num_flows` of the enforced and the pending traces,
/// summed by ClickHouse as flow logs arrive (the Policy Board's rollup).
pub(crate) const POLICY_HITS_HOURLY: &str = "policy_hits_hourly";
/// Seconds per row of the hourly rollups.
pub(crate) const HOUR: i64 = 3_600;

/// A hit text without its leading `<index>|` (`hit` is the `ARRAY JOIN`ed entry): what the
/// embedded store's hit dictionary numbers, so hits differing only in their place in the
/// trace count as one.
pub(crate) const HIT_KEY: &str = "substring(hit, position(hit, '|') + 1)";

/// Seconds per partition of the flow-log table.
pub const PARTITION_SECONDS: i64 = 86_400;

/// The ClickHouse type of a stored field.
pub(crate) fn column_type(field: FlowField) -> &'static str {
    match (field, field.kind()) {
        (FlowField::RecordId, _) => "UInt64",
        (_, FieldKind::Text) => "String",
        (_, FieldKind::OptionalText) => "Nullable(String)",
        (_, FieldKind::Int) => "Int64",
        (FlowField::ProcessId, FieldKind::OptionalInt) => "Nullable(Int64)",
        (_, FieldKind::OptionalInt) => "Nullable(Int32)",
        (_, FieldKind::Counter) => "UInt64",
        (_, FieldKind::List) => "Array(String)",
    }
}

/// The statements of each schema version, in order; each is idempotent, so a migration cut
/// short is finished by running it again.
pub(crate) fn migrations() -> Vec<(u32, &'static str, Vec<String>)> {
    let columns = FlowField::ALL
        .iter()
        .map(|f| format!("    {} {}", f.column(), column_type(*f)))
        .collect::<Vec<_>>()
        .join(",\n");
    vec![
        (
            1,
            "flow-log table and read marks",
            vec![
                format!(
                    "CREATE TABLE IF NOT EXISTS {FLOWS} (\n{columns}\n) ENGINE = MergeTree() \
                 PARTITION BY intDiv(end_time, {PARTITION_SECONDS}) \
                 ORDER BY (end_time, record_id) SETTINGS index_granularity = 8192"
                ),
                // One row per append that carried marks; the newest whose rows are all stored
                // is the input's mark (see `marks.rs`).
                format!(
                    "CREATE TABLE IF NOT EXISTS {READ_MARKS} (input String, device UInt64, \
                 inode UInt64, read_offset UInt64, lines UInt64, first_record_id UInt64, \
                 records UInt64, min_end_time Int64, max_end_time Int64) \
                 ENGINE = MergeTree() ORDER BY (input, first_record_id)"
                ),
            ],
        ),
        (
            2,
            "hourly policy-hit rollup maintained by materialized views",
            policy_hits_rollup(),
        ),
    ]
}

/// Version 2: the hourly policy-hit sums, filled by two materialized views (one per trace)
/// from every insert into `flows`, and from the rows already stored. ClickHouse merges the
/// rows of a key in the background (`SummingMergeTree`); readers sum them again.
///
/// The stored rows are summed in only while the rollup is empty, before the views exist, so
/// running the migration again after it was cut short counts nothing twice (no writer may
/// run meanwhile: `flowlens store migrate` before starting them).
fn policy_hits_rollup() -> Vec<String> {
    let select = |trace: &str, enforced: &str, pending: &str| {
        format!(
            "SELECT intDiv(end_time, {HOUR}) * {HOUR} AS hour, reporter, {HIT_KEY} AS hit_key, \
             {enforced} AS enforced, {pending} AS pending \
             FROM {FLOWS} ARRAY JOIN {trace} AS hit GROUP BY hour, reporter, hit_key"
        )
    };
    let enforced = select("policies_enforced", "sum(num_flows)", "toUInt64(0)");
    let pending = select("policies_pending", "toUInt64(0)", "sum(num_flows)");
    let empty = format!("(SELECT count() FROM {POLICY_HITS_HOURLY}) = 0");
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {POLICY_HITS_HOURLY} (hour Int64, reporter String, \
             hit_key String, enforced UInt64, pending UInt64) \
             ENGINE = SummingMergeTree((enforced, pending)) \
             PARTITION BY intDiv(hour, {PARTITION_SECONDS}) ORDER BY (hour, reporter, hit_key)"
        ),
        format!(
            "INSERT INTO {POLICY_HITS_HOURLY} SELECT * FROM ({enforced} UNION ALL {pending}) \
             WHERE {empty}"
        ),
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS policy_hits_enforced_mv \
             TO {POLICY_HITS_HOURLY} AS {enforced}"
        ),
        format!(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS policy_hits_pending_mv \
             TO {POLICY_HITS_HOURLY} AS {pending}"
        ),
    ]
}

/// The version table itself (version 0 is "nothing yet").
pub(crate) fn versions_table() -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {VERSIONS} (version UInt32, description String, \
         applied_at DateTime, flowlens String) ENGINE = MergeTree() ORDER BY version"
    )
}

/// A server's version, `major.minor.patch` of `SELECT version()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServerVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl ServerVersion {
    /// The oldest server the store works with: Debian's.
    pub const OLDEST: ServerVersion = ServerVersion {
        major: 18,
        minor: 16,
        patch: 0,
    };

    pub fn parse(text: &str) -> Option<ServerVersion> {
        let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
        Some(ServerVersion {
            major: parts.next()??,
            minor: parts.next()??,
            patch: parts.next().flatten().unwrap_or(0),
        })
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(
            ServerVersion::parse("18.16.1"),
            Some(ServerVersion {
                major: 18,
                minor: 16,
                patch: 1
            })
        );
        assert!(ServerVersion::parse("24.3.1.2672").unwrap() > ServerVersion::OLDEST);
        assert!(ServerVersion::parse("1.1.54388").unwrap() < ServerVersion::OLDEST);
        assert_eq!(ServerVersion::parse("x"), None);
    }

    #[test]
    fn every_field_is_a_column() {
        let (_, _, ddl) = &migrations()[0];
        for f in FlowField::ALL {
            assert!(
                ddl[0].contains(&format!(" {} {}", f.column(), column_type(*f))),
                "{f}"
            );
        }
    }
}
