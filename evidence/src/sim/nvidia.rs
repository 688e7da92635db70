//! Simulated NVIDIA GPU confidential-computing evidence in the real byte formats (issue #5).
//!
//! [`DeviceHierarchy`] is a generated stand-in for NVIDIA's device identity PKI of one GPU:
//! a self-signed root ("Warden Simulated NVIDIA Device Identity CA"), the per-architecture
//! Identity CA and Provisioner ICA, and the GPU's GSP BROM CA, all ECDSA P-384 with SHA-384,
//! with the DN layouts, extensions, CA flags and validity of NVIDIA's real chains. A
//! [`SimGpu`] built from it and a [`GpuProfile`] holds the GSP FMC LF leaf (the attestation
//! key, carrying the FWID extension of its architecture) and produces attestation reports
//! ([`SimGpu::report`]) byte for byte in the layout NVML returns: the SPDM 1.1
//! GET_MEASUREMENTS request, the MEASUREMENTS response with 64 measurement blocks, a response
//! nonce, NVIDIA's opaque-data TLVs in the real order, and the leaf's raw P-384 signature over
//! SHA-384 of everything before it. [`SimGpu::chain_pem`] is the 5-certificate
//! `attestationCertChain` (leaf first, root last).
//!
//! Everything is deterministic: CA keys come from a ChaCha20 stream seeded by the
//! architecture and a seed, the leaf keys from the seed, the architecture and the FWID (a real
//! GPU derives its FMC LF key from its secrets and the firmware it booted), the response nonce
//! from the seed and the request nonce, and every signature is RFC 6979 deterministic.
//!
//! The shapes were copied from `shared/vectors/nvidia/gpu/hopper_580.159.03_*` and
//! `blackwell_575.32_*`; the tests compare layouts with them field by field.

mod cert;
mod ocsp;
mod report;
mod rim;
#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{Signature, SigningKey};
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha384};
use x509_cert::der::{ErrorKind, Tag};
use x509_cert::name::RdnSequence;
use zeroize::Zeroizing;

use self::cert::{CertFields, Issuer, Role};
pub use self::ocsp::{OcspFaults, OcspSpec, SimCertStatus, SimOcspResponder};
pub use self::rim::{
    RIM_CA_CN, RIM_L3_CN, RIM_ROOT_CN, RIM_SIGNER_CN, RimEntry, RimFaults, RimHierarchy,
    RimHierarchyExport, RimPairFaults, RimProfile, SIGNER_NOT_AFTER, SIGNER_NOT_BEFORE, SimRims,
    rim_owner,
};
use super::snp::{SHARED_SEED, SimError};
use crate::UnixTime;

/// Subject CN of the simulated root (NVIDIA's is "NVIDIA Device Identity CA").
pub const ROOT_CA_CN: &str = "Warden Simulated NVIDIA Device Identity CA";

/// Length of the SPDM GET_MEASUREMENTS request at the start of a report.
pub const REQUEST_LEN: usize = 37;
/// Length of the raw ECDSA P-384 signature (`r || s`) at the end of a report.
pub const SIGNATURE_LEN: usize = 96;
/// Number of measurement blocks NVIDIA GPUs report.
pub const MEASUREMENT_BLOCKS: usize = 64;

/// 9999-12-31T23:59:59Z: notAfter of every NVIDIA device certificate.
const NOT_AFTER: UnixTime = UnixTime(253_402_300_799);
/// 2021-11-05: notBefore of NVIDIA's root.
const ROOT_NOT_BEFORE: UnixTime = UnixTime(1_636_070_400);
/// 2022-01-12: notBefore of the GH100 Identity CA.
const IDENTITY_NOT_BEFORE: UnixTime = UnixTime(1_641_945_600);
/// 2022-03-01: notBefore of the GH100 Provisioner ICA.
const HOPPER_ICA_NOT_BEFORE: UnixTime = UnixTime(1_646_092_800);
/// 2020-10-17: notBefore of the GH100 BROM and FMC LF certificates.
const HOPPER_DEVICE_NOT_BEFORE: UnixTime = UnixTime(1_602_892_800);
/// 2023-06-20: notBefore of the GB100 Provisioner ICA, BROM and FMC LF certificates.
const BLACKWELL_NOT_BEFORE: UnixTime = UnixTime(1_687_219_200);

/// Opaque-data TLV types (NVIDIA nvtrust `spdm_msrt_resp_msg.py` `OPAQUE_DATA_TYPES`).
pub mod opaque {
    /// NUL-terminated driver version, e.g. `580.159.03\0`.
    pub const DRIVER_VERSION: u16 = 3;
    /// 8 bytes of GPU information.
    pub const GPU_INFO: u16 = 4;
    /// VBIOS version, 8 bytes.
    pub const VBIOS_VERSION: u16 = 6;
    /// NVDEC0 status: `0xAA` enabled, `0x55` disabled.
    pub const NVDEC0_STATUS: u16 = 11;
    /// Measurement counters, 64 × u32 LE.
    pub const MSRSCNT: u16 = 12;
    /// CPR information, 4 bytes.
    pub const CPRINFO: u16 = 13;
    /// Board ID, u32 LE.
    pub const BOARD_ID: u16 = 14;
    /// Chip SKU, 9 bytes NUL-padded ASCII.
    pub const CHIP_SKU: u16 = 15;
    /// Chip SKU modifier, 5 bytes NUL-padded ASCII.
    pub const CHIP_SKU_MOD: u16 = 16;
    /// Project, 5 bytes NUL-padded ASCII.
    pub const PROJECT: u16 = 17;
    /// Project SKU, 5 bytes NUL-padded ASCII.
    pub const PROJECT_SKU: u16 = 18;
    /// Project SKU modifier, 2 bytes.
    pub const PROJECT_SKU_MOD: u16 = 19;
    /// FWID, the SHA-384 that the leaf certificate's FWID extension carries.
    pub const FWID: u16 = 20;
    /// Protected PCIe status: `0x55` / `0xAA`.
    pub const PROTECTED_PCIE_STATUS: u16 = 21;
    /// System enable status, 2 bytes (Blackwell).
    pub const SYS_ENABLE_STATUS: u16 = 33;
    /// Opaque-data version, u16 LE.
    pub const OPAQUE_DATA_VERSION: u16 = 34;
    /// NUL-terminated chip information (Blackwell driver RIM id).
    pub const CHIP_INFO: u16 = 35;
    /// Feature flag, u16 LE: 0 SPT, 1 MPT, 2 PPCIE.
    pub const FEATURE_FLAG: u16 = 36;
}

/// The GPU architecture whose chain and report shapes are simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Arch {
    /// Hopper (GH100): FWID in the leaf's extension 2.23.133.5.4.1.
    #[default]
    Hopper,
    /// Blackwell (GB100): FWID in the leaf's DICE TcbInfo extension 2.23.133.5.4.1.1.
    Blackwell,
}

impl Arch {
    /// The chip name in NVIDIA's certificate names: `GH100` or `GB100`.
    pub fn chip(self) -> &'static str {
        match self {
            Self::Hopper => "GH100",
            Self::Blackwell => "GB100",
        }
    }

    fn ica_cn(self) -> String {
        match self {
            Self::Hopper => "Warden Simulated NVIDIA GH100 Provisioner ICA 1".to_owned(),
            Self::Blackwell => "Warden Simulated NVIDIA GB100 Provisioner ICA 00000".to_owned(),
        }
    }

    fn identity_cn(self) -> String {
        format!("Warden Simulated NVIDIA {} Identity", self.chip())
    }

    fn brom_cn(self) -> String {
        format!("{} A01 GSP BROM", self.chip())
    }

    fn leaf_cn(self) -> String {
        format!("{} A01 GSP FMC LF", self.chip())
    }

    fn ica_not_before(self) -> UnixTime {
        match self {
            Self::Hopper => HOPPER_ICA_NOT_BEFORE,
            Self::Blackwell => BLACKWELL_NOT_BEFORE,
        }
    }

    fn device_not_before(self) -> UnixTime {
        match self {
            Self::Hopper => HOPPER_DEVICE_NOT_BEFORE,
            Self::Blackwell => BLACKWELL_NOT_BEFORE,
        }
    }
}

/// A CA certificate with its key.
struct CaCert {
    der: Vec<u8>,
    name: RdnSequence,
    key: SigningKey,
}

impl CaCert {
    fn issuer(&self) -> Issuer<'_> {
        Issuer {
            name: &self.name,
            key: &self.key,
        }
    }

    fn import(der: &[u8], key: &[u8]) -> Result<Self, SimError> {
        let key = SigningKey::from_pkcs8_der(key)
            .map_err(|_| SimError::Der(ErrorKind::Value { tag: Tag::Sequence }.into()))?;
        if !cert::has_key(der, &key)? {
            return Err(SimError::Der(
                ErrorKind::Value {
                    tag: Tag::BitString,
                }
                .into(),
            ));
        }
        Ok(Self {
            der: der.to_vec(),
            name: cert::subject_of(der)?,
            key,
        })
    }

    fn export_key(&self) -> Result<Zeroizing<Vec<u8>>, SimError> {
        self.key
            .to_pkcs8_der()
            .map(|doc| Zeroizing::new(doc.as_bytes().to_vec()))
            .map_err(|_| SimError::Der(ErrorKind::Failed.into()))
    }
}

/// A generated NVIDIA device PKI for one GPU of one architecture: root, Identity CA,
/// Provisioner ICA and GSP BROM, with their private keys. [`DeviceHierarchy::gpu`] issues the
/// GSP FMC LF leaf.
pub struct DeviceHierarchy {
    arch: Arch,
    seed: u64,
    root: CaCert,
    identity: CaCert,
    ica: CaCert,
    brom: CaCert,
}

impl fmt::Debug for DeviceHierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No key material.
        f.debug_struct("DeviceHierarchy")
            .field("arch", &self.arch)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl DeviceHierarchy {
    /// Generates the hierarchy of `arch` for `seed`: the root (self-signed), the Identity CA
    /// (signed by the root), the Provisioner ICA (by the Identity CA) and the GSP BROM (by the
    /// ICA), in NVIDIA's shapes.
    //
    // The only inputs are fixed names and dates and freshly generated keys, which encode and
    // sign without error (the tests cover both architectures), so a failure here is a bug in
    // this module rather than a condition a caller could handle.
    #[allow(clippy::expect_used)]
    pub fn generate(arch: Arch, seed: u64) -> Self {
        Self::try_generate(arch, seed).expect("generating a fixed NVIDIA hierarchy cannot fail")
    }

    /// The hierarchy of `arch` for [`SHARED_SEED`], generated once per process.
    pub fn shared(arch: Arch) -> &'static Self {
        static HOPPER: OnceLock<DeviceHierarchy> = OnceLock::new();
        static BLACKWELL: OnceLock<DeviceHierarchy> = OnceLock::new();
        let cell = match arch {
            Arch::Hopper => &HOPPER,
            Arch::Blackwell => &BLACKWELL,
        };
        cell.get_or_init(|| Self::generate(arch, SHARED_SEED))
    }

    fn try_generate(arch: Arch, seed: u64) -> Result<Self, SimError> {
        let mut rng = derive_rng("hierarchy", &[arch.chip().as_bytes(), &seed.to_le_bytes()]);
        let root_key = SigningKey::random(&mut rng);
        let identity_key = SigningKey::random(&mut rng);
        let ica_key = SigningKey::random(&mut rng);
        let brom_key = SigningKey::random(&mut rng);
        let root_name = cert::name_cn_o(ROOT_CA_CN, "NVIDIA")?;
        let root = Self::ca(
            arch,
            Role::Root,
            root_name,
            ROOT_NOT_BEFORE,
            serial16(&mut rng),
            root_key,
            None,
        )?;
        let identity_name = cert::name_cn_o(&arch.identity_cn(), "NVIDIA Corporation")?;
        let identity = Self::ca(
            arch,
            Role::Identity,
            identity_name,
            IDENTITY_NOT_BEFORE,
            serial16(&mut rng),
            identity_key,
            Some(&root),
        )?;
        let ica_name = cert::name_cn_o_c(&arch.ica_cn())?;
        let ica = Self::ca(
            arch,
            Role::ProvisionerIca,
            ica_name,
            arch.ica_not_before(),
            serial16(&mut rng),
            ica_key,
            Some(&identity),
        )?;
        // The BROM serial is a 9-byte device identifier (`41E23D711E1C4FBFAC` on the sample
        // H100), repeated as the subject's serialNumber attribute.
        let mut brom_serial = [0u8; 9];
        rng.fill_bytes(&mut brom_serial);
        positive(&mut brom_serial);
        let brom_name = cert::name_device(&hex::encode_upper(brom_serial), &arch.brom_cn())?;
        let brom = Self::ca(
            arch,
            Role::Brom,
            brom_name,
            arch.device_not_before(),
            brom_serial.to_vec(),
            brom_key,
            Some(&ica),
        )?;
        Ok(Self {
            arch,
            seed,
            root,
            identity,
            ica,
            brom,
        })
    }

    fn ca(
        arch: Arch,
        role: Role,
        subject: RdnSequence,
        not_before: UnixTime,
        serial: Vec<u8>,
        key: SigningKey,
        issuer: Option<&CaCert>,
    ) -> Result<CaCert, SimError> {
        let fields = CertFields {
            role,
            serial,
            subject: subject.clone(),
            not_before,
            not_after: NOT_AFTER,
            extra_extensions: Vec::new(),
        };
        let der = cert::issue(arch, fields, &key, issuer.map(CaCert::issuer).as_ref())?;
        Ok(CaCert {
            der,
            name: subject,
            key,
        })
    }

    /// The hierarchy's simulated OCSP responder: a delegated responder certificate issued by
    /// the root, its key derived from the root certificate.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] if encoding fails.
    pub fn ocsp_responder(&self) -> Result<SimOcspResponder, SimError> {
        SimOcspResponder::new("Device", &self.root.der, &self.root.name, &self.root.key)
    }

    /// OCSP responses for the certificates of `gpu`'s chain that are checked by OCSP
    /// ([`crate::nvidia::ocsp::DEVICE_CHAIN_OCSP`]: BROM, Provisioner ICA, Identity CA), in
    /// that order, as `spec` says: what an agent staples to the evidence.
    ///
    /// # Errors
    ///
    /// As [`SimOcspResponder::respond`].
    pub fn staple(&self, gpu: &SimGpu, spec: &OcspSpec) -> Result<Vec<Vec<u8>>, SimError> {
        let responder = self.ocsp_responder()?;
        let chain = gpu.chain_der();
        crate::nvidia::ocsp::DEVICE_CHAIN_OCSP
            .filter_map(|i| Some((chain.get(i)?, chain.get(i.checked_add(1)?)?)))
            .map(|(cert, issuer)| responder.respond(cert, issuer, spec))
            .collect()
    }

    /// The architecture whose chain this mimics.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// The seed the hierarchy was generated from; leaf keys derive from it.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The root certificate (DER), self-signed: the trust anchor a verifier pins in place of
    /// NVIDIA's "NVIDIA Device Identity CA".
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// The root certificate as PEM.
    pub fn root_pem(&self) -> String {
        pem_certificate(&self.root.der)
    }

    /// The Identity CA certificate (DER), signed by the root.
    pub fn identity_der(&self) -> &[u8] {
        &self.identity.der
    }

    /// The Provisioner ICA certificate (DER), signed by the Identity CA.
    pub fn provisioner_ica_der(&self) -> &[u8] {
        &self.ica.der
    }

    /// The GSP BROM certificate (DER), signed by the Provisioner ICA; issuer of the leaf.
    pub fn brom_der(&self) -> &[u8] {
        &self.brom.der
    }

    /// A GPU of this hierarchy with `profile`: issues its GSP FMC LF leaf (signed by the BROM)
    /// carrying `profile.fwid` in the FWID extension of `profile.arch`.
    ///
    /// The leaf key and the FMC key named in the Hopper extension derive from the seed,
    /// `profile.arch` and `profile.fwid`. A profile whose `arch` differs from the hierarchy's
    /// gives a leaf of that architecture under CAs of the other: a deliberately odd chain.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] if a value cannot be encoded, which does not happen for the fixed
    /// names used here.
    pub fn gpu(&self, profile: GpuProfile) -> Result<SimGpu, SimError> {
        let arch = profile.arch;
        let mut rng = derive_rng(
            "leaf",
            &[
                arch.chip().as_bytes(),
                self.arch.chip().as_bytes(),
                &self.seed.to_le_bytes(),
                &profile.fwid,
            ],
        );
        let leaf_key = SigningKey::random(&mut rng);
        let fmc_key = SigningKey::random(&mut rng);
        let mut device_id = [0u8; 8];
        rng.fill_bytes(&mut device_id);
        let serial = cert::leaf_serial(&leaf_key)?;
        let subject = cert::name_device(&hex::encode_upper(&serial), &arch.leaf_cn())?;
        let san = format!("NVIDIA:{}:{}", arch.chip(), hex::encode_upper(device_id));
        let fields = CertFields {
            role: Role::Leaf,
            serial,
            subject,
            not_before: arch.device_not_before(),
            not_after: NOT_AFTER,
            extra_extensions: vec![
                cert::leaf_san(&san)?,
                cert::fwid_extension(arch, &profile.fwid, &fmc_key)?,
            ],
        };
        let leaf_der = cert::issue(arch, fields, &leaf_key, Some(&self.brom.issuer()))?;
        Ok(SimGpu {
            profile,
            seed: self.seed,
            chain: [
                leaf_der,
                self.brom.der.clone(),
                self.ica.der.clone(),
                self.identity.der.clone(),
                self.root.der.clone(),
            ],
            leaf_key,
        })
    }

    /// Everything needed to rebuild this hierarchy without key generation: architecture,
    /// seed, the four CA certificates and their P-384 keys (PKCS#8 DER, zeroised on drop).
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] if a key cannot be encoded, which does not happen for keys generated
    /// or imported here.
    pub fn export(&self) -> Result<DeviceHierarchyExport, SimError> {
        Ok(DeviceHierarchyExport {
            arch: self.arch,
            seed: self.seed,
            root_der: self.root.der.clone(),
            identity_der: self.identity.der.clone(),
            ica_der: self.ica.der.clone(),
            brom_der: self.brom.der.clone(),
            root_key: self.root.export_key()?,
            identity_key: self.identity.export_key()?,
            ica_key: self.ica.export_key()?,
            brom_key: self.brom.export_key()?,
        })
    }

    /// Rebuilds a hierarchy from [`DeviceHierarchy::export`]'s output. GPUs of the result
    /// are those of the exported hierarchy (leaf keys derive from the seed), so their reports
    /// are identical.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`]: the decoding error of a certificate that is not DER, or (as
    /// `ErrorKind::Value`) a key that is not PKCS#8 P-384 or does not match its certificate.
    pub fn import(export: &DeviceHierarchyExport) -> Result<Self, SimError> {
        Ok(Self {
            arch: export.arch,
            seed: export.seed,
            root: CaCert::import(&export.root_der, &export.root_key)?,
            identity: CaCert::import(&export.identity_der, &export.identity_key)?,
            ica: CaCert::import(&export.ica_der, &export.ica_key)?,
            brom: CaCert::import(&export.brom_der, &export.brom_key)?,
        })
    }
}

/// A [`DeviceHierarchy`] in portable form (see [`DeviceHierarchy::export`]). Serde writes
/// byte fields as lower-case hex strings. Its `Debug` output shows no key material.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceHierarchyExport {
    /// The architecture.
    pub arch: Arch,
    /// The seed (leaf keys derive from it).
    pub seed: u64,
    /// Root certificate, DER.
    #[serde(with = "super::hex_bytes")]
    pub root_der: Vec<u8>,
    /// Identity CA certificate, DER.
    #[serde(with = "super::hex_bytes")]
    pub identity_der: Vec<u8>,
    /// Provisioner ICA certificate, DER.
    #[serde(with = "super::hex_bytes")]
    pub ica_der: Vec<u8>,
    /// GSP BROM certificate, DER.
    #[serde(with = "super::hex_bytes")]
    pub brom_der: Vec<u8>,
    /// Root private key, PKCS#8 DER.
    #[serde(with = "super::hex_secret")]
    pub root_key: Zeroizing<Vec<u8>>,
    /// Identity CA private key, PKCS#8 DER.
    #[serde(with = "super::hex_secret")]
    pub identity_key: Zeroizing<Vec<u8>>,
    /// Provisioner ICA private key, PKCS#8 DER.
    #[serde(with = "super::hex_secret")]
    pub ica_key: Zeroizing<Vec<u8>>,
    /// GSP BROM private key, PKCS#8 DER.
    #[serde(with = "super::hex_secret")]
    pub brom_key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for DeviceHierarchyExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceHierarchyExport")
            .field("arch", &self.arch)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// What a simulated GPU reports: versions, identifiers, measurements and the FWID.
///
/// [`Default`] is [`GpuProfile::hopper`]. Optional TLVs are written when `Some`; the order of
/// the opaque data is NVIDIA's (see [`SimGpu::report`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuProfile {
    /// Architecture: chain names and FWID extension form.
    pub arch: Arch,
    /// Driver version (TLV 3, written NUL-terminated).
    pub driver_version: String,
    /// VBIOS version as the 8 bytes of TLV 6 (`0074009620000000` is 96.00.74.00.20).
    pub vbios_version: [u8; 8],
    /// Board ID (TLV 14).
    pub board_id: u32,
    /// Chip SKU (TLV 15, up to 9 ASCII characters).
    pub chip_sku: String,
    /// Chip SKU modifier (TLV 16, up to 5 ASCII characters).
    pub chip_sku_mod: String,
    /// Project (TLV 17, up to 5 ASCII characters).
    pub project: String,
    /// Project SKU (TLV 18, up to 5 ASCII characters).
    pub project_sku: String,
    /// Project SKU modifier (TLV 19).
    pub project_sku_mod: [u8; 2],
    /// GPU information (TLV 4).
    pub gpu_info: [u8; 8],
    /// Measurement digests; block `i + 1` holds `measurements[i]` (64 on real GPUs).
    pub measurements: Vec<[u8; 48]>,
    /// Measurement counters (TLV 12, one u32 per block; 64 on real GPUs).
    pub measurement_counts: Vec<u32>,
    /// CPR information (TLV 13).
    pub cpr_info: [u8; 4],
    /// NVDEC0 status (TLV 11): `0x55` disabled, `0xAA` enabled.
    pub nvdec0_status: u8,
    /// The FWID in the leaf's extension and, when `fwid_tlv` is set, TLV 20.
    pub fwid: [u8; 48],
    /// Whether the report carries TLV 20 (drivers before 550 do not).
    pub fwid_tlv: bool,
    /// Protected PCIe status (TLV 21, Hopper with 580+ drivers).
    pub ppcie_status: Option<u8>,
    /// System enable status (TLV 33, Blackwell).
    pub sys_enable_status: Option<[u8; 2]>,
    /// Opaque-data version (TLV 34).
    pub opaque_data_version: Option<u16>,
    /// Feature flag (TLV 36): 0 SPT, 1 MPT, 2 PPCIE.
    pub feature_flag: Option<u16>,
    /// Further TLVs, written after all others (for example CHIP_INFO, TLV 35).
    pub extra_opaque: Vec<(u16, Vec<u8>)>,
}

impl Default for GpuProfile {
    fn default() -> Self {
        Self::hopper()
    }
}

impl GpuProfile {
    /// An H100 shaped like the 580.159.03 sample: driver 580.159.03, VBIOS 96.00.74.00.20,
    /// project 1010/0205/862, opaque-data version 1, feature flag 0 (SPT), 64 blocks of which
    /// the sample's active ones hold simulated digests.
    pub fn hopper() -> Self {
        let measurements = default_measurements(Arch::Hopper);
        Self {
            arch: Arch::Hopper,
            driver_version: "580.159.03".to_owned(),
            vbios_version: [0x00, 0x74, 0x00, 0x96, 0x20, 0x00, 0x00, 0x00],
            board_id: 0x04A1,
            chip_sku: "862".to_owned(),
            chip_sku_mod: "0".to_owned(),
            project: "1010".to_owned(),
            project_sku: "0205".to_owned(),
            project_sku_mod: [0, 0],
            gpu_info: [0x80, 0x01, 0, 0, 0, 0, 0, 0],
            measurement_counts: default_counts(&measurements),
            measurements,
            cpr_info: [0x00, 0xC0, 0x01, 0x00],
            nvdec0_status: 0x55,
            fwid: default_fwid(Arch::Hopper),
            fwid_tlv: true,
            ppcie_status: Some(0x55),
            sys_enable_status: None,
            opaque_data_version: Some(1),
            feature_flag: Some(0),
            extra_opaque: Vec::new(),
        }
    }

    /// A GB100 shaped like the 575.32 sample: driver 575.32, VBIOS 97.00.88.00.0F, project
    /// G525/0220/886, system enable status `0707`, opaque-data version 0, no feature flag.
    pub fn blackwell() -> Self {
        let measurements = default_measurements(Arch::Blackwell);
        Self {
            arch: Arch::Blackwell,
            driver_version: "575.32".to_owned(),
            vbios_version: [0x00, 0x88, 0x00, 0x97, 0x0F, 0x00, 0x00, 0x00],
            board_id: 0x066F,
            chip_sku: "886".to_owned(),
            chip_sku_mod: "0".to_owned(),
            project: "G525".to_owned(),
            project_sku: "0220".to_owned(),
            project_sku_mod: [0x30, 0],
            gpu_info: [0xA0, 0x01, 0, 0, 0, 0, 0, 0],
            measurement_counts: default_counts(&measurements),
            measurements,
            cpr_info: [0x00, 0x00, 0x04, 0x00],
            nvdec0_status: 0x55,
            fwid: default_fwid(Arch::Blackwell),
            fwid_tlv: true,
            ppcie_status: None,
            sys_enable_status: Some([0x07, 0x07]),
            opaque_data_version: Some(0),
            feature_flag: None,
            extra_opaque: Vec::new(),
        }
    }

    /// The profile of `arch`: [`GpuProfile::hopper`] or [`GpuProfile::blackwell`].
    pub fn for_arch(arch: Arch) -> Self {
        match arch {
            Arch::Hopper => Self::hopper(),
            Arch::Blackwell => Self::blackwell(),
        }
    }

    /// The opaque-data TLVs in NVIDIA's order: VBIOS, board ID, chip SKU, chip SKU mod,
    /// project, project SKU, project SKU mod, driver, GPU info, MSRSCNT, CPRINFO, NVDEC0,
    /// FWID, protected PCIe, system enable, opaque-data version, feature flag, extras.
    fn opaque_fields(&self) -> Result<Vec<(u16, Vec<u8>)>, SimError> {
        let mut counts = Vec::with_capacity(self.measurement_counts.len() * 4);
        for count in &self.measurement_counts {
            counts.extend_from_slice(&count.to_le_bytes());
        }
        let mut fields = vec![
            (opaque::VBIOS_VERSION, self.vbios_version.to_vec()),
            (opaque::BOARD_ID, self.board_id.to_le_bytes().to_vec()),
            (opaque::CHIP_SKU, report::padded(&self.chip_sku, 9)?),
            (opaque::CHIP_SKU_MOD, report::padded(&self.chip_sku_mod, 5)?),
            (opaque::PROJECT, report::padded(&self.project, 5)?),
            (opaque::PROJECT_SKU, report::padded(&self.project_sku, 5)?),
            (opaque::PROJECT_SKU_MOD, self.project_sku_mod.to_vec()),
            (
                opaque::DRIVER_VERSION,
                report::nul_terminated(&self.driver_version),
            ),
            (opaque::GPU_INFO, self.gpu_info.to_vec()),
            (opaque::MSRSCNT, counts),
            (opaque::CPRINFO, self.cpr_info.to_vec()),
            (opaque::NVDEC0_STATUS, vec![self.nvdec0_status]),
        ];
        if self.fwid_tlv {
            fields.push((opaque::FWID, self.fwid.to_vec()));
        }
        if let Some(status) = self.ppcie_status {
            fields.push((opaque::PROTECTED_PCIE_STATUS, vec![status]));
        }
        if let Some(status) = self.sys_enable_status {
            fields.push((opaque::SYS_ENABLE_STATUS, status.to_vec()));
        }
        if let Some(version) = self.opaque_data_version {
            fields.push((opaque::OPAQUE_DATA_VERSION, version.to_le_bytes().to_vec()));
        }
        if let Some(flag) = self.feature_flag {
            fields.push((opaque::FEATURE_FLAG, flag.to_le_bytes().to_vec()));
        }
        fields.extend(self.extra_opaque.iter().cloned());
        Ok(fields)
    }
}

/// The VBIOS version string of TLV 6's 8 bytes, as NVML prints it: bytes 3, 2, 1, 0 and 4 as
/// upper-case hex pairs joined by dots (`0074009620000000` is `96.00.74.00.20`), following
/// nvtrust's `format_vbios_version`.
pub fn format_vbios_version(bytes: &[u8; 8]) -> String {
    let [b0, b1, b2, b3, b4, ..] = *bytes;
    format!("{b3:02X}.{b2:02X}.{b1:02X}.{b0:02X}.{b4:02X}")
}

/// The inverse of [`format_vbios_version`]: `96.00.74.00.20` gives `0074009620000000`.
/// `None` unless the text is five dot-separated hex pairs.
pub fn vbios_version_bytes(text: &str) -> Option<[u8; 8]> {
    let mut pairs = text.split('.').map(|pair| {
        (pair.len() == 2)
            .then(|| u8::from_str_radix(pair, 16).ok())
            .flatten()
    });
    let mut next = || pairs.next().flatten();
    let (p0, p1, p2, p3, p4) = (next()?, next()?, next()?, next()?, next()?);
    if pairs.next().is_some() {
        return None;
    }
    Some([p3, p2, p1, p0, p4, 0, 0, 0])
}

/// The default FWID of `arch`: SHA-384 of a fixed label (a stand-in for the FMC's digest).
pub fn default_fwid(arch: Arch) -> [u8; 48] {
    Sha384::new_with_prefix(b"warden-sim-nvidia/fwid/")
        .chain_update(arch.chip())
        .finalize()
        .into()
}

/// Block indices (1-based) that hold non-zero digests in the real 580.159.03 H100 report.
const HOPPER_ACTIVE_BLOCKS: [usize; 27] = [
    2, 3, 4, 5, 6, 7, 8, 10, 12, 22, 23, 26, 27, 28, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42,
];

/// Block indices (1-based) that hold non-zero digests in the real 575.32 GB100 report.
const BLACKWELL_ACTIVE_BLOCKS: [usize; 31] = [
    3, 4, 5, 7, 9, 12, 13, 14, 15, 16, 18, 19, 20, 21, 22, 23, 26, 27, 28, 30, 31, 32, 33, 34, 36,
    37, 38, 39, 40, 41, 42,
];

/// 64 digests: SHA-384 of a label, the architecture and the index at the blocks that are
/// active in the real report of `arch`, zeros elsewhere.
pub fn default_measurements(arch: Arch) -> Vec<[u8; 48]> {
    let active: &[usize] = match arch {
        Arch::Hopper => &HOPPER_ACTIVE_BLOCKS,
        Arch::Blackwell => &BLACKWELL_ACTIVE_BLOCKS,
    };
    (1..=MEASUREMENT_BLOCKS)
        .map(|index| {
            if active.contains(&index) {
                Sha384::new_with_prefix(b"warden-sim-nvidia/measurement/")
                    .chain_update(arch.chip())
                    .chain_update((index as u64).to_le_bytes())
                    .finalize()
                    .into()
            } else {
                [0; 48]
            }
        })
        .collect()
}

/// Counter 1 for every non-zero digest, 0 otherwise.
fn default_counts(measurements: &[[u8; 48]]) -> Vec<u32> {
    measurements
        .iter()
        .map(|digest| u32::from(digest.iter().any(|&b| b != 0)))
        .collect()
}

/// Deliberate defects for negative tests; [`Default`] has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReportFaults {
    /// Flip a bit of the signature's `r`, so that it no longer verifies.
    pub corrupt_signature: bool,
    /// Put this nonce in the request instead of the caller's (the signature stays valid).
    pub request_nonce: Option<[u8; 32]>,
    /// Repeat the first TLV of this type right after it (no effect if the type is absent).
    pub duplicate_opaque: Option<u16>,
    /// Write this FWID in TLV 20 instead of the profile's, so it differs from the leaf's.
    pub fwid_tlv: Option<[u8; 48]>,
    /// Bytes appended after the signature (not signed), which a strict parser rejects.
    pub trailing: Vec<u8>,
}

/// A simulated GPU: its GSP FMC LF key and certificate chain, and its profile.
pub struct SimGpu {
    profile: GpuProfile,
    seed: u64,
    /// Leaf first, root last, as NVML's attestationCertChain.
    chain: [Vec<u8>; 5],
    leaf_key: SigningKey,
}

impl fmt::Debug for SimGpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No key material.
        f.debug_struct("SimGpu")
            .field("profile", &self.profile)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl SimGpu {
    /// The profile the GPU was built with.
    pub fn profile(&self) -> &GpuProfile {
        &self.profile
    }

    /// The GSP FMC LF leaf certificate (DER), whose key signs reports.
    pub fn leaf_der(&self) -> &[u8] {
        self.chain.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// The five certificates (DER), leaf first and the root last.
    pub fn chain_der(&self) -> &[Vec<u8>; 5] {
        &self.chain
    }

    /// The attestation certificate chain as NVML's `attestationCertChain` holds it: five PEM
    /// certificates, leaf first, the root included last, LF line endings.
    pub fn chain_pem(&self) -> String {
        self.chain.iter().map(|der| pem_certificate(der)).collect()
    }

    /// The attestation report for the verifier's `nonce`, as
    /// `nvmlDeviceGetConfComputeGpuAttestationReport` returns it.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] (`ErrorKind::Overflow`) if a profile field does not fit its length
    /// field: more than 255 blocks, a TLV over 65535 bytes, an over-long fixed-width string.
    pub fn report(&self, nonce: &[u8; 32]) -> Result<Vec<u8>, SimError> {
        self.report_with(nonce, &ReportFaults::default())
    }

    /// [`SimGpu::report`] with deliberate `faults`.
    ///
    /// # Errors
    ///
    /// As [`SimGpu::report`].
    pub fn report_with(
        &self,
        nonce: &[u8; 32],
        faults: &ReportFaults,
    ) -> Result<Vec<u8>, SimError> {
        let mut fields = self.profile.opaque_fields()?;
        if let Some(fwid) = faults.fwid_tlv {
            for (kind, value) in &mut fields {
                if *kind == opaque::FWID {
                    *value = fwid.to_vec();
                }
            }
        }
        if let Some(kind) = faults.duplicate_opaque
            && let Some(position) = fields.iter().position(|(k, _)| *k == kind)
            && let Some(field) = fields.get(position).cloned()
        {
            fields.insert(position + 1, field);
        }
        let opaque = report::opaque_data(&fields)?;
        let mut response_nonce = [0u8; 32];
        derive_rng(
            "response-nonce",
            &[
                self.profile.arch.chip().as_bytes(),
                &self.seed.to_le_bytes(),
                &self.profile.fwid,
                nonce,
            ],
        )
        .fill_bytes(&mut response_nonce);
        let request_nonce = faults.request_nonce.as_ref().unwrap_or(nonce);
        let mut out = report::unsigned_report(
            request_nonce,
            &self.profile.measurements,
            &response_nonce,
            &opaque,
        )?;
        let signature = self.signature(&out);
        let mut signature = signature.to_vec();
        if faults.corrupt_signature
            && let Some(first) = signature.first_mut()
        {
            *first ^= 0x01;
        }
        out.extend_from_slice(&signature);
        out.extend_from_slice(&faults.trailing);
        Ok(out)
    }

    /// `unsigned || signature`, the signature made by the leaf key over `unsigned` as over a
    /// report. Negative tests edit one field of [`SimGpu::report`]'s output (without its last
    /// [`SIGNATURE_LEN`] bytes) and re-sign it, so that only the edited field is wrong.
    pub fn sign_report(&self, unsigned: &[u8]) -> Vec<u8> {
        let mut out = unsigned.to_vec();
        out.extend_from_slice(&self.signature(unsigned));
        out
    }

    /// The raw ECDSA P-384/SHA-384 signature `r || s` (RFC 6979) of `message` by the leaf key.
    fn signature(&self, message: &[u8]) -> Vec<u8> {
        let signature: Signature = self.leaf_key.sign(message);
        signature.to_bytes().to_vec()
    }
}

/// Sets the top two bits of a big-endian serial to `01`: positive, and no leading zero byte.
fn positive(serial: &mut [u8]) {
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x3F) | 0x40;
    }
}

/// A 16-byte positive serial number, as NVIDIA's CA serials.
fn serial16(rng: &mut ChaCha20Rng) -> Vec<u8> {
    let mut serial = [0u8; 16];
    rng.fill_bytes(&mut serial);
    positive(&mut serial);
    serial.to_vec()
}

/// PEM of one certificate, 64-character lines, LF endings.
fn pem_certificate(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// A ChaCha20 stream determined by a label and length-prefixed parts.
fn derive_rng(label: &str, parts: &[&[u8]]) -> ChaCha20Rng {
    let mut hash = Sha256::new_with_prefix(b"warden-sim-nvidia/");
    hash.update(label.as_bytes());
    for part in parts {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    ChaCha20Rng::from_seed(hash.finalize().into())
}
