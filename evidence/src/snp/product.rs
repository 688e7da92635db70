//! AMD EPYC product lines with SEV-SNP and the TCB_VERSION encoding that depends on them.

use std::fmt;

use serde::Serialize;

/// An AMD EPYC product line whose SEV-SNP roots Warden pins.
///
/// Product names are those of the AMD Key Distribution Service (KDS) URLs and of the VCEK
/// `productName` extension (1.3.6.1.4.1.3704.1.2), without the stepping suffix (`Milan-B0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Product {
    /// EPYC 7003 (Zen 3), family 19h models 00h-0Fh.
    Milan,
    /// EPYC 9004/8004 (Zen 4), family 19h models 10h-1Fh and A0h-AFh.
    Genoa,
    /// EPYC 9005 (Zen 5), family 1Ah models 00h-11h.
    Turin,
}

impl Product {
    /// Every product with pinned roots.
    pub const ALL: [Self; 3] = [Self::Milan, Self::Genoa, Self::Turin];

    /// The product for the CPUID family and model reported in a v3+ attestation report
    /// (AMD SEV-SNP ABI spec 56860 rev 1.58, Table 23, CPUID_FAM_ID / CPUID_MOD_ID).
    ///
    /// Returns `None` for a family/model Warden has no roots for (for example Venice).
    pub fn from_cpuid(family: u8, model: u8) -> Option<Self> {
        match (family, model) {
            (0x19, 0x00..=0x0F) => Some(Self::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Self::Genoa),
            (0x1A, 0x00..=0x11) => Some(Self::Turin),
            _ => None,
        }
    }

    /// The product named by a VCEK/VLEK `productName` extension value such as `Milan-B0` or
    /// `Genoa`. The stepping suffix after `-` is ignored (KDS reports `Milan-B0` on B1 parts).
    pub fn from_product_name(name: &str) -> Option<Self> {
        let base = name.split_once('-').map_or(name, |(base, _)| base);
        match base {
            "Milan" => Some(Self::Milan),
            "Genoa" => Some(Self::Genoa),
            "Turin" => Some(Self::Turin),
            _ => None,
        }
    }

    /// The KDS product name (`Milan`, `Genoa`, `Turin`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Milan => "Milan",
            Self::Genoa => "Genoa",
            Self::Turin => "Turin",
        }
    }

    /// Whether TCB_VERSION uses the Turin layout with an FMC SPL and an 8-byte hwID.
    pub fn is_turin_layout(self) -> bool {
        matches!(self, Self::Turin)
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A decoded TCB_VERSION (SEV-SNP ABI spec 56860 rev 1.58, Table 3 and the Turin layout in
/// rev 1.57 Table 4).
///
/// Milan and Genoa: bytes `[bl, tee, 0, 0, 0, 0, snp, ucode]`.
/// Turin: bytes `[fmc, bl, tee, snp, 0, 0, 0, ucode]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
pub struct TcbVersion {
    /// Firmware of the AMD Secure Processor's first mutable code (Turin only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
    /// SVN of the PSP bootloader.
    pub bootloader: u8,
    /// SVN of the PSP operating system (TEE).
    pub tee: u8,
    /// SVN of the SNP firmware.
    pub snp: u8,
    /// Lowest current patch level of all cores.
    pub microcode: u8,
}

impl TcbVersion {
    /// Decodes the eight TCB_VERSION bytes for a product. Returns `None` when a reserved byte
    /// is not zero.
    pub fn decode(product: Product, raw: [u8; 8]) -> Option<Self> {
        if product.is_turin_layout() {
            let [fmc, bootloader, tee, snp, r0, r1, r2, microcode] = raw;
            (r0 | r1 | r2 == 0).then_some(Self {
                fmc: Some(fmc),
                bootloader,
                tee,
                snp,
                microcode,
            })
        } else {
            let [bootloader, tee, r0, r1, r2, r3, snp, microcode] = raw;
            (r0 | r1 | r2 | r3 == 0).then_some(Self {
                fmc: None,
                bootloader,
                tee,
                snp,
                microcode,
            })
        }
    }

    /// Encodes the TCB for a product; the inverse of [`TcbVersion::decode`]. An `fmc` value is
    /// only written for Turin.
    pub fn encode(&self, product: Product) -> [u8; 8] {
        if product.is_turin_layout() {
            [
                self.fmc.unwrap_or(0),
                self.bootloader,
                self.tee,
                self.snp,
                0,
                0,
                0,
                self.microcode,
            ]
        } else {
            [
                self.bootloader,
                self.tee,
                0,
                0,
                0,
                0,
                self.snp,
                self.microcode,
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuid_and_product_names() {
        assert_eq!(Product::from_cpuid(0x19, 0x01), Some(Product::Milan));
        assert_eq!(Product::from_cpuid(0x19, 0x11), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x19, 0xA0), Some(Product::Genoa));
        assert_eq!(Product::from_cpuid(0x1A, 0x02), Some(Product::Turin));
        assert_eq!(Product::from_cpuid(0x1A, 0x50), None);
        assert_eq!(Product::from_cpuid(0x17, 0x31), None);
        assert_eq!(Product::from_product_name("Milan-B0"), Some(Product::Milan));
        assert_eq!(Product::from_product_name("Genoa"), Some(Product::Genoa));
        assert_eq!(Product::from_product_name("Turin"), Some(Product::Turin));
        assert_eq!(Product::from_product_name("Venice"), None);
        assert_eq!(Product::from_product_name(""), None);
    }

    #[test]
    fn tcb_round_trip_and_reserved_bytes() {
        let milan = TcbVersion {
            fmc: None,
            bootloader: 3,
            tee: 0,
            snp: 8,
            microcode: 115,
        };
        let raw = milan.encode(Product::Milan);
        assert_eq!(raw, [3, 0, 0, 0, 0, 0, 8, 115]);
        assert_eq!(TcbVersion::decode(Product::Milan, raw), Some(milan));
        let turin = TcbVersion {
            fmc: Some(1),
            bootloader: 2,
            tee: 3,
            snp: 4,
            microcode: 9,
        };
        let raw = turin.encode(Product::Turin);
        assert_eq!(raw, [1, 2, 3, 4, 0, 0, 0, 9]);
        assert_eq!(TcbVersion::decode(Product::Turin, raw), Some(turin));
        assert_eq!(
            TcbVersion::decode(Product::Milan, [3, 0, 1, 0, 0, 0, 8, 115]),
            None
        );
        assert_eq!(
            TcbVersion::decode(Product::Turin, [1, 2, 3, 4, 0, 5, 0, 9]),
            None
        );
    }
}
