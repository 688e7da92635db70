//! NVIDIA GPU confidential-computing evidence: SPDM 1.1 GET_MEASUREMENTS reports, the device
//! certificate chain, and reference integrity manifests ([`rim`]). Issue #5 is in progress:
//! nothing here is used by the verifier service yet.
//!
//! [`GpuVerifier::verify`] is the entry point for a report: strict report parsing
//! ([`SpdmReport::parse`]), the chain to the pinned NVIDIA Device Identity CA, the request nonce,
//! the report signature and the FWID binding. [`rim::RimVerifier::verify`] verifies a RIM's
//! enveloped XML signature to the pinned NVIDIA CoRIM signing root, and [`rim::compare`] judges
//! a report's measurements against a driver and a VBIOS RIM. Policy (versions, topology) is
//! judged afterwards on the [`GpuClaims`].

mod cert;
mod claims;
mod error;
pub mod ocsp;
pub mod rim;
pub mod spdm;
mod verify;

pub use cert::{CHAIN_LEN, GpuArch, decode_chain};
pub use claims::GpuClaims;
pub use error::{GpuError, ReportPart};
pub use spdm::{FeatureFlag, MeasurementBlock, OpaqueData, OpaqueField, SpdmReport};
pub use verify::{GpuVerifier, VerifiedGpuReport};
