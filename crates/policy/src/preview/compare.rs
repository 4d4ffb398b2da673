//! The comparison: stored tuples merged across reporters, each one the change can touch
//! evaluated with both engines, and the differences grouped and counted.

use super::ends::{EndpointIndex, Side, resolve_side};
use super::reach::{Affected, may_apply};
use super::uncertainty::{Outcome, evaluate_side_pairs};
use super::{Change, ChangeKind, Compared, Operation, Preview, PreviewError, Summary};
use crate::engine::Engine;
use crate::verdict::{Action, DirectionVerdict, FlowVerdict};
use flowlens_model::{FlowEnd, FlowTuple, Policy, PolicyId, Protocol, Reporter};
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// The direction whose verdict to show: the first that differs, else the one that denies.
fn shown_direction(
    before: Option<&FlowVerdict>,
    after: Option<&FlowVerdict>,
    pending: bool,
) -> bool {
    let dirs = |v: Option<&FlowVerdict>| -> [Option<Action>; 2] {
        let Some(v) = v else { return [None, None] };
        let (e, i) = if pending {
            (&v.pending.egress, &v.pending.ingress)
        } else {
            (&v.egress, &v.ingress)
        };
        [e.as_ref().map(|d| d.action), i.as_ref().map(|d| d.action)]
    };
    let (b, a) = (dirs(before), dirs(after));
    if b[0] != a[0] {
        return false;
    }
    if b[1] != a[1] {
        return true;
    }
    // The same in both: the denying direction, else egress when there is one.
    if b[0] == Some(Action::Deny) {
        return false;
    }
    b[1] == Some(Action::Deny) || b[0].is_none()
}

fn deciding_hit(
    engine: &Engine,
    v: Option<&FlowVerdict>,
    pending: bool,
    ingress: bool,
) -> Option<String> {
    let v = v?;
    let d: &DirectionVerdict = match (pending, ingress) {
        (false, false) => v.egress.as_ref()?,
        (false, true) => v.ingress.as_ref()?,
        (true, false) => v.pending.egress.as_ref()?,
        (true, true) => v.pending.ingress.as_ref()?,
    };
    let last = d.hits.len().checked_sub(1)?;
    Some(engine.policy_hit(&d.hits[last], last).to_string())
}

/// Both reporters' records of one tuple.
#[derive(Default)]
struct Merged {
    flow_logs: u64,
    src_flows: u64,
    dst_flows: u64,
    stored_deny: bool,
}

impl Merged {
    fn num_flows(&self) -> u64 {
        self.src_flows.max(self.dst_flows)
    }
}

#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct ChangeKey {
    change: ChangeKind,
    source_namespace: Option<String>,
    source_name_aggr: String,
    dest_namespace: Option<String>,
    dest_name_aggr: String,
    proto: String,
    dest_port: Option<u16>,
    before: Option<String>,
    after: Option<String>,
    before_action: Option<Action>,
    after_action: Option<Action>,
    reason: Option<String>,
}

/// Re-evaluates the stored tuples with the current (`before`) and the draft (`after`)
/// engines and reports what changes. See the module documentation.
pub fn preview(
    before: &Engine,
    after: &Engine,
    changed: &PolicyId,
    tuples: &[FlowTuple],
) -> Result<Preview, PreviewError> {
    let (bi, ai) = (
        before.inventory().policy_index(changed),
        after.inventory().policy_index(changed),
    );
    let operation = match (bi, ai) {
        (None, None) => return Err(PreviewError::UnknownPolicy(changed.clone())),
        (None, Some(_)) => Operation::Create,
        (Some(_), Some(_)) => Operation::Replace,
        (Some(_), None) => Operation::Delete,
    };
    let (bi_inv, ai_inv) = (&before.inventory(), &after.inventory());
    if bi_inv.endpoints != ai_inv.endpoints
        || bi_inv.network_sets != ai_inv.network_sets
        || bi_inv.namespaces != ai_inv.namespaces
    {
        return Err(PreviewError::InventoriesDiffer);
    }
    let staged = bi.is_some_and(|i| bi_inv.policies[i].kind.is_staged())
        || ai.is_some_and(|i| ai_inv.policies[i].kind.is_staged());
    let compared = if staged {
        Compared::Pending
    } else {
        Compared::Enforced
    };
    let pending = compared == Compared::Pending;
    let versions: Vec<&Policy> = bi
        .map(|i| &bi_inv.policies[i])
        .into_iter()
        .chain(ai.map(|i| &ai_inv.policies[i]))
        .collect();

    // Reporters merged: one entry per (source, destination, protocol).
    let mut merged: FxHashMap<(&FlowEnd, &FlowEnd, Protocol), (usize, Merged)> =
        FxHashMap::default();
    for (i, t) in tuples.iter().enumerate() {
        let (_, m) = merged
            .entry((&t.source, &t.dest, t.proto))
            .or_insert_with(|| (i, Merged::default()));
        m.flow_logs += t.flow_logs;
        match t.reporter {
            Reporter::Src => m.src_flows += t.num_flows,
            Reporter::Dst => m.dst_flows += t.num_flows,
        }
        m.stored_deny |= t.action == Action::Deny;
    }

    let index = EndpointIndex::new(before);
    let affected_before = Affected::new(before, bi, compared);
    let affected_after = Affected::new(after, ai, compared);
    let applies = |ep: u32, ingress: bool| {
        affected_before.applies(before, ep, ingress) || affected_after.applies(after, ep, ingress)
    };

    let mut out = Preview {
        window: None,
        policy: changed.clone(),
        operation,
        compared,
        tuples: merged.len(),
        evaluated_tuples: 0,
        flow_logs: 0,
        num_flows: 0,
        summary: Summary::default(),
        summary_num_flows: Summary::default(),
        stored_mismatch_flow_logs: 0,
        changes: Vec::new(),
    };
    let mut groups: BTreeMap<ChangeKey, (u64, u64)> = BTreeMap::new();
    for ((source, dest, _), (first, m)) in &merged {
        let tuple = &tuples[*first];
        let num_flows = m.num_flows();
        out.flow_logs += m.flow_logs;
        out.num_flows += num_flows;
        let src = resolve_side(before, &index, source);
        let dst = resolve_side(before, &index, dest);
        let relevant = |side: &Side, end: &FlowEnd, ingress: bool| match &side.problem {
            Some(_) => versions.iter().any(|p| may_apply(p, end, ingress)),
            None => side.endpoints.iter().any(|&ep| applies(ep, ingress)),
        };
        if !relevant(&src, source, false) && !relevant(&dst, dest, true) {
            out.summary.add(None, m.flow_logs);
            out.summary_num_flows.add(None, num_flows);
            continue;
        }
        out.evaluated_tuples += 1;
        let key = |change, b: &Outcome, a: &Outcome, reason: Option<String>| {
            let ingress = shown_direction(b.verdict.as_ref(), a.verdict.as_ref(), pending);
            ChangeKey {
                change,
                source_namespace: source.namespace.clone(),
                source_name_aggr: source.name_aggr.clone(),
                dest_namespace: dest.namespace.clone(),
                dest_name_aggr: dest.name_aggr.clone(),
                proto: tuple.proto.flow_log_name().into_owned(),
                dest_port: dest.port,
                before: deciding_hit(before, b.verdict.as_ref(), pending, ingress),
                after: deciding_hit(after, a.verdict.as_ref(), pending, ingress),
                before_action: b.action,
                after_action: a.action,
                reason,
            }
        };
        let problem = src.problem.clone().or_else(|| dst.problem.clone());
        let (kind, change_key) = match problem {
            Some(reason) => {
                let none = || Outcome {
                    action: None,
                    verdict: None,
                    reason: None,
                };
                (
                    Some(ChangeKind::Uncertain),
                    Some(key(ChangeKind::Uncertain, &none(), &none(), Some(reason))),
                )
            }
            None => {
                let b = evaluate_side_pairs(before, &src, &dst, tuple, compared);
                let a = evaluate_side_pairs(after, &src, &dst, tuple, compared);
                let stored = if m.stored_deny {
                    Action::Deny
                } else {
                    Action::Allow
                };
                if b.reason.is_none() && !pending && b.action != Some(stored) {
                    out.stored_mismatch_flow_logs += m.flow_logs;
                }
                let reason = b
                    .reason
                    .clone()
                    .map(|r| format!("today: {r}"))
                    .or_else(|| a.reason.clone().map(|r| format!("draft: {r}")));
                let kind = match (reason.is_some(), b.action, a.action) {
                    (true, _, _) => Some(ChangeKind::Uncertain),
                    (false, Some(Action::Allow), Some(Action::Deny)) => {
                        Some(ChangeKind::AllowToDeny)
                    }
                    (false, Some(Action::Deny), Some(Action::Allow)) => {
                        Some(ChangeKind::DenyToAllow)
                    }
                    _ => None,
                };
                (kind, kind.map(|k| key(k, &b, &a, reason)))
            }
        };
        out.summary.add(kind, m.flow_logs);
        out.summary_num_flows.add(kind, num_flows);
        if let Some(k) = change_key {
            let g = groups.entry(k).or_default();
            g.0 += m.flow_logs;
            g.1 += num_flows;
        }
    }
    out.changes = groups
        .into_iter()
        .map(|(k, (flow_logs, num_flows))| Change {
            change: k.change,
            source_namespace: k.source_namespace,
            source_name_aggr: k.source_name_aggr,
            dest_namespace: k.dest_namespace,
            dest_name_aggr: k.dest_name_aggr,
            proto: k.proto,
            dest_port: k.dest_port,
            flow_logs,
            num_flows,
            before: k.before,
            after: k.after,
            before_action: k.before_action,
            after_action: k.after_action,
            reason: k.reason,
        })
        .collect();
    out.changes
        .sort_by(|a, b| b.num_flows.cmp(&a.num_flows).then(a.change.cmp(&b.change)));
    Ok(out)
}
