//! The OpenAPI document and the router agree on the routes.

use serde_json::Value;

#[test]
fn openapi_describes_every_route() {
    let doc: Value = serde_json::from_str(include_str!("../openapi.json")).unwrap();
    let paths = doc["paths"].as_object().unwrap();
    let source = include_str!("../src/api/mod.rs");
    let routes: Vec<&str> = source
        .split(".route(")
        .skip(1)
        .filter_map(|s| s.trim_start().strip_prefix('"')?.split('"').next())
        .collect();
    assert!(routes.len() >= 15, "{routes:?}");
    for route in &routes {
        assert!(paths.contains_key(*route), "{route} is not in openapi.json");
    }
    for path in paths.keys() {
        assert!(
            routes.contains(&path.as_str()),
            "openapi.json has {path} but the router does not"
        );
    }
}
