//! Reaching a running loop from other threads: [`IngestHandle`] (swap the engine, stop,
//! read the sources' counters) and [`IngestTask`] (a loop on a thread of its own).

use crate::error::{IngestError, Result};
use crate::run::IngestSummary;
use crate::source::{HealthProbe, Pace, SourceCounters, SourceState, SourceStatus};
use flowlens_policy::Engine;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};

pub(crate) enum Control {
    SetEngine(Arc<Engine>),
}

/// What the loop and its handles share.
pub(crate) struct Shared {
    pub stopping: Arc<AtomicBool>,
    pub sources: Mutex<Vec<SourceEntry>>,
}

pub(crate) struct SourceEntry {
    pub name: String,
    pub kind: &'static str,
    pub pace: Pace,
    pub health: Option<Arc<dyn HealthProbe>>,
    pub state: SourceState,
    pub counters: Arc<SourceCounters>,
}

impl Shared {
    pub fn statuses(&self) -> Vec<SourceStatus> {
        let sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        sources
            .iter()
            .map(|s| SourceStatus {
                name: s.name.clone(),
                kind: s.kind,
                pace: s.pace,
                state: s.state.clone(),
                records: s.counters.records(),
                records_per_second: s.counters.records_per_second(),
                rejected: s.counters.rejected(),
                dropped: s.counters.dropped(),
                last_record: s.counters.last_record(),
                health: s.health.as_ref().map(|h| h.health()),
                verdicts: s.counters.verdicts.comparison(),
            })
            .collect()
    }

    pub fn set_state(&self, id: usize, state: SourceState) {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = sources.get_mut(id) {
            s.state = state;
        }
    }
}

/// Steers a running loop from other threads: the server swaps the engine when a policy is
/// saved, reads the sources' counters, and stops the loop.
#[derive(Clone)]
pub struct IngestHandle {
    pub(crate) control: Sender<Control>,
    pub(crate) shared: Arc<Shared>,
}

impl IngestHandle {
    /// Attributes records with `engine` from the next input on; aggregates open so far are
    /// closed under the old one. For a change at a point of a source's input, the source
    /// pushes [`Input::Engine`] instead.
    pub fn set_engine(&self, engine: Arc<Engine>) {
        let _ = self.control.send(Control::SetEngine(engine));
    }

    /// Asks every source to end ([`Feed::is_stopping`]); the loop stores what they pushed
    /// and ends after the last.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::Relaxed);
    }

    /// Every source with its counters.
    pub fn sources(&self) -> Vec<SourceStatus> {
        self.shared.statuses()
    }
}

/// A loop running on a thread of its own ([`IngestLoop::spawn`]).
pub struct IngestTask {
    pub(crate) handle: IngestHandle,
    pub(crate) thread: std::thread::JoinHandle<Result<IngestSummary>>,
}

impl IngestTask {
    pub fn handle(&self) -> &IngestHandle {
        &self.handle
    }

    /// Waits for the loop to end (after its sources have).
    pub fn join(self) -> Result<IngestSummary> {
        self.thread.join().map_err(|_| IngestError::Panicked)?
    }
}
