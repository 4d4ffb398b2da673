//! The scenario a demo runs, as the API shows and steers it. The server runs no scenario
//! itself: whoever starts the demo implements [`ScenarioControl`] (with the simulator) and
//! registers it with [`AppState::set_scenario`](crate::AppState::set_scenario).

use serde::Serialize;
use std::future::Future;
use std::pin::Pin;

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

/// The answer to a step, once the flows from before it are stored.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<StepOutcome, String>> + Send + 'a>>;

/// A running scenario, as request handlers see it.
pub trait ScenarioControl: Send + Sync {
    fn info(&self) -> ScenarioInfo;

    /// Applies a step now; answers once the flows from before it are stored.
    fn apply_step<'a>(&'a self, name: &'a str) -> StepFuture<'a>;
}
