//! IPFIX, NetFlow v9 and v5 from a real exporter: Debian's `softflowd` watches a veth
//! between two network namespaces while ping, a TCP client and a UDP client talk across
//! it, and exports to the receiver on the first namespace's loopback.
//!
//! Needs root, iproute2, softflowd and ping (`scripts/source-test-deps.sh` installs them).
//! Without them the tests say why and skip, unless `FLOWLENS_REQUIRE_NETNS` is set (as
//! `scripts/test.sh` does when it runs as root), in which case they fail.

mod common;

use common::{drain, queue};
use flowlens_model::{Protocol, RawFlow};
use flowlens_sources::netflow::NetflowReceiver;
use flowlens_sources::queue::{SourceItem, SourceKind};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 2);
const TCP_BYTES: usize = 5_000;
const UDP_DATAGRAMS: usize = 10;
const UDP_PAYLOAD: usize = 100;
const PINGS: u64 = 3;

/// Why the test cannot run here, if it cannot.
fn missing_prerequisite() -> Option<String> {
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
fn can_run(test: &str) -> bool {
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

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ip(args: &[&str]) {
    run(Command::new("ip").args(args));
}

/// Two namespaces joined by a veth: the client side (where softflowd and the receiver run)
/// and the server side. Removed on drop.
struct Pair {
    client: String,
    server: String,
    veth: String,
}

impl Pair {
    fn new(tag: &str) -> Pair {
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
    fn inside<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
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
struct Softflowd {
    child: Child,
    control: PathBuf,
    _dir: tempfile::TempDir,
}

impl Softflowd {
    fn start(pair: &Pair, version: &str, collector: SocketAddr) -> Softflowd {
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

    fn statistic(&self, name: &str) -> u64 {
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
    fn flush(&self, pair: &Pair, filler_port: u16) {
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

    fn control(&self) -> &Path {
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
struct Traffic {
    tcp_client: u16,
    tcp_server: u16,
    udp_client: u16,
    udp_server: u16,
}

fn make_traffic(pair: &Pair) -> Traffic {
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

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn exports_the_traffic(version: &str) {
    let pair = Pair::new(&format!("v{version}"));
    let receiver_socket = Pair::inside(&pair.client, || {
        std::net::UdpSocket::bind("127.0.0.1:0").unwrap()
    });
    let collector = receiver_socket.local_addr().unwrap();
    let filler = Pair::inside(&pair.server, || UdpSocket::bind((SERVER, 0)).unwrap());
    let filler_port = filler.local_addr().unwrap().port();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tx, mut rx) = queue(SourceKind::Netflow, 10_000);
    let counters = tx.counters().clone();
    let receiver = runtime.block_on(async { NetflowReceiver::from_std(receiver_socket).unwrap() });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let receiving = std::thread::spawn(move || {
        runtime.block_on(receiver.run(tx, async {
            let _ = stopped.await;
        }))
    });

    let began = unix_now();
    let softflowd = Softflowd::start(&pair, version, collector);
    let traffic = make_traffic(&pair);
    softflowd.flush(&pair, filler_port);

    let tcp = SocketAddr::new(IpAddr::V4(SERVER), traffic.tcp_server);
    let mut flows: Vec<RawFlow> = Vec::new();
    let started = Instant::now();
    let seen = |flows: &[RawFlow], proto: Protocol, port: u16| {
        flows
            .iter()
            .any(|f| f.proto == proto && (proto == Protocol::Icmp || f.dst_port == port))
    };
    while !(seen(&flows, Protocol::Tcp, tcp.port())
        && seen(&flows, Protocol::Udp, traffic.udp_server)
        && seen(&flows, Protocol::Icmp, 0))
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "softflowd (-v {version}) did not export the traffic; got {flows:?}, control {}",
            softflowd.control().display()
        );
        std::thread::sleep(Duration::from_millis(50));
        flows.extend(drain(&mut rx).into_iter().map(|item| match item {
            SourceItem::Raw(raw) => raw,
            other => panic!("IPFIX/NetFlow gives raw records, not {other:?}"),
        }));
    }
    drop(softflowd);
    let _ = stop.send(());
    receiving.join().unwrap().unwrap();
    let ended = unix_now();

    let client = IpAddr::V4(CLIENT);
    let server = IpAddr::V4(SERVER);
    for f in &flows {
        assert!(
            f.start_time >= began - 1 && f.end_time <= ended + 1 && f.start_time <= f.end_time,
            "-v {version}: times {}..{} outside the test's {began}..{ended}",
            f.start_time,
            f.end_time
        );
    }
    let tcp = flows.iter().find(|f| f.proto == Protocol::Tcp).unwrap();
    assert_eq!(
        (tcp.src_ip, tcp.src_port, tcp.dst_ip, tcp.dst_port),
        (client, traffic.tcp_client, server, traffic.tcp_server),
        "-v {version}: {tcp:?}"
    );
    // The payload plus 40 to 80 bytes of IP and TCP header per packet.
    let payload = TCP_BYTES as u64;
    assert!(
        tcp.packets_out >= 4 && tcp.packets_in >= 2,
        "-v {version}: {tcp:?}"
    );
    assert!(
        (payload + 40 * tcp.packets_out..=payload + 80 * tcp.packets_out).contains(&tcp.bytes_out),
        "-v {version}: {tcp:?}"
    );
    assert!(
        (40 * tcp.packets_in..=80 * tcp.packets_in).contains(&tcp.bytes_in),
        "-v {version}: {tcp:?}"
    );
    let udp = flows
        .iter()
        .find(|f| f.proto == Protocol::Udp && f.dst_port == traffic.udp_server)
        .unwrap();
    assert_eq!(
        (udp.src_ip, udp.src_port, udp.dst_ip),
        (client, traffic.udp_client, server)
    );
    let datagrams = UDP_DATAGRAMS as u64;
    assert_eq!(
        (udp.packets_out, udp.bytes_out, udp.bytes_in),
        (datagrams, datagrams * (UDP_PAYLOAD as u64 + 28), 0),
        "-v {version}"
    );
    let icmp = flows.iter().find(|f| f.proto == Protocol::Icmp).unwrap();
    assert_eq!(
        (icmp.src_ip, icmp.dst_ip),
        (client, server),
        "-v {version}: {icmp:?}"
    );
    // Echo request and reply: 56 bytes of data, 8 of ICMP header, 20 of IP.
    assert_eq!(
        (
            icmp.packets_out,
            icmp.bytes_out,
            icmp.packets_in,
            icmp.bytes_in
        ),
        (PINGS, PINGS * 84, PINGS, PINGS * 84),
        "-v {version}"
    );
    let s = counters.stats();
    assert_eq!(
        (s.errors, s.sequence_gaps, s.lost_upstream, s.dropped),
        (0, 0, 0, 0),
        "-v {version}: {s:?}"
    );
}

#[test]
fn softflowd_ipfix() {
    if can_run("softflowd_ipfix") {
        exports_the_traffic("10");
    }
}

#[test]
fn softflowd_netflow_v9() {
    if can_run("softflowd_netflow_v9") {
        exports_the_traffic("9");
    }
}

#[test]
fn softflowd_netflow_v5() {
    if can_run("softflowd_netflow_v5") {
        exports_the_traffic("5");
    }
}
