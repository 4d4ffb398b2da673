//! Decoding blocks of lines on every core: JSON decoding and columnar encoding are most of
//! what ingest costs, and blocks decode independently. Results come back in input order, so
//! raw records reach the (stateful) aggregation in the order they were read.

use crate::blocks::Block;
use crate::error::{IngestError, Result};
use flowlens_pipeline::{DecodedLines, InputFormat, LineDecoder};
use flowlens_store::{FlowBatch, FlowBatchBuilder};
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// A decoded block.
pub struct DecodedBlock {
    /// The source it came from.
    pub source: usize,
    /// The block's Calico flow logs, encoded.
    pub calico: FlowBatch,
    /// Everything else the block held.
    pub lines: DecodedLines,
    /// The block's buffer, for reading the next block into.
    pub buffer: Vec<u8>,
    /// Where the block's last line ends in its input, when known.
    pub end: Option<u64>,
}

type Job = (u64, usize, Block);
type Done = (u64, Result<DecodedBlock>);

pub struct DecodePool {
    jobs: Option<SyncSender<Job>>,
    done: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    /// Results that arrived ahead of an earlier block's.
    early: BTreeMap<u64, Result<DecodedBlock>>,
    submitted: u64,
    returned: u64,
    /// Blocks in flight at most: enough to keep every worker busy, few enough to bound memory.
    limit: u64,
}

impl DecodePool {
    pub fn new(format: InputFormat) -> DecodePool {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let (jobs, job_rx) = sync_channel::<Job>(threads);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (done_tx, done) = channel::<Done>();
        let workers = (0..threads)
            .map(|_| {
                let job_rx = job_rx.clone();
                let done_tx = done_tx.clone();
                std::thread::spawn(move || work(&job_rx, &done_tx, format))
            })
            .collect();
        DecodePool {
            jobs: Some(jobs),
            done,
            workers,
            early: BTreeMap::new(),
            submitted: 0,
            returned: 0,
            limit: 2 * threads as u64 + 1,
        }
    }

    /// Whether the caller should take a result before submitting more.
    pub fn is_full(&self) -> bool {
        self.in_flight() >= self.limit
    }

    /// Blocks submitted whose results have not been taken.
    pub fn in_flight(&self) -> u64 {
        self.submitted - self.returned
    }

    pub fn submit(&mut self, source: usize, block: Block) -> Result<()> {
        let jobs = self.jobs.as_ref().ok_or(IngestError::DecoderStopped)?;
        jobs.send((self.submitted, source, block))
            .map_err(|_| IngestError::DecoderStopped)?;
        self.submitted += 1;
        Ok(())
    }

    /// The next block in input order, waiting for it if need be; `None` when none is in
    /// flight.
    pub fn next(&mut self) -> Option<Result<DecodedBlock>> {
        if self.returned == self.submitted {
            return None;
        }
        let result = loop {
            if let Some(result) = self.early.remove(&self.returned) {
                break result;
            }
            match self.done.recv() {
                Ok((seq, result)) => {
                    self.early.insert(seq, result);
                }
                Err(_) => break Err(IngestError::DecoderStopped),
            }
        };
        self.returned += 1;
        Some(result)
    }
}

impl Drop for DecodePool {
    fn drop(&mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

fn work(jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>, format: InputFormat) {
    let mut decoder = LineDecoder::new(format);
    loop {
        // The lock is held only while waiting for a job, never while decoding one.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok((seq, source, block)) = job else {
            return;
        };
        let result = decode(&mut decoder, source, block);
        if done.send((seq, result)).is_err() {
            return;
        }
    }
}

fn decode(decoder: &mut LineDecoder, source: usize, block: Block) -> Result<DecodedBlock> {
    // Calico flow log lines run about a kilobyte each; raw records become flow logs later.
    let rows = match decoder.format() {
        InputFormat::Raw => 0,
        _ => block.bytes().len() / 1024 + 1,
    };
    let mut calico = FlowBatchBuilder::with_capacity(rows);
    // Numbered from the block's start: the caller, taking blocks in order, shifts them.
    let lines = decoder.decode_lines(block.bytes(), 1, |log| calico.push_view(log));
    Ok(DecodedBlock {
        source,
        calico: calico.finish().map_err(IngestError::Encode)?,
        lines,
        end: block.end(),
        buffer: block.into_buffer(),
    })
}
