//! Typed queries and their answers: what callers ask a [`Store`](crate::Store), with no SQL
//! dialect in sight.

use flowlens_model::FlowField;
use flowlens_model::{Action, FlowLog, HitAction, PolicyKind, RuleDirection};
use flowlens_selector::Selector;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Rows whose `end_time` (Calico's time field for flow logs) lies in `[from, to)`, in unix
/// seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct TimeRange {
    pub from: i64,
    pub to: i64,
}

impl TimeRange {
    pub fn new(from: i64, to: i64) -> TimeRange {
        TimeRange { from, to }
    }

    /// Everything.
    pub fn all() -> TimeRange {
        TimeRange {
            from: i64::MIN,
            to: i64::MAX,
        }
    }

    /// The last `duration` up to and including the second `now`.
    pub fn since(duration: Duration, now: i64) -> TimeRange {
        let secs = i64::try_from(duration.as_secs()).unwrap_or(i64::MAX);
        let to = now.saturating_add(1);
        TimeRange {
            from: to.saturating_sub(secs),
            to,
        }
    }

    pub fn is_all(&self) -> bool {
        self.from == i64::MIN && self.to == i64::MAX
    }

    pub fn contains(&self, t: i64) -> bool {
        self.from <= t && t < self.to
    }

    /// Whether `[min, max]` (inclusive) overlaps this range.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        min < self.to && max >= self.from
    }
}

impl Default for TimeRange {
    fn default() -> Self {
        TimeRange::all()
    }
}

/// A comparison on one column. Values are text and are read as the column's type (numbers
/// for ports, times and counters); `-` stands for "absent" (null) on optional columns, as in
/// Calico's output.
///
/// On list columns (labels as `key=value`, policy hits) `Eq`/`In` mean "contains" and
/// `Ne`/`NotIn` "does not contain"; `Prefix` means "some entry starts with". Other
/// comparisons on lists are an error. `Ne`, `NotPrefix` and `NotIn` are true for absent
/// values (unlike SQL's three-valued logic).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", content = "value", rename_all = "snake_case")]
pub enum FilterOp {
    Eq(String),
    Ne(String),
    Prefix(String),
    NotPrefix(String),
    Gt(String),
    Ge(String),
    Lt(String),
    Le(String),
    In(Vec<String>),
    NotIn(Vec<String>),
}

/// One filter: `field` `op` value. See [`FieldFilter::parse`] for its text form.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldFilter {
    pub field: FlowField,
    pub op: FilterOp,
}

impl FieldFilter {
    pub fn new(field: FlowField, op: FilterOp) -> FieldFilter {
        FieldFilter { field, op }
    }

    pub fn eq(field: FlowField, value: impl Into<String>) -> FieldFilter {
        FieldFilter {
            field,
            op: FilterOp::Eq(value.into()),
        }
    }
}

/// Flows with at least one *enforced* policy hit that satisfies every given part.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PolicyFilter {
    pub tier: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub kind: Option<PolicyKind>,
    pub action: Option<HitAction>,
    pub rule: Option<i32>,
}

impl PolicyFilter {
    /// Whether a (parsed) hit is one this filter asks for; the stored-text form of the same
    /// test is the store's `HitRef::matches`.
    pub fn matches_hit(&self, hit: &flowlens_model::PolicyHit) -> bool {
        self.tier.as_ref().is_none_or(|t| *t == hit.tier)
            && self.name.as_ref().is_none_or(|n| *n == hit.name)
            && self
                .namespace
                .as_ref()
                .is_none_or(|ns| Some(ns) == hit.namespace.as_ref())
            && self.kind.is_none_or(|k| Some(k) == hit.kind)
            && self.action.is_none_or(|a| a == hit.action)
            && self.rule.is_none_or(|r| r == hit.rule)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SortKey {
    pub field: FlowField,
    pub descending: bool,
}

impl SortKey {
    pub fn asc(field: FlowField) -> SortKey {
        SortKey {
            field,
            descending: false,
        }
    }

    pub fn desc(field: FlowField) -> SortKey {
        SortKey {
            field,
            descending: true,
        }
    }
}

/// The default page size, and the most a page may hold.
pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 10_000;
/// The most groups an aggregate returns (largest first).
pub const MAX_AGGREGATE_ROWS: usize = 100_000;

/// A search of the stored flow logs: time range, field filters, label selectors, policy,
/// sort and paging (what `flowlens flows` and the API's `/api/flows` ask of a [`Store`](crate::Store)).
///
/// Paging: `page_token` (from the previous [`FlowPage`]) continues after the last row seen,
/// so pages stay stable while new records arrive; `offset` skips rows instead (simple, but
/// pages shift as data arrives). Every sort ends with `record_id` as a tie-breaker. The
/// default sort is newest first (`end_time` descending). Absent values sort last.
#[derive(Clone, Debug, Default)]
pub struct FlowSearch {
    pub time: TimeRange,
    pub filters: Vec<FieldFilter>,
    /// Calico selector over the source's labels (`app == "web" && has(tier)`).
    pub source_selector: Option<Selector>,
    pub dest_selector: Option<Selector>,
    pub policy: Option<PolicyFilter>,
    pub sort: Vec<SortKey>,
    /// Rows per page ([`DEFAULT_LIMIT`] when `None`, at most [`MAX_LIMIT`]); for aggregates,
    /// the number of groups (all, up to [`MAX_AGGREGATE_ROWS`], when `None`).
    pub limit: Option<usize>,
    pub page_token: Option<String>,
    pub offset: usize,
    /// Count each connection once: a flow between two cluster endpoints is logged by both
    /// ends (`reporter` src and dst); keep the destination's record, and the source's only
    /// when no destination record exists (denied at egress, or leaving the cluster). With a
    /// policy filter it has nothing to do: the hit picks the record of the end that
    /// evaluated it.
    pub connections_once: bool,
}

impl FlowSearch {
    pub fn new(time: TimeRange) -> FlowSearch {
        FlowSearch {
            time,
            ..FlowSearch::default()
        }
    }

    pub fn filter(mut self, filter: FieldFilter) -> FlowSearch {
        self.filters.push(filter);
        self
    }

    pub fn sorted_by(mut self, key: SortKey) -> FlowSearch {
        self.sort.push(key);
        self
    }

    pub fn limit(mut self, limit: usize) -> FlowSearch {
        self.limit = Some(limit);
        self
    }
}

/// One page of flow logs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowPage {
    pub flows: Vec<FlowLog>,
    /// The record id of each flow (unique, in insertion order).
    pub record_ids: Vec<u64>,
    /// Rows matching the query across all pages.
    pub total: u64,
    /// Pass as `page_token` to get the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// How to group flows for [`Store::aggregate`](crate::Store::aggregate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// source_namespace → dest_namespace.
    NamespacePair,
    /// (source_namespace, source_name_aggr) → (dest_namespace, dest_name_aggr).
    NamePair,
    /// The name pair plus proto, dest_port and action: a service graph's edges.
    Edge,
    /// [`GroupBy::Edge`] plus both endpoint types and the destination service: what a
    /// service graph needs to place each side on a namespace, workload, service or network.
    ServiceEdge,
    /// Each enforced (and, for the pending counts, pending) policy hit's
    /// tier/kind/namespace/name.
    Policy,
    /// [`GroupBy::Policy`] plus the hit's action and rule index.
    PolicyRule,
    /// allow / deny.
    Action,
}

impl GroupBy {
    pub fn is_policy(self) -> bool {
        matches!(self, GroupBy::Policy | GroupBy::PolicyRule)
    }

    /// The columns of a grouping, in [`GroupKey`]'s field order: groupings rank groups column by
    /// column in this order, as `GroupKey`'s `Ord` would. Empty for the policy groupings.
    pub fn fields(self) -> &'static [FlowField] {
        use FlowField as F;
        match self {
            GroupBy::NamespacePair => &[F::SourceNamespace, F::DestNamespace],
            GroupBy::NamePair => &[
                F::SourceNamespace,
                F::SourceNameAggr,
                F::DestNamespace,
                F::DestNameAggr,
            ],
            GroupBy::Edge => &[
                F::SourceNamespace,
                F::SourceNameAggr,
                F::DestNamespace,
                F::DestNameAggr,
                F::Proto,
                F::DestPort,
                F::Action,
            ],
            GroupBy::ServiceEdge => &[
                F::SourceType,
                F::SourceNamespace,
                F::SourceNameAggr,
                F::DestType,
                F::DestNamespace,
                F::DestNameAggr,
                F::DestServiceNamespace,
                F::DestServiceName,
                F::Proto,
                F::DestPort,
                F::Action,
            ],
            GroupBy::Action => &[F::Action],
            GroupBy::Policy | GroupBy::PolicyRule => &[],
        }
    }
}

/// The key of an aggregate row; the fields its [`GroupBy`] does not use are `None`, and so
/// are keys whose value is absent (`-`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct GroupKey {
    pub source_type: Option<String>,
    pub source_namespace: Option<String>,
    pub source_name_aggr: Option<String>,
    pub dest_type: Option<String>,
    pub dest_namespace: Option<String>,
    pub dest_name_aggr: Option<String>,
    pub dest_service_namespace: Option<String>,
    pub dest_service_name: Option<String>,
    pub proto: Option<String>,
    pub dest_port: Option<u16>,
    pub action: Option<Action>,
    pub tier: Option<String>,
    pub kind: Option<PolicyKind>,
    /// The policy's namespace (namespaced kinds only).
    pub policy_namespace: Option<String>,
    pub policy_name: Option<String>,
    pub hit_action: Option<HitAction>,
    pub rule: Option<i32>,
}

/// Sums and rates of one group. For policy groupings the sums cover the flows whose enforced
/// trace contains the policy (or rule), and the `pending_*` counts come from the pending
/// (staged) trace; packets and bytes (and so packet and bit rates) are not summed for policy
/// groupings and stay zero — decoding them would double the cost of the Policy Board's view.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AggregateRow {
    pub key: GroupKey,
    /// Flow log records in the group.
    pub records: u64,
    /// `num_flows` of the group's records: connections.
    pub num_flows: u64,
    pub num_flows_started: u64,
    pub num_flows_completed: u64,
    /// `num_flows` of records whose action is allow / deny.
    pub allowed_flows: u64,
    pub denied_flows: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// `num_flows_started` per second of the query window.
    pub connections_per_second: f64,
    /// (`packets_in` + `packets_out`) per second.
    pub packets_per_second: f64,
    /// 8 × (`bytes_in` + `bytes_out`) per second.
    pub bits_per_second: f64,
    /// Policy groupings: `num_flows` of hits whose action is allow / deny / pass.
    pub hits_allowed: u64,
    pub hits_denied: u64,
    pub hits_passed: u64,
    /// The same from the pending trace.
    pub pending_num_flows: u64,
    pub pending_allowed: u64,
    pub pending_denied: u64,
    pub pending_passed: u64,
}

/// Hit counts of a policy, one of its rules or its end of tier: the connections
/// (`num_flows`) of the flow logs whose enforced trace holds it, split by the hit's action,
/// and the same from the pending (staged) trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HitCounts {
    pub connections: u64,
    pub allowed: u64,
    pub denied: u64,
    pub passed: u64,
    pub pending_connections: u64,
    pub pending_allowed: u64,
    pub pending_denied: u64,
    pub pending_passed: u64,
}

impl HitCounts {
    pub fn add(&mut self, other: &HitCounts) {
        self.connections += other.connections;
        self.allowed += other.allowed;
        self.denied += other.denied;
        self.passed += other.passed;
        self.pending_connections += other.pending_connections;
        self.pending_allowed += other.pending_allowed;
        self.pending_denied += other.pending_denied;
        self.pending_passed += other.pending_passed;
    }

    /// Whether any connection, enforced or pending, hit it.
    pub fn is_hit(&self) -> bool {
        self.connections + self.pending_connections > 0
    }
}

/// The Policy Board's numbers for one policy: its hits in all, and per direction and rule
/// index (-1 is the end of its tier). Egress rules are evaluated at the source, so their hits
/// are those of `reporter=src` flow logs; ingress hits are those of `reporter=dst` ones.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PolicyMetrics {
    pub tier: String,
    /// `None` for profiles.
    pub kind: Option<PolicyKind>,
    pub namespace: Option<String>,
    pub name: String,
    pub total: HitCounts,
    pub ingress: BTreeMap<i32, HitCounts>,
    pub egress: BTreeMap<i32, HitCounts>,
}

impl PolicyMetrics {
    /// The rules of one direction that were hit, by index.
    pub fn rules(&self, direction: RuleDirection) -> &BTreeMap<i32, HitCounts> {
        match direction {
            RuleDirection::Ingress => &self.ingress,
            RuleDirection::Egress => &self.egress,
        }
    }

    /// The hits of rule `index` of `direction` (-1: the end of the tier); zero when none.
    pub fn rule(&self, direction: RuleDirection, index: i32) -> HitCounts {
        self.rules(direction)
            .get(&index)
            .copied()
            .unwrap_or_default()
    }
}

/// What [`Store::append`](crate::Store::append) made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AppendReceipt {
    pub records: usize,
    /// Record ids `first_record_id .. first_record_id + records`.
    pub first_record_id: u64,
    /// The write-ahead-log sequence number of the batch (0 for stores without one).
    pub sequence: u64,
}

/// How much of an input (a file) is stored. A mark is stored with the rows read up to it,
/// in the same durable step, so reading the input again resumes right after what is stored:
/// nothing twice after a crash or a restart, nothing skipped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMark {
    /// The input's name (a file's absolute path).
    pub input: String,
    /// The file read, by device and inode: another file under the same name starts afresh.
    pub device: u64,
    pub inode: u64,
    /// Bytes from the start of the file up to the end of the last line stored.
    pub offset: u64,
    /// Lines up to `offset`, so that the lines read next are numbered on.
    pub lines: u64,
}

/// Adds `marks` to `into`, each replacing an earlier mark of the same input.
pub(crate) fn merge_marks(into: &mut Vec<ReadMark>, marks: impl IntoIterator<Item = ReadMark>) {
    for mark in marks {
        match into.iter_mut().find(|m| m.input == mark.input) {
            Some(old) => *old = mark,
            None => into.push(mark),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StoreStats {
    /// Records in Parquet files plus those buffered in memory.
    pub records: u64,
    pub buffered_records: u64,
    pub files: usize,
    /// Bytes of Parquet files.
    pub bytes_on_disk: u64,
    /// Bytes of write-ahead log not yet flushed to Parquet.
    pub wal_bytes: u64,
    /// Files found corrupt and moved aside.
    pub quarantined: Vec<PathBuf>,
    /// Bytes the query engine's operators hold now, where the store measures it.
    pub query_memory_bytes: Option<u64>,
}

/// What a retention pass removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub files_removed: usize,
    pub files_rewritten: usize,
    pub records_removed: u64,
    pub bytes_freed: u64,
}

/// What a compaction pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct CompactionReport {
    pub files_in: usize,
    pub files_out: usize,
    pub records: u64,
    /// Files given the rollups they lacked or had older ones of (written by an older
    /// version, or when writing them failed).
    pub rollups_added: usize,
}

impl std::fmt::Display for CompactionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files merged into {} ({} records); rollups written for {} files",
            self.files_in, self.files_out, self.records, self.rollups_added
        )
    }
}

impl std::fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} files removed, {} rewritten, {} records and {} bytes dropped",
            self.files_removed, self.files_rewritten, self.records_removed, self.bytes_freed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_ends_with_now_included() {
        let r = TimeRange::since(Duration::from_secs(900), 10_000);
        assert_eq!((r.from, r.to), (9_101, 10_001));
        assert!(r.contains(10_000) && r.contains(9_101) && !r.contains(9_100));
        assert!(TimeRange::all().is_all());
        assert!(r.overlaps(10_000, 20_000) && !r.overlaps(10_001, 20_000) && r.overlaps(0, 9_101));
        assert_eq!(TimeRange::since(Duration::MAX, 5).from, i64::MIN + 7);
    }
}
