//! # kube-proxy (iptables mode)
//!
//! pub mod rules only, for now.
pub mod rules;
