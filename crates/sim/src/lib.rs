//! Flowlens traffic scenarios and the raw-flow generator.
//!
//! A scenario is a set of Kubernetes and Calico manifests, a traffic model (who connects to
//! whom, on which ports, how often, how much) and optional steps (at a time, or on demand:
//! apply manifests, delete resources, start and stop traffic). Scenarios live as data in
//! `scenarios/<name>/scenario.yaml` (format: `scenarios/README.md`); `scale` is generated
//! in code at any size.
//!
//! The [`Generator`] turns a scenario into [`RawFlow`](flowlens_model::RawFlow)s, raw
//! 5-tuples with counters, in time order on a simulated clock, deterministically for a
//! seed. It resolves names to addresses only: a Service is addressed by its cluster IP, as a
//! real client would, and enrichment, DNAT and policy verdicts happen later in the pipeline,
//! as for any real flow source. There is no I/O in the generator; [`JsonLinesWriter`]
//! writes records in the raw-record file format, and [`ReplaySource`] and [`LiveScenario`]
//! feed them to the ingest loop like any other source.
//!
//! ```no_run
//! # fn main() -> Result<(), flowlens_sim::Error> {
//! use flowlens_sim::{Generator, Scenario};
//! let mut scenario = Scenario::builtin("storefront")?;
//! let mut generator = Generator::new(&scenario, 7, 1_700_000_000);
//! let flows = generator.advance(60.0); // one simulated minute
//! let inventory = scenario.apply_step("rogue")?; // the caller rebuilds its engine
//! generator.set_scenario(&scenario);
//! let probes = generator.advance(60.0);
//! # Ok(()) }
//! ```

mod builtin;
mod compile;
mod error;
mod files;
mod generator;
pub mod hosts;
mod index;
mod jsonl;
mod peer;
mod scale;
mod scenario;
mod simulation;
mod source;
mod spec;
mod units;

pub use builtin::{SCALE, SCENARIOS_ENV, list_builtin, list_in, scenarios_dir};
pub use error::{Error, Result, ScenarioError, ScenarioErrors};
pub use generator::{EPHEMERAL_PORTS, EntryStats, Generator, MSS};
pub use jsonl::{JsonLinesWriter, to_json_line};
pub use peer::PeerRef;
pub use scale::ScaleParams;
pub use scenario::{SCENARIO_FILE, Scenario};
pub use simulation::{AppliedStep, SimClock, SimEvent, Simulation};
pub use source::{
    InstallStep, LiveOptions, LiveScenario, ReplaySource, ScenarioHandle, ScenarioStatus,
    StepApplied, StepStatus,
};
pub use spec::{DeleteRef, Origin, Pick, ScenarioSpec, StepSpec, TrafficSpec, parse_scenario};
pub use units::{Jittered, PortItem, Scalar};
