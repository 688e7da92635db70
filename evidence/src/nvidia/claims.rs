//! Normalised GPU claims: what policy sees of a verified NVIDIA report.
//!
//! Byte strings are lowercase hex. Versions and identifiers come from the signed opaque data and
//! the verified chain, never from NVML's unsigned strings.

use serde::Serialize;

use crate::nvidia::cert::{GpuArch, VerifiedChain};
use crate::nvidia::spdm::{FeatureFlag, SpdmReport};

/// The normalised claims of a verified GPU report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GpuClaims {
    /// Architecture, from the leaf's issuer in the verified chain (`HOPPER`, `BLACKWELL`).
    pub arch: GpuArch,
    /// Serial number of the attestation leaf certificate (lowercase hex, no leading zero
    /// bytes; equal to the leaf subject's serialNumber attribute): NVIDIA's `ueid`.
    pub ueid: String,
    /// Common name of the leaf's issuer, e.g. `GH100 A01 GSP BROM`: NVIDIA's `hwmodel`.
    pub hwmodel: String,
    /// Driver version (opaque type 3), e.g. `550.90.07`.
    pub driver_version: Option<String>,
    /// VBIOS version (opaque type 6), e.g. `96.00.9F.00.01`.
    pub vbios_version: Option<String>,
    /// Project (opaque type 17), e.g. `1010`.
    pub project: Option<String>,
    /// Project SKU (opaque type 18), e.g. `0200`.
    pub project_sku: Option<String>,
    /// Chip SKU (opaque type 15), e.g. `882`.
    pub chip_sku: Option<String>,
    /// Chip info (opaque type 35), Blackwell driver RIM id part.
    pub chip_info: Option<String>,
    /// Opaque data version (opaque type 34).
    pub opaque_data_version: Option<u16>,
    /// CC topology (opaque type 36, read when the opaque data version is at least 1).
    pub feature_flag: Option<FeatureFlag>,
    /// NVDEC0 status (opaque type 11): `aa` enabled, `55` disabled.
    pub nvdec0_status: Option<String>,
    /// Protected PCIe status (opaque type 21): `aa` enabled, `55` disabled.
    pub protected_pcie_status: Option<String>,
    /// The request nonce equals the verifier's nonce (always true in a verified report).
    pub nonce_ok: bool,
    /// FWID (opaque type 20, hex), checked equal to the leaf certificate's FWID; `None` when the
    /// report has no FWID (drivers before 550), in which case `fwid_checked` is false.
    pub fwid: Option<String>,
    /// Whether the report's FWID was compared with the leaf certificate's.
    pub fwid_checked: bool,
    /// Measurement digests (hex), in SPDM index order; entry `i` is SPDM index `i + 1` when
    /// indices run contiguously from 1, as on every NVIDIA GPU seen. The indices themselves are
    /// in `measurement_indices`.
    pub measurements: Vec<String>,
    /// SPDM index of each entry of `measurements`.
    pub measurement_indices: Vec<u8>,
}

impl GpuClaims {
    pub(crate) fn new(report: &SpdmReport, chain: &VerifiedChain, fwid_checked: bool) -> Self {
        let opaque = report.opaque();
        Self {
            arch: chain.arch,
            // Without the DER sign byte, so that it reads as the subject's serialNumber does.
            ueid: hex::encode(
                chain
                    .leaf_serial
                    .iter()
                    .skip_while(|b| **b == 0)
                    .copied()
                    .collect::<Vec<u8>>(),
            ),
            hwmodel: chain.hwmodel.clone(),
            driver_version: opaque.driver_version(),
            vbios_version: opaque.vbios_version(),
            project: opaque.project(),
            project_sku: opaque.project_sku(),
            chip_sku: opaque.chip_sku(),
            chip_info: opaque.chip_info(),
            opaque_data_version: opaque.opaque_data_version(),
            feature_flag: opaque.feature_flag(),
            nvdec0_status: opaque.nvdec0_status().map(|b| hex::encode([b])),
            protected_pcie_status: opaque.protected_pcie_status().map(|b| hex::encode([b])),
            nonce_ok: true,
            fwid: opaque.fwid().map(hex::encode),
            fwid_checked,
            measurements: report
                .measurements()
                .iter()
                .map(|b| hex::encode(b.digest))
                .collect(),
            measurement_indices: report.measurements().iter().map(|b| b.index).collect(),
        }
    }
}
