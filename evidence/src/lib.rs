//! Parsing and cryptographic verification of Warden evidence.
//!
//! One module per evidence kind. Nothing here does I/O or reads the clock: the verification time
//! is always an argument, so tests pin it.

pub mod model;
pub mod nvidia;
#[cfg(feature = "sim")]
pub mod sim;
pub mod snp;
pub mod tdx;
#[cfg(test)]
mod test_vectors;
mod time;
mod x509;

pub use time::UnixTime;
