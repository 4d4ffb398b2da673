//! Helpers shared by the command-line tests.

#![allow(dead_code)]

use assert_cmd::Command;
use std::path::PathBuf;

/// The `flowlens` binary built for this test run.
pub fn flowlens() -> Command {
    Command::cargo_bin("flowlens").expect("binary builds")
}

/// The repository's built-in scenarios.
pub fn scenarios() -> PathBuf {
    flowlens_sim::scenarios_dir().expect("the repository's scenarios/ directory")
}

/// `flowlens ingest` of `input` into `data`, attributed with the `fme` scenario's manifests.
pub fn ingest_fme(data: &std::path::Path, input: &std::path::Path) -> Command {
    let mut cmd = flowlens();
    cmd.arg("ingest")
        .arg("--data")
        .arg(data)
        .arg("--snapshot")
        .arg(scenarios().join("fme/manifests"))
        .arg(input);
    cmd
}

/// `dir/data` holding ten minutes of simulated FME traffic (its engine policy still without
/// the port pool) from the simulator's `seed`, attributed and stored at Calico's default
/// levels.
pub fn fme_store(dir: &std::path::Path, seed: u64) -> PathBuf {
    let raw = dir.join("raw.jsonl");
    let data = dir.join("data");
    stdout(
        flowlens()
            .args([
                "simulate",
                "--scenario",
                "fme",
                "--duration",
                "10m",
                "--seed",
            ])
            .arg(seed.to_string())
            .arg("--output")
            .arg(&raw),
    );
    stdout(&mut ingest_fme(&data, &raw));
    data
}

/// Runs `cmd`, asserts it succeeded, and returns its standard output.
pub fn stdout(cmd: &mut Command) -> String {
    let out = cmd.output().expect("runs");
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A `flowlens serve` process and where it listens.
pub struct Served {
    pub child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The token from the printed URL (`#token=…`); none with `--no-auth`.
    pub token: Option<String>,
    /// Kept open, so that what the server prints later does not meet a closed pipe.
    _stdout: std::io::BufReader<std::process::ChildStdout>,
}

/// Starts `flowlens serve --port 0 --data DATA ARGS` and waits for the URL it prints.
pub fn serve(data: &std::path::Path, args: &[&str]) -> Served {
    use std::io::BufRead;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
        .args(["serve", "--port", "0", "--data"])
        .arg(data)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"));
    let (addr, fragment) = url.split_once('/').unwrap_or((url, ""));
    Served {
        child,
        addr: addr.to_string(),
        token: fragment.strip_prefix("#token=").map(str::to_string),
        _stdout: stdout,
    }
}

/// One HTTP/1.1 request with `headers`; the status, the head and the body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    (status, head.to_string(), body.to_string())
}

/// A GET without credentials: the status and the body.
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    let (status, _, body) = http(addr, "GET", path, &[], "");
    (status, body)
}

/// Polls the API until `check` accepts the answer to `path`.
pub fn eventually(
    addr: &str,
    path: &str,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let (status, body) = http_get(addr, path);
        if status == 200 {
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if check(&v) {
                return v;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {v}"
            );
        } else {
            assert!(
                std::time::Instant::now() < deadline,
                "{path}: {status} {body}"
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

pub fn sigterm(child: &std::process::Child) {
    std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
}
