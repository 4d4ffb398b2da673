//! Decision cache: most traffic repeats the same (source, destination, protocol, port).

use crate::{FiveTuple, FlowVerdict};
use rustc_hash::FxHashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

const SHARDS: usize = 16;
/// Per shard; a full shard is emptied rather than tracked for recency, which keeps lookups
/// cheap and memory bounded (about 1M decisions in all).
const SHARD_CAPACITY: usize = 65_536;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    src_port: u16,
    dst_port: u16,
    icmp: Option<(u8, u8)>,
}

impl CacheKey {
    pub fn new(flow: &FiveTuple, uses_src_ports: bool) -> CacheKey {
        CacheKey {
            src: flow.src,
            dst: flow.dst,
            protocol: flow.protocol.number(),
            src_port: if uses_src_ports { flow.src_port } else { 0 },
            dst_port: flow.dst_port,
            icmp: flow.icmp,
        }
    }
}

type Shard = RwLock<FxHashMap<CacheKey, Arc<FlowVerdict>>>;

pub(crate) struct DecisionCache {
    shards: Vec<Shard>,
    hasher: rustc_hash::FxBuildHasher,
}

impl DecisionCache {
    pub fn new() -> DecisionCache {
        DecisionCache {
            shards: (0..SHARDS)
                .map(|_| RwLock::new(FxHashMap::default()))
                .collect(),
            hasher: rustc_hash::FxBuildHasher,
        }
    }

    fn shard(&self, key: &CacheKey) -> &Shard {
        let h = self.hasher.hash_one(key);
        &self.shards[(h >> 59) as usize % SHARDS]
    }

    pub fn get(&self, key: &CacheKey) -> Option<Arc<FlowVerdict>> {
        // A poisoned lock only means another thread panicked mid-insert; the map is still valid.
        let shard = self.shard(key).read().unwrap_or_else(|e| e.into_inner());
        shard.get(key).cloned()
    }

    pub fn insert(&self, key: CacheKey, verdict: Arc<FlowVerdict>) {
        let mut shard = self.shard(&key).write().unwrap_or_else(|e| e.into_inner());
        if shard.len() >= SHARD_CAPACITY {
            shard.clear();
        }
        shard.insert(key, verdict);
    }

    pub fn clear(&self) {
        for s in &self.shards {
            s.write().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }

    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }
}
