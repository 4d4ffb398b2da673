//! `flowlens demo` as a user runs it: it prints its URL, serves the API over live scenario
//! traffic, takes a step from `flowlens scenario step`, and stops cleanly on SIGTERM with
//! everything stored.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn http(addr: &str, method: &str, path: &str, token: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn demo_serves_live_traffic_applies_steps_and_stops_cleanly() {
    let data = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("flowlens");
    let mut demo = Command::new(&bin)
        .args([
            "demo",
            "--scenario",
            "storefront",
            "--port",
            "0",
            "--speed",
            "30",
        ])
        .args(["--backfill", "10m", "--data"])
        .arg(data.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(demo.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let login = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    let (url, token) = login
        .split_once("/#token=")
        .unwrap_or_else(|| panic!("no token in {login:?}"));
    let addr = url.trim_start_matches("http://").to_string();
    let token_file = std::fs::read_to_string(data.path().join("api-token")).unwrap();
    assert_eq!(token_file.trim(), token);
    let http = |addr: &str, method: &str, path: &str| http(addr, method, path, token);
    let (status, _) = self::http(&addr, "GET", "/api/scenario", "wrong-token");
    assert_eq!(status, 401);

    let (status, body) = http(&addr, "GET", "/api/health");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"scenario\":\"storefront\""), "{body}");
    let (status, page) = http(&addr, "GET", "/");
    assert_eq!(status, 200);
    assert!(
        page.contains("<div id=\"root\">"),
        "the UI is served: {page}"
    );

    let step = Command::new(&bin)
        .args(["scenario", "step", "storefront", "rogue", "--url", &login])
        .output()
        .unwrap();
    assert!(
        step.status.success(),
        "{}",
        String::from_utf8_lossy(&step.stderr)
    );
    let wrong = Command::new(&bin)
        .args(["scenario", "step", "fme", "fix", "--url", &login])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("runs scenario \"storefront\""));

    // The rogue pod's probes are denied within a few simulated aggregation intervals.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = http(&addr, "GET", "/api/flows?filter=action%3Ddeny&limit=1");
        if body.contains("\"source_name_aggr\":\"rogue-") {
            break;
        }
        assert!(Instant::now() < deadline, "no denied rogue flow: {body}");
        std::thread::sleep(Duration::from_millis(300));
    }

    let pid = demo.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = demo.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");

    // What it stored is there for the next run.
    let flows = Command::new(&bin)
        .args(["flows", "--data"])
        .arg(data.path())
        .args([
            "--filter",
            "action=deny",
            "--output",
            "jsonl",
            "--limit",
            "5",
        ])
        .output()
        .unwrap();
    assert!(
        flows.status.success(),
        "{}",
        String::from_utf8_lossy(&flows.stderr)
    );
    assert!(String::from_utf8_lossy(&flows.stdout).contains("rogue-"));
}
