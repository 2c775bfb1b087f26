//! The kubelet library (the binary in `main.rs` only parses flags).
pub mod cri;
