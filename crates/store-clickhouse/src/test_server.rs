//! A private ClickHouse server for tests: started from the installed `clickhouse-server`
//! with a generated configuration in a temporary directory, listening on free loopback
//! ports, ready once `/ping` answers, and killed when the test process ends (however it
//! ends: the kernel kills it when the thread that started it exits) or when an owned
//! [`TestServer`] is dropped.
//!
//! Without an installed server the tests skip, saying so, unless [`REQUIRE_ENV`] is `1`
//! (`scripts/test.sh` sets it as root, after `scripts/clickhouse-test-deps.sh` installed
//! Debian's 18.16): then a missing server fails them.

use crate::config::ClickHouseConfig;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Set to `1` to fail, rather than skip, when no ClickHouse server is installed.
pub const REQUIRE_ENV: &str = "FLOWLENS_REQUIRE_CLICKHOUSE";
/// The server binary to run (`clickhouse-server`, or `clickhouse` run as `clickhouse server`);
/// found on the `PATH` and in `/usr/sbin` and `/usr/bin` otherwise.
pub const SERVER_ENV: &str = "FLOWLENS_CLICKHOUSE_SERVER";
/// A user with a password, besides `default` without one, for the tests of credentials.
pub const TEST_USER: &str = "flowlens_test";
pub const TEST_PASSWORD: &str = "pa$$ w0rd'\"";

/// How long a server may take to answer `/ping`.
const READY_WITHIN: Duration = Duration::from_secs(90);

/// A running ClickHouse server of the test process.
pub struct TestServer {
    http_port: u16,
    child: Option<Child>,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// The process's shared server, started on first use. `None` when no server is installed
/// and [`REQUIRE_ENV`] is not set (a note says the test skipped). Panics when one is
/// required but missing, or cannot be started.
pub fn server() -> Option<&'static TestServer> {
    static SERVER: OnceLock<Option<TestServer>> = OnceLock::new();
    SERVER
        .get_or_init(|| {
            let binary = match find_binary() {
                Some(b) => b,
                None if required() => panic!(
                    "{REQUIRE_ENV}=1 but no ClickHouse server is installed \
                     (scripts/clickhouse-test-deps.sh installs Debian's)"
                ),
                None => {
                    eprintln!(
                        "skipping: no ClickHouse server installed \
                         (scripts/clickhouse-test-deps.sh installs Debian's; \
                         {REQUIRE_ENV}=1 makes this a failure)"
                    );
                    return None;
                }
            };
            // Started from a thread that never ends, so that the kernel's parent-death
            // signal fires only when the whole process exits.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::Builder::new()
                .name("clickhouse-test-server".into())
                .spawn(move || {
                    let _ = tx.send(TestServer::start_with(&binary, None));
                    loop {
                        std::thread::park();
                    }
                })
                .expect("starting the thread that runs the ClickHouse test server");
            match rx.recv() {
                Ok(Ok(server)) => Some(server),
                Ok(Err(e)) => panic!("starting the ClickHouse test server: {e}"),
                Err(_) => panic!("the thread starting the ClickHouse test server died"),
            }
        })
        .as_ref()
}

fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1")
}

/// The server binary and the arguments before `--config-file`.
fn find_binary() -> Option<(PathBuf, Vec<&'static str>)> {
    if let Some(path) = std::env::var_os(SERVER_ENV) {
        let path = PathBuf::from(path);
        let args = if path.file_name().is_some_and(|n| n == "clickhouse") {
            vec!["server"]
        } else {
            vec![]
        };
        return Some((path, args));
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")]);
    for (name, args) in [
        ("clickhouse-server", vec![]),
        ("clickhouse", vec!["server"]),
    ] {
        if let Some(dir) = dirs.iter().find(|d| is_executable(&d.join(name))) {
            return Some((dir.join(name), args));
        }
    }
    None
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Three ports free on loopback right now (HTTP, native TCP, interserver).
fn free_ports() -> std::io::Result<[u16; 3]> {
    let listeners = [
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?,
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?,
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?,
    ];
    let mut ports = [0; 3];
    for (port, l) in ports.iter_mut().zip(&listeners) {
        *port = l.local_addr()?.port();
    }
    Ok(ports)
}

fn xml_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

fn write_config(dir: &Path, [http, tcp, interserver]: [u16; 3]) -> std::io::Result<PathBuf> {
    let d = |sub: &str| xml_text(&format!("{}/{sub}/", dir.display()));
    let config = format!(
        r#"<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>{log}</log>
    <errorlog>{errlog}</errorlog>
    <size>10M</size>
    <count>1</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http}</http_port>
  <tcp_port>{tcp}</tcp_port>
  <interserver_http_port>{interserver}</interserver_http_port>
  <interserver_http_host>127.0.0.1</interserver_http_host>
  <path>{data}</path>
  <tmp_path>{tmp}</tmp_path>
  <user_files_path>{user_files}</user_files_path>
  <format_schema_path>{schemas}</format_schema_path>
  <users_config>users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>64</max_concurrent_queries>
</yandex>
"#,
        log = xml_text(&format!("{}/server.log", dir.display())),
        errlog = xml_text(&format!("{}/server.err.log", dir.display())),
        data = d("data"),
        tmp = d("tmp"),
        user_files = d("user_files"),
        schemas = d("format_schemas"),
    );
    let users = format!(
        r#"<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
    <{TEST_USER}>
      <password>{password}</password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </{TEST_USER}>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
    <result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time>
  </interval></default></quotas>
</yandex>
"#,
        password = xml_text(TEST_PASSWORD)
    );
    let path = dir.join("config.xml");
    std::fs::write(&path, config)?;
    std::fs::write(dir.join("users.xml"), users)?;
    Ok(path)
}

/// Whether `GET /ping` on `port` answers `Ok.`.
fn pings(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /ping HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.contains(" 200 ") && answer.ends_with("Ok.\n")
}

/// Directories of test servers live here, one per server, named after the process.
fn servers_dir() -> PathBuf {
    std::env::temp_dir().join("flowlens-clickhouse-tests")
}

/// Removes the directories of servers whose test process is gone.
fn remove_stale_dirs(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill with signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl TestServer {
    /// Starts a server of its own, killed when the value is dropped (or the process
    /// ends). `None` as [`server`] says.
    pub fn start() -> Option<TestServer> {
        let binary = match find_binary() {
            Some(b) => b,
            None if required() => panic!("{REQUIRE_ENV}=1 but no ClickHouse server is installed"),
            None => {
                eprintln!("skipping: no ClickHouse server installed");
                return None;
            }
        };
        let temp = tempfile::Builder::new()
            .prefix("flowlens-clickhouse-")
            .tempdir()
            .expect("creating the test server's directory");
        match TestServer::start_with(&binary, Some(temp)) {
            Ok(server) => Some(server),
            Err(e) => panic!("starting a ClickHouse test server: {e}"),
        }
    }

    fn start_with(
        (binary, args): &(PathBuf, Vec<&'static str>),
        temp: Option<tempfile::TempDir>,
    ) -> Result<TestServer, String> {
        let dir = match &temp {
            Some(t) => t.path().to_path_buf(),
            None => {
                let parent = servers_dir();
                std::fs::create_dir_all(&parent).map_err(|e| e.to_string())?;
                remove_stale_dirs(&parent);
                static SEQ: AtomicU64 = AtomicU64::new(0);
                let dir = parent.join(format!(
                    "{}-{}",
                    std::process::id(),
                    SEQ.fetch_add(1, Ordering::Relaxed)
                ));
                let _ = std::fs::remove_dir_all(&dir);
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                dir
            }
        };
        let mut last_error = String::new();
        // A port taken between choosing and binding it: choose again.
        for _ in 0..3 {
            let ports = free_ports().map_err(|e| format!("finding free ports: {e}"))?;
            let config = write_config(&dir, ports).map_err(|e| e.to_string())?;
            match spawn_and_wait(binary, args, &config, &dir, ports[0]) {
                Ok(child) => {
                    return Ok(TestServer {
                        http_port: ports[0],
                        child: Some(child),
                        dir,
                        _temp: temp,
                    });
                }
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    /// The HTTP endpoint.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// The directory holding the server's configuration, data and logs.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The address of `database` on this server, as the `default` user (no password).
    pub fn config(&self, database: &str) -> ClickHouseConfig {
        ClickHouseConfig::parse(&format!(
            "clickhouse://127.0.0.1:{}/{database}",
            self.http_port
        ))
        .expect("a test server's address parses")
    }

    /// Runs `sql` as the `default` user and returns the answer's text (tab-separated):
    /// for tests that look behind the store's back.
    pub fn query(&self, sql: &str) -> Result<String, String> {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.http_port))
            .map_err(|e| format!("connecting to the test server: {e}"))?;
        let request = format!(
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n\r\n{sql}",
            sql.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .map_err(|e| e.to_string())?;
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        if head.lines().next().is_some_and(|l| l.contains(" 200 ")) {
            Ok(body.to_string())
        } else {
            Err(format!("{sql}: {body}"))
        }
    }

    /// A database no other test of the process uses (`{prefix}_{pid}_{n}`).
    pub fn fresh_config(&self, prefix: &str) -> ClickHouseConfig {
        static N: AtomicU64 = AtomicU64::new(0);
        self.config(&format!(
            "{prefix}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

fn spawn_and_wait(
    binary: &Path,
    args: &[&str],
    config: &Path,
    dir: &Path,
    http_port: u16,
) -> Result<Child, String> {
    use std::os::unix::process::CommandExt;
    let log = |name: &str| {
        std::fs::File::create(dir.join(name))
            .map(Stdio::from)
            .map_err(|e| e.to_string())
    };
    let parent = std::process::id() as i32;
    let mut command = Command::new(binary);
    command
        .args(args)
        .arg(format!("--config-file={}", config.display()))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(log("stdout.log")?)
        .stderr(log("stderr.log")?);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have gone before the signal was set up.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("running {}: {e}", binary.display()))?;
    let start = Instant::now();
    loop {
        if pings(http_port) {
            return Ok(child);
        }
        if let Ok(Some(status)) = child.try_wait() {
            let errors = std::fs::read_to_string(dir.join("server.err.log")).unwrap_or_default();
            let stderr = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
            return Err(format!(
                "{} exited with {status} before answering /ping: {}{}",
                binary.display(),
                tail(&errors),
                tail(&stderr)
            ));
        }
        if start.elapsed() > READY_WITHIN {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{} did not answer /ping within {READY_WITHIN:?}",
                binary.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
