//! Tests of the simulated TDX evidence: dcap-qvl verifies it, and its layouts match Intel's
//! real quotes, certificates, CRLs and PCS responses in `shared/vectors/tdx`.

use dcap_qvl::verify::{QuoteVerifier, VerifiedReport};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};
use x509_parser::revocation_list::CertificateRevocationList;

use super::*;

/// 2026-02-20T00:00:00Z, the verification time of the real EMR vectors.
const NOW: UnixTime = UnixTime(1_771_545_600);

/// Offset of REPORT_DATA in a TD 1.0 / 1.5 body.
const TD_REPORT_DATA_OFFSET: usize = 520;

fn hierarchy() -> &'static IntelHierarchy {
    IntelHierarchy::shared()
}

fn real(name: &str) -> Option<Vec<u8>> {
    crate::test_vectors::real("tdx", name)
}

/// dcap-qvl's verdict on `quote` under `collateral` at `now`, the error with its context chain.
fn verify_at(
    h: &IntelHierarchy,
    quote: &[u8],
    collateral: &SimCollateral,
    now: UnixTime,
) -> Result<VerifiedReport, String> {
    QuoteVerifier::new(h.root_ca_der().to_vec())
        .verify(quote, &collateral.to_dcap(), now.0 as u64)
        .map_err(|e| format!("{e:#}"))
}

fn default_platform() -> SimPlatform {
    hierarchy().platform(&PlatformProfile::default()).unwrap()
}

fn default_collateral() -> SimCollateral {
    hierarchy()
        .collateral(&CollateralProfile::valid_at(NOW))
        .unwrap()
}

/// A quote of the default platform for `td`, and default collateral at [`NOW`].
fn default_evidence(td: &TdProfile) -> (Vec<u8>, SimCollateral) {
    let quote = default_platform().quote(td, &[0xA5; 64]).unwrap();
    (quote, default_collateral())
}

fn assert_rejected(result: Result<VerifiedReport, String>, expected: &str) {
    match result {
        Ok(report) => panic!("accepted ({}), expected {expected:?}", report.status),
        Err(e) => assert!(e.contains(expected), "error {e:?} lacks {expected:?}"),
    }
}

/// The default quote of `td` under collateral of `profile`.
fn verify_collateral(
    td: &TdProfile,
    profile: &CollateralProfile,
) -> Result<VerifiedReport, String> {
    let h = hierarchy();
    let quote = default_platform().quote(td, &[0xA5; 64]).unwrap();
    verify_at(h, &quote, &h.collateral(profile).unwrap(), NOW)
}

/// The quote of a platform of `profile` and `td` under default collateral.
fn verify_platform(profile: &PlatformProfile, td: &TdProfile) -> Result<VerifiedReport, String> {
    let h = hierarchy();
    let quote = h.platform(profile).unwrap().quote(td, &[0xA5; 64]).unwrap();
    verify_at(h, &quote, &default_collateral(), NOW)
}

const ALL_VERSIONS: [QuoteVersion; 3] =
    [QuoteVersion::V4, QuoteVersion::V5Td10, QuoteVersion::V5Td15];

#[test]
fn defaults_verify_up_to_date() {
    let h = hierarchy();
    for version in ALL_VERSIONS {
        let (quote, collateral) = default_evidence(&TdProfile::new(version));
        let report = verify_at(h, &quote, &collateral, NOW).unwrap();
        assert_eq!(report.status, "UpToDate", "{version:?}");
        assert!(report.advisory_ids.is_empty());
        assert_eq!(report.qe_status.status.to_string(), "UpToDate");
        assert_eq!(report.ppid, PlatformProfile::default().ppid);
        let td = report.report.as_td10().unwrap();
        assert_eq!(td.report_data, [0xA5; 64]);
        assert_eq!(td.mr_td, TdProfile::default().mr_td);
        assert_eq!(td.rt_mr3, measurement("RTMR3"));
        assert_eq!(td.td_attributes, TD_ATTR_SEPT_VE_DISABLE.to_le_bytes());
        assert_eq!(
            report.report.as_td15().is_some(),
            version == QuoteVersion::V5Td15
        );
    }
}

#[test]
fn whole_collateral_window_verifies() {
    let h = hierarchy();
    let (quote, collateral) = default_evidence(&TdProfile::default());
    // webpki holds a CRL expired at its nextUpdate, dcap-qvl TCB info only after it.
    for now in [NOW.0 - 86_400, NOW.0 + 30 * 86_400 - 1] {
        verify_at(h, &quote, &collateral, UnixTime(now)).unwrap();
    }
    assert_rejected(
        verify_at(h, &quote, &collateral, UnixTime(NOW.0 - 86_401)),
        "TCBInfo issue date is in the future",
    );
    // THREATS D5: past nextUpdate.
    assert_rejected(
        verify_at(h, &quote, &collateral, UnixTime(NOW.0 + 30 * 86_400 + 1)),
        "TCBInfo expired",
    );
}

#[test]
fn out_of_date_levels_report_advisories() {
    // A platform below the UpToDate level matches the OutOfDate one, as on real hardware.
    let older = PlatformProfile {
        cpu_svn: [2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0],
        ..PlatformProfile::default()
    };
    let report = verify_platform(&older, &TdProfile::default()).unwrap();
    assert_eq!(report.status, "OutOfDate");
    assert_eq!(
        report.advisory_ids,
        [
            "INTEL-SA-01036",
            "INTEL-SA-01079",
            "INTEL-SA-01099",
            "INTEL-SA-01103",
            "INTEL-SA-01111"
        ]
    );

    // The helper turns the default platform's level itself OutOfDate.
    let collateral = CollateralProfile::valid_at(NOW)
        .with_platform_status(status::OUT_OF_DATE, &["INTEL-SA-00837"]);
    let report = verify_collateral(&TdProfile::default(), &collateral).unwrap();
    assert_eq!(report.status, "OutOfDate");
    assert_eq!(report.advisory_ids, ["INTEL-SA-00837"]);

    let collateral = CollateralProfile::valid_at(NOW)
        .with_platform_status(status::SW_HARDENING_NEEDED, &["INTEL-SA-00615"]);
    let report = verify_collateral(&TdProfile::default(), &collateral).unwrap();
    assert_eq!(report.status, "SWHardeningNeeded");

    // THREATS D2: the QE's level.
    let collateral =
        CollateralProfile::valid_at(NOW).with_qe_status(status::OUT_OF_DATE, &["INTEL-SA-00615"]);
    let report = verify_collateral(&TdProfile::default(), &collateral).unwrap();
    assert_eq!(report.status, "OutOfDate");
    assert_eq!(report.qe_status.status.to_string(), "OutOfDate");
    assert_eq!(report.advisory_ids, ["INTEL-SA-00615"]);

    // THREATS T10: a TDX module below the UpToDate module level.
    let td = TdProfile {
        tee_tcb_svn: [4, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..TdProfile::default()
    };
    let report = verify_collateral(&td, &CollateralProfile::valid_at(NOW)).unwrap();
    assert_eq!(report.status, "OutOfDate");
    assert_eq!(report.advisory_ids, ["INTEL-SA-01036", "INTEL-SA-01099"]);
    let collateral =
        CollateralProfile::valid_at(NOW).with_module_status(status::OUT_OF_DATE, &["X-1"]);
    let report = verify_collateral(&TdProfile::default(), &collateral).unwrap();
    assert_eq!(report.status, "OutOfDate");
    assert_eq!(report.advisory_ids, ["X-1"]);

    // Revoked is an error, not a status.
    let collateral = CollateralProfile::valid_at(NOW).with_platform_status(status::REVOKED, &[]);
    assert_rejected(
        verify_collateral(&TdProfile::default(), &collateral),
        "Revoked",
    );
}

#[test]
fn no_matching_tcb_level() {
    let below_all = PlatformProfile {
        pce_svn: 4,
        ..PlatformProfile::default()
    };
    assert_rejected(
        verify_platform(&below_all, &TdProfile::default()),
        "No matching TCB level found",
    );
    let old_module = TdProfile {
        tee_tcb_svn: [1, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..TdProfile::default()
    };
    assert_rejected(
        verify_collateral(&old_module, &CollateralProfile::valid_at(NOW)),
        "below minimum required",
    );
}

#[test]
fn flipped_report_data_breaks_the_quote_signature() {
    let h = hierarchy();
    for (version, body_offset) in [
        (QuoteVersion::V4, 48),
        (QuoteVersion::V5Td10, 54),
        (QuoteVersion::V5Td15, 54),
    ] {
        let (mut quote, collateral) = default_evidence(&TdProfile::new(version));
        let at = body_offset + TD_REPORT_DATA_OFFSET;
        assert_eq!(quote[at..at + 64], [0xA5; 64]);
        quote[at] ^= 1;
        // THREATS T8/T12.
        assert_rejected(
            verify_at(h, &quote, &collateral, NOW),
            "ISV enclave report signature is invalid",
        );
    }
}

#[test]
fn revoked_pck_is_rejected() {
    let h = hierarchy();
    let platform = default_platform();
    let quote = platform.quote(&TdProfile::default(), &[0; 64]).unwrap();
    // THREATS D9: the PCK leaf in the PCK CRL.
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.revoked_pck_serials = vec![vec![0x11; 20], platform.pck_serial().to_vec()];
    let collateral = h.collateral(&profile).unwrap();
    assert_rejected(verify_at(h, &quote, &collateral, NOW), "CertRevoked");
    // Other serials do not matter.
    profile.revoked_pck_serials = vec![vec![0x11; 20], vec![0x80; 20]];
    let collateral = h.collateral(&profile).unwrap();
    assert!(verify_at(h, &quote, &collateral, NOW).is_ok());

    // The PCK CA in the root CA CRL.
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.revoked_ca_serials = vec![h.pck_ca_serial(PckCaKind::Platform).to_vec()];
    let collateral = h.collateral(&profile).unwrap();
    assert_rejected(verify_at(h, &quote, &collateral, NOW), "CertRevoked");

    // An expired PCK CRL.
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.crl_next_update = UnixTime(NOW.0 - 1);
    let collateral = h.collateral(&profile).unwrap();
    assert_rejected(verify_at(h, &quote, &collateral, NOW), "CrlExpired");
}

#[test]
fn collateral_for_another_platform_is_rejected() {
    // THREATS D6.
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.fmspc = [0x50, 0x80, 0x6F, 0, 0, 0];
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "Fmspc mismatch",
    );
    // THREATS D5: SGX TCB info for a TDX quote.
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.tcb_info_id = "SGX".to_owned();
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "TDX quote with non-TDX TCB info",
    );
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.qe_identity_id = "QE".to_owned();
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "Unsupported QE Identity id/version",
    );
}

#[test]
fn td_attributes_are_checked() {
    let td = |attributes| TdProfile {
        td_attributes: attributes,
        ..TdProfile::default()
    };
    let collateral = CollateralProfile::valid_at(NOW);
    // THREATS T1.
    assert_rejected(
        verify_collateral(&td(TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_DEBUG), &collateral),
        "Debug mode is enabled",
    );
    // THREATS T3.
    assert_rejected(
        verify_collateral(&td(0), &collateral),
        "SEPT_VE_DISABLE is not enabled",
    );
    assert_rejected(
        verify_collateral(
            &td(TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_MIGRATABLE),
            &collateral,
        ),
        "TD migration is enabled",
    );
    // THREATS T2.
    assert_rejected(
        verify_collateral(&td(TD_ATTR_SEPT_VE_DISABLE | 1 << 40), &collateral),
        "Reserved bits in TD attributes are set",
    );
    // PKS is not a verifier error.
    assert!(verify_collateral(&td(TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_PKS), &collateral).is_ok());
    // THREATS T4.
    let service_td = TdProfile {
        mr_service_td: [1; 48],
        ..TdProfile::new(QuoteVersion::V5Td15)
    };
    assert_rejected(
        verify_collateral(&service_td, &collateral),
        "Invalid MR service TD",
    );
}

#[test]
fn tdx_module_identity_is_checked() {
    // THREATS T9.
    let td = TdProfile {
        mr_signer_seam: [7; 48],
        ..TdProfile::default()
    };
    assert_rejected(
        verify_collateral(&td, &CollateralProfile::valid_at(NOW)),
        "TDX module MRSIGNER mismatch",
    );
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.tdx_module_identities.clear();
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "No TDX module identity with id TDX_01",
    );
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.tdx_module = None;
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "missing tdxModule",
    );
}

#[test]
fn quote_header_is_checked() {
    // THREATS T11.
    let td = TdProfile {
        qe_vendor_id: [0; 16],
        ..TdProfile::default()
    };
    assert_rejected(
        verify_platform(&PlatformProfile::default(), &td),
        "Unknown QE vendor ID",
    );
    let td = TdProfile {
        att_key_type: 3,
        ..TdProfile::default()
    };
    assert_rejected(
        verify_platform(&PlatformProfile::default(), &td),
        "Unsupported DCAP attestation key type",
    );
}

#[test]
fn quoting_enclave_is_checked() {
    // THREATS D1.
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.qe_mrsigner = [0x42; 32];
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "QE MRSIGNER mismatch",
    );
    let td = TdProfile::default();
    let forged_qe = PlatformProfile {
        qe_mrsigner: [0x42; 32],
        ..PlatformProfile::default()
    };
    assert_rejected(verify_platform(&forged_qe, &td), "QE MRSIGNER mismatch");
    let debug_qe = PlatformProfile {
        qe_attributes: [0x17, 0, 0, 0, 0, 0, 0, 0, 0xE7, 0, 0, 0, 0, 0, 0, 0],
        ..PlatformProfile::default()
    };
    assert_rejected(verify_platform(&debug_qe, &td), "Debug mode is enabled");
    let wrong_product = PlatformProfile {
        qe_isv_prod_id: 1,
        ..PlatformProfile::default()
    };
    assert_rejected(
        verify_platform(&wrong_product, &td),
        "QE ISVPRODID mismatch",
    );
    let old_qe = PlatformProfile {
        qe_isv_svn: 3,
        ..PlatformProfile::default()
    };
    assert_rejected(
        verify_platform(&old_qe, &td),
        "QE ISVSVN 3 is below minimum",
    );
    // THREATS T13.
    let unbound_key = PlatformProfile {
        qe_report_data: Some([0; 64]),
        ..PlatformProfile::default()
    };
    assert_rejected(
        verify_platform(&unbound_key, &td),
        "QE report hash mismatch",
    );
    let short_auth_data = PlatformProfile {
        qe_auth_data: vec![1; 16],
        ..PlatformProfile::default()
    };
    assert_rejected(
        verify_platform(&short_auth_data, &td),
        "Invalid QE auth data length",
    );
}

#[test]
fn encrypted_ppid_certification_data_is_unsupported() {
    // THREATS D10.
    for cert_data_type in [2, 3] {
        let profile = PlatformProfile {
            cert_data_type,
            ..PlatformProfile::default()
        };
        let platform = hierarchy().platform(&profile).unwrap();
        let quote = platform.quote(&TdProfile::default(), &[0; 64]).unwrap();
        let parsed = dcap_qvl::quote::Quote::parse(&quote).unwrap();
        assert_eq!(parsed.inner_cert_type(), cert_data_type);
        let params = parsed.encrypted_ppid_params().unwrap();
        assert_eq!(
            params.encrypted_ppid.len(),
            if cert_data_type == 2 { 256 } else { 384 }
        );
        assert_eq!(params.cpusvn, profile.cpu_svn);
        assert_eq!(params.pcesvn, profile.pce_svn);
        assert_eq!(params.pceid, profile.pce_id);
        assert_rejected(
            verify_at(hierarchy(), &quote, &default_collateral(), NOW),
            "Unsupported DCAP PCK cert format",
        );
    }
}

#[test]
fn pck_chain_tricks_are_rejected() {
    let h = hierarchy();
    let collateral = default_collateral();
    let td = TdProfile::default();
    // THREATS D8: a CA certificate as the PCK leaf.
    let ca_leaf = PlatformProfile {
        pck_leaf_is_ca: true,
        ..PlatformProfile::default()
    };
    assert_rejected(verify_platform(&ca_leaf, &td), "CaUsedAsEndEntity");

    let platform = default_platform();
    let pem = |der: &[u8]| pem_certificate(der);
    let leaf = pem(platform.pck_leaf_der());
    let ca = pem(platform.pck_ca_der());
    let root = h.root_ca_pem();
    let quote_with = |chain: String| {
        platform
            .quote_with_certification_data(&td, &[0; 64], 5, chain.as_bytes())
            .unwrap()
    };
    // The leaf alone does not chain to the root.
    assert_rejected(
        verify_at(h, &quote_with(leaf.clone()), &collateral, NOW),
        "UnknownIssuer",
    );
    // The root itself is the trust anchor, so leaving it out changes nothing.
    assert!(verify_at(h, &quote_with(leaf + &ca), &collateral, NOW).is_ok());
    // Another platform's leaf first: its key did not sign the QE report.
    let other = h
        .platform(&PlatformProfile {
            ppid: [9; 16],
            ..PlatformProfile::default()
        })
        .unwrap();
    let swapped = pem(other.pck_leaf_der()) + &ca + &root;
    assert_rejected(
        verify_at(h, &quote_with(swapped), &collateral, NOW),
        "Signature is invalid for qe_report",
    );
    // A chain through a CA of another hierarchy (same names, other keys).
    let foreign = IntelHierarchy::generate(99)
        .platform(&PlatformProfile::default())
        .unwrap();
    assert_rejected(
        verify_at(h, &foreign.quote(&td, &[0; 64]).unwrap(), &collateral, NOW),
        "InvalidSignatureForPublicKey",
    );
    // The PCK leaf outside its validity.
    let expired = PlatformProfile {
        pck_not_after: UnixTime(NOW.0 - 1),
        ..PlatformProfile::default()
    };
    assert_rejected(verify_platform(&expired, &td), "CertExpired");
}

#[test]
fn processor_ca_platforms_verify_with_the_processor_crl() {
    let h = hierarchy();
    let profile = PlatformProfile::processor();
    let platform = h.platform(&profile).unwrap();
    let quote = platform.quote(&TdProfile::default(), &[3; 64]).unwrap();
    let mut collateral_profile = CollateralProfile::valid_at(NOW);
    collateral_profile.pck_crl_issuer = PckCaKind::Processor;
    let collateral = h.collateral(&collateral_profile).unwrap();
    let report = verify_at(h, &quote, &collateral, NOW).unwrap();
    assert_eq!(report.status, "UpToDate");
    // The Platform CA's CRL says nothing about a Processor CA leaf.
    assert_rejected(
        verify_at(h, &quote, &default_collateral(), NOW),
        "UnknownRevocationStatus",
    );
    assert_eq!(
        dcap_qvl::intel::pck_ca(platform.pck_leaf_der()).unwrap(),
        dcap_qvl::config::PckCa::Processor
    );
    assert_eq!(
        dcap_qvl::intel::pck_ca(default_platform().pck_leaf_der()).unwrap(),
        dcap_qvl::config::PckCa::Platform
    );
    let ext = dcap_qvl::intel::parse_pck_extension(platform.pck_leaf_der()).unwrap();
    assert_eq!(ext.sgx_type, 0);
    assert_eq!(ext.platform_instance_id, None);
    assert_eq!(ext.dynamic_platform, None);
}

#[test]
fn tampered_collateral_needs_the_tcb_signing_key() {
    let h = hierarchy();
    let (quote, mut collateral) = default_evidence(&TdProfile::default());
    let (json, _) = collateral.tcb_info().unwrap();
    let downgraded = json.replace(
        "\"tcbEvaluationDataNumber\":18",
        "\"tcbEvaluationDataNumber\":19",
    );
    assert_ne!(downgraded, json);

    // THREATS D5: a forged TCB info keeps Intel's signature.
    let mut forged = collateral.clone();
    let (_, signature) = forged.tcb_info().unwrap();
    forged.set_tcb_info(&downgraded, &signature);
    assert_rejected(
        verify_at(h, &quote, &forged, NOW),
        "Signature is invalid for tcb_info",
    );
    // Re-signed with the TCB Signing key, it verifies.
    collateral.set_tcb_info(&downgraded, &h.sign_tcb_info(&downgraded));
    assert!(verify_at(h, &quote, &collateral, NOW).is_ok());

    let (json, signature) = collateral.qe_identity().unwrap();
    let json = json.to_owned();
    let changed = json.replace("\"isvprodid\":2", "\"isvprodid\":2 ");
    collateral.set_qe_identity(&changed, &signature);
    assert_rejected(
        verify_at(h, &quote, &collateral, NOW),
        "Signature is invalid for qe_identity",
    );
    collateral.set_qe_identity(&changed, &h.sign_qe_identity(&changed));
    assert!(verify_at(h, &quote, &collateral, NOW).is_ok());

    // A TCB info signed by another hierarchy.
    let other = IntelHierarchy::generate(5);
    collateral.set_tcb_info(&downgraded, &other.sign_tcb_info(&downgraded));
    assert_rejected(
        verify_at(h, &quote, &collateral, NOW),
        "Signature is invalid for tcb_info",
    );
}

#[test]
fn expired_tcb_signing_certificate_is_rejected() {
    let h = hierarchy();
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.tcb_signing_validity = Some((UnixTime(NOW.0 - 400 * 86_400), UnixTime(NOW.0 - 1)));
    let collateral = h.collateral(&profile).unwrap();
    let chain = der_certs(collateral.tcb_signing_chain_pem.as_bytes());
    assert_eq!(chain.len(), 2);
    assert_ne!(chain[0], h.tcb_signing_der());
    assert_eq!(cert_shape(&chain[0]), cert_shape(h.tcb_signing_der()));
    let quote = default_platform()
        .quote(&TdProfile::default(), &[0; 64])
        .unwrap();
    assert_rejected(verify_at(h, &quote, &collateral, NOW), "CertExpired");
    // Valid again, the re-issued certificate verifies: same key.
    profile.tcb_signing_validity = Some((UnixTime(NOW.0 - 1), UnixTime(NOW.0 + 86_400)));
    let collateral = h.collateral(&profile).unwrap();
    assert!(verify_at(h, &quote, &collateral, NOW).is_ok());
}

#[test]
fn tcb_component_counts_are_checked() {
    // THREATS D4.
    let mut profile = CollateralProfile::valid_at(NOW);
    for level in &mut profile.tcb_levels {
        level.tdx_components.truncate(15);
    }
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "TDX component count mismatch",
    );
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.tcb_levels[0].tcb_status = "Bogus".to_owned();
    assert_rejected(
        verify_collateral(&TdProfile::default(), &profile),
        "Failed to decode TcbInfo",
    );
}

#[test]
fn export_import_round_trip() {
    let original = IntelHierarchy::generate(42);
    let export = original.export().unwrap();
    let debug = format!("{export:?}");
    assert!(!debug.contains("key") && !debug.contains("der"), "{debug}");
    assert!(!format!("{original:?}").contains("key"));

    let json = serde_json::to_string(&export).unwrap();
    let parsed: TdxHierarchyExport = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed, export);
    assert!(json.contains(&hex::encode(original.root_ca_der())));

    let imported = IntelHierarchy::import(&parsed).unwrap();
    assert_eq!(imported.export().unwrap(), export);
    assert_eq!(imported.root_ca_der(), original.root_ca_der());
    assert_eq!(imported.root_ca_serial(), original.root_ca_serial());
    assert_eq!(
        imported.pck_ca_serial(PckCaKind::Processor),
        original.pck_ca_serial(PckCaKind::Processor)
    );

    // Same inputs, same bytes.
    let td = TdProfile::new(QuoteVersion::V5Td15);
    let profile = PlatformProfile::default();
    let quote = original
        .platform(&profile)
        .unwrap()
        .quote(&td, &[1; 64])
        .unwrap();
    let again = imported
        .platform(&profile)
        .unwrap()
        .quote(&td, &[1; 64])
        .unwrap();
    assert_eq!(quote, again);
    let collateral_profile = CollateralProfile::valid_at(NOW);
    let collateral = imported.collateral(&collateral_profile).unwrap();
    assert_eq!(
        collateral,
        original.collateral(&collateral_profile).unwrap()
    );
    assert_eq!(
        verify_at(&imported, &again, &collateral, NOW)
            .unwrap()
            .status,
        "UpToDate"
    );
    // Another hierarchy's root does not anchor it.
    assert_rejected(
        verify_at(hierarchy(), &quote, &collateral, NOW),
        "InvalidCrlSignatureForPublicKey",
    );
}

#[test]
fn import_checks_certificates_and_keys() {
    let export = IntelHierarchy::generate(42).export().unwrap();
    let mismatch = |e: SimError, tag| {
        assert_eq!(e, SimError::Der(ErrorKind::Value { tag }.into()));
    };

    let mut swapped = export.clone();
    swapped.tcb_signing_key = export.root_ca_key.clone();
    mismatch(
        IntelHierarchy::import(&swapped).unwrap_err(),
        Tag::BitString,
    );

    let mut wrong_role = export.clone();
    wrong_role.pck_processor_ca_der = export.pck_platform_ca_der.clone();
    wrong_role.pck_processor_ca_key = export.pck_platform_ca_key.clone();
    mismatch(
        IntelHierarchy::import(&wrong_role).unwrap_err(),
        Tag::Sequence,
    );

    let mut garbage_key = export.clone();
    garbage_key.root_ca_key = Zeroizing::new(vec![0x30, 0x00]);
    mismatch(
        IntelHierarchy::import(&garbage_key).unwrap_err(),
        Tag::OctetString,
    );

    let mut not_der = export;
    not_der.root_ca_der = vec![1, 2, 3];
    assert!(matches!(
        IntelHierarchy::import(&not_der),
        Err(SimError::Der(_))
    ));
}

#[test]
fn generation_is_deterministic_per_seed() {
    let a = IntelHierarchy::generate(SHARED_SEED);
    assert_eq!(a.export().unwrap(), hierarchy().export().unwrap());
    let b = IntelHierarchy::generate(SHARED_SEED + 1);
    assert_ne!(a.root_ca_der(), b.root_ca_der());

    let platform = a.platform(&PlatformProfile::default()).unwrap();
    let again = hierarchy().platform(&PlatformProfile::default()).unwrap();
    assert_eq!(platform.pck_leaf_der(), again.pck_leaf_der());
    assert_eq!(platform.attestation_key(), again.attestation_key());
    // The PCK key follows the platform's TCB; the attestation key does not.
    let newer = a
        .platform(&PlatformProfile {
            pce_svn: 14,
            ..PlatformProfile::default()
        })
        .unwrap();
    let key = |p: &SimPlatform| parse_cert(p.pck_leaf_der()).public_key().raw.to_vec();
    assert_ne!(key(&platform), key(&newer));
    assert_eq!(platform.attestation_key(), newer.attestation_key());
    let other_qe = a
        .platform(&PlatformProfile {
            qe_id: [7; 16],
            ..PlatformProfile::default()
        })
        .unwrap();
    assert_ne!(platform.attestation_key(), other_qe.attestation_key());
}

fn parse_cert(der: &[u8]) -> X509Certificate<'_> {
    let (rest, cert) = X509Certificate::from_der(der).unwrap();
    assert!(rest.is_empty());
    cert
}

/// (OID, critical) of every extension, in order.
fn ext_shape(cert: &X509Certificate<'_>) -> Vec<(String, bool)> {
    cert.extensions()
        .iter()
        .map(|e| (e.oid.to_id_string(), e.critical))
        .collect()
}

fn ext_value<'a>(cert: &'a X509Certificate<'_>, oid: &str) -> &'a [u8] {
    cert.extensions()
        .iter()
        .find(|e| e.oid.to_id_string() == oid)
        .unwrap()
        .value
}

/// (attribute OID, string tag) of every attribute of a DN, in order.
fn dn_shape(name: &X509Name<'_>) -> Vec<(String, u32)> {
    name.iter_attributes()
        .map(|a| (a.attr_type().to_id_string(), a.attr_value().tag().0))
        .collect()
}

fn cn(name: &X509Name<'_>) -> String {
    name.iter_common_name()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned()
}

/// The certificates of a PEM chain (a NUL terminator, as in quotes, ignored).
fn der_certs(pem: &[u8]) -> Vec<Vec<u8>> {
    let pem = pem.strip_suffix(&[0]).unwrap_or(pem);
    x509_cert::Certificate::load_pem_chain(pem)
        .unwrap()
        .iter()
        .map(|c| c.to_der().unwrap())
        .collect()
}

/// Everything about a certificate that should match Intel's, byte values aside.
fn cert_shape(der: &[u8]) -> String {
    let cert = parse_cert(der);
    let ext = |oid| hex::encode(ext_value(&cert, oid));
    format!(
        "v{} sig={} subject={:?} issuer={:?} ext={:?} ku={} bc={} serial_len={} key={}",
        cert.version().0,
        cert.signature_algorithm.algorithm.to_id_string(),
        dn_shape(cert.subject()),
        dn_shape(cert.issuer()),
        ext_shape(&cert),
        ext("2.5.29.15"),
        ext("2.5.29.19"),
        cert.tbs_certificate.raw_serial().len().min(20),
        cert.public_key().algorithm.algorithm.to_id_string(),
    )
}

#[test]
fn certificates_have_intels_shape() {
    let (Some(pck_chain), Some(tcb_chain)) = (
        real("phala_tdx_quote.pck_chain.pem"),
        real("phala_tdx_quote.collateral.tcb_signing_chain.pem"),
    ) else {
        return;
    };
    let h = hierarchy();
    let platform = default_platform();
    let real_pck = der_certs(&pck_chain);
    let real_tcb = der_certs(&tcb_chain);
    let ours = der_certs(platform.pck_chain_pem().as_bytes());
    assert_eq!(ours.len(), 3);
    for (generated, real) in ours.iter().zip(&real_pck) {
        assert_eq!(cert_shape(generated), cert_shape(real));
    }
    let our_tcb = der_certs(h.tcb_signing_chain_pem().as_bytes());
    assert_eq!(cert_shape(&our_tcb[0]), cert_shape(&real_tcb[0]));
    assert_eq!(our_tcb[1], h.root_ca_der());

    // Names.
    let leaf = parse_cert(platform.pck_leaf_der());
    assert_eq!(cn(leaf.subject()), PCK_CN);
    assert_eq!(cn(leaf.issuer()), PCK_PLATFORM_CA_CN);
    let root = parse_cert(h.root_ca_der());
    assert_eq!(cn(root.subject()), ROOT_CA_CN);
    assert_eq!(root.subject(), root.issuer());
    assert_eq!(
        cn(parse_cert(h.pck_ca_der(PckCaKind::Processor)).subject()),
        PCK_PROCESSOR_CA_CN
    );
    assert_eq!(
        cn(parse_cert(h.tcb_signing_der()).subject()),
        TCB_SIGNING_CN
    );
    // CA serial numbers are their key identifiers, as Intel's.
    for der in [h.root_ca_der(), h.pck_ca_der(PckCaKind::Platform)] {
        let cert = parse_cert(der);
        let serial = cert.tbs_certificate.raw_serial();
        let serial = serial.strip_prefix(&[0]).unwrap_or(serial);
        assert_eq!(&ext_value(&cert, "2.5.29.14")[2..], serial);
    }
    assert_eq!(
        leaf.raw_serial()
            .strip_prefix(&[0])
            .unwrap_or(leaf.raw_serial()),
        platform.pck_serial()
    );
    assert_eq!(
        leaf.validity().not_before.timestamp(),
        DEFAULT_PCK_NOT_BEFORE.0
    );
}

/// The entries of a DER `SEQUENCE { SEQUENCE { OID, value } ... }` as (OID, tag of the value),
/// recursing into SEQUENCE values: the SGX extension's structure.
fn sgx_structure(der: &[u8]) -> Vec<(String, u8, usize)> {
    use x509_parser::der_parser::ber::BerObjectContent;
    use x509_parser::der_parser::der::parse_der;

    fn walk(obj: &x509_parser::der_parser::ber::BerObject<'_>, out: &mut Vec<(String, u8, usize)>) {
        let BerObjectContent::Sequence(entries) = &obj.content else {
            panic!("not a SEQUENCE");
        };
        for entry in entries {
            let BerObjectContent::Sequence(pair) = &entry.content else {
                panic!("entry is not a SEQUENCE");
            };
            assert_eq!(pair.len(), 2);
            let oid = pair[0].as_oid().unwrap().to_id_string();
            let value = &pair[1];
            let tag = value.header.tag().0 as u8;
            let len = match &value.content {
                BerObjectContent::OctetString(bytes) => bytes.len(),
                _ => 0,
            };
            out.push((oid, tag, len));
            if matches!(value.content, BerObjectContent::Sequence(_)) {
                walk(value, out);
            }
        }
    }
    let (rest, obj) = parse_der(der).unwrap();
    assert!(rest.is_empty());
    let mut out = Vec::new();
    walk(&obj, &mut out);
    out
}

#[test]
fn sgx_extension_has_intels_structure() {
    let platform = default_platform();
    let ours = parse_cert(platform.pck_leaf_der());
    let ours = sgx_structure(ext_value(&ours, "1.2.840.113741.1.13.1"));
    // PPID, TCB (16 components, PCESVN, CPUSVN), PCE-ID, FMSPC, SGX type, platform
    // instance ID, configuration (3 flags).
    assert_eq!(ours.len(), 1 + 1 + 18 + 5 + 3);
    for name in [
        "phala_tdx_quote.pck_chain.pem",
        "gotdx_quote_v5_sample.pck_chain.pem",
    ] {
        let Some(chain) = real(name) else {
            return;
        };
        let real_leaf = der_certs(&chain).remove(0);
        let real_leaf = parse_cert(&real_leaf);
        assert_eq!(
            sgx_structure(ext_value(&real_leaf, "1.2.840.113741.1.13.1")),
            ours,
            "{name}"
        );
    }

    // dcap-qvl reads back what the profile says.
    let profile = PlatformProfile {
        cpu_svn: [0x81, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xFF],
        pce_svn: 0x1234,
        dynamic_platform: false,
        cached_keys: true,
        smt_enabled: false,
        ..PlatformProfile::default()
    };
    let platform = hierarchy().platform(&profile).unwrap();
    let ext = dcap_qvl::intel::parse_pck_extension(platform.pck_leaf_der()).unwrap();
    assert_eq!(ext.ppid, profile.ppid);
    assert_eq!(ext.cpu_svn, profile.cpu_svn);
    assert_eq!(ext.pce_svn, 0x1234);
    assert_eq!(ext.pce_id, profile.pce_id);
    assert_eq!(ext.fmspc, DEFAULT_FMSPC);
    assert_eq!(ext.sgx_type, 1);
    assert_eq!(
        ext.platform_instance_id.as_deref(),
        Some(&profile.platform_instance_id[..])
    );
    assert_eq!(ext.dynamic_platform, Some(false));
    assert_eq!(ext.cached_keys, Some(true));
    assert_eq!(ext.smt_enabled, Some(false));
    // The components are INTEGERs, positive even from 0x80.
    let leaf = parse_cert(platform.pck_leaf_der());
    let raw = hex::encode(ext_value(&leaf, "1.2.840.113741.1.13.1"));
    assert!(
        raw.contains(
            "060b2a864886f84d010d010201020200 81"
                .replace(' ', "")
                .as_str()
        )
    );
}

/// Offsets of every fixed field of a DCAP TDX quote, read the way Intel's layout defines them.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    version: u16,
    body_type: Option<u16>,
    body_len: usize,
    auth_data_size_at: usize,
    signature_at: usize,
    att_key_at: usize,
    cert_type_at: usize,
    cert_type: u16,
    qe_report_at: usize,
    qe_report_sig_at: usize,
    qe_auth_len_at: usize,
    qe_auth_len: usize,
    inner_type_at: usize,
    inner_type: u16,
    /// Where the auth data ends, and the quote should too.
    end: usize,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(b[at..at + 2].try_into().unwrap())
}

fn u32_at(b: &[u8], at: usize) -> usize {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap()) as usize
}

fn layout(q: &[u8]) -> Layout {
    let version = u16_at(q, 0);
    let (body_type, body_at, body_len) = if version == 5 {
        (Some(u16_at(q, 48)), 54, u32_at(q, 50))
    } else {
        (None, 48, quote::TD10_BODY_LEN)
    };
    let auth_data_size_at = body_at + body_len;
    let auth_len = u32_at(q, auth_data_size_at);
    let signature_at = auth_data_size_at + 4;
    let att_key_at = signature_at + 64;
    let cert_type_at = att_key_at + 64;
    let qe_cert_len = u32_at(q, cert_type_at + 2);
    let qe_report_at = cert_type_at + 6;
    let qe_report_sig_at = qe_report_at + quote::QE_REPORT_LEN;
    let qe_auth_len_at = qe_report_sig_at + 64;
    let qe_auth_len = u16_at(q, qe_auth_len_at) as usize;
    let inner_type_at = qe_auth_len_at + 2 + qe_auth_len;
    let inner_len = u32_at(q, inner_type_at + 2);
    let end = signature_at + auth_len;
    // Each length prefix covers exactly what it should.
    assert_eq!(qe_report_at + qe_cert_len, end);
    assert_eq!(inner_type_at + 6 + inner_len, end);
    Layout {
        version,
        body_type,
        body_len,
        auth_data_size_at,
        signature_at,
        att_key_at,
        cert_type_at,
        cert_type: u16_at(q, cert_type_at),
        qe_report_at,
        qe_report_sig_at,
        qe_auth_len_at,
        qe_auth_len,
        inner_type_at,
        inner_type: u16_at(q, inner_type_at),
        end,
    }
}

#[test]
fn quote_layout_matches_real_quotes() {
    let platform = default_platform();
    for (name, version) in [
        ("phala_tdx_quote", QuoteVersion::V4),
        ("gotdx_spr_quote_v4.dat", QuoteVersion::V4),
        ("gotdx_quote_v5_sample.dat", QuoteVersion::V5Td15),
        ("phala_tdx_quote_outdated", QuoteVersion::V5Td15),
    ] {
        let Some(real_quote) = real(name) else {
            return;
        };
        let ours = platform.quote(&TdProfile::new(version), &[0; 64]).unwrap();
        let (real_layout, our_layout) = (layout(&real_quote), layout(&ours));
        assert_eq!(
            Layout {
                end: 0,
                ..our_layout
            },
            Layout {
                end: 0,
                ..real_layout
            },
            "{name}"
        );
        // No trailing bytes. Intel's quote buffers may carry zero padding after the auth data
        // (70 bytes in phala_tdx_quote); go-tdx-guest appended a text to its SPR quote.
        assert_eq!(our_layout.end, ours.len());
        if name != "gotdx_spr_quote_v4.dat" {
            assert!(real_quote[real_layout.end..].iter().all(|&b| b == 0));
        }

        // The same fields at the same offsets: header...
        assert_eq!(ours[..28], real_quote[..28], "{name}: header");
        assert_eq!(ours[44..48], [0; 4]);
        assert_eq!(real_quote[44..48], [0; 4]);
        // ...TD body fields whose values the defaults share with real production TDs...
        let body = if version == QuoteVersion::V4 { 48 } else { 54 };
        let field = |q: &[u8], at: usize, len: usize| q[body + at..body + at + len].to_vec();
        // (The SPR quote is from a TDX 1.0 module, major version 0, and its TD lacks
        // SEPT_VE_DISABLE.)
        let spr = name == "gotdx_spr_quote_v4.dat";
        for (at, len, what) in [
            (1, 1, "module major version"),
            (64, 48, "MRSIGNERSEAM"),
            (112, 8, "SEAMATTRIBUTES"),
            (120, 8, "TDATTRIBUTES"),
        ] {
            if spr && (at == 1 || at == 120) {
                continue;
            }
            assert_eq!(
                field(&ours, at, len),
                field(&real_quote, at, len),
                "{name}: {what}"
            );
        }
        if name != "phala_tdx_quote_outdated" && name != "gotdx_spr_quote_v4.dat" {
            assert_eq!(
                field(&ours, 128, 8),
                field(&real_quote, 128, 8),
                "{name}: XFAM"
            );
        }
        if version == QuoteVersion::V5Td15 {
            assert_eq!(
                field(&ours, 600, 48),
                field(&real_quote, 600, 48),
                "MR_SERVICETD"
            );
        }
        // ...QE report fields of Intel's TD QE...
        let qe = |q: &[u8], at: usize, len: usize| {
            let start = layout(q).qe_report_at + at;
            q[start..start + len].to_vec()
        };
        for (at, len, what) in [
            (16, 4, "MISCSELECT"),
            (48, 16, "ATTRIBUTES"),
            (128, 32, "MRSIGNER"),
            (256, 2, "ISVPRODID"),
            (352, 32, "REPORT_DATA[32..]"),
        ] {
            assert_eq!(
                qe(&ours, at, len),
                qe(&real_quote, at, len),
                "{name}: QE {what}"
            );
        }
        // ...and the QE auth data.
        let auth = |q: &[u8]| {
            let l = layout(q);
            q[l.qe_auth_len_at + 2..l.inner_type_at].to_vec()
        };
        assert_eq!(auth(&ours), auth(&real_quote));

        // dcap-qvl parses it, and sees what was written.
        let parsed = dcap_qvl::quote::Quote::parse(&ours).unwrap();
        assert_eq!(parsed.signed_length(), our_layout.auth_data_size_at);
        assert_eq!(parsed.raw_cert_chain().unwrap(), {
            let mut pem = platform.pck_chain_pem().into_bytes();
            pem.push(0);
            pem
        });
    }
}

#[test]
fn quote_fields_land_where_dcap_qvl_reads_them() {
    let platform = default_platform();
    let td = TdProfile {
        version: QuoteVersion::V5Td15,
        td_attributes: TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_PKS,
        xfam: 0x1122_3344_5566_7788,
        mr_config_id: [1; 48],
        mr_owner: [2; 48],
        mr_owner_config: [3; 48],
        seam_attributes: [4; 8],
        tee_tcb_svn2: [5; 16],
        mr_service_td: [6; 48],
        ..TdProfile::default()
    };
    let quote = platform.quote(&td, &[7; 64]).unwrap();
    let parsed = dcap_qvl::quote::Quote::parse(&quote).unwrap();
    assert_eq!(parsed.header.version, 5);
    assert_eq!(parsed.header.tee_type, 0x81);
    assert_eq!(parsed.header.qe_vendor_id, INTEL_QE_VENDOR_ID);
    assert_eq!(parsed.qeid(), PlatformProfile::default().qe_id);
    let r = parsed.report.as_td15().unwrap();
    assert_eq!(r.tee_tcb_svn2, [5; 16]);
    assert_eq!(r.mr_service_td, [6; 48]);
    let b = &r.base;
    assert_eq!(b.tee_tcb_svn, DEFAULT_TEE_TCB_SVN);
    assert_eq!(b.mr_seam, measurement("MRSEAM"));
    assert_eq!(b.seam_attributes, [4; 8]);
    assert_eq!(u64::from_le_bytes(b.td_attributes), td.td_attributes);
    assert_eq!(u64::from_le_bytes(b.xfam), td.xfam);
    assert_eq!(b.mr_td, measurement("MRTD"));
    assert_eq!(b.mr_config_id, [1; 48]);
    assert_eq!(b.mr_owner, [2; 48]);
    assert_eq!(b.mr_owner_config, [3; 48]);
    assert_eq!(
        [b.rt_mr0, b.rt_mr1, b.rt_mr2, b.rt_mr3],
        TdProfile::default().rtmr
    );
    assert_eq!(b.report_data, [7; 64]);

    let auth = parsed.auth_data.clone().into_v3();
    assert_eq!(auth.ecdsa_attestation_key, platform.attestation_key());
    assert_eq!(auth.qe_auth_data.data, (0..32).collect::<Vec<u8>>());
    let qe = parsed.qe_report();
    let p = PlatformProfile::default();
    assert_eq!(qe[..16], p.qe_cpu_svn);
    assert_eq!(qe[64..96], p.qe_mrenclave);
    assert_eq!(qe[258..260], p.qe_isv_svn.to_le_bytes());
    let mut bound = platform.attestation_key().to_vec();
    bound.extend_from_slice(&p.qe_auth_data);
    assert_eq!(qe[320..352], Sha256::digest(&bound)[..]);

    // Without the NUL terminator, as SPR platforms write it.
    let platform = hierarchy()
        .platform(&PlatformProfile {
            pck_chain_nul_terminated: false,
            ..PlatformProfile::default()
        })
        .unwrap();
    let quote = platform.quote(&TdProfile::default(), &[0; 64]).unwrap();
    let parsed = dcap_qvl::quote::Quote::parse(&quote).unwrap();
    assert_eq!(
        parsed.raw_cert_chain().unwrap(),
        platform.pck_chain_pem().as_bytes()
    );
    assert!(verify_at(hierarchy(), &quote, &default_collateral(), NOW).is_ok());
}

#[test]
fn pem_is_intels_format() {
    let platform = default_platform();
    let pem = platform.pck_chain_pem();
    assert!(!pem.contains('\r'));
    assert_eq!(pem.matches("-----BEGIN CERTIFICATE-----\n").count(), 3);
    assert!(pem.ends_with("-----END CERTIFICATE-----\n"));
    assert!(pem.lines().all(|line| line.len() <= 64));
    let certs = der_certs(pem.as_bytes());
    assert_eq!(certs[0], platform.pck_leaf_der());
    assert_eq!(certs[1], hierarchy().pck_ca_der(PckCaKind::Platform));
    assert_eq!(certs[2], hierarchy().root_ca_der());
    assert_eq!(
        der_certs(hierarchy().root_ca_pem().as_bytes()),
        [hierarchy().root_ca_der()]
    );
}

/// Version, signature algorithm, issuer DN shape, CRL extensions and the first entry's
/// extensions (OIDs, `!` when critical).
fn crl_shape(der: &[u8]) -> String {
    let (rest, crl) = CertificateRevocationList::from_der(der).unwrap();
    assert!(rest.is_empty());
    let oids = |exts: &[x509_parser::extensions::X509Extension<'_>]| {
        exts.iter()
            .map(|e| {
                format!(
                    "{}{}",
                    e.oid.to_id_string(),
                    if e.critical { "!" } else { "" }
                )
            })
            .collect::<Vec<_>>()
    };
    let entries: Vec<_> = crl
        .iter_revoked_certificates()
        .take(1)
        .map(|r| oids(r.extensions()))
        .collect();
    format!(
        "v{} sig={} issuer={:?} ext={:?} entry_ext={entries:?}",
        crl.version().unwrap().0,
        crl.signature_algorithm.algorithm.to_id_string(),
        dn_shape(crl.issuer()),
        oids(crl.extensions()),
    )
}

#[test]
fn crls_have_intels_shape() {
    let h = hierarchy();
    let platform = default_platform();
    let mut profile = CollateralProfile::valid_at(NOW);
    profile.revoked_pck_serials = vec![platform.pck_serial().to_vec()];
    let collateral = h.collateral(&profile).unwrap();
    if let (Some(real_pck), Some(real_root)) = (
        real("phala_tdx_quote.collateral.pck_crl.der"),
        real("phala_tdx_quote.collateral.root_ca_crl.der"),
    ) {
        assert_eq!(crl_shape(&collateral.pck_crl_der), crl_shape(&real_pck));
        assert_eq!(
            crl_shape(&collateral.root_ca_crl_der),
            crl_shape(&real_root)
        );
    }
    let (_, crl) = CertificateRevocationList::from_der(&collateral.pck_crl_der).unwrap();
    assert_eq!(cn(crl.issuer()), PCK_PLATFORM_CA_CN);
    assert_eq!(crl.last_update().timestamp(), NOW.0 - 86_400);
    assert_eq!(crl.next_update().unwrap().timestamp(), NOW.0 + 30 * 86_400);
    let revoked: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].raw_serial(), platform.pck_serial());
    assert_eq!(crl.crl_number().unwrap(), &1u32.into());
    // The issuer chain is that of the CRL's issuer.
    assert_eq!(
        der_certs(collateral.pck_crl_issuer_chain_pem.as_bytes()),
        [h.pck_ca_der(PckCaKind::Platform), h.root_ca_der()]
    );
}

/// The distinct keys of a JSON text in order of first appearance.
fn key_order(json: &str) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    let mut rest = json;
    while let Some(start) = rest.find('"') {
        let after = &rest[start + 1..];
        let end = after.find('"').unwrap();
        let token = &after[..end];
        rest = &after[end + 1..];
        if rest.starts_with(':') && !keys.iter().any(|k| k == token) {
            keys.push(token.to_owned());
        }
    }
    keys
}

#[test]
fn pcs_responses_have_intels_structure() {
    let collateral = default_collateral();
    let tcb_info = std::str::from_utf8(&collateral.tcb_info_response).unwrap();
    let qe_identity = std::str::from_utf8(&collateral.qe_identity_response).unwrap();
    assert!(tcb_info.starts_with("{\"tcbInfo\":{\"id\":\"TDX\",\"version\":3,"));
    assert!(qe_identity.starts_with("{\"enclaveIdentity\":{\"id\":\"TD_QE\",\"version\":2,"));
    for response in [tcb_info, qe_identity] {
        let (_, signature) = response.rsplit_once(",\"signature\":\"").unwrap();
        let signature = signature.strip_suffix("\"}").unwrap();
        assert_eq!(signature.len(), 128);
        assert!(
            signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }
    if let (Some(real_tcb), Some(real_qe)) = (
        real("gotdx_tcbinfo_response_v5_fmspc90c06f000000.json"),
        real("gotdx_qeidentity_response.json"),
    ) {
        let real_tcb = String::from_utf8(real_tcb).unwrap();
        let real_qe = String::from_utf8(real_qe).unwrap();
        assert_eq!(key_order(tcb_info), key_order(&real_tcb));
        assert_eq!(key_order(qe_identity), key_order(&real_qe));
        // Same serialisation style: compact, the same hex case.
        let (json, _) = collateral.tcb_info().unwrap();
        assert!(!json.contains(", ") && !json.contains(": "));
        assert!(json.contains("\"fmspc\":\"90c06f000000\",\"pceId\":\"0000\""));
        assert!(real_tcb.contains("\"fmspc\":\"90c06f000000\",\"pceId\":\"0000\""));
        let real_first_level = real_tcb.split("\"tcbLevels\":[").nth(2).unwrap();
        let our_first_level = json.split("\"tcbLevels\":[").nth(2).unwrap();
        // The UpToDate level is component for component Intel's, names included.
        let upto = |s: &str| s.split("\"tcbStatus\"").next().unwrap().to_owned();
        assert_eq!(upto(our_first_level), upto(real_first_level));
        let module = |s: &str| {
            s.split("\"tdxModuleIdentities\"")
                .next()
                .unwrap()
                .split("\"tdxModule\"")
                .nth(1)
                .unwrap()
                .to_owned()
        };
        assert_eq!(module(json), module(&real_tcb));
    }

    // dcap-qvl's own types read it back.
    let (json, _) = collateral.tcb_info().unwrap();
    let parsed: dcap_qvl::TcbInfo = serde_json::from_str(json).unwrap();
    assert_eq!(parsed.fmspc, "90c06f000000");
    assert_eq!(parsed.tcb_levels.len(), 3);
    assert_eq!(parsed.tdx_module_identities.len(), 2);
    assert_eq!(parsed.tcb_evaluation_data_number, 18);
    let (json, _) = collateral.qe_identity().unwrap();
    let parsed: dcap_qvl::QeIdentity = serde_json::from_str(json).unwrap();
    assert_eq!(parsed.mrsigner, INTEL_TD_QE_MRSIGNER);
    assert_eq!(parsed.isvprodid, 2);
}

#[test]
fn collateral_files_and_dcap_forms() {
    let collateral = default_collateral();
    let files = collateral.files();
    let names: Vec<_> = files.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names,
        [
            "tcbinfo.json",
            "qeidentity.json",
            "tcb_signing_chain.pem",
            "pck_crl.der",
            "pck_crl_issuer_chain.pem",
            "root_ca_crl.der"
        ]
    );
    assert_eq!(files[0].1, collateral.tcb_info_response);
    assert_eq!(files[3].1, collateral.pck_crl_der);

    let dcap = collateral.to_dcap();
    let (tcb_info, signature) = collateral.tcb_info().unwrap();
    assert_eq!(dcap.tcb_info, tcb_info);
    assert_eq!(dcap.tcb_info_signature, signature);
    assert_eq!(dcap.qe_identity_issuer_chain, dcap.tcb_info_issuer_chain);
    assert_eq!(dcap.pck_certificate_chain, None);
    let json = collateral.to_dcap_json();
    let back: dcap_qvl::QuoteCollateralV3 = serde_json::from_str(&json).unwrap();
    assert_eq!(back, dcap);
    assert!(json.contains(&format!(
        "\"pck_crl\":\"{}\"",
        hex::encode(&collateral.pck_crl_der)
    )));

    // A mangled response reaches dcap-qvl as such, and fails there.
    let mut mangled = collateral;
    mangled.tcb_info_response = b"not json".to_vec();
    assert_eq!(mangled.tcb_info(), None);
    assert_eq!(mangled.to_dcap().tcb_info, "not json");
    let quote = default_platform()
        .quote(&TdProfile::default(), &[0; 64])
        .unwrap();
    assert_rejected(
        verify_at(hierarchy(), &quote, &mangled, NOW),
        "Failed to decode TcbInfo",
    );
}

#[test]
fn generation_is_fast() {
    let start = std::time::Instant::now();
    let h = IntelHierarchy::generate(7);
    let platform = h.platform(&PlatformProfile::default()).unwrap();
    platform.quote(&TdProfile::default(), &[0; 64]).unwrap();
    h.collateral(&CollateralProfile::valid_at(NOW)).unwrap();
    // Milliseconds in practice; the bound only catches an accidental slow path (RSA, ...).
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
