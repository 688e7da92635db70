//! AMD SEV-SNP: the attestation report, the AMD certificate chains and their verification.
//!
//! [`SnpVerifier::verify`] is the entry point: it parses the report, verifies the VCEK or VLEK
//! chain to the pinned ARK of the report's product, the certificate validity at the time given,
//! the report signature, and that REPORTED_TCB and CHIP_ID match the certificate. Policy (debug,
//! VMPL, TCB floors, measurements) is judged afterwards on the [`SnpClaims`].

mod cert;
mod certtable;
mod claims;
mod error;
mod product;
pub mod report;
mod roots;
mod verify;

#[cfg(test)]
mod tests;

pub use cert::{decode_certificates, decode_crl};
pub use certtable::{
    ARK_GUID, ASK_GUID, CertTable, UnknownEntry, VCEK_GUID, VLEK_GUID, vek_from_certificates,
};
pub use claims::{CpuidClaims, PlatformInfoClaims, PolicyClaims, SnpClaims};
pub use error::{CertRole, SnpError, TcbComponent, VekKind};
pub use product::{Product, TcbVersion};
pub use report::{REPORT_SIZE, Report, TcbField};
pub use roots::{ProductRoots, TrustAnchors};
pub use verify::{SnpVerifier, VerifiedReport, identify};
