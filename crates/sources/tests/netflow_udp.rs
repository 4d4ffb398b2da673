//! The UDP receiver on loopback with NetFlow v5 datagrams written to the v5 layout: a full
//! queue drops records and counts them while the socket keeps being read; a missing export
//! packet shows as a sequence gap with the number of flows it held.

mod common;

use common::{drain, eventually, queue};
use flowlens_sources::netflow::NetflowReceiver;
use flowlens_sources::queue::{SourceItem, SourceKind};
use std::net::UdpSocket;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);
const FLOWS_PER_DATAGRAM: u16 = 30;

/// A v5 export packet of 30 TCP flows from 10.1.0.x to 10.2.0.9:443, numbered from `sequence`.
fn v5(sequence: u32) -> Vec<u8> {
    let mut d = Vec::with_capacity(24 + 48 * FLOWS_PER_DATAGRAM as usize);
    d.extend_from_slice(&5u16.to_be_bytes());
    d.extend_from_slice(&FLOWS_PER_DATAGRAM.to_be_bytes());
    d.extend_from_slice(&60_000u32.to_be_bytes());
    d.extend_from_slice(&1_700_000_000u32.to_be_bytes());
    d.extend_from_slice(&0u32.to_be_bytes());
    d.extend_from_slice(&sequence.to_be_bytes());
    d.extend_from_slice(&[0, 0, 0, 0]);
    for i in 0..FLOWS_PER_DATAGRAM {
        d.extend_from_slice(&[10, 1, (sequence % 250) as u8, i as u8]);
        d.extend_from_slice(&[10, 2, 0, 9]);
        d.extend_from_slice(&[0; 8]);
        d.extend_from_slice(&12u32.to_be_bytes());
        d.extend_from_slice(&4_200u32.to_be_bytes());
        d.extend_from_slice(&50_000u32.to_be_bytes());
        d.extend_from_slice(&59_000u32.to_be_bytes());
        d.extend_from_slice(&(40_000 + i).to_be_bytes());
        d.extend_from_slice(&443u16.to_be_bytes());
        d.extend_from_slice(&[0, 0x1b, 6, 0]);
        d.extend_from_slice(&[0; 8]);
    }
    d
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_while_the_socket_keeps_being_read() {
    let receiver = NetflowReceiver::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = receiver.local_addr().unwrap();
    let (tx, mut rx) = queue(SourceKind::Netflow, 64);
    let counters = tx.counters().clone();
    let task = tokio::spawn(receiver.run(tx, std::future::pending()));
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let datagrams = 100;
    for n in 0..datagrams {
        sender
            .send_to(&v5(n * u32::from(FLOWS_PER_DATAGRAM)), addr)
            .unwrap();
        if n % 10 == 9 {
            // Paced, so the kernel's buffer never overflows: every loss is the queue's.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let total = u64::from(datagrams) * u64::from(FLOWS_PER_DATAGRAM);
    eventually(WAIT, "every datagram to be read", || {
        let s = counters.stats();
        s.records + s.dropped == total
    })
    .await;
    let s = counters.stats();
    assert_eq!(
        (s.records, s.dropped, s.sequence_gaps),
        (64, total - 64, 0),
        "{s:?}"
    );
    let items = drain(&mut rx);
    assert_eq!(items.len(), 64);
    assert!(
        matches!(&items[0], SourceItem::Raw(raw) if raw.dst_port == 443 && raw.bytes_out == 4_200)
    );
    task.abort();
}

#[tokio::test]
async fn a_missing_export_packet_is_a_gap_of_its_flows() {
    let receiver = NetflowReceiver::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = receiver.local_addr().unwrap();
    let (tx, _rx) = queue(SourceKind::Netflow, 10_000);
    let counters = tx.counters().clone();
    let task = tokio::spawn(receiver.run(tx, std::future::pending()));
    let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
    let per = u32::from(FLOWS_PER_DATAGRAM);
    // The third packet (flows 60..90) never arrives.
    for sequence in [0, per, 3 * per, 4 * per] {
        sender.send_to(&v5(sequence), addr).unwrap();
    }
    eventually(WAIT, "four packets", || {
        counters.stats().records == 4 * u64::from(per)
    })
    .await;
    let s = counters.stats();
    assert_eq!(
        (s.sequence_gaps, s.lost_upstream, s.errors),
        (1, u64::from(per), 0),
        "{s:?}"
    );
    // Garbage is an error, not a stop.
    sender.send_to(b"\x00\x0anot ipfix", addr).unwrap();
    sender.send_to(&v5(5 * per), addr).unwrap();
    eventually(WAIT, "the packet after the garbage", || {
        counters.stats().records == 5 * u64::from(per)
    })
    .await;
    assert_eq!(counters.stats().errors, 1);
    task.abort();
}
