//! Compiles the `.proto` files with protox (pure Rust, so no system `protoc`) and
//! generates the prost messages and tonic services from them.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "kp/local/v1/local.proto",
        "kp/replication/v1/replication.proto",
    ];
    for p in &protos {
        println!("cargo:rerun-if-changed={p}");
    }
    let fds = protox::compile(protos, ["."])?;
    // The descriptors, for the node's gRPC server reflection (`grpcurl`
    // lists and calls the local API without the .proto files).
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("kp_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure()
        .type_attribute(".", "#[derive(serde::Serialize, serde::Deserialize)]")
        .type_attribute(".", "#[serde(rename_all = \"snake_case\")]")
        // The web workspace sends requests as JSON, naming only what it sets.
        .message_attribute(".", "#[serde(default)]")
        .compile_fds(fds)?;
    Ok(())
}
