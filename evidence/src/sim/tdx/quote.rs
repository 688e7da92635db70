//! DCAP TDX quotes (v4 and v5) in the byte layout of Intel's TD Quoting Enclave.
//!
//! Layout (Intel TDX DCAP Quoting Library API, Appendix A.3 "Version 4 Quote Format" and A.4
//! "Version 5 Quote Format"; all integers little-endian):
//!
//! ```text
//! header (48)               version, att_key_type, tee_type, 4 reserved, QE vendor ID, user data
//! [v5] body descriptor (6)  body type (2 = TD 1.0, 3 = TD 1.5), body size (584 / 648)
//! body                      TD report (584 = TD 1.0, 648 = TD 1.5)
//! auth data size (4)
//! auth data                 ECDSA signature (64, raw r||s over header..body), attestation key
//!                           (64, raw x||y), certification data type 6 (2), size (4), then
//!   QE report certification data:
//!                           QE report (384), QE report signature (64, by the PCK key),
//!                           QE auth data size (2), QE auth data,
//!                           certification data type (2), size (4), data (type 5: PCK chain PEM)
//! ```
//!
//! The offsets are pinned against the real v4 and v5 quotes in `shared/vectors/tdx` by the
//! parent module's tests.

use sha2::{Digest, Sha256};
use zerocopy::byteorder::little_endian::{U16, U32, U64};
use zerocopy::{Immutable, IntoBytes, KnownLayout};

use super::cert::sign_raw;
use super::{PlatformProfile, QuoteVersion, TdProfile};
use crate::sim::snp::SimError;

/// Size of the quote header.
pub(super) const HEADER_LEN: usize = 48;
/// Size of a TD 1.0 report body.
pub(super) const TD10_BODY_LEN: usize = 584;
/// Size of a TD 1.5 report body.
pub(super) const TD15_BODY_LEN: usize = 648;
/// Size of an SGX REPORTBODY (the QE report).
pub(super) const QE_REPORT_LEN: usize = 384;

/// Certification data type 6: QE report certification data.
const CERT_DATA_QE_REPORT: u16 = 6;

/// Quote header, Intel TDX DCAP Quoting Library API A.3.1 (v4) / A.4.1 (v5), 48 bytes. Bytes
/// 8..12 (QE SVN and PCE SVN in SGX v3 quotes) are reserved and zero in TDX quotes.
#[derive(IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct Header {
    version: U16,
    att_key_type: U16,
    tee_type: U32,
    reserved: [u8; 4],
    qe_vendor_id: [u8; 16],
    /// QE ID (16 bytes, platform-specific) then 4 zero bytes.
    user_data: [u8; 20],
}

const _: () = assert!(size_of::<Header>() == HEADER_LEN);

/// v5 quote body descriptor, Intel TDX DCAP Quoting Library API A.4.2, 6 bytes.
#[derive(IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct BodyDescriptor {
    body_type: U16,
    size: U32,
}

const _: () = assert!(size_of::<BodyDescriptor>() == 6);

/// TD 1.0 quote body (TD report), Intel TDX DCAP Quoting Library API A.3.2 "TD Quote Body",
/// 584 bytes.
#[derive(IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct TdReport10 {
    tee_tcb_svn: [u8; 16],
    mr_seam: [u8; 48],
    mr_signer_seam: [u8; 48],
    seam_attributes: [u8; 8],
    td_attributes: U64,
    xfam: U64,
    mr_td: [u8; 48],
    mr_config_id: [u8; 48],
    mr_owner: [u8; 48],
    mr_owner_config: [u8; 48],
    rtmr: [[u8; 48]; 4],
    report_data: [u8; 64],
}

const _: () = assert!(size_of::<TdReport10>() == TD10_BODY_LEN);

/// TD 1.5 quote body, Intel TDX DCAP Quoting Library API A.4.3 "TD Quote Body v1.5", 648
/// bytes: the TD 1.0 body, TEE_TCB_SVN2 and MR_SERVICETD.
#[derive(IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct TdReport15 {
    base: TdReport10,
    tee_tcb_svn2: [u8; 16],
    mr_service_td: [u8; 48],
}

const _: () = assert!(size_of::<TdReport15>() == TD15_BODY_LEN);

/// SGX REPORTBODY, the QE report, 384 bytes (Intel SDM vol. 3D, EREPORT's REPORT structure;
/// DCAP Quoting Library API A.3.10 "Enclave Report Body").
#[derive(IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct EnclaveReportBody {
    cpu_svn: [u8; 16],
    misc_select: U32,
    reserved1: [u8; 28],
    attributes: [u8; 16],
    mr_enclave: [u8; 32],
    reserved2: [u8; 32],
    mr_signer: [u8; 32],
    reserved3: [u8; 96],
    isv_prod_id: U16,
    isv_svn: U16,
    reserved4: [u8; 60],
    report_data: [u8; 64],
}

const _: () = assert!(size_of::<EnclaveReportBody>() == QE_REPORT_LEN);

/// The header and body of a quote: the bytes the attestation key signs.
pub(super) fn signed_part(td: &TdProfile, qe_id: &[u8; 16], report_data: &[u8; 64]) -> Vec<u8> {
    let mut user_data = [0; 20];
    user_data
        .iter_mut()
        .zip(qe_id)
        .for_each(|(out, byte)| *out = *byte);
    let version = match td.version {
        QuoteVersion::V4 => 4,
        QuoteVersion::V5Td10 | QuoteVersion::V5Td15 => 5,
    };
    let header = Header {
        version: U16::new(version),
        att_key_type: U16::new(td.att_key_type),
        tee_type: U32::new(td.tee_type),
        reserved: [0; 4],
        qe_vendor_id: td.qe_vendor_id,
        user_data,
    };
    let base = TdReport10 {
        tee_tcb_svn: td.tee_tcb_svn,
        mr_seam: td.mr_seam,
        mr_signer_seam: td.mr_signer_seam,
        seam_attributes: td.seam_attributes,
        td_attributes: U64::new(td.td_attributes),
        xfam: U64::new(td.xfam),
        mr_td: td.mr_td,
        mr_config_id: td.mr_config_id,
        mr_owner: td.mr_owner,
        mr_owner_config: td.mr_owner_config,
        rtmr: td.rtmr,
        report_data: *report_data,
    };
    let mut out = Vec::with_capacity(HEADER_LEN + 6 + TD15_BODY_LEN);
    out.extend_from_slice(header.as_bytes());
    match td.version {
        QuoteVersion::V4 => out.extend_from_slice(base.as_bytes()),
        QuoteVersion::V5Td10 => {
            out.extend_from_slice(descriptor(2, TD10_BODY_LEN).as_bytes());
            out.extend_from_slice(base.as_bytes());
        }
        QuoteVersion::V5Td15 => {
            out.extend_from_slice(descriptor(3, TD15_BODY_LEN).as_bytes());
            let body = TdReport15 {
                base,
                tee_tcb_svn2: td.tee_tcb_svn2,
                mr_service_td: td.mr_service_td,
            };
            out.extend_from_slice(body.as_bytes());
        }
    }
    out
}

fn descriptor(body_type: u16, size: usize) -> BodyDescriptor {
    BodyDescriptor {
        body_type: U16::new(body_type),
        // The body sizes are the constants above.
        size: U32::new(size as u32),
    }
}

/// The QE report of `p` for the attestation key `att_key` (raw x||y): REPORT_DATA is
/// SHA-256(att_key || QE auth data) || 32 zero bytes unless the profile overrides it.
pub(super) fn qe_report(p: &PlatformProfile, att_key: &[u8; 64]) -> [u8; QE_REPORT_LEN] {
    let report_data = p.qe_report_data.unwrap_or_else(|| {
        let mut data = [0; 64];
        let hash = Sha256::new()
            .chain_update(att_key)
            .chain_update(&p.qe_auth_data)
            .finalize();
        data.iter_mut()
            .zip(hash)
            .for_each(|(out, byte)| *out = byte);
        data
    });
    let body = EnclaveReportBody {
        cpu_svn: p.qe_cpu_svn,
        misc_select: U32::new(p.qe_miscselect),
        reserved1: [0; 28],
        attributes: p.qe_attributes,
        mr_enclave: p.qe_mrenclave,
        reserved2: [0; 32],
        mr_signer: p.qe_mrsigner,
        reserved3: [0; 96],
        isv_prod_id: U16::new(p.qe_isv_prod_id),
        isv_svn: U16::new(p.qe_isv_svn),
        reserved4: [0; 60],
        report_data,
    };
    let mut out = [0; QE_REPORT_LEN];
    out.copy_from_slice(body.as_bytes());
    out
}

/// A length as the `u16`/`u32` prefix of a variable-size quote field.
fn length<T: TryFrom<usize>>(len: usize) -> Result<T, SimError> {
    T::try_from(len).map_err(|_| SimError::Der(x509_cert::der::ErrorKind::Overflow.into()))
}

/// The inputs of a quote beyond the TD: the keys and what the QE writes.
pub(super) struct Signers<'a> {
    pub(super) att_key: &'a p256::ecdsa::SigningKey,
    pub(super) att_key_raw: &'a [u8; 64],
    pub(super) pck_key: &'a p256::ecdsa::SigningKey,
}

/// Assembles and signs a quote.
pub(super) fn build(
    p: &PlatformProfile,
    td: &TdProfile,
    report_data: &[u8; 64],
    signers: &Signers<'_>,
    cert_data_type: u16,
    cert_data: &[u8],
) -> Result<Vec<u8>, SimError> {
    let signed = signed_part(td, &p.qe_id, report_data);
    let signature = sign_raw(signers.att_key, &signed);
    let qe_report = qe_report(p, signers.att_key_raw);
    let qe_report_signature = sign_raw(signers.pck_key, &qe_report);

    let mut qe_cert_data = Vec::with_capacity(QE_REPORT_LEN + 64 + 8 + cert_data.len() + 64);
    qe_cert_data.extend_from_slice(&qe_report);
    qe_cert_data.extend_from_slice(&qe_report_signature);
    qe_cert_data.extend_from_slice(&length::<u16>(p.qe_auth_data.len())?.to_le_bytes());
    qe_cert_data.extend_from_slice(&p.qe_auth_data);
    qe_cert_data.extend_from_slice(&cert_data_type.to_le_bytes());
    qe_cert_data.extend_from_slice(&length::<u32>(cert_data.len())?.to_le_bytes());
    qe_cert_data.extend_from_slice(cert_data);

    let mut auth_data = Vec::with_capacity(64 + 64 + 6 + qe_cert_data.len());
    auth_data.extend_from_slice(&signature);
    auth_data.extend_from_slice(signers.att_key_raw);
    auth_data.extend_from_slice(&CERT_DATA_QE_REPORT.to_le_bytes());
    auth_data.extend_from_slice(&length::<u32>(qe_cert_data.len())?.to_le_bytes());
    auth_data.extend_from_slice(&qe_cert_data);

    let mut quote = signed;
    quote.extend_from_slice(&length::<u32>(auth_data.len())?.to_le_bytes());
    quote.extend_from_slice(&auth_data);
    Ok(quote)
}
