//! Offline verification of raw vendor files, as the operator command
//! `warden-verifier evidence verify snp` does it.

use warden_evidence::UnixTime;
use warden_evidence::snp::{self, CertRole, Report, SnpError, SnpVerifier, VerifiedReport};

/// Raw SEV-SNP evidence as an operator has it on disk.
#[derive(Debug, Clone, Copy)]
pub struct SnpFiles<'a> {
    /// The 1184-byte attestation report.
    pub report: &'a [u8],
    /// The VCEK or VLEK, DER or PEM.
    pub cert: &'a [u8],
    /// Optional KDS `cert_chain` (PEM: ASK or ASVK, then ARK) replacing the pinned intermediate.
    pub chain: Option<&'a [u8]>,
    /// AMD CRLs issued by the product's ARK (DER or PEM), e.g. KDS `/vcek/v1/Milan/crl`.
    pub crls: &'a [Vec<u8>],
}

/// Verifies SEV-SNP evidence at `at` against the pinned AMD roots.
///
/// With `chain`, the chain's intermediate replaces the pinned one; its ARK must still be the
/// pinned ARK of the evidence's product unless `dangerous_trust_chain_root` is set. Each CRL must
/// be signed by that ARK and current at `at`, and must not list the ASK or ASVK.
pub fn verify_snp(
    files: SnpFiles<'_>,
    at: UnixTime,
    dangerous_trust_chain_root: bool,
) -> Result<VerifiedReport, SnpError> {
    let report = Report::parse(files.report)?;
    let cert = snp::decode_certificates(files.cert, &[CertRole::Vcek])?;
    let vek = cert.concat();
    let mut anchors = crate::roots::amd();
    if files.chain.is_some() || !files.crls.is_empty() {
        let (product, kind) = snp::identify(&report, &vek)?;
        if let Some(chain) = files.chain {
            let intermediate = match kind {
                snp::VekKind::Vlek => CertRole::Asvk,
                _ => CertRole::Ask,
            };
            let chain = snp::decode_certificates(chain, &[intermediate, CertRole::Ark])?;
            anchors =
                anchors.with_chain_override(product, kind, &chain, dangerous_trust_chain_root)?;
        }
        for crl in files.crls {
            anchors = anchors.with_crl(product, snp::decode_crl(crl)?)?;
        }
    }
    SnpVerifier::new(anchors).verify_report(at, report, &vek)
}
