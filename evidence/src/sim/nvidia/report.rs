//! The byte layout of an NVIDIA GPU attestation report: SPDM 1.1 GET_MEASUREMENTS request
//! (DSP0274 1.1.0, table 40) followed by the MEASUREMENTS response (table 41) with its DMTF
//! measurement blocks (tables 42-44) and NVIDIA's opaque-data TLVs, signed with ECDSA P-384
//! over SHA-384 of everything before the signature (raw `r || s`).
//!
//! The layout was read from `shared/vectors/nvidia/gpu/hopper_580.159.03_report.hex` and
//! `blackwell_575.32_report.hex` (see `shared/notes/nvidia.md` sections 1-2).

use x509_cert::der::ErrorKind;

use crate::sim::snp::SimError;

/// SPDM version 1.1.
pub(super) const SPDM_VERSION: u8 = 0x11;
/// GET_MEASUREMENTS request code.
pub(super) const GET_MEASUREMENTS: u8 = 0xE0;
/// MEASUREMENTS response code.
pub(super) const MEASUREMENTS: u8 = 0x60;
/// Param1 of the request: a signature is requested.
pub(super) const PARAM1_SIGNATURE_REQUESTED: u8 = 0x01;
/// Param2 of the request: all measurement blocks.
pub(super) const PARAM2_ALL_MEASUREMENTS: u8 = 0xFF;
/// DMTF measurement specification (MeasurementSpecification bit 0).
pub(super) const MEASUREMENT_SPEC_DMTF: u8 = 0x01;
/// DMTFSpecMeasurementValueType used by NVIDIA: immutable ROM / firmware digest (0x01).
pub(super) const MEASUREMENT_VALUE_TYPE: u8 = 0x01;

/// A measurement block's MeasurementSize: DMTF header (3 bytes) plus a 48-byte digest.
const BLOCK_MEASUREMENT_SIZE: u16 = 3 + 48;

fn overflow() -> SimError {
    SimError::Der(ErrorKind::Overflow.into())
}

/// The 37-byte GET_MEASUREMENTS request for `nonce`, slot 0.
pub(super) fn request(nonce: &[u8; 32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(super::REQUEST_LEN);
    out.extend_from_slice(&[
        SPDM_VERSION,
        GET_MEASUREMENTS,
        PARAM1_SIGNATURE_REQUESTED,
        PARAM2_ALL_MEASUREMENTS,
    ]);
    out.extend_from_slice(nonce);
    out.push(0x00);
    out
}

/// The measurement record: one DMTF block per digest, indices from 1.
fn measurement_record(measurements: &[[u8; 48]]) -> Result<Vec<u8>, SimError> {
    let mut out = Vec::with_capacity(measurements.len() * 55);
    for (position, digest) in measurements.iter().enumerate() {
        let index = u8::try_from(position + 1).map_err(|_| overflow())?;
        out.push(index);
        out.push(MEASUREMENT_SPEC_DMTF);
        out.extend_from_slice(&BLOCK_MEASUREMENT_SIZE.to_le_bytes());
        out.push(MEASUREMENT_VALUE_TYPE);
        out.extend_from_slice(&48u16.to_le_bytes());
        out.extend_from_slice(digest);
    }
    Ok(out)
}

/// Opaque data: `type u16 LE | size u16 LE | value`, in the given order.
pub(super) fn opaque_data(fields: &[(u16, Vec<u8>)]) -> Result<Vec<u8>, SimError> {
    let mut out = Vec::new();
    for (kind, value) in fields {
        let size = u16::try_from(value.len()).map_err(|_| overflow())?;
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// Request || response up to (not including) the signature.
pub(super) fn unsigned_report(
    nonce: &[u8; 32],
    measurements: &[[u8; 48]],
    response_nonce: &[u8; 32],
    opaque: &[u8],
) -> Result<Vec<u8>, SimError> {
    let count = u8::try_from(measurements.len()).map_err(|_| overflow())?;
    let record = measurement_record(measurements)?;
    let record_len = u32::try_from(record.len())
        .ok()
        .filter(|&len| len < 1 << 24)
        .ok_or_else(overflow)?;
    let opaque_len = u16::try_from(opaque.len()).map_err(|_| overflow())?;
    let mut out = request(nonce);
    out.extend_from_slice(&[SPDM_VERSION, MEASUREMENTS, 0x00, 0x00, count]);
    out.extend(record_len.to_le_bytes().iter().take(3));
    out.extend_from_slice(&record);
    out.extend_from_slice(response_nonce);
    out.extend_from_slice(&opaque_len.to_le_bytes());
    out.extend_from_slice(opaque);
    Ok(out)
}

/// A NUL-padded ASCII field of exactly `width` bytes (CHIP_SKU 9, PROJECT 5, ...).
pub(super) fn padded(value: &str, width: usize) -> Result<Vec<u8>, SimError> {
    if value.len() > width {
        return Err(overflow());
    }
    let mut out = value.as_bytes().to_vec();
    out.resize(width, 0);
    Ok(out)
}

/// A NUL-terminated ASCII field (DRIVER_VERSION, CHIP_INFO).
pub(super) fn nul_terminated(value: &str) -> Vec<u8> {
    let mut out = value.as_bytes().to_vec();
    out.push(0);
    out
}
