//! Unsigned SEV-SNP attestation reports in the firmware's byte layout.

use sha2::{Digest, Sha512};
use zerocopy::byteorder::little_endian::{U32, U64};
use zerocopy::{FromBytes, FromZeros, Immutable, IntoBytes, KnownLayout};

use crate::snp::{Product, TcbVersion};

/// Size of an ATTESTATION_REPORT (AMD SEV-SNP ABI spec 56860 rev 1.58, Table 23).
pub const REPORT_LEN: usize = 0x4A0;

/// Number of leading report bytes covered by the signature (0x000..0x2A0).
pub const SIGNED_LEN: usize = 0x2A0;

/// ATTESTATION_REPORT, AMD SEV-SNP ABI spec 56860 rev 1.58, Table 23. All integers are
/// little-endian.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
struct RawReport {
    version: U32,
    guest_svn: U32,
    policy: U64,
    family_id: [u8; 16],
    image_id: [u8; 16],
    vmpl: U32,
    signature_algo: U32,
    current_tcb: [u8; 8],
    platform_info: U64,
    key_info: U32,
    reserved_4c: [u8; 4],
    report_data: [u8; 64],
    measurement: [u8; 48],
    host_data: [u8; 32],
    id_key_digest: [u8; 48],
    author_key_digest: [u8; 48],
    report_id: [u8; 32],
    report_id_ma: [u8; 32],
    reported_tcb: [u8; 8],
    cpuid_fam_id: u8,
    cpuid_mod_id: u8,
    cpuid_step: u8,
    reserved_18b: [u8; 0x1A0 - 0x18B],
    chip_id: [u8; 64],
    committed_tcb: [u8; 8],
    current_build: u8,
    current_minor: u8,
    current_major: u8,
    reserved_1eb: u8,
    committed_build: u8,
    committed_minor: u8,
    committed_major: u8,
    reserved_1ef: u8,
    launch_tcb: [u8; 8],
    launch_mit_vector: U64,
    current_mit_vector: U64,
    reserved_208: [u8; SIGNED_LEN - 0x208],
    signature: [u8; REPORT_LEN - SIGNED_LEN],
}

const _: () = assert!(size_of::<RawReport>() == REPORT_LEN);

/// The report split into its signed part and its signature (Table 23 and the ECDSA P-384
/// signature format of chapter 10): R and S are 72-byte little-endian integers,
/// zero-extended, followed by reserved bytes up to the end of the report.
#[derive(FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub(super) struct SignedReport {
    pub(super) body: [u8; SIGNED_LEN],
    pub(super) r: [u8; 72],
    pub(super) s: [u8; 72],
    pub(super) reserved: [u8; REPORT_LEN - SIGNED_LEN - 144],
}

const _: () = assert!(size_of::<SignedReport>() == REPORT_LEN);

/// Builder of unsigned SEV-SNP attestation reports (AMD SEV-SNP ABI spec 56860 rev 1.58,
/// Table 23).
///
/// Every field is public so that tests can set any value, including invalid ones; [`build`]
/// writes them at their offsets without validating them. Sign the result with
/// [`Vek::sign_report`](super::Vek::sign_report).
///
/// [`build`]: ReportBuilder::build
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportBuilder {
    /// VERSION (0x00): 2 to 5. CPUID fields are written from version 3 and the mitigation
    /// vectors from version 5; earlier versions leave those bytes zero.
    pub version: u32,
    /// GUEST_SVN (0x04).
    pub guest_svn: u32,
    /// POLICY (0x08). Default `0x30000`: SMT allowed (bit 16), reserved bit 17 set, debug off,
    /// ABI 0.0.
    pub policy: u64,
    /// FAMILY_ID (0x10).
    pub family_id: [u8; 16],
    /// IMAGE_ID (0x20).
    pub image_id: [u8; 16],
    /// VMPL (0x30).
    pub vmpl: u32,
    /// SIGNATURE_ALGO (0x34): 1 is ECDSA P-384 with SHA-384.
    pub signature_algo: u32,
    /// CURRENT_TCB (0x38).
    pub current_tcb: TcbVersion,
    /// PLATFORM_INFO (0x40). Default `0x25`: SMT enabled, ECC enabled, alias check complete.
    pub platform_info: u64,
    /// KEY_INFO bit 0 (0x48): AUTHOR_KEY_EN.
    pub author_key_en: bool,
    /// KEY_INFO bit 1: MASK_CHIP_KEY (the firmware then leaves the signature zero).
    pub mask_chip_key: bool,
    /// KEY_INFO bits 4:2: SIGNING_KEY, 0 VCEK, 1 VLEK, 7 none. Only the low three bits are
    /// written.
    pub signing_key: u8,
    /// REPORT_DATA (0x50), the guest-chosen binding data.
    pub report_data: [u8; 64],
    /// MEASUREMENT (0x90), the launch digest.
    pub measurement: [u8; 48],
    /// HOST_DATA (0xC0).
    pub host_data: [u8; 32],
    /// ID_KEY_DIGEST (0xE0).
    pub id_key_digest: [u8; 48],
    /// AUTHOR_KEY_DIGEST (0x110).
    pub author_key_digest: [u8; 48],
    /// REPORT_ID (0x140).
    pub report_id: [u8; 32],
    /// REPORT_ID_MA (0x160). Default all 0xFF: no migration agent.
    pub report_id_ma: [u8; 32],
    /// REPORTED_TCB (0x180): the TCB the VCEK is derived from and that its SPL extensions carry.
    pub reported_tcb: TcbVersion,
    /// CPUID_FAM_ID (0x188), written from version 3.
    pub cpuid_fam_id: u8,
    /// CPUID_MOD_ID (0x189), written from version 3.
    pub cpuid_mod_id: u8,
    /// CPUID_STEP (0x18A), written from version 3.
    pub cpuid_step: u8,
    /// CHIP_ID (0x1A0). Turin chips report 8 bytes followed by 56 zero bytes.
    pub chip_id: [u8; 64],
    /// COMMITTED_TCB (0x1E0).
    pub committed_tcb: TcbVersion,
    /// CURRENT_MAJOR, CURRENT_MINOR, CURRENT_BUILD (0x1EA, 0x1E9, 0x1E8).
    pub current_version: (u8, u8, u8),
    /// COMMITTED_MAJOR, COMMITTED_MINOR, COMMITTED_BUILD (0x1EE, 0x1ED, 0x1EC).
    pub committed_version: (u8, u8, u8),
    /// LAUNCH_TCB (0x1F0).
    pub launch_tcb: TcbVersion,
    /// LAUNCH_MIT_VECTOR (0x1F8), written from version 5.
    pub launch_mit_vector: u64,
    /// CURRENT_MIT_VECTOR (0x200), written from version 5.
    pub current_mit_vector: u64,
    /// The product whose TCB_VERSION layout encodes the four TCB fields.
    pub product: Product,
}

impl ReportBuilder {
    /// A valid version-3 report of a `product` guest at VMPL 0 with AMD-like defaults: the
    /// product's CPUID (Milan 19h/01h/1, Genoa 19h/11h/1, Turin 1Ah/02h/0), all four TCBs set
    /// to [`default_tcb`], CHIP_ID [`simulated_chip_id`]`(product, 0)`, signed by a VCEK.
    /// REPORT_DATA, MEASUREMENT and the digests are zero.
    pub fn new(product: Product) -> Self {
        let (cpuid_fam_id, cpuid_mod_id, cpuid_step) = match product {
            Product::Milan => (0x19, 0x01, 1),
            Product::Genoa => (0x19, 0x11, 1),
            Product::Turin => (0x1A, 0x02, 0),
        };
        let firmware = match product {
            Product::Milan => (1, 55, 29),
            Product::Genoa => (1, 55, 38),
            Product::Turin => (1, 58, 3),
        };
        let tcb = default_tcb(product);
        Self {
            version: 3,
            guest_svn: 0,
            policy: 0x3_0000,
            family_id: [0; 16],
            image_id: [0; 16],
            vmpl: 0,
            signature_algo: 1,
            current_tcb: tcb,
            platform_info: 0x25,
            author_key_en: false,
            mask_chip_key: false,
            signing_key: 0,
            report_data: [0; 64],
            measurement: [0; 48],
            host_data: [0; 32],
            id_key_digest: [0; 48],
            author_key_digest: [0; 48],
            report_id: [0; 32],
            report_id_ma: [0xFF; 32],
            reported_tcb: tcb,
            cpuid_fam_id,
            cpuid_mod_id,
            cpuid_step,
            chip_id: simulated_chip_id(product, 0),
            committed_tcb: tcb,
            current_version: firmware,
            committed_version: firmware,
            launch_tcb: tcb,
            launch_mit_vector: 0,
            current_mit_vector: 0,
            product,
        }
    }

    /// Sets CURRENT_TCB, REPORTED_TCB, COMMITTED_TCB and LAUNCH_TCB to `tcb`.
    pub fn with_tcb(mut self, tcb: TcbVersion) -> Self {
        self.current_tcb = tcb;
        self.reported_tcb = tcb;
        self.committed_tcb = tcb;
        self.launch_tcb = tcb;
        self
    }

    /// The 1184 report bytes, with the signature area (0x2A0..0x4A0) zero.
    pub fn build(&self) -> [u8; REPORT_LEN] {
        let mut raw = RawReport::new_zeroed();
        raw.version = U32::new(self.version);
        raw.guest_svn = U32::new(self.guest_svn);
        raw.policy = U64::new(self.policy);
        raw.family_id = self.family_id;
        raw.image_id = self.image_id;
        raw.vmpl = U32::new(self.vmpl);
        raw.signature_algo = U32::new(self.signature_algo);
        raw.current_tcb = self.current_tcb.encode(self.product);
        raw.platform_info = U64::new(self.platform_info);
        raw.key_info = U32::new(
            u32::from(self.author_key_en)
                | (u32::from(self.mask_chip_key) << 1)
                | (u32::from(self.signing_key & 0x7) << 2),
        );
        raw.report_data = self.report_data;
        raw.measurement = self.measurement;
        raw.host_data = self.host_data;
        raw.id_key_digest = self.id_key_digest;
        raw.author_key_digest = self.author_key_digest;
        raw.report_id = self.report_id;
        raw.report_id_ma = self.report_id_ma;
        raw.reported_tcb = self.reported_tcb.encode(self.product);
        if self.version >= 3 {
            raw.cpuid_fam_id = self.cpuid_fam_id;
            raw.cpuid_mod_id = self.cpuid_mod_id;
            raw.cpuid_step = self.cpuid_step;
        }
        raw.chip_id = self.chip_id;
        raw.committed_tcb = self.committed_tcb.encode(self.product);
        (raw.current_major, raw.current_minor, raw.current_build) = self.current_version;
        (
            raw.committed_major,
            raw.committed_minor,
            raw.committed_build,
        ) = self.committed_version;
        raw.launch_tcb = self.launch_tcb.encode(self.product);
        if self.version >= 5 {
            raw.launch_mit_vector = U64::new(self.launch_mit_vector);
            raw.current_mit_vector = U64::new(self.current_mit_vector);
        }
        zerocopy::transmute!(raw)
    }
}

/// A plausible TCB for a simulated `product` platform, used by [`ReportBuilder::new`]. The
/// values are realistic for each product line but not tied to a specific AMD firmware release;
/// Turin's includes an FMC SPL.
pub fn default_tcb(product: Product) -> TcbVersion {
    match product {
        Product::Milan => TcbVersion {
            fmc: None,
            bootloader: 4,
            tee: 0,
            snp: 24,
            microcode: 219,
        },
        Product::Genoa => TcbVersion {
            fmc: None,
            bootloader: 10,
            tee: 0,
            snp: 23,
            microcode: 84,
        },
        Product::Turin => TcbVersion {
            fmc: Some(1),
            bootloader: 1,
            tee: 1,
            snp: 3,
            microcode: 76,
        },
    }
}

/// The CHIP_ID of simulated chip number `index` of a product: SHA-512 of a fixed label, the
/// product name and `index`. Turin chips have 8-byte IDs, so for Turin the last 56 bytes are
/// zero as in real Turin reports.
pub fn simulated_chip_id(product: Product, index: u64) -> [u8; 64] {
    let digest = Sha512::new()
        .chain_update(b"warden-sim-snp-chip-id\0")
        .chain_update(product.name().as_bytes())
        .chain_update([0])
        .chain_update(index.to_le_bytes())
        .finalize();
    let mut chip_id: [u8; 64] = digest.into();
    if product.is_turin_layout() {
        chip_id.iter_mut().skip(8).for_each(|b| *b = 0);
    }
    chip_id
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcb_at(report: &[u8], offset: usize) -> TcbVersion {
        TcbVersion::decode(
            Product::Milan,
            report[offset..offset + 8].try_into().unwrap(),
        )
        .unwrap()
    }

    fn u32_at(report: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(report[offset..offset + 4].try_into().unwrap())
    }

    fn u64_at(report: &[u8], offset: usize) -> u64 {
        u64::from_le_bytes(report[offset..offset + 8].try_into().unwrap())
    }

    /// Rebuilds the real v3 VLEK report from its field values: every signed byte must match,
    /// which pins every offset of the layout against hardware output.
    #[test]
    fn layout_matches_real_v3_report() {
        let Some(real) = super::super::tests::real("trustee_milan_vlek_report.bin") else {
            return;
        };
        let real = &real[..];
        assert_eq!(real.len(), REPORT_LEN);
        let mut b = ReportBuilder::new(Product::Milan);
        b.version = u32_at(real, 0x00);
        b.guest_svn = u32_at(real, 0x04);
        b.policy = u64_at(real, 0x08);
        b.family_id = real[0x10..0x20].try_into().unwrap();
        b.image_id = real[0x20..0x30].try_into().unwrap();
        b.vmpl = u32_at(real, 0x30);
        b.signature_algo = u32_at(real, 0x34);
        b.current_tcb = tcb_at(real, 0x38);
        b.platform_info = u64_at(real, 0x40);
        let key_info = u32_at(real, 0x48);
        b.author_key_en = key_info & 1 != 0;
        b.mask_chip_key = key_info & 2 != 0;
        b.signing_key = ((key_info >> 2) & 7) as u8;
        b.report_data = real[0x50..0x90].try_into().unwrap();
        b.measurement = real[0x90..0xC0].try_into().unwrap();
        b.host_data = real[0xC0..0xE0].try_into().unwrap();
        b.id_key_digest = real[0xE0..0x110].try_into().unwrap();
        b.author_key_digest = real[0x110..0x140].try_into().unwrap();
        b.report_id = real[0x140..0x160].try_into().unwrap();
        b.report_id_ma = real[0x160..0x180].try_into().unwrap();
        b.reported_tcb = tcb_at(real, 0x180);
        (b.cpuid_fam_id, b.cpuid_mod_id, b.cpuid_step) = (real[0x188], real[0x189], real[0x18A]);
        b.chip_id = real[0x1A0..0x1E0].try_into().unwrap();
        b.committed_tcb = tcb_at(real, 0x1E0);
        b.current_version = (real[0x1EA], real[0x1E9], real[0x1E8]);
        b.committed_version = (real[0x1EE], real[0x1ED], real[0x1EC]);
        b.launch_tcb = tcb_at(real, 0x1F0);

        // Values the vector README documents, so the test cannot pass on a shifted read.
        assert_eq!(
            (b.version, b.vmpl, b.signing_key, b.platform_info),
            (3, 1, 1, 0x27)
        );
        assert_eq!(
            (b.cpuid_fam_id, b.cpuid_mod_id, b.cpuid_step),
            (0x19, 0x01, 0x01)
        );
        assert_eq!(b.current_version, (1, 55, 29));
        let reported = TcbVersion {
            fmc: None,
            bootloader: 4,
            tee: 0,
            snp: 24,
            microcode: 217,
        };
        assert_eq!(b.reported_tcb, reported);

        let built = b.build();
        assert_eq!(built[..SIGNED_LEN], real[..SIGNED_LEN]);
        assert!(built[SIGNED_LEN..].iter().all(|&x| x == 0));
    }

    #[test]
    fn defaults_and_version_dependent_fields() {
        let b = ReportBuilder::new(Product::Turin);
        let report = b.build();
        assert_eq!(u32_at(&report, 0), 3);
        assert_eq!(u64_at(&report, 0x08), 0x30000);
        assert_eq!(u32_at(&report, 0x34), 1);
        assert_eq!(u64_at(&report, 0x40), 0x25);
        assert_eq!(u32_at(&report, 0x48), 0);
        assert_eq!(report[0x188..0x18B], [0x1A, 0x02, 0x00]);
        assert_eq!(
            report[0x180..0x188],
            default_tcb(Product::Turin).encode(Product::Turin)
        );
        assert_eq!(report[0x180..0x188], [1, 1, 1, 3, 0, 0, 0, 76]);
        assert!(report[0x160..0x180].iter().all(|&x| x == 0xFF));
        assert_eq!(report[0x1A0..0x1A8], b.chip_id[..8]);
        assert!(report[0x1A8..0x1E0].iter().all(|&x| x == 0));
        assert_eq!(report[0x1E8..0x1F0], [3, 58, 1, 0, 3, 58, 1, 0]);

        let mut v2 = ReportBuilder::new(Product::Milan);
        v2.version = 2;
        v2.launch_mit_vector = 5;
        v2.current_mit_vector = 6;
        v2.author_key_en = true;
        v2.mask_chip_key = true;
        v2.signing_key = 7;
        let report = v2.build();
        assert_eq!(report[0x188..0x18B], [0, 0, 0]);
        assert_eq!(u64_at(&report, 0x1F8), 0);
        assert_eq!(u64_at(&report, 0x200), 0);
        assert_eq!(u32_at(&report, 0x48), 0b1_1111);

        let mut v5 = v2;
        v5.version = 5;
        let report = v5.build();
        assert_eq!(report[0x188..0x18B], [0x19, 0x01, 0x01]);
        assert_eq!(u64_at(&report, 0x1F8), 5);
        assert_eq!(u64_at(&report, 0x200), 6);
    }

    #[test]
    fn chip_ids_are_distinct_and_turin_shaped() {
        assert_ne!(
            simulated_chip_id(Product::Milan, 0),
            simulated_chip_id(Product::Milan, 1)
        );
        assert_ne!(
            simulated_chip_id(Product::Milan, 0),
            simulated_chip_id(Product::Genoa, 0)
        );
        let turin = simulated_chip_id(Product::Turin, 0);
        assert!(turin[..8].iter().any(|&b| b != 0));
        assert!(turin[8..].iter().all(|&b| b == 0));
    }
}
