//! The reasons TDX evidence or DCAP collateral is rejected, one variant per failure class.
//!
//! Parse errors are Warden's own. Verification errors come from `dcap-qvl` 0.7.1 as `anyhow`
//! text; [`crate::tdx::TdxVerifier`] maps each message it knows to a specific variant and keeps
//! the upstream text in `upstream`, so an operator sees exactly what dcap-qvl said. Text it does
//! not recognise becomes [`TdxError::Dcap`]: still a rejection (fail closed).

use crate::UnixTime;

/// Why TDX evidence or DCAP collateral was rejected.
///
/// Tests assert the exact variant: each row of THREATS.md sections 3, 4 and 9 that applies to
/// TDX maps to one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TdxError {
    // ---- quote structure (R2, R3, T11, D10): checked by Warden before dcap-qvl runs ----
    /// R2: a field, or a length prefix, runs past the end of its enclosing structure.
    #[error("{what} is truncated: needs {need} bytes, {got} left")]
    Truncated {
        /// The structure or field being read.
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes that were left.
        got: usize,
    },
    /// R2: bytes left over after a structure whose length is fixed or declared.
    #[error("{count} trailing bytes after {what}")]
    TrailingBytes {
        /// The structure that should have ended.
        what: &'static str,
        /// How many bytes follow it.
        count: usize,
    },
    /// T11: the quote version is not 4 or 5.
    #[error("unsupported quote version {0} (TDX quotes are version 4 or 5)")]
    UnsupportedVersion(u16),
    /// T11: the TEE type is not TDX (0x81); 0 is an SGX quote.
    #[error("TEE type {0:#x} is not TDX (0x81)")]
    NotTdx(u32),
    /// T11: the attestation key type is not 2 (ECDSA-256 with P-256).
    #[error("attestation key type {0} is not 2 (ECDSA P-256)")]
    AttestationKeyType(u16),
    /// T11: the QE vendor ID is not Intel's 939A7233F79C4CA9940A0DB3957F0607.
    #[error("QE vendor ID {0} is not Intel's")]
    QeVendor(String),
    /// A v5 TD quote body type other than 2 (TD 1.0) or 3 (TD 1.5).
    #[error("unsupported quote body type {0} (2 = TD 1.0, 3 = TD 1.5)")]
    UnsupportedBodyType(u16),
    /// A v5 body descriptor whose size does not match its type.
    #[error("quote body type {body_type} declares {size} bytes, expected {expected}")]
    BodySize {
        /// The body type.
        body_type: u16,
        /// The size declared.
        size: u32,
        /// The size of that body type.
        expected: u32,
    },
    /// R2: the outer certification data type is not 6 (QE report certification data).
    #[error("certification data type {0} is not 6 (QE report certification data)")]
    QeCertDataType(u16),
    /// D10: the PCK certification data type is not 5 (PCK certificate chain); 3 is an encrypted
    /// PPID, which would need the PCK fetched from elsewhere.
    #[error("PCK certification data type {0} is not 5 (PCK certificate chain)")]
    CertDataType(u16),
    /// R2: a field the specification reserves is not zero.
    #[error("reserved field {field} is not zero")]
    Reserved {
        /// The field, as named in the specification.
        field: &'static str,
    },
    /// R7/D8: the PCK chain in the quote is not exactly three PEM certificates.
    #[error("PCK certificate chain: {reason}")]
    PckChainEncoding {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The PCK leaf lacks what Warden reads from it (SGX extension, FMSPC, PCE-ID, issuer).
    #[error("PCK certificate: {0}")]
    Pck(String),
    /// The verification time is before 1970.
    #[error("verification time {0} is before the Unix epoch")]
    TimeBeforeEpoch(i64),

    // ---- collateral files and selection (R7, R8, D5, D7) ----
    /// A file that is none of the collateral forms Warden reads.
    #[error(
        "not DCAP collateral ({found}): expected a PCS TCB info response {{\"tcbInfo\":..,\"signature\":..}}, \
         a PCS QE identity response {{\"enclaveIdentity\":..,\"signature\":..}}, a CRL (DER or PEM), \
         a PEM issuer chain (TCB Signing or PCK CA certificate, then the root), \
         or dcap-qvl QuoteCollateralV3 JSON"
    )]
    UnrecognizedCollateral {
        /// What the file looked like.
        found: &'static str,
    },
    /// A collateral file of a recognised kind that is malformed.
    #[error("{what}: {reason}")]
    CollateralFormat {
        /// The kind of item ([`crate::tdx::CollateralItem::kind`]).
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// No collateral of this kind for the quote's platform.
    #[error("no {item} collateral for FMSPC {fmspc}")]
    MissingCollateral {
        /// FMSPC of the quote's PCK certificate, lowercase hex.
        fmspc: String,
        /// The kind of item missing.
        item: &'static str,
    },
    /// P13/D7: collateral past its nextUpdate at the verification time.
    #[error("{item} collateral for FMSPC {fmspc} is stale: nextUpdate was {next_update}")]
    StaleCollateral {
        /// FMSPC of the quote's PCK certificate, lowercase hex.
        fmspc: String,
        /// The kind of item.
        item: &'static str,
        /// Its nextUpdate.
        next_update: UnixTime,
    },
    /// P13/D5: collateral issued after the verification time.
    #[error("{item} collateral for FMSPC {fmspc} is not valid before {issue_date}")]
    CollateralNotYetValid {
        /// FMSPC of the quote's PCK certificate (or of the TCB info), lowercase hex.
        fmspc: String,
        /// The kind of item.
        item: &'static str,
        /// Its issueDate (thisUpdate for CRLs).
        issue_date: UnixTime,
    },
    /// A1/D8: a certificate chain does not end in the pinned Intel SGX Root CA.
    #[error("{chain} does not end in the pinned root CA")]
    UntrustedRoot {
        /// The chain: `pck-chain`, `tcb-signing-chain` or `pck-crl-issuer-chain`.
        chain: &'static str,
    },

    // ---- verification, mapped from dcap-qvl 0.7.1 messages ----
    /// T12: the quote signature by the attestation key does not verify (the header or the TD
    /// report body was modified).
    #[error("quote signature is invalid ({upstream})")]
    QuoteSignature {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T13: the QE report signature by the PCK key does not verify.
    #[error("QE report signature is invalid ({upstream})")]
    QeReportSignature {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T13: QE_REPORT.REPORT_DATA is not SHA-256(attestation key || QE authentication data), so
    /// the attestation key is not the one the QE certified.
    #[error("QE report data does not certify the attestation key ({upstream})")]
    QeReportData {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D1: the QE report does not match the signed QE identity (MRSIGNER, ISVPRODID,
    /// MISCSELECT, ATTRIBUTES, debug QE, or an identity that is not TD_QE).
    #[error("QE does not match the QE identity ({upstream})")]
    QeIdentityMismatch {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D2: the QE ISVSVN is below every TCB level of the QE identity.
    #[error("QE TCB is below the QE identity's levels ({upstream})")]
    QeTcb {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D5: the TCB info signature by the TCB Signing certificate does not verify.
    #[error("TCB info signature is invalid ({upstream})")]
    TcbInfoSignature {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D1/D5: the QE identity signature by the TCB Signing certificate does not verify.
    #[error("QE identity signature is invalid ({upstream})")]
    QeIdentitySignature {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D5/D9/P13: a collateral item is past its nextUpdate at the verification time.
    #[error("{what} expired ({upstream})")]
    CollateralExpired {
        /// The item: `tcb-info`, `qe-identity`, `root-ca-crl` or `pck-crl`.
        what: &'static str,
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D6: the TCB info is for another FMSPC than the PCK certificate's.
    #[error("TCB info is for another platform ({upstream})")]
    FmspcMismatch {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D5: the TCB info is not a TDX TCB info (id "TDX", version 3 or later).
    #[error("TCB info is not a TDX TCB info ({upstream})")]
    TcbInfoType {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T10/D3: the platform (CPU SVNs, PCE SVN, TEE_TCB_SVN, TDX module ISVSVN) meets no TCB
    /// level of the TCB info.
    #[error("no TCB level of the TCB info matches the platform ({upstream})")]
    NoMatchingTcbLevel {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D3: the matched TCB level is Revoked.
    #[error("platform TCB is revoked ({upstream})")]
    TcbRevoked {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D4: a TCB level's component count differs from the quote's.
    #[error("TCB info component count mismatch ({upstream})")]
    TcbComponents {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T9: MR_SIGNER_SEAM or SEAM_ATTRIBUTES do not match the TDX module identity of the TCB
    /// info, or the TCB info has no identity for the module version.
    #[error("TDX module does not match the TCB info ({upstream})")]
    ModuleMismatch {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D8: a certificate chain (the PCK chain, or a collateral issuer chain: dcap-qvl reports
    /// them alike) does not validate to the pinned root at the verification time.
    #[error("certificate chain does not validate: {reason}")]
    PckChain {
        /// dcap-qvl's message.
        reason: String,
    },
    /// D9: a certificate of a chain is listed in a CRL.
    #[error("certificate is revoked ({upstream})")]
    Revoked {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D9: a CRL that does not parse, is not signed by its issuer, or is not the CRL of the PCK
    /// certificate's issuer.
    #[error("{what} is not usable ({upstream})")]
    Crl {
        /// `root-ca-crl` or `pck-crl`.
        what: &'static str,
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T1: the TD runs in debug mode (TUD.DEBUG) or with TD profiling (TUD bits 6:4).
    #[error("TD is debuggable ({upstream})")]
    DebugTd {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T3: TD_ATTRIBUTES.SEPT_VE_DISABLE (bit 28) is clear.
    #[error("TD does not disable EPT-violation #VE ({upstream})")]
    SeptVeDisabled {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T4: TD_ATTRIBUTES.MIGRATABLE (bit 29) is set.
    #[error("TD is migratable ({upstream})")]
    Migratable {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T2: reserved TD_ATTRIBUTES bits are set.
    #[error("reserved TD attributes are set ({upstream})")]
    ReservedAttributes {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// T4: the TD is bound to a service TD (non-zero MR_SERVICETD, or SERVTD_EXT).
    #[error("TD is bound to a service TD ({upstream})")]
    ServiceTd {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D3: a TCB level of the collateral carries a status that Intel's QVL does not accept in
    /// that structure (for example TDRelaunchAdvised in a platform level, or SWHardeningNeeded
    /// for the QE or the TDX module): the collateral is not trusted.
    #[error("collateral has a TCB status not valid where it stands ({upstream})")]
    UnrecognizedTcbStatus {
        /// dcap-qvl's message.
        upstream: String,
    },
    /// D6: the TCB info is for another PCE than the PCK certificate's (Intel QVL's
    /// `STATUS_TCB_INFO_MISMATCH`; dcap-qvl compares only the FMSPC).
    #[error("TCB info pceId {tcb_info} is not the PCK certificate's PCE-ID {pck}")]
    PceIdMismatch {
        /// The TCB info's `pceId`.
        tcb_info: String,
        /// The PCK certificate's PCE-ID, hex.
        pck: String,
    },
    /// Any other dcap-qvl failure, with its full message. Still a rejection.
    #[error("DCAP verification failed: {0}")]
    Dcap(String),
}
