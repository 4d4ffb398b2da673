//! The API as an attacker meets it: a real server on a loopback port, requests written by
//! hand so that nothing in a client library smooths them over.

#[allow(dead_code)]
#[path = "../../store/src/testutil.rs"]
mod testutil;

use flowlens_model::{FlowLog, Inventory};
use flowlens_server::{AppState, AuthConfig, ServerOptions, Token};
use flowlens_store::{EmbeddedOptions, EmbeddedStore, Store};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "test-token-0123456789abcdef";

/// The store's sample flow log, one of them named like a spreadsheet formula.
fn flow(i: u64) -> FlowLog {
    let mut log = testutil::sample_flow(i, 1_010 + i as i64);
    log.process_name = (i == 0).then(|| "=HYPERLINK(\"http://evil.example\")".to_string());
    log.process_id = None;
    log
}

/// A server with a few stored flows, on a runtime of its own (worker threads with tokio's
/// default stack, as in `flowlens serve`).
struct Server {
    addr: SocketAddr,
    /// The data directory, which also holds the UI served with --ui-dir.
    _dir: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// With the token, and the UI from a directory (as `--ui-dir`).
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let ui = dir.path().join("ui");
        std::fs::create_dir_all(ui.join("assets")).unwrap();
        std::fs::write(
            ui.join("index.html"),
            "<!doctype html><div id=\"root\"></div>",
        )
        .unwrap();
        std::fs::write(ui.join("assets/app.js"), "console.log(1)").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "do not serve").unwrap();
        let options = ServerOptions {
            ui_dir: Some(ui),
            auth: AuthConfig {
                token: Some(Token::new(TOKEN).unwrap()),
                ..AuthConfig::default()
            },
            hosts: Default::default(),
            https: false,
        };
        Server::start_with(dir, options, |_| {})
    }

    /// [`Server::start`] with `configure` applied to the state before serving.
    fn start_configured(configure: fn(&AppState)) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let options = ServerOptions {
            auth: AuthConfig {
                token: Some(Token::new(TOKEN).unwrap()),
                ..AuthConfig::default()
            },
            ..ServerOptions::default()
        };
        Server::start_with(dir, options, configure)
    }

    fn start_with(
        dir: tempfile::TempDir,
        options: ServerOptions,
        configure: fn(&AppState),
    ) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = dir.path().join("data");
        let addr = runtime.block_on(async move {
            let store = EmbeddedStore::open(&data, EmbeddedOptions::default()).unwrap();
            store.append((0..20).map(flow).collect()).await.unwrap();
            let store: Arc<dyn Store> = Arc::new(store);
            let state = AppState::new(store, Arc::new(Inventory::new()), Some(1_100));
            configure(&state);
            let router = flowlens_server::router(state, &options);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(flowlens_server::serve(
                listener,
                router,
                std::future::pending(),
            ));
            addr
        });
        Server {
            addr,
            _dir: dir,
            _runtime: runtime,
        }
    }

    /// Sends one request; the status and the body, or the I/O error when the server went
    /// away.
    fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> std::io::Result<(u16, String, String)> {
        let mut stream = TcpStream::connect(self.addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut text = format!("{method} {target} HTTP/1.1\r\nConnection: close\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            text.push_str(&format!("Host: {}\r\n", self.addr));
        }
        for (k, v) in headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        stream.write_all(text.as_bytes())?;
        // To the end, or to the end of the head of an endless event stream.
        let mut answer = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&answer).to_ascii_lowercase();
            if text.contains("\r\n\r\n") && text.contains("text/event-stream") {
                break;
            }
        }
        let answer = String::from_utf8_lossy(&answer).into_owned();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("no status in {head:?}")))?;
        Ok((status, head.to_string(), body.to_string()))
    }

    /// A GET with the token.
    fn get(&self, target: &str) -> (u16, String, String) {
        self.request(
            "GET",
            target,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            "",
        )
        .unwrap()
    }

    /// Opens a live stream and keeps its connection: the status and head, and the
    /// connection (dropping it closes the stream).
    fn open_live(&self) -> (u16, String, TcpStream) {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let text = format!(
            "GET /api/flows/live HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n",
            self.addr
        );
        stream.write_all(text.as_bytes()).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(stream.read(&mut byte).unwrap(), 1, "the head ended early");
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, head, stream)
    }

    fn assert_alive(&self) {
        let (status, _, body) = self.get("/api/health");
        assert_eq!(status, 200, "{body}");
    }
}

/// Every route of the router, from its source (as the OpenAPI test reads them), with an
/// example path for the ones with parameters.
fn routes() -> Vec<(String, String)> {
    let source = include_str!("../src/api/mod.rs");
    let mut routes = Vec::new();
    for part in source.split(".route(").skip(1) {
        let path = part
            .trim_start()
            .strip_prefix('"')
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let path = path.replace("{name}", "rogue");
        let handlers = &part[..part.find(")\n").unwrap_or(part.len())];
        for method in ["get", "post", "put", "delete"] {
            if handlers.contains(&format!("{method}(")) || handlers.contains(&format!(".{method}("))
            {
                routes.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(routes.len() >= 20, "{routes:?}");
    routes
}

#[test]
fn every_route_but_health_and_login_needs_the_token() {
    let server = Server::start();
    let bearer = format!("Bearer {TOKEN}");
    let cookie = format!("flowlens_session={TOKEN}");
    for (method, path) in routes() {
        let public = path == "/api/health" || path == "/api/login" || path == "/api/logout";
        let (status, head, body) = server.request(&method, &path, &[], "").unwrap();
        if public {
            assert_ne!(status, 401, "{method} {path} without a token: {body}");
        } else {
            assert_eq!(status, 401, "{method} {path} without a token: {body}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("www-authenticate: bearer"),
                "{head}"
            );
            let (status, _, _) = server
                .request(
                    &method,
                    &path,
                    &[("Authorization", "Bearer not-the-token-at-all")],
                    "",
                )
                .unwrap();
            assert_eq!(status, 401, "{method} {path} with a wrong token");
        }
        for auth in [
            ("Authorization", bearer.as_str()),
            ("Cookie", cookie.as_str()),
        ] {
            let (status, _, body) = server.request(&method, &path, &[auth], "").unwrap();
            assert_ne!(status, 401, "{method} {path} with {}: {body}", auth.0);
        }
    }
    // Unknown API paths give nothing away either.
    let (status, _, _) = server.request("GET", "/api/nothing", &[], "").unwrap();
    assert_eq!(status, 401);
}

#[test]
fn login_sets_a_strict_http_only_cookie_for_the_right_token_only() {
    let server = Server::start();
    let (status, head, _) = server
        .request(
            "POST",
            "/api/login",
            &[("Content-Type", "application/json")],
            &format!("{{\"token\":\"{TOKEN}\"}}"),
        )
        .unwrap();
    assert_eq!(status, 204);
    let cookie = head
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no cookie in {head}"));
    for part in [
        &format!("flowlens_session={TOKEN}"),
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here: {cookie}");
    let (status, head, _) = server
        .request(
            "POST",
            "/api/login",
            &[("Content-Type", "application/json")],
            "{\"token\":\"guess-guess-guess-guess\"}",
        )
        .unwrap();
    assert_eq!(status, 401);
    assert!(!head.to_ascii_lowercase().contains("set-cookie"), "{head}");
}

#[test]
fn requests_for_other_hosts_get_421() {
    let server = Server::start();
    let bearer = format!("Bearer {TOKEN}");
    for host in [
        "evil.example",
        "evil.example:8080",
        "localhost.evil.example",
    ] {
        for path in ["/api/flows", "/api/health", "/"] {
            let (status, _, body) = server
                .request(
                    "GET",
                    path,
                    &[("Host", host), ("Authorization", &bearer)],
                    "",
                )
                .unwrap();
            assert_eq!(status, 421, "{host} {path}: {body}");
        }
    }
    for host in ["localhost:1234", "127.0.0.1", "[::1]:80"] {
        let (status, _, _) = server
            .request(
                "GET",
                "/api/flows",
                &[("Host", host), ("Authorization", &bearer)],
                "",
            )
            .unwrap();
        assert_eq!(status, 200, "{host}");
    }
}

#[test]
fn cross_origin_changes_are_refused() {
    let server = Server::start();
    let bearer = format!("Bearer {TOKEN}");
    let cookie = format!("flowlens_session={TOKEN}");
    let same = format!("http://{}", server.addr);
    // The "simple requests" a page on another site can send without a preflight.
    for (method, path) in [
        ("POST", "/api/scenario/steps/rogue"),
        ("POST", "/api/policies/validate"),
        ("POST", "/api/policies/preview"),
        ("PUT", "/api/policies"),
        ("DELETE", "/api/policy?id=np:a/b"),
        ("POST", "/api/login"),
    ] {
        for evil in [
            vec![("Origin", "http://evil.example")],
            vec![("Origin", "null")],
            vec![("Sec-Fetch-Site", "cross-site")],
            vec![("Origin", same.as_str()), ("Sec-Fetch-Site", "same-site")],
        ] {
            let mut headers = evil.clone();
            headers.push(("Cookie", &cookie));
            headers.push(("Content-Type", "text/plain"));
            let (status, _, body) = server.request(method, path, &headers, "x").unwrap();
            assert_eq!(status, 403, "{method} {path} {evil:?}: {body}");
        }
        // From the server's own page, the request reaches the handler.
        let headers = [
            ("Origin", same.as_str()),
            ("Sec-Fetch-Site", "same-origin"),
            ("Authorization", bearer.as_str()),
        ];
        let (status, _, body) = server.request(method, path, &headers, "x").unwrap();
        assert!(
            ![401, 403, 421].contains(&status),
            "{method} {path}: {status} {body}"
        );
    }
}

fn many_filters(n: usize) -> String {
    let mut target = String::from("/api/flows?");
    for i in 0..n {
        target.push_str(&format!("filter=dest_port!={i}&"));
    }
    target
}

#[test]
fn a_thousand_filters_are_refused_and_the_server_lives_on() {
    let server = Server::start();
    server.assert_alive();
    let (status, _, body) = server.get(&many_filters(1_000));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 64"), "{body}");
    server.assert_alive();
    let (status, _, body) = server.get(&many_filters(64));
    assert_eq!(status, 200, "{body}");
    let sorted = format!("/api/flows?{}", "sort=bytes_in&".repeat(9));
    let (status, _, body) = server.get(&sorted);
    assert_eq!(status, 400, "{body}");
    let list: Vec<String> = (0..1_000).map(|i| i.to_string()).collect();
    let (status, _, body) = server.get(&format!(
        "/api/flows?filter=dest_port%3Din:{}",
        list.join(",")
    ));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 256"), "{body}");
    server.assert_alive();
}

#[test]
fn a_hundred_thousand_filters_are_refused_and_the_server_lives_on() {
    let server = Server::start();
    match server.request(
        "GET",
        &many_filters(100_000),
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        "",
    ) {
        Ok((status, _, body)) => assert!([400, 414, 431].contains(&status), "{status} {body}"),
        // The server may close the connection on a request line it will not read.
        Err(e) => eprintln!("the server closed the connection: {e}"),
    }
    server.assert_alive();
}

#[test]
fn the_ui_directory_serves_its_own_files_only() {
    let server = Server::start();
    let (status, head, body) = server.get("/assets/app.js");
    assert_eq!(status, 200, "{head}");
    assert_eq!(body, "console.log(1)");
    for evil in [
        "/%2Fetc%2Fpasswd",
        "/..%2Fsecret.txt",
        "/assets/..%2F..%2Fsecret.txt",
        "/%2e%2e/secret.txt",
        "/assets%5C..%5C..%5Csecret.txt",
    ] {
        let (status, _, body) = server.get(evil);
        assert_eq!(status, 404, "{evil}: {body}");
        assert!(
            !body.contains("root:") && !body.contains("do not serve"),
            "{evil}: {body}"
        );
    }
}

#[test]
fn every_response_carries_the_browser_protections() {
    let server = Server::start();
    for path in ["/", "/api/health", "/api/flows", "/assets/app.js"] {
        let (_, head, _) = server.get(path);
        let head = head.to_ascii_lowercase();
        for header in [
            "content-security-policy: default-src 'self'; script-src 'self';",
            "frame-ancestors 'none'",
            "x-content-type-options: nosniff",
            "referrer-policy: no-referrer",
        ] {
            assert!(head.contains(header), "{path} lacks {header}: {head}");
        }
    }
    let (_, head, body) = server.get("/");
    assert!(body.contains("<div id=\"root\">"), "{body}");
    assert!(head.contains("text/html"), "{head}");
    // Refusals carry them too.
    let (_, head, _) = server.request("GET", "/api/flows", &[], "").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-security-policy"),
        "{head}"
    );
}

#[test]
fn csv_exports_defuse_formulas() {
    let server = Server::start();
    let (status, _, csv) = server.get("/api/flows/export?format=csv");
    assert_eq!(status, 200, "{csv}");
    assert!(
        csv.contains("\"'=HYPERLINK(\"\"http://evil.example\"\")\""),
        "{csv}"
    );
    assert!(!csv.contains(",=HYPERLINK"), "{csv}");
}

#[test]
fn live_streams_beyond_the_cap_get_503_with_retry_after_until_one_closes() {
    let server = Server::start_configured(|state| state.set_max_live_streams(2));
    let (first, _, first_stream) = server.open_live();
    let (second, head, _second_stream) = server.open_live();
    assert_eq!((first, second), (200, 200), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("text/event-stream"),
        "{head}"
    );

    let (status, head, body) = server.get("/api/flows/live");
    assert_eq!(status, 503, "{head}{body}");
    let head = head.to_ascii_lowercase();
    assert!(
        head.contains(&format!(
            "retry-after: {}",
            flowlens_server::LIVE_RETRY_AFTER_SECS
        )),
        "{head}"
    );
    assert!(body.contains("2 live streams open"), "{body}");
    assert!(body.contains("--max-live-streams"), "{body}");
    // The cap is on live streams only.
    server.assert_alive();
    let (status, _, _) = server.get("/api/flows?limit=1");
    assert_eq!(status, 200);

    // A closed stream frees its slot once the server notices (at the latest at its next
    // keep-alive, 15 s).
    drop(first_stream);
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    loop {
        let (status, _, _stream) = server.open_live();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            std::time::Instant::now() < deadline,
            "the closed stream's slot was never freed"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
