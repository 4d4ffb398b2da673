//! IPFIX, NetFlow v9 and v5 from a real exporter: Debian's `softflowd` watches a veth
//! between two network namespaces while ping, a TCP client and a UDP client talk across
//! it, and exports to the receiver on the first namespace's loopback.
//!
//! Needs root, iproute2, softflowd and ping (`scripts/source-test-deps.sh` installs them).
//! Without them the tests say why and skip, unless `FLOWLENS_REQUIRE_NETNS` is set (as
//! `scripts/test.sh` does when it runs as root), in which case they fail.

mod common;
mod netns;

use common::{drain, queue};
use flowlens_model::{Protocol, RawFlow};
use flowlens_sources::netflow::NetflowReceiver;
use flowlens_sources::queue::{SourceItem, SourceKind};
use netns::{
    CLIENT, PINGS, Pair, SERVER, Softflowd, TCP_BYTES, UDP_DATAGRAMS, UDP_PAYLOAD, can_run,
    make_traffic,
};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
