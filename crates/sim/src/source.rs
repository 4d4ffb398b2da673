//! Simulated traffic as an ingest source, like any other: [`ReplaySource`] generates a fixed
//! stretch of time as fast as it can (`flowlens simulate --calico`), [`LiveScenario`] runs a
//! scenario in (sped-up) real time after an hour of history (the demo), with its steps
//! applied on time or on demand through a [`ScenarioHandle`].

use crate::generator::Generator;
use crate::simulation::{AppliedStep, SimClock, SimEvent, Simulation};
use flowlens_ingest::{Feed, Input, Pace, Source, SourceError};
use flowlens_policy::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A generator's next `seconds` of traffic, one simulated second at a time, each followed
/// by a watermark at its start: aggregates whose bucket ended by then are closed.
pub struct ReplaySource {
    generator: Generator,
    seconds: i64,
    name: String,
}

impl ReplaySource {
    pub fn new(generator: Generator, seconds: i64, name: impl Into<String>) -> ReplaySource {
        ReplaySource {
            generator,
            seconds,
            name: name.into(),
        }
    }
}

impl Source for ReplaySource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn kind(&self) -> &'static str {
        "simulator"
    }

    fn pace(&self) -> Pace {
        Pace::ReadToEnd
    }

    fn run(mut self: Box<Self>, feed: Feed) -> Result<(), SourceError> {
        let start = self.generator.start_time();
        for second in 0..self.seconds {
            if feed.is_stopping() {
                break;
            }
            let mut records = Vec::new();
            self.generator.advance_into(1.0, &mut records);
            feed.push(Input::Records(records))?;
            feed.push(Input::Watermark(start + second))?;
        }
        Ok(())
    }
}

/// How a live scenario runs.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// History generated first, ending now, so that the views are not empty.
    pub backfill: Duration,
    /// How often the scenario wakes to generate.
    pub tick: Duration,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            speed: 1.0,
            backfill: Duration::from_secs(3600),
            tick: Duration::from_millis(250),
        }
    }
}

/// Makes a step's inventory current wherever it is shown (the server's world) and returns
/// the engine compiled from it, with which the scenario's later traffic is attributed.
pub type InstallStep = Box<dyn FnMut(&AppliedStep) -> Arc<Engine> + Send>;

/// Where a live scenario stands.
#[derive(Clone, Debug)]
pub struct ScenarioStatus {
    pub name: String,
    pub description: String,
    pub steps: Vec<StepStatus>,
    pub speed: f64,
    pub seed: u64,
    /// Raw records generated so far.
    pub records: u64,
    /// The simulated time reached (unix seconds).
    pub time: i64,
}

#[derive(Clone, Debug)]
pub struct StepStatus {
    pub name: String,
    pub description: String,
    /// Seconds after the start for timed steps.
    pub at: Option<f64>,
    pub applied: bool,
    /// When it was applied (simulated unix seconds).
    pub applied_at: Option<i64>,
}

/// A step applied on demand.
#[derive(Clone, Debug)]
pub struct StepApplied {
    pub name: String,
    /// Simulated unix seconds.
    pub time: i64,
    pub warnings: Vec<String>,
}

type StepReply = Sender<Result<StepApplied, String>>;

/// Steers a [`LiveScenario`] from other threads.
pub struct ScenarioHandle {
    commands: Mutex<Sender<StepRequest>>,
    status: Arc<Mutex<ScenarioStatus>>,
    stop: Arc<AtomicBool>,
}

struct StepRequest {
    step: String,
    reply: StepReply,
}

impl ScenarioHandle {
    pub fn status(&self) -> ScenarioStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Applies a step now. The answer comes once the flows from before the step are stored
    /// (or at once with an error when the scenario has stopped).
    pub fn apply_step(&self, step: &str) -> Receiver<Result<StepApplied, String>> {
        let (reply, answer) = std::sync::mpsc::channel();
        let request = StepRequest {
            step: step.to_string(),
            reply: reply.clone(),
        };
        let sent = self
            .commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(request);
        if sent.is_err() {
            let _ = reply.send(Err("the scenario has stopped".to_string()));
        }
        answer
    }

    /// Stops generating; the ingest loop stores what was generated and ends.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// A simulation run live: `backfill` of history as fast as it can be stored, then traffic at
/// `speed` times real time. Timed steps apply when the simulated clock reaches them, manual
/// ones through [`ScenarioHandle::apply_step`]; either way the step's engine is pushed in
/// order with the traffic, so flows before a step are attributed under the inventory before
/// it.
pub struct LiveScenario {
    simulation: Simulation,
    options: LiveOptions,
    install: InstallStep,
    commands: Receiver<StepRequest>,
    status: Arc<Mutex<ScenarioStatus>>,
    stop: Arc<AtomicBool>,
}

impl LiveScenario {
    pub fn new(
        simulation: Simulation,
        options: LiveOptions,
        install: InstallStep,
    ) -> (LiveScenario, ScenarioHandle) {
        let scenario = simulation.scenario();
        let status = Arc::new(Mutex::new(ScenarioStatus {
            name: scenario.name().to_string(),
            description: scenario.description().to_string(),
            steps: scenario
                .steps()
                .iter()
                .map(|s| StepStatus {
                    name: s.name.clone(),
                    description: s.description.clone(),
                    at: s.at,
                    applied: scenario.is_applied(&s.name),
                    applied_at: None,
                })
                .collect(),
            speed: options.speed,
            seed: simulation.generator().seed(),
            records: 0,
            time: simulation.generator().now() as i64,
        }));
        let (tx, commands) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let handle = ScenarioHandle {
            commands: Mutex::new(tx),
            status: status.clone(),
            stop: stop.clone(),
        };
        let source = LiveScenario {
            simulation,
            options,
            install,
            commands,
            status,
            stop,
        };
        (source, handle)
    }

    fn stopping(&self, feed: &Feed) -> bool {
        self.stop.load(Ordering::Relaxed) || feed.is_stopping()
    }

    /// Generates the history up to the moment the backfill starts, a simulated minute at a
    /// time. The end is fixed first: chasing the moving wall clock would never end, as each
    /// round leaves the generator a little behind it again.
    fn backfill(&mut self, feed: &Feed) -> Result<(), SourceError> {
        let end = wall_clock();
        while !self.stopping(feed) {
            let behind = end - self.simulation.generator().now();
            if behind <= 0.0 {
                break;
            }
            self.advance(behind.min(60.0), feed)?;
            feed.push(Input::Watermark(self.simulation.generator().now() as i64))?;
        }
        Ok(())
    }

    fn advance(&mut self, seconds: f64, feed: &Feed) -> Result<(), SourceError> {
        let events = match self.simulation.advance(seconds) {
            Ok(events) => events,
            Err(e) => {
                tracing::error!("scenario: {e}");
                return Ok(());
            }
        };
        for event in events {
            match event {
                SimEvent::Flows(flows) => feed.push(Input::Records(flows))?,
                SimEvent::Step(step) => {
                    self.install_step(&step, feed)?;
                    tracing::info!("scenario step {} applied", step.name);
                }
            }
        }
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.records = self.simulation.generator().emitted();
        status.time = self.simulation.generator().now() as i64;
        Ok(())
    }

    /// Makes a step's inventory current: flows so far are attributed under the old one,
    /// later flows under the new one.
    fn install_step(&mut self, step: &AppliedStep, feed: &Feed) -> Result<(), SourceError> {
        let engine = (self.install)(step);
        feed.push(Input::Engine(engine))?;
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = status.steps.iter_mut().find(|s| s.name == step.name) {
            s.applied = true;
            s.applied_at = Some(step.time);
        }
        Ok(())
    }

    fn apply_now(&mut self, request: StepRequest, feed: &Feed) -> Result<(), SourceError> {
        let step = match self.simulation.trigger(&request.step) {
            Ok(step) => step,
            Err(e) => {
                let _ = request.reply.send(Err(e.to_string()));
                return Ok(());
            }
        };
        self.install_step(&step, feed)?;
        feed.sync()?;
        let _ = request.reply.send(Ok(StepApplied {
            name: step.name,
            time: step.time,
            warnings: step.warnings,
        }));
        Ok(())
    }
}

impl Source for LiveScenario {
    fn name(&self) -> String {
        format!("scenario {}", self.simulation.scenario().name())
    }

    fn kind(&self) -> &'static str {
        "simulator"
    }

    fn pace(&self) -> Pace {
        Pace::Live
    }

    fn run(mut self: Box<Self>, feed: Feed) -> Result<(), SourceError> {
        self.backfill(&feed)?;
        let clock = SimClock::new(self.simulation.generator().now(), self.options.speed);
        while !self.stopping(&feed) {
            while let Ok(request) = self.commands.try_recv() {
                self.apply_now(request, &feed)?;
            }
            let target = clock.now();
            let behind = target - self.simulation.generator().now();
            if behind > 0.0 {
                self.advance(behind, &feed)?;
            }
            feed.push(Input::Watermark(target as i64))?;
            feed.sleep(self.options.tick);
        }
        // Requests that came too late are answered rather than left waiting.
        while let Ok(request) = self.commands.try_recv() {
            let _ = request
                .reply
                .send(Err("the scenario has stopped".to_string()));
        }
        Ok(())
    }
}

fn wall_clock() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}
