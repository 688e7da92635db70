//! NVIDIA RIMs over the real signed files (`shared/vectors/nvidia`, read in place): every valid
//! RIM verifies at the time its README/expected.json gives, each negative file fails with its
//! specific error, and the report/RIM pairs of `expected.json` mismatch at exactly its indices.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use warden_evidence::UnixTime;
use warden_evidence::nvidia::rim::{
    self, CompareError, RimError, RimKind, RimVerifier, VerifiedRim,
};

use common::{at, read};

fn vectors() -> Option<PathBuf> {
    common::vectors("nvidia")
}

/// The pinned root from the tree (not the vectors' copy), as the verifier service loads it.
fn pinned_root() -> Vec<u8> {
    include_bytes!("../../verifier/roots/nvidia/corim_signing_root_ca.der").to_vec()
}

fn verifier() -> RimVerifier {
    RimVerifier::new(pinned_root())
}

fn pem_to_der(pem: &[u8]) -> Vec<u8> {
    use base64::Engine as _;
    let text = std::str::from_utf8(pem).unwrap();
    let b64: String = text
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .unwrap()
}

/// The 64 measurement values of an SPDM 1.1 MEASUREMENTS report: position `i` holds block `i + 1`
/// (= RIM index `i`). A few lines on purpose: the SPDM parser is tested on its own.
fn report_measurements(dir: &Path, name: &str) -> Vec<[u8; 48]> {
    let hex_text = read(dir, name);
    let bytes = hex::decode(std::str::from_utf8(&hex_text).unwrap().trim()).unwrap();
    let resp = &bytes[37..];
    assert_eq!(&resp[..2], &[0x11, 0x60]);
    let count = usize::from(resp[4]);
    let len = usize::from(resp[5]) | usize::from(resp[6]) << 8 | usize::from(resp[7]) << 16;
    let mut rec = &resp[8..8 + len];
    let mut out = vec![[0u8; 48]; count];
    for _ in 0..count {
        let index = usize::from(rec[0]);
        assert_eq!(rec[1], 1, "DMTF measurement specification");
        let size = usize::from(u16::from_le_bytes([rec[2], rec[3]]));
        assert_eq!(size, 51);
        assert_eq!(u16::from_le_bytes([rec[5], rec[6]]), 48);
        out[index - 1].copy_from_slice(&rec[7..55]);
        rec = &rec[4 + size..];
    }
    assert!(rec.is_empty());
    out
}

fn expected(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&read(dir, "expected.json")).unwrap()
}

/// Verification time for a file: noon on the day `expected.json` says signxml accepted it.
fn time_for(dir: &Path, file: &str) -> UnixTime {
    let exp = expected(dir);
    let entry = exp["rims"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["file"] == file)
        .unwrap_or_else(|| panic!("{file} not in expected.json"));
    at(&format!(
        "{}T12:00:00Z",
        entry["xmldsig_signxml_at"].as_str().unwrap()
    ))
}

fn verify_file(dir: &Path, file: &str) -> Result<VerifiedRim, RimError> {
    verifier().verify(time_for(dir, file), &read(dir, file))
}

#[test]
fn every_valid_rim_verifies() {
    let Some(dir) = vectors() else { return };
    let exp = expected(&dir);
    let mut ok = 0;
    for r in exp["rims"].as_array().unwrap() {
        if r["xmldsig_signxml_result"] != "XMLDSIG OK" {
            continue;
        }
        let file = r["file"].as_str().unwrap();
        let rim = verify_file(&dir, file).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert_eq!(rim.product, r["product"].as_str().unwrap(), "{file}");
        assert_eq!(
            rim.colloquial_version,
            r["colloquialVersion"].as_str().unwrap(),
            "{file}"
        );
        assert_eq!(rim.tag_id, r["tagId"].as_str().unwrap(), "{file}");
        assert_eq!(
            rim.measurements.len() as u64,
            r["n_resources"].as_u64().unwrap(),
            "{file}"
        );
        let active: Vec<u64> = rim
            .measurements
            .iter()
            .filter(|m| m.active)
            .map(|m| u64::from(m.index))
            .collect();
        let want: Vec<u64> = r["active_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(active, want, "{file}");
        let window = r["chain_valid_window"].as_array().unwrap();
        assert_eq!(rim.valid_from, at(window[0].as_str().unwrap()), "{file}");
        assert_eq!(rim.valid_until, at(window[1].as_str().unwrap()), "{file}");
        let want_kind = if file.contains("DRIVER") || file.contains("Driver") {
            RimKind::Driver
        } else {
            RimKind::Vbios
        };
        assert_eq!(rim.kind, want_kind, "{file}");
        assert!(
            rim.signer.contains("RIM L4 Signer"),
            "{file}: {}",
            rim.signer
        );
        ok += 1;
    }
    assert_eq!(ok, 28);
}

#[test]
fn nvtrust_rims_expired_today() {
    let Some(dir) = vectors() else { return };
    let file = "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag";
    let err = verifier()
        .verify(at("2026-01-01T00:00:00Z"), &read(&dir, file))
        .unwrap_err();
    assert!(
        matches!(err, RimError::CertExpired { index: 0, .. }),
        "{err:?}"
    );
    let err = verifier()
        .verify(at("2023-01-01T00:00:00Z"), &read(&dir, file))
        .unwrap_err();
    assert!(
        matches!(err, RimError::CertNotYetValid { index: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn tampered_driver_rim_digest_mismatch() {
    let Some(dir) = vectors() else { return };
    let file = "rims/attestation-sdk/NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml";
    assert_eq!(verify_file(&dir, file), Err(RimError::DigestMismatch));
}

#[test]
fn expired_driver_rim() {
    let Some(dir) = vectors() else { return };
    let file = "rims/attestation-sdk/NV_GPU_DRIVER_GH100_570.124.03_expired.xml";
    assert_eq!(
        verifier().verify(at("2026-05-12T12:00:00Z"), &read(&dir, file)),
        Err(RimError::CertExpired {
            index: 0,
            not_after: at("2025-01-02T00:00:00Z")
        })
    );
    // Inside the leaf's one-day window the chain holds, and the edited content shows.
    assert_eq!(
        verifier().verify(at("2025-01-01T12:00:00Z"), &read(&dir, file)),
        Err(RimError::DigestMismatch)
    );
}

#[test]
fn bad_signature_value() {
    let Some(dir) = vectors() else { return };
    let file = "rims/attestation-sdk/negative_NV_GPU_DRIVER_GH100_550.144.03_bad_signature.xml";
    assert_eq!(verify_file(&dir, file), Err(RimError::SignatureInvalid));
}

#[test]
fn incomplete_chain_to_debug_root() {
    let Some(dir) = vectors() else { return };
    let file = "rims/attestation-sdk/negative_GB100_97.00.83.00.09_incomplete_cert_chain.xml";
    assert_eq!(
        verifier().verify(at("2026-05-12T12:00:00Z"), &read(&dir, file)),
        Err(RimError::UntrustedRoot)
    );
}

#[test]
fn wrong_trust_anchor() {
    let Some(dir) = vectors() else { return };
    let anchor = pem_to_der(&read(&dir, "roots/negative_incorrect_rim_root.crt"));
    let file = "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag";
    assert_eq!(
        RimVerifier::new(anchor).verify(at("2024-06-01T00:00:00Z"), &read(&dir, file)),
        Err(RimError::UntrustedRoot)
    );
}

#[test]
fn pinned_root_is_the_vectors_root() {
    let Some(dir) = vectors() else { return };
    let vec_root = pem_to_der(&read(&dir, "roots/nvidia_corim_signing_root_ca.pem"));
    assert_eq!(vec_root, pinned_root());
}

const GOOD: &str = "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag";

fn good(dir: &Path) -> String {
    String::from_utf8(read(dir, GOOD)).unwrap()
}

fn verify_text(xml: &str) -> Result<VerifiedRim, RimError> {
    verifier().verify(at("2024-06-01T00:00:00Z"), xml.as_bytes())
}

#[test]
fn doctype_rejected() {
    let Some(dir) = vectors() else { return };
    let xml = good(&dir);
    let with_dtd = format!("<!DOCTYPE SoftwareIdentity [<!ENTITY e \"x\">]>\n{xml}");
    assert_eq!(verify_text(&with_dtd), Err(RimError::Dtd));
    let with_dtd = format!("<!DOCTYPE SoftwareIdentity SYSTEM \"file:///etc/passwd\">\n{xml}");
    assert_eq!(verify_text(&with_dtd), Err(RimError::Dtd));
}

#[test]
fn one_byte_edits_of_a_valid_rim() {
    let Some(dir) = vectors() else { return };
    let xml = good(&dir);
    assert!(verify_text(&xml).is_ok());

    // A measurement value changed: the digest no longer matches.
    let edited = xml.replacen(
        "c3f65ef79a19c029868cd7ce54b10e44",
        "c3f65ef79a19c029868cd7ce54b10e45",
        1,
    );
    assert_ne!(edited, xml);
    assert_eq!(verify_text(&edited), Err(RimError::DigestMismatch));

    // An inactive entry made active.
    let edited = xml.replacen(
        "index=\"7\" active=\"False\"",
        "index=\"7\" active=\"True\"",
        1,
    );
    assert_ne!(edited, xml);
    assert_eq!(verify_text(&edited), Err(RimError::DigestMismatch));

    // A comment inserted (would be dropped by C14N, so it is refused outright).
    let edited = xml.replacen("<ns0:Payload", "<!-- x --><ns0:Payload", 1);
    assert_eq!(
        verify_text(&edited),
        Err(RimError::Schema { what: "comment" })
    );

    // A second signature wrapped inside the content.
    let sig_start = xml.find("<ds:Signature").unwrap();
    let sig_end = xml.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &xml[sig_start..sig_end];
    let edited = xml.replacen("</ns0:Payload>", &format!("{sig}</ns0:Payload>"), 1);
    assert_eq!(verify_text(&edited), Err(RimError::MultipleSignatures));

    // Signature removed.
    let edited = format!("{}{}", &xml[..sig_start], &xml[sig_end..]);
    assert_eq!(verify_text(&edited), Err(RimError::MissingSignature));

    // A SignedInfo edit: the signature over it fails.
    let edited = xml.replacen("<ds:Reference URI=\"\">", "<ds:Reference URI=\"\" >", 1);
    assert!(
        verify_text(&edited).is_ok(),
        "whitespace in a tag is not significant"
    );
    let edited = xml.replacen(
        "<ds:SignedInfo>",
        "<ds:SignedInfo xmlns:extra=\"urn:x\">",
        1,
    );
    assert_eq!(verify_text(&edited), Err(RimError::SignatureInvalid));
}

#[test]
fn report_535_matches_its_vbios_rim_at_all_12_active_indices() {
    let Some(dir) = vectors() else { return };
    let report = report_measurements(&dir, "gpu/hopper_535.86.09_report.hex");
    assert_eq!(report.len(), 64);
    let rim = verify_file(&dir, GOOD).unwrap();
    assert!(rim.describes_version("96.00.5e.00.01"));
    assert_eq!(rim.firmware_manufacturer_id.as_deref(), Some("5703"));
    assert_eq!(rim.platform_model.as_deref(), Some("GH100"));
    let c = rim::compare_single(&report, true, &rim).unwrap();
    assert!(c.matched, "{c:?}");
    assert_eq!(c.compared, vec![0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12]);
}

#[test]
fn mismatching_pairs_report_the_readme_indices() {
    let Some(dir) = vectors() else { return };
    let exp = expected(&dir);
    let mut checked = 0;
    for pair in exp["rim_vs_report"].as_array().unwrap() {
        let file = pair["rim"].as_str().unwrap();
        // Tampered and expired RIMs never become a VerifiedRim, so they cannot be compared.
        let Ok(rim) = verify_file(&dir, file) else {
            continue;
        };
        let report = report_measurements(&dir, pair["report"].as_str().unwrap());
        let want: Vec<u32> = pair["mismatched_rim_indices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| u32::try_from(v.as_u64().unwrap()).unwrap())
            .collect();
        // expected.json comes from nvtrust's Python, in which the NVDEC0 skip never fires.
        let c = rim::compare_single(&report, false, &rim).unwrap();
        assert_eq!(c.mismatched_indices, want, "{file}");
        assert_eq!(c.matched, want.is_empty(), "{file}");
        assert_eq!(
            c.compared.len() as u64,
            pair["rim_active"].as_u64().unwrap(),
            "{file}"
        );
        checked += 1;
    }
    assert_eq!(checked, 10);
}

#[test]
fn driver_and_vbios_together() {
    let Some(dir) = vectors() else { return };
    let report = report_measurements(&dir, "gpu/hopper_535.86.09_report.hex");
    let vbios = verify_file(&dir, GOOD).unwrap();
    let driver = verify_file(&dir, "rims/nvtrust/Driver_RIM_test_no_gpu.swidtag").unwrap();
    assert_eq!(driver.kind, RimKind::Driver);
    let c = rim::compare(&report, true, &driver, &vbios).unwrap();
    // The test driver RIM (545.00) does not describe 535.86.09: only driver indices mismatch.
    assert!(!c.matched);
    assert!(
        c.mismatches
            .iter()
            .all(|m| m.source == RimKind::Driver && (m.index == 7 || m.index >= 21)),
        "{c:?}"
    );
    assert_eq!(c.skipped, vec![35]);
    assert_eq!(
        rim::compare(&report, true, &vbios, &driver),
        Err(CompareError::WrongKind {
            expected: RimKind::Driver
        })
    );
}

/// Random one-byte edits of a valid RIM never panic, and whenever one is still accepted (an
/// insignificant edit, e.g. whitespace inside a tag) the result is exactly the original content.
#[test]
fn random_edits_never_change_accepted_content() {
    let Some(dir) = vectors() else { return };
    let xml = read(&dir, GOOD);
    let now = at("2024-06-01T00:00:00Z");
    let original = verifier().verify(now, &xml).unwrap();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut accepted = 0;
    for _ in 0..400 {
        let mut m = xml.clone();
        let pos = (next() % m.len() as u64) as usize;
        let byte = b"<>&\"' =:/\nx0Aa"[(next() % 14) as usize];
        match next() % 3 {
            0 => m[pos] = byte,
            1 => m.insert(pos, byte),
            _ => {
                m.remove(pos);
            }
        }
        if let Ok(rim) = verifier().verify(now, &m) {
            assert_eq!(rim, original, "edit at {pos}");
            accepted += 1;
        }
    }
    eprintln!("{accepted} of 400 edits accepted (insignificant)");
}
