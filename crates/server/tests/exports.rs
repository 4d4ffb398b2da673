//! Flow exports are streamed a store page at a time: the first bytes reach the client while
//! later pages are not read yet (so the server holds one page, whatever the export's size),
//! and the body is byte for byte what building the whole export in memory gave, for the
//! administrator and for a scoped user whose pages merge two searches.

#[allow(dead_code)]
#[path = "../../store/src/testutil.rs"]
mod testutil;

use flowlens_model::{FlowLog, Inventory};
use flowlens_server::{AppState, AuthConfig, Roles, ServerOptions};
use flowlens_store::{
    AppendReceipt, EmbeddedOptions, EmbeddedStore, FlowBatch, FlowPage, FlowSearch, GroupBy,
    MAX_LIMIT, Store,
};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const ADMIN: &str = "admin-token-0123456789";
const SRC_READER: &str = "src-reader-token-0123456789";
const ROLES: &str = "
users:
  - name: root
    token: admin-token-0123456789
    role: admin
  - name: src-reader
    token: src-reader-token-0123456789
    tiers: {default: read}
    namespaces: {src: read}
";

/// Flows stored: three store pages.
const FLOWS: u64 = 2 * MAX_LIMIT as u64 + 1_500;

/// The embedded store, whose page reads past the first `open` wait until the test opens the
/// gate, and are counted.
struct GatedStore {
    inner: EmbeddedStore,
    reads: AtomicUsize,
    /// Reads numbered above this wait for the gate.
    free_reads: AtomicUsize,
    gate: tokio::sync::watch::Sender<bool>,
}

#[async_trait::async_trait]
impl Store for GatedStore {
    async fn append_batch(&self, batch: FlowBatch) -> flowlens_store::Result<AppendReceipt> {
        self.inner.append_batch(batch).await
    }

    async fn query_flows(&self, query: &FlowSearch) -> flowlens_store::Result<FlowPage> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.free_reads.load(Ordering::SeqCst) {
            let mut open = self.gate.subscribe();
            let _ = open.wait_for(|open| *open).await;
        }
        self.inner.query_flows(query).await
    }

    async fn aggregate(
        &self,
        query: &FlowSearch,
        group_by: GroupBy,
    ) -> flowlens_store::Result<Vec<flowlens_store::AggregateRow>> {
        self.inner.aggregate(query, group_by).await
    }

    async fn policy_metrics(
        &self,
        query: &FlowSearch,
    ) -> flowlens_store::Result<Vec<flowlens_store::PolicyMetrics>> {
        self.inner.policy_metrics(query).await
    }

    async fn time_bounds(&self) -> flowlens_store::Result<Option<(i64, i64)>> {
        self.inner.time_bounds().await
    }

    async fn stats(&self) -> flowlens_store::Result<flowlens_store::StoreStats> {
        self.inner.stats().await
    }

    async fn flush(&self) -> flowlens_store::Result<()> {
        self.inner.flush().await
    }
}

impl GatedStore {
    /// From now on, reads beyond the next `n` wait until [`GatedStore::open`].
    fn close_after(&self, n: usize) {
        self.gate.send_replace(false);
        self.free_reads
            .store(self.reads.load(Ordering::SeqCst) + n, Ordering::SeqCst);
    }

    fn open(&self) {
        self.free_reads.store(usize::MAX, Ordering::SeqCst);
        self.gate.send_replace(true);
    }

    fn reads(&self) -> usize {
        self.reads.load(Ordering::SeqCst)
    }
}

fn flow(i: u64) -> FlowLog {
    let mut log = testutil::sample_flow(i, 10_000 + (i / 7) as i64);
    // A formula in a cell, which the CSV must defuse as before.
    log.process_name = i.is_multiple_of(1_000).then(|| format!("=cmd|{i}"));
    log.process_id = None;
    log
}

struct Server {
    addr: SocketAddr,
    store: Arc<GatedStore>,
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let roles = Roles::parse(ROLES, Path::new(".")).unwrap();
        let options = ServerOptions {
            auth: AuthConfig {
                roles: Some(Arc::new(roles)),
                ..AuthConfig::default()
            },
            ..ServerOptions::default()
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = dir.path().join("data");
        let (addr, store) = runtime.block_on(async move {
            let inner = EmbeddedStore::open(&data, EmbeddedOptions::default()).unwrap();
            let logs: Vec<FlowLog> = (0..FLOWS).map(flow).collect();
            for chunk in logs.chunks(5_000) {
                inner.append(chunk.to_vec()).await.unwrap();
            }
            let store = Arc::new(GatedStore {
                inner,
                reads: AtomicUsize::new(0),
                free_reads: AtomicUsize::new(usize::MAX),
                gate: tokio::sync::watch::channel(true).0,
            });
            let state = AppState::new(store.clone(), Arc::new(Inventory::new()), Some(20_000));
            let router = flowlens_server::router(state, &options);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(flowlens_server::serve(
                listener,
                router,
                std::future::pending(),
            ));
            (addr, store)
        });
        Server {
            addr,
            store,
            _dir: dir,
            _runtime: runtime,
        }
    }

    /// Sends a GET and returns the connection, positioned after the head, with the head.
    fn send(&self, target: &str, token: &str) -> (TcpStream, String) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let text = format!(
            "GET {target} HTTP/1.1\r\nConnection: close\r\nHost: {}\r\nAuthorization: Bearer {token}\r\n\r\n",
            self.addr
        );
        stream.write_all(text.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "the head ended early");
            head.push(byte[0]);
        }
        (stream, String::from_utf8(head).unwrap())
    }

    fn get(&self, target: &str, token: &str) -> (u16, String) {
        let (mut stream, head) = self.send(target, token);
        let mut body = Vec::new();
        stream.read_to_end(&mut body).unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        let body = if is_chunked(&head) {
            unchunk(&body)
        } else {
            body
        };
        (status, String::from_utf8(body).unwrap())
    }
}

fn is_chunked(head: &str) -> bool {
    head.to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
}

/// The data of a chunked body; panics when the final chunk is missing (a body cut short).
fn unchunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size line");
        let size = std::str::from_utf8(&body[..line_end]).unwrap();
        let n = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        let data = &body[line_end + 2..];
        if n == 0 {
            return out;
        }
        out.extend_from_slice(&data[..n]);
        assert_eq!(&data[n..n + 2], b"\r\n");
        body = &data[n + 2..];
    }
}

/// What the export held when it was built whole: every flow the page API gives (the
/// same rows, read the same way, a store page at a time), as CSV or as one JSON array.
fn export_built_whole(server: &Server, token: &str, csv: bool) -> String {
    let mut rows: Vec<Value> = Vec::new();
    let mut token_param = String::new();
    loop {
        let (status, body) =
            server.get(&format!("/api/flows?limit={MAX_LIMIT}{token_param}"), token);
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).unwrap();
        rows.extend(page["flows"].as_array().unwrap().iter().cloned());
        match page["next_page_token"].as_str() {
            Some(next) => token_param = format!("&page_token={next}"),
            None => break,
        }
    }
    if !csv {
        return serde_json::to_string(&rows).unwrap();
    }
    use flowlens_pipeline::encode::{csv_header, csv_row};
    let mut out = format!("id,{}\n", csv_header());
    for row in &rows {
        let id = row["id"]
            .as_u64()
            .map(|i| i.to_string())
            .unwrap_or_default();
        out.push_str(&format!("{id},{}\n", csv_row(row)));
    }
    out
}

/// Exports with later page reads held back: the client must get the head and the first
/// page's rows while they wait (`first_reads` is how many store reads the first page
/// takes); then, released, the whole body, equal to `expected`.
fn assert_streamed(server: &Server, target: &str, token: &str, first_reads: usize, expected: &str) {
    let before = server.store.reads();
    server.store.close_after(first_reads);
    let (mut stream, head) = server.send(target, token);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(is_chunked(&head), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-disposition: attachment"),
        "{head}"
    );
    // The first page's rows arrive although no later page can be read.
    let first_page_bytes = expected.len() / 3;
    let mut got = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < first_page_bytes {
        assert!(Instant::now() < deadline, "no rows before the gate opened");
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "the body ended while later pages were held back");
        got.extend_from_slice(&chunk[..n]);
    }
    // The first page, and at most the read of the next one waiting at the gate.
    let reads = server.store.reads() - before;
    assert!(
        (first_reads..=first_reads + 1).contains(&reads),
        "{reads} store reads while the first page went out"
    );
    server.store.open();
    stream.read_to_end(&mut got).unwrap();
    let body = String::from_utf8(unchunk(&got)).unwrap();
    assert!(
        body.len() == expected.len(),
        "{} vs {} bytes",
        body.len(),
        expected.len()
    );
    assert!(
        body == expected,
        "the streamed export differs from the whole one"
    );
}

#[test]
fn exports_stream_page_by_page_and_equal_the_export_built_whole() {
    let server = Server::start();

    let csv = export_built_whole(&server, ADMIN, true);
    assert_eq!(csv.lines().count(), FLOWS as usize + 1);
    assert!(csv.contains(",'=cmd|1000"), "the formula is defused");
    assert!(!csv.contains(",=cmd|"), "no formula is left as it is");
    assert_streamed(&server, "/api/flows/export?format=csv", ADMIN, 1, &csv);

    let json = export_built_whole(&server, ADMIN, false);
    assert_streamed(&server, "/api/flows/export?format=json", ADMIN, 1, &json);
    let rows: Vec<Value> = serde_json::from_str(&json).unwrap();
    assert_eq!(rows.len(), FLOWS as usize);

    // A namespace reader: every flow has its source in `src`, the destination hidden; the
    // pages merge two searches (source visible; source hidden and destination visible), so
    // each page takes two reads.
    let scoped = export_built_whole(&server, SRC_READER, true);
    assert_eq!(scoped.lines().count(), FLOWS as usize + 1);
    assert!(scoped.contains("(hidden)"));
    assert!(
        !scoped.contains(",dst,"),
        "the hidden namespace is not shown"
    );
    assert_streamed(
        &server,
        "/api/flows/export?format=csv",
        SRC_READER,
        2,
        &scoped,
    );
}

#[test]
fn an_export_of_nothing_is_an_empty_array_or_the_header() {
    let server = Server::start();
    let (status, body) = server.get("/api/flows/export?format=json&filter=proto%3Dudp", ADMIN);
    assert_eq!((status, body.as_str()), (200, "[]"));
    let (status, body) = server.get("/api/flows/export?format=csv&filter=proto%3Dudp", ADMIN);
    assert_eq!(status, 200);
    assert_eq!(body.lines().count(), 1, "{body}");
    assert!(body.starts_with("id,start_time,"), "{body}");
    // A query the store refuses is an error status, not a cut body.
    let (status, body) = server.get("/api/flows/export?format=csv&filter=nonsense%3D1", ADMIN);
    assert_eq!(status, 400, "{body}");
}
