//! Vendor trust anchors, pinned in the tree (`verifier/roots/amd/`, `verifier/roots/intel/` and
//! `verifier/roots/nvidia/`, see their READMEs for sources and SHA-256 fingerprints) and compiled
//! in.

use warden_evidence::snp::{Product, ProductRoots, TrustAnchors};

const MILAN_ARK: &[u8] = include_bytes!("../roots/amd/milan/ark.der");
const MILAN_ASK: &[u8] = include_bytes!("../roots/amd/milan/ask.der");
const MILAN_ASVK: &[u8] = include_bytes!("../roots/amd/milan/asvk.der");
const GENOA_ARK: &[u8] = include_bytes!("../roots/amd/genoa/ark.der");
const GENOA_ASK: &[u8] = include_bytes!("../roots/amd/genoa/ask.der");
const GENOA_ASVK: &[u8] = include_bytes!("../roots/amd/genoa/asvk.der");
const TURIN_ARK: &[u8] = include_bytes!("../roots/amd/turin/ark.der");
const TURIN_ASK: &[u8] = include_bytes!("../roots/amd/turin/ask.der");
const TURIN_ASVK: &[u8] = include_bytes!("../roots/amd/turin/asvk.der");

const INTEL_SGX_ROOT_CA: &[u8] = include_bytes!("../roots/intel/sgx_root_ca.der");

const NVIDIA_DEVICE_IDENTITY_CA: &[u8] = include_bytes!("../roots/nvidia/device_identity_ca.der");
const NVIDIA_CORIM_SIGNING_ROOT_CA: &[u8] =
    include_bytes!("../roots/nvidia/corim_signing_root_ca.der");

/// The pinned NVIDIA Device Identity CA (DER): the root of every Hopper and Blackwell GPU
/// attestation certificate chain.
pub fn nvidia_device_identity_ca() -> &'static [u8] {
    NVIDIA_DEVICE_IDENTITY_CA
}

/// The pinned NVIDIA CoRIM signing Root CA (DER): the root of every RIM signing chain.
pub fn nvidia_corim_signing_root_ca() -> &'static [u8] {
    NVIDIA_CORIM_SIGNING_ROOT_CA
}

/// The pinned Intel SGX Root CA (DER): the root of every DCAP PCK, TCB Signing and CRL chain.
pub fn intel_sgx_root_ca() -> &'static [u8] {
    INTEL_SGX_ROOT_CA
}

/// The pinned AMD roots: ARK, ASK and ASVK for Milan, Genoa and Turin.
pub fn amd() -> TrustAnchors {
    let roots = |ark: &[u8], ask: &[u8], asvk: &[u8]| ProductRoots {
        ark: ark.to_vec(),
        ask: Some(ask.to_vec()),
        asvk: Some(asvk.to_vec()),
        crls: Vec::new(),
    };
    TrustAnchors::new()
        .with(Product::Milan, roots(MILAN_ARK, MILAN_ASK, MILAN_ASVK))
        .with(Product::Genoa, roots(GENOA_ARK, GENOA_ASK, GENOA_ASVK))
        .with(Product::Turin, roots(TURIN_ARK, TURIN_ASK, TURIN_ASVK))
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn pinned_intel_root_matches_its_published_fingerprint() {
        let fingerprint = "44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3";
        assert_eq!(sha256_hex(intel_sgx_root_ca()), fingerprint);
        assert!(include_str!("../roots/intel/README.md").contains(fingerprint));
    }

    #[test]
    fn pinned_nvidia_roots_match_their_published_fingerprints() {
        let readme = include_str!("../roots/nvidia/README.md");
        for (der, fingerprint) in [
            (
                nvidia_device_identity_ca(),
                "102bf659d5419614c9d8e6aecebc80454eb26b1df6a769ac720b9a690b167b48",
            ),
            (
                nvidia_corim_signing_root_ca(),
                "12977b5115acb0381179279fffeb5a8c4d264971ebb32298023a465fa41df5d1",
            ),
        ] {
            assert_eq!(sha256_hex(der), fingerprint);
            assert!(readme.contains(fingerprint));
        }
    }

    /// The compiled-in ARKs are the ones AMD publishes, and every pinned file is listed with its
    /// SHA-256 in roots/amd/README.md.
    #[test]
    fn pinned_roots_match_published_fingerprints() {
        let anchors = amd();
        let expect = [
            (
                Product::Milan,
                "69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd",
            ),
            (
                Product::Genoa,
                "4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1",
            ),
            (
                Product::Turin,
                "1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a",
            ),
        ];
        let readme = include_str!("../roots/amd/README.md");
        for (product, fingerprint) in expect {
            let roots = anchors.get(product).expect("pinned");
            assert_eq!(sha256_hex(&roots.ark), fingerprint, "{product}");
            assert!(
                readme.contains(fingerprint),
                "{product} ARK missing from README"
            );
            for der in [
                roots.ask.as_ref().expect("ask"),
                roots.asvk.as_ref().expect("asvk"),
            ] {
                assert!(
                    readme.contains(&sha256_hex(der)),
                    "{product}: intermediate not in README"
                );
            }
        }
    }
}
