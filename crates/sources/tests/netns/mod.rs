//! Network namespaces and a real exporter for the IPFIX/NetFlow tests: two namespaces
//! joined by a veth, Debian's `softflowd` watching it, and TCP, UDP and ICMP traffic across
//! it. Shared with the command-line tests of `crates/flowlens`.
//!
//! Needs root, iproute2, softflowd and ping (`scripts/source-test-deps.sh` installs them).
//! Without them [`can_run`] says why and the test skips, unless `FLOWLENS_REQUIRE_NETNS` is
//! set (as `scripts/test.sh` does when it runs as root), in which case it fails.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 2);
pub const TCP_BYTES: usize = 5_000;
pub const UDP_DATAGRAMS: usize = 10;
pub const UDP_PAYLOAD: usize = 100;
pub const PINGS: u64 = 3;

/// Why the test cannot run here, if it cannot.
pub fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("needs root for network namespaces".into());
    }
    for tool in ["ip", "softflowd", "softflowctl", "ping"] {
        let found = std::env::var_os("PATH")
            .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            return Some(format!(
                "{tool} is not installed (scripts/source-test-deps.sh installs it)"
            ));
        }
    }
    None
}

/// Skips (or, where the suite demands these tests, fails) when they cannot run.
pub fn can_run(test: &str) -> bool {
    match missing_prerequisite() {
        None => true,
        Some(reason) if std::env::var_os("FLOWLENS_REQUIRE_NETNS").is_some() => {
            panic!("{test}: {reason}")
        }
        Some(reason) => {
            eprintln!("skipped {test}: {reason}");
            false
        }
    }
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Two namespaces joined by a veth: the client side (where softflowd and the receiver run)
/// and the server side. Removed on drop.
pub struct Pair {
    pub client: String,
    pub server: String,
    pub veth: String,
}

impl Pair {
    pub fn new(tag: &str) -> Pair {
        let id = std::process::id();
        let pair = Pair {
            client: format!("flowlens-{id}-{tag}-c"),
            server: format!("flowlens-{id}-{tag}-s"),
            // Interface names have at most 15 characters.
            veth: format!("fc{}{tag}", id % 1_000_000),
        };
        let peer = format!("fs{}{tag}", id % 1_000_000);
        ip(&["netns", "add", &pair.client]);
        ip(&["netns", "add", &pair.server]);
        ip(&[
            "link", "add", &pair.veth, "type", "veth", "peer", "name", &peer,
        ]);
        ip(&["link", "set", &pair.veth, "netns", &pair.client]);
        ip(&["link", "set", &peer, "netns", &pair.server]);
        ip(&[
            "-n",
            &pair.client,
            "addr",
            "add",
            "10.199.0.1/24",
            "dev",
            &pair.veth,
        ]);
        ip(&[
            "-n",
            &pair.server,
            "addr",
            "add",
            "10.199.0.2/24",
            "dev",
            &peer,
        ]);
        for (ns, dev) in [(&pair.client, &pair.veth), (&pair.server, &peer)] {
            ip(&["-n", ns, "link", "set", dev, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        // Client ports above the server's (both still chosen by the kernel), so which end
        // is the client is plain from the ports, as it is with real services.
        run(Command::new("ip")
            .args(["netns", "exec", &pair.client, "sh", "-c"])
            .arg("echo 61000 64999 > /proc/sys/net/ipv4/ip_local_port_range"));
        pair
    }

    /// Runs `f` on a thread inside namespace `ns`; sockets it makes stay there.
    pub fn inside<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = PathBuf::from("/run/netns").join(ns);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).unwrap();
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
            f()
        })
        .join()
        .unwrap()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth end in it, and with it the peer.
        for ns in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// softflowd on the client side of the veth, exporting to `collector`; killed on drop.
pub struct Softflowd {
    child: Child,
    control: PathBuf,
    _dir: tempfile::TempDir,
}

impl Softflowd {
    pub fn start(pair: &Pair, version: &str, collector: SocketAddr) -> Softflowd {
        let dir = tempfile::tempdir().unwrap();
        let control = dir.path().join("softflowd.ctl");
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &pair.client,
                "softflowd",
                "-d",
                "-i",
                &pair.veth,
            ])
            .args(["-v", version, "-n", &collector.to_string()])
            .arg("-c")
            .arg(&control)
            .arg("-p")
            .arg(dir.path().join("softflowd.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while !control.exists() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "softflowd did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Softflowd {
            child,
            control,
            _dir: dir,
        }
    }

    pub fn statistic(&self, name: &str) -> u64 {
        let text = run(Command::new("softflowctl")
            .arg("-c")
            .arg(&self.control)
            .arg("statistics"));
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    }

    /// libpcap's TPACKET_V3 ring hands softflowd packets only a full block at a time
    /// (softflowd sets no buffer timeout), so the last packets of the test wait in the ring.
    /// Filler datagrams to another port push them through; they make a flow of their own.
    pub fn flush(&self, pair: &Pair, filler_port: u16) {
        let received = self.statistic("Packets received by libpcap");
        let started = Instant::now();
        while self.statistic("Packets processed") < received {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "softflowd never caught up"
            );
            Pair::inside(&pair.client, move || {
                let socket = UdpSocket::bind((CLIENT, 0)).unwrap();
                for _ in 0..500 {
                    socket.send_to(b"x", (SERVER, filler_port)).unwrap();
                }
            });
        }
        run(Command::new("softflowctl")
            .arg("-c")
            .arg(&self.control)
            .arg("expire-all"));
    }

    pub fn control(&self) -> &Path {
        &self.control
    }
}

impl Drop for Softflowd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the traffic was: the ports the kernel chose.
pub struct Traffic {
    pub tcp_client: u16,
    pub tcp_server: u16,
    pub udp_client: u16,
    pub udp_server: u16,
}

pub fn make_traffic(pair: &Pair) -> Traffic {
    let (listener, udp_server) = Pair::inside(&pair.server, || {
        (
            TcpListener::bind((SERVER, 0)).unwrap(),
            UdpSocket::bind((SERVER, 0)).unwrap(),
        )
    });
    let tcp_server = listener.local_addr().unwrap().port();
    let udp_server_port = udp_server.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap();
        got.len()
    });
    let (tcp_client, udp_client) = Pair::inside(&pair.client, move || {
        let mut stream = TcpStream::connect((SERVER, tcp_server)).unwrap();
        let port = stream.local_addr().unwrap().port();
        stream.write_all(&[7u8; TCP_BYTES]).unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).unwrap();
        let udp = UdpSocket::bind((CLIENT, 0)).unwrap();
        for _ in 0..UDP_DATAGRAMS {
            udp.send_to(&[1u8; UDP_PAYLOAD], (SERVER, udp_server_port))
                .unwrap();
        }
        (port, udp.local_addr().unwrap().port())
    });
    assert_eq!(reader.join().unwrap(), TCP_BYTES);
    let mut buf = [0u8; 2048];
    for _ in 0..UDP_DATAGRAMS {
        udp_server.recv(&mut buf).unwrap();
    }
    run(Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.client,
            "ping",
            "-c",
            &PINGS.to_string(),
        ])
        .args(["-i", "0.2", "-q", &SERVER.to_string()]));
    Traffic {
        tcp_client,
        tcp_server,
        udp_client,
        udp_server: udp_server_port,
    }
}

/// Waits until the UDP socket bound to `port` in namespace `ns` holds no unread datagram:
/// everything an exporter sent over loopback has been taken by the receiver.
pub fn wait_until_read(ns: &str, port: u16) {
    let started = Instant::now();
    loop {
        let out = run(Command::new("ip").args([
            "netns",
            "exec",
            ns,
            "ss",
            "-Huan",
            "sport",
            "=",
            &format!(":{port}"),
        ]));
        // Columns: state, Recv-Q (bytes not yet read), Send-Q, local and peer address.
        let unread: Option<u64> = out
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .sum();
        if unread == Some(0) && !out.trim().is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the receiver on port {port} never read its socket: {out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
