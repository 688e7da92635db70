//! Verification of an NVML GPU attestation report against its device certificate chain and the
//! pinned NVIDIA Device Identity CA.

use ring::signature::{self, UnparsedPublicKey};

use crate::UnixTime;
use crate::nvidia::cert::{self, GpuArch};
use crate::nvidia::spdm::{NONCE_LEN, SpdmReport};
use crate::nvidia::{GpuClaims, GpuError};

/// Verifies NVIDIA GPU attestation reports (Hopper, Blackwell).
///
/// Checks, in order: the report parses strictly; the chain has 5 certificates and ends in the
/// pinned root byte for byte; every certificate is valid at `now`, profile-conforming and
/// signed by the next; the request nonce is the expected nonce; the report signature verifies
/// with the leaf key; the report's FWID, when present, equals the leaf certificate's.
///
/// FWID decision: a report without FWID (opaque type 20; drivers before 550 do not send it) is
/// accepted with `fwid_checked = false` in the claims, as nvtrust does. Policy can reject such
/// reports, or old drivers by version. A report that carries an FWID must match. The leaf's FWID
/// extension (2.23.133.5.4.1 on Hopper, DICE TcbInfo 2.23.133.5.4.1.1 on Blackwell) is required
/// either way: every device chain seen has it, including the 535.86.09 one, and a leaf without it
/// is not the profile NVIDIA documents.
#[derive(Debug, Clone)]
pub struct GpuVerifier {
    root_der: Vec<u8>,
}

/// A GPU report whose chain, nonce, signature and FWID verified.
#[derive(Debug, Clone)]
pub struct VerifiedGpuReport {
    /// The parsed report.
    pub report: SpdmReport,
    /// The architecture, from the verified chain.
    pub arch: GpuArch,
    /// The normalised claims.
    pub claims: GpuClaims,
}

impl GpuVerifier {
    /// A verifier trusting the NVIDIA Device Identity CA `device_root_der` (DER).
    pub fn new(device_root_der: Vec<u8>) -> Self {
        Self {
            root_der: device_root_der,
        }
    }

    /// Verifies `report` (NVML `attestationReport`) with `cert_chain` (NVML
    /// `attestationCertChain`: PEM or concatenated DER, leaf first, 5 certificates, the last the
    /// pinned root) at time `now`, for the challenge `expected_nonce`.
    pub fn verify(
        &self,
        now: UnixTime,
        report: &[u8],
        cert_chain: &[u8],
        expected_nonce: &[u8; NONCE_LEN],
    ) -> Result<VerifiedGpuReport, GpuError> {
        let report = SpdmReport::parse(report)?;
        let ders = cert::decode_chain(cert_chain)?;
        let chain = cert::verify_chain(&ders, &self.root_der, now)?;

        // The nonce is public (the verifier chose it), so a plain comparison is fine.
        if report.request_nonce() != expected_nonce {
            return Err(GpuError::NonceMismatch);
        }
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &chain.leaf_key)
            .verify(report.signed_bytes(), report.signature())
            .map_err(|_| GpuError::Signature)?;

        let fwid_checked = match report.opaque().fwid() {
            Some(fwid) if fwid == chain.leaf_fwid => true,
            Some(_) => return Err(GpuError::FwidMismatch),
            None => false,
        };
        let claims = GpuClaims::new(&report, &chain, fwid_checked);
        Ok(VerifiedGpuReport {
            report,
            arch: chain.arch,
            claims,
        })
    }
}
