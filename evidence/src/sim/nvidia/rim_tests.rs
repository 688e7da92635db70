//! Tests of the simulated RIMs: every one goes through the real verifier
//! ([`crate::nvidia::rim::RimVerifier`]) and comparison ([`crate::nvidia::rim::compare`]).

use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::nvidia::SpdmReport;
use crate::nvidia::rim::{CompareError, Mismatch, RimError, RimVerifier, VerifiedRim, compare};
use crate::sim::nvidia::DeviceHierarchy;

/// 2026-01-01T00:00:00Z, inside every default validity.
const NOW: UnixTime = UnixTime(1_767_225_600);
const NONCE: [u8; 32] = [0x5B; 32];

fn verifier() -> RimVerifier {
    RimVerifier::new(RimHierarchy::shared().root_der().to_vec())
}

fn verify(xml: &[u8]) -> Result<VerifiedRim, RimError> {
    verifier().verify(NOW, xml)
}

/// The measurements of a simulated GPU's report (`[i]` is block `i + 1`) and its NVDEC0 flag,
/// read back with the real parser.
fn report_of(profile: &GpuProfile) -> (Vec<[u8; 48]>, bool) {
    let gpu = DeviceHierarchy::shared(profile.arch)
        .gpu(profile.clone())
        .unwrap();
    let bytes = gpu.report(&NONCE).unwrap();
    let report = SpdmReport::parse(&bytes).unwrap();
    let blocks: Vec<[u8; 48]> = report.measurements().iter().map(|b| b.digest).collect();
    for (i, block) in report.measurements().iter().enumerate() {
        assert_eq!(usize::from(block.index), i + 1);
    }
    (blocks, report.opaque().nvdec0_status() == Some(0x55))
}

fn pair(gpu: &GpuProfile, faults: &RimPairFaults) -> (SimRims, VerifiedRim, VerifiedRim) {
    let rims = RimHierarchy::shared().rims_for_with(gpu, faults).unwrap();
    let driver = verify(&rims.driver).unwrap();
    let vbios = verify(&rims.vbios).unwrap();
    (rims, driver, vbios)
}

#[test]
fn sim_rims_verify_and_carry_the_profile() {
    let gpu = GpuProfile::hopper();
    let (rims, driver, vbios) = pair(&gpu, &RimPairFaults::default());
    assert_eq!(rims.driver_id, "NV_GPU_DRIVER_GH100_580.159.03");
    assert_eq!(rims.vbios_id, "NV_GPU_VBIOS_1010_0205_862_9600740020");

    assert_eq!(driver.kind, RimKind::Driver);
    assert_eq!(driver.colloquial_version, "580.159.03");
    assert_eq!(vbios.kind, RimKind::Vbios);
    assert_eq!(vbios.colloquial_version, "96.00.74.00.20");
    for rim in [&driver, &vbios] {
        assert_eq!(rim.name, "GH100");
        assert_eq!(rim.product, "GH100");
        assert_eq!(rim.version, "1.0");
        assert_eq!(rim.tag_version, "0");
        assert_eq!(rim.tag_id.len(), 96);
        assert_eq!(rim.firmware_manufacturer_id.as_deref(), Some("5703"));
        assert_eq!(rim.platform_model.as_deref(), Some("GH100"));
        assert!(rim.signer.contains(RIM_SIGNER_CN), "{}", rim.signer);
        assert_eq!(rim.valid_from, SIGNER_NOT_BEFORE);
        assert_eq!(rim.valid_until, SIGNER_NOT_AFTER);
        assert_eq!(rim.measurements.len(), 64);
    }
    let active = |rim: &VerifiedRim| -> Vec<u32> {
        rim.measurements
            .iter()
            .filter(|m| m.active)
            .map(|m| m.index)
            .collect()
    };
    let mut driver_owned = vec![7];
    driver_owned.extend(21..=41);
    assert_eq!(active(&driver), driver_owned);
    let vbios_owned: Vec<u32> = (0..=20).filter(|&i| i != 7).collect();
    assert_eq!(active(&vbios), vbios_owned);
}

#[test]
fn pair_matches_the_sim_report() {
    for gpu in [GpuProfile::hopper(), GpuProfile::blackwell()] {
        let (report, nvdec0_disabled) = report_of(&gpu);
        assert!(nvdec0_disabled);
        let (_, driver, vbios) = pair(&gpu, &RimPairFaults::default());
        let result = compare(&report, nvdec0_disabled, &driver, &vbios).unwrap();
        assert!(result.matched, "{:?}: {result:?}", gpu.arch);
        assert!(result.mismatched_indices.is_empty());
        assert_eq!(result.skipped, vec![35]);
        assert_eq!(result.compared.len(), 20 + 22 - 1);
        // Every non-zero measurement of the report is compared.
        for (index, value) in (0u32..).zip(&report) {
            if value.iter().any(|&b| b != 0) && index != 35 {
                assert!(result.compared.contains(&index), "{index}");
            }
        }
    }
}

#[test]
fn blackwell_ids() {
    let rims = RimHierarchy::shared()
        .rims_for(&GpuProfile::blackwell())
        .unwrap();
    assert_eq!(rims.driver_id, "NV_GPU_CC_DRIVER_GB100_575.32");
    assert_eq!(rims.vbios_id, "NV_GPU_VBIOS_G525_0220_886_970088000F");
    assert_eq!(verify(&rims.driver).unwrap().product, "GB100");
}

#[test]
fn alternatives_match_any() {
    let gpu = GpuProfile::hopper();
    let (report, nvdec0_disabled) = report_of(&gpu);
    let hierarchy = RimHierarchy::shared();
    let mut profile = RimProfile::vbios_for(&gpu);
    profile.set(1, true, vec![[0xAB; 48], report[1], [0xCD; 48]]);
    let vbios = verify(&hierarchy.sign_rim(&profile).unwrap()).unwrap();
    assert_eq!(vbios.measurements[1].alternatives.len(), 3);
    let driver = verify(&hierarchy.sign_rim(&RimProfile::driver_for(&gpu)).unwrap()).unwrap();
    assert!(
        compare(&report, nvdec0_disabled, &driver, &vbios)
            .unwrap()
            .matched
    );
}

#[test]
fn measurement_mismatch_at_given_indices() {
    let gpu = GpuProfile::hopper();
    let (report, nvdec0_disabled) = report_of(&gpu);
    let faults = RimPairFaults {
        mismatch_at: vec![3, 25],
        ..RimPairFaults::default()
    };
    let (_, driver, vbios) = pair(&gpu, &faults);
    let result = compare(&report, nvdec0_disabled, &driver, &vbios).unwrap();
    assert!(!result.matched);
    assert_eq!(result.mismatched_indices, vec![3, 25]);
    assert_eq!(
        result
            .mismatches
            .iter()
            .map(|m: &Mismatch| m.source)
            .collect::<Vec<_>>(),
        vec![RimKind::Vbios, RimKind::Driver]
    );
}

#[test]
fn index_claimed_by_both_rims() {
    let gpu = GpuProfile::hopper();
    let (report, nvdec0_disabled) = report_of(&gpu);
    let faults = RimPairFaults {
        conflict_at: vec![30],
        ..RimPairFaults::default()
    };
    let (_, driver, vbios) = pair(&gpu, &faults);
    assert_eq!(
        compare(&report, nvdec0_disabled, &driver, &vbios),
        Err(CompareError::IndexConflict { index: 30 })
    );
}

#[test]
fn swapped_rims_are_the_wrong_kind() {
    let gpu = GpuProfile::hopper();
    let (report, nvdec0_disabled) = report_of(&gpu);
    let (_, driver, vbios) = pair(&gpu, &RimPairFaults::default());
    assert_eq!(
        compare(&report, nvdec0_disabled, &vbios, &driver),
        Err(CompareError::WrongKind {
            expected: RimKind::Driver
        })
    );
}

fn signed_with(faults: &RimFaults) -> Vec<u8> {
    RimHierarchy::shared()
        .sign_rim_with(&RimProfile::vbios_for(&GpuProfile::hopper()), faults)
        .unwrap()
}

#[test]
fn tampered_after_signing() {
    let xml = signed_with(&RimFaults {
        tamper_after_signing: true,
        ..RimFaults::default()
    });
    assert_ne!(xml, signed_with(&RimFaults::default()));
    assert_eq!(verify(&xml), Err(RimError::DigestMismatch));
}

#[test]
fn wrong_signature_algorithm() {
    let rsa = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
    let xml = signed_with(&RimFaults {
        signature_method: Some(rsa.to_owned()),
        ..RimFaults::default()
    });
    assert_eq!(
        verify(&xml),
        Err(RimError::Algorithm {
            what: "SignatureMethod",
            found: rsa.to_owned(),
        })
    );
}

#[test]
fn doctype_is_refused() {
    let xml = signed_with(&RimFaults {
        doctype: true,
        ..RimFaults::default()
    });
    assert!(xml.starts_with(b"<!DOCTYPE"));
    assert_eq!(verify(&xml), Err(RimError::Dtd));
}

#[test]
fn expired_and_not_yet_valid_signer() {
    let mut profile = RimProfile::driver_for(&GpuProfile::hopper());
    profile.not_before = UnixTime(NOW.0 - 3 * 365 * 86_400);
    profile.not_after = UnixTime(NOW.0 - 1);
    let xml = RimHierarchy::shared().sign_rim(&profile).unwrap();
    assert_eq!(
        verify(&xml),
        Err(RimError::CertExpired {
            index: 0,
            not_after: profile.not_after,
        })
    );

    profile.not_before = UnixTime(NOW.0 + 1);
    profile.not_after = UnixTime(NOW.0 + 86_400);
    let xml = RimHierarchy::shared().sign_rim(&profile).unwrap();
    assert_eq!(
        verify(&xml),
        Err(RimError::CertNotYetValid {
            index: 0,
            not_before: profile.not_before,
        })
    );
}

#[test]
fn chain_to_another_root() {
    let other = RimHierarchy::generate(SHARED_SEED + 1);
    let xml = other
        .sign_rim(&RimProfile::driver_for(&GpuProfile::hopper()))
        .unwrap();
    assert_eq!(verify(&xml), Err(RimError::UntrustedRoot));
    // The same document verifies under its own root.
    RimVerifier::new(other.root_der().to_vec())
        .verify(NOW, &xml)
        .unwrap();
}

#[test]
fn chain_grafted_onto_the_pinned_root() {
    // Another hierarchy's RIM whose KeyInfo ends in the pinned root: the root check passes,
    // the CA's signature does not verify under it.
    let other = RimHierarchy::generate(SHARED_SEED + 1);
    let faults = RimFaults {
        replace_root: Some(RimHierarchy::shared().root_der().to_vec()),
        ..RimFaults::default()
    };
    let xml = other
        .sign_rim_with(&RimProfile::driver_for(&GpuProfile::hopper()), &faults)
        .unwrap();
    assert_eq!(verify(&xml), Err(RimError::ChainSignature { index: 2 }));
}

#[test]
fn export_import_reproduces_identical_rims() {
    let hierarchy = RimHierarchy::generate(11);
    let export = hierarchy.export().unwrap();
    let json = serde_json::to_string(&export).unwrap();
    let back: RimHierarchyExport = serde_json::from_str(&json).unwrap();
    assert_eq!(back, export);
    let imported = RimHierarchy::import(&back).unwrap();
    let gpu = GpuProfile::hopper();
    assert_eq!(imported.root_der(), hierarchy.root_der());
    assert_eq!(
        imported.rims_for(&gpu).unwrap(),
        hierarchy.rims_for(&gpu).unwrap()
    );
    assert!(!format!("{export:?}").contains(&hex::encode(export.signer_key.as_slice())));

    // A key that does not match its certificate is refused.
    let mut wrong = export.clone();
    wrong.l3_key = export.ca_key;
    assert!(RimHierarchy::import(&wrong).is_err());
}

#[test]
fn deterministic_per_seed() {
    let gpu = GpuProfile::hopper();
    let a = RimHierarchy::generate(7).rims_for(&gpu).unwrap();
    let b = RimHierarchy::generate(7).rims_for(&gpu).unwrap();
    let c = RimHierarchy::generate(8).rims_for(&gpu).unwrap();
    assert_eq!(a, b);
    assert_ne!(a.driver, c.driver);
    assert_eq!(
        RimHierarchy::generate(SHARED_SEED).root_der(),
        RimHierarchy::shared().root_der()
    );
}

#[test]
fn chain_has_nvidia_shapes() {
    let hierarchy = RimHierarchy::shared();
    let profile = RimProfile::driver_for(&GpuProfile::hopper());
    let signer = hierarchy.signer_der(&profile).unwrap();
    let ders = [
        signer.as_slice(),
        hierarchy.l3_der(),
        hierarchy.ca_der(),
        hierarchy.root_der(),
    ];
    let expected = [
        (
            "C=US, ST=CA, L=Santa Clara, O=NVIDIA Corporation, CN=HCC RIM L4 Signer",
            false,
        ),
        (
            "CN=NVIDIA Reference Value L3 GH100 001, O=NVIDIA Corporation, C=US",
            true,
        ),
        (
            "CN=NVIDIA Reference Value GH100 CA, O=NVIDIA Corporation, C=US",
            true,
        ),
        (
            "C=US, O=NVIDIA, CN=Warden Simulated NVIDIA CoRIM signing Root CA",
            true,
        ),
    ];
    for (der, (subject, ca)) in ders.iter().zip(expected) {
        let (rest, cert) = X509Certificate::from_der(der).unwrap();
        assert!(rest.is_empty());
        assert_eq!(cert.subject().to_string(), subject);
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(bc.critical);
        assert_eq!(bc.value.ca, ca);
        let ku = cert.key_usage().unwrap().unwrap();
        assert!(ku.critical);
        assert_eq!(ku.value.digital_signature(), !ca);
        assert_eq!(ku.value.key_cert_sign(), ca);
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            "1.2.840.10045.4.3.3"
        );
    }
    // NVIDIA's CoRIM signing root: 2023-03-16T15:37:34Z..2053-03-08T15:37:34Z.
    let (_, root) = X509Certificate::from_der(hierarchy.root_der()).unwrap();
    assert_eq!(root.validity().not_before.timestamp(), 1_678_981_054);
    assert_eq!(root.validity().not_after.timestamp(), 2_625_061_054);
}

/// The element names and attribute names of a RIM, in document order, with the namespace
/// prefixes written (Hash values and certificates aside).
fn outline(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.is_element())
        .filter(|n| n.tag_name().name() != "Resource")
        .map(|n| {
            let attrs: Vec<&str> = n.attributes().map(|a| a.name()).collect();
            format!(
                "{}{{{:?}}} {}",
                n.tag_name().name(),
                n.tag_name().namespace(),
                attrs.join(" ")
            )
        })
        .collect()
}

#[test]
fn layout_follows_a_real_rim() {
    let Some(real) = crate::test_vectors::real(
        "nvidia/rims/nvtrust",
        "1010_0200_882_96005E0001_PROD.swidtag",
    ) else {
        return;
    };
    let real = String::from_utf8(real).unwrap();
    let sim = String::from_utf8(signed_with(&RimFaults::default())).unwrap();
    assert_eq!(outline(&sim), outline(&real));
    let real_lines: Vec<&str> = real.lines().take(5).collect();
    let sim_lines: Vec<&str> = sim.lines().take(5).collect();
    for (r, s) in real_lines.iter().zip(&sim_lines) {
        // Same indentation and element on each line.
        assert_eq!(r.split('=').next(), s.split('=').next());
    }
}
