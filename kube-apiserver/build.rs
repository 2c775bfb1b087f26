//! Compiles the Kubernetes protobuf schemas in `proto/k8s/` (a subset of upstream's
//! `generated.proto` files) into a `FileDescriptorSet` in `OUT_DIR`, which `src/protobuf.rs`
//! includes to decode `application/vnd.kubernetes.protobuf` request bodies. No Rust code is
//! generated: the decoder is driven by the descriptors at run time. `protoc` must be
//! installed (Debian: `protobuf-compiler`, see hack/install-deps.sh), as for the kubelet.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto/k8s");
    let mut files = Vec::new();
    collect_protos(&root, &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", root.display());
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    let out = PathBuf::from(std::env::var("OUT_DIR")?).join("k8s-descriptors.bin");
    let protoc = std::env::var("PROTOC").unwrap_or_else(|_| "protoc".into());
    let status = Command::new(&protoc)
        .arg("--include_imports")
        .arg(format!("--descriptor_set_out={}", out.display()))
        .arg("-I")
        .arg(&root)
        .args(&files)
        .status()
        .map_err(|e| format!("running {protoc} (install protobuf-compiler): {e}"))?;
    if !status.success() {
        return Err(format!("{protoc} failed on proto/k8s: {status}").into());
    }
    Ok(())
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
