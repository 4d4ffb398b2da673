//! HTTPS as a client meets it: a real server on a loopback port with certificates made here,
//! reached with tokio-rustls (and hyper for HTTP/2).

use axum::body::Bytes;
use flowlens_model::Inventory;
use flowlens_server::{AppState, AuthConfig, Https, HttpsStats, ServerOptions, TlsListener, Token};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, Store};
use http_body_util::{BodyExt, Empty};
use rustls::pki_types::{CertificateDer, ServerName};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

const TOKEN: &str = "test-token-0123456789abcdef";

/// A CA the test client trusts, and the server certificates it signs.
struct Ca {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "flowlens test CA");
        let key = rcgen::KeyPair::generate().unwrap();
        Ca {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).unwrap(),
        }
    }

    /// A server certificate for localhost and 127.0.0.1: (certificate PEM, key PEM, DER).
    fn leaf(&self) -> (String, String, CertificateDer<'static>) {
        let params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }

    fn client(&self, alpn: &[&[u8]]) -> TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        TlsConnector::from(Arc::new(config))
    }
}

/// Writes a file the way a secret volume or cert-manager replaces one: a new file renamed
/// over the old.
fn replace(path: &Path, text: &str) {
    let fresh = path.with_extension("new");
    std::fs::write(&fresh, text).unwrap();
    std::fs::rename(&fresh, path).unwrap();
}

struct Server {
    addr: SocketAddr,
    cert: PathBuf,
    key: PathBuf,
    https: Https,
    stats: HttpsStats,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(ca: &Ca, check_every: Duration, handshake_timeout: Duration) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let (cert_pem, key_pem, _) = ca.leaf();
        let cert = dir.path().join("tls.crt");
        let key = dir.path().join("tls.key");
        std::fs::write(&cert, cert_pem).unwrap();
        std::fs::write(&key, key_pem).unwrap();
        let https = Https::load_checking_every(&cert, &key, check_every)
            .unwrap()
            .with_handshake_timeout(handshake_timeout);
        let store =
            EmbeddedStore::open(dir.path().join("data"), EmbeddedOptions::default()).unwrap();
        let store: Arc<dyn Store> = Arc::new(store);
        let state = AppState::new(store, Arc::new(Inventory::new()), None);
        let options = ServerOptions {
            ui_dir: None,
            auth: AuthConfig {
                token: Some(Token::new(TOKEN).unwrap()),
                ..AuthConfig::default()
            },
            hosts: Default::default(),
            https: true,
        };
        let router = flowlens_server::router(state.clone(), &options);
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listener = TlsListener::new(tcp, &https).unwrap();
        let addr = axum::serve::Listener::local_addr(&listener).unwrap();
        let stats = listener.stats();
        state.attach_https(stats.clone());
        tokio::spawn(flowlens_server::serve_tls(
            listener,
            router,
            std::future::pending(),
        ));
        Server {
            addr,
            cert,
            key,
            https,
            stats,
            _dir: dir,
        }
    }

    async fn connect(&self, client: &TlsConnector) -> std::io::Result<TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        client.connect(name, tcp).await
    }

    /// The certificate the server presents now.
    async fn peer_certificate(&self, ca: &Ca) -> CertificateDer<'static> {
        let tls = self.connect(&ca.client(&[b"http/1.1"])).await.unwrap();
        tls.get_ref().1.peer_certificates().unwrap()[0].clone()
    }
}

/// One HTTP/1.1 request over `tls`, written by hand: the head and the body of the answer.
async fn http1(
    mut tls: TlsStream<TcpStream>,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (String, String) {
    let mut text = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        text.push_str(&format!("{k}: {v}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    tls.write_all(text.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    // A close without close_notify is an error to rustls; what came before it counts.
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (head.to_string(), body.to_string())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The count once it reached `expected` (the server counts just after it closes the
/// connection the client saw closed), or what it is after five seconds.
async fn failures_reaching(stats: &HttpsStats, expected: u64) -> u64 {
    for _ in 0..100 {
        if stats.failed_handshakes() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stats.failed_handshakes()
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_answers_over_http2_and_http1_as_alpn_asks() {
    let ca = Ca::new();
    let server = Server::start(&ca, MINUTE, MINUTE).await;

    // A client offering both gets HTTP/2, and HTTP/2 is spoken.
    let tls = server
        .connect(&ca.client(&[b"h2", b"http/1.1"]))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let request = axum::http::Request::get(format!("https://{}/api/health", server.addr))
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), axum::http::Version::HTTP_2);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("ok"), "{body:?}");

    // A client offering only HTTP/1.1, or nothing, gets HTTP/1.1.
    for alpn in [&[&b"http/1.1"[..]][..], &[]] {
        let tls = server.connect(&ca.client(alpn)).await.unwrap();
        let expected = (!alpn.is_empty()).then_some(&b"http/1.1"[..]);
        assert_eq!(tls.get_ref().1.alpn_protocol(), expected);
        let host = server.addr.to_string();
        let (head, body) = http1(tls, "GET", "/api/health", &[("Host", &host)], "").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(body.contains("ok"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_to_the_https_port_gets_no_plain_text_answer() {
    let ca = Ca::new();
    let server = Server::start(&ca, MINUTE, MINUTE).await;
    let mut plain = TcpStream::connect(server.addr).await.unwrap();
    let request = format!(
        "GET /api/health HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        server.addr
    );
    plain.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), plain.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a plain-text client waiting");
    assert!(
        !String::from_utf8_lossy(&answer).contains("HTTP/"),
        "{answer:?}"
    );
    assert!(
        !String::from_utf8_lossy(&answer).contains("ok"),
        "{answer:?}"
    );
    assert_eq!(failures_reaching(&server.stats, 1).await, 1);
    // The server lives on.
    let tls = server.connect(&ca.client(&[b"http/1.1"])).await.unwrap();
    let host = server.addr.to_string();
    let (head, _) = http1(tls, "GET", "/api/health", &[("Host", &host)], "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_holds_up_nobody_and_is_dropped_after_the_handshake_timeout() {
    let ca = Ca::new();
    let server = Server::start(&ca, MINUTE, Duration::from_secs(3)).await;
    // Connected, and never a ClientHello.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let tls = tokio::time::timeout(
            Duration::from_secs(2),
            server.connect(&ca.client(&[b"http/1.1"])),
        )
        .await
        .expect("a handshake waited for the silent client")
        .unwrap();
        let host = server.addr.to_string();
        let (head, _) = http1(tls, "GET", "/api/health", &[("Host", &host)], "").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    // The silent one is closed once its time is up, and counted.
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buf))
        .await
        .expect("the silent client was never dropped");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert_eq!(failures_reaching(&server.stats, 1).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_certificate_files_are_served_and_a_broken_replacement_is_not() {
    let ca = Ca::new();
    let server = Server::start(&ca, Duration::from_millis(100), MINUTE).await;
    let first = server.peer_certificate(&ca).await;

    // A rotation: the key and the certificate replaced.
    let (cert_pem, key_pem, second) = ca.leaf();
    assert_ne!(first, second);
    replace(&server.key, &key_pem);
    replace(&server.cert, &cert_pem);
    let mut seen = first.clone();
    for _ in 0..100 {
        seen = server.peer_certificate(&ca).await;
        if seen == second {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen == second, "the new certificate was never served");
    assert_eq!(server.https.certificate().reloads(), 1);

    // A broken certificate, then a key of another certificate: the second pair serves on.
    replace(
        &server.cert,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.peer_certificate(&ca).await == second);
    replace(&server.cert, &cert_pem);
    let (_, other_key, _) = ca.leaf();
    replace(&server.key, &other_key);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(server.peer_certificate(&ca).await == second);
    assert!(server.https.certificate().failed_reloads() >= 2);
    assert_eq!(server.https.certificate().reloads(), 1);
    // And /metrics says so.
    let tls = server.connect(&ca.client(&[b"http/1.1"])).await.unwrap();
    let host = server.addr.to_string();
    let bearer = format!("Bearer {TOKEN}");
    let (head, body) = http1(
        tls,
        "GET",
        "/metrics",
        &[("Host", &host), ("Authorization", &bearer)],
        "",
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body.contains("flowlens_https_certificate_reloads_total 1"),
        "{body}"
    );
    assert!(
        body.contains("flowlens_https_certificate_reload_failures_total"),
        "{body}"
    );
    assert!(
        body.contains("flowlens_https_handshake_failures_total"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tls_the_cookie_is_secure_and_hsts_is_sent() {
    let ca = Ca::new();
    let server = Server::start(&ca, MINUTE, MINUTE).await;
    let client = ca.client(&[b"http/1.1"]);
    let host = server.addr.to_string();
    let tls = server.connect(&client).await.unwrap();
    let (head, _) = http1(
        tls,
        "POST",
        "/api/login",
        &[("Host", &host), ("Content-Type", "application/json")],
        &format!("{{\"token\":\"{TOKEN}\"}}"),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 204"), "{head}");
    let cookie = header(&head, "set-cookie").unwrap_or_else(|| panic!("no cookie in {head}"));
    for part in ["HttpOnly", "SameSite=Strict", "; Secure"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert_eq!(
        header(&head, "strict-transport-security"),
        Some("max-age=31536000"),
        "{head}"
    );
    // On every response, refusals included; never to localhost, whose ports it would pin.
    let tls = server.connect(&client).await.unwrap();
    let (head, _) = http1(tls, "GET", "/api/flows", &[("Host", &host)], "").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        header(&head, "strict-transport-security").is_some(),
        "{head}"
    );
    let tls = server.connect(&client).await.unwrap();
    let (head, _) = http1(tls, "GET", "/api/health", &[("Host", "localhost")], "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        header(&head, "strict-transport-security").is_none(),
        "{head}"
    );
}
