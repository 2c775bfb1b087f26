//! Compiles `proto/cri.proto` (the CRI subset we use) into Rust with tonic-prost-build.
//! The generated code lands in `OUT_DIR` and is included by `src/cri.rs`; it is never
//! committed. `protoc` must be installed (Debian: `protobuf-compiler`, see hack/install-deps.sh).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto");
    let proto = format!("{proto_dir}/cri.proto");
    println!("cargo:rerun-if-changed={proto}");
    tonic_prost_build::configure()
        // The kubelet is a CRI client; containerd is the server.
        .build_server(false)
        .compile_protos(&[proto.as_str()], &[proto_dir])?;
    Ok(())
}
