//! Simulated evidence in the real byte formats, signed by generated test hierarchies (feature
//! `sim`).

pub mod nvidia;
pub mod snp;
pub mod tdx;
