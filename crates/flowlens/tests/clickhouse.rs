//! The command line on a ClickHouse store (`--store clickhouse://…`), against a private
//! ClickHouse server: the same Calico flow-log file ingested into ClickHouse and into a
//! data directory reads back alike through `flowlens flows`, in every output and grouping.

mod common;

use common::{flowlens, stdout};
use flowlens_store_clickhouse::test_server::{self, TEST_PASSWORD, TEST_USER};

/// Five minutes of the fme story as Calico flow-log lines.
fn fme_calico_lines(out: &std::path::Path) {
    stdout(
        flowlens()
            .args([
                "simulate",
                "--scenario",
                "fme",
                "--duration",
                "5m",
                "--seed",
                "5",
                "--start",
                "1763700000",
                "--calico",
                "--output",
            ])
            .arg(out),
    );
}

/// A temporary directory holding `flows.log` (the fme lines above), and the path of a data
/// directory beside it (not created).
fn fme_files() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("flows.log");
    fme_calico_lines(&lines);
    let data = dir.path().join("data");
    (dir, lines, data)
}

#[test]
fn flows_read_back_from_clickhouse_as_from_a_data_directory() {
    let Some(server) = test_server::server() else {
        return;
    };
    let (_dir, lines, data) = fme_files();
    let store = server.fresh_config("cli").to_string();

    let migrated = stdout(flowlens().args(["store", "migrate", "--store", &store]));
    assert!(migrated.contains("schema version 0 → 2"), "{migrated}");
    assert!(migrated.contains("applied 2:"), "{migrated}");
    let again = stdout(flowlens().args(["store", "migrate", "--store", &store]));
    assert!(again.contains("nothing to do"), "{again}");

    let embedded = stdout(
        flowlens()
            .args(["ingest", "--quiet", "--data"])
            .arg(&data)
            .arg(&lines),
    );
    let clickhouse = stdout(
        flowlens()
            .args(["ingest", "--quiet", "--store", &store])
            .arg(&lines),
    );
    let accepted = |out: &str| {
        out.lines()
            .next()
            .unwrap()
            .split(" in ")
            .next()
            .unwrap()
            .to_string()
    };
    assert_eq!(accepted(&embedded), accepted(&clickhouse));
    assert!(
        clickhouse.contains(&format!("stored in {store}")),
        "{clickhouse}"
    );
    let count = lines_in(&lines);
    assert!(accepted(&clickhouse).contains(&format!("accepted {count} lines")));

    for args in [
        vec!["--output", "jsonl", "--limit", "1000"],
        vec![
            "--output",
            "csv",
            "-f",
            "action=deny",
            "--sort",
            "bytes_in:desc",
        ],
        vec!["--output", "table", "--limit", "7", "--sort", "dest_port"],
        vec![
            "--output",
            "json",
            "--dst-selector",
            "safe.k8s.fmeserver.component in {'core', 'engine'}",
        ],
        vec![
            "--output",
            "jsonl",
            "--policy",
            "default/knp:fme/default-deny",
            "--policy-action",
            "deny",
        ],
        vec!["--output", "json", "--group-by", "namespace-pair"],
        vec![
            "--output",
            "json",
            "--group-by",
            "edge",
            "-f",
            "dest_port>=42000",
        ],
        vec!["--output", "csv", "--group-by", "name-pair"],
        vec!["--output", "json", "--group-by", "action"],
        vec!["--output", "json", "--group-by", "policy"],
        vec!["--output", "csv", "--group-by", "policy-rule"],
    ] {
        let from_dir = stdout(flowlens().arg("flows").arg("--data").arg(&data).args(&args));
        let from_clickhouse = stdout(flowlens().args(["flows", "--store", &store]).args(&args));
        assert!(from_dir.len() > 40, "{args:?}: {from_dir}");
        assert_eq!(from_clickhouse, from_dir, "flows {args:?}");
    }

    // The page token one store hands out is the other's too.
    let page = |target: &[&str]| {
        let out = flowlens()
            .arg("flows")
            .args(target)
            .args(["--limit", "3"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let data_arg = data.display().to_string();
    assert_eq!(page(&["--data", &data_arg]), page(&["--store", &store]));

    // A second ingest reads on after the lines stored, from the marks stored with them.
    let resumed = stdout(
        flowlens()
            .args(["ingest", "--quiet", "--store", &store])
            .arg(&lines),
    );
    assert!(resumed.contains("accepted 0 lines"), "{resumed}");
    let total = stdout(flowlens().args([
        "flows", "--store", &store, "--output", "csv", "--limit", "10000",
    ]));
    assert_eq!(
        total.lines().count(),
        count + 1,
        "the header and each line once"
    );

    // Retention drops the simulated day (long past), and the input's mark outlives its
    // rows: ingesting the file again stores nothing twice.
    let maintained = stdout(flowlens().args(["maintain", "--store", &store, "--retain-for", "1d"]));
    assert!(
        maintained.contains(&format!("retention: 1 day dropped, {count} records")),
        "{maintained}"
    );
    let left = stdout(flowlens().args(["flows", "--store", &store, "--output", "csv"]));
    assert_eq!(left.lines().count(), 1, "only the header: {left}");
    let again = stdout(
        flowlens()
            .args(["ingest", "--quiet", "--store", &store])
            .arg(&lines),
    );
    assert!(again.contains("accepted 0 lines"), "{again}");
}

#[test]
fn store_addresses_take_passwords_from_files_and_never_print_them() {
    let Some(server) = test_server::server() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let lines = dir.path().join("flows.log");
    fme_calico_lines(&lines);
    let password_file = dir.path().join("password");
    std::fs::write(&password_file, format!("{TEST_PASSWORD}\n")).unwrap();
    let db = server.fresh_config("login");
    let store = format!(
        "clickhouse://{TEST_USER}@127.0.0.1:{}/{}",
        server.http_port(),
        db.database()
    );
    let out = stdout(
        flowlens()
            .args([
                "ingest",
                "--quiet",
                "--store",
                &store,
                "--store-password-file",
            ])
            .arg(&password_file)
            .arg(&lines),
    );
    assert!(out.contains("accepted"), "{out}");
    // The same password from the environment.
    let flows = stdout(
        flowlens()
            .env("FLOWLENS_CLICKHOUSE_PASSWORD", TEST_PASSWORD)
            .args([
                "flows",
                "--store",
                &store,
                "--group-by",
                "action",
                "--output",
                "csv",
            ]),
    );
    assert!(flows.contains("allow"), "{flows}");
    // A wrong password in the address: refused, and the error does not repeat it.
    let wrong = store.replace('@', ":not-the-password-42@");
    let out = flowlens()
        .args(["flows", "--store", &wrong])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(TEST_USER), "{err}");
    assert!(!err.contains("not-the-password-42"), "{err}");
    // Both a directory and a store: one or the other.
    let out = flowlens()
        .args(["flows", "--data", "x", "--store", &store])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

fn lines_in(path: &std::path::Path) -> usize {
    std::fs::read_to_string(path).unwrap().lines().count()
}

/// `store copy` moves a data directory's history into ClickHouse: the same answers after,
/// and a second run copies nothing.
#[test]
fn store_copy_moves_a_data_directory_into_clickhouse() {
    let Some(server) = test_server::server() else {
        return;
    };
    let (dir, lines, data) = fme_files();
    stdout(
        flowlens()
            .args(["ingest", "--quiet", "--data"])
            .arg(&data)
            .arg(&lines),
    );
    let store = server.fresh_config("copy").to_string();
    let copy = || {
        stdout(
            flowlens()
                .args(["store", "copy", "--batch", "700", "--from"])
                .arg(&data)
                .args(["--to", &store]),
        )
    };
    let count = lines_in(&lines);
    let first = copy();
    assert!(
        first.contains(&format!(
            "{count} of {count} flow logs copied ({count} by this run"
        )),
        "{first}"
    );
    for args in [
        vec!["--output", "jsonl", "--limit", "10000"],
        vec!["--output", "json", "--group-by", "policy-rule"],
    ] {
        let from_dir = stdout(flowlens().arg("flows").arg("--data").arg(&data).args(&args));
        let from_clickhouse = stdout(flowlens().args(["flows", "--store", &store]).args(&args));
        assert_eq!(from_clickhouse, from_dir, "flows {args:?}");
    }
    let second = copy();
    assert!(second.contains("nothing to copy"), "{second}");
    // A missing source is an error, not an empty copy.
    let out = flowlens()
        .args(["store", "copy", "--from"])
        .arg(dir.path().join("no-such-dir"))
        .args(["--to", &store])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no data directory"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `flowlens sql` on ClickHouse runs the query there, read-only: the answers of a data
/// directory holding the same flow logs, and writes refused.
#[test]
fn sql_runs_on_clickhouse_read_only() {
    let Some(server) = test_server::server() else {
        return;
    };
    let (_dir, lines, data) = fme_files();
    let store = server.fresh_config("sql").to_string();
    for target in [
        vec!["--data", data.to_str().unwrap()],
        vec!["--store", &store],
    ] {
        stdout(
            flowlens()
                .args(["ingest", "--quiet"])
                .args(&target)
                .arg(&lines),
        );
    }
    let query = "SELECT action, dest_port, count(*) AS n FROM flows \
                 GROUP BY action, dest_port ORDER BY n DESC, dest_port LIMIT 5";
    let rows = |target: &[&str]| -> Vec<(String, f64, f64)> {
        let out = stdout(
            flowlens()
                .arg("sql")
                .args(target)
                .args([query, "--output", "json"]),
        );
        let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["action"].as_str().unwrap().to_string(),
                    r["dest_port"].as_f64().unwrap(),
                    r["n"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let from_clickhouse = rows(&["--store", &store]);
    assert_eq!(from_clickhouse.len(), 5, "{from_clickhouse:?}");
    assert_eq!(from_clickhouse, rows(&["--data", data.to_str().unwrap()]));
    let csv = stdout(flowlens().args([
        "sql",
        "--store",
        &store,
        "SELECT count() AS n FROM flows",
        "--output",
        "csv",
    ]));
    assert_eq!(
        csv.lines().nth(1),
        Some(lines_in(&lines).to_string().as_str()),
        "{csv}"
    );

    let out = flowlens()
        .args(["sql", "--store", &store, "DROP TABLE flows"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("readonly"), "{err}");
    let still = stdout(flowlens().args([
        "sql",
        "--store",
        &store,
        "SELECT count() FROM flows",
        "--output",
        "csv",
    ]));
    assert_eq!(
        still.lines().nth(1),
        Some(lines_in(&lines).to_string().as_str())
    );
}
