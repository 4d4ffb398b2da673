//! A private ClickHouse server for benchmarks, as the tests start one: prints the password
//! (for `FLOWLENS_CLICKHOUSE_PASSWORD`), then a store address without it; another address,
//! of a fresh database, for each line read from standard input; runs until that closes.
//!
//! ```text
//! cargo run --release -p flowlens-store-clickhouse --features test-server --example test_server
//! ```

use flowlens_store_clickhouse::test_server::{TEST_PASSWORD, TEST_USER, TestServer};
use std::io::BufRead;

fn main() {
    let Some(server) = TestServer::start() else {
        eprintln!("no ClickHouse server installed (scripts/clickhouse-test-deps.sh installs it)");
        std::process::exit(1);
    };
    let address = |n: usize| {
        format!(
            "clickhouse://{TEST_USER}@127.0.0.1:{}/bench_{n}",
            server.http_port()
        )
    };
    println!("{TEST_PASSWORD}");
    println!("{}", address(0));
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        if line.is_err() {
            break;
        }
        println!("{}", address(n + 1));
    }
}
