//! Sums and groupings over stored record batches, with no I/O: what rollups keep per hour
//! and what queries compute over rows, so that both add up alike.

pub(crate) mod distinct_tuples;
pub(crate) mod hash_grouping;
pub(crate) mod hit_sums;
pub(crate) mod reporter_sums;
pub(crate) mod traffic;
