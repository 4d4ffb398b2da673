//! Felix collector: Goldmane's `FlowCollector.Connect` service, so Felix pushes its flows to
//! Flowlens directly — over the node-local unix socket of `flowLogsLocalReporter`
//! (`/var/run/calico/flows/flows.sock`) and over TCP, with mTLS, as to
//! `flowLogsGoldmaneServer`.
//!
//! Felix sends one `FlowUpdate` at a time and waits for its `FlowReceipt`. After a reconnect
//! it sends again every flow it pushed in the last five minutes, and then the new ones.
//! De-duplication therefore needs what the protocol gives: the flow itself (its key and
//! time window, see [`FlowDedup`]) and the connection it came on. Felix's messages do not
//! name the node, so the scope of a flow is the peer's IP address for TCP (one Felix per
//! node; the port changes with every connection) and the socket's path for the unix socket
//! (node-local by construction). Identical flows from two nodes are two flows; the same
//! flow from one node twice is one. A receipt is sent once a flow is queued, skipped as a
//! duplicate, rejected as malformed or dropped because the queue was full: Felix cannot do
//! anything better with a flow Flowlens will not take than move on. A dropped flow is not
//! remembered, so Felix's next resend can still deliver it.

use crate::calico::{DEFAULT_DEDUP_RETENTION_SECS, FlowConverter, FlowDedup};
use crate::proto::goldmane as pb;
use crate::proto::goldmane::flow_collector_server::{FlowCollector, FlowCollectorServer};
use crate::queue::{ItemSender, Sent, SourceItem};
use crate::tls::ServerTls;
use crate::{ConnectedGuard, SourceError, connected_guard};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::net::{TcpListener, UnixListener};
use tokio_stream::Stream;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::Server;
use tonic::transport::server::{TcpIncoming, UdsConnectInfo};
use tonic::{Request, Response, Status, Streaming};

/// Where Felix's local reporter connects (`flowLogsLocalReporter: Enabled`).
pub const FELIX_LOCAL_SOCKET: &str = "/var/run/calico/flows/flows.sock";

/// The collector's settings and shared de-duplication state. One collector may serve a
/// unix socket and a TCP listener at once; both feed the same queue.
#[derive(Clone, Debug)]
pub struct FelixCollector {
    dedup: Arc<Mutex<FlowDedup>>,
}

impl Default for FelixCollector {
    fn default() -> FelixCollector {
        FelixCollector::new(DEFAULT_DEDUP_RETENTION_SECS)
    }
}

impl FelixCollector {
    /// `dedup_retention_secs`: how long (in flow time) a flow is remembered; it must cover
    /// Felix's five-minute resend cache.
    pub fn new(dedup_retention_secs: i64) -> FelixCollector {
        FelixCollector {
            dedup: Arc::new(Mutex::new(FlowDedup::new(dedup_retention_secs))),
        }
    }

    fn service(&self, tx: ItemSender, unix_path: Option<PathBuf>) -> FlowCollectorServer<Service> {
        FlowCollectorServer::new(Service {
            tx,
            dedup: self.dedup.clone(),
            unix_path,
        })
    }

    /// Serves Felix's local reporter on a unix socket until `shutdown`. A stale socket file
    /// at `path` is replaced; the file is removed at the end.
    pub async fn serve_unix(
        &self,
        path: &Path,
        tx: ItemSender,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), SourceError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let listener = UnixListener::bind(path)?;
        let service = self.service(tx, Some(path.to_path_buf()));
        let served = Server::builder()
            .serve_with_incoming_shutdown(service, UnixListenerStream::new(listener), shutdown)
            .await;
        let _ = std::fs::remove_file(path);
        Ok(served?)
    }

    /// Serves Felix over TCP on `listener` until `shutdown`: with mTLS when `tls` has a
    /// client CA (as Goldmane does), plain HTTP/2 without `tls`.
    pub async fn serve_tcp(
        &self,
        listener: TcpListener,
        tls: Option<&ServerTls>,
        tx: ItemSender,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), SourceError> {
        let mut builder = Server::builder();
        if let Some(tls) = tls {
            builder = builder
                .tls_config(tls.config())
                .map_err(|e| SourceError::Tls(crate::error_chain(&e)))?;
        }
        let service = self.service(tx, None);
        // Felix waits for each receipt before it sends the next flow: a receipt held back
        // by Nagle's algorithm would stall the node (Goldmane, in Go, sets TCP_NODELAY too).
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        Ok(builder
            .serve_with_incoming_shutdown(service, incoming, shutdown)
            .await?)
    }
}

#[derive(Clone, Debug)]
struct Service {
    tx: ItemSender,
    dedup: Arc<Mutex<FlowDedup>>,
    unix_path: Option<PathBuf>,
}

impl Service {
    fn scope<T>(&self, request: &Request<T>) -> String {
        if let Some(addr) = request.remote_addr() {
            return addr.ip().to_string();
        }
        match (
            &self.unix_path,
            request.extensions().get::<UdsConnectInfo>(),
        ) {
            (Some(path), _) => format!("unix:{}", path.display()),
            _ => "unknown".to_string(),
        }
    }

    /// Stores one update unless it is a duplicate. Returns false when the consumer is gone.
    fn take(&self, scope: &str, update: pb::FlowUpdate, converter: &mut FlowConverter) -> bool {
        let counters = self.tx.counters();
        let Some(flow) = update.flow else {
            counters.error(format!("Felix {scope}: update without a flow"));
            return true;
        };
        let log = match converter.convert(flow) {
            Ok(log) => log,
            Err(e) => {
                counters.error(format!("Felix {scope}: flow rejected: {e}"));
                return true;
            }
        };
        let Ok(mut dedup) = self.dedup.lock() else {
            return false;
        };
        let fp = dedup.fingerprint(&log);
        if dedup.contains(scope, fp) {
            counters.add_duplicates(1);
            return true;
        }
        match self.tx.send(SourceItem::FlowLog(Box::new(log))) {
            Sent::Queued => {
                dedup.insert(scope, fp);
                true
            }
            Sent::Dropped => true,
            Sent::Closed => false,
        }
    }
}

#[tonic::async_trait]
impl FlowCollector for Service {
    type ConnectStream = Receipts;

    async fn connect(
        &self,
        request: Request<Streaming<pb::FlowUpdate>>,
    ) -> Result<Response<Self::ConnectStream>, Status> {
        let scope = self.scope(&request);
        Ok(Response::new(Receipts {
            _connected: connected_guard(self.tx.counters()),
            updates: request.into_inner(),
            service: self.clone(),
            scope,
            converter: FlowConverter::default(),
            done: false,
        }))
    }
}

/// The answer to one Felix connection: a receipt for each update, made as the update is
/// read, on the connection's own task (Felix waits for each receipt, so there is never more
/// than one update to take).
struct Receipts {
    _connected: ConnectedGuard,
    updates: Streaming<pb::FlowUpdate>,
    service: Service,
    scope: String,
    converter: FlowConverter,
    done: bool,
}

impl Stream for Receipts {
    type Item = Result<pb::FlowReceipt, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        let this = &mut *self;
        match Pin::new(&mut this.updates).poll_next(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(update))) => {
                if this.service.take(&this.scope, update, &mut this.converter) {
                    Poll::Ready(Some(Ok(pb::FlowReceipt {})))
                } else {
                    this.done = true;
                    Poll::Ready(Some(Err(Status::unavailable("Flowlens is shutting down"))))
                }
            }
            Poll::Ready(Some(Err(status))) => {
                // A connection cut mid-stream ends here; Felix reconnects.
                let counters = this.service.tx.counters();
                counters.error(format!("Felix {}: {}", this.scope, status.message()));
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
        }
    }
}
