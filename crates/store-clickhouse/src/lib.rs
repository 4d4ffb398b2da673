//! Flow logs in ClickHouse: [`ClickHouseStore`] answers the same
//! [`Store`](flowlens_store::Store) trait as the embedded store, with the same answers, for
//! clusters whose flow logs outgrow one machine.
//!
//! The store talks to ClickHouse over HTTP with the official `clickhouse` crate (RowBinary,
//! without schema validation, which ClickHouse 18.16 cannot serve), in a database whose
//! tables Flowlens creates and migrates ([`schema`]). Typed queries become ClickHouse SQL:
//! field filters, Calico label selectors (translated from the selector crate's tree; what
//! cannot be translated is an error, never an approximation), the policy filter, sort
//! order and page tokens (spelt as the embedded store spells them); groupings and policy
//! numbers are summed by ClickHouse and finished as the embedded store finishes them.
//!
//! ```no_run
//! # async fn demo(logs: Vec<flowlens_model::FlowLog>) -> flowlens_store::Result<()> {
//! use flowlens_store::{FlowSearch, Store, TimeRange};
//! use flowlens_store_clickhouse::{ClickHouseConfig, ClickHouseStore};
//! let config = ClickHouseConfig::parse("clickhouse://flowlens@ch-1:8123/flowlens")?
//!     .with_password_from_env()?;
//! let store = ClickHouseStore::open(config).await?;
//! store.append(logs).await?;
//! let page = store.query_flows(&FlowSearch::new(TimeRange::all())).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//!
//! | module | job |
//! |---|---|
//! | [`config`] | the store's address and credentials, never printed |
//! | `sql` | string literals and the combinators of conditions |
//! | `selector`, `filters`, `paging` | label selectors, a search's conditions, sort order and page tokens as SQL |
//! | `rows` | encoded batches → rows to insert; stored rows → flow logs |
//! | [`schema`] | the tables, their migrations, the server's version |
//! | `store`, `marks`, `queries` | connecting and appending, read marks, the [`Store`](flowlens_store::Store) answers |
//! | `retention` | dropping whole days beyond the age and size limits |
//! | [`test_server`] (feature `test-server`) | a private ClickHouse server for tests |

pub mod config;
mod filters;
mod marks;
mod paging;
mod queries;
mod retention;
mod rows;
pub mod schema;
mod selector;
#[cfg(all(test, feature = "test-server"))]
mod server_tests;
mod sql;
mod store;
#[cfg(feature = "test-server")]
pub mod test_server;

pub use config::ClickHouseConfig;
pub use schema::{SCHEMA_VERSION, ServerVersion};
pub use store::{ClickHouseStore, MigrationReport};
