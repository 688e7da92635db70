//! The DCAP TD quote, versions 4 and 5, parsed strictly.
//!
//! Layout: Intel TDX DCAP Quoting Library API, Appendix A.3 "Version 4 Quote Format" (A.3.1 TD
//! Quote Header, A.3.2 TD Quote Body, A.3.8 ECDSA 256-bit Quote Signature Data Structure, A.3.9
//! QE Certification Data, A.3.11 QE Report Certification Data) and Appendix A.4 "Version 5 Quote
//! Format" (A.4.2 TD Quote Body Descriptor, A.4.4 TD Quote Body for TDX 1.5); the same structures
//! as `sgx_quote_4.h` and `sgx_quote_5.h` of Intel's DCAP sources. Integers are little endian.
//!
//! ```text
//! header (48) | [v5: body type u16, body size u32] | body (584 TD 1.0, 648 TD 1.5)
//! | signature data length u32 | signature data:
//!     quote signature (64) | attestation key (64)
//!     | cert data type u16 = 6 | cert data size u32 | QE report certification data:
//!         QE report (384) | QE report signature (64)
//!         | QE auth data size u16 | QE auth data
//!         | cert data type u16 = 5 | cert data size u32 | PCK chain (PEM: leaf, CA, root)
//! ```
//!
//! Every length must match exactly: no bytes may be left over at any level, and no length may
//! point past the end of its enclosing structure (THREATS R2, R3).

use std::fmt;
use std::str::FromStr;

use zerocopy::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::tdx::{TdxError, pem};

/// Intel's QE vendor ID, 939A7233-F79C-4CA9-940A-0DB3957F0607 (A.3.1).
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07,
];
/// TEE type of a TDX quote (A.3.1).
pub const TEE_TYPE_TDX: u32 = 0x81;
/// Attestation key type 2: ECDSA-256 with P-256 (A.3.1).
pub const ATTESTATION_KEY_ECDSA_P256: u16 = 2;
/// Certification data type 6: QE report certification data (A.3.9).
pub const CERT_DATA_QE_REPORT: u16 = 6;
/// Certification data type 5: PCK certificate chain, PEM (A.3.9).
pub const CERT_DATA_PCK_CHAIN: u16 = 5;
/// v5 body type of a TD 1.0 body (A.4.2).
pub const BODY_TD10: u16 = 2;
/// v5 body type of a TD 1.5 body (A.4.2).
pub const BODY_TD15: u16 = 3;

/// Size of the quote header.
pub const HEADER_SIZE: usize = 48;
/// Size of a TD 1.0 quote body.
pub const TD10_BODY_SIZE: usize = 584;
/// Size of a TD 1.5 quote body.
pub const TD15_BODY_SIZE: usize = 648;
/// Size of an SGX enclave report body (the QE report).
pub const QE_REPORT_SIZE: usize = 384;

/// TD Quote Header (A.3.1; the same for v5).
#[repr(C)]
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct RawHeader {
    version: U16,
    attestation_key_type: U16,
    tee_type: U32,
    /// Two RESERVED 2-byte fields in A.3.1 (one `uint32_t reserved` in `sgx_quote_4.h`): zero.
    reserved: [u8; 4],
    qe_vendor_id: [u8; 16],
    user_data: [u8; 20],
}

const _: () = assert!(size_of::<RawHeader>() == HEADER_SIZE);

/// TD Quote Body for TDX 1.0 (A.3.2; A.4.3 for v5), the TDREPORT fields the quote signs.
#[repr(C)]
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct RawTd10Body {
    tee_tcb_svn: [u8; 16],
    mr_seam: [u8; 48],
    mr_signer_seam: [u8; 48],
    seam_attributes: [u8; 8],
    td_attributes: [u8; 8],
    xfam: [u8; 8],
    mr_td: [u8; 48],
    mr_config_id: [u8; 48],
    mr_owner: [u8; 48],
    mr_owner_config: [u8; 48],
    rtmr: [[u8; 48]; 4],
    report_data: [u8; 64],
}

const _: () = assert!(size_of::<RawTd10Body>() == TD10_BODY_SIZE);

/// The fields a TD 1.5 body adds after the TD 1.0 fields (A.4.4).
#[repr(C)]
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
struct RawTd15Ext {
    tee_tcb_svn2: [u8; 16],
    mr_service_td: [u8; 48],
}

const _: () = assert!(size_of::<RawTd10Body>() + size_of::<RawTd15Ext>() == TD15_BODY_SIZE);

/// TD_ATTRIBUTES, the TD's attributes fixed at TD creation.
///
/// Bits as in the Intel TDX Module ABI specification 348551-008US, Table 3.23: TUD (7:0), SEC
/// (31:8), OTHER (63:32). THREATS T2 lists the TDX 1.0 reserved ranges (TUD 7:1, SEC 27:8, OTHER
/// 62:32); later ABIs defined bits inside them (profiling, ICSSD, SERVTD_EXT, LASS, TPA), so
/// [`TdAttributes::RESERVED`] follows the newer table, exactly as dcap-qvl 0.7.1 does when it
/// rejects reserved bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TdAttributes(pub u64);

impl TdAttributes {
    /// Bit 0, TUD.DEBUG: the host can read and write the TD's state and memory.
    pub const DEBUG: u64 = 1 << 0;
    /// Bits 6:4 of TUD: TD profiling (dcap-qvl rejects these like DEBUG).
    pub const PROFILING: u64 = 0b111 << 4;
    /// Bit 16, ICSSD: instruction-count based single-step defense.
    pub const ICSSD: u64 = 1 << 16;
    /// Bit 17, SERVTD_EXT: a hash of the bound service TDs is in the report.
    pub const SERVTD_EXT: u64 = 1 << 17;
    /// Bit 27, LASS: linear address space separation allowed.
    pub const LASS: u64 = 1 << 27;
    /// Bit 28, SEPT_VE_DISABLE: EPT violations on pending pages do not become #VE.
    pub const SEPT_VE_DISABLE: u64 = 1 << 28;
    /// Bit 29, MIGRATABLE: the TD may be migrated by a migration TD.
    pub const MIGRATABLE: u64 = 1 << 29;
    /// Bit 30, PKS: supervisor protection keys allowed.
    pub const PKS: u64 = 1 << 30;
    /// Bit 31, KL: key locker allowed.
    pub const KL: u64 = 1 << 31;
    /// Bit 62, TPA: the TD is a TDX Connect provisioning agent.
    pub const TPA: u64 = 1 << 62;
    /// Bit 63, PERFMON: perfmon and PERF_METRICS allowed.
    pub const PERFMON: u64 = 1 << 63;
    /// Reserved, must be zero: bits 3:1, 15:7, 26:23 and 61:32.
    pub const RESERVED: u64 = ones(1, 3) | ones(7, 15) | ones(23, 26) | ones(32, 61);

    /// From the 8 bytes of the quote body (little endian).
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        Self(u64::from_le_bytes(bytes))
    }

    /// The 8 bytes as they appear in the quote body.
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_le_bytes()
    }

    fn bit(self, mask: u64) -> bool {
        self.0 & mask != 0
    }

    /// TUD.DEBUG (bit 0).
    pub fn debug(self) -> bool {
        self.bit(Self::DEBUG)
    }

    /// Any TD profiling bit (6:4).
    pub fn profiling(self) -> bool {
        self.bit(Self::PROFILING)
    }

    /// ICSSD (bit 16).
    pub fn icssd(self) -> bool {
        self.bit(Self::ICSSD)
    }

    /// SERVTD_EXT (bit 17).
    pub fn servtd_ext(self) -> bool {
        self.bit(Self::SERVTD_EXT)
    }

    /// LASS (bit 27).
    pub fn lass(self) -> bool {
        self.bit(Self::LASS)
    }

    /// SEPT_VE_DISABLE (bit 28).
    pub fn sept_ve_disable(self) -> bool {
        self.bit(Self::SEPT_VE_DISABLE)
    }

    /// MIGRATABLE (bit 29).
    pub fn migratable(self) -> bool {
        self.bit(Self::MIGRATABLE)
    }

    /// PKS (bit 30).
    pub fn pks(self) -> bool {
        self.bit(Self::PKS)
    }

    /// KL (bit 31).
    pub fn kl(self) -> bool {
        self.bit(Self::KL)
    }

    /// TPA (bit 62).
    pub fn tpa(self) -> bool {
        self.bit(Self::TPA)
    }

    /// PERFMON (bit 63).
    pub fn perfmon(self) -> bool {
        self.bit(Self::PERFMON)
    }

    /// The reserved bits that are set (T2); zero for a well-formed value.
    pub fn reserved_bits(self) -> u64 {
        self.0 & Self::RESERVED
    }

    /// Whether any reserved bit is set (T2).
    pub fn has_reserved_bits(self) -> bool {
        self.reserved_bits() != 0
    }
}

/// Bits `lo..=hi` set.
const fn ones(lo: u32, hi: u32) -> u64 {
    (u64::MAX << lo) & (u64::MAX >> (63 - hi))
}

/// The TD report fields of a quote body: TD 1.0, or TD 1.5 with two more fields.
#[derive(Clone)]
pub struct TdReport {
    base: RawTd10Body,
    td15: Option<RawTd15Ext>,
}

impl fmt::Debug for TdReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TdReport")
            .field("td15", &self.is_td15())
            .field("mr_td", &hex::encode(self.mr_td()))
            .finish_non_exhaustive()
    }
}

impl TdReport {
    /// Whether this is a TD 1.5 body (v5 body type 3).
    pub fn is_td15(&self) -> bool {
        self.td15.is_some()
    }

    /// TEE_TCB_SVN: the TDX module and SEAM loader SVNs the TD was launched with.
    pub fn tee_tcb_svn(&self) -> [u8; 16] {
        self.base.tee_tcb_svn
    }

    /// MRSEAM: measurement of the TDX module.
    pub fn mr_seam(&self) -> &[u8; 48] {
        &self.base.mr_seam
    }

    /// MRSIGNERSEAM: zero for Intel's TDX module.
    pub fn mr_signer_seam(&self) -> &[u8; 48] {
        &self.base.mr_signer_seam
    }

    /// SEAMATTRIBUTES.
    pub fn seam_attributes(&self) -> [u8; 8] {
        self.base.seam_attributes
    }

    /// TD_ATTRIBUTES.
    pub fn td_attributes(&self) -> TdAttributes {
        TdAttributes::from_bytes(self.base.td_attributes)
    }

    /// XFAM, the extended features the TD may use (XCR0/IA32_XSS format), as in the quote.
    pub fn xfam(&self) -> [u8; 8] {
        self.base.xfam
    }

    /// MRTD: measurement of the TD's initial contents (firmware).
    pub fn mr_td(&self) -> &[u8; 48] {
        &self.base.mr_td
    }

    /// MRCONFIGID: software-defined configuration ID, set by the host at TD creation.
    pub fn mr_config_id(&self) -> &[u8; 48] {
        &self.base.mr_config_id
    }

    /// MROWNER: software-defined owner ID, set by the host at TD creation.
    pub fn mr_owner(&self) -> &[u8; 48] {
        &self.base.mr_owner
    }

    /// MROWNERCONFIG: software-defined owner configuration, set by the host at TD creation.
    pub fn mr_owner_config(&self) -> &[u8; 48] {
        &self.base.mr_owner_config
    }

    /// RTMR `index` (0 to 3); `None` for any other index.
    pub fn rtmr(&self, index: usize) -> Option<&[u8; 48]> {
        self.base.rtmr.get(index)
    }

    /// RTMR0 to RTMR3.
    pub fn rtmrs(&self) -> [[u8; 48]; 4] {
        self.base.rtmr
    }

    /// REPORTDATA, the 64 bytes the TD bound into its report.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.base.report_data
    }

    /// TEE_TCB_SVN_2 (TD 1.5 only): the TCB after TD-preserving module updates.
    pub fn tee_tcb_svn2(&self) -> Option<[u8; 16]> {
        self.td15.as_ref().map(|e| e.tee_tcb_svn2)
    }

    /// MRSERVICETD (TD 1.5 only): measurement of the bound service TDs, zero if none.
    pub fn mr_service_td(&self) -> Option<[u8; 48]> {
        self.td15.as_ref().map(|e| e.mr_service_td)
    }
}

/// Which CA issued a PCK certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PckCa {
    /// Intel SGX PCK Platform CA (multi-package platforms).
    Platform,
    /// Intel SGX PCK Processor CA.
    Processor,
}

impl PckCa {
    /// `"platform"` or `"processor"`, as in PCS URLs (`?ca=platform`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Platform => "platform",
            Self::Processor => "processor",
        }
    }

    /// The CA a certificate common name names: one ending in "PCK Platform CA" or "PCK
    /// Processor CA". Matched on the suffix so that generated test hierarchies with another
    /// prefix than "Intel SGX" work.
    pub fn from_common_name(cn: &str) -> Option<Self> {
        if cn.ends_with("PCK Platform CA") {
            Some(Self::Platform)
        } else if cn.ends_with("PCK Processor CA") {
            Some(Self::Processor)
        } else {
            None
        }
    }
}

impl fmt::Display for PckCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is neither `platform` nor `processor`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown PCK CA {0:?} (expected \"platform\" or \"processor\")")]
pub struct ParsePckCaError(pub String);

impl FromStr for PckCa {
    type Err = ParsePckCaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "platform" => Ok(Self::Platform),
            "processor" => Ok(Self::Processor),
            _ => Err(ParsePckCaError(s.to_owned())),
        }
    }
}

/// What collateral selection needs from the PCK leaf certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PckInfo {
    /// FMSPC (SGX extension 1.2.840.113741.1.13.1.4): family-model-stepping-platform-custom SKU.
    pub fmspc: [u8; 6],
    /// PCE-ID (SGX extension 1.2.840.113741.1.13.1.3).
    pub pce_id: [u8; 2],
    /// The CA that issued the PCK certificate, from its issuer CN.
    pub ca: PckCa,
}

/// A structurally valid TD quote (v4 or v5), holding its exact bytes.
///
/// Parsing checks the layout only. Signatures, the PCK chain and collateral are checked by
/// [`crate::tdx::TdxVerifier`].
#[derive(Clone)]
pub struct Quote {
    bytes: Vec<u8>,
    header: RawHeader,
    body_type: Option<u16>,
    body: TdReport,
    signed_len: usize,
    signature: [u8; 64],
    attestation_key: [u8; 64],
    qe_report: Box<[u8; QE_REPORT_SIZE]>,
    qe_report_signature: [u8; 64],
    qe_auth_data: Vec<u8>,
    pck_chain_pem: Vec<u8>,
    pck_chain_der: Vec<Vec<u8>>,
    /// [`Quote::pck`], read from the leaf once (selection and verification both need it).
    pck: std::sync::OnceLock<Result<PckInfo, TdxError>>,
}

impl fmt::Debug for Quote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Quote")
            .field("version", &self.version())
            .field("body", &self.body)
            .field("len", &self.bytes.len())
            .finish_non_exhaustive()
    }
}

/// A bounds-checked reader over untrusted bytes (`split_at_checked`, never indexing).
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }

    fn take(&mut self, need: usize, what: &'static str) -> Result<&'a [u8], TdxError> {
        let (head, tail) = self
            .rest
            .split_at_checked(need)
            .ok_or(TdxError::Truncated {
                what,
                need,
                got: self.rest.len(),
            })?;
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], TdxError> {
        let got = self.rest.len();
        <[u8; N]>::try_from(self.take(N, what)?).map_err(|_| TdxError::Truncated {
            what,
            need: N,
            got,
        })
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, TdxError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, TdxError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn read<T: FromBytes>(&mut self, what: &'static str) -> Result<T, TdxError> {
        let got = self.rest.len();
        let need = size_of::<T>();
        T::read_from_bytes(self.take(need, what)?).map_err(|_| TdxError::Truncated {
            what,
            need,
            got,
        })
    }

    /// A sub-reader over the next `len` bytes (a length-prefixed field).
    fn sub(&mut self, len: u64, what: &'static str) -> Result<Reader<'a>, TdxError> {
        let got = self.rest.len();
        let need = usize::try_from(len).map_err(|_| TdxError::Truncated {
            what,
            need: usize::MAX,
            got,
        })?;
        Ok(Reader::new(self.take(need, what)?))
    }

    fn remaining(&self) -> usize {
        self.rest.len()
    }

    /// The structure `what` must end here.
    fn finish(self, what: &'static str) -> Result<(), TdxError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(TdxError::TrailingBytes {
                what,
                count: self.rest.len(),
            })
        }
    }
}

impl Quote {
    /// Parses a TD quote strictly: version 4 (TD 1.0 body) or 5 (body type 2 = TD 1.0, 3 = TD
    /// 1.5); TEE type 0x81; attestation key type 2; Intel's QE vendor ID; reserved header bytes
    /// zero; certification data type 6 holding the QE report, its signature, the QE
    /// authentication data and PCK certification data of type 5 (a PEM chain of exactly three
    /// certificates); every length exact, nothing after the signature data.
    pub fn parse(bytes: &[u8]) -> Result<Quote, TdxError> {
        Self::parse_impl(bytes, false)
    }

    /// [`Quote::parse`], but tolerating zero bytes after the quote: some quote-generation
    /// stacks return the quote in a zero-filled buffer larger than the quote (dcap-qvl's
    /// `sample/tdx_quote` carries 70 such bytes). The padding is dropped: [`Quote::as_bytes`]
    /// is the exact quote. Any non-zero byte after the quote is still
    /// [`TdxError::TrailingBytes`]. Zero padding lies outside everything the quote signs or
    /// certifies, so tolerating it admits no other quote.
    pub fn parse_allow_zero_padding(bytes: &[u8]) -> Result<Quote, TdxError> {
        Self::parse_impl(bytes, true)
    }

    fn parse_impl(bytes: &[u8], allow_zero_padding: bool) -> Result<Quote, TdxError> {
        let mut r = Reader::new(bytes);
        let header: RawHeader = r.read("quote header")?;
        let version = header.version.get();
        if !matches!(version, 4 | 5) {
            return Err(TdxError::UnsupportedVersion(version));
        }
        let key_type = header.attestation_key_type.get();
        if key_type != ATTESTATION_KEY_ECDSA_P256 {
            return Err(TdxError::AttestationKeyType(key_type));
        }
        let tee_type = header.tee_type.get();
        if tee_type != TEE_TYPE_TDX {
            return Err(TdxError::NotTdx(tee_type));
        }
        if header.reserved != [0; 4] {
            return Err(TdxError::Reserved {
                field: "quote header RESERVED (bytes 8-11)",
            });
        }
        if header.qe_vendor_id != INTEL_QE_VENDOR_ID {
            return Err(TdxError::QeVendor(hex::encode(header.qe_vendor_id)));
        }

        let body_type = if version == 5 {
            let body_type = r.u16("quote body descriptor")?;
            let size = r.u32("quote body descriptor")?;
            let expected = match body_type {
                BODY_TD10 => TD10_BODY_SIZE,
                BODY_TD15 => TD15_BODY_SIZE,
                other => return Err(TdxError::UnsupportedBodyType(other)),
            };
            // The sizes are small constants: the conversion cannot fail.
            let expected = u32::try_from(expected).unwrap_or(u32::MAX);
            if size != expected {
                return Err(TdxError::BodySize {
                    body_type,
                    size,
                    expected,
                });
            }
            Some(body_type)
        } else {
            None
        };
        let base: RawTd10Body = r.read("TD quote body")?;
        let td15 = match body_type {
            Some(BODY_TD15) => Some(r.read::<RawTd15Ext>("TD 1.5 quote body")?),
            _ => None,
        };
        let signed_len = bytes.len().saturating_sub(r.remaining());

        let sig_len = r.u32("signature data length")?;
        let mut sig = r.sub(u64::from(sig_len), "quote signature data")?;
        let quote_len = bytes.len().saturating_sub(r.remaining());
        let padding_ok = allow_zero_padding && r.rest.iter().all(|&b| b == 0);
        if !padding_ok {
            r.finish("quote signature data")?;
        }

        let signature = sig.array::<64>("quote signature")?;
        let attestation_key = sig.array::<64>("attestation key")?;
        let cert_type = sig.u16("certification data type")?;
        if cert_type != CERT_DATA_QE_REPORT {
            return Err(TdxError::QeCertDataType(cert_type));
        }
        let cert_len = sig.u32("certification data size")?;
        let mut cert = sig.sub(u64::from(cert_len), "QE certification data")?;
        sig.finish("QE certification data")?;

        let qe_report = cert.array::<QE_REPORT_SIZE>("QE report")?;
        let qe_report_signature = cert.array::<64>("QE report signature")?;
        let auth_len = cert.u16("QE authentication data size")?;
        let qe_auth_data = cert
            .sub(u64::from(auth_len), "QE authentication data")?
            .rest;
        let pck_type = cert.u16("PCK certification data type")?;
        if pck_type != CERT_DATA_PCK_CHAIN {
            return Err(TdxError::CertDataType(pck_type));
        }
        let pck_len = cert.u32("PCK certification data size")?;
        let pck_chain = cert.sub(u64::from(pck_len), "PCK certificate chain")?.rest;
        cert.finish("PCK certificate chain")?;

        // Intel's QE writes the chain as a C string: one terminating NUL is part of the data.
        let pck_chain_pem = pck_chain.strip_suffix(&[0]).unwrap_or(pck_chain);
        let pck_chain_der = pem::decode_certificates(pck_chain_pem)
            .map_err(|reason| TdxError::PckChainEncoding { reason })?;
        match pck_chain_der.len() {
            3 => {}
            n if n < 3 => {
                return Err(TdxError::PckChainEncoding {
                    reason: "fewer than 3 certificates (PCK, PCK CA, root)",
                });
            }
            _ => {
                return Err(TdxError::PckChainEncoding {
                    reason: "more than 3 certificates (PCK, PCK CA, root)",
                });
            }
        }

        let exact = bytes.get(..quote_len).ok_or(TdxError::Truncated {
            what: "quote",
            need: quote_len,
            got: bytes.len(),
        })?;
        Ok(Quote {
            bytes: exact.to_vec(),
            header,
            body_type,
            body: TdReport { base, td15 },
            signed_len,
            signature,
            attestation_key,
            qe_report: Box::new(qe_report),
            qe_report_signature,
            qe_auth_data: qe_auth_data.to_vec(),
            pck_chain_pem: pck_chain_pem.to_vec(),
            pck_chain_der,
            pck: std::sync::OnceLock::new(),
        })
    }

    /// The exact quote bytes (without any padding [`Quote::parse_allow_zero_padding`] dropped).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The quote version, 4 or 5.
    pub fn version(&self) -> u16 {
        self.header.version.get()
    }

    /// The v5 body type (2 = TD 1.0, 3 = TD 1.5); `None` for v4.
    pub fn body_type(&self) -> Option<u16> {
        self.body_type
    }

    /// The TD report fields.
    pub fn body(&self) -> &TdReport {
        &self.body
    }

    /// REPORTDATA.
    pub fn report_data(&self) -> &[u8; 64] {
        self.body.report_data()
    }

    /// The QE vendor ID (always Intel's after parsing).
    pub fn qe_vendor_id(&self) -> &[u8; 16] {
        &self.header.qe_vendor_id
    }

    /// User data of the header: for Intel's QE, a 16-byte platform identifier and 4 zero bytes.
    pub fn user_data(&self) -> &[u8; 20] {
        &self.header.user_data
    }

    /// The bytes the attestation key signs: header, [v5 descriptor,] body.
    pub fn signed_bytes(&self) -> &[u8] {
        self.bytes.get(..self.signed_len).unwrap_or_default()
    }

    /// The quote signature (ECDSA P-256, raw `r || s`).
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The attestation public key (raw P-256 point `x || y`).
    pub fn attestation_key(&self) -> &[u8; 64] {
        &self.attestation_key
    }

    /// The QE report (an SGX enclave report body).
    pub fn qe_report(&self) -> &[u8; QE_REPORT_SIZE] {
        &self.qe_report
    }

    /// The QE report signature by the PCK key (raw `r || s`).
    pub fn qe_report_signature(&self) -> &[u8; 64] {
        &self.qe_report_signature
    }

    /// The QE authentication data.
    pub fn qe_auth_data(&self) -> &[u8] {
        &self.qe_auth_data
    }

    /// The PCK certificate chain as PEM (leaf, PCK CA, root), without the terminating NUL.
    pub fn pck_chain_pem(&self) -> &[u8] {
        &self.pck_chain_pem
    }

    /// The PCK certificate chain as DER certificates: leaf, PCK CA, root.
    pub fn pck_chain_der(&self) -> &[Vec<u8>] {
        &self.pck_chain_der
    }

    /// Reads the PCK leaf: FMSPC and PCE-ID from the SGX extension (1.2.840.113741.1.13.1) and
    /// the issuing CA from the leaf's issuer CN. Nothing is verified here.
    pub fn pck(&self) -> Result<PckInfo, TdxError> {
        self.pck.get_or_init(|| self.read_pck()).clone()
    }

    fn read_pck(&self) -> Result<PckInfo, TdxError> {
        let leaf = self
            .pck_chain_der
            .first()
            .ok_or_else(|| TdxError::Pck("empty chain".to_owned()))?;
        let cert = pem::parse_certificate(leaf).map_err(|e| TdxError::Pck(e.to_owned()))?;
        let issuer = pem::common_name(cert.issuer())
            .ok_or_else(|| TdxError::Pck("issuer has no common name".to_owned()))?;
        let ca = PckCa::from_common_name(&issuer).ok_or_else(|| {
            TdxError::Pck(format!(
                "issuer {issuer:?} is not a PCK Platform CA or PCK Processor CA"
            ))
        })?;
        let ext = dcap_qvl::intel::parse_pck_extension(leaf)
            .map_err(|e| TdxError::Pck(format!("SGX extension: {e:#}")))?;
        let pce_id = <[u8; 2]>::try_from(ext.pce_id.as_slice())
            .map_err(|_| TdxError::Pck("PCE-ID is not 2 bytes".to_owned()))?;
        Ok(PckInfo {
            fmspc: ext.fmspc,
            pce_id,
            ca,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reserved_attributes_match_dcap_qvl() {
        for bit in 0..64 {
            let value = 1u64 << bit;
            let ours = TdAttributes(value).has_reserved_bits();
            let theirs = dcap_qvl::quote::TDAttributes::parse(value.to_le_bytes())
                .unwrap()
                .reserved
                != 0;
            assert_eq!(ours, theirs, "bit {bit}");
        }
    }

    #[test]
    fn attribute_bits() {
        let a = TdAttributes::from_bytes([0, 0, 0, 0x10, 0, 0, 0, 0]);
        assert!(a.sept_ve_disable());
        assert!(!a.debug() && !a.migratable() && !a.pks() && !a.kl() && !a.perfmon());
        assert_eq!(a.to_bytes(), [0, 0, 0, 0x10, 0, 0, 0, 0]);
        let b = TdAttributes(1 | 1 << 29 | 1 << 30 | 1 << 31 | 1 << 63);
        assert!(b.debug() && b.migratable() && b.pks() && b.kl() && b.perfmon());
        assert!(!b.has_reserved_bits());
        assert_eq!(TdAttributes(1 << 1).reserved_bits(), 2);
        assert!(TdAttributes(1 << 40).has_reserved_bits());
        assert!(TdAttributes(0x70).profiling());
    }

    #[test]
    fn pck_ca_names() {
        assert_eq!(
            PckCa::from_common_name("Intel SGX PCK Platform CA"),
            Some(PckCa::Platform)
        );
        assert_eq!(
            PckCa::from_common_name("Warden Test PCK Processor CA"),
            Some(PckCa::Processor)
        );
        assert_eq!(PckCa::from_common_name("Intel SGX Root CA"), None);
        assert_eq!("platform".parse::<PckCa>(), Ok(PckCa::Platform));
        assert_eq!(
            PckCa::Processor.as_str().parse::<PckCa>(),
            Ok(PckCa::Processor)
        );
        assert!("Platform".parse::<PckCa>().is_err());
    }

    /// A header with the given fields, then `rest`.
    fn quote_with_header(version: u16, key: u16, tee: u32, rest: &[u8]) -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&version.to_le_bytes());
        q.extend_from_slice(&key.to_le_bytes());
        q.extend_from_slice(&tee.to_le_bytes());
        q.extend_from_slice(&[0; 4]);
        q.extend_from_slice(&INTEL_QE_VENDOR_ID);
        q.extend_from_slice(&[0; 20]);
        q.extend_from_slice(rest);
        q
    }

    #[test]
    fn header_checks_in_order() {
        let q = quote_with_header(3, 2, 0x81, &[]);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::UnsupportedVersion(3)
        );
        let q = quote_with_header(4, 3, 0x81, &[]);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::AttestationKeyType(3)
        );
        let q = quote_with_header(4, 2, 0, &[]);
        assert_eq!(Quote::parse(&q).unwrap_err(), TdxError::NotTdx(0));
        let mut q = quote_with_header(4, 2, 0x81, &[]);
        q[9] = 1;
        assert!(matches!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Reserved { .. }
        ));
        let mut q = quote_with_header(4, 2, 0x81, &[]);
        q[12] ^= 1;
        assert!(matches!(
            Quote::parse(&q).unwrap_err(),
            TdxError::QeVendor(_)
        ));
        let q = quote_with_header(4, 2, 0x81, &[]);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Truncated {
                what: "TD quote body",
                need: TD10_BODY_SIZE,
                got: 0
            }
        );
        assert_eq!(
            Quote::parse(&q[..47]).unwrap_err(),
            TdxError::Truncated {
                what: "quote header",
                need: 48,
                got: 47
            }
        );
    }

    #[test]
    fn v5_body_descriptor() {
        let desc = |t: u16, s: u32| {
            let mut d = t.to_le_bytes().to_vec();
            d.extend_from_slice(&s.to_le_bytes());
            quote_with_header(5, 2, 0x81, &d)
        };
        assert_eq!(
            Quote::parse(&desc(1, 384)).unwrap_err(),
            TdxError::UnsupportedBodyType(1)
        );
        assert_eq!(
            Quote::parse(&desc(4, 885)).unwrap_err(),
            TdxError::UnsupportedBodyType(4)
        );
        assert_eq!(
            Quote::parse(&desc(3, 584)).unwrap_err(),
            TdxError::BodySize {
                body_type: 3,
                size: 584,
                expected: 648
            }
        );
        assert_eq!(
            Quote::parse(&desc(2, 584)).unwrap_err(),
            TdxError::Truncated {
                what: "TD quote body",
                need: TD10_BODY_SIZE,
                got: 0
            }
        );
    }

    #[test]
    fn signature_data_length_past_the_end() {
        let mut rest = vec![0u8; TD10_BODY_SIZE];
        rest.extend_from_slice(&u32::MAX.to_le_bytes());
        rest.extend_from_slice(&[0; 10]);
        let q = quote_with_header(4, 2, 0x81, &rest);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Truncated {
                what: "quote signature data",
                need: u32::MAX as usize,
                got: 10
            }
        );
    }

    #[test]
    fn reader_never_panics_on_short_input() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert!(r.u32("x").is_err());
        assert_eq!(r.u16("x").unwrap(), 0x0201);
        assert!(r.sub(2, "x").is_err());
        assert!(r.finish("x").is_err());
    }
}
