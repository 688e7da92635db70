//! Normalised SEV-SNP claims: what policy sees of a verified report.
//!
//! Byte strings are lowercase hex. The document is specified in `docs/policy-input.md`.

use serde::Serialize;

use crate::snp::cert::VekInfo;
use crate::snp::report::{TcbField, platform_info_bits as pi, policy_bits as pb};
use crate::snp::{Product, Report, SnpError, TcbVersion, VekKind};

/// The guest policy, with its bits named (56860 rev 1.58, Table 9).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyClaims {
    /// The raw 64-bit POLICY value.
    pub raw: u64,
    /// Minimum ABI major version required by the guest owner.
    pub abi_major: u8,
    /// Minimum ABI minor version required by the guest owner.
    pub abi_minor: u8,
    /// SMT allowed.
    pub smt: bool,
    /// Association with a migration agent allowed.
    pub migrate_ma: bool,
    /// Debugging allowed: the host can read and write guest memory.
    pub debug: bool,
    /// Single socket only.
    pub single_socket: bool,
    /// CXL allowed.
    pub cxl_allow: bool,
    /// AES-256-XTS required.
    pub mem_aes_256_xts: bool,
    /// RAPL must be disabled.
    pub rapl_dis: bool,
    /// Ciphertext hiding required.
    pub ciphertext_hiding: bool,
    /// Page swapping disabled.
    pub page_swap_disable: bool,
}

/// PLATFORM_INFO with its bits named (56860 rev 1.58, Table 24).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlatformInfoClaims {
    /// The raw 64-bit PLATFORM_INFO value.
    pub raw: u64,
    /// SMT is enabled on the host.
    pub smt_enabled: bool,
    /// Transparent SME is enabled.
    pub tsme_enabled: bool,
    /// ECC memory is in use.
    pub ecc_enabled: bool,
    /// RAPL is disabled.
    pub rapl_disabled: bool,
    /// Ciphertext hiding is enabled.
    pub ciphertext_hiding_enabled: bool,
    /// The memory alias check (BadRAM mitigation) has completed.
    pub alias_check_complete: bool,
    /// SEV-TIO is enabled.
    pub tio_enabled: bool,
}

/// CPUID identification from v3+ reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CpuidClaims {
    /// Family (for example 25 = 0x19).
    pub family: u8,
    /// Model.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

/// The normalised claims of a verified SEV-SNP report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnpClaims {
    /// Report VERSION (2 to 5).
    pub version: u32,
    /// Product whose roots verified the report.
    pub product: Product,
    /// `vcek` or `vlek`.
    pub signer: VekKind,
    /// Launch measurement (48 bytes).
    pub measurement: String,
    /// REPORT_DATA (64 bytes).
    pub report_data: String,
    /// HOST_DATA (32 bytes), chosen by the host: trust it only through measured guest code.
    pub host_data: String,
    /// VMPL of the requester (0 is the most privileged).
    pub vmpl: u32,
    /// Guest policy.
    pub policy: PolicyClaims,
    /// Platform information.
    pub platform_info: PlatformInfoClaims,
    /// GUEST_SVN from the ID block.
    pub guest_svn: u32,
    /// FAMILY_ID from the ID block (16 bytes).
    pub family_id: String,
    /// IMAGE_ID from the ID block (16 bytes).
    pub image_id: String,
    /// ID_KEY_DIGEST (48 bytes; zero without an ID block).
    pub id_key_digest: String,
    /// AUTHOR_KEY_DIGEST (48 bytes).
    pub author_key_digest: String,
    /// KEY_INFO.AUTHOR_KEY_EN.
    pub author_key_en: bool,
    /// REPORT_ID (32 bytes).
    pub report_id: String,
    /// REPORT_ID_MA (32 bytes; all `ff` without a migration agent).
    pub report_id_ma: String,
    /// CHIP_ID (64 bytes; zero when masked).
    pub chip_id: String,
    /// REPORTED_TCB: the TCB the signing key was derived for.
    pub reported_tcb: TcbVersion,
    /// COMMITTED_TCB.
    pub committed_tcb: TcbVersion,
    /// CURRENT_TCB.
    pub current_tcb: TcbVersion,
    /// LAUNCH_TCB.
    pub launch_tcb: TcbVersion,
    /// Current firmware version, `major.minor.build`.
    pub current_version: String,
    /// Committed firmware version, `major.minor.build`.
    pub committed_version: String,
    /// CPUID identification (v3+), otherwise `null`.
    pub cpuid: Option<CpuidClaims>,
    /// LAUNCH_MIT_VECTOR (v5+), 16 hex digits, otherwise `null`.
    pub launch_mit_vector: Option<String>,
    /// CURRENT_MIT_VECTOR (v5+), 16 hex digits, otherwise `null`.
    pub current_mit_vector: Option<String>,
    /// The cloud provider a VLEK was issued to (its csp_id extension), otherwise `null`.
    pub csp_id: Option<String>,
    /// SHA-256 of the VCEK/VLEK DER.
    pub vek_sha256: String,
    /// Whether the ASK/ASVK was checked against a current CRL of the ARK. `false` means
    /// revocation was not checked (no CRL configured): policy decides whether that is acceptable.
    pub crl_checked: bool,
}

fn version_string((major, minor, build): (u8, u8, u8)) -> String {
    format!("{major}.{minor}.{build}")
}

impl SnpClaims {
    pub(crate) fn new(
        report: &Report,
        product: Product,
        signer: VekKind,
        vek: &VekInfo,
        crl_checked: bool,
    ) -> Result<Self, SnpError> {
        let policy = report.policy();
        let info = report.platform_info();
        let bit = |value: u64, mask: u64| value & mask != 0;
        Ok(Self {
            version: report.version(),
            product,
            signer,
            measurement: hex::encode(report.measurement()),
            report_data: hex::encode(report.report_data()),
            host_data: hex::encode(report.host_data()),
            vmpl: report.vmpl(),
            policy: PolicyClaims {
                raw: policy,
                abi_major: policy.to_le_bytes().get(1).copied().unwrap_or(0),
                abi_minor: policy.to_le_bytes().first().copied().unwrap_or(0),
                smt: bit(policy, pb::SMT),
                migrate_ma: bit(policy, pb::MIGRATE_MA),
                debug: bit(policy, pb::DEBUG),
                single_socket: bit(policy, pb::SINGLE_SOCKET),
                cxl_allow: bit(policy, pb::CXL_ALLOW),
                mem_aes_256_xts: bit(policy, pb::MEM_AES_256_XTS),
                rapl_dis: bit(policy, pb::RAPL_DIS),
                ciphertext_hiding: bit(policy, pb::CIPHERTEXT_HIDING_DRAM),
                page_swap_disable: bit(policy, pb::PAGE_SWAP_DISABLE),
            },
            platform_info: PlatformInfoClaims {
                raw: info,
                smt_enabled: bit(info, pi::SMT_EN),
                tsme_enabled: bit(info, pi::TSME_EN),
                ecc_enabled: bit(info, pi::ECC_EN),
                rapl_disabled: bit(info, pi::RAPL_DIS),
                ciphertext_hiding_enabled: bit(info, pi::CIPHERTEXT_HIDING_EN),
                alias_check_complete: bit(info, pi::ALIAS_CHECK_COMPLETE),
                tio_enabled: bit(info, pi::TIO_EN),
            },
            guest_svn: report.guest_svn(),
            family_id: hex::encode(report.family_id()),
            image_id: hex::encode(report.image_id()),
            id_key_digest: hex::encode(report.id_key_digest()),
            author_key_digest: hex::encode(report.author_key_digest()),
            author_key_en: report.author_key_en(),
            report_id: hex::encode(report.report_id()),
            report_id_ma: hex::encode(report.report_id_ma()),
            chip_id: hex::encode(report.chip_id()),
            reported_tcb: report.tcb(TcbField::Reported, product)?,
            committed_tcb: report.tcb(TcbField::Committed, product)?,
            current_tcb: report.tcb(TcbField::Current, product)?,
            launch_tcb: report.tcb(TcbField::Launch, product)?,
            current_version: version_string(report.current_version()),
            committed_version: version_string(report.committed_version()),
            cpuid: report.cpuid().map(|(family, model, stepping)| CpuidClaims {
                family,
                model,
                stepping,
            }),
            launch_mit_vector: report
                .mitigation_vectors()
                .map(|(l, _)| format!("{l:016x}")),
            current_mit_vector: report
                .mitigation_vectors()
                .map(|(_, c)| format!("{c:016x}")),
            csp_id: vek.csp_id.clone(),
            vek_sha256: hex::encode(vek.sha256),
            crl_checked,
        })
    }
}
