//! The one Flowlens ingest loop: flow input from any number of sources, through the
//! pipeline (decode, enrich, attribute, aggregate), into the store.
//!
//! ```text
//! Source ─┐  bounded queue                 decode pool (every core,
//! Source ─┼─► (block or drop, ─► IngestLoop ─► results in order) ─► pipeline ─► batches ─► Sink
//! Source ─┘   counted)             ▲                                 (attribute,            (Store: WAL
//!                                  └─ IngestHandle: set_engine,       aggregate)             or bulk load)
//!                                     stop, per-source counters
//! ```
//!
//! `flowlens ingest` (files, followed files, standard input), `flowlens simulate --calico`,
//! the demo's scenario feed and every live source drive this loop; none of them repeats it.
//!
//! # Sources
//!
//! A [`Source`] runs on a thread of its own and pushes [`Input`]s through its [`Feed`]:
//!
//! - [`Input::Lines`]: blocks of whole lines (Calico flow logs or raw records as JSON), decoded
//!   on every core and taken back in order; [`Input::Begin`] names the file they come from,
//!   and [`Input::LineTooLong`] stands for a line skipped for its length.
//! - [`Input::Records`]: raw 5-tuple records (the simulator, IPFIX/NetFlow), enriched and
//!   attributed by the policy engine and aggregated at Calico's levels.
//! - [`Input::FlowLogs`]: flow logs attributed where they were made (Goldmane, Felix), stored
//!   as they are.
//! - [`Input::Engine`]: the inventory changed at this point of the source's input (a scenario
//!   step).
//! - [`Input::Watermark`]: the source's clock; closes aggregates and, in a live run, stores
//!   what is pending.
//! - [`Input::Rejected`], [`Input::Warning`]: a record that could not be used, and something
//!   the user should know (a file that shrank while it was read), reported with the input's
//!   name.
//!
//! The queue between the sources and the loop is bounded. [`Feed::push`] waits for room
//! (files, the simulator: backpressure); [`Feed::try_push`] drops instead and counts what it
//! dropped, for receivers that must keep reading the network rather than let the kernel drop
//! packets unseen. Every source has [`SourceCounters`] (records, rejected, dropped, last
//! record time), readable while the loop runs through [`IngestHandle::sources`].
//!
//! A source's [`Pace`] decides how the loop stores: when every source reads to an end, an
//! embedded store takes the rows as a bulk load; otherwise they go through the write-ahead
//! log in batches of up to a second.
//!
//! # A network source
//!
//! A receiver reads on its own thread (or runs an async runtime there) and pushes what it
//! decoded without ever waiting for the loop:
//!
//! ```
//! use flowlens_ingest::{CalicoLines, Feed, IngestLoop, IngestOptions, Input, Pace, Source,
//!     SourceError};
//! use flowlens_model::{Inventory, RawFlow};
//! use flowlens_policy::Engine;
//! use std::sync::Arc;
//!
//! /// Stands in for a socket: each "datagram" holds a few records.
//! struct Receiver {
//!     datagrams: Vec<Vec<RawFlow>>,
//! }
//!
//! impl Source for Receiver {
//!     fn name(&self) -> String {
//!         "ipfix://0.0.0.0:4739".into()
//!     }
//!     fn pace(&self) -> Pace {
//!         Pace::Live
//!     }
//!     fn run(self: Box<Self>, feed: Feed) -> Result<(), SourceError> {
//!         for records in self.datagrams {
//!             if feed.is_stopping() {
//!                 break;
//!             }
//!             // A full queue drops the records and counts them; the socket is read on.
//!             feed.try_push(Input::Records(records))?;
//!         }
//!         Ok(())
//!     }
//! }
//!
//! let record: RawFlow = serde_json::from_str(
//!     r#"{"start_time":1000,"end_time":1001,"src_ip":"198.51.100.1","src_port":40000,
//!         "dst_ip":"203.0.113.9","dst_port":443,"proto":"tcp","bytes_out":100,"bytes_in":900,
//!         "packets_out":2,"packets_in":3}"#,
//! )?;
//! let engine = Arc::new(Engine::new(Inventory::new()));
//! let mut lines = Vec::new();
//! let mut ingest = IngestLoop::new(engine, CalicoLines::new(&mut lines, Default::default()),
//!     IngestOptions::default());
//! ingest.add_source(Receiver { datagrams: vec![vec![record.clone()], vec![record]] });
//! let handle = ingest.handle(); // for another thread: set_engine, stop, sources
//! let summary = ingest.run()?;
//! let counted = &summary.sources[0];
//! assert_eq!(counted.records + counted.dropped, 2);
//! // Neither address is in the (empty) inventory: accepted, but no cluster endpoint reports
//! // such a flow.
//! assert_eq!(summary.stats.unattributed, counted.records);
//! assert!(lines.is_empty());
//! # drop(handle);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # A live inventory
//!
//! When the cluster changes, compile the new inventory and hand the engine to the running
//! loop with [`IngestHandle::set_engine`]: aggregates open so far are closed under the old
//! engine, and records taken from then on are attributed with the new one. A change that
//! belongs at a point of one source's input (a scenario step between two batches of its
//! traffic) is pushed by that source as [`Input::Engine`] instead, so that it is ordered
//! with the records around it.
//!
//! # Sinks
//!
//! [`StoreSink`] stores into any [`Store`](flowlens_store::Store) (bulk loads for an
//! embedded store when every source reads to an end) and tells a [`StoreObserver`] about
//! every append (the server's live views). [`CalicoLines`] writes Calico flow log lines
//! instead.

mod blocks;
mod error;
mod files;
mod handle;
mod pending;
mod pool;
mod rate;
mod run;
mod sink;
mod source;
mod verdicts;

pub use blocks::{Block, CappedLine, read_capped_line};
pub use error::{IngestError, Result};
pub use files::{FileError, FileSource};
pub use flowlens_pipeline::{LINE_TOO_LONG, MAX_LINE_BYTES};
pub use handle::{IngestHandle, IngestTask};
pub use rate::RateWindow;
pub use run::{IngestLoop, IngestOptions, IngestSummary, Progress, SourceFailure, WARNINGS_KEPT};
pub use sink::{CalicoLines, Rows, Sink, StoreObserver, StoreSink};
pub use source::{
    Closed, Feed, HealthProbe, Input, Pace, Source, SourceCounters, SourceError, SourceHealth,
    SourceState, SourceStatus,
};
pub use verdicts::{Disagreement, ObservedRecord, ObserverVerdict, VerdictComparison};
