//! (to be written: the apiserver library; for now only its storage layer)

pub mod storage;
