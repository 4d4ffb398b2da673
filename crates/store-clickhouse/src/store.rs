//! The ClickHouse store: connecting (server version, schema), appends, and the errors of a
//! server that failed, named by its address and never its password.

use crate::config::ClickHouseConfig;
use crate::rows::{BatchColumns, FlowRow};
use crate::schema::{self, FLOWS, READ_MARKS, SCHEMA_VERSION, ServerVersion, VERSIONS};
use clickhouse::{Client, RowOwned, RowRead};
use flowlens_store::{AppendReceipt, FlowBatch, Result, StoreError};
use std::sync::Arc;

/// Flow logs in a ClickHouse database (see the [crate] documentation). Cheap to clone.
#[derive(Clone)]
pub struct ClickHouseStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub config: ClickHouseConfig,
    /// Requests go to the store's database.
    pub client: Client,
    pub version: ServerVersion,
    /// The next record id: read from the table by the first append, then counted on.
    /// Appends hold it while they insert, so ids follow the order rows were stored in.
    pub next_id: tokio::sync::Mutex<Option<u64>>,
}

/// What [`ClickHouseStore::migrate`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MigrationReport {
    pub server_version: ServerVersion,
    /// The schema version before and after.
    pub from: u32,
    pub to: u32,
    /// What each version applied added.
    pub applied: Vec<String>,
}

impl std::fmt::Debug for ClickHouseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClickHouseStore")
            .field("config", &self.inner.config)
            .field("server_version", &self.inner.version)
            .finish_non_exhaustive()
    }
}

/// The error's text with its causes (a refused connection is two levels down).
fn describe(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

fn failed(config: &ClickHouseConfig, doing: &str, e: &clickhouse::error::Error) -> StoreError {
    StoreError::Backend(config.redact(&format!(
        "ClickHouse at {config}: {doing} failed: {}",
        describe(e)
    )))
}

fn client(config: &ClickHouseConfig, database: Option<&str>) -> Client {
    let mut c = Client::default()
        .with_url(config.http_url())
        // RowBinary: 18.16 has no RowBinaryWithNamesAndTypes to validate against.
        .with_validation(false)
        // Errors met while a result streams come as an error status, not as text after
        // part of the rows.
        .with_setting("wait_end_of_query", "1")
        // A page's rows are read by id: up to 10,001 ids in one query, above the default
        // 256 KiB a query's text may take.
        .with_setting("max_query_size", "16777216");
    if let Some(user) = config.user() {
        c = c.with_user(user);
    }
    if let Some(password) = config.password() {
        c = c.with_password(password);
    }
    if let Some(database) = database {
        c = c.with_database(database);
    }
    c
}

async fn server_version(config: &ClickHouseConfig, c: &Client) -> Result<ServerVersion> {
    let text: String = c
        .query_raw("SELECT version()")
        .fetch_one()
        .await
        .map_err(|e| failed(config, "connecting", &e))?;
    let version = ServerVersion::parse(&text).ok_or_else(|| {
        StoreError::Backend(format!(
            "ClickHouse at {config} reports version {text:?}, which is not major.minor.patch"
        ))
    })?;
    if version < ServerVersion::OLDEST {
        return Err(StoreError::Backend(format!(
            "ClickHouse at {config} is version {version}; Flowlens needs {} or newer",
            ServerVersion::OLDEST
        )));
    }
    Ok(version)
}

/// The database's schema version: 0 when Flowlens has not created it.
async fn schema_version(config: &ClickHouseConfig, server: &Client) -> Result<u32> {
    let database = crate::sql::quote(config.database());
    let tables: u64 = server
        .query_raw(&format!(
            "SELECT count() FROM system.tables WHERE database = {database} AND name = '{VERSIONS}'"
        ))
        .fetch_one()
        .await
        .map_err(|e| failed(config, "reading the schema version", &e))?;
    if tables == 0 {
        return Ok(0);
    }
    let db = config.database();
    server
        .query_raw(&format!(
            "SELECT toUInt32(max(version)) FROM {db}.{VERSIONS}"
        ))
        .fetch_one()
        .await
        .map_err(|e| failed(config, "reading the schema version", &e))
}

impl ClickHouseStore {
    /// Connects to the database `config` names and checks its schema: a database without
    /// Flowlens's tables gets them (as [`migrate`](Self::migrate) would create them); one
    /// with an older schema must be migrated first (`flowlens store migrate`), one with a
    /// newer schema needs a newer Flowlens.
    pub async fn open(config: ClickHouseConfig) -> Result<ClickHouseStore> {
        let server = client(&config, None);
        let version = server_version(&config, &server).await?;
        match schema_version(&config, &server).await? {
            0 => {
                Self::migrate(config.clone()).await?;
            }
            SCHEMA_VERSION => {}
            found if found < SCHEMA_VERSION => {
                return Err(StoreError::Backend(format!(
                    "ClickHouse database {config} has Flowlens schema version {found}; this \
                     build uses {SCHEMA_VERSION}: run `flowlens store migrate --store ADDRESS` first"
                )));
            }
            found => {
                return Err(StoreError::UnsupportedFormat {
                    path: config.to_string().into(),
                    found: found.to_string(),
                    supported: SCHEMA_VERSION,
                });
            }
        }
        Ok(ClickHouseStore {
            inner: Arc::new(Inner {
                client: client(&config, Some(config.database())),
                config,
                version,
                next_id: tokio::sync::Mutex::new(None),
            }),
        })
    }

    /// Creates the database and its tables, or brings an older schema up to this build's,
    /// recording each version applied. Safe to run again, and while other processes use
    /// the database (every statement is idempotent).
    pub async fn migrate(config: ClickHouseConfig) -> Result<MigrationReport> {
        let server = client(&config, None);
        let server_version = server_version(&config, &server).await?;
        let from = schema_version(&config, &server).await?;
        if from > SCHEMA_VERSION {
            return Err(StoreError::UnsupportedFormat {
                path: config.to_string().into(),
                found: from.to_string(),
                supported: SCHEMA_VERSION,
            });
        }
        let db = config.database();
        let execute = |sql: String, doing: &'static str| {
            let server = &server;
            let config = &config;
            async move {
                server
                    .query_raw(&sql)
                    .execute()
                    .await
                    .map_err(|e| failed(config, doing, &e))
            }
        };
        execute(
            format!("CREATE DATABASE IF NOT EXISTS {db}"),
            "creating the database",
        )
        .await?;
        let in_db = client(&config, Some(db));
        let run = |sql: String, doing: &'static str| {
            let in_db = &in_db;
            let config = &config;
            async move {
                in_db
                    .query_raw(&sql)
                    .execute()
                    .await
                    .map_err(|e| failed(config, doing, &e))
            }
        };
        run(schema::versions_table(), "creating the version table").await?;
        let mut applied = Vec::new();
        for (version, description, statements) in schema::migrations() {
            if version <= from {
                continue;
            }
            for sql in statements {
                run(sql, "migrating the schema").await?;
            }
            run(
                format!(
                    "INSERT INTO {VERSIONS} (version, description, applied_at, flowlens) \
                     VALUES ({version}, {}, now(), {})",
                    crate::sql::quote(description),
                    crate::sql::quote(env!("CARGO_PKG_VERSION"))
                ),
                "recording the schema version",
            )
            .await?;
            applied.push(format!("{version}: {description}"));
        }
        Ok(MigrationReport {
            server_version,
            from,
            to: SCHEMA_VERSION.max(from),
            applied,
        })
    }

    /// The address (password masked by its `Display`).
    pub fn config(&self) -> &ClickHouseConfig {
        &self.inner.config
    }

    /// The server's version, read when the store was opened.
    pub fn server_version(&self) -> ServerVersion {
        self.inner.version
    }

    /// Runs a user's `sql` in the store's database, read-only (`readonly = 2`: no inserts,
    /// no DDL; settings may still be read), and returns ClickHouse's output in `format`
    /// (`CSVWithNames`, `JSONEachRow`, `PrettyCompactMonoBlock`, …). For `flowlens sql`; the
    /// typed queries never go through here.
    pub async fn query_text(&self, sql: &str, format: &str) -> Result<Vec<u8>> {
        tracing::trace!(sql, "clickhouse user query");
        let doing = "running the query";
        let mut cursor = self
            .inner
            .client
            .query_raw(sql)
            .with_setting("readonly", "2")
            .with_setting("output_format_json_quote_64bit_integers", "0")
            .fetch_bytes(format)
            .map_err(|e| self.failed(doing, e))?;
        let bytes = cursor.collect().await.map_err(|e| self.failed(doing, e))?;
        Ok(bytes.to_vec())
    }

    pub(crate) fn failed(&self, doing: &str, e: clickhouse::error::Error) -> StoreError {
        failed(&self.inner.config, doing, &e)
    }

    pub(crate) async fn fetch_all<T>(&self, doing: &str, sql: &str) -> Result<Vec<T>>
    where
        T: RowOwned + RowRead,
    {
        tracing::trace!(sql, "clickhouse query");
        self.inner
            .client
            .query_raw(sql)
            .fetch_all::<T>()
            .await
            .map_err(|e| self.failed(doing, e))
    }

    /// Runs a statement that returns no rows.
    pub(crate) async fn execute(&self, doing: &str, sql: &str) -> Result<()> {
        tracing::trace!(sql, "clickhouse statement");
        self.inner
            .client
            .query_raw(sql)
            .execute()
            .await
            .map_err(|e| self.failed(doing, e))
    }

    pub(crate) async fn fetch_one<T>(&self, doing: &str, sql: &str) -> Result<T>
    where
        T: RowOwned + RowRead,
    {
        tracing::trace!(sql, "clickhouse query");
        self.inner
            .client
            .query_raw(sql)
            .fetch_one::<T>()
            .await
            .map_err(|e| self.failed(doing, e))
    }

    /// Stores `batch`: its read marks first (see `marks.rs`), then its rows in one insert,
    /// numbered on from the last record id. Returns once ClickHouse acknowledged the rows.
    pub(crate) async fn append_rows(&self, batch: FlowBatch) -> Result<AppendReceipt> {
        let mut next_id = self.inner.next_id.lock().await;
        let first = match *next_id {
            Some(n) => n,
            None => {
                let (max, rows): (u64, u64) = self
                    .fetch_one(
                        "reading the last record id",
                        &format!("SELECT max(record_id), count() FROM {FLOWS}"),
                    )
                    .await?;
                // Retention may have dropped the newest rows' days; the read marks still
                // name their ids, and ids must not be handed out twice.
                let marked: u64 = self
                    .fetch_one(
                        "reading the last record id",
                        &format!("SELECT max(first_record_id + records) FROM {READ_MARKS}"),
                    )
                    .await?;
                marked.max(if rows == 0 { 0 } else { max + 1 })
            }
        };
        let records = batch.len();
        if records == 0 {
            *next_id = Some(first);
            return Ok(AppendReceipt {
                records: 0,
                first_record_id: first,
                sequence: 0,
            });
        }
        // Whatever happens next, these ids are spent: a failed insert may still have
        // stored some of its rows.
        *next_id = Some(first + records as u64);
        let columns: Vec<BatchColumns<'_>> = batch
            .parts()
            .iter()
            .map(BatchColumns::new)
            .collect::<Result<_>>()?;
        if !batch.marks().is_empty() {
            let (min_time, max_time) = time_span(&columns)?;
            crate::marks::store_marks(self, batch.marks(), first, records, min_time, max_time)
                .await?;
        }
        let mut insert = self
            .inner
            .client
            .insert::<FlowRow<'_>>(FLOWS)
            .await
            .map_err(|e| self.failed("inserting flow logs", e))?
            // One block, so one part per day: the rows land together or not at all.
            .with_setting("max_insert_block_size", (records + 1).to_string());
        let mut id = first;
        for part in &columns {
            for row in 0..part.rows() {
                let row = part.row(row, id)?;
                id += 1;
                insert
                    .write(&row)
                    .await
                    .map_err(|e| self.failed("inserting flow logs", e))?;
            }
        }
        insert
            .end()
            .await
            .map_err(|e| self.failed("inserting flow logs", e))?;
        Ok(AppendReceipt {
            records,
            first_record_id: first,
            sequence: 0,
        })
    }
}

/// The smallest and largest `end_time` of the batch's rows.
fn time_span(columns: &[BatchColumns<'_>]) -> Result<(i64, i64)> {
    let mut span = (i64::MAX, i64::MIN);
    for part in columns {
        for row in 0..part.rows() {
            let t = part.end_time(row)?;
            span = (span.0.min(t), span.1.max(t));
        }
    }
    Ok(span)
}
