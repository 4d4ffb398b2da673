//! The scenario feed behind `flowlens demo`: a simulation generates raw flow records in
//! (sped-up) real time, and they go through the same pipeline as any other source —
//! enrichment, the policy engine, aggregation — into the store, then out to live views.
//!
//! The feed runs on its own thread (generation and attribution are CPU work) and takes
//! commands from request handlers: apply a scenario step, switch to a new engine.

use crate::state::{AppState, LiveBatch};
use flowlens_model::FlowLog;
use flowlens_pipeline::{AggregationConfig, Ingest};
use flowlens_policy::Engine;
use flowlens_sim::{SimClock, SimEvent, Simulation};
use serde::Serialize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;

#[derive(Clone, Debug)]
pub struct FeedOptions {
    pub seed: u64,
    /// Simulated seconds per wall-clock second.
    pub speed: f64,
    /// History generated at start-up, ending now, so that the views are not empty.
    pub backfill: Duration,
    /// How often the feed wakes to generate and store.
    pub tick: Duration,
}

impl Default for FeedOptions {
    fn default() -> Self {
        FeedOptions {
            seed: 1,
            speed: 1.0,
            backfill: Duration::from_secs(3600),
            tick: Duration::from_millis(250),
        }
    }
}

/// What the scenario looks like now, for `/api/scenario`.
#[derive(Clone, Debug, Serialize)]
pub struct ScenarioInfo {
    pub name: String,
    pub description: String,
    pub steps: Vec<StepInfo>,
    pub speed: f64,
    pub seed: u64,
    /// Raw records generated so far.
    pub records: u64,
    /// Flow logs stored so far.
    pub flow_logs: u64,
    /// The simulated time reached (unix seconds).
    pub time: i64,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepInfo {
    pub name: String,
    pub description: String,
    /// Seconds after the start for timed steps.
    pub at: Option<f64>,
    pub applied: bool,
    /// When it was applied (simulated unix seconds).
    pub applied_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepOutcome {
    pub applied: String,
    pub time: i64,
    pub warnings: Vec<String>,
}

enum Command {
    ApplyStep(String, oneshot::Sender<Result<StepOutcome, String>>),
    SetEngine(Arc<Engine>),
}

/// The running feed, as request handlers see it.
pub struct FeedHandle {
    commands: Mutex<mpsc::Sender<Command>>,
    info: Arc<Mutex<ScenarioInfo>>,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl FeedHandle {
    pub fn info(&self) -> ScenarioInfo {
        self.info.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Applies a step now; answers once flows from before it are stored.
    pub async fn apply_step(&self, name: &str) -> Result<StepOutcome, String> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::ApplyStep(name.to_string(), tx))?;
        rx.await
            .map_err(|_| "the scenario feed has stopped".to_string())?
    }

    /// Attributes flows with `engine` from now on (after a policy was saved).
    pub fn set_engine(&self, engine: Arc<Engine>) {
        let _ = self.send(Command::SetEngine(engine));
    }

    fn send(&self, command: Command) -> Result<(), String> {
        self.commands
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(command)
            .map_err(|_| "the scenario feed has stopped".to_string())
    }

    /// Stops generating, stores what is still being aggregated and waits for the thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = thread
            && t.join().is_err()
        {
            tracing::error!("the scenario feed panicked");
        }
    }
}

/// Starts the feed for `simulation` (its inventory must be the one `state` was built with)
/// and registers it with `state`. Must be called inside a Tokio runtime.
pub fn start(
    state: &AppState,
    simulation: Simulation,
    options: FeedOptions,
) -> std::io::Result<()> {
    let scenario = simulation.scenario();
    let info = Arc::new(Mutex::new(ScenarioInfo {
        name: scenario.name().to_string(),
        description: scenario.description().to_string(),
        steps: scenario
            .steps()
            .iter()
            .map(|s| StepInfo {
                name: s.name.clone(),
                description: s.description.clone(),
                at: s.at,
                applied: scenario.is_applied(&s.name),
                applied_at: None,
            })
            .collect(),
        speed: options.speed,
        seed: options.seed,
        records: 0,
        flow_logs: 0,
        time: simulation.generator().now() as i64,
    }));
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let runtime = tokio::runtime::Handle::current();
    let mut feed = Feed {
        state: state.clone(),
        ingest: Ingest::new(state.world().engine.clone(), AggregationConfig::default()),
        simulation,
        info: info.clone(),
        runtime,
        options,
    };
    let thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("scenario-feed".into())
            .spawn(move || feed.run(&rx, &stop))?
    };
    state.set_feed(FeedHandle {
        commands: Mutex::new(tx),
        info,
        stop,
        thread: Mutex::new(Some(thread)),
    });
    Ok(())
}

struct Feed {
    state: AppState,
    ingest: Ingest,
    simulation: Simulation,
    info: Arc<Mutex<ScenarioInfo>>,
    runtime: tokio::runtime::Handle,
    options: FeedOptions,
}

impl Feed {
    fn run(&mut self, commands: &mpsc::Receiver<Command>, stop: &AtomicBool) {
        self.backfill(stop);
        let clock = SimClock::new(self.simulation.generator().now(), self.options.speed);
        while !stop.load(Ordering::Relaxed) {
            while let Ok(command) = commands.try_recv() {
                self.handle(command);
            }
            let target = clock.now();
            let behind = target - self.simulation.generator().now();
            if behind > 0.0 {
                self.advance(behind);
            }
            self.store_closed(target as i64);
            std::thread::sleep(self.options.tick);
        }
        let rest = self.ingest.finish();
        self.store(rest);
        if let Err(e) = self.runtime.block_on(self.state.store().flush()) {
            tracing::error!("flushing the store on stop: {e}");
        }
    }

    /// Generates the history that ends now, a simulated minute at a time.
    fn backfill(&mut self, stop: &AtomicBool) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        while !stop.load(Ordering::Relaxed) {
            let behind = now - self.simulation.generator().now();
            if behind <= 0.0 {
                break;
            }
            self.advance(behind.min(60.0));
            let t = self.simulation.generator().now() as i64;
            self.store_closed(t);
        }
    }

    fn advance(&mut self, seconds: f64) {
        let events = match self.simulation.advance(seconds) {
            Ok(events) => events,
            Err(e) => {
                tracing::error!("scenario: {e}");
                return;
            }
        };
        for event in events {
            match event {
                SimEvent::Flows(flows) => self.ingest_raw(&flows),
                SimEvent::Step(step) => {
                    let outcome = self.install_step(step);
                    tracing::info!("scenario step {} applied", outcome.applied);
                }
            }
        }
        let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
        info.records = self.simulation.generator().emitted();
        info.time = self.simulation.generator().now() as i64;
    }

    fn ingest_raw(&mut self, flows: &[flowlens_model::RawFlow]) {
        for (i, raw) in flows.iter().enumerate() {
            self.ingest.raw("scenario", i + 1, raw);
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::ApplyStep(name, reply) => {
                let result = self
                    .simulation
                    .trigger(&name)
                    .map(|step| self.install_step(step))
                    .map_err(|e| e.to_string());
                let _ = reply.send(result);
            }
            Command::SetEngine(engine) => {
                let flushed = self.ingest.set_engine(engine);
                self.store(flushed);
            }
        }
    }

    /// Makes a step's inventory current: flows aggregated so far are stored as attributed
    /// under the old one, later flows under the new one.
    fn install_step(&mut self, step: flowlens_sim::AppliedStep) -> StepOutcome {
        let world = self.state.install(self.state.with_edits(step.inventory));
        let flushed = self.ingest.set_engine(world.engine.clone());
        self.store(flushed);
        let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = info.steps.iter_mut().find(|s| s.name == step.name) {
            s.applied = true;
            s.applied_at = Some(step.time);
        }
        StepOutcome {
            applied: step.name,
            time: step.time,
            warnings: step.warnings,
        }
    }

    fn store_closed(&mut self, now: i64) {
        let closed = self.ingest.flush_until(now);
        self.store(closed);
    }

    fn store(&mut self, logs: Vec<FlowLog>) {
        if logs.is_empty() {
            return;
        }
        let n = logs.len() as u64;
        let store = self.state.store().clone();
        let newest = logs.iter().map(|l| l.end_time).max().unwrap_or(i64::MIN);
        // The store takes the batch; live views get a copy only when someone is watching.
        let live = self.state.has_subscribers().then(|| logs.clone());
        match self.runtime.block_on(store.append(logs)) {
            Ok(receipt) => {
                self.info
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .flow_logs += n;
                self.state.note_newest(newest);
                if let Some(logs) = live {
                    self.state.publish(LiveBatch {
                        first_record_id: Some(receipt.first_record_id),
                        logs,
                    });
                }
            }
            Err(e) => tracing::error!("storing {n} flow logs: {e}"),
        }
    }
}
