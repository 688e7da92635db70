//! THREATS G5: OCSP for the NVIDIA device and RIM chains, against a fake responder of the
//! generated hierarchies. Each accepted and refused response is checked with its specific
//! result.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use warden_evidence::UnixTime;
use warden_evidence::nvidia::ocsp::{
    self, DEVICE_CHAIN_OCSP, OcspCertStatus, OcspError, OcspOptions, RIM_CHAIN_OCSP,
};
use warden_evidence::nvidia::rim::RimVerifier;
use warden_evidence::sim::nvidia::{
    Arch, DeviceHierarchy, GpuProfile, OcspFaults, OcspSpec, RimHierarchy, SimCertStatus,
};
use x509_ocsp::OcspResponseStatus;

const NOW: UnixTime = UnixTime(1_767_225_600); // 2026-01-01
const HOUR: i64 = 3600;

/// The device chain (leaf first, DER) of a simulated Hopper GPU.
fn device_chain() -> Vec<Vec<u8>> {
    let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
    let gpu = hierarchy.gpu(GpuProfile::hopper()).unwrap();
    gpu.chain_der().to_vec()
}

/// A response for certificate `index` of the device chain, as `spec` and `faults` say.
fn device_response(index: usize, spec: &OcspSpec, faults: &OcspFaults) -> Vec<u8> {
    let chain = device_chain();
    DeviceHierarchy::shared(Arch::Hopper)
        .ocsp_responder()
        .unwrap()
        .respond_with(&chain[index], &chain[index + 1], spec, faults)
        .unwrap()
}

fn check_device(
    index: usize,
    response: &[u8],
    now: UnixTime,
    nonce: Option<&[u8]>,
) -> Result<OcspCertStatus, OcspError> {
    let chain = device_chain();
    ocsp::verify_response(
        response,
        &chain[index],
        &chain[index + 1..],
        now,
        &OcspOptions::default(),
        nonce,
    )
    .map(|o| o.status)
}

fn fault(faults: OcspFaults) -> OcspError {
    let response = device_response(1, &OcspSpec::good_at(NOW), &faults);
    check_device(1, &response, NOW, None).unwrap_err()
}

#[test]
fn good_responses_verify_for_every_checked_device_certificate() {
    let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
    let gpu = hierarchy.gpu(GpuProfile::hopper()).unwrap();
    let stapled = hierarchy.staple(&gpu, &OcspSpec::good_at(NOW)).unwrap();
    assert_eq!(stapled.len(), 3);
    let chain = device_chain();
    for (response, index) in stapled.iter().zip(DEVICE_CHAIN_OCSP) {
        let outcome = ocsp::verify_response(
            response,
            &chain[index],
            &chain[index + 1..],
            NOW,
            &OcspOptions::default(),
            None,
        )
        .unwrap();
        assert_eq!(outcome.status, OcspCertStatus::Good);
        assert_eq!(outcome.this_update, UnixTime(NOW.0 - HOUR));
        assert_eq!(outcome.valid_until, UnixTime(NOW.0 + 7 * 24 * HOUR));
        assert!(
            outcome.responder.contains("OCSP Responder"),
            "{}",
            outcome.responder
        );
    }
    // A response answers for one certificate only.
    assert!(matches!(
        check_device(2, &stapled[0], NOW, None),
        Err(OcspError::NoEntry { .. })
    ));
}

#[test]
fn revoked_unknown_and_hold() {
    let spec = |status| OcspSpec {
        status,
        ..OcspSpec::good_at(NOW)
    };
    let revoked = device_response(2, &spec(SimCertStatus::Revoked), &OcspFaults::default());
    assert_eq!(
        check_device(2, &revoked, NOW, None),
        Err(OcspError::Revoked {
            at: UnixTime(NOW.0 - HOUR - 86_400),
            reason: "keyCompromise"
        })
    );
    let unknown = device_response(2, &spec(SimCertStatus::Unknown), &OcspFaults::default());
    assert_eq!(
        check_device(2, &unknown, NOW, None),
        Err(OcspError::Unknown)
    );
    // certificateHold is a status for policy, not an error.
    let hold = device_response(2, &spec(SimCertStatus::Hold), &OcspFaults::default());
    assert_eq!(check_device(2, &hold, NOW, None), Ok(OcspCertStatus::Hold));
}

#[test]
fn freshness_is_enforced() {
    let response = device_response(3, &OcspSpec::good_at(NOW), &OcspFaults::default());
    let next_update = UnixTime(NOW.0 + 7 * 24 * HOUR);
    assert_eq!(
        check_device(3, &response, next_update, None),
        Ok(OcspCertStatus::Good)
    );
    let later = UnixTime(next_update.0 + 1);
    assert_eq!(
        check_device(3, &response, later, None),
        Err(OcspError::Stale {
            valid_until: next_update,
            now: later
        })
    );
    // thisUpdate in the future beyond five minutes of skew.
    let early = UnixTime(NOW.0 - HOUR - 301);
    assert_eq!(
        check_device(3, &response, early, None),
        Err(OcspError::NotYetValid {
            this_update: UnixTime(NOW.0 - HOUR),
            now: early
        })
    );
    assert!(check_device(3, &response, UnixTime(NOW.0 - HOUR - 300), None).is_ok());

    // Without nextUpdate a response lives one day.
    let spec = OcspSpec {
        next_update: None,
        ..OcspSpec::good_at(NOW)
    };
    let response = device_response(3, &spec, &OcspFaults::default());
    assert!(check_device(3, &response, NOW, None).is_ok());
    let day_later = UnixTime(NOW.0 - HOUR + 86_400 + 1);
    assert_eq!(
        check_device(3, &response, day_later, None),
        Err(OcspError::Stale {
            valid_until: UnixTime(NOW.0 - HOUR + 86_400),
            now: day_later
        })
    );
}

#[test]
fn nonce_must_be_echoed_when_sent() {
    let nonce = [0x5a; 32];
    let with = device_response(
        1,
        &OcspSpec {
            nonce: Some(nonce.to_vec()),
            ..OcspSpec::good_at(NOW)
        },
        &OcspFaults::default(),
    );
    assert!(check_device(1, &with, NOW, Some(&nonce)).is_ok());
    assert_eq!(
        check_device(1, &with, NOW, Some(&[0x5b; 32])),
        Err(OcspError::NonceMismatch)
    );
    // A replayed response without the nonce.
    let without = device_response(1, &OcspSpec::good_at(NOW), &OcspFaults::default());
    assert_eq!(
        check_device(1, &without, NOW, Some(&nonce)),
        Err(OcspError::NonceMissing)
    );
    // Stapled responses carry none and need none.
    assert!(check_device(1, &without, NOW, None).is_ok());
}

#[test]
fn forged_responses_are_refused() {
    assert_eq!(
        fault(OcspFaults {
            wrong_key: true,
            ..OcspFaults::default()
        }),
        OcspError::Signature
    );
    assert_eq!(
        fault(OcspFaults {
            tamper: true,
            ..OcspFaults::default()
        }),
        OcspError::Signature
    );
    assert_eq!(
        fault(OcspFaults {
            omit_responder_cert: true,
            ..OcspFaults::default()
        }),
        OcspError::ResponderNotFound
    );
    assert_eq!(
        fault(OcspFaults {
            responder_without_ocsp_eku: true,
            ..OcspFaults::default()
        }),
        OcspError::ResponderNotAuthorised("extended key usage lacks id-kp-OCSPSigning")
    );
    assert_eq!(
        fault(OcspFaults {
            foreign_responder: true,
            ..OcspFaults::default()
        }),
        OcspError::ResponderNotAuthorised(
            "not issued by the certificate's issuer or one of its ancestors"
        )
    );
    assert!(matches!(
        fault(OcspFaults {
            wrong_serial: true,
            ..OcspFaults::default()
        }),
        OcspError::NoEntry { .. }
    ));
    assert_eq!(
        fault(OcspFaults {
            duplicate_entry: true,
            ..OcspFaults::default()
        }),
        OcspError::DuplicateEntry
    );
    assert_eq!(
        fault(OcspFaults {
            response_status: Some(OcspResponseStatus::TryLater),
            ..OcspFaults::default()
        }),
        OcspError::ResponseStatus("tryLater")
    );
    assert_eq!(
        fault(OcspFaults {
            response_status: Some(OcspResponseStatus::Unauthorized),
            ..OcspFaults::default()
        }),
        OcspError::ResponseStatus("unauthorized")
    );
}

#[test]
fn a_responder_of_another_hierarchy_is_refused() {
    // The RIM hierarchy's responder answering for a device certificate.
    let chain = device_chain();
    let response = RimHierarchy::shared()
        .ocsp_responder()
        .unwrap()
        .respond(&chain[1], &chain[2], &OcspSpec::good_at(NOW))
        .unwrap();
    assert_eq!(
        check_device(1, &response, NOW, None),
        Err(OcspError::ResponderNotAuthorised(
            "not issued by the certificate's issuer or one of its ancestors"
        ))
    );
}

#[test]
fn malformed_input_is_refused() {
    let good = device_response(1, &OcspSpec::good_at(NOW), &OcspFaults::default());
    assert_eq!(
        check_device(1, b"not der", NOW, None),
        Err(OcspError::Encoding("not a DER OCSPResponse"))
    );
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(
        check_device(1, &trailing, NOW, None),
        Err(OcspError::Encoding("not a DER OCSPResponse"))
    );
    for cut in [1, good.len() / 2, good.len() - 1] {
        assert!(
            check_device(1, &good[..cut], NOW, None).is_err(),
            "cut {cut}"
        );
    }
    assert_eq!(
        check_device(1, &vec![0x30; ocsp::MAX_RESPONSE_LEN + 1], NOW, None),
        Err(OcspError::Encoding("response larger than 64 KiB"))
    );
}

#[test]
fn requests_name_the_certificate_and_carry_the_nonce() {
    let chain = device_chain();
    let nonce = [9u8; 32];
    let request = ocsp::request_der(&chain[1], &chain[2], Some(&nonce)).unwrap();
    let decoded = <x509_ocsp::OcspRequest as x509_cert::der::Decode>::from_der(&request).unwrap();
    assert_eq!(decoded.tbs_request.request_list.len(), 1);
    assert_eq!(
        decoded.nonce().map(|n| n.0.as_bytes().to_vec()),
        Some(nonce.to_vec())
    );
    let id = &decoded.tbs_request.request_list[0].req_cert;
    assert_eq!(id.hash_algorithm.oid.to_string(), "2.16.840.1.101.3.4.2.2");
    // The simulated responder answers the request's CertID, which the verifier matches.
    let plain = ocsp::request_der(&chain[1], &chain[2], None).unwrap();
    let decoded = <x509_ocsp::OcspRequest as x509_cert::der::Decode>::from_der(&plain).unwrap();
    assert!(decoded.nonce().is_none());
    assert_ne!(
        ocsp::cache_key(&chain[1], &chain[2]).unwrap(),
        ocsp::cache_key(&chain[2], &chain[3]).unwrap()
    );
}

#[test]
fn rim_chain_responses_verify() {
    let hierarchy = RimHierarchy::shared();
    let gpu = GpuProfile::hopper();
    let rims = hierarchy.rims_for(&gpu).unwrap();
    let verified = RimVerifier::new(hierarchy.root_der().to_vec())
        .verify(NOW, &rims.driver)
        .unwrap();
    assert_eq!(verified.chain.len(), 4);
    let stapled = hierarchy
        .staple(&rims.driver, &OcspSpec::good_at(NOW))
        .unwrap();
    assert_eq!(stapled.len(), 3);
    for (response, index) in stapled.iter().zip(RIM_CHAIN_OCSP) {
        let outcome = ocsp::verify_response(
            response,
            &verified.chain[index],
            &verified.chain[index + 1..],
            NOW,
            &OcspOptions::default(),
            None,
        )
        .unwrap();
        assert_eq!(outcome.status, OcspCertStatus::Good);
    }
}
