//! Running a scenario over time: the generator plus its timed steps, and a clock that maps
//! wall time to simulated time at some speed.

use crate::error::Result;
use crate::generator::Generator;
use crate::scenario::Scenario;
use flowlens_model::{Inventory, RawFlow};
use std::sync::Arc;
use std::time::Instant;

/// A step that took effect.
#[derive(Clone, Debug)]
pub struct AppliedStep {
    pub name: String,
    /// Simulated unix seconds.
    pub time: i64,
    /// The inventory from now on: rebuild the policy engine from it.
    pub inventory: Arc<Inventory>,
    /// Traffic stopped because what it named was deleted, resources replaced, …
    pub warnings: Vec<String>,
}

/// What a simulation produced, in time order.
#[derive(Clone, Debug)]
pub enum SimEvent {
    Flows(Vec<RawFlow>),
    Step(AppliedStep),
}

/// A scenario, its generator and its timed steps, which apply themselves when the clock
/// reaches their `at`. Manual steps are applied with [`Simulation::trigger`].
pub struct Simulation {
    scenario: Scenario,
    generator: Generator,
    /// Timed steps not applied yet: (seconds since the start, name), earliest first.
    pending: Vec<(f64, String)>,
}

impl Simulation {
    pub fn new(scenario: Scenario, seed: u64, start_time: i64) -> Simulation {
        let generator = Generator::new(&scenario, seed, start_time);
        let mut pending: Vec<(f64, String)> = scenario
            .steps()
            .iter()
            .filter_map(|s| Some((s.at?, s.name.clone())))
            .filter(|(_, name)| !scenario.is_applied(name))
            .collect();
        pending.sort_by(|a, b| a.0.total_cmp(&b.0));
        Simulation {
            scenario,
            generator,
            pending,
        }
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn generator(&self) -> &Generator {
        &self.generator
    }

    pub fn inventory(&self) -> Arc<Inventory> {
        self.scenario.inventory().clone()
    }

    /// Moves `seconds` forward. Flows before a timed step come before the step's event, so
    /// each batch of flows belongs to exactly one inventory.
    pub fn advance(&mut self, seconds: f64) -> Result<Vec<SimEvent>> {
        let until = self.generator.elapsed() + seconds.max(0.0);
        let mut events = Vec::new();
        while let Some((at, _)) = self.pending.first() {
            if *at > until {
                break;
            }
            let (at, name) = self.pending.remove(0);
            let flows = self
                .generator
                .advance((at - self.generator.elapsed()).max(0.0));
            if !flows.is_empty() {
                events.push(SimEvent::Flows(flows));
            }
            events.push(SimEvent::Step(self.apply(&name)?));
        }
        let flows = self.generator.advance(until - self.generator.elapsed());
        if !flows.is_empty() {
            events.push(SimEvent::Flows(flows));
        }
        Ok(events)
    }

    /// Applies a step now (manual ones, or a timed one ahead of its time).
    pub fn trigger(&mut self, step: &str) -> Result<AppliedStep> {
        self.pending.retain(|(_, name)| name != step);
        self.apply(step)
    }

    fn apply(&mut self, step: &str) -> Result<AppliedStep> {
        let warnings_before = self.scenario.warnings().len();
        let inventory = self.scenario.apply_step(step)?;
        self.generator.set_scenario(&self.scenario);
        Ok(AppliedStep {
            name: step.to_owned(),
            time: self.generator.now().floor() as i64,
            inventory,
            warnings: self.scenario.warnings()[warnings_before..].to_vec(),
        })
    }
}

/// Simulated time running `speed` times as fast as the wall clock, from a simulated start.
#[derive(Clone, Copy, Debug)]
pub struct SimClock {
    wall_origin: Instant,
    sim_origin: f64,
    speed: f64,
}

impl SimClock {
    /// `speed` 1 is real time, 60 a simulated minute per second. Non-positive or non-finite
    /// speeds count as 1.
    pub fn new(sim_start: f64, speed: f64) -> SimClock {
        let speed = if speed.is_finite() && speed > 0.0 {
            speed
        } else {
            1.0
        };
        SimClock {
            wall_origin: Instant::now(),
            sim_origin: sim_start,
            speed,
        }
    }

    /// The simulated time now (unix seconds), for [`Generator::advance_until`].
    pub fn now(&self) -> f64 {
        self.at(Instant::now())
    }

    /// The simulated time at a wall-clock instant.
    pub fn at(&self, wall: Instant) -> f64 {
        self.sim_origin
            + wall
                .saturating_duration_since(self.wall_origin)
                .as_secs_f64()
                * self.speed
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }
}
