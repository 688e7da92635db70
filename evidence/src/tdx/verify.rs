//! Verification of a TD quote with dcap-qvl 0.7.1, and the mapping of its errors.

use dcap_qvl::QuotePolicy;
use dcap_qvl::verify::QuoteVerifier;

use crate::UnixTime;
use crate::tdx::{Collateral, Quote, TdxClaims, TdxError, pem};

/// Verifies TD quotes against one pinned root CA.
#[derive(Debug, Clone)]
pub struct TdxVerifier {
    root_ca_der: Vec<u8>,
}

/// A quote that verified, with its claims.
#[derive(Debug, Clone)]
pub struct VerifiedQuote {
    /// The quote.
    pub quote: Quote,
    /// The normalised claims.
    pub claims: TdxClaims,
}

impl TdxVerifier {
    /// A verifier trusting `root_ca_der`: the Intel SGX Root CA (pinned by the caller), or a
    /// generated test root.
    pub fn new(root_ca_der: Vec<u8>) -> Self {
        Self { root_ca_der }
    }

    /// The root CA this verifier trusts (DER).
    pub fn root_ca_der(&self) -> &[u8] {
        &self.root_ca_der
    }

    /// Verifies `quote` with `collateral` at `now`; see the [module docs](crate::tdx) for what
    /// is checked and in which order. Any TCB status dcap-qvl accepts is returned in the claims
    /// (`tcb_status`, `advisory_ids`): judging it is policy's job. Revoked TCBs, debug or
    /// migratable TDs, TDs without SEPT_VE_DISABLE and TDs bound to service TDs are rejected.
    pub fn verify(
        &self,
        now: UnixTime,
        quote: &Quote,
        collateral: &Collateral,
    ) -> Result<VerifiedQuote, TdxError> {
        let now_secs =
            u64::try_from(now.seconds()).map_err(|_| TdxError::TimeBeforeEpoch(now.0))?;
        let pck = quote.pck()?;

        // Each chain must end in the pinned root itself. dcap-qvl would find the anchor even
        // without it; requiring it turns a chain of another hierarchy (a test root against the
        // production root, or the reverse) into one clear error.
        let root = self.root_ca_der.as_slice();
        if quote.pck_chain_der().last().map(Vec::as_slice) != Some(root) {
            return Err(TdxError::UntrustedRoot { chain: "pck-chain" });
        }
        let dcap = collateral.as_dcap();
        let mut chains = vec![
            ("tcb-signing-chain", &dcap.tcb_info_issuer_chain),
            ("pck-crl-issuer-chain", &dcap.pck_crl_issuer_chain),
        ];
        // Intel signs both with one certificate; collateral from a set shares the chain.
        if dcap.qe_identity_issuer_chain != dcap.tcb_info_issuer_chain {
            chains.push(("tcb-signing-chain", &dcap.qe_identity_issuer_chain));
        }
        for (chain, pem_text) in chains {
            let ders = pem::decode_certificates(pem_text.as_bytes()).map_err(|reason| {
                TdxError::CollateralFormat {
                    what: chain,
                    reason: reason.to_owned(),
                }
            })?;
            if ders.last().map(Vec::as_slice) != Some(root) {
                return Err(TdxError::UntrustedRoot { chain });
            }
        }

        let mut dcap = dcap.clone();
        dcap.pck_certificate_chain = None;
        let claims = QuoteVerifier::new(self.root_ca_der.clone())
            .verify_with_policy(
                quote.as_bytes(),
                dcap,
                now_secs,
                &QuotePolicy::claims_only(now_secs),
            )
            .map_err(|e| map_dcap_error(&format!("{e:#}"), &Dates::of(collateral)))?;

        // Checks dcap-qvl 0.7.1 leaves out. T13: the QE binds the attestation key with
        // REPORT_DATA = SHA-256(key || auth data) || 32 zero bytes; dcap-qvl compares only the
        // hash half.
        let qe_report_data = quote
            .qe_report()
            .get(QE_REPORT_DATA_OFFSET..)
            .unwrap_or_default();
        if qe_report_data
            .get(32..)
            .is_none_or(|upper| upper.iter().any(|&b| b != 0))
        {
            return Err(TdxError::QeReportData {
                upstream: "QE report REPORT_DATA bytes 32..64 are not zero (checked by Warden)"
                    .to_owned(),
            });
        }
        // D6: the TCB info must be for the PCK certificate's PCE as well as its FMSPC.
        let tcb_pce_id = collateral.tcb_info().pce_id();
        if hex::decode(tcb_pce_id).ok().as_deref() != Some(pck.pce_id.as_slice()) {
            return Err(TdxError::PceIdMismatch {
                tcb_info: tcb_pce_id.to_owned(),
                pck: hex::encode(pck.pce_id),
            });
        }

        // The claims come from the same leaf as `pck`; a disagreement would be a bug.
        if claims.platform.pck.fmspc != pck.fmspc || claims.platform.pck.pce_id != pck.pce_id {
            return Err(TdxError::Dcap(
                "dcap-qvl read another FMSPC or PCE-ID from the PCK certificate".to_owned(),
            ));
        }
        Ok(VerifiedQuote {
            quote: quote.clone(),
            claims: TdxClaims::new(quote, &pck, &claims),
        })
    }
}

/// Offset of REPORT_DATA in the QE's SGX report body (SGX REPORT_BODY: 320 bytes of fields,
/// then 64 bytes of REPORT_DATA).
const QE_REPORT_DATA_OFFSET: usize = 320;

/// What the error mapping reports of the collateral.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dates {
    fmspc: [u8; 6],
    tcb_info_issue: UnixTime,
    qe_identity_issue: UnixTime,
}

impl Dates {
    fn of(collateral: &Collateral) -> Self {
        Self {
            fmspc: collateral.fmspc(),
            tcb_info_issue: collateral.tcb_info().issue_date(),
            qe_identity_issue: collateral.qe_identity().issue_date(),
        }
    }
}

/// Maps a dcap-qvl 0.7.1 error chain (`{:#}`) to a specific error. The substrings are those of
/// the pinned version (src/verify.rs, src/tcb_info.rs, src/utils.rs and the webpki error names);
/// the order matters where one message contains another's text. Unknown text is
/// [`TdxError::Dcap`].
pub(crate) fn map_dcap_error(text: &str, dates: &Dates) -> TdxError {
    let has = |s: &str| text.contains(s);
    let upstream = text.to_owned();
    // webpki reports chain errors under this context; the root CA CRL is checked against the
    // root before any chain, without it.
    let in_chain = has("Failed to verify certificate chain");
    let fmspc = hex::encode(dates.fmspc);

    if has("ISV enclave report signature is invalid") {
        TdxError::QuoteSignature { upstream }
    } else if has("Signature is invalid for qe_report") {
        TdxError::QeReportSignature { upstream }
    } else if has("QE report hash mismatch") || has("Invalid QE auth data length") {
        TdxError::QeReportData { upstream }
    } else if has("QE report validation failed")
        || has("QE MRSIGNER mismatch")
        || has("QE ISVPRODID mismatch")
        || has("QE MISCSELECT mismatch")
        || has("QE ATTRIBUTES mismatch")
        || has("Unsupported QE Identity id/version")
    {
        TdxError::QeIdentityMismatch { upstream }
    } else if (has("QE ISVSVN") && has("below minimum")) || has("No TCB levels found in QE") {
        TdxError::QeTcb { upstream }
    } else if has("Signature is invalid for tcb_info") {
        TdxError::TcbInfoSignature { upstream }
    } else if has("Signature is invalid for qe_identity") {
        TdxError::QeIdentitySignature { upstream }
    } else if has("TCBInfo expired") {
        TdxError::CollateralExpired {
            what: "tcb-info",
            upstream,
        }
    } else if has("QE Identity expired") {
        TdxError::CollateralExpired {
            what: "qe-identity",
            upstream,
        }
    } else if has("TCBInfo issue date is in the future") {
        TdxError::CollateralNotYetValid {
            fmspc,
            item: "tcb-info",
            issue_date: dates.tcb_info_issue,
        }
    } else if has("QE Identity issue date is in the future") {
        TdxError::CollateralNotYetValid {
            fmspc,
            item: "qe-identity",
            issue_date: dates.qe_identity_issue,
        }
    } else if has("CrlExpired") {
        TdxError::CollateralExpired {
            what: if in_chain { "pck-crl" } else { "root-ca-crl" },
            upstream,
        }
    } else if has("CertRevoked") {
        TdxError::Revoked { upstream }
    } else if has("Failed to parse root CA CRL") {
        TdxError::Crl {
            what: "root-ca-crl",
            upstream,
        }
    } else if has("Failed to parse PCK CRL") {
        TdxError::Crl {
            what: "pck-crl",
            upstream,
        }
    } else if has("InvalidCrlSignatureForPublicKey")
        || has("IssuerNotCrlSigner")
        || has("UnknownRevocationStatus")
        || has("UnsupportedCrlVersion")
        || has("UnsupportedDeltaCrl")
        || has("UnsupportedIndirectCrl")
        || has("UnsupportedRevocationReason")
        || has("UnsupportedCrlIssuingDistributionPoint")
    {
        TdxError::Crl {
            what: if in_chain { "pck-crl" } else { "root-ca-crl" },
            upstream,
        }
    } else if has("Fmspc mismatch") {
        TdxError::FmspcMismatch { upstream }
    } else if has("with non-TDX TCB info") {
        TdxError::TcbInfoType { upstream }
    } else if has("component count mismatch") {
        TdxError::TcbComponents { upstream }
    } else if has("Unrecognized TCB status") {
        TdxError::UnrecognizedTcbStatus { upstream }
    } else if has("No matching TCB level found")
        || (has("TDX module ISVSVN") && has("below minimum"))
    {
        TdxError::NoMatchingTcbLevel { upstream }
    } else if has("TCB status is invalid: Revoked") {
        TdxError::TcbRevoked { upstream }
    } else if has("TDX module MRSIGNER mismatch")
        || has("SEAMATTRIBUTES")
        || has("No TDX module identity with id")
        || has("missing tdxModule field")
        || has("TDX module identity check")
    {
        TdxError::ModuleMismatch { upstream }
    } else if has("SEPT_VE_DISABLE is not enabled") {
        TdxError::SeptVeDisabled { upstream }
    } else if has("TD migration is enabled") {
        TdxError::Migratable { upstream }
    } else if has("Reserved bits in TD attributes are set") {
        TdxError::ReservedAttributes { upstream }
    } else if has("Invalid MR service TD") || has("SERVTD_EXT is enabled") {
        TdxError::ServiceTd { upstream }
    } else if has("Debug mode is enabled") || has("TD profiling is enabled") {
        TdxError::DebugTd { upstream }
    } else if in_chain
        || has("Certificate chain is too short")
        || has("Failed to parse PCK certificate")
        || has("Failed to extract PCK certificates")
        || has("Too many intermediate certificates")
        || has("must be issued directly by the root CA")
        || has("leaf certificate")
    {
        TdxError::PckChain { reason: upstream }
    } else {
        TdxError::Dcap(upstream)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    const DATES: Dates = Dates {
        fmspc: [0x90, 0xc0, 0x6f, 0, 0, 0],
        tcb_info_issue: UnixTime(100),
        qe_identity_issue: UnixTime(200),
    };

    fn map(text: &str) -> TdxError {
        map_dcap_error(text, &DATES)
    }

    /// The exact texts dcap-qvl 0.7.1 produces (with `{:#}` context chains) for the failures no
    /// real vector reaches; each must land on its specific variant, not on `Dcap`. Full-path
    /// tests for these need a generated DCAP hierarchy.
    type Case = (&'static str, fn(&TdxError) -> bool);

    #[test]
    fn upstream_texts_map_to_specific_variants() {
        let cases: &[Case] = &[
            ("Debug mode is enabled", |e| {
                matches!(e, TdxError::DebugTd { .. })
            }),
            ("TD profiling is enabled", |e| {
                matches!(e, TdxError::DebugTd { .. })
            }),
            ("SEPT_VE_DISABLE is not enabled", |e| {
                matches!(e, TdxError::SeptVeDisabled { .. })
            }),
            ("TD migration is enabled", |e| {
                matches!(e, TdxError::Migratable { .. })
            }),
            ("Reserved bits in TD attributes are set", |e| {
                matches!(e, TdxError::ReservedAttributes { .. })
            }),
            ("Invalid MR service TD", |e| {
                matches!(e, TdxError::ServiceTd { .. })
            }),
            ("SERVTD_EXT is enabled", |e| {
                matches!(e, TdxError::ServiceTd { .. })
            }),
            ("QE MRSIGNER mismatch: expected DC9E, got 0000", |e| {
                matches!(e, TdxError::QeIdentityMismatch { .. })
            }),
            ("QE report validation failed: Debug mode is enabled", |e| {
                matches!(e, TdxError::QeIdentityMismatch { .. })
            }),
            ("QE ISVPRODID mismatch: expected 2, got 1", |e| {
                matches!(e, TdxError::QeIdentityMismatch { .. })
            }),
            (
                "Unsupported QE Identity id/version for the quote TEE type: QE version 2 \
                 (expected TD_QE version [2, 3])",
                |e| matches!(e, TdxError::QeIdentityMismatch { .. }),
            ),
            (
                "QE ISVSVN 3 is below minimum required 4 from QE Identity",
                |e| matches!(e, TdxError::QeTcb { .. }),
            ),
            ("TDX quote with non-TDX TCB info in the collateral", |e| {
                matches!(e, TdxError::TcbInfoType { .. })
            }),
            ("TDX component count mismatch: expected 16, got 15", |e| {
                matches!(e, TdxError::TcbComponents { .. })
            }),
            ("TCB status is invalid: Revoked", |e| {
                matches!(e, TdxError::TcbRevoked { .. })
            }),
            (
                "TDX module identity check: TDX module MRSIGNER mismatch: expected 00, got 01",
                |e| matches!(e, TdxError::ModuleMismatch { .. }),
            ),
            (
                "TDX module identity check: TDX module SEAMATTRIBUTES mismatch at byte 0: \
                 expected 00 (masked), got 01 (masked)",
                |e| matches!(e, TdxError::ModuleMismatch { .. }),
            ),
            (
                "No TDX module identity with id TDX_03 found in TCB Info",
                |e| matches!(e, TdxError::ModuleMismatch { .. }),
            ),
            (
                "TDX module TCB level check: TDX module ISVSVN 2 is below minimum required \
                 from TDX module TCB levels",
                |e| matches!(e, TdxError::NoMatchingTcbLevel { .. }),
            ),
            ("Failed to verify certificate chain: CertRevoked", |e| {
                matches!(e, TdxError::Revoked { .. })
            }),
            ("CertRevoked", |e| matches!(e, TdxError::Revoked { .. })),
            (
                "Failed to verify certificate chain: CaUsedAsEndEntity",
                |e| matches!(e, TdxError::PckChain { .. }),
            ),
            (
                "Failed to verify certificate chain: UnknownRevocationStatus",
                |e| {
                    matches!(
                        e,
                        TdxError::Crl {
                            what: "pck-crl",
                            ..
                        }
                    )
                },
            ),
            ("QE Identity issue date is in the future", |e| {
                e == &TdxError::CollateralNotYetValid {
                    fmspc: "90c06f000000".to_owned(),
                    item: "qe-identity",
                    issue_date: UnixTime(200),
                }
            }),
            ("something new in a later dcap-qvl", |e| {
                matches!(e, TdxError::Dcap(_))
            }),
        ];
        for (text, ok) in cases {
            let err = map(text);
            assert!(ok(&err), "{text:?} mapped to {err:?}");
        }
    }

    #[test]
    fn upstream_text_is_kept() {
        assert_eq!(
            map("Debug mode is enabled"),
            TdxError::DebugTd {
                upstream: "Debug mode is enabled".to_owned()
            }
        );
        assert_eq!(
            map("Failed to verify certificate chain: UnknownIssuer"),
            TdxError::PckChain {
                reason: "Failed to verify certificate chain: UnknownIssuer".to_owned()
            }
        );
    }
}
