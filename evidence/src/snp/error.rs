//! The reasons SEV-SNP evidence is rejected, one variant per failure class.

use std::fmt;

use crate::UnixTime;
use crate::snp::Product;

/// The kind of key that signed an attestation report (KEY_INFO.SIGNING_KEY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum VekKind {
    /// Versioned Chip Endorsement Key: unique to the chip and its TCB (SIGNING_KEY 0).
    Vcek,
    /// Versioned Loaded Endorsement Key: provisioned by a cloud provider (SIGNING_KEY 1).
    Vlek,
}

impl fmt::Display for VekKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        })
    }
}

/// Which certificate of an AMD chain an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CertRole {
    /// AMD Root Key (self-signed).
    Ark,
    /// AMD SEV Key, issuer of VCEKs.
    Ask,
    /// AMD SEV VLEK Key, issuer of VLEKs.
    Asvk,
    /// The VCEK.
    Vcek,
    /// The VLEK.
    Vlek,
}

impl CertRole {
    pub(crate) fn of_vek(kind: VekKind) -> Self {
        match kind {
            VekKind::Vcek => Self::Vcek,
            VekKind::Vlek => Self::Vlek,
        }
    }

    pub(crate) fn issuer_of_vek(kind: VekKind) -> Self {
        match kind {
            VekKind::Vcek => Self::Ask,
            VekKind::Vlek => Self::Asvk,
        }
    }
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ark => "ARK",
            Self::Ask => "ASK",
            Self::Asvk => "ASVK",
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        })
    }
}

/// A TCB component compared between REPORTED_TCB and the VCEK/VLEK extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TcbComponent {
    /// `fmcSPL`, 1.3.6.1.4.1.3704.1.3.9 (Turin).
    Fmc,
    /// `blSPL`, 1.3.6.1.4.1.3704.1.3.1.
    Bootloader,
    /// `teeSPL`, 1.3.6.1.4.1.3704.1.3.2.
    Tee,
    /// `snpSPL`, 1.3.6.1.4.1.3704.1.3.3.
    Snp,
    /// `ucodeSPL`, 1.3.6.1.4.1.3704.1.3.8.
    Microcode,
}

impl fmt::Display for TcbComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fmc => "fmc",
            Self::Bootloader => "bootloader",
            Self::Tee => "tee",
            Self::Snp => "snp",
            Self::Microcode => "microcode",
        })
    }
}

/// Why SEV-SNP evidence was rejected.
///
/// Tests assert the exact variant: each row of the threat catalogue maps to one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnpError {
    /// R1: the report is not exactly 1184 (0x4A0) bytes.
    #[error("attestation report is {got} bytes, expected 1184")]
    ReportSize {
        /// The length received.
        got: usize,
    },
    /// S21: VERSION is not 2 to 5.
    #[error("unsupported attestation report version {0} (supported: 2 to 5)")]
    UnsupportedVersion(u32),
    /// R1: a must-be-zero range or bit is set.
    #[error("reserved field {field} at offset {offset:#x} is not zero")]
    ReservedNotZero {
        /// The field name, as in the AMD ABI specification.
        field: &'static str,
        /// Offset of the field in the report.
        offset: usize,
    },
    /// S4: POLICY bit 17 clear or bits 63:26 set.
    #[error("malformed guest policy {policy:#x}: {reason}")]
    MalformedPolicy {
        /// The raw POLICY value.
        policy: u64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// VMPL outside 0..=3.
    #[error("VMPL {0} is out of range 0..=3")]
    InvalidVmpl(u32),
    /// S11: KEY_INFO.MASK_CHIP_KEY is set, so the report carries no signature.
    #[error("report is not signed (KEY_INFO.MASK_CHIP_KEY is set)")]
    UnsignedReport,
    /// S11: KEY_INFO.SIGNING_KEY is 7 (none) or a reserved value 2-6.
    #[error("unsupported KEY_INFO.SIGNING_KEY {0} (0 = VCEK, 1 = VLEK, 7 = none)")]
    UnsupportedSigner(u8),
    /// S11: the report names one key kind and the certificate is the other.
    #[error("report is signed by a {report} but the certificate given is a {cert}")]
    SignerMismatch {
        /// What KEY_INFO says.
        report: VekKind,
        /// What the certificate is.
        cert: VekKind,
    },
    /// S12: SIGNATURE_ALGO is not 1 (ECDSA P-384 with SHA-384).
    #[error("unsupported signature algorithm {0} (only 1, ECDSA P-384 with SHA-384)")]
    UnsupportedSignatureAlgorithm(u32),
    /// S20: the CPUID family/model of a v3+ report is not a product with pinned roots.
    #[error("CPUID family {family:#04x} model {model:#04x} is not a supported product")]
    UnsupportedCpu {
        /// CPUID_FAM_ID.
        family: u8,
        /// CPUID_MOD_ID.
        model: u8,
    },
    /// S20: the certificate's productName names no supported product.
    #[error("certificate productName {0:?} is not a supported product")]
    UnsupportedProductName(String),
    /// S20: the report's CPUID and the certificate's productName disagree.
    #[error("report is from a {report} CPU but the certificate is for {cert}")]
    ProductMismatch {
        /// Product from the report's CPUID fields.
        report: Product,
        /// Product from the certificate's productName.
        cert: Product,
    },
    /// S20: a v2 report (no CPUID fields) with a certificate without productName. The product
    /// is never guessed.
    #[error(
        "product cannot be determined: the v2 report has no CPUID and the certificate no productName"
    )]
    ProductUnknown,
    /// No trust anchors are configured for the product.
    #[error("no trust anchors configured for {0}")]
    NoRoots(Product),
    /// The product's anchors have no issuer for this key kind (no ASK for VCEKs, no ASVK for
    /// VLEKs).
    #[error("no {role} configured for {product}: {kind}s of {product} are not trusted")]
    MissingIntermediate {
        /// The product.
        product: Product,
        /// The missing issuer.
        role: CertRole,
        /// The key kind it would have issued.
        kind: VekKind,
    },
    /// S20/A1: the chain supplied is a pinned chain of another product.
    #[error("certificate chain is {chain}'s but the evidence is from {evidence}")]
    ChainProductMismatch {
        /// Product of the evidence.
        evidence: Product,
        /// Product whose pinned ARK the chain carries.
        chain: Product,
    },
    /// A1: the ARK supplied is not the pinned AMD root of the product.
    #[error("ARK is not the pinned AMD root for {0}")]
    UntrustedRoot(Product),
    /// R7: a certificate file that is not exactly the expected DER or PEM.
    #[error("{role}: {reason}")]
    CertEncoding {
        /// The certificate concerned.
        role: CertRole,
        /// What is wrong.
        reason: &'static str,
    },
    /// A2: a certificate with the wrong algorithm, key, name or extension.
    #[error("{role}: {reason}")]
    BadCert {
        /// The certificate concerned.
        role: CertRole,
        /// What is wrong.
        reason: &'static str,
    },
    /// A4: a certificate's signature does not verify under its issuer's key.
    #[error("{role} signature does not verify with the {issuer} key")]
    CertSignature {
        /// The certificate whose signature failed.
        role: CertRole,
        /// The issuer whose key was used.
        issuer: CertRole,
    },
    /// A5/P13: a certificate is not yet valid at the verification time.
    #[error("{role} is not valid before {not_before} (verification time {now})")]
    NotYetValid {
        /// The certificate concerned.
        role: CertRole,
        /// Its notBefore.
        not_before: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A5/P13: a certificate has expired at the verification time.
    #[error("{role} expired at {not_after} (verification time {now})")]
    Expired {
        /// The certificate concerned.
        role: CertRole,
        /// Its notAfter.
        not_after: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A TCB_VERSION with a non-zero reserved byte for the product's layout.
    #[error("{field} has non-zero reserved bytes for the {product} layout")]
    MalformedTcb {
        /// The TCB field.
        field: &'static str,
        /// The product whose layout was used.
        product: Product,
    },
    /// S7: REPORTED_TCB differs from the TCB the VCEK/VLEK was issued for.
    #[error("REPORTED_TCB {component} SPL is {report} but the {role} is for {cert}")]
    TcbMismatch {
        /// The component that differs.
        component: TcbComponent,
        /// The value in REPORTED_TCB.
        report: u8,
        /// The value in the certificate extension.
        cert: u8,
        /// The certificate concerned.
        role: CertRole,
    },
    /// S10: CHIP_ID differs from the VCEK's hwID.
    #[error("CHIP_ID does not match the VCEK hwID (report {report}, VCEK {cert})")]
    ChipIdMismatch {
        /// CHIP_ID from the report, hex (the part compared).
        report: String,
        /// hwID from the VCEK, hex.
        cert: String,
    },
    /// S13: the ECDSA P-384 signature over bytes 0x000-0x29F does not verify.
    #[error("report signature does not verify with the {0} key")]
    BadSignature(VekKind),
    /// A3: a CRL that is not a DER CRL of the AMD profile, or not issued by the ARK.
    #[error("CRL: {0}")]
    BadCrl(&'static str),
    /// A3: a CRL whose signature does not verify with the ARK key.
    #[error("CRL signature does not verify with the ARK key")]
    CrlSignature,
    /// A3/P13: a CRL whose thisUpdate is after the verification time.
    #[error("CRL is not valid before {this_update} (verification time {now})")]
    CrlNotYetValid {
        /// Its thisUpdate.
        this_update: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A3/P13: a CRL past its nextUpdate: revocation state unknown, so fail closed.
    #[error("CRL is stale: nextUpdate {next_update} (verification time {now})")]
    CrlStale {
        /// Its nextUpdate.
        next_update: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A3: the ASK or ASVK is listed in the ARK's CRL.
    #[error("{role} was revoked at {revoked_at}")]
    Revoked {
        /// The revoked certificate.
        role: CertRole,
        /// Its revocation date.
        revoked_at: UnixTime,
    },
    /// R7: a malformed certificate table (GHCB spec 56421 section 4.1.8.1).
    #[error("certificate table: {reason}")]
    CertTable {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The evidence carries no VCEK or VLEK: no certificate bytes, or a certificate table
    /// without either.
    #[error("no VCEK/VLEK certificate with the evidence")]
    NoVekCertificate,
    /// A certificate table holds both a VCEK and a VLEK, so the signer is ambiguous.
    #[error("certificate table holds both a VCEK and a VLEK")]
    AmbiguousVek,
    /// S13: R or S is wider than 48 bytes (the upper 24 of their 72 bytes must be zero).
    #[error("report signature component {0} has non-zero high bytes")]
    SignatureEncoding(&'static str),
}
