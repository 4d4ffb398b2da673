//! HTTPS for the API and the UI: rustls with the ring provider, HTTP/2 or HTTP/1.1 chosen by
//! ALPN, a certificate that is read again when its files change (cert-manager and Kubernetes
//! secret volumes replace them in place), and handshakes that run beside the accept loop so
//! that a slow or silent client holds up nobody else.

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How often, at most, a handshake looks whether the certificate files changed.
pub const RELOAD_CHECK_EVERY: Duration = Duration::from_secs(5);

/// How long a client may take to finish its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// What is wrong with the certificate or the key.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error(
        "the key {} does not belong to the certificate {} (their public keys differ)",
        key.display(),
        cert.display()
    )]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("setting up TLS: {0}")]
    Setup(String),
}

fn file_error(path: &Path, reason: impl Into<String>) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// The provider every part of the HTTPS server uses: ring, named here rather than taken
/// from the process default, which another crate may have set or left unset. rustls
/// deprecates it for lacking post-quantum key exchange, which only aws-lc-rs offers (and
/// that needs cmake and a long C build); tonic and kube use ring here too.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The certificate chain in `cert` and the private key in `key` (PEM), checked to belong
/// together.
fn load_pair(provider: &CryptoProvider, cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let text = std::fs::read(cert)
        .map_err(|e| file_error(cert, format!("cannot read the certificate: {e}")))?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert, format!("not a PEM certificate: {e}")))?;
    if chain.is_empty() {
        return Err(file_error(
            cert,
            "holds no certificate (no PEM \"BEGIN CERTIFICATE\" section)",
        ));
    }
    let text =
        std::fs::read(key).map_err(|e| file_error(key, format!("cannot read the key: {e}")))?;
    let der = PrivateKeyDer::from_pem_slice(&text).map_err(|e| match e {
        pem::Error::NoItemsFound => file_error(
            key,
            "holds no private key (no PEM \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" section)",
        ),
        e => file_error(key, format!("not a PEM private key: {e}")),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| file_error(key, format!("unusable private key: {e}")))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        // ring cannot tell the public key of every key type; such a pair is used as it is.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => {
            Err(TlsError::Mismatch {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
            })
        }
        Err(e) => Err(file_error(cert, format!("not a usable certificate: {e}"))),
    }
}

/// What a file looked like when last read: a change of any of these means "read it again".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    // Follows symbolic links: a secret volume swaps the link's target.
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode,
    })
}

/// The server's certificate, read again from its files when they change (looked at on a
/// handshake, at most every `check_every`). A pair that fails to load leaves the one in use
/// serving, so a half-written rotation never takes the server down.
pub struct ReloadingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    check_every: Duration,
    state: Mutex<Loaded>,
    reloads: AtomicU64,
    failed_reloads: AtomicU64,
}

struct Loaded {
    current: Arc<CertifiedKey>,
    stamps: (Option<Stamp>, Option<Stamp>),
    checked: Instant,
}

impl ReloadingCert {
    /// Reads the pair now: an error here is an error at start.
    pub fn load(cert: &Path, key: &Path, check_every: Duration) -> Result<ReloadingCert, TlsError> {
        let provider = provider();
        let stamps = (stamp(cert), stamp(key));
        let current = Arc::new(load_pair(&provider, cert, key)?);
        Ok(ReloadingCert {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            check_every,
            state: Mutex::new(Loaded {
                current,
                stamps,
                checked: Instant::now(),
            }),
            reloads: AtomicU64::new(0),
            failed_reloads: AtomicU64::new(0),
        })
    }

    /// The pair to serve, read again first if its files changed since the last look.
    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= self.check_every {
            state.checked = Instant::now();
            let stamps = (stamp(&self.cert), stamp(&self.key));
            // A failed pair is not tried again until one of the files changes once more
            // (the rotation's second file, usually).
            if stamps != state.stamps {
                state.stamps = stamps;
                match load_pair(&self.provider, &self.cert, &self.key) {
                    Ok(pair) => {
                        state.current = Arc::new(pair);
                        self.reloads.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(cert = %self.cert.display(), "HTTPS certificate reloaded");
                    }
                    Err(e) => {
                        self.failed_reloads.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            "HTTPS certificate not reloaded, the one in use keeps serving: {e}"
                        );
                    }
                }
            }
        }
        state.current.clone()
    }

    /// Certificates read again successfully since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Changes of the files that did not give a usable pair.
    pub fn failed_reloads(&self) -> u64 {
        self.failed_reloads.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for ReloadingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReloadingCert")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The HTTPS settings of the server: the certificate and what is offered by ALPN.
#[derive(Clone, Debug)]
pub struct Https {
    certificate: Arc<ReloadingCert>,
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
}

impl Https {
    /// The certificate chain and key from PEM files, looked at again every
    /// [`RELOAD_CHECK_EVERY`].
    pub fn load(cert: &Path, key: &Path) -> Result<Https, TlsError> {
        Https::load_checking_every(cert, key, RELOAD_CHECK_EVERY)
    }

    pub fn load_checking_every(
        cert: &Path,
        key: &Path,
        check_every: Duration,
    ) -> Result<Https, TlsError> {
        let certificate = Arc::new(ReloadingCert::load(cert, key, check_every)?);
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Setup(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(certificate.clone());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Https {
            certificate,
            config: Arc::new(config),
            handshake_timeout: HANDSHAKE_TIMEOUT,
        })
    }

    /// How long a client may take over its handshake ([`HANDSHAKE_TIMEOUT`] unless set).
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Https {
        self.handshake_timeout = timeout;
        self
    }

    pub fn certificate(&self) -> &ReloadingCert {
        &self.certificate
    }
}

/// A listener for `axum::serve` that hands over connections whose TLS handshake is done.
/// A task accepts TCP connections and gives each handshake a task of its own, bounded by the
/// handshake timeout; failed handshakes are counted and logged at debug level.
pub struct TlsListener {
    incoming: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    stats: HttpsStats,
    accepting: tokio::task::AbortHandle,
}

/// The HTTPS server's counters, for `/metrics`.
#[derive(Clone, Debug)]
pub struct HttpsStats {
    failed_handshakes: Arc<AtomicU64>,
    certificate: Arc<ReloadingCert>,
}

impl HttpsStats {
    /// Handshakes that failed or timed out.
    pub fn failed_handshakes(&self) -> u64 {
        self.failed_handshakes.load(Ordering::Relaxed)
    }

    pub fn certificate(&self) -> &ReloadingCert {
        &self.certificate
    }
}

impl TlsListener {
    /// Starts accepting on `tcp` (inside a Tokio runtime).
    pub fn new(tcp: TcpListener, https: &Https) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        // Finished handshakes wait here until the server takes them.
        let (sender, incoming) = mpsc::channel(64);
        let failed = Arc::new(AtomicU64::new(0));
        let accepting = tokio::spawn(accept_loop(
            tcp,
            TlsAcceptor::from(https.config.clone()),
            https.handshake_timeout,
            sender,
            failed.clone(),
        ))
        .abort_handle();
        Ok(TlsListener {
            incoming,
            local,
            stats: HttpsStats {
                failed_handshakes: failed,
                certificate: https.certificate.clone(),
            },
            accepting,
        })
    }

    /// The counters of this listener's handshakes and certificate reloads.
    pub fn stats(&self) -> HttpsStats {
        self.stats.clone()
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.incoming.recv().await {
            Some(connection) => connection,
            // The accepting task ended (only when aborted): no connection will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    timeout: Duration,
    sender: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    failed: Arc<AtomicU64>,
) {
    loop {
        let (stream, peer) = match tcp.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                accept_error(e).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let sender = sender.clone();
        let failed = failed.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    // Fails only when the server has stopped taking connections.
                    let _ = sender.send((tls, peer)).await;
                }
                Ok(Err(e)) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "TLS handshake failed: {e}");
                }
                Err(_) => {
                    failed.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "TLS handshake took longer than {timeout:?}");
                }
            }
        });
    }
}

/// A connection that failed before it was accepted is the client's business; anything else
/// (out of file descriptors, say) is worth a pause before trying again, as axum does.
async fn accept_error(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accepting a connection failed: {e}");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let (c, k) = (
            dir.join(format!("{name}.crt")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn bad_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = pair(dir.path(), "a");
        let (_, other_key) = pair(dir.path(), "b");
        let p = provider();
        assert!(load_pair(&p, &cert, &key).is_ok());
        let missing = dir.path().join("missing.pem");
        let err = load_pair(&p, &missing, &key).unwrap_err().to_string();
        assert!(
            err.contains("missing.pem") && err.contains("cannot read"),
            "{err}"
        );
        let err = load_pair(&p, &cert, &other_key).unwrap_err().to_string();
        assert!(
            err.contains("b.key") && err.contains("a.crt") && err.contains("does not belong"),
            "{err}"
        );
        // The key where the certificate should be, and the other way round.
        let err = load_pair(&p, &key, &key).unwrap_err().to_string();
        assert!(
            err.contains("a.key") && err.contains("no certificate"),
            "{err}"
        );
        let err = load_pair(&p, &cert, &cert).unwrap_err().to_string();
        assert!(
            err.contains("a.crt") && err.contains("no private key"),
            "{err}"
        );
        let garbage = dir.path().join("garbage.key");
        std::fs::write(
            &garbage,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let err = load_pair(&p, &cert, &garbage).unwrap_err().to_string();
        assert!(err.contains("garbage.key"), "{err}");
    }
}
