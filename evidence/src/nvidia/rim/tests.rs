#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;

fn m(index: u32, active: bool, alts: &[u8]) -> RimMeasurement {
    RimMeasurement {
        index,
        active,
        name: String::new(),
        alternatives: alts.iter().map(|b| [*b; 48]).collect(),
    }
}

fn rim(kind: RimKind, measurements: Vec<RimMeasurement>) -> VerifiedRim {
    VerifiedRim {
        tag_id: String::new(),
        name: "GH100".into(),
        version: "1.0".into(),
        tag_version: "0".into(),
        colloquial_version: String::new(),
        product: "GH100".into(),
        kind,
        firmware_manufacturer_id: None,
        platform_model: None,
        measurements,
        valid_from: UnixTime(0),
        valid_until: UnixTime(0),
        signer: String::new(),
        chain: Vec::new(),
    }
}

fn report() -> Vec<[u8; 48]> {
    (0u8..64).map(|i| [i; 48]).collect()
}

#[test]
fn matches_any_alternative_and_ignores_inactive() {
    let driver = rim(
        RimKind::Driver,
        vec![m(7, true, &[9, 7]), m(8, false, &[0])],
    );
    let vbios = rim(RimKind::Vbios, vec![m(0, true, &[0]), m(8, true, &[8])]);
    let c = compare(&report(), false, &driver, &vbios).unwrap();
    assert!(c.matched);
    assert_eq!(c.compared, vec![0, 7, 8]);
    assert!(c.mismatched_indices.is_empty());
}

#[test]
fn reports_mismatches_with_source() {
    let driver = rim(RimKind::Driver, vec![m(7, true, &[1]), m(40, true, &[40])]);
    let vbios = rim(RimKind::Vbios, vec![m(2, true, &[3])]);
    let c = compare(&report(), false, &driver, &vbios).unwrap();
    assert!(!c.matched);
    assert_eq!(c.mismatched_indices, vec![2, 7]);
    assert_eq!(
        c.mismatches,
        vec![
            Mismatch {
                index: 2,
                source: RimKind::Vbios
            },
            Mismatch {
                index: 7,
                source: RimKind::Driver
            }
        ]
    );
}

#[test]
fn index_claimed_by_both_rims() {
    let driver = rim(RimKind::Driver, vec![m(9, true, &[9])]);
    let vbios = rim(RimKind::Vbios, vec![m(9, true, &[9])]);
    assert_eq!(
        compare(&report(), false, &driver, &vbios),
        Err(CompareError::IndexConflict { index: 9 })
    );
    // Inactive in one of them: no conflict.
    let vbios = rim(RimKind::Vbios, vec![m(9, false, &[9])]);
    assert!(compare(&report(), false, &driver, &vbios).unwrap().matched);
}

#[test]
fn wrong_kinds() {
    let d = rim(RimKind::Driver, vec![]);
    let v = rim(RimKind::Vbios, vec![]);
    assert_eq!(
        compare(&report(), false, &v, &v),
        Err(CompareError::WrongKind {
            expected: RimKind::Driver
        })
    );
    assert_eq!(
        compare(&report(), false, &d, &d),
        Err(CompareError::WrongKind {
            expected: RimKind::Vbios
        })
    );
}

#[test]
fn more_golden_than_blocks_and_missing_block() {
    let driver = rim(RimKind::Driver, vec![m(0, true, &[0]), m(1, true, &[1])]);
    let vbios = rim(RimKind::Vbios, vec![m(2, true, &[2])]);
    assert_eq!(
        compare(&report()[..2], false, &driver, &vbios),
        Err(CompareError::TooManyGolden {
            golden: 3,
            runtime: 2
        })
    );
    let vbios = rim(RimKind::Vbios, vec![m(60, true, &[60])]);
    assert_eq!(
        compare(&report()[..10], false, &driver, &vbios),
        Err(CompareError::MissingBlock { index: 60 })
    );
}

#[test]
fn nvdec0_skip_only_when_disabled() {
    let driver = rim(RimKind::Driver, vec![m(35, true, &[0])]);
    let vbios = rim(RimKind::Vbios, vec![]);
    let c = compare(&report(), false, &driver, &vbios).unwrap();
    assert_eq!(c.mismatched_indices, vec![35]);
    let c = compare(&report(), true, &driver, &vbios).unwrap();
    assert!(c.matched);
    assert_eq!(c.skipped, vec![35]);
}

#[test]
fn kind_from_version() {
    assert_eq!(kind_of("96.00.5E.00.01"), Ok(RimKind::Vbios));
    assert_eq!(kind_of("550.144.03"), Ok(RimKind::Driver));
    assert_eq!(kind_of("545.00"), Ok(RimKind::Driver));
    for bad in [
        "",
        "550",
        "96.00.5E.00",
        "550.1a.03",
        "96.00.5E.00.0G",
        "1..2",
    ] {
        assert!(kind_of(bad).is_err(), "{bad}");
    }
}

const ANY_ROOT: &[u8] = b"not a certificate";

fn verify(xml: &str) -> Result<VerifiedRim, RimError> {
    RimVerifier::new(ANY_ROOT.to_vec()).verify(UnixTime(0), xml.as_bytes())
}

#[test]
fn dtd_and_entities_rejected() {
    assert_eq!(
        verify("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>"),
        Err(RimError::Dtd)
    );
    assert_eq!(verify("<!ENTITY x \"y\"><a/>"), Err(RimError::Dtd));
}

#[test]
fn malformed_and_restricted_nodes() {
    assert!(matches!(verify("<a>"), Err(RimError::Xml(_))));
    assert!(matches!(
        RimVerifier::new(vec![]).verify(UnixTime(0), b"<a>\xff</a>"),
        Err(RimError::Xml(_))
    ));
    assert_eq!(
        verify("<a><!-- c --></a>"),
        Err(RimError::Schema { what: "comment" })
    );
    assert_eq!(
        verify("<a><?pi x?></a>"),
        Err(RimError::Schema {
            what: "processing instruction"
        })
    );
    assert_eq!(
        verify("<a xml:lang=\"en\"/>"),
        Err(RimError::Schema {
            what: "xml:* attribute"
        })
    );
}

const DS: &str = "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"";

#[test]
fn signature_presence_and_position() {
    assert_eq!(verify("<a/>"), Err(RimError::MissingSignature));
    assert_eq!(
        verify(&format!(
            "<a {DS}><ds:Signature/><b><ds:Signature/></b></a>"
        )),
        Err(RimError::MultipleSignatures)
    );
    assert_eq!(
        verify(&format!("<a {DS}><ds:Signature/><b/></a>")),
        Err(RimError::Schema {
            what: "ds:Signature is not the last child of the root"
        })
    );
}

fn signed_info(c14n: &str, sig: &str, uri: &str, transforms: &str, digest: &str) -> String {
    format!(
        "<a {DS}><ds:Signature><ds:SignedInfo>\
         <ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>\
         <ds:SignatureMethod Algorithm=\"{sig}\"/>\
         <ds:Reference URI=\"{uri}\"><ds:Transforms>{transforms}</ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{digest}\"/><ds:DigestValue>{dv}</ds:DigestValue>\
         </ds:Reference></ds:SignedInfo><ds:SignatureValue>{sv}</ds:SignatureValue>\
         <ds:KeyInfo><ds:X509Data><ds:X509Certificate>AAAA</ds:X509Certificate></ds:X509Data>\
         </ds:KeyInfo></ds:Signature></a>",
        dv = "A".repeat(64),
        sv = "A".repeat(128),
    )
}

fn env() -> String {
    format!("<ds:Transform Algorithm=\"{ALG_ENVELOPED}\"/>")
}

#[test]
fn algorithms_are_pinned() {
    let ok = signed_info(ALG_C14N11, ALG_ECDSA_SHA384, "", &env(), ALG_SHA384);
    // Everything pinned passes up to the chain check.
    assert_eq!(verify(&ok), Err(RimError::UntrustedRoot));

    let exc = "http://www.w3.org/2001/10/xml-exc-c14n#";
    let cases = [
        (
            signed_info(exc, ALG_ECDSA_SHA384, "", &env(), ALG_SHA384),
            "CanonicalizationMethod",
        ),
        (
            signed_info(
                ALG_C14N11,
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
                "",
                &env(),
                ALG_SHA384,
            ),
            "SignatureMethod",
        ),
        (
            signed_info(ALG_C14N11, ALG_ECDSA_SHA384, "#x", &env(), ALG_SHA384),
            "Reference URI",
        ),
        (
            signed_info(ALG_C14N11, ALG_ECDSA_SHA384, "", "", ALG_SHA384),
            "Transforms",
        ),
        (
            signed_info(
                ALG_C14N11,
                ALG_ECDSA_SHA384,
                "",
                &format!("<ds:Transform Algorithm=\"{exc}\"/>"),
                ALG_SHA384,
            ),
            "Transforms",
        ),
        (
            signed_info(
                ALG_C14N11,
                ALG_ECDSA_SHA384,
                "",
                &env(),
                "http://www.w3.org/2000/09/xmldsig#sha1",
            ),
            "DigestMethod",
        ),
    ];
    for (xml, what) in cases {
        match verify(&xml) {
            Err(RimError::Algorithm { what: w, .. }) => assert_eq!(w, what),
            other => panic!("{what}: {other:?}"),
        }
    }
}

#[test]
fn deep_nesting_rejected_before_canonicalization() {
    let deep = format!(
        "{}{}",
        "<a>".repeat(MAX_DEPTH + 1),
        "</a>".repeat(MAX_DEPTH + 1)
    );
    assert_eq!(
        verify(&deep),
        Err(RimError::Schema {
            what: "elements nested too deeply"
        })
    );
    let ok = format!("{}{}", "<a>".repeat(MAX_DEPTH), "</a>".repeat(MAX_DEPTH));
    assert_eq!(verify(&ok), Err(RimError::MissingSignature));
}

#[test]
fn version_comparison_ignores_case() {
    let mut r = rim(RimKind::Vbios, vec![]);
    r.colloquial_version = "96.00.5E.00.01".into();
    assert!(r.describes_version("96.00.5e.00.01"));
    assert!(!r.describes_version("96.00.5e.00.02"));
}

#[test]
fn rim_ids() {
    assert_eq!(
        hopper_driver_rim_id("550.144.03"),
        "NV_GPU_DRIVER_GH100_550.144.03"
    );
    assert_eq!(
        vbios_rim_id("1010", "0200", "882", "96.00.5e.00.01"),
        "NV_GPU_VBIOS_1010_0200_882_96005E0001"
    );
}
