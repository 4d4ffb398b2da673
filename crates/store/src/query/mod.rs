//! Reading the store: typed queries planned as DataFusion expressions ([`plan`], [`udf`],
//! [`hit_text`]) over a snapshot's files and buffer ([`table`]), then flow pages
//! ([`flow_page`]), the UI's groupings ([`groupings`]), policy aggregates ([`policy_sums`]), the
//! Policy Board's numbers ([`policy_metrics`]) and distinct tuples ([`tuples`]), answered from rollups where they can
//! ([`from_rollups`]).

pub(crate) mod flow_page;
pub(crate) mod from_rollups;
pub(crate) mod groupings;
pub(crate) mod hit_text;
pub(crate) mod parallel;
pub(crate) mod plan;
pub(crate) mod policy_metrics;
pub(crate) mod policy_sums;
pub(crate) mod ranking;
pub(crate) mod table;
pub(crate) mod tuples;
pub(crate) mod udf;
