//! NVIDIA GPU confidential-computing evidence: SPDM 1.1 GET_MEASUREMENTS reports and the device
//! certificate chain (issue #5; reference integrity manifests come later). Nothing here is used
//! by the verifier service yet.
//!
//! [`GpuVerifier::verify`] is the entry point: strict report parsing ([`SpdmReport::parse`]),
//! the chain to the pinned NVIDIA Device Identity CA, the request nonce, the report signature
//! and the FWID binding. Policy (versions, topology, measurements against RIMs) is judged
//! afterwards on the [`GpuClaims`].

mod cert;
mod claims;
mod error;
pub mod spdm;
mod verify;

pub use cert::{CHAIN_LEN, GpuArch, decode_chain};
pub use claims::GpuClaims;
pub use error::{GpuError, ReportPart};
pub use spdm::{FeatureFlag, MeasurementBlock, OpaqueData, OpaqueField, SpdmReport};
pub use verify::{GpuVerifier, VerifiedGpuReport};
