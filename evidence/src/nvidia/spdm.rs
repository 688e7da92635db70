//! The NVML GPU attestation report: an SPDM 1.1 GET_MEASUREMENTS request followed by the
//! MEASUREMENTS response, parsed strictly.
//!
//! Layout (DMTF DSP0274 1.1.0, section 10.11 "GET_MEASUREMENTS request and MEASUREMENTS
//! response", tables 42 to 47; NVIDIA's opaque data as in nvtrust `spdm_msrt_resp_msg.py`):
//! request (37 bytes) || response header (8) || measurement record (L1) || nonce (32) ||
//! OpaqueLength (2) || opaque data (L2) || signature (96). Integers are little-endian.
//! Nothing may follow the signature.

use zerocopy::little_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::nvidia::{GpuError, ReportPart};

/// Length of the GET_MEASUREMENTS request NVML puts first.
pub const REQUEST_LEN: usize = 37;
/// Length of the raw ECDSA P-384 signature (r || s) that ends the report.
pub const SIGNATURE_LEN: usize = 96;
/// Length of a measurement digest (SHA-384).
pub const DIGEST_LEN: usize = 48;
/// Length of the request and response nonces.
pub const NONCE_LEN: usize = 32;

const SPDM_VERSION_1_1: u8 = 0x11;
const GET_MEASUREMENTS: u8 = 0xE0;
const MEASUREMENTS: u8 = 0x60;
/// DSP0274 1.1 table 45: MeasurementSpecification bit 0 = DMTF.
const SPEC_DMTF: u8 = 0x01;
/// DSP0274 1.1 table 46: DMTFSpecMeasurementValueType bit 7 set = raw bit stream, not a digest.
const VALUE_TYPE_RAW: u8 = 0x80;
/// Size of a DMTF measurement holding a digest: type (1) + size (2) + 48.
const DMTF_DIGEST_MEASUREMENT_SIZE: u16 = 3 + DIGEST_LEN as u16;

/// GET_MEASUREMENTS request, DSP0274 1.1 table 42, with a nonce (Param1 bit 0 set).
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawRequest {
    version: u8,
    code: u8,
    /// Bit 0: signature requested.
    param1: u8,
    /// 0xFF: all measurement blocks.
    param2: u8,
    nonce: [u8; NONCE_LEN],
    slot_id: u8,
}
const _: () = assert!(size_of::<RawRequest>() == REQUEST_LEN);

/// MEASUREMENTS response header, DSP0274 1.1 table 44, up to MeasurementRecordLength.
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawResponseHeader {
    version: u8,
    code: u8,
    param1: u8,
    param2: u8,
    number_of_blocks: u8,
    /// 24-bit little-endian.
    record_length: [u8; 3],
}
const RESPONSE_HEADER_LEN: usize = 8;
const _: () = assert!(size_of::<RawResponseHeader>() == RESPONSE_HEADER_LEN);

/// A measurement block header (DSP0274 1.1 table 45) followed by the DMTF measurement header
/// (table 46).
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawBlockHeader {
    index: u8,
    spec: u8,
    size: U16,
    value_type: u8,
    value_size: U16,
}
const BLOCK_HEADER_LEN: usize = 7;
const _: () = assert!(size_of::<RawBlockHeader>() == BLOCK_HEADER_LEN);

/// One measurement block: a 48-byte SHA-384 digest at an SPDM index (1-based; RIM index + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeasurementBlock {
    /// SPDM measurement index (1..=254).
    pub index: u8,
    /// DMTFSpecMeasurementValueType (bit 7 clear: a digest).
    pub value_type: u8,
    /// The digest.
    pub digest: [u8; DIGEST_LEN],
}

/// NVIDIA's opaque-data types (nvtrust `OpaqueData.OPAQUE_DATA_TYPES`). Anything else is
/// rejected.
pub mod opaque_type {
    /// Certificate issuer name.
    pub const CERT_ISSUER_NAME: u16 = 1;
    /// Certificate authority key identifier.
    pub const CERT_AUTHORITY_KEY_IDENTIFIER: u16 = 2;
    /// Driver version, NUL-terminated ASCII.
    pub const DRIVER_VERSION: u16 = 3;
    /// GPU info, 8 bytes.
    pub const GPU_INFO: u16 = 4;
    /// SKU.
    pub const SKU: u16 = 5;
    /// VBIOS version, u64 little-endian.
    pub const VBIOS_VERSION: u16 = 6;
    /// Manufacturer id.
    pub const MANUFACTURER_ID: u16 = 7;
    /// Tamper detection.
    pub const TAMPER_DETECTION: u16 = 8;
    /// SMC.
    pub const SMC: u16 = 9;
    /// VPR.
    pub const VPR: u16 = 10;
    /// NVDEC0 status, 1 byte (0xAA enabled, 0x55 disabled).
    pub const NVDEC0_STATUS: u16 = 11;
    /// Measurement counters, u32 little-endian each.
    pub const MSRSCNT: u16 = 12;
    /// CPR info, 4 bytes.
    pub const CPRINFO: u16 = 13;
    /// Board id, u32 little-endian.
    pub const BOARD_ID: u16 = 14;
    /// Chip SKU, NUL-padded ASCII.
    pub const CHIP_SKU: u16 = 15;
    /// Chip SKU modifier, NUL-padded ASCII.
    pub const CHIP_SKU_MOD: u16 = 16;
    /// Project, NUL-padded ASCII.
    pub const PROJECT: u16 = 17;
    /// Project SKU, NUL-padded ASCII.
    pub const PROJECT_SKU: u16 = 18;
    /// Project SKU modifier.
    pub const PROJECT_SKU_MOD: u16 = 19;
    /// FWID, 48 bytes (SHA-384).
    pub const FWID: u16 = 20;
    /// Protected PCIe status, 1 byte.
    pub const PROTECTED_PCIE_STATUS: u16 = 21;
    /// NVSwitch PDIs, 8 bytes each.
    pub const SWITCH_PDI: u16 = 22;
    /// Floorswept ports (switch side).
    pub const FLOORSWEPT_PORTS: u16 = 23;
    /// Position id (switch side).
    pub const POSITION_ID: u16 = 24;
    /// Lock switch status (switch side).
    pub const LOCK_SWITCH_STATUS: u16 = 25;
    /// GPU link connections.
    pub const GPU_LINK_CONN: u16 = 32;
    /// System enable status, 2 bytes.
    pub const SYS_ENABLE_STATUS: u16 = 33;
    /// Opaque data version, u16 little-endian.
    pub const OPAQUE_DATA_VERSION: u16 = 34;
    /// Chip info, NUL-terminated ASCII.
    pub const CHIP_INFO: u16 = 35;
    /// Feature flag, u16 little-endian (0 SPT, 1 MPT, 2 PPCIE).
    pub const FEATURE_FLAG: u16 = 36;
}

/// How a known opaque type's size is checked.
enum SizeRule {
    Any,
    Exact(usize),
    MultipleOf(usize),
}

fn size_rule(kind: u16) -> Option<SizeRule> {
    use opaque_type as t;
    Some(match kind {
        t::GPU_INFO | t::VBIOS_VERSION => SizeRule::Exact(8),
        t::NVDEC0_STATUS | t::PROTECTED_PCIE_STATUS => SizeRule::Exact(1),
        t::CPRINFO | t::BOARD_ID => SizeRule::Exact(4),
        t::FWID => SizeRule::Exact(DIGEST_LEN),
        t::PROJECT_SKU_MOD | t::SYS_ENABLE_STATUS | t::OPAQUE_DATA_VERSION | t::FEATURE_FLAG => {
            SizeRule::Exact(2)
        }
        t::MSRSCNT => SizeRule::MultipleOf(4),
        t::SWITCH_PDI => SizeRule::MultipleOf(8),
        t::CERT_ISSUER_NAME
        | t::CERT_AUTHORITY_KEY_IDENTIFIER
        | t::DRIVER_VERSION
        | t::SKU
        | t::MANUFACTURER_ID
        | t::TAMPER_DETECTION
        | t::SMC
        | t::VPR
        | t::CHIP_SKU
        | t::CHIP_SKU_MOD
        | t::PROJECT
        | t::PROJECT_SKU
        | t::FLOORSWEPT_PORTS
        | t::POSITION_ID
        | t::LOCK_SWITCH_STATUS
        | t::GPU_LINK_CONN
        | t::CHIP_INFO => SizeRule::Any,
        _ => return None,
    })
}

/// The CC topology the GPU was attested in (opaque type 36).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum FeatureFlag {
    /// Single GPU passthrough.
    Spt,
    /// Multi-GPU passthrough.
    Mpt,
    /// Protected PCIe (8 GPUs + NVSwitches).
    Ppcie,
}

/// One opaque-data TLV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpaqueField {
    /// Its type (see [`opaque_type`]).
    pub kind: u16,
    /// Its value.
    pub value: Vec<u8>,
}

/// The opaque data of the response: NVIDIA TLVs, each type at most once, in report order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OpaqueData {
    fields: Vec<OpaqueField>,
}

impl OpaqueData {
    /// Parses `type u16 | size u16 | value` TLVs filling `bytes` exactly (THREATS R4).
    pub fn parse(bytes: &[u8]) -> Result<Self, GpuError> {
        let mut fields: Vec<OpaqueField> = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (head, tail) = rest
                .split_at_checked(4)
                .ok_or(GpuError::Truncated(ReportPart::OpaqueData))?;
            let (kind, size) = match head {
                [a, b, c, d] => (u16::from_le_bytes([*a, *b]), u16::from_le_bytes([*c, *d])),
                _ => return Err(GpuError::Truncated(ReportPart::OpaqueData)),
            };
            let (value, tail) = tail
                .split_at_checked(usize::from(size))
                .ok_or(GpuError::OpaqueOverflow(kind))?;
            let rule = size_rule(kind).ok_or(GpuError::UnknownOpaqueType(kind))?;
            if fields.iter().any(|f| f.kind == kind) {
                return Err(GpuError::DuplicateOpaqueType(kind));
            }
            let size_error = |reason| GpuError::OpaqueSize {
                kind,
                size: value.len(),
                reason,
            };
            match rule {
                SizeRule::Exact(n) if value.len() != n => {
                    return Err(size_error("not the fixed size of its type"));
                }
                SizeRule::MultipleOf(n) if value.is_empty() || value.len() % n != 0 => {
                    return Err(size_error("not a non-zero multiple of its element size"));
                }
                _ => {}
            }
            fields.push(OpaqueField {
                kind,
                value: value.to_vec(),
            });
            rest = tail;
        }
        let data = Self { fields };
        data.check_values()?;
        Ok(data)
    }

    /// Decodes every typed value once, so that accessors cannot fail on a parsed report.
    fn check_values(&self) -> Result<(), GpuError> {
        use opaque_type as t;
        if let Some(v) = self.get(t::DRIVER_VERSION) {
            nul_terminated_ascii(t::DRIVER_VERSION, v)?;
        }
        if let Some(v) = self.get(t::CHIP_INFO) {
            nul_terminated_ascii(t::CHIP_INFO, v)?;
        }
        for kind in [t::CHIP_SKU, t::CHIP_SKU_MOD, t::PROJECT, t::PROJECT_SKU] {
            if let Some(v) = self.get(kind) {
                nul_padded_ascii(kind, v)?;
            }
        }
        if let Some(v) = self.get(t::FEATURE_FLAG) {
            feature_flag(v)?;
        }
        Ok(())
    }

    /// All fields, in report order.
    pub fn fields(&self) -> &[OpaqueField] {
        &self.fields
    }

    /// The value of type `kind`, if present.
    pub fn get(&self, kind: u16) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|f| f.kind == kind)
            .map(|f| f.value.as_slice())
    }

    fn ascii(&self, kind: u16) -> Option<String> {
        self.get(kind).and_then(|v| nul_padded_ascii(kind, v).ok())
    }

    fn u16(&self, kind: u16) -> Option<u16> {
        match self.get(kind)? {
            [a, b] => Some(u16::from_le_bytes([*a, *b])),
            _ => None,
        }
    }

    /// Driver version (type 3) without its NUL, e.g. `550.90.07`.
    pub fn driver_version(&self) -> Option<String> {
        self.ascii(opaque_type::DRIVER_VERSION)
    }

    /// VBIOS version (type 6) formatted as NVML prints it, e.g. `96.00.9F.00.01`.
    pub fn vbios_version(&self) -> Option<String> {
        let v: [u8; 8] = self.get(opaque_type::VBIOS_VERSION)?.try_into().ok()?;
        // nvtrust `format_vbios_version`: hex of the LE u64 (16 digits) h, then h[8..16] and
        // h[6..8] as dotted pairs, i.e. bytes 3, 2, 1, 0 and then byte 4.
        let [b0, b1, b2, b3, b4, ..] = v;
        Some(format!("{b3:02X}.{b2:02X}.{b1:02X}.{b0:02X}.{b4:02X}"))
    }

    /// GPU info (type 4), 8 bytes.
    pub fn gpu_info(&self) -> Option<&[u8]> {
        self.get(opaque_type::GPU_INFO)
    }

    /// FWID (type 20): SHA-384 of the firmware that signed the report. Absent on old drivers.
    pub fn fwid(&self) -> Option<[u8; DIGEST_LEN]> {
        self.get(opaque_type::FWID)?.try_into().ok()
    }

    /// NVDEC0 status (type 11): 0xAA enabled, 0x55 disabled.
    pub fn nvdec0_status(&self) -> Option<u8> {
        self.get(opaque_type::NVDEC0_STATUS)?.first().copied()
    }

    /// Protected PCIe status (type 21): 0xAA enabled, 0x55 disabled.
    pub fn protected_pcie_status(&self) -> Option<u8> {
        self.get(opaque_type::PROTECTED_PCIE_STATUS)?
            .first()
            .copied()
    }

    /// Board id (type 14).
    pub fn board_id(&self) -> Option<u32> {
        let v: [u8; 4] = self.get(opaque_type::BOARD_ID)?.try_into().ok()?;
        Some(u32::from_le_bytes(v))
    }

    /// Chip SKU (type 15), e.g. `882`.
    pub fn chip_sku(&self) -> Option<String> {
        self.ascii(opaque_type::CHIP_SKU)
    }

    /// Chip SKU modifier (type 16), e.g. `0`.
    pub fn chip_sku_mod(&self) -> Option<String> {
        self.ascii(opaque_type::CHIP_SKU_MOD)
    }

    /// Project (type 17), e.g. `1010`.
    pub fn project(&self) -> Option<String> {
        self.ascii(opaque_type::PROJECT)
    }

    /// Project SKU (type 18), e.g. `0200`.
    pub fn project_sku(&self) -> Option<String> {
        self.ascii(opaque_type::PROJECT_SKU)
    }

    /// Chip info (type 35), used for Blackwell driver RIM ids.
    pub fn chip_info(&self) -> Option<String> {
        self.ascii(opaque_type::CHIP_INFO)
    }

    /// Opaque data version (type 34).
    pub fn opaque_data_version(&self) -> Option<u16> {
        self.u16(opaque_type::OPAQUE_DATA_VERSION)
    }

    /// Feature flag (type 36). As in nvtrust it is only read when the opaque data version is at
    /// least 1; otherwise `None` even if the TLV is present.
    pub fn feature_flag(&self) -> Option<FeatureFlag> {
        if self.opaque_data_version()? < 1 {
            return None;
        }
        feature_flag(self.get(opaque_type::FEATURE_FLAG)?).ok()
    }

    /// Per-block measurement counters (type 12).
    pub fn measurement_counts(&self) -> Option<Vec<u32>> {
        let v = self.get(opaque_type::MSRSCNT)?;
        Some(
            v.chunks_exact(4)
                .map(|c| {
                    c.iter()
                        .rev()
                        .fold(0u32, |acc, b| (acc << 8) | u32::from(*b))
                })
                .collect(),
        )
    }

    /// NVSwitch PDIs (type 22), 8 bytes each.
    pub fn switch_pdis(&self) -> Option<Vec<[u8; 8]>> {
        let v = self.get(opaque_type::SWITCH_PDI)?;
        v.chunks_exact(8).map(|c| c.try_into().ok()).collect()
    }
}

fn feature_flag(v: &[u8]) -> Result<FeatureFlag, GpuError> {
    let bad = |reason| GpuError::OpaqueValue {
        kind: opaque_type::FEATURE_FLAG,
        reason,
    };
    match v {
        [a, b] => match u16::from_le_bytes([*a, *b]) {
            0 => Ok(FeatureFlag::Spt),
            1 => Ok(FeatureFlag::Mpt),
            2 => Ok(FeatureFlag::Ppcie),
            _ => Err(bad("unknown feature flag")),
        },
        _ => Err(bad("not 2 bytes")),
    }
}

/// ASCII ended by at least one NUL, nothing but NULs after it.
fn nul_terminated_ascii(kind: u16, v: &[u8]) -> Result<String, GpuError> {
    if v.last() != Some(&0) {
        return Err(GpuError::OpaqueValue {
            kind,
            reason: "not NUL-terminated",
        });
    }
    nul_padded_ascii(kind, v)
}

/// Printable ASCII, then optional NUL padding; non-empty text.
fn nul_padded_ascii(kind: u16, v: &[u8]) -> Result<String, GpuError> {
    let bad = |reason| GpuError::OpaqueValue { kind, reason };
    let end = v.iter().position(|b| *b == 0).unwrap_or(v.len());
    let (text, pad) = v.split_at_checked(end).ok_or(bad("bad string"))?;
    if text.is_empty() {
        return Err(bad("empty string"));
    }
    if !text.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        return Err(bad("not printable ASCII"));
    }
    if pad.iter().any(|b| *b != 0) {
        return Err(bad("bytes after the terminating NUL"));
    }
    String::from_utf8(text.to_vec()).map_err(|_| bad("not printable ASCII"))
}

/// A parsed NVML attestation report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdmReport {
    raw: Vec<u8>,
    signed_len: usize,
    request_nonce: [u8; NONCE_LEN],
    response_nonce: [u8; NONCE_LEN],
    blocks: Vec<MeasurementBlock>,
    opaque: OpaqueData,
    signature: [u8; SIGNATURE_LEN],
}

/// Splits `n` bytes off `rest`, or reports `part` truncated.
fn take<'a>(rest: &mut &'a [u8], n: usize, part: ReportPart) -> Result<&'a [u8], GpuError> {
    let (head, tail) = rest.split_at_checked(n).ok_or(GpuError::Truncated(part))?;
    *rest = tail;
    Ok(head)
}

fn array<const N: usize>(bytes: &[u8], part: ReportPart) -> Result<[u8; N], GpuError> {
    bytes.try_into().map_err(|_| GpuError::Truncated(part))
}

impl SpdmReport {
    /// Parses an NVML attestation report strictly: SPDM 1.1 codes and NVML's parameters, DMTF
    /// 48-byte digest blocks with strictly increasing indices, NVIDIA opaque TLVs, and exactly
    /// one 96-byte signature at the end.
    pub fn parse(bytes: &[u8]) -> Result<Self, GpuError> {
        let mut rest = bytes;

        let request = take(&mut rest, REQUEST_LEN, ReportPart::Request)?;
        let request = RawRequest::read_from_bytes(request)
            .map_err(|_| GpuError::Truncated(ReportPart::Request))?;
        if request.version != SPDM_VERSION_1_1 {
            return Err(GpuError::Version(request.version));
        }
        if request.code != GET_MEASUREMENTS {
            return Err(GpuError::RequestCode(request.code));
        }
        param("request Param1", request.param1, 0x01)?;
        param("request Param2", request.param2, 0xFF)?;
        param("request SlotIDParam", request.slot_id, 0x00)?;

        let header = take(&mut rest, RESPONSE_HEADER_LEN, ReportPart::ResponseHeader)?;
        let header = RawResponseHeader::read_from_bytes(header)
            .map_err(|_| GpuError::Truncated(ReportPart::ResponseHeader))?;
        if header.version != SPDM_VERSION_1_1 {
            return Err(GpuError::Version(header.version));
        }
        if header.code != MEASUREMENTS {
            return Err(GpuError::ResponseCode(header.code));
        }
        // Param1 is reserved when all blocks are requested; Param2 bits 3:0 are the slot.
        param("response Param1", header.param1, 0x00)?;
        param("response Param2", header.param2, 0x00)?;
        let [l0, l1, l2] = header.record_length;
        let record_len = u32::from_le_bytes([l0, l1, l2, 0]);
        let record_len =
            usize::try_from(record_len).map_err(|_| GpuError::MeasurementRecord("too long"))?;
        let record = take(&mut rest, record_len, ReportPart::MeasurementRecord)?;
        let blocks = parse_record(record, header.number_of_blocks)?;

        let response_nonce = array(
            take(&mut rest, NONCE_LEN, ReportPart::ResponseNonce)?,
            ReportPart::ResponseNonce,
        )?;
        let opaque_len: [u8; 2] = array(
            take(&mut rest, 2, ReportPart::OpaqueData)?,
            ReportPart::OpaqueData,
        )?;
        let opaque = take(
            &mut rest,
            usize::from(u16::from_le_bytes(opaque_len)),
            ReportPart::OpaqueData,
        )?;
        let opaque = OpaqueData::parse(opaque)?;

        let signed_len = bytes.len().saturating_sub(rest.len());
        let signature = array(
            take(&mut rest, SIGNATURE_LEN, ReportPart::Signature)?,
            ReportPart::Signature,
        )?;
        if !rest.is_empty() {
            return Err(GpuError::TrailingBytes(rest.len()));
        }
        Ok(Self {
            raw: bytes.to_vec(),
            signed_len,
            request_nonce: request.nonce,
            response_nonce,
            blocks,
            opaque,
            signature,
        })
    }

    /// The nonce of the GET_MEASUREMENTS request: the verifier's challenge.
    pub fn request_nonce(&self) -> &[u8; NONCE_LEN] {
        &self.request_nonce
    }

    /// The responder's nonce (not the challenge; signed, not compared).
    pub fn response_nonce(&self) -> &[u8; NONCE_LEN] {
        &self.response_nonce
    }

    /// The measurement blocks, in strictly increasing index order.
    pub fn measurements(&self) -> &[MeasurementBlock] {
        &self.blocks
    }

    /// The measurement block with SPDM index `index` (RIM index + 1).
    pub fn measurement(&self, index: u8) -> Option<&MeasurementBlock> {
        self.blocks.iter().find(|b| b.index == index)
    }

    /// The opaque data.
    pub fn opaque(&self) -> &OpaqueData {
        &self.opaque
    }

    /// The raw signature, r || s (48 bytes each, big-endian).
    pub fn signature(&self) -> &[u8; SIGNATURE_LEN] {
        &self.signature
    }

    /// The bytes the signature covers: everything before it (request and response).
    pub fn signed_bytes(&self) -> &[u8] {
        self.raw.get(..self.signed_len).unwrap_or_default()
    }

    /// The whole report as parsed.
    pub fn as_bytes(&self) -> &[u8] {
        &self.raw
    }
}

fn param(field: &'static str, got: u8, expected: u8) -> Result<(), GpuError> {
    if got == expected {
        Ok(())
    } else {
        Err(GpuError::Param {
            field,
            got,
            expected,
        })
    }
}

/// Parses the measurement record: exactly `count` blocks filling it.
fn parse_record(record: &[u8], count: u8) -> Result<Vec<MeasurementBlock>, GpuError> {
    let mut blocks: Vec<MeasurementBlock> = Vec::with_capacity(usize::from(count));
    let mut rest = record;
    while !rest.is_empty() {
        let (head, tail) =
            rest.split_at_checked(BLOCK_HEADER_LEN)
                .ok_or(GpuError::MeasurementRecord(
                    "block header overruns the record",
                ))?;
        let head = RawBlockHeader::read_from_bytes(head)
            .map_err(|_| GpuError::MeasurementRecord("block header overruns the record"))?;
        let index = head.index;
        let bad = |reason| GpuError::MeasurementBlock { index, reason };
        if index == 0 || index == 0xFF {
            return Err(bad("index 0 and 255 are reserved"));
        }
        if blocks.last().is_some_and(|b| b.index >= index) {
            return Err(GpuError::MeasurementIndexOrder(index));
        }
        if head.spec != SPEC_DMTF {
            return Err(bad("MeasurementSpecification is not DMTF"));
        }
        if head.size.get() != DMTF_DIGEST_MEASUREMENT_SIZE {
            return Err(bad("MeasurementSize is not 51"));
        }
        if head.value_type & VALUE_TYPE_RAW != 0 {
            return Err(bad("raw bit stream, not a digest"));
        }
        if usize::from(head.value_size.get()) != DIGEST_LEN {
            return Err(bad("value is not a 48-byte digest"));
        }
        let (digest, tail) =
            tail.split_at_checked(DIGEST_LEN)
                .ok_or(GpuError::MeasurementRecord(
                    "block value overruns the record",
                ))?;
        blocks.push(MeasurementBlock {
            index,
            value_type: head.value_type,
            digest: array(digest, ReportPart::MeasurementRecord)?,
        });
        rest = tail;
    }
    if blocks.len() != usize::from(count) {
        return Err(GpuError::MeasurementRecord(
            "number of blocks is not NumberOfBlocks",
        ));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = kind.to_le_bytes().to_vec();
        out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
        out.extend_from_slice(value);
        out
    }

    #[test]
    fn vbios_version_is_formatted_as_nvml_prints_it() {
        let data = OpaqueData::parse(&tlv(
            opaque_type::VBIOS_VERSION,
            &hex::decode("009f009601000000").unwrap(),
        ))
        .unwrap();
        assert_eq!(data.vbios_version().as_deref(), Some("96.00.9F.00.01"));
    }

    #[test]
    fn strings_are_ascii_with_nul_padding_only() {
        let k = opaque_type::PROJECT;
        assert_eq!(nul_padded_ascii(k, b"1010\0").unwrap(), "1010");
        assert_eq!(nul_padded_ascii(k, b"1010").unwrap(), "1010");
        assert!(nul_padded_ascii(k, b"10\x0010").is_err());
        assert!(nul_padded_ascii(k, b"\0\0").is_err());
        assert!(nul_padded_ascii(k, b"1\xff0").is_err());
        assert!(nul_terminated_ascii(opaque_type::DRIVER_VERSION, b"550.90.07").is_err());
        assert_eq!(
            nul_terminated_ascii(opaque_type::DRIVER_VERSION, b"550.90.07\0").unwrap(),
            "550.90.07"
        );
    }

    #[test]
    fn opaque_tlvs_are_strict() {
        let ok = [
            tlv(opaque_type::MSRSCNT, &[1, 0, 0, 0, 2, 0, 0, 1]),
            tlv(opaque_type::SWITCH_PDI, &[9; 16]),
        ]
        .concat();
        let data = OpaqueData::parse(&ok).unwrap();
        assert_eq!(data.measurement_counts(), Some(vec![1, 0x0100_0002]));
        assert_eq!(data.switch_pdis(), Some(vec![[9; 8], [9; 8]]));
        assert_eq!(
            OpaqueData::parse(&[ok, tlv(opaque_type::MSRSCNT, &[0; 4])].concat()),
            Err(GpuError::DuplicateOpaqueType(opaque_type::MSRSCNT))
        );
        assert_eq!(
            OpaqueData::parse(&[0x14, 0x00, 0x30]),
            Err(GpuError::Truncated(ReportPart::OpaqueData))
        );
        assert_eq!(
            OpaqueData::parse(&[0x14, 0x00, 0x30, 0x00, 0x01]),
            Err(GpuError::OpaqueOverflow(opaque_type::FWID))
        );
        assert_eq!(
            OpaqueData::parse(&tlv(26, &[])),
            Err(GpuError::UnknownOpaqueType(26))
        );
        assert!(matches!(
            OpaqueData::parse(&tlv(opaque_type::MSRSCNT, &[])),
            Err(GpuError::OpaqueSize { size: 0, .. })
        ));
    }
}
