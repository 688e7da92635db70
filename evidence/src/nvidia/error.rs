//! The reasons NVIDIA GPU evidence is rejected, one variant per failure.

use crate::UnixTime;

/// Which part of the report a truncation was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReportPart {
    /// The 37-byte GET_MEASUREMENTS request.
    Request,
    /// The 8-byte MEASUREMENTS response header.
    ResponseHeader,
    /// The measurement record (its length is MeasurementRecordLength).
    MeasurementRecord,
    /// The responder nonce.
    ResponseNonce,
    /// The OpaqueLength field or the opaque data.
    OpaqueData,
    /// The 96-byte signature.
    Signature,
}

impl std::fmt::Display for ReportPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Request => "GET_MEASUREMENTS request",
            Self::ResponseHeader => "MEASUREMENTS response header",
            Self::MeasurementRecord => "measurement record",
            Self::ResponseNonce => "response nonce",
            Self::OpaqueData => "opaque data",
            Self::Signature => "signature",
        })
    }
}

/// Why NVIDIA GPU evidence was rejected.
///
/// Tests assert the exact variant; the G and R rows of the threat catalogue (THREATS.md sections
/// 5 and 9) each map to one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// R3: the report ends inside `part`.
    #[error("attestation report truncated in the {0}")]
    Truncated(ReportPart),
    /// R1: bytes follow the 96-byte signature.
    #[error("{0} bytes after the report signature")]
    TrailingBytes(usize),
    /// R4: SPDMVersion of the request or the response is not 0x11 (SPDM 1.1).
    #[error("unsupported SPDM version {0:#04x} (only 0x11, SPDM 1.1)")]
    Version(u8),
    /// The request is not GET_MEASUREMENTS (0xE0).
    #[error("request code {0:#04x} is not GET_MEASUREMENTS (0xe0)")]
    RequestCode(u8),
    /// The response is not MEASUREMENTS (0x60).
    #[error("response code {0:#04x} is not MEASUREMENTS (0x60)")]
    ResponseCode(u8),
    /// A request or response parameter is not the one NVML uses: signature requested, all
    /// measurements, slot 0.
    #[error("{field} is {got:#04x}, expected {expected:#04x}")]
    Param {
        /// The field, as named in DSP0274 1.1.
        field: &'static str,
        /// The value found.
        got: u8,
        /// The only value accepted.
        expected: u8,
    },
    /// R4: a measurement block overruns the measurement record, or blocks do not fill it
    /// exactly, or the number of blocks is not NumberOfBlocks.
    #[error("measurement record is malformed: {0}")]
    MeasurementRecord(&'static str),
    /// A measurement block is not a DMTF 48-byte SHA-384 digest.
    #[error("measurement block {index} is malformed: {reason}")]
    MeasurementBlock {
        /// The block's index.
        index: u8,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Block indices are not strictly increasing (a duplicate or out-of-order index).
    #[error("measurement block index {0} is duplicated or out of order")]
    MeasurementIndexOrder(u8),
    /// R4: an opaque-data TLV overruns the opaque data.
    #[error("opaque data TLV of type {0} overruns the opaque data")]
    OpaqueOverflow(u16),
    /// R4: an opaque-data type NVIDIA does not define (or 255, INVALID).
    #[error("unknown opaque data type {0}")]
    UnknownOpaqueType(u16),
    /// R4: an opaque-data type appears twice.
    #[error("opaque data type {0} appears more than once")]
    DuplicateOpaqueType(u16),
    /// R4: an opaque value's size is not the fixed size of its type, or not a multiple of its
    /// element size.
    #[error("opaque data type {kind} has {size} bytes: {reason}")]
    OpaqueSize {
        /// The opaque data type.
        kind: u16,
        /// The size found.
        size: usize,
        /// The rule broken.
        reason: &'static str,
    },
    /// An opaque value does not decode (a version string that is not NUL-terminated ASCII, an
    /// unknown feature flag).
    #[error("opaque data type {kind} is malformed: {reason}")]
    OpaqueValue {
        /// The opaque data type.
        kind: u16,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// G2: the report signature does not verify with the leaf certificate's key.
    #[error("report signature does not verify with the attestation leaf key")]
    Signature,
    /// G1: the request nonce is not the nonce the verifier issued.
    #[error("report nonce is not the expected nonce")]
    NonceMismatch,
    /// G3: the chain does not have exactly 5 certificates.
    #[error("certificate chain has {0} certificates, expected 5")]
    ChainLength(usize),
    /// The chain is neither PEM CERTIFICATE blocks nor concatenated DER certificates.
    #[error("certificate chain encoding: {0}")]
    ChainEncoding(&'static str),
    /// A certificate is not a strict DER X.509 certificate.
    #[error("certificate {index} is not a DER X.509 certificate: {reason}")]
    CertEncoding {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// G3: the last certificate is not the pinned NVIDIA Device Identity CA.
    #[error("the chain does not end in the pinned NVIDIA Device Identity CA")]
    UntrustedRoot,
    /// A certificate does not meet the profile (algorithm, key, CA flags, key usage, names,
    /// unknown critical extension).
    #[error("certificate {index}: {reason}")]
    BadCert {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("signature of certificate {index} does not verify with its issuer's key")]
    ChainSignature {
        /// Position in the chain, 0 = leaf.
        index: usize,
    },
    /// A certificate has expired at the verification time.
    #[error("certificate {index} expired at {not_after} (now {now})")]
    CertExpired {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// Its notAfter.
        not_after: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A certificate is not yet valid at the verification time.
    #[error("certificate {index} is not valid before {not_before} (now {now})")]
    CertNotYetValid {
        /// Position in the chain, 0 = leaf.
        index: usize,
        /// Its notBefore.
        not_before: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// G13: the chain's leaf is issued by neither a GH100 nor a GB100 GSP BROM.
    #[error("GPU architecture of the certificate chain is not supported: {0:?}")]
    UnsupportedArch(String),
    /// The leaf lacks the FWID extension of its architecture, or it does not decode.
    #[error("leaf FWID extension: {0}")]
    FwidExtension(&'static str),
    /// G4: the report's FWID (opaque type 20) differs from the leaf certificate's FWID.
    #[error("report FWID does not match the attestation leaf certificate's FWID")]
    FwidMismatch,
}
