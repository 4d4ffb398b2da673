//! Malformed objects never panic the conversion or the index (the `kube_objects` fuzz
//! target runs the same entry point on arbitrary bytes).

use serde_json::json;

#[test]
fn malformed_objects_are_skipped_not_fatal() {
    let cases = [
        json!(null),
        json!([1, 2, 3]),
        json!("text"),
        json!({}),
        json!({"metadata": {"name": 5}}),
        json!({"metadata": {"name": "x", "namespace": ["a"]}, "spec": "nope"}),
        json!({"metadata": {"name": "p", "namespace": "n"},
               "status": {"podIP": "999.1.1.1", "podIPs": [{"ip": "zz"}], "phase": 7}}),
        json!({"metadata": {"name": "p", "namespace": "n", "creationTimestamp": "yesterday"}}),
        json!({"metadata": {"name": "default.", "managedFields": [{"time": "2026-01-01T00:00:00Z"}]},
               "spec": {"tier": {"deep": [[[]]]}, "order": "high", "selector": "((("}}),
        json!({"metadata": {"name": "s", "namespace": "n"},
               "spec": {"clusterIPs": ["None", "10.0.0.1", 4], "ports": [{"port": 99999}]}}),
        json!({"metadata": {"name": "e", "namespace": "n"}, "addressType": "IPv4",
               "endpoints": [{"addresses": ["not-an-ip"]}], "ports": [{"port": -1}]}),
        json!({"metadata": {"name": "node"}, "status": {"addresses": [{"type": "InternalIP", "address": ""}]}}),
    ];
    for case in cases {
        flowlens_kube::fuzz_convert(case.to_string().as_bytes());
    }
    flowlens_kube::fuzz_convert(b"{\"metadata\": {\"name\": \"x\"");
    flowlens_kube::fuzz_convert(&[0xff, 0xfe, 0x00]);
}
