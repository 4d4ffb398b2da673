//! Holding an observer's verdicts against the engine's. A source such as Hubble reports what
//! its datapath did with each flow and which policies it credits; the loop attributes the same
//! record with the engine and counts where the two agree and where they disagree. A
//! disagreement where the observer named a policy kind the engine does not model (a
//! CiliumNetworkPolicy) is counted as such: explained, not guessed at.

use flowlens_model::{Action, PolicyHitFormat, RawFlow, Reporter};
use flowlens_pipeline::{Attributed, Attributor};
use flowlens_policy::{Engine, PeerAttribution};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// A raw record with what the observer that saw it said about policy.
#[derive(Clone, Debug, PartialEq)]
pub struct ObservedRecord {
    /// `reporter` names the observing end; a record without one is attributed but not
    /// compared (the observer's verdict belongs to one end).
    pub raw: RawFlow,
    pub observer: ObserverVerdict,
}

/// What an observer says policy did with a flow at the observing end.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObserverVerdict {
    /// `None` when its verdict says nothing about policy (a drop for another reason, an
    /// unknown verdict): such records are attributed but not compared. A policy in audit
    /// mode that would have denied counts as a denial.
    pub action: Option<Action>,
    /// The policies it credits, as it names them (`CiliumNetworkPolicy default/rule1`).
    pub policies: Vec<String>,
    /// Whether one of those is of a kind the engine does not model.
    pub unmodelled: bool,
}

/// One record where the observer and the engine disagree, as `/api/sources` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct Disagreement {
    pub end_time: i64,
    /// The ends by name (`namespace/pod`) where the engine knows them, by address otherwise.
    pub source: String,
    pub dest: String,
    pub dest_port: u16,
    pub protocol: String,
    pub reporter: Reporter,
    pub observer_action: Action,
    pub observer_policies: Vec<String>,
    pub engine_action: Action,
    /// The engine's enforced trace (Calico hit strings): the rule that decided.
    pub engine_policies: Vec<String>,
    /// The observer credited a policy kind the engine does not model.
    pub unmodelled: bool,
}

/// How many disagreements a source keeps to show.
pub(crate) const RECENT: usize = 20;

/// A source's comparison figures, updated by the loop.
#[derive(Debug, Default)]
pub struct VerdictCounters {
    compared: AtomicU64,
    disagreed: AtomicU64,
    unmodelled: AtomicU64,
    recent: Mutex<VecDeque<Disagreement>>,
}

impl VerdictCounters {
    pub(crate) fn agree(&self) {
        self.compared.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a disagreement; `unmodelled`: the observer credited a policy kind the engine
    /// does not model.
    pub(crate) fn disagree(&self, unmodelled: bool) {
        self.compared.fetch_add(1, Ordering::Relaxed);
        self.disagreed.fetch_add(1, Ordering::Relaxed);
        if unmodelled {
            self.unmodelled.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps `d` among the latest disagreements shown.
    pub(crate) fn keep(&self, d: Disagreement) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == RECENT {
            recent.pop_front();
        }
        recent.push_back(d);
    }

    /// `None` until the source has delivered a record to compare.
    pub fn comparison(&self) -> Option<VerdictComparison> {
        let compared = self.compared.load(Ordering::Relaxed);
        (compared > 0).then(|| VerdictComparison {
            compared,
            disagreed: self.disagreed.load(Ordering::Relaxed),
            unmodelled: self.unmodelled.load(Ordering::Relaxed),
            recent: self
                .recent
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .rev()
                .cloned()
                .collect(),
        })
    }
}

/// How a source's verdicts compare with the engine's.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VerdictComparison {
    /// Records compared (the observer's verdict was about policy and the engine attributed
    /// the observing end).
    pub compared: u64,
    pub disagreed: u64,
    /// Of the disagreements, those where the observer credited a policy kind the engine
    /// does not model.
    pub unmodelled: u64,
    /// The latest disagreements, newest first.
    pub recent: Vec<Disagreement>,
}

/// How a record's observer verdict compares with the engine's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compared {
    /// Nothing to compare: the observer's verdict is not about policy, or the engine did not
    /// attribute the observing end.
    Not,
    Agree,
    Disagree,
}

/// Holds `record`'s observer verdict against the engine's at the observing end
/// (`attributed`, what the loop made of it). Counts agreements; a disagreement is counted
/// by the caller, who spells out only those it keeps ([`disagreement`]).
pub(crate) fn compare(
    engine: &Arc<Engine>,
    record: &ObservedRecord,
    attributed: &[Attributed],
) -> Compared {
    let mut at_source = Vec::new();
    match engine_verdict(engine, record, attributed, &mut at_source) {
        None => Compared::Not,
        Some((ours, observer_action)) if ours.action == observer_action => Compared::Agree,
        Some(_) => Compared::Disagree,
    }
}

/// The engine's attribution at the observing end, and the observer's action, when there is
/// something to compare.
fn engine_verdict<'a>(
    engine: &Arc<Engine>,
    record: &ObservedRecord,
    attributed: &'a [Attributed],
    at_source: &'a mut Vec<Attributed>,
) -> Option<(&'a Attributed, Action)> {
    let (Some(observer_action), Some(reporter)) = (record.observer.action, record.raw.reporter)
    else {
        return None;
    };
    // A flow the engine denies at its source never reaches its destination, so the
    // destination's record has no attribution: an observation there is held against the
    // source's verdict.
    match attributed.iter().find(|a| a.reporter == reporter) {
        Some(ours) => Some((ours, observer_action)),
        None if reporter == Reporter::Dst => {
            let from_source = RawFlow {
                reporter: Some(Reporter::Src),
                ..record.raw.clone()
            };
            Attributor::new(Arc::clone(engine))
                .attribute(&from_source, at_source)
                .ok()?;
            let denied = at_source.iter().find(|a| a.action == Action::Deny)?;
            Some((denied, observer_action))
        }
        None => None,
    }
}

/// A disagreement spelled out for `/api/sources`: `record` attributed again (the engine is
/// deterministic), so that only the disagreements kept are spelled, not every one.
pub(crate) fn disagreement(engine: &Arc<Engine>, record: &ObservedRecord) -> Option<Disagreement> {
    let mut attributed = Vec::new();
    Attributor::new(Arc::clone(engine))
        .attribute(&record.raw, &mut attributed)
        .ok()?;
    let mut at_source = Vec::new();
    let (ours, observer_action) = engine_verdict(engine, record, &attributed, &mut at_source)?;
    if ours.action == observer_action {
        return None;
    }
    let name = |peer, ip: std::net::IpAddr| match engine.attribute(peer) {
        PeerAttribution {
            namespace: Some(ns),
            name,
            ..
        } => format!("{ns}/{name}"),
        _ => ip.to_string(),
    };
    Some(Disagreement {
        end_time: record.raw.end_time,
        source: name(&ours.src, record.raw.src_ip),
        dest: name(&ours.dst, record.raw.dst_ip),
        dest_port: ours.dst_port,
        protocol: ours.proto.to_string(),
        reporter: record.raw.reporter.unwrap_or(ours.reporter),
        observer_action,
        observer_policies: record.observer.policies.clone(),
        engine_action: ours.action,
        engine_policies: engine.hit_strings(&ours.enforced, PolicyHitFormat::Calico),
        unmodelled: record.observer.unmodelled,
    })
}
