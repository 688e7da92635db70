//! SEV-SNP verification over the simulated AMD hierarchy: every applicable row of THREATS.md
//! sections 1, 2 and 9 mutates one field of a known-good input and asserts the specific error.

use crate::UnixTime;
use crate::sim::snp::{AmdHierarchy, ReportBuilder, SimCurve, Vek, VekProfile};
use crate::snp::{
    CertRole, Product, ProductRoots, SnpError, SnpVerifier, TcbComponent, TrustAnchors, VekKind,
};

/// 2025-06-01T00:00:00Z: inside every simulated certificate's validity.
const NOW: UnixTime = UnixTime(1_748_736_000);

fn roots(h: &AmdHierarchy) -> ProductRoots {
    ProductRoots {
        ark: h.ark_der().to_vec(),
        ask: Some(h.ask_der().to_vec()),
        asvk: Some(h.asvk_der().to_vec()),
        crls: Vec::new(),
    }
}

/// A verifier trusting the shared simulated hierarchies of every product.
fn verifier() -> SnpVerifier {
    let anchors = Product::ALL.into_iter().fold(TrustAnchors::new(), |a, p| {
        a.with(p, roots(AmdHierarchy::shared(p)))
    });
    SnpVerifier::new(anchors)
}

/// The VEK profile matching a report builder's chip and REPORTED_TCB.
fn profile(b: &ReportBuilder, kind: VekKind) -> VekProfile {
    match kind {
        VekKind::Vcek => VekProfile::vcek(b.product, &b.chip_id, b.reported_tcb),
        VekKind::Vlek => VekProfile::vlek(b.product, b.reported_tcb),
    }
}

fn issue(product: Product, profile: &VekProfile) -> Vek {
    AmdHierarchy::shared(product).issue_vek(profile).unwrap()
}

fn signed(b: &ReportBuilder, vek: &Vek) -> Vec<u8> {
    let mut report = b.build();
    vek.sign_report(&mut report).unwrap();
    report.to_vec()
}

/// A signed report and its VCEK for `product`, after `edit` changed the builder.
fn case(product: Product, edit: impl FnOnce(&mut ReportBuilder)) -> (Vec<u8>, Vec<u8>) {
    let mut b = ReportBuilder::new(product);
    edit(&mut b);
    let kind = if b.signing_key == 1 {
        VekKind::Vlek
    } else {
        VekKind::Vcek
    };
    let vek = issue(product, &profile(&b, kind));
    (signed(&b, &vek), vek.der().to_vec())
}

fn verify((report, vek): &(Vec<u8>, Vec<u8>)) -> Result<crate::snp::VerifiedReport, SnpError> {
    verifier().verify(NOW, report, vek)
}

#[test]
fn valid_reports_of_every_product_version_and_signer() {
    let v = verifier();
    for product in Product::ALL {
        for version in [2, 3, 4, 5] {
            for kind in [VekKind::Vcek, VekKind::Vlek] {
                let mut b = ReportBuilder::new(product);
                b.version = version;
                b.signing_key = if kind == VekKind::Vlek { 1 } else { 0 };
                b.launch_mit_vector = if version >= 5 { 0x3 } else { 0 };
                let vek = issue(product, &profile(&b, kind));
                let report = signed(&b, &vek);
                let ok = v
                    .verify(NOW, &report, vek.der())
                    .unwrap_or_else(|e| panic!("{product} v{version} {kind}: {e}"));
                assert_eq!(
                    (ok.product, ok.signer, ok.claims.version),
                    (product, kind, version)
                );
                assert_eq!(ok.claims.reported_tcb, b.reported_tcb);
                assert_eq!(ok.claims.cpuid.is_some(), version >= 3);
                assert_eq!(ok.claims.launch_mit_vector.is_some(), version >= 5);
                assert_eq!(
                    ok.claims.reported_tcb.fmc.is_some(),
                    product == Product::Turin
                );
            }
        }
    }
}

#[test]
fn claims_name_the_policy_and_platform_bits() {
    let ok = verify(&case(Product::Genoa, |b| {
        b.policy = 0x3_0000 | (1 << 19) | (1 << 18) | 0x0102;
        b.vmpl = 2;
        b.platform_info = 0x25;
        b.report_data = [0xab; 64];
        b.measurement = [0xcd; 48];
    }))
    .unwrap();
    let c = ok.claims;
    assert!(c.policy.debug && c.policy.migrate_ma && c.policy.smt && !c.policy.single_socket);
    assert_eq!((c.policy.abi_major, c.policy.abi_minor), (1, 2));
    assert_eq!(c.vmpl, 2);
    assert!(c.platform_info.smt_enabled && c.platform_info.alias_check_complete);
    assert!(!c.platform_info.tsme_enabled);
    assert_eq!(c.report_data, "ab".repeat(64));
    assert_eq!(c.measurement, "cd".repeat(48));
    assert_eq!(c.product, Product::Genoa);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["signer"], "vcek");
    assert_eq!(json["product"], "genoa");
    assert_eq!(json["policy"]["debug"], true);
}

// ---- R1, S21, S4, S18: structure ----

#[test]
fn r1_wrong_sizes() {
    let (report, vek) = case(Product::Milan, |_| {});
    for len in [0, 1, 1183, 1185, 2048] {
        let mut bytes = report.clone();
        bytes.resize(len, 0);
        assert_eq!(
            verifier().verify(NOW, &bytes, &vek).unwrap_err(),
            SnpError::ReportSize { got: len }
        );
    }
}

#[test]
fn s21_unsupported_versions() {
    for version in [0, 1, 6, 0xffff_ffff] {
        let err = verify(&case(Product::Milan, |b| b.version = version)).unwrap_err();
        assert_eq!(err, SnpError::UnsupportedVersion(version));
    }
}

#[test]
fn r1_reserved_fields_must_be_zero() {
    let (good, vek) = case(Product::Milan, |b| b.version = 2);
    let (good_v3, _) = case(Product::Milan, |_| {});
    // (report, offset to set, expected offset in the error)
    let cases = [
        (&good, 0x4C, 0x4C),
        (&good, 0x188, 0x188), // CPUID bytes are reserved in v2
        (&good, 0x18B, 0x18B),
        (&good, 0x19F, 0x18B),
        (&good, 0x1EB, 0x1EB),
        (&good, 0x1EF, 0x1EF),
        (&good_v3, 0x1F8, 0x1F8), // mitigation vectors are v5 only
        (&good_v3, 0x200, 0x200),
        (&good, 0x208, 0x208),
        (&good, 0x29F, 0x208),
        (&good, 0x330, 0x330),
        (&good, 0x49F, 0x330),
    ];
    for (report, set, expect) in cases {
        let mut bytes = report.clone();
        bytes[set] = 1;
        match verifier().verify(NOW, &bytes, &vek).unwrap_err() {
            SnpError::ReservedNotZero { offset, .. } => assert_eq!(offset, expect, "byte {set:#x}"),
            other => panic!("byte {set:#x}: {other}"),
        }
    }
    // S18: PLATFORM_INFO bit 6 and bits 63:8 are reserved; KEY_INFO bits 31:5 too.
    for bits in [1u64 << 6, 1 << 8, 1 << 63] {
        let err = verify(&case(Product::Milan, |b| b.platform_info = 0x25 | bits)).unwrap_err();
        assert_eq!(
            err,
            SnpError::ReservedNotZero {
                field: "PLATFORM_INFO",
                offset: 0x40
            }
        );
    }
    let mut bytes = good.clone();
    bytes[0x48] |= 1 << 5;
    assert_eq!(
        verifier().verify(NOW, &bytes, &vek).unwrap_err(),
        SnpError::ReservedNotZero {
            field: "KEY_INFO[31:5]",
            offset: 0x48
        }
    );
}

#[test]
fn s4_malformed_policy() {
    let err = verify(&case(Product::Milan, |b| b.policy = 0x1_0000)).unwrap_err();
    assert_eq!(
        err,
        SnpError::MalformedPolicy {
            policy: 0x1_0000,
            reason: "reserved bit 17 must be one"
        }
    );
    for bit in [26, 40, 63] {
        let policy = 0x3_0000 | (1u64 << bit);
        let err = verify(&case(Product::Milan, |b| b.policy = policy)).unwrap_err();
        assert_eq!(
            err,
            SnpError::MalformedPolicy {
                policy,
                reason: "bits 63:26 must be zero"
            }
        );
    }
}

#[test]
fn vmpl_out_of_range() {
    assert_eq!(
        verify(&case(Product::Milan, |b| b.vmpl = 4)).unwrap_err(),
        SnpError::InvalidVmpl(4)
    );
}

#[test]
fn reserved_tcb_bytes() {
    let (mut report, vek) = case(Product::Milan, |_| {});
    report[0x180 + 3] = 1; // REPORTED_TCB byte 3 is reserved on Milan; the signature fails first
    assert_eq!(
        verifier().verify(NOW, &report, &vek).unwrap_err(),
        SnpError::BadSignature(VekKind::Vcek)
    );
    // Signed with the reserved byte set: the TCB decoder refuses it.
    let mut b = ReportBuilder::new(Product::Milan);
    let vek = issue(Product::Milan, &profile(&b, VekKind::Vcek));
    b.current_tcb.fmc = Some(9); // no FMC on Milan: encode drops it, so set the byte by hand
    let mut bytes = b.build();
    bytes[0x38 + 2] = 7;
    vek.sign_report(&mut bytes).unwrap();
    assert_eq!(
        verifier().verify(NOW, &bytes, vek.der()).unwrap_err(),
        SnpError::MalformedTcb {
            field: "CURRENT_TCB",
            product: Product::Milan
        }
    );
}

// ---- S11, S12, S13: signer and signature ----

#[test]
fn s11_unsigned_and_unsupported_signers() {
    let err = verify(&case(Product::Milan, |b| b.mask_chip_key = true)).unwrap_err();
    assert_eq!(err, SnpError::UnsignedReport);
    for key in 2..=7 {
        let (mut report, vek) = case(Product::Milan, |_| {});
        report[0x48] = (report[0x48] & !0b1_1100) | (key << 2);
        assert_eq!(
            verifier().verify(NOW, &report, &vek).unwrap_err(),
            SnpError::UnsupportedSigner(key)
        );
    }
    // KEY_INFO says VLEK, the certificate is a VCEK (and the other way round).
    let b = ReportBuilder::new(Product::Milan);
    let vcek = issue(Product::Milan, &profile(&b, VekKind::Vcek));
    let mut vlek_report = ReportBuilder::new(Product::Milan);
    vlek_report.signing_key = 1;
    let report = signed(&vlek_report, &vcek);
    assert_eq!(
        verifier().verify(NOW, &report, vcek.der()).unwrap_err(),
        SnpError::SignerMismatch {
            report: VekKind::Vlek,
            cert: VekKind::Vcek
        }
    );
    let vlek = issue(Product::Milan, &profile(&b, VekKind::Vlek));
    let report = signed(&b, &vlek);
    assert_eq!(
        verifier().verify(NOW, &report, vlek.der()).unwrap_err(),
        SnpError::SignerMismatch {
            report: VekKind::Vcek,
            cert: VekKind::Vlek
        }
    );
}

#[test]
fn s12_signature_algorithm() {
    for algo in [0, 2, 0xffff_ffff] {
        let err = verify(&case(Product::Milan, |b| b.signature_algo = algo)).unwrap_err();
        assert_eq!(err, SnpError::UnsupportedSignatureAlgorithm(algo));
    }
}

#[test]
fn s13_signature_tampering() {
    let (report, vek) = case(Product::Turin, |_| {});
    let v = verifier();
    v.verify(NOW, &report, &vek).unwrap();
    for offset in [0x50, 0x90, 0xC0, 0x140, 0x180, 0x1A0, 0x1F0, 0x2A0, 0x2E8] {
        let mut bytes = report.clone();
        bytes[offset] ^= 0x01;
        assert_eq!(
            v.verify(NOW, &bytes, &vek).unwrap_err(),
            SnpError::BadSignature(VekKind::Vcek),
            "offset {offset:#x}"
        );
    }
    // R and S are little-endian: the same values written big-endian do not verify.
    let mut swapped = report.clone();
    swapped[0x2A0..0x2A0 + 48].reverse();
    swapped[0x2E8..0x2E8 + 48].reverse();
    assert_eq!(
        v.verify(NOW, &swapped, &vek).unwrap_err(),
        SnpError::BadSignature(VekKind::Vcek)
    );
    // Bytes 48..72 of each 72-byte component must be zero.
    for (offset, name) in [(0x2A0 + 48, "R"), (0x2E8 + 71, "S")] {
        let mut wide = report.clone();
        wide[offset] = 1;
        assert_eq!(
            v.verify(NOW, &wide, &vek).unwrap_err(),
            SnpError::SignatureEncoding(name)
        );
    }
    // Signed by another key of the same kind and product.
    let other = issue(
        Product::Turin,
        &VekProfile::vcek(
            Product::Turin,
            &[7; 64],
            ReportBuilder::new(Product::Turin).reported_tcb,
        ),
    );
    let mut b = ReportBuilder::new(Product::Turin);
    b.chip_id = [7; 64];
    let foreign = signed(&b, &other);
    assert_eq!(
        v.verify(NOW, &foreign, &vek).unwrap_err(),
        SnpError::BadSignature(VekKind::Vcek)
    );
}

// ---- S7, S10: the certificate is for this chip and TCB ----

#[test]
fn s7_reported_tcb_must_match_the_certificate() {
    for product in Product::ALL {
        let b = ReportBuilder::new(product);
        let base = b.reported_tcb;
        let mut bumps = vec![
            (TcbComponent::Bootloader, {
                let mut t = base;
                t.bootloader += 1;
                t
            }),
            (TcbComponent::Tee, {
                let mut t = base;
                t.tee += 1;
                t
            }),
            (TcbComponent::Snp, {
                let mut t = base;
                t.snp += 1;
                t
            }),
            (TcbComponent::Microcode, {
                let mut t = base;
                t.microcode -= 1;
                t
            }),
        ];
        if product == Product::Turin {
            let mut t = base;
            t.fmc = Some(base.fmc.unwrap_or(0) + 1);
            bumps.push((TcbComponent::Fmc, t));
        }
        for (component, cert_tcb) in bumps {
            for kind in [VekKind::Vcek, VekKind::Vlek] {
                let mut p = profile(&b, kind);
                p.tcb = cert_tcb;
                let vek = issue(product, &p);
                let mut rb = ReportBuilder::new(product);
                rb.signing_key = u8::from(kind == VekKind::Vlek);
                let report = signed(&rb, &vek);
                match verifier().verify(NOW, &report, vek.der()).unwrap_err() {
                    SnpError::TcbMismatch {
                        component: c, role, ..
                    } => {
                        assert_eq!(c, component, "{product} {kind}");
                        assert_eq!(role, CertRole::of_vek(kind));
                    }
                    other => panic!("{product} {kind} {component}: {other}"),
                }
            }
        }
    }
}

#[test]
fn s10_chip_id_must_match_the_vcek() {
    for product in [Product::Milan, Product::Genoa] {
        let b = ReportBuilder::new(product);
        let vek = issue(product, &profile(&b, VekKind::Vcek));
        let mut other = b.clone();
        other.chip_id[63] ^= 1;
        let report = signed(&other, &vek);
        assert!(matches!(
            verifier().verify(NOW, &report, vek.der()).unwrap_err(),
            SnpError::ChipIdMismatch { .. }
        ));
        // Masked CHIP_ID with a VCEK fails too.
        other.chip_id = [0; 64];
        let report = signed(&other, &vek);
        assert!(matches!(
            verifier().verify(NOW, &report, vek.der()).unwrap_err(),
            SnpError::ChipIdMismatch { .. }
        ));
    }
    // Turin: the hwID is 8 bytes and is compared with the first 8 bytes of CHIP_ID.
    let b = ReportBuilder::new(Product::Turin);
    let vek = issue(Product::Turin, &profile(&b, VekKind::Vcek));
    let mut other = b;
    other.chip_id[0] ^= 1;
    let err = verifier()
        .verify(NOW, &signed(&other, &vek), vek.der())
        .unwrap_err();
    assert!(matches!(err, SnpError::ChipIdMismatch { .. }), "{err}");
    // A VLEK is not tied to a chip: a masked CHIP_ID is normal.
    let (report, vlek) = case(Product::Milan, |b| {
        b.signing_key = 1;
        b.chip_id = [0; 64];
    });
    verifier().verify(NOW, &report, &vlek).unwrap();
}

#[test]
fn hwid_extension_is_required_and_sized() {
    let b = ReportBuilder::new(Product::Milan);
    let mut p = profile(&b, VekKind::Vcek);
    p.hw_id = None;
    let vek = issue(Product::Milan, &p);
    assert_eq!(
        verifier()
            .verify(NOW, &signed(&b, &vek), vek.der())
            .unwrap_err(),
        SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "missing the hwID extension"
        }
    );
    p.hw_id = Some(b.chip_id[..8].to_vec()); // the Turin length on a Milan VCEK
    let vek = issue(Product::Milan, &p);
    assert_eq!(
        verifier()
            .verify(NOW, &signed(&b, &vek), vek.der())
            .unwrap_err(),
        SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "hwID has the wrong length"
        }
    );
}

// ---- S20: product ----

#[test]
fn s20_product_is_never_guessed() {
    // v3 report from a Genoa CPU, Milan VCEK.
    let b = ReportBuilder::new(Product::Milan);
    let vek = issue(Product::Milan, &profile(&b, VekKind::Vcek));
    let mut genoa_cpu = b.clone();
    (genoa_cpu.cpuid_fam_id, genoa_cpu.cpuid_mod_id) = (0x19, 0x11);
    assert_eq!(
        verifier()
            .verify(NOW, &signed(&genoa_cpu, &vek), vek.der())
            .unwrap_err(),
        SnpError::ProductMismatch {
            report: Product::Genoa,
            cert: Product::Milan
        }
    );
    // An unknown CPU.
    let mut venice = b.clone();
    (venice.cpuid_fam_id, venice.cpuid_mod_id) = (0x1A, 0x50);
    assert_eq!(
        verifier()
            .verify(NOW, &signed(&venice, &vek), vek.der())
            .unwrap_err(),
        SnpError::UnsupportedCpu {
            family: 0x1A,
            model: 0x50
        }
    );
    // A v2 report (no CPUID) and a certificate without productName.
    let mut v2 = b.clone();
    v2.version = 2;
    let mut p = profile(&b, VekKind::Vcek);
    p.product_name = None;
    let anonymous = issue(Product::Milan, &p);
    assert_eq!(
        verifier()
            .verify(NOW, &signed(&v2, &anonymous), anonymous.der())
            .unwrap_err(),
        SnpError::ProductUnknown
    );
    // The same certificate with a v3 report: the CPUID decides.
    verifier()
        .verify(NOW, &signed(&b, &anonymous), anonymous.der())
        .unwrap();
    // A productName Warden has no roots for.
    p.product_name = Some("Venice".into());
    let venice_cert = issue(Product::Milan, &p);
    assert_eq!(
        verifier()
            .verify(NOW, &signed(&v2, &venice_cert), venice_cert.der())
            .unwrap_err(),
        SnpError::UnsupportedProductName("Venice".into())
    );
    // No anchors for the product at all.
    let milan_only = SnpVerifier::new(
        TrustAnchors::new().with(Product::Milan, roots(AmdHierarchy::shared(Product::Milan))),
    );
    let (report, vek) = case(Product::Genoa, |_| {});
    assert_eq!(
        milan_only.verify(NOW, &report, &vek).unwrap_err(),
        SnpError::NoRoots(Product::Genoa)
    );
}

// ---- A1, A2, A4, A5: the chain ----

#[test]
fn a1_untrusted_root() {
    // A whole hierarchy that is not the trusted one: same names, other keys.
    let rogue = AmdHierarchy::generate(Product::Milan, 666);
    let b = ReportBuilder::new(Product::Milan);
    let vek = rogue.issue_vek(&profile(&b, VekKind::Vcek)).unwrap();
    let report = signed(&b, &vek);
    assert_eq!(
        verifier().verify(NOW, &report, vek.der()).unwrap_err(),
        SnpError::CertSignature {
            role: CertRole::Vcek,
            issuer: CertRole::Ask
        }
    );
    // The rogue chain supplied as an override is refused: its ARK is not pinned.
    let chain = vec![rogue.ask_der().to_vec(), rogue.ark_der().to_vec()];
    let anchors = verifier().anchors().clone();
    assert_eq!(
        anchors
            .with_chain_override(Product::Milan, VekKind::Vcek, &chain, false)
            .unwrap_err(),
        SnpError::UntrustedRoot(Product::Milan)
    );
    // Another product's trusted chain for this product.
    let genoa = AmdHierarchy::shared(Product::Genoa);
    let chain = vec![genoa.ask_der().to_vec(), genoa.ark_der().to_vec()];
    assert_eq!(
        anchors
            .with_chain_override(Product::Milan, VekKind::Vcek, &chain, false)
            .unwrap_err(),
        SnpError::ChainProductMismatch {
            evidence: Product::Milan,
            chain: Product::Genoa
        }
    );
    // Only the explicitly dangerous switch trusts it.
    let chain = vec![rogue.ask_der().to_vec(), rogue.ark_der().to_vec()];
    let dangerous = anchors
        .with_chain_override(Product::Milan, VekKind::Vcek, &chain, true)
        .unwrap();
    SnpVerifier::new(dangerous)
        .verify(NOW, &report, vek.der())
        .unwrap();
    // A trusted ASK with a rogue ARK: the ARK self-signature is fine, the ASK is not its child.
    let mixed = TrustAnchors::new().with(
        Product::Milan,
        ProductRoots {
            ark: rogue.ark_der().to_vec(),
            ask: Some(AmdHierarchy::shared(Product::Milan).ask_der().to_vec()),
            asvk: None,
            crls: Vec::new(),
        },
    );
    let (report, vek) = case(Product::Milan, |_| {});
    assert_eq!(
        SnpVerifier::new(mixed)
            .verify(NOW, &report, &vek)
            .unwrap_err(),
        SnpError::CertSignature {
            role: CertRole::Ask,
            issuer: CertRole::Ark
        }
    );
}

/// Replaces every occurrence of `from` in `der` with `to` (same length).
fn patch(der: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut out = der.to_vec();
    let mut hits = 0;
    let mut i = 0;
    while i + from.len() <= out.len() {
        if out[i..i + from.len()] == *from {
            out[i..i + from.len()].copy_from_slice(to);
            hits += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    assert!(hits > 0, "pattern not found");
    out
}

#[test]
fn a2_certificate_profile() {
    let h = AmdHierarchy::shared(Product::Milan);
    let (report, vek) = case(Product::Milan, |_| {});
    let with_ark = |ark: Vec<u8>| {
        let mut r = roots(h);
        r.ark = ark;
        SnpVerifier::new(TrustAnchors::new().with(Product::Milan, r))
            .verify(NOW, &report, &vek)
            .unwrap_err()
    };
    // One field of the ARK's AlgorithmIdentifier changed, in both the TBS and the outer copy.
    let cases: [(&[u8], &[u8], &str); 3] = [
        // PSS salt length 48 -> 32.
        (
            &[0xa2, 0x03, 0x02, 0x01, 0x30],
            &[0xa2, 0x03, 0x02, 0x01, 0x20],
            "RSASSA-PSS salt length is not 48",
        ),
        // SHA-384 -> SHA-256 everywhere it is named.
        (
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02],
            &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01],
            "RSASSA-PSS hash is not SHA-384",
        ),
        // RSASSA-PSS -> PKCS#1 v1.5 sha384WithRSAEncryption (OID arc .10 -> .12).
        (
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a],
            &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
            "signature algorithm is not RSASSA-PSS",
        ),
    ];
    for (from, to, reason) in cases {
        assert_eq!(
            with_ark(patch(h.ark_der(), from, to)),
            SnpError::BadCert {
                role: CertRole::Ark,
                reason
            },
            "{reason}"
        );
    }
    // A VEK on P-256.
    let b = ReportBuilder::new(Product::Milan);
    let mut p = profile(&b, VekKind::Vcek);
    p.curve = SimCurve::P256;
    let p256 = issue(Product::Milan, &p);
    assert_eq!(
        verifier().verify(NOW, &report, p256.der()).unwrap_err(),
        SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "EC key is not on P-384"
        }
    );
    // A VEK whose subject is neither SEV-VCEK nor SEV-VLEK.
    let mut p = profile(&b, VekKind::Vcek);
    p.common_name = "SEV-Milan".into();
    let wrong_cn = issue(Product::Milan, &p);
    assert_eq!(
        verifier()
            .verify(NOW, &signed(&b, &wrong_cn), wrong_cn.der())
            .unwrap_err(),
        SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "subject CN is neither SEV-VCEK nor SEV-VLEK"
        }
    );
    // The ASK presented as the ARK: not self-signed.
    assert_eq!(
        with_ark(h.ask_der().to_vec()),
        SnpError::BadCert {
            role: CertRole::Ark,
            reason: "issuer name is not the issuer's subject"
        }
    );
}

#[test]
fn a4_a5_signatures_and_validity() {
    let h = AmdHierarchy::shared(Product::Milan);
    let b = ReportBuilder::new(Product::Milan);
    let mut p = profile(&b, VekKind::Vcek);
    p.not_before = UnixTime(1_750_000_000);
    p.not_after = UnixTime(1_760_000_000);
    let vek = issue(Product::Milan, &p);
    let report = signed(&b, &vek);
    let v = verifier();
    v.verify(UnixTime(1_755_000_000), &report, vek.der())
        .unwrap();
    // The cached chain is still checked against the time of each call.
    assert_eq!(
        v.verify(UnixTime(1_749_999_999), &report, vek.der())
            .unwrap_err(),
        SnpError::NotYetValid {
            role: CertRole::Vcek,
            not_before: UnixTime(1_750_000_000),
            now: UnixTime(1_749_999_999)
        }
    );
    assert_eq!(
        v.verify(UnixTime(1_760_000_001), &report, vek.der())
            .unwrap_err(),
        SnpError::Expired {
            role: CertRole::Vcek,
            not_after: UnixTime(1_760_000_000),
            now: UnixTime(1_760_000_001)
        }
    );
    // Far in the future the ARK itself has expired, and is named first.
    let far = UnixTime(4_102_444_800); // 2100-01-01
    assert!(matches!(
        v.verify(far, &report, vek.der()).unwrap_err(),
        SnpError::Expired {
            role: CertRole::Ark,
            ..
        }
    ));
    // A4: a VEK signature that does not verify (one byte of the signature changed).
    let mut forged = vek.der().to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        v.verify(NOW, &report, &forged).unwrap_err(),
        SnpError::CertSignature {
            role: CertRole::Vcek,
            issuer: CertRole::Ask
        }
    );
    // And an ASK whose signature does not verify under the ARK.
    let mut r = roots(h);
    let ask = r.ask.as_mut().unwrap();
    let last = ask.len() - 1;
    ask[last] ^= 1;
    let err = SnpVerifier::new(TrustAnchors::new().with(Product::Milan, r))
        .verify(NOW, &report, vek.der())
        .unwrap_err();
    assert_eq!(
        err,
        SnpError::CertSignature {
            role: CertRole::Ask,
            issuer: CertRole::Ark
        }
    );
}

// ---- R5, R7: hostile input never panics, certificates are strict ----

#[test]
fn r7_certificate_encodings() {
    let (report, vek) = case(Product::Milan, |_| {});
    let mut trailing = vek.clone();
    trailing.push(0);
    assert_eq!(
        verifier().verify(NOW, &report, &trailing).unwrap_err(),
        SnpError::CertEncoding {
            role: CertRole::Vcek,
            reason: "trailing bytes after the certificate"
        }
    );
    let h = AmdHierarchy::shared(Product::Milan);
    let two = h.vcek_chain_pem();
    assert_eq!(
        crate::snp::decode_certificates(two.as_bytes(), &[CertRole::Vcek]).unwrap_err(),
        SnpError::CertEncoding {
            role: CertRole::Vcek,
            reason: "more certificates than expected"
        }
    );
    assert_eq!(
        crate::snp::decode_certificates(two.as_bytes(), &[CertRole::Ask, CertRole::Ark]).unwrap(),
        vec![h.ask_der().to_vec(), h.ark_der().to_vec()]
    );
    let one = issue(
        Product::Milan,
        &profile(&ReportBuilder::new(Product::Milan), VekKind::Vcek),
    );
    assert_eq!(
        crate::snp::decode_certificates(one.pem().as_bytes(), &[CertRole::Ask, CertRole::Ark])
            .unwrap_err(),
        SnpError::CertEncoding {
            role: CertRole::Ask,
            reason: "fewer certificates than expected"
        }
    );
    // BER indefinite length instead of DER.
    let mut ber = vek;
    ber[1] = 0x80;
    assert!(matches!(
        verifier().verify(NOW, &report, &ber).unwrap_err(),
        SnpError::CertEncoding { .. }
    ));
}

#[test]
fn r3_r5_hostile_bytes_never_panic() {
    let (report, vek) = case(Product::Milan, |_| {});
    let v = verifier();
    // xorshift: deterministic, no dependency.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..2000 {
        let mut r = report.clone();
        let mut c = vek.clone();
        for _ in 0..(next() % 8 + 1) {
            let i = (next() % r.len() as u64) as usize;
            r[i] = next() as u8;
            let j = (next() % c.len() as u64) as usize;
            c[j] = next() as u8;
        }
        let cut = (next() % (c.len() as u64 + 1)) as usize;
        let _ = v.verify(NOW, &r, &c);
        let _ = v.verify(NOW, &r, &c[..cut]);
        let _ = v.verify(NOW, &report, &c);
    }
    for len in 0..vek.len() {
        assert!(v.verify(NOW, &report, &vek[..len]).is_err());
    }
}

// ---- A3: revocation ----

/// 2025-02-01 .. 2026-01-01: a CRL window around NOW, inside the VEK validity.
const CRL_THIS: UnixTime = UnixTime(1_738_368_000);
const CRL_NEXT: UnixTime = UnixTime(1_767_225_600);

fn with_crl(crl: Vec<u8>) -> SnpVerifier {
    let anchors = Product::ALL.into_iter().fold(TrustAnchors::new(), |a, p| {
        a.with(p, roots(AmdHierarchy::shared(p)))
    });
    SnpVerifier::new(anchors.with_crl(Product::Milan, crl).unwrap())
}

#[test]
fn a3_revoked_intermediates_are_refused() {
    let h = AmdHierarchy::shared(Product::Milan);
    let revoked_at = UnixTime(1_740_000_000);
    let (report, vcek) = case(Product::Milan, |_| {});
    let (vlek_report, vlek) = case(Product::Milan, |b| b.signing_key = 1);

    // An empty CRL: verified, current, nothing revoked; the claims say revocation was checked.
    let empty = h.issue_crl(&[], CRL_THIS, CRL_NEXT).unwrap();
    let ok = with_crl(empty.clone()).verify(NOW, &report, &vcek).unwrap();
    assert!(ok.claims.crl_checked);
    assert!(
        !verifier()
            .verify(NOW, &report, &vcek)
            .unwrap()
            .claims
            .crl_checked
    );

    let ask_revoked = h
        .issue_crl(&[(h.ask_serial(), revoked_at)], CRL_THIS, CRL_NEXT)
        .unwrap();
    assert_eq!(
        with_crl(ask_revoked.clone())
            .verify(NOW, &report, &vcek)
            .unwrap_err(),
        SnpError::Revoked {
            role: CertRole::Ask,
            revoked_at
        }
    );
    // Revoking the ASK leaves VLEKs (issued by the ASVK) alone, and the other way round.
    with_crl(ask_revoked)
        .verify(NOW, &vlek_report, &vlek)
        .unwrap();
    let asvk_revoked = h
        .issue_crl(&[(h.asvk_serial(), revoked_at)], CRL_THIS, CRL_NEXT)
        .unwrap();
    assert_eq!(
        with_crl(asvk_revoked.clone())
            .verify(NOW, &vlek_report, &vlek)
            .unwrap_err(),
        SnpError::Revoked {
            role: CertRole::Asvk,
            revoked_at
        }
    );
    with_crl(asvk_revoked).verify(NOW, &report, &vcek).unwrap();

    // Freshness is checked at every call, also for a cached chain.
    let v = with_crl(empty);
    v.verify(NOW, &report, &vcek).unwrap();
    assert_eq!(
        v.verify(UnixTime(CRL_NEXT.0 + 1), &report, &vcek)
            .unwrap_err(),
        SnpError::CrlStale {
            next_update: CRL_NEXT,
            now: UnixTime(CRL_NEXT.0 + 1)
        }
    );
    assert_eq!(
        v.verify(UnixTime(CRL_THIS.0 - 1), &report, &vcek)
            .unwrap_err(),
        SnpError::CrlNotYetValid {
            this_update: CRL_THIS,
            now: UnixTime(CRL_THIS.0 - 1)
        }
    );
}

#[test]
fn a3_crls_must_come_from_the_ark() {
    let (report, vcek) = case(Product::Milan, |_| {});
    // Same names, other key: the signature does not verify.
    let rogue = AmdHierarchy::generate(Product::Milan, 666);
    let forged = rogue.issue_crl(&[], CRL_THIS, CRL_NEXT).unwrap();
    assert_eq!(
        with_crl(forged).verify(NOW, &report, &vcek).unwrap_err(),
        SnpError::CrlSignature
    );
    // Another product's ARK.
    let genoa = AmdHierarchy::shared(Product::Genoa)
        .issue_crl(&[], CRL_THIS, CRL_NEXT)
        .unwrap();
    assert_eq!(
        with_crl(genoa).verify(NOW, &report, &vcek).unwrap_err(),
        SnpError::BadCrl("issuer is not the ARK")
    );
    // Tampered, trailing bytes, garbage.
    let good = AmdHierarchy::shared(Product::Milan)
        .issue_crl(&[], CRL_THIS, CRL_NEXT)
        .unwrap();
    let mut tampered = good.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(
        with_crl(tampered).verify(NOW, &report, &vcek).unwrap_err(),
        SnpError::CrlSignature
    );
    let mut trailing = good;
    trailing.push(0);
    assert_eq!(
        with_crl(trailing).verify(NOW, &report, &vcek).unwrap_err(),
        SnpError::BadCrl("trailing bytes after the CRL")
    );
    assert_eq!(
        with_crl(vec![0x30, 0x03, 0x02, 0x01, 0x00])
            .verify(NOW, &report, &vcek)
            .unwrap_err(),
        SnpError::BadCrl("not a DER X.509 CRL")
    );
    // PEM input: exactly one X509 CRL block.
    assert_eq!(
        crate::snp::decode_crl(b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
            .unwrap_err(),
        SnpError::BadCrl("not a PEM X509 CRL block")
    );
}

#[test]
fn missing_intermediate_is_named() {
    let h = AmdHierarchy::shared(Product::Milan);
    let vcek_only = TrustAnchors::new().with(
        Product::Milan,
        ProductRoots {
            asvk: None,
            ..roots(h)
        },
    );
    let (report, vlek) = case(Product::Milan, |b| b.signing_key = 1);
    assert_eq!(
        SnpVerifier::new(vcek_only)
            .verify(NOW, &report, &vlek)
            .unwrap_err(),
        SnpError::MissingIntermediate {
            product: Product::Milan,
            role: CertRole::Asvk,
            kind: VekKind::Vlek
        }
    );
}
