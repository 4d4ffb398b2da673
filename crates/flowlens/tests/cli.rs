//! The `flowlens` command line, run as a user would run it.

mod common;

use common::{flowlens, scenarios, stdout};

#[test]
fn help_is_complete() {
    let help = stdout(flowlens().arg("--help"));
    for cmd in [
        "inventory",
        "selector",
        "explain",
        "evaluate",
        "ingest",
        "flows",
        "sql",
        "maintain",
    ] {
        assert!(help.contains(cmd), "--help lists {cmd}");
        let sub = stdout(flowlens().args([cmd, "--help"]));
        assert!(sub.len() > 200, "{cmd} --help says something useful");
    }
}

#[test]
fn inventory_shows_tiers_and_policies_in_order() {
    let out = stdout(
        flowlens()
            .arg("inventory")
            .arg(scenarios().join("storefront/manifests")),
    );
    let pos = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("{s} missing from:\n{out}"))
    };
    assert!(pos("tier security") < pos("tier platform"));
    assert!(pos("tier platform") < pos("tier default"));
    assert!(pos("np:storefront/dmz") < pos("np:storefront/trusted"));
    assert!(pos("np:storefront/trusted") < pos("np:storefront/restricted"));
    assert!(out.contains("frontend-"));
    let json = stdout(
        flowlens()
            .arg("inventory")
            .arg(scenarios().join("fme/manifests"))
            .args(["--output", "json"]),
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["policies"].as_array().map(Vec::len), Some(6));
}

#[test]
fn malformed_manifests_name_file_document_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(
        &path,
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n---\napiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ok}\nspec:\n  ingress:\n  - action: Allow\n    protocol: TCP\n    destination:\n      ports: [80, \"1:2:3\"]\n",
    )
    .unwrap();
    let out = flowlens().arg("inventory").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("document 1"), "{err}");
    assert!(err.contains("line 13"), "{err}");
    assert!(
        err.contains("spec.ingress[0].destination.ports[1]"),
        "{err}"
    );
}

#[test]
fn selector_answers_with_exit_codes_and_batches() {
    flowlens()
        .args([
            "selector",
            "app == \"web\" && !has(canary)",
            "--labels",
            "app=web,tier=1",
        ])
        .assert()
        .code(0);
    flowlens()
        .args(["selector", "app == \"web\"", "--labels", "app=api"])
        .assert()
        .code(1);
    let out = flowlens()
        .args(["selector", "app == ", "--labels", "app=web"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("column"), "{err}");
    assert!(err.contains('^'), "{err}");

    let batch = "{\"selector\": \"a in {\\\"x\\\"}\", \"labels\": {\"a\": \"x\"}}\n{\"selector\": \"a != 'x'\", \"labels\": {}}\n{\"selector\": \"a ==\", \"labels\": {}}\nnot json\n{\"selector\": \"has(b)\", \"labels\": {\"a\": \"1\"}}\n";
    let out = stdout(
        flowlens()
            .args(["selector", "--batch", "-"])
            .write_stdin(batch),
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 5);
    assert_eq!(lines[0]["match"], true);
    assert_eq!(lines[1]["match"], true);
    assert!(lines[2]["error"].as_str().unwrap().contains("column"));
    assert!(lines[3]["error"].as_str().unwrap().contains("line 4"));
    assert_eq!(lines[4]["match"], false);
}

#[test]
fn explain_and_evaluate_agree_on_the_fme_story() {
    let snapshot = scenarios().join("fme/manifests");
    let text = stdout(
        flowlens()
            .arg("explain")
            .arg("--snapshot")
            .arg(&snapshot)
            .args([
                "--from",
                "fme/engine-standard-group",
                "--to",
                "fme/fmeserver-core",
                "--port",
                "42001",
            ]),
    );
    assert!(text.contains("Verdict: DENY"), "{text}");
    assert!(
        text.contains("destination port 42001 is not in ports [7070]"),
        "{text}"
    );
    assert!(
        text.contains("1|default|knp:fme/default-deny|deny|-1"),
        "{text}"
    );

    let flows = "{\"src\": \"fme/engine-standard-group\", \"dst\": \"fme/fmeserver-core\", \"proto\": \"tcp\", \"dst_port\": 42001}\n{\"src\": \"fme/engine-standard-group\", \"dst\": \"fme/fmeserver-core\", \"dst_port\": 7070}\n{\"src\": \"nowhere/x\", \"dst\": \"fme/fmeserver-core\", \"dst_port\": 1}\n{\"src\": \"203.0.113.7\", \"dst\": \"fme/fmeserver-web\", \"dst_port\": 8080}\n";
    let out = stdout(
        flowlens()
            .arg("evaluate")
            .arg("--snapshot")
            .arg(&snapshot)
            .args(["--flows", "-", "--policy-format", "enterprise"])
            .write_stdin(flows),
    );
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["action"], "deny");
    assert_eq!(
        lines[0]["egress"]["policies"][1],
        "1|default|fme/knp.default.default-deny|deny|-1"
    );
    assert_eq!(lines[1]["action"], "allow");
    assert!(lines[2]["error"].as_str().unwrap().contains("line 3"));
    assert_eq!(lines[3]["egress"], serde_json::Value::Null);
    assert_eq!(lines[3]["action"], "deny");
}

#[test]
fn ingest_keeps_good_lines_and_flows_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let input = dir.path().join("raw.jsonl");
    // fme: engine → core on the port pool (denied), on 7070 (allowed), and a broken line.
    let out = stdout(
        flowlens()
            .arg("inventory")
            .arg(scenarios().join("fme/manifests"))
            .args(["--output", "json"]),
    );
    let inv: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ip = |prefix: &str| -> String {
        inv["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"].as_str().unwrap().starts_with(prefix))
            .unwrap()["ips"][0]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (engine, core) = (ip("engine-standard-group"), ip("fmeserver-core"));
    let record = |port: u16, sport: u16| {
        format!(
            "{{\"start_time\":1000,\"end_time\":1001,\"src_ip\":\"{engine}\",\"src_port\":{sport},\"dst_ip\":\"{core}\",\"dst_port\":{port},\"proto\":\"tcp\",\"bytes_out\":10,\"bytes_in\":20,\"packets_out\":1,\"packets_in\":1}}\n"
        )
    };
    let text = [
        record(42001, 40000),
        "{\"start_time\": oops}\n".to_string(),
        record(7070, 40001),
        record(42002, 40002),
    ]
    .concat();
    std::fs::write(&input, text).unwrap();
    let ingest = || common::ingest_fme(&data, &input).output().unwrap();
    let out = ingest();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("accepted 3 lines"));
    assert!(err.contains("raw.jsonl: line 2:"), "{err}");

    let json = stdout(flowlens().arg("flows").arg("--data").arg(&data).args([
        "-f",
        "action=deny",
        "--output",
        "jsonl",
    ]));
    let denied: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(denied.len(), 2, "{json}");
    assert!(
        denied
            .iter()
            .all(|d| d["policies"]["enforced_policies"][1]
                == "1|default|knp:fme/default-deny|deny|-1")
    );
    let sql = stdout(flowlens().arg("sql").arg("--data").arg(&data).args([
        "SELECT action, count(*) AS n FROM flows GROUP BY action ORDER BY action",
        "--output",
        "csv",
    ]));
    assert_eq!(
        sql.lines().collect::<Vec<_>>(),
        ["action,n", "allow,2", "deny,2"]
    );
    // The Policy Board's numbers: both denied connections end the default tier at the
    // source (egress: the namespace's default-deny covers both directions), each flow log
    // holding one connection.
    let json = stdout(flowlens().arg("flows").arg("--data").arg(&data).args([
        "--group-by",
        "policy-rule",
        "--output",
        "json",
    ]));
    let metrics: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let deny = metrics
        .iter()
        .find(|m| m["name"] == "default-deny" && m["tier"] == "default")
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(deny["total"]["denied"], 2, "{json}");
    assert_eq!(deny["egress"]["-1"]["denied"], 2, "{json}");
    assert!(deny["ingress"].as_object().unwrap().is_empty(), "{json}");
    // The policy filter the API takes, on the command line.
    let jsonl = stdout(flowlens().arg("flows").arg("--data").arg(&data).args([
        "--policy",
        "default/knp:fme/default-deny",
        "--policy-action",
        "deny",
        "--policy-rule",
        "-1",
        "--output",
        "jsonl",
    ]));
    assert_eq!(jsonl.lines().count(), 2, "{jsonl}");
    let bad = flowlens()
        .arg("flows")
        .arg("--data")
        .arg(&data)
        .args(["--policy", "default/xx:fme/default-deny"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("TIER/KIND:[NAMESPACE/]NAME"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // A second ingest from the start writes a second file; maintenance merges them, then
    // drops them once they are older than the retention age (these records are from 1970).
    let again = common::ingest_fme(&data, &input)
        .arg("--from-start")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(3));
    let out = stdout(flowlens().arg("maintain").arg("--data").arg(&data));
    assert!(
        out.contains("compaction: 2 files merged into 1 (8 records)"),
        "{out}"
    );
    let out = stdout(flowlens().arg("maintain").arg("--data").arg(&data).args([
        "--retain-for",
        "30d",
        "--retain-size",
        "1GB",
    ]));
    assert!(
        out.contains("retention: 1 files removed, 0 rewritten, 8 records"),
        "{out}"
    );
    let count = stdout(flowlens().arg("sql").arg("--data").arg(&data).args([
        "SELECT count(*) AS n FROM flows",
        "--output",
        "csv",
    ]));
    assert_eq!(count.lines().collect::<Vec<_>>(), ["n", "0"]);
    let err = flowlens()
        .arg("maintain")
        .arg("--data")
        .arg(&data)
        .args(["--retain-size", "12 parsecs"])
        .output()
        .unwrap();
    assert!(!err.status.success());
    assert!(String::from_utf8_lossy(&err.stderr).contains("unknown size unit"));
}

/// A Calico flow log line numbered `n` (in its `process_id` and times).
fn calico_line(n: usize) -> String {
    format!(
        r#"{{"start_time":{t},"end_time":{e},"source_ip":"10.0.0.{a}","source_name":"-","source_name_aggr":"client-*","source_namespace":"shop","source_port":null,"source_type":"wep","source_labels":{{"labels":["app=client","team=web"]}},"dest_ip":"10.0.1.1","dest_name":"-","dest_name_aggr":"api-*","dest_namespace":"shop","dest_port":8080,"dest_type":"wep","dest_labels":{{"labels":["app=api"]}},"proto":"tcp","action":"allow","reporter":"dst","policies":{{"enforced_policies":["0|default|np:shop/allow-api|allow|0"],"pending_policies":["0|default|np:shop/allow-api|allow|0"]}},"bytes_in":100,"bytes_out":200,"packets_in":1,"packets_out":2,"num_flows":1,"num_flows_started":1,"num_flows_completed":1,"process_name":"-","process_id":{n},"host":"node-1"}}"#,
        t = 1_700_000_000 + n as i64,
        e = 1_700_000_010 + n as i64,
        a = n % 250,
    )
}

#[test]
fn calico_lines_spanning_many_blocks_are_each_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("flows.log");
    // ~8 MB: the file is decoded in several blocks, on several threads.
    let lines = 14_000usize;
    let bad = [3usize, 9_001, lines];
    let mut text = String::new();
    let mut expected_sum = 0usize;
    for n in 1..=lines {
        if bad.contains(&n) {
            text.push_str("{\"start_time\": 1, \"end_time\": \n");
            continue;
        }
        expected_sum += n;
        text.push_str(&calico_line(n));
        text.push('\n');
    }
    std::fs::write(&input, &text).unwrap();
    let check = |data: &std::path::Path, out: std::process::Output, source: &str| {
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{err}");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains(&format!("accepted {} lines", lines - bad.len())),
            "{said}"
        );
        assert!(said.contains("rejected 3"), "{said}");
        for n in bad {
            assert!(err.contains(&format!("{source}: line {n}:")), "{err}");
        }
        let sums = stdout(flowlens().arg("sql").arg("--data").arg(data).args([
            "SELECT count(*) AS n, count(DISTINCT record_id) AS ids, sum(process_id) AS s FROM flows",
            "--output",
            "csv",
        ]));
        let stored = lines - bad.len();
        assert_eq!(
            sums.lines().nth(1),
            Some(format!("{stored},{stored},{expected_sum}").as_str()),
            "{sums}"
        );
    };
    let from_file = dir.path().join("from-file");
    let out = flowlens()
        .args(["ingest", "--quiet", "--format", "calico", "--data"])
        .arg(&from_file)
        .arg(&input)
        .output()
        .unwrap();
    check(&from_file, out, &input.display().to_string());

    let from_stdin = dir.path().join("from-stdin");
    let out = flowlens()
        .args(["ingest", "--quiet", "--data"])
        .arg(&from_stdin)
        .arg("-")
        .pipe_stdin(&input)
        .unwrap()
        .output()
        .unwrap();
    check(&from_stdin, out, "-");

    // Two inputs in one run: each numbers its own lines.
    let again = dir.path().join("again.log");
    std::fs::copy(&input, &again).unwrap();
    let out = flowlens()
        .args(["ingest", "--quiet", "--format", "calico", "--data"])
        .arg(dir.path().join("two-files"))
        .arg(&input)
        .arg(&again)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(String::from_utf8_lossy(&out.stdout).contains("rejected 6"));
    for source in [&input, &again] {
        for n in bad {
            let said = format!("{}: line {n}:", source.display());
            assert!(err.contains(&said), "{err}");
        }
    }
}

#[test]
fn a_followed_file_is_stored_as_it_grows_and_a_half_written_line_waits() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("flows.log"));
    let mut file = std::fs::File::create(&input).unwrap();
    let third = calico_line(3);
    let (head, tail) = third.split_at(100);
    write!(file, "{}\n{}\n{head}", calico_line(1), calico_line(2)).unwrap();
    file.flush().unwrap();
    let wal_bytes = || -> u64 {
        std::fs::read_dir(data.join("wal"))
            .map(|entries| entries.map(|e| e.unwrap().metadata().unwrap().len()).sum())
            .unwrap_or(0)
    };
    let wait_for_wal_growth = |from: u64| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while wal_bytes() <= from {
            assert!(std::time::Instant::now() < deadline, "nothing was stored");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    };
    let count = || {
        stdout(flowlens().arg("sql").arg("--data").arg(&data).args([
            "SELECT count(*) AS n, sum(process_id) AS s FROM flows",
            "--output",
            "csv",
        ]))
    };
    let follow = || {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
            .args([
                "ingest", "--quiet", "--follow", "--format", "calico", "--data",
            ])
            .arg(&data)
            .arg(&input)
            .spawn()
            .unwrap()
    };
    // The two whole lines are stored (and survive a kill -9); the half line is not read as
    // a broken line.
    let mut child = follow();
    wait_for_wal_growth(8);
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(count().lines().nth(1), Some("2,3"));

    // Finishing the line while a new follower runs stores it too, once: the new run reads
    // on after the two lines stored.
    let before = wal_bytes();
    let mut child = follow();
    std::thread::sleep(std::time::Duration::from_millis(300));
    writeln!(file, "{tail}").unwrap();
    file.flush().unwrap();
    wait_for_wal_growth(before);
    std::thread::sleep(std::time::Duration::from_millis(500));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(count().lines().nth(1), Some("3,6"));
}

/// Bytes in the write-ahead log of the store at `data`: grows as a followed file is stored.
fn wal_bytes(data: &std::path::Path) -> u64 {
    std::fs::read_dir(data.join("wal"))
        .map(|entries| entries.map(|e| e.unwrap().metadata().unwrap().len()).sum())
        .unwrap_or(0)
}

/// Waits until the write-ahead log has grown past `from` and then stayed the same for a
/// second (the follower has stored what there was to read); returns its size.
fn wait_until_stored(data: &std::path::Path, from: u64) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while wal_bytes(data) <= from {
        assert!(std::time::Instant::now() < deadline, "nothing was stored");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let mut last = wal_bytes(data);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(1000));
        let now = wal_bytes(data);
        if now == last {
            return now;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "storing never settled"
        );
        last = now;
    }
}

/// `flowlens ingest --follow` of `input` into `data`, its output kept for [`stop_follower`].
fn follow(data: &std::path::Path, input: &std::path::Path) -> std::process::Child {
    std::process::Command::new(assert_cmd::cargo::cargo_bin("flowlens"))
        .args([
            "ingest", "--quiet", "--follow", "--format", "calico", "--data",
        ])
        .arg(data)
        .arg(input)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Stops a follower with SIGTERM (what it read is stored); its exit code, stdout and stderr.
fn stop_follower(child: std::process::Child) -> (Option<i32>, String, String) {
    common::sigterm(&child);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `count,distinct process ids,sum of process ids` of the flows stored at `data`.
fn stored_line_numbers(data: &std::path::Path) -> String {
    let csv = stdout(flowlens().arg("sql").arg("--data").arg(data).args([
        "SELECT count(*) AS n, count(DISTINCT process_id) AS ids, sum(process_id) AS s FROM flows",
        "--output",
        "csv",
    ]));
    csv.lines().nth(1).unwrap_or_default().to_string()
}

/// Calico lines numbered `numbers`, each ending in a newline.
fn calico_lines(numbers: std::ops::RangeInclusive<usize>) -> String {
    numbers.map(|n| calico_line(n) + "\n").collect()
}

#[test]
fn a_line_longer_than_1_mib_is_rejected_and_the_lines_around_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("flows.log");
    let long = "a".repeat(5 << 20);
    let text = format!("{}{long}\n{}", calico_lines(1..=2), calico_lines(4..=5));
    std::fs::write(&input, &text).unwrap();
    let check = |data: &std::path::Path, code: Option<i32>, out: &str, err: &str, source: &str| {
        assert_eq!(code, Some(3), "{err}");
        assert!(out.contains("accepted 4 lines"), "{out}");
        assert!(out.contains("rejected 1"), "{out}");
        let said = format!("rejected {source}: line 3: line longer than 1 MiB");
        assert!(err.contains(&said), "{err}");
        assert_eq!(stored_line_numbers(data), "4,4,12");
    };
    let output = |out: std::process::Output| {
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let from_file = dir.path().join("from-file");
    let (code, out, err) = output(
        flowlens()
            .args(["ingest", "--quiet", "--format", "calico", "--data"])
            .arg(&from_file)
            .arg(&input)
            .output()
            .unwrap(),
    );
    check(&from_file, code, &out, &err, &input.display().to_string());

    let from_stdin = dir.path().join("from-stdin");
    let (code, out, err) = output(
        flowlens()
            .args(["ingest", "--quiet", "--format", "calico", "--data"])
            .arg(&from_stdin)
            .arg("-")
            .pipe_stdin(&input)
            .unwrap()
            .output()
            .unwrap(),
    );
    check(&from_stdin, code, &out, &err, "-");

    let followed = dir.path().join("followed");
    let child = follow(&followed, &input);
    wait_until_stored(&followed, 8);
    let (code, out, err) = stop_follower(child);
    check(&followed, code, &out, &err, &input.display().to_string());
}

#[test]
fn a_followed_file_is_read_on_across_rename_rotation_each_line_once() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("flows.log"));
    let mut writer = std::fs::File::create(&input).unwrap();
    writer.write_all(calico_lines(1..=100).as_bytes()).unwrap();
    let child = follow(&data, &input);
    let stored = wait_until_stored(&data, 8);
    // The writer adds lines, the file is moved away, the writer adds a few more to it (it
    // has not reopened yet), then a new file is created under the name.
    writer
        .write_all(calico_lines(101..=150).as_bytes())
        .unwrap();
    std::fs::rename(&input, dir.path().join("flows.log.1")).unwrap();
    writer
        .write_all(calico_lines(151..=160).as_bytes())
        .unwrap();
    let mut writer = std::fs::File::create(&input).unwrap();
    writer
        .write_all(calico_lines(161..=300).as_bytes())
        .unwrap();
    let stored = wait_until_stored(&data, stored);
    // And the new file grows on.
    writer
        .write_all(calico_lines(301..=320).as_bytes())
        .unwrap();
    wait_until_stored(&data, stored);
    let (code, _, err) = stop_follower(child);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        stored_line_numbers(&data),
        format!("320,320,{}", 320 * 321 / 2)
    );
}

#[test]
fn a_followed_file_truncated_in_place_is_read_again_from_its_start_each_line_once() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("flows.log"));
    let mut writer = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&input)
        .unwrap();
    writer.write_all(calico_lines(1..=100).as_bytes()).unwrap();
    let before = std::fs::metadata(&input).unwrap().len();
    let child = follow(&data, &input);
    let stored = wait_until_stored(&data, 8);
    // logrotate's copytruncate: the file is copied, then cut to nothing; the writer goes on
    // at the new end.
    std::fs::copy(&input, dir.path().join("flows.log.1")).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .unwrap()
        .set_len(0)
        .unwrap();
    writer
        .write_all(calico_lines(101..=120).as_bytes())
        .unwrap();
    let stored = wait_until_stored(&data, stored);
    writer
        .write_all(calico_lines(121..=200).as_bytes())
        .unwrap();
    wait_until_stored(&data, stored);
    let (code, _, err) = stop_follower(child);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        stored_line_numbers(&data),
        format!("200,200,{}", 200 * 201 / 2)
    );
    let warned = format!("{}: file shrank from {before} to ", input.display());
    assert_eq!(err.matches(&warned).count(), 1, "{err}");
}

#[test]
fn a_file_ingested_again_is_read_on_from_where_the_last_run_stopped() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("flows.log"));
    std::fs::write(&input, calico_lines(1..=100)).unwrap();
    let ingest = |extra: &[&str]| {
        flowlens()
            .args(["ingest", "--quiet", "--format", "calico", "--data"])
            .arg(&data)
            .args(extra)
            .arg(&input)
            .output()
            .unwrap()
    };
    assert!(ingest(&[]).status.success());
    let mut writer = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    writer
        .write_all(calico_lines(101..=150).as_bytes())
        .unwrap();
    let out = ingest(&[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("accepted 50 lines"), "{stdout}");
    assert!(
        stderr.contains("reading on after line 100 (byte "),
        "{stderr}"
    );
    assert_eq!(
        stored_line_numbers(&data),
        format!("150,150,{}", 150 * 151 / 2)
    );
    // Nothing new: nothing stored. A new file under the name is read from its start.
    assert!(ingest(&[]).status.success());
    assert_eq!(stored_line_numbers(&data).split(',').next(), Some("150"));
    std::fs::remove_file(&input).unwrap();
    std::fs::write(&input, calico_lines(151..=160)).unwrap();
    assert!(ingest(&[]).status.success());
    assert_eq!(
        stored_line_numbers(&data),
        format!("160,160,{}", 160 * 161 / 2)
    );
    // --from-start reads it all again.
    assert!(ingest(&["--from-start"]).status.success());
    assert_eq!(stored_line_numbers(&data).split(',').next(), Some("170"));
}

/// A follower killed with SIGKILL and started again stores every line exactly once: what
/// it acknowledged carries how far the file was read.
#[test]
fn a_followed_file_is_read_on_after_a_kill_each_line_once() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("flows.log"));
    let mut writer = std::fs::File::create(&input).unwrap();
    writer.write_all(calico_lines(1..=100).as_bytes()).unwrap();
    let mut child = follow(&data, &input);
    let stored = wait_until_stored(&data, 8);
    writer
        .write_all(calico_lines(101..=200).as_bytes())
        .unwrap();
    // Killed at once, mid-way through what it may be reading.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(wal_bytes(&data) >= stored);
    let stored = wal_bytes(&data);
    writer
        .write_all(calico_lines(201..=300).as_bytes())
        .unwrap();
    let child = follow(&data, &input);
    let stored = wait_until_stored(&data, stored);
    writer
        .write_all(calico_lines(301..=320).as_bytes())
        .unwrap();
    wait_until_stored(&data, stored);
    let (code, _, err) = stop_follower(child);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        stored_line_numbers(&data),
        format!("320,320,{}", 320 * 321 / 2)
    );
}

#[test]
fn maintain_verify_quarantines_a_data_file_damaged_inside() {
    let dir = tempfile::tempdir().unwrap();
    let (data, input) = (dir.path().join("data"), dir.path().join("flows.log"));
    std::fs::write(&input, calico_lines(1..=2000)).unwrap();
    let ingest = flowlens()
        .args(["ingest", "--quiet", "--format", "calico", "--data"])
        .arg(&data)
        .arg(&input)
        .output()
        .unwrap();
    assert!(ingest.status.success());
    let file = std::fs::read_dir(data.join("data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "parquet"))
        .unwrap();
    // Pages damaged, the footer intact: opening the store does not see it.
    let mut bytes = std::fs::read(&file).unwrap();
    let n = bytes.len();
    bytes[n / 4..n / 2].fill(0xab);
    std::fs::write(&file, bytes).unwrap();
    let verify = || {
        flowlens()
            .args(["maintain", "--verify", "--data"])
            .arg(&data)
            .output()
            .unwrap()
    };
    let out = verify();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let name = file.file_name().unwrap().to_str().unwrap();
    assert!(
        stderr.contains("damaged: ") && stderr.contains(name),
        "{stderr}"
    );
    assert!(data.join("quarantine").join(name).exists());
    let out = verify();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 damaged"));
}

#[test]
fn scenario_list_names_every_builtin_scenario_with_its_steps() {
    let out = stdout(flowlens().args(["scenario", "list"]));
    // A name at the start of a line, then its indented description and steps.
    let mut blocks: Vec<(String, Vec<String>)> = Vec::new();
    for line in out.lines() {
        match line.strip_prefix("    ") {
            Some(rest) => blocks
                .last_mut()
                .unwrap_or_else(|| panic!("an indented line before any name:\n{out}"))
                .1
                .push(rest.to_string()),
            None => blocks.push((line.to_string(), Vec::new())),
        }
    }
    let names: Vec<&str> = blocks.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["boutique", "fme", "storefront", "scale"], "{out}");
    let steps = |name: &str| {
        blocks
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .iter()
            .find_map(|l| l.strip_prefix("steps: "))
            .map(str::to_string)
    };
    assert_eq!(steps("boutique").as_deref(), Some("misconfigure"));
    assert_eq!(steps("fme").as_deref(), Some("fix"));
    assert_eq!(steps("storefront").as_deref(), Some("rogue"));
    assert_eq!(steps("scale"), None);
    for (name, lines) in &blocks {
        let description = lines.first().map(String::as_str).unwrap_or_default();
        assert!(
            description.len() > 40 && !description.starts_with("steps:"),
            "{name} has a description:\n{out}"
        );
    }
    assert!(blocks[1].1[0].contains("42000-43000"), "{out}");
}

/// The rows of a SQL query's CSV answer, header first.
fn sql_rows(data: &std::path::Path, query: &str) -> Vec<Vec<String>> {
    let csv = stdout(
        flowlens()
            .arg("sql")
            .arg("--data")
            .arg(data)
            .args([query, "--output", "csv"]),
    );
    csv.lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// `flowlens simulate` of five minutes of the fme story, raw or with `--calico`.
fn simulate_fme(out: &std::path::Path, calico: bool) {
    let mut cmd = flowlens();
    cmd.args([
        "simulate",
        "--scenario",
        "fme",
        "--duration",
        "5m",
        "--seed",
        "11",
        "--start",
        "1763700000",
        "--output",
    ])
    .arg(out);
    if calico {
        cmd.arg("--calico");
    }
    stdout(&mut cmd);
}

#[test]
fn simulate_calico_writes_the_flow_logs_ingest_makes_of_the_raw_records() {
    let dir = tempfile::tempdir().unwrap();
    let (raw, calico, again) = (
        dir.path().join("raw.jsonl"),
        dir.path().join("calico.log"),
        dir.path().join("again.log"),
    );
    simulate_fme(&raw, false);
    simulate_fme(&calico, true);
    simulate_fme(&again, true);
    let text = std::fs::read_to_string(&calico).unwrap();
    assert_eq!(
        text,
        std::fs::read_to_string(&again).unwrap(),
        "the same seed writes the same lines"
    );
    let mut actions = std::collections::BTreeSet::new();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let action = v["action"].as_str().unwrap().to_string();
        let hits = v["policies"]["enforced_policies"].as_array().unwrap();
        // The last hit decides, and says so.
        let last = hits.last().unwrap().as_str().unwrap();
        assert!(last.contains(&format!("|{action}|")), "{line}");
        assert!(["src", "dst"].contains(&v["reporter"].as_str().unwrap()));
        actions.insert(action);
    }
    assert_eq!(
        actions.into_iter().collect::<Vec<_>>(),
        ["allow", "deny"],
        "the fme story has both"
    );

    // Stored from the raw records with the scenario's manifests, or stored as `--calico`
    // wrote them: the same flow logs.
    let from_raw = dir.path().join("from-raw");
    stdout(&mut common::ingest_fme(&from_raw, &raw));
    let from_calico = dir.path().join("from-calico");
    stdout(
        flowlens()
            .arg("ingest")
            .arg("--data")
            .arg(&from_calico)
            .arg(&calico),
    );
    let query = "SELECT source_namespace, source_name_aggr, dest_namespace, dest_name_aggr, \
                 proto, dest_port, action, reporter, \
                 policies_enforced AS hits, count(*) AS records, \
                 sum(num_flows) AS flows, sum(bytes_in) AS bytes_in, sum(bytes_out) AS bytes_out \
                 FROM flows GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 ORDER BY 1, 2, 3, 4, 5, 6, 7, 8, 9";
    let want = sql_rows(&from_raw, query);
    assert!(want.len() > 5, "{want:?}");
    assert_eq!(sql_rows(&from_calico, query), want);
    let lines = sql_rows(&from_calico, "SELECT count(*) FROM flows");
    assert_eq!(lines[1][0], text.lines().count().to_string());
}

#[test]
fn flows_group_by_answers_what_sql_counts() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.jsonl");
    simulate_fme(&raw, false);
    let data = dir.path().join("data");
    stdout(&mut common::ingest_fme(&data, &raw));
    for (group, columns) in [
        (
            "namespace-pair",
            &["source_namespace", "dest_namespace"][..],
        ),
        (
            "name-pair",
            &[
                "source_namespace",
                "source_name_aggr",
                "dest_namespace",
                "dest_name_aggr",
            ][..],
        ),
        (
            "edge",
            &[
                "source_namespace",
                "source_name_aggr",
                "dest_namespace",
                "dest_name_aggr",
                "proto",
                "dest_port",
                "action",
            ][..],
        ),
        ("action", &["action"][..]),
    ] {
        let json = stdout(flowlens().arg("flows").arg("--data").arg(&data).args([
            "--group-by",
            group,
            "--limit",
            "10000",
            "--output",
            "json",
        ]));
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        let mut got: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                let mut row: Vec<String> = columns
                    .iter()
                    .map(|c| match &r["key"][*c] {
                        serde_json::Value::String(s) => s.clone(),
                        // An absent value (`-` in flow logs) is no key.
                        serde_json::Value::Null => "-".to_string(),
                        other => other.to_string(),
                    })
                    .collect();
                for n in ["records", "num_flows", "allowed_flows", "denied_flows"] {
                    row.push(r[n].to_string());
                }
                row
            })
            .collect();
        got.sort();
        let cols = columns.join(", ");
        let query = format!(
            "SELECT {cols}, count(*), sum(num_flows), \
             sum(CASE WHEN action = 'allow' THEN num_flows ELSE 0 END), \
             sum(CASE WHEN action = 'deny' THEN num_flows ELSE 0 END) \
             FROM flows GROUP BY {cols}"
        );
        let mut want: Vec<Vec<String>> = sql_rows(&data, &query)
            .split_off(1)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|cell| if cell.is_empty() { "-".into() } else { cell })
                    .collect()
            })
            .collect();
        want.sort();
        assert!(!want.is_empty());
        assert_eq!(got, want, "--group-by {group}");
    }
}

#[test]
fn flows_src_selector_picks_flows_by_source_labels() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.jsonl");
    simulate_fme(&raw, false);
    let data = dir.path().join("data");
    stdout(&mut common::ingest_fme(&data, &raw));
    let flows = |selector: &str| -> Vec<serde_json::Value> {
        stdout(flowlens().arg("flows").arg("--data").arg(&data).args([
            "--src-selector",
            selector,
            "--limit",
            "10000",
            "--output",
            "jsonl",
        ]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
    };
    // The engines carry this label, and only they.
    let engines = flows("safe.k8s.fmeserver.component == \"engine\"");
    let want = sql_rows(
        &data,
        "SELECT count(*) FROM flows WHERE source_name_aggr LIKE 'engine-standard-group-%'",
    );
    assert!(!engines.is_empty());
    assert_eq!(engines.len().to_string(), want[1][0]);
    for f in &engines {
        assert!(
            f["source_name_aggr"]
                .as_str()
                .unwrap()
                .starts_with("engine-standard-group-"),
            "{f}"
        );
    }
    // A selector nothing carries finds nothing; `in` and `has` pick the workloads whose
    // labels hold them.
    assert!(flows("safe.k8s.fmeserver.component == \"nothing\"").is_empty());
    let web_or_core = flows("safe.k8s.fmeserver.component in {\"web\", \"core\"}");
    let want = sql_rows(
        &data,
        "SELECT count(*) FROM flows WHERE source_name_aggr LIKE 'fmeserver-web-%' \
         OR source_name_aggr LIKE 'fmeserver-core-%'",
    );
    assert!(!web_or_core.is_empty());
    assert_eq!(web_or_core.len().to_string(), want[1][0]);
    let labelled = flows("has(safe.k8s.fmeserver.component)");
    let want = sql_rows(
        &data,
        "SELECT count(*) FROM flows WHERE source_namespace = 'fme' AND source_type = 'wep' \
         AND source_name_aggr NOT LIKE 'fmeserver-postgresql-%'",
    );
    assert_eq!(labelled.len().to_string(), want[1][0]);
    let bad = flowlens()
        .arg("flows")
        .arg("--data")
        .arg(&data)
        .args(["--src-selector", "app == "])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("--src-selector") && err.contains('^'), "{err}");
}

#[test]
fn exposing_the_api_beyond_loopback_needs_tls_and_auth_or_insecure() {
    let data = tempfile::tempdir().unwrap();
    let refused = |extra: &[&str]| {
        let out = flowlens()
            .args(["serve", "--bind", "0.0.0.0", "--port", "0", "--data"])
            .arg(data.path())
            .args(extra)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{extra:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&[]);
    assert!(
        err.contains("without TLS") && err.contains("--insecure"),
        "{err}"
    );
    let err = refused(&["--no-auth"]);
    assert!(
        err.contains("--no-auth") && err.contains("loopback"),
        "{err}"
    );
    // Neither check created the token before refusing.
    assert!(!data.path().join("api-token").exists());
    let token = data.path().join("short-token");
    std::fs::write(&token, "abc").unwrap();
    let out = flowlens()
        .args(["serve", "--port", "0", "--data"])
        .arg(data.path())
        .arg("--token-file")
        .arg(&token)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at least 16 characters"), "{err}");
}

#[test]
fn serve_answers_with_the_printed_token_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("raw.jsonl");
    simulate_fme(&raw, false);
    let data = dir.path().join("data");
    stdout(&mut common::ingest_fme(&data, &raw));
    let denied = sql_rows(&data, "SELECT count(*) FROM flows WHERE action = 'deny'");
    let all = sql_rows(&data, "SELECT count(*) FROM flows");
    assert!(denied[1][0] != "0");
    let mut server = common::serve(
        &data,
        &[
            "--snapshot",
            scenarios().join("fme/manifests").to_str().unwrap(),
        ],
    );
    let token = server.token.clone().expect("the URL carries the token");
    // The token is the one kept in the data directory for the next start.
    let kept = std::fs::read_to_string(data.join("api-token")).unwrap();
    assert_eq!(kept.trim(), token);
    let health = common::eventually(&server.addr, "/api/health", "health", |v| {
        v["status"] == "ok"
    });
    assert!(health["store"]["records"].as_u64().unwrap() > 0, "{health}");

    // Without the token nothing; logging in with it gives the session cookie.
    let (status, _) = common::http_get(&server.addr, "/api/flows");
    assert_eq!(status, 401);
    let (status, head, body) = common::http(
        &server.addr,
        "POST",
        "/api/login",
        &[("Content-Type", "application/json")],
        &serde_json::json!({ "token": token }).to_string(),
    );
    assert_eq!(status, 204, "{body}");
    let cookie = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("set-cookie")
                .then(|| value.trim().split(';').next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("no cookie in {head}"));

    // The flows ingested before the start, every record of them.
    let (status, _, body) = common::http(
        &server.addr,
        "GET",
        "/api/flows?count=records&limit=1&filter=action%3Ddeny",
        &[("Cookie", &cookie)],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"].to_string(), denied[1][0], "{page}");
    assert_eq!(page["flows"][0]["action"], "deny", "{page}");
    let (status, _, body) = common::http(
        &server.addr,
        "GET",
        "/api/flows?count=records&limit=1",
        &[("Authorization", &format!("Bearer {token}"))],
        "",
    );
    assert_eq!(status, 200, "{body}");
    let page: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(page["total"].to_string(), all[1][0], "{page}");

    common::sigterm(&server.child);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still running 30 s after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(status.success(), "{status}");
    // The port is closed.
    assert!(std::net::TcpStream::connect(&server.addr).is_err());
}

/// A self-signed certificate for localhost and 127.0.0.1 in `dir`: (certificate, key, DER).
fn self_signed(
    dir: &std::path::Path,
    name: &str,
) -> (std::path::PathBuf, std::path::PathBuf, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (
        dir.join(format!("{name}.crt")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.der().to_vec())
}

#[test]
fn https_refuses_bad_certificate_files_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = self_signed(dir.path(), "server");
    let (_, other_key, _) = self_signed(dir.path(), "other");
    let garbage = dir.path().join("garbage.key");
    std::fs::write(&garbage, "not a key\n").unwrap();
    let missing = dir.path().join("missing.crt");
    let data = dir.path().join("data");
    let refused = |cert: &std::path::Path, key: &std::path::Path| {
        let out = flowlens()
            .args(["serve", "--port", "0", "--data"])
            .arg(&data)
            .arg("--http-tls-cert")
            .arg(cert)
            .arg("--http-tls-key")
            .arg(key)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{cert:?} {key:?} was accepted");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = refused(&cert, &garbage);
    assert!(
        err.contains("garbage.key") && err.contains("no private key"),
        "{err}"
    );
    let err = refused(&missing, &key);
    assert!(
        err.contains("missing.crt") && err.contains("cannot read"),
        "{err}"
    );
    let err = refused(&cert, &other_key);
    assert!(
        err.contains("other.key") && err.contains("server.crt") && err.contains("does not belong"),
        "{err}"
    );
    // Nothing was started or created before refusing.
    assert!(!data.join("api-token").exists());
    let out = flowlens()
        .args(["serve", "--port", "0", "--data"])
        .arg(&data)
        .arg("--http-tls-cert")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--http-tls-key"));
}

#[test]
fn serve_with_a_certificate_prints_an_https_url_and_answers_over_tls() {
    use std::io::{BufRead, BufReader, Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, der) = self_signed(dir.path(), "server");
    let bin = assert_cmd::cargo::cargo_bin("flowlens");
    let mut serve = std::process::Command::new(&bin)
        .args(["serve", "--port", "0", "--data"])
        .arg(dir.path().join("data"))
        .arg("--http-tls-cert")
        .arg(&cert)
        .arg("--http-tls-key")
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(serve.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let answer = (|| {
        let login = line
            .split_whitespace()
            .find(|w| w.starts_with("https://"))
            .ok_or_else(|| format!("no https URL in {line:?}"))?;
        let addr = login
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der.into()).unwrap();
        #[allow(deprecated)]
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let connection = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let tcp = std::net::TcpStream::connect(&addr).map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(connection, tcp);
        write!(
            tls,
            "GET /api/health HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        // The server may close without close_notify: what came before counts.
        let _ = tls.read_to_end(&mut answer);
        Ok::<_, String>(String::from_utf8_lossy(&answer).into_owned())
    })();
    let _ = serve.kill();
    let _ = serve.wait();
    let answer = answer.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("strict-transport-security"),
        "{answer}"
    );
}

#[test]
fn a_reader_that_closes_the_pipe_early_stops_the_output_without_a_panic() {
    use std::io::{BufRead, BufReader, Write};
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;
    let flow = "{\"src\": \"fme/engine-standard-group\", \"dst\": \"fme/fmeserver-core\", \"dst_port\": 42001}\n";
    // Far more output than a pipe's buffer holds, so writes go on after `head` has gone.
    let input = tempfile::NamedTempFile::new().unwrap();
    input
        .as_file()
        .write_all(flow.repeat(20_000).as_bytes())
        .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flowlens"))
        .arg("evaluate")
        .arg("--snapshot")
        .arg(scenarios().join("fme/manifests"))
        .arg("--flows")
        .arg(input.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.contains("\"deny\""), "{first}");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Ended by SIGPIPE (13) as `cat` would be, or finished before the reader left.
    assert!(
        out.status.signal() == Some(13) || out.status.success(),
        "{:?}: {stderr}",
        out.status
    );
}

#[test]
fn serve_with_roles_scopes_each_user_and_refuses_a_bad_roles_file() {
    let dir = tempfile::tempdir().unwrap();
    let roles = dir.path().join("roles.yaml");
    std::fs::write(
        &roles,
        "users:\n  - name: ops\n    token: ops-token-0123456789\n    tiers:\n      default: wrte\n",
    )
    .unwrap();
    let out = flowlens()
        .args(["serve", "--port", "0", "--data"])
        .arg(dir.path().join("empty"))
        .arg("--roles")
        .arg(&roles)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("roles.yaml:5: users[0].tiers.default: \"wrte\": expected read or write"),
        "{err}"
    );

    std::fs::write(dir.path().join("admin.token"), "admin-token-0123456789\n").unwrap();
    std::fs::write(
        &roles,
        "users:\n  - name: root\n    token_file: admin.token\n    role: admin\n  - name: ingress-team\n    token: ingress-token-0123456789\n    tiers: {default: read}\n    namespaces: {ingress-nginx: read}\n",
    )
    .unwrap();
    let data = common::fme_store(dir.path(), 7);
    let mut server = common::serve(
        &data,
        &[
            "--snapshot",
            scenarios().join("fme/manifests").to_str().unwrap(),
            "--roles",
            roles.to_str().unwrap(),
        ],
    );
    assert_eq!(server.token, None, "with --roles the URL carries no token");
    assert!(!data.join("api-token").exists());
    let get = |token: &str, path: &str| {
        let (status, _, body) = common::http(
            &server.addr,
            "GET",
            path,
            &[("Authorization", &format!("Bearer {token}"))],
            "",
        );
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str::<serde_json::Value>(&body).unwrap()
    };
    let all = get("admin-token-0123456789", "/api/flows?limit=1");
    let scoped = get("ingress-token-0123456789", "/api/flows?limit=10000");
    let (all, seen) = (
        all["total"].as_u64().unwrap(),
        scoped["total"].as_u64().unwrap(),
    );
    assert!(0 < seen && seen < all, "{seen} of {all}");
    for f in scoped["flows"].as_array().unwrap() {
        assert!(
            f["source_namespace"] == "ingress-nginx" || f["dest_namespace"] == "ingress-nginx",
            "{f}"
        );
        for end in ["source", "dest"] {
            if f[format!("{end}_namespace")] != "ingress-nginx" {
                assert_eq!(f[format!("{end}_namespace")], "(hidden)", "{f}");
            }
        }
    }
    let (status, _, _) = common::http(
        &server.addr,
        "GET",
        "/api/sources",
        &[("Authorization", "Bearer ingress-token-0123456789")],
        "",
    );
    assert_eq!(status, 403);
    common::sigterm(&server.child);
    assert!(server.child.wait().unwrap().success());
}
