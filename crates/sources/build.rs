//! Generates the gRPC code from the vendored protos with `protox` (a protobuf compiler in
//! Rust), so no system `protoc` is needed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/goldmane/api.proto",
        "proto/flow/flow.proto",
        "proto/relay/relay.proto",
        "proto/observer/observer.proto",
    ];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // The generated `connect(endpoint)` constructor would clash with the `Connect` RPC.
        .build_transport(false)
        // Hits repeat from flow to flow; the converter caches them by their message.
        .type_attribute("goldmane.PolicyHit", "#[derive(Eq, Hash)]")
        .compile_fds(descriptors)?;
    Ok(())
}
