//! The SEV-SNP ATTESTATION_REPORT structure.
//!
//! AMD SEV Secure Nested Paging Firmware ABI Specification, publication 56860, revision 1.58,
//! Table 23 (ATTESTATION_REPORT) and Table 139 (ECDSA P-384 signature). Versions 2 to 5 share
//! one 1184-byte layout: version 3 adds the CPUID fields at 0x188-0x18A (version 4 changes
//! nothing in the layout), version 5 adds the mitigation vectors at 0x1F8-0x207. Everything else in the reserved ranges must be zero.

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::snp::{Product, SnpError, TcbVersion};

/// Size of an attestation report in bytes.
pub const REPORT_SIZE: usize = 0x4A0;
/// End of the signed range: the signature covers bytes `0x000..0x2A0`.
pub const SIGNED_LEN: usize = 0x2A0;

/// The raw report, field by field (56860 rev 1.58, Table 23). Multi-byte integers are little
/// endian. Read with zerocopy; never indexed by hand.
#[repr(C)]
#[derive(Clone, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub(crate) struct RawReport {
    pub(crate) version: U32,
    pub(crate) guest_svn: U32,
    pub(crate) policy: U64,
    pub(crate) family_id: [u8; 16],
    pub(crate) image_id: [u8; 16],
    pub(crate) vmpl: U32,
    pub(crate) signature_algo: U32,
    pub(crate) current_tcb: [u8; 8],
    pub(crate) platform_info: U64,
    pub(crate) key_info: U32,
    reserved_4c: [u8; 4],
    pub(crate) report_data: [u8; 64],
    pub(crate) measurement: [u8; 48],
    pub(crate) host_data: [u8; 32],
    pub(crate) id_key_digest: [u8; 48],
    pub(crate) author_key_digest: [u8; 48],
    pub(crate) report_id: [u8; 32],
    pub(crate) report_id_ma: [u8; 32],
    pub(crate) reported_tcb: [u8; 8],
    pub(crate) cpuid_fam_id: u8,
    pub(crate) cpuid_mod_id: u8,
    pub(crate) cpuid_step: u8,
    reserved_18b: [u8; 21],
    pub(crate) chip_id: [u8; 64],
    pub(crate) committed_tcb: [u8; 8],
    pub(crate) current_build: u8,
    pub(crate) current_minor: u8,
    pub(crate) current_major: u8,
    reserved_1eb: u8,
    pub(crate) committed_build: u8,
    pub(crate) committed_minor: u8,
    pub(crate) committed_major: u8,
    reserved_1ef: u8,
    pub(crate) launch_tcb: [u8; 8],
    pub(crate) launch_mit_vector: U64,
    pub(crate) current_mit_vector: U64,
    reserved_208: [u8; 0x98],
    pub(crate) signature_r: [u8; 72],
    pub(crate) signature_s: [u8; 72],
    reserved_330: [u8; 368],
}

const _: () = assert!(size_of::<RawReport>() == REPORT_SIZE);

/// GUEST POLICY bits (56860 rev 1.58, Table 9).
pub mod policy_bits {
    /// Bit 16: SMT is allowed.
    pub const SMT: u64 = 1 << 16;
    /// Bit 17: reserved, must be one.
    pub const RESERVED_ONE: u64 = 1 << 17;
    /// Bit 18: association with a migration agent is allowed.
    pub const MIGRATE_MA: u64 = 1 << 18;
    /// Bit 19: debugging is allowed.
    pub const DEBUG: u64 = 1 << 19;
    /// Bit 20: the guest may run on a single socket only.
    pub const SINGLE_SOCKET: u64 = 1 << 20;
    /// Bit 21: CXL may be populated with guest memory.
    pub const CXL_ALLOW: u64 = 1 << 21;
    /// Bit 22: AES-256-XTS memory encryption is required.
    pub const MEM_AES_256_XTS: u64 = 1 << 22;
    /// Bit 23: running power limit (RAPL) must be disabled.
    pub const RAPL_DIS: u64 = 1 << 23;
    /// Bit 24: ciphertext hiding for DRAM must be enabled.
    pub const CIPHERTEXT_HIDING_DRAM: u64 = 1 << 24;
    /// Bit 25: guest pages may not be swapped (page-swap commands disabled).
    pub const PAGE_SWAP_DISABLE: u64 = 1 << 25;
    /// Bits 63:26: must be zero.
    pub const MBZ: u64 = !((1 << 26) - 1);
}

/// PLATFORM_INFO bits (56860 rev 1.58, Table 24).
pub mod platform_info_bits {
    /// Bit 0: SMT is enabled.
    pub const SMT_EN: u64 = 1 << 0;
    /// Bit 1: TSME is enabled.
    pub const TSME_EN: u64 = 1 << 1;
    /// Bit 2: the platform uses ECC memory.
    pub const ECC_EN: u64 = 1 << 2;
    /// Bit 3: RAPL is disabled.
    pub const RAPL_DIS: u64 = 1 << 3;
    /// Bit 4: ciphertext hiding is enabled.
    pub const CIPHERTEXT_HIDING_EN: u64 = 1 << 4;
    /// Bit 5: the memory alias check (BadRAM mitigation) has completed.
    pub const ALIAS_CHECK_COMPLETE: u64 = 1 << 5;
    /// Bit 7: SEV-TIO is enabled.
    pub const TIO_EN: u64 = 1 << 7;
    /// Bit 6 and bits 63:8 are reserved. Unknown bits are rejected rather than ignored: a
    /// firmware that defines a new platform property needs a verifier that knows its meaning.
    pub const RESERVED: u64 = (1 << 6) | !((1 << 8) - 1);
}

/// A structurally valid SEV-SNP attestation report.
///
/// Parsing checks size, version and every reserved field that does not depend on the product.
/// TCB fields are decoded later, once the product is known ([`Report::tcb`]).
#[derive(Clone)]
pub struct Report {
    raw: Box<RawReport>,
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Report")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

/// One of the four TCB_VERSION fields of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TcbField {
    /// CURRENT_TCB (0x38).
    Current,
    /// REPORTED_TCB (0x180), the TCB the VCEK is derived from.
    Reported,
    /// COMMITTED_TCB (0x1E0).
    Committed,
    /// LAUNCH_TCB (0x1F0).
    Launch,
}

impl TcbField {
    fn name(self) -> &'static str {
        match self {
            Self::Current => "CURRENT_TCB",
            Self::Reported => "REPORTED_TCB",
            Self::Committed => "COMMITTED_TCB",
            Self::Launch => "LAUNCH_TCB",
        }
    }
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn reserved(ok: bool, field: &'static str, offset: usize) -> Result<(), SnpError> {
    if ok {
        Ok(())
    } else {
        Err(SnpError::ReservedNotZero { field, offset })
    }
}

impl Report {
    /// Parses and structurally validates a report: exact size, supported version, reserved
    /// fields zero, well-formed POLICY and KEY_INFO, VMPL in range.
    pub fn parse(bytes: &[u8]) -> Result<Self, SnpError> {
        let raw = RawReport::read_from_bytes(bytes)
            .map_err(|_| SnpError::ReportSize { got: bytes.len() })?;
        let report = Self { raw: Box::new(raw) };
        report.validate()?;
        Ok(report)
    }

    pub(crate) fn raw(&self) -> &RawReport {
        &self.raw
    }

    fn validate(&self) -> Result<(), SnpError> {
        let r = self.raw();
        let version = r.version.get();
        // Version 4 has the version 3 layout (virtee/sev treats them alike); firmware emits it.
        if !matches!(version, 2..=5) {
            return Err(SnpError::UnsupportedVersion(version));
        }
        let policy = r.policy.get();
        if policy & policy_bits::RESERVED_ONE == 0 {
            return Err(SnpError::MalformedPolicy {
                policy,
                reason: "reserved bit 17 must be one",
            });
        }
        if policy & policy_bits::MBZ != 0 {
            return Err(SnpError::MalformedPolicy {
                policy,
                reason: "bits 63:26 must be zero",
            });
        }
        let vmpl = r.vmpl.get();
        if vmpl > 3 {
            return Err(SnpError::InvalidVmpl(vmpl));
        }
        reserved(
            r.platform_info.get() & platform_info_bits::RESERVED == 0,
            "PLATFORM_INFO",
            0x40,
        )?;
        reserved(r.key_info.get() >> 5 == 0, "KEY_INFO[31:5]", 0x48)?;
        reserved(all_zero(&r.reserved_4c), "reserved", 0x4C)?;
        if version < 3 {
            let cpuid = [r.cpuid_fam_id, r.cpuid_mod_id, r.cpuid_step];
            reserved(all_zero(&cpuid), "reserved (CPUID in v3+)", 0x188)?;
        }
        reserved(all_zero(&r.reserved_18b), "reserved", 0x18B)?;
        reserved(r.reserved_1eb == 0, "reserved", 0x1EB)?;
        reserved(r.reserved_1ef == 0, "reserved", 0x1EF)?;
        if version < 5 {
            reserved(
                r.launch_mit_vector.get() == 0,
                "reserved (LAUNCH_MIT_VECTOR in v5)",
                0x1F8,
            )?;
            reserved(
                r.current_mit_vector.get() == 0,
                "reserved (CURRENT_MIT_VECTOR in v5)",
                0x200,
            )?;
        }
        reserved(all_zero(&r.reserved_208), "reserved", 0x208)?;
        reserved(
            all_zero(&r.reserved_330),
            "reserved (after signature)",
            0x330,
        )?;
        Ok(())
    }

    /// The report bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.raw.as_bytes()
    }

    /// The bytes covered by the signature (0x000-0x29F).
    pub fn signed_bytes(&self) -> &[u8] {
        let (signed, _) = self.as_bytes().split_at(SIGNED_LEN);
        signed
    }

    /// VERSION.
    pub fn version(&self) -> u32 {
        self.raw().version.get()
    }

    /// GUEST_SVN.
    pub fn guest_svn(&self) -> u32 {
        self.raw().guest_svn.get()
    }

    /// POLICY, the guest policy fixed at launch.
    pub fn policy(&self) -> u64 {
        self.raw().policy.get()
    }

    /// VMPL of the guest that requested the report.
    pub fn vmpl(&self) -> u32 {
        self.raw().vmpl.get()
    }

    /// SIGNATURE_ALGO.
    pub fn signature_algo(&self) -> u32 {
        self.raw().signature_algo.get()
    }

    /// PLATFORM_INFO.
    pub fn platform_info(&self) -> u64 {
        self.raw().platform_info.get()
    }

    /// KEY_INFO.AUTHOR_KEY_EN (bit 0).
    pub fn author_key_en(&self) -> bool {
        self.raw().key_info.get() & 1 != 0
    }

    /// KEY_INFO.MASK_CHIP_KEY (bit 1): the report is not signed.
    pub fn mask_chip_key(&self) -> bool {
        self.raw().key_info.get() & 2 != 0
    }

    /// KEY_INFO.SIGNING_KEY (bits 4:2): 0 VCEK, 1 VLEK, 7 none.
    pub fn signing_key(&self) -> u8 {
        // Three bits: the value is at most 7.
        ((self.raw().key_info.get() >> 2) & 0b111) as u8
    }

    /// REPORT_DATA, the 64 bytes the guest bound into the report.
    pub fn report_data(&self) -> &[u8; 64] {
        &self.raw().report_data
    }

    /// MEASUREMENT, the launch digest.
    pub fn measurement(&self) -> &[u8; 48] {
        &self.raw().measurement
    }

    /// HOST_DATA, chosen by the host at launch.
    pub fn host_data(&self) -> &[u8; 32] {
        &self.raw().host_data
    }

    /// FAMILY_ID from the ID block.
    pub fn family_id(&self) -> &[u8; 16] {
        &self.raw().family_id
    }

    /// IMAGE_ID from the ID block.
    pub fn image_id(&self) -> &[u8; 16] {
        &self.raw().image_id
    }

    /// ID_KEY_DIGEST: SHA-384 of the ID block signing key (zero without an ID block).
    pub fn id_key_digest(&self) -> &[u8; 48] {
        &self.raw().id_key_digest
    }

    /// AUTHOR_KEY_DIGEST: SHA-384 of the author key (zero unless AUTHOR_KEY_EN).
    pub fn author_key_digest(&self) -> &[u8; 48] {
        &self.raw().author_key_digest
    }

    /// REPORT_ID.
    pub fn report_id(&self) -> &[u8; 32] {
        &self.raw().report_id
    }

    /// REPORT_ID_MA (all ones when there is no migration agent).
    pub fn report_id_ma(&self) -> &[u8; 32] {
        &self.raw().report_id_ma
    }

    /// CHIP_ID (zero when masked, as with VLEK-signed reports of some clouds).
    pub fn chip_id(&self) -> &[u8; 64] {
        &self.raw().chip_id
    }

    /// CPUID family, model and stepping (version 3 and later).
    pub fn cpuid(&self) -> Option<(u8, u8, u8)> {
        let r = self.raw();
        (self.version() >= 3).then_some((r.cpuid_fam_id, r.cpuid_mod_id, r.cpuid_step))
    }

    /// The product named by the CPUID fields of a v3+ report; `Ok(None)` for a v2 report.
    pub fn product(&self) -> Result<Option<Product>, SnpError> {
        match self.cpuid() {
            None => Ok(None),
            Some((family, model, _)) => Product::from_cpuid(family, model)
                .map(Some)
                .ok_or(SnpError::UnsupportedCpu { family, model }),
        }
    }

    /// A TCB_VERSION field decoded with the product's layout.
    pub fn tcb(&self, field: TcbField, product: Product) -> Result<TcbVersion, SnpError> {
        let r = self.raw();
        let raw = match field {
            TcbField::Current => r.current_tcb,
            TcbField::Reported => r.reported_tcb,
            TcbField::Committed => r.committed_tcb,
            TcbField::Launch => r.launch_tcb,
        };
        TcbVersion::decode(product, raw).ok_or(SnpError::MalformedTcb {
            field: field.name(),
            product,
        })
    }

    /// Current firmware version (major, minor, build).
    pub fn current_version(&self) -> (u8, u8, u8) {
        let r = self.raw();
        (r.current_major, r.current_minor, r.current_build)
    }

    /// Committed firmware version (major, minor, build).
    pub fn committed_version(&self) -> (u8, u8, u8) {
        let r = self.raw();
        (r.committed_major, r.committed_minor, r.committed_build)
    }

    /// LAUNCH_MIT_VECTOR and CURRENT_MIT_VECTOR (version 5 and later).
    pub fn mitigation_vectors(&self) -> Option<(u64, u64)> {
        let r = self.raw();
        (self.version() >= 5).then_some((r.launch_mit_vector.get(), r.current_mit_vector.get()))
    }

    /// The signature as a fixed 96-byte big-endian `r || s`, checking that the upper 24 bytes of
    /// each 72-byte little-endian component are zero.
    pub(crate) fn signature_p1363(&self) -> Result<[u8; 96], SnpError> {
        let r = self.raw();
        let mut out = [0u8; 96];
        let (out_r, out_s) = out.split_at_mut(48);
        for (name, component, dst) in [("R", &r.signature_r, out_r), ("S", &r.signature_s, out_s)] {
            let (low, high) = component.split_at(48);
            if !all_zero(high) {
                return Err(SnpError::SignatureEncoding(name));
            }
            for (d, s) in dst.iter_mut().zip(low.iter().rev()) {
                *d = *s;
            }
        }
        Ok(out)
    }
}
