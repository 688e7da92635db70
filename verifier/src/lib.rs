//! The Warden verifier: judges evidence against policy and releases model keys.
//!
//! This crate holds what touches the outside world (files, the pinned roots, later the network
//! and storage); parsing and cryptographic checks live in `warden-evidence`.

mod bundle;
pub mod claims;
pub mod collateral;
pub mod config;
pub mod gpu;
pub mod keys;
pub mod model_signing;
pub mod offline;
pub mod pcs;
pub mod policy;
pub mod revocation;
pub mod rim_fetch;
pub mod rims;
pub mod roots;
pub mod service;
pub mod store;
pub mod tdx;
