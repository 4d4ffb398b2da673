//! The Flowlens policy engine: decides, exactly as Calico's Felix would, whether a flow is
//! allowed, and says which tier, policy and rule decided it.
//!
//! It understands Calico tiers, NetworkPolicy, GlobalNetworkPolicy, the staged kinds,
//! NetworkSets and HostEndpoints, and Kubernetes NetworkPolicy and (Baseline)AdminNetworkPolicy
//! once the loader has converted them into Calico's shape, as Calico does.
//!
//! Like Felix, the engine does the selector work when the inventory changes, not per flow:
//! [`Engine::new`] compiles every rule selector into a set of endpoints and works out, for
//! every endpoint and direction, which tiers and policies apply. Evaluating a flow is then a
//! walk over a short plan with set lookups, and decisions are cached per
//! (source, destination, protocol, ports). When only endpoints change (pods come, go or are
//! relabelled), [`Engine::with_changed_endpoints`] works out just what they touch.
//!
//! [`reachability`] asks the engine which workloads may reach which, exact per port interval.
//!
//! Every verdict comes from one evaluator; [`Engine::explain`] runs the same evaluator with a
//! recorder attached, so `explain`, flow logs and the UI never disagree.

mod board;
mod cache;
mod compile;
mod compiled;
mod describe;
mod engine;
mod eval;
mod host_network;
mod peer;
pub mod preview;
pub mod reachability;
pub mod reference;
pub mod render;
mod resolve;
mod sets;
mod trace;
mod update;
mod verdict;

pub use board::{RuleTexts, rule_texts};
pub use describe::{describe_entity, describe_rule, format_labels};
pub use engine::{Engine, EngineHistory, EngineStats, ServiceBackend};
pub use peer::{
    FiveTuple, Peer, PeerAttribution, PeerSpec, PeerSpecError, ServiceTarget, is_private,
};
pub use render::render_explanation;
pub use resolve::{ResolveError, ResolvedFlow};
pub use trace::{Clause, DirectionTrace, Explanation, PeerView, PendingTrace, TraceStep};
pub use verdict::{Action, DirectionVerdict, FlowVerdict, Hit, HitSubject, PendingVerdict};
