//! The real SEV-SNP reports of `../shared/vectors/snp` through the verifier's offline path
//! (the code the `evidence verify snp` command runs), with the outcomes its README gives.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::{at, read, vectors};
use warden_evidence::snp::{CertRole, Product, SnpError, SnpVerifier, VekKind, VerifiedReport};
use warden_verifier::offline::{SnpFiles, verify_snp};
use warden_verifier::roots;

const AT: &str = "2025-06-01T00:00:00Z";

fn verify(
    dir: &Path,
    report: &str,
    cert: &str,
    chain: Option<&str>,
) -> Result<VerifiedReport, SnpError> {
    verify_at(dir, report, cert, chain, AT)
}

fn verify_at(
    dir: &Path,
    report: &str,
    cert: &str,
    chain: Option<&str>,
    time: &str,
) -> Result<VerifiedReport, SnpError> {
    let report = read(dir, report);
    let cert = read(dir, cert);
    let chain = chain.map(|c| read(dir, c));
    verify_snp(
        SnpFiles {
            report: &report,
            cert: &cert,
            chain: chain.as_deref(),
            crls: &[],
        },
        at(time),
        false,
    )
}

#[test]
fn every_real_report_verifies() {
    let Some(dir) = vectors("snp") else { return };
    let cases = [
        (
            "gosev_milan_report.bin",
            "gosev_milan_vcek.der",
            VekKind::Vcek,
            2,
        ),
        (
            "virtee_milan_report.bin",
            "virtee_milan_vcek.der",
            VekKind::Vcek,
            2,
        ),
        (
            "trustee_milan_report.bin",
            "trustee_milan_vcek.der",
            VekKind::Vcek,
            2,
        ),
        (
            "trustee_milan_vlek_report.bin",
            "trustee_milan_vlek.der",
            VekKind::Vlek,
            3,
        ),
    ];
    for (report, cert, signer, version) in cases {
        let verified = verify(&dir, report, cert, None).unwrap_or_else(|e| panic!("{report}: {e}"));
        assert_eq!(verified.product, Product::Milan, "{report}");
        assert_eq!(verified.signer, signer, "{report}");
        assert_eq!(verified.claims.version, version, "{report}");
    }
}

#[test]
fn claims_match_the_readme() {
    let Some(dir) = vectors("snp") else { return };
    let gosev = verify(&dir, "gosev_milan_report.bin", "gosev_milan_vcek.der", None).unwrap();
    let c = &gosev.claims;
    assert_eq!(c.report_data, format!("0102030405{}", "00".repeat(59)));
    assert_eq!(
        c.measurement,
        "b07af9620f3b839b47996422ddec6058338951d984e312115131ea82705eaf5b6bdf8a9ece31a5a608eb0cf2e4872b01"
    );
    // Cryptographically valid, and debug is allowed: policy must reject it, not the verifier.
    assert_eq!(c.policy.raw, 0xb0000);
    assert!(c.policy.debug && c.policy.smt && !c.policy.migrate_ma);
    assert_eq!((c.reported_tcb.bootloader, c.reported_tcb.tee), (2, 0));
    assert_eq!((c.reported_tcb.snp, c.reported_tcb.microcode), (5, 68));
    assert!(c.chip_id.starts_with("3ac3fe21e13fb099"));
    assert_eq!(c.vmpl, 0);

    let trustee = verify(
        &dir,
        "trustee_milan_report.bin",
        "trustee_milan_vcek.der",
        None,
    )
    .unwrap();
    let c = &trustee.claims;
    assert_eq!(c.policy.raw, 0x3001f);
    assert_eq!(
        (c.policy.abi_major, c.policy.abi_minor, c.policy.debug),
        (0, 31, false)
    );
    assert_eq!(c.guest_svn, 4);
    assert_eq!(
        c.id_key_digest,
        "0356215882a825279a85b300b0b742931d113bf7e32dde2e50ffde7ec743ca491ecdd7f336dc28a6e0b2bb57af7a44a3"
    );
    // REPORTED_TCB (what the VCEK is for) differs from CURRENT_TCB here.
    assert_eq!(
        (c.reported_tcb.microcode, c.current_tcb.microcode),
        (115, 206)
    );
    assert_eq!(c.current_version, "1.52.4");

    let vlek = verify(
        &dir,
        "trustee_milan_vlek_report.bin",
        "trustee_milan_vlek.der",
        None,
    )
    .unwrap();
    let c = &vlek.claims;
    assert_eq!(c.vmpl, 1);
    assert_eq!(c.chip_id, "00".repeat(64));
    assert_eq!(c.csp_id.as_deref(), Some("CN=cc-us-east-2.amazonaws.com"));
    assert_eq!(
        c.cpuid.as_ref().map(|c| (c.family, c.model, c.stepping)),
        Some((0x19, 1, 1))
    );
    assert_eq!(c.current_version, "1.55.29");
    assert_eq!(c.platform_info.raw, 0x27);
    assert!(c.platform_info.alias_check_complete);
    assert_eq!(
        (
            c.reported_tcb.bootloader,
            c.reported_tcb.snp,
            c.reported_tcb.microcode
        ),
        (4, 24, 217)
    );
}

#[test]
fn vlek_fails_after_it_expired() {
    let Some(dir) = vectors("snp") else { return };
    let err = verify_at(
        &dir,
        "trustee_milan_vlek_report.bin",
        "trustee_milan_vlek.der",
        None,
        "2026-01-01T00:00:00Z",
    )
    .unwrap_err();
    assert_eq!(
        err,
        SnpError::Expired {
            role: CertRole::Vlek,
            not_after: at("2025-12-10T22:14:21Z"),
            now: at("2026-01-01T00:00:00Z"),
        }
    );
    // And before it was issued.
    let err = verify_at(
        &dir,
        "trustee_milan_vlek_report.bin",
        "trustee_milan_vlek.der",
        None,
        "2024-12-01T00:00:00Z",
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            SnpError::NotYetValid {
                role: CertRole::Vlek,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn one_flipped_bit_fails() {
    let Some(dir) = vectors("snp") else { return };
    let report = read(&dir, "virtee_milan_report.bin");
    let cert = read(&dir, "virtee_milan_vcek.der");
    // One verifier for all flips: the chain is verified once and cached, as in production.
    let verifier = SnpVerifier::new(roots::amd());
    verifier
        .verify(at(AT), &report, &cert)
        .expect("unmodified report verifies");
    // Every bit of the signed range, REPORT_DATA and MEASUREMENT first (the fields an attacker
    // wants to change): each flip must fail, most with the signature.
    let mut bad_signature = 0;
    for bit in 0..0x2A0 * 8 {
        let mut flipped = report.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        match verifier.verify(at(AT), &flipped, &cert) {
            Ok(_) => panic!(
                "bit {bit} (byte {:#x}) flipped and the report still verified",
                bit / 8
            ),
            Err(SnpError::BadSignature(VekKind::Vcek)) => bad_signature += 1,
            Err(_) => {}
        }
    }
    // The rest hit a structural check first (reserved ranges, version, policy, VMPL).
    assert!(
        bad_signature > 3000,
        "only {bad_signature} flips reached the signature check"
    );
    for offset in (0x50..0x90).chain(0x90..0xC0) {
        let mut flipped = report.clone();
        flipped[offset] ^= 0x80;
        assert_eq!(
            verifier.verify(at(AT), &flipped, &cert).unwrap_err(),
            SnpError::BadSignature(VekKind::Vcek),
            "offset {offset:#x}"
        );
    }
}

#[test]
fn vcek_from_another_chip_fails() {
    let Some(dir) = vectors("snp") else { return };
    for (report, cert) in [
        ("gosev_milan_report.bin", "virtee_milan_vcek.der"),
        ("trustee_milan_report.bin", "gosev_milan_vcek.der"),
        ("virtee_milan_report.bin", "trustee_milan_vcek.der"),
    ] {
        assert_eq!(
            verify(&dir, report, cert, None).unwrap_err(),
            SnpError::BadSignature(VekKind::Vcek),
            "{report} with {cert}"
        );
    }
    // A VLEK report with a VCEK: the kind is checked before any signature.
    assert_eq!(
        verify(
            &dir,
            "trustee_milan_vlek_report.bin",
            "virtee_milan_vcek.der",
            None
        )
        .unwrap_err(),
        SnpError::SignerMismatch {
            report: VekKind::Vlek,
            cert: VekKind::Vcek
        }
    );
}

#[test]
fn turin_vcek_verifies_only_with_the_turin_chain() {
    let Some(dir) = vectors("snp") else { return };
    let turin = read(&dir, "virtee_turin_vcek.der");
    let verifier = SnpVerifier::new(roots::amd());
    assert_eq!(
        verifier.verify_certificate(at(AT), &turin),
        Ok((Product::Turin, VekKind::Vcek))
    );

    // Operator supplies the Milan chain for the Turin VCEK: refused, naming both products.
    let err = verify(
        &dir,
        "virtee_milan_report.bin",
        "virtee_turin_vcek.der",
        Some("gosev_milan_ask_ark.pem"),
    )
    .unwrap_err();
    assert_eq!(
        err,
        SnpError::ChainProductMismatch {
            evidence: Product::Turin,
            chain: Product::Milan
        }
    );

    // With the Milan ASK forced in as the Turin VCEK's issuer (dangerous override), the
    // signature check itself fails.
    let chain = read(&dir, "gosev_milan_ask_ark.pem");
    let ders =
        warden_evidence::snp::decode_certificates(&chain, &[CertRole::Ask, CertRole::Ark]).unwrap();
    let anchors = roots::amd()
        .with_chain_override(Product::Turin, VekKind::Vcek, &ders, true)
        .unwrap();
    let err = SnpVerifier::new(anchors)
        .verify_certificate(at(AT), &turin)
        .unwrap_err();
    assert_eq!(
        err,
        SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "issuer name is not the issuer's subject"
        }
    );
}

#[test]
fn chain_override_keeps_the_root_pinned() {
    let Some(dir) = vectors("snp") else { return };
    // The real KDS chains are accepted as overrides: their ARK is the pinned one.
    verify(
        &dir,
        "virtee_milan_report.bin",
        "virtee_milan_vcek.der",
        Some("gosev_milan_ask_ark.pem"),
    )
    .unwrap();
    verify(
        &dir,
        "trustee_milan_vlek_report.bin",
        "trustee_milan_vlek.der",
        Some("gosev_milan_asvk_ark.pem"),
    )
    .unwrap();
    // Genoa's chain for a Milan report.
    assert_eq!(
        verify(
            &dir,
            "virtee_milan_report.bin",
            "virtee_milan_vcek.der",
            Some("gosev_genoa_ask_ark.pem")
        )
        .unwrap_err(),
        SnpError::ChainProductMismatch {
            evidence: Product::Milan,
            chain: Product::Genoa
        }
    );
    // The VLEK chain for a VCEK: the ASVK is not the VCEK's issuer.
    assert_eq!(
        verify(
            &dir,
            "virtee_milan_report.bin",
            "virtee_milan_vcek.der",
            Some("gosev_milan_asvk_ark.pem")
        )
        .unwrap_err(),
        SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "issuer name is not the issuer's subject"
        }
    );
}

#[test]
fn reported_tcb_is_compared_not_current_tcb() {
    let Some(dir) = vectors("snp") else { return };
    // trustee_milan_report has CURRENT_TCB ucode 206 and REPORTED_TCB ucode 115; the VCEK is for
    // 115. Verifying proves the comparison uses REPORTED_TCB. A VCEK for another TCB is refused
    // with the component named: the simulated hierarchy covers that (the real VCEKs differ in
    // chip too, so their signature fails first).
    let v = verify(
        &dir,
        "trustee_milan_report.bin",
        "trustee_milan_vcek.der",
        None,
    )
    .unwrap();
    assert_ne!(v.claims.current_tcb, v.claims.reported_tcb);
}

#[test]
fn real_amd_crl_is_checked() {
    let Some(dir) = vectors("snp") else { return };
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let milan_crl = std::fs::read(data.join("amd_milan_2025-05-06.crl.pem")).unwrap();
    let genoa_crl = std::fs::read(data.join("amd_genoa_2024-10-23.crl.pem")).unwrap();
    let run = |report: &str, cert: &str, crl: &[u8], time: &str| {
        let report = read(&dir, report);
        let cert = read(&dir, cert);
        let crls = [crl.to_vec()];
        verify_snp(
            SnpFiles {
                report: &report,
                cert: &cert,
                chain: None,
                crls: &crls,
            },
            at(time),
            false,
        )
    };
    let ok = run(
        "virtee_milan_report.bin",
        "virtee_milan_vcek.der",
        &milan_crl,
        AT,
    )
    .unwrap();
    assert!(ok.claims.crl_checked);
    let without = verify(
        &dir,
        "virtee_milan_report.bin",
        "virtee_milan_vcek.der",
        None,
    )
    .unwrap();
    assert!(!without.claims.crl_checked);
    // The Milan VCEK CRL lists no ASK; the VLEK chain's ASVK is not in it either.
    run(
        "trustee_milan_vlek_report.bin",
        "trustee_milan_vlek.der",
        &milan_crl,
        AT,
    )
    .unwrap();
    // Past nextUpdate the revocation state is unknown: fail closed.
    assert_eq!(
        run(
            "virtee_milan_report.bin",
            "virtee_milan_vcek.der",
            &milan_crl,
            "2026-06-01T00:00:00Z"
        )
        .unwrap_err(),
        SnpError::CrlStale {
            next_update: at("2026-05-12T00:00:00Z"),
            now: at("2026-06-01T00:00:00Z")
        }
    );
    assert_eq!(
        run(
            "virtee_milan_report.bin",
            "virtee_milan_vcek.der",
            &milan_crl,
            "2025-05-01T00:00:00Z"
        )
        .unwrap_err(),
        SnpError::CrlNotYetValid {
            this_update: at("2025-05-06T12:39:06Z"),
            now: at("2025-05-01T00:00:00Z")
        }
    );
    // Genoa's CRL is not issued by the Milan ARK.
    assert_eq!(
        run(
            "virtee_milan_report.bin",
            "virtee_milan_vcek.der",
            &genoa_crl,
            AT
        )
        .unwrap_err(),
        SnpError::BadCrl("issuer is not the ARK")
    );
}
