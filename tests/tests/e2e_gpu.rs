//! End to end over real gRPC on loopback with NVIDIA GPUs: a simulated SEV-SNP CVM with
//! simulated Hopper GPUs asks a verifier that trusts the shared simulated device and RIM roots
//! and holds the simulated RIMs (or, in one test, fetches them from a RIM service look-alike).
//! Each refusal asserts the coarse status and the recorded reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tonic::Code;
use warden_agent::client;
use warden_agent::collect::CpuSource;
use warden_agent::collect::nvidia::GpuSource;
use warden_agent::collect::sim::{SimulatedGpus, SimulatedSnp};
use warden_evidence::UnixTime;
use warden_evidence::sim::nvidia::{
    Arch, DeviceHierarchy, GpuProfile, OcspSpec, RimHierarchy, SimCertStatus,
};
use warden_evidence::sim::snp::{AmdHierarchy, simulated_chip_id};
use warden_evidence::snp::Product;
use warden_proto::binding::{
    self, HashAlgorithm, ModelManifest, ModelResource, Nonce, Serialization,
};
use warden_proto::seal::TeeKeyPair;
use warden_proto::v1::verifier_client::VerifierClient;
use warden_proto::v1::{AttestRequest, GpuEvidence};
use warden_tests::harness::{Options, START, TestVerifier};
use warden_tests::simulated_snp_bundle;
use warden_verifier::config::RimFetchConfig;
use warden_verifier::service::AttestError;

fn cpu() -> CpuSource {
    CpuSource::Simulated(Box::new(SimulatedSnp::from_hierarchy(
        AmdHierarchy::shared(Product::Milan),
        simulated_chip_id(Product::Milan, 0),
    )))
}

fn gpus(n: usize) -> GpuSource {
    GpuSource::Simulated(Box::new(
        SimulatedGpus::from_hierarchy(DeviceHierarchy::shared(Arch::Hopper), n)
            .unwrap()
            .with_ocsp_time(START),
    ))
}

fn model() -> ModelManifest {
    ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Sha256,
        vec![ModelResource::new("model.safetensors", vec![1; 32])],
    )
    .unwrap()
}

async fn connect(v: &TestVerifier) -> VerifierClient<tonic::transport::Channel> {
    client::connect(&v.url).await.unwrap()
}

fn request(bundle: warden_proto::v1::EvidenceBundle, keys: &[&str]) -> AttestRequest {
    AttestRequest {
        evidence: Some(bundle),
        key_ids: keys.iter().map(|k| (*k).to_owned()).collect(),
    }
}

/// Evidence of one simulated Hopper GPU whose report answers `gpu_nonce`.
fn gpu_for(gpu_nonce: &[u8; 32]) -> GpuEvidence {
    let gpu = DeviceHierarchy::shared(Arch::Hopper)
        .gpu(GpuProfile::hopper())
        .unwrap();
    GpuEvidence {
        report: gpu.report(gpu_nonce).unwrap(),
        certificate_chain: gpu.chain_pem().into_bytes(),
        arch: "HOPPER".to_owned(),
        ocsp_responses: DeviceHierarchy::shared(Arch::Hopper)
            .staple(&gpu, &OcspSpec::good_at(START))
            .unwrap(),
    }
}

#[tokio::test]
async fn two_simulated_gpus_release_a_dev_key_with_gpu_claims() {
    let v = TestVerifier::start(Options::default()).await;
    let material = v.add_key("model-a", "dev");
    let mut c = connect(&v).await;
    let released =
        client::attest_with_gpus(&mut c, &cpu(), &gpus(2), &model(), &["model-a".to_owned()])
            .await
            .unwrap();
    assert_eq!(released.keys[0].material.as_slice(), material.as_slice());
    let claims = v.record(&released.correlation_id).claims.unwrap();
    let list = claims["gpus"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{claims}");
    for (i, gpu) in list.iter().enumerate() {
        assert_eq!(gpu["index"], i, "{gpu}");
        assert_eq!(gpu["simulated"], true, "{gpu}");
        assert_eq!(gpu["nonce_ok"], true, "{gpu}");
        assert_eq!(gpu["measurements_match"], true, "{gpu}");
        assert_eq!(gpu["rims_complete"], true, "{gpu}");
        assert_eq!(gpu["rim_ids"].as_array().unwrap().len(), 2, "{gpu}");
        assert_eq!(gpu["revocation"], "stapled", "{gpu}");
        assert_eq!(gpu["revocation_status"], "good", "{gpu}");
        // Three device certificates from the evidence, three per RIM chain from the cache.
        let checked = gpu["revocation_checked"].as_array().unwrap();
        assert_eq!(checked.len(), 9, "{gpu}");
        let from = |source: &str| checked.iter().filter(|c| c["source"] == source).count();
        assert_eq!((from("evidence"), from("cache")), (3, 6), "{gpu}");
        assert_eq!(gpu["arch"], "HOPPER", "{gpu}");
    }
    assert_ne!(list[0]["ueid"], list[1]["ueid"]);
    v.stop().await;
}

#[tokio::test]
async fn a_gpu_report_for_another_nonce_is_refused() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let nonce = client::challenge(&mut c).await.unwrap();
    let pair = TeeKeyPair::generate();
    // Bound by the CPU TEE, but answering another session's GPU nonce.
    let other = binding::gpu_nonce(&Nonce::from_bytes([7; 32]), pair.public_key());
    let bundle = simulated_snp_bundle(
        Product::Milan,
        &nonce,
        pair.public_key(),
        &model(),
        vec![gpu_for(other.as_bytes())],
    )
    .unwrap();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(matches!(e, AttestError::Gpu { index: 0, .. }), "{e:?}");

    // The right nonce in the same shape is accepted, so the refusal was the nonce's.
    let nonce = client::challenge(&mut c).await.unwrap();
    let good = binding::gpu_nonce(&nonce, pair.public_key());
    let bundle = simulated_snp_bundle(
        Product::Milan,
        &nonce,
        pair.public_key(),
        &model(),
        vec![gpu_for(good.as_bytes())],
    )
    .unwrap();
    c.attest(request(bundle, &["k"])).await.unwrap();
    v.stop().await;
}

#[tokio::test]
async fn a_tampered_gpu_report_breaks_the_binding() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let nonce = client::challenge(&mut c).await.unwrap();
    let pair = TeeKeyPair::generate();
    let mut bundle =
        client::evidence_bundle_with_gpus(&cpu(), &gpus(2), &nonce, &pair, &model()).unwrap();
    let last = bundle.gpus[1].report.len() - 1;
    bundle.gpus[1].report[last] ^= 1;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(matches!(e, AttestError::Binding(_)), "{e:?}");
    v.stop().await;
}

#[tokio::test]
async fn a_gpu_signed_by_an_untrusted_root_is_refused() {
    let v = TestVerifier::start(Options {
        simulated_gpus: false,
        ..Options::default()
    })
    .await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    client::attest_with_gpus(&mut c, &cpu(), &gpus(1), &model(), &["k".to_owned()])
        .await
        .unwrap_err();
    let records = v.records();
    let refusal = records.last().unwrap().refusal.clone().unwrap();
    assert!(
        matches!(refusal, AttestError::Gpu { index: 0, .. }),
        "{refusal:?}"
    );
    v.stop().await;
}

#[tokio::test]
async fn default_policy_denies_simulated_gpus_with_reasons() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("strict", "default");
    let mut c = connect(&v).await;
    let nonce = client::challenge(&mut c).await.unwrap();
    let pair = TeeKeyPair::generate();
    let bundle =
        client::evidence_bundle_with_gpus(&cpu(), &gpus(1), &nonce, &pair, &model()).unwrap();
    let e = v
        .refused(&mut c, request(bundle, &["strict"]), Code::PermissionDenied)
        .await;
    let AttestError::AllDenied(reasons) = e else {
        panic!("expected a policy denial, got {e:?}");
    };
    assert!(reasons.contains("gpus[0].simulated is true"), "{reasons}");
    assert!(
        reasons.contains("1 GPUs attested, data.gpus.expected_count is 0"),
        "{reasons}"
    );
    // Revocation was checked (stapled), so it is not among the reasons.
    assert!(!reasons.contains("revocation"), "{reasons}");
    v.stop().await;
}

/// One simulated GPU answering `gpu_nonce` whose device-chain responses are `responses`.
fn gpu_with_ocsp(gpu_nonce: &[u8; 32], responses: Vec<Vec<u8>>) -> GpuEvidence {
    GpuEvidence {
        ocsp_responses: responses,
        ..gpu_for(gpu_nonce)
    }
}

/// Attests one GPU with `responses` stapled; returns the refusal or the record's claims.
async fn attest_with_ocsp(
    v: &TestVerifier,
    key: &str,
    responses: impl FnOnce(&[u8; 32]) -> Vec<Vec<u8>>,
) -> Result<serde_json::Value, AttestError> {
    let mut c = connect(v).await;
    let nonce = client::challenge(&mut c).await.unwrap();
    let pair = TeeKeyPair::generate();
    let gpu_nonce = binding::gpu_nonce(&nonce, pair.public_key());
    let gpu = gpu_with_ocsp(gpu_nonce.as_bytes(), responses(gpu_nonce.as_bytes()));
    let bundle = simulated_snp_bundle(
        Product::Milan,
        &nonce,
        pair.public_key(),
        &model(),
        vec![gpu],
    )
    .unwrap();
    match c.attest(request(bundle, &[key])).await {
        Ok(_) => {
            let record = v.records().last().cloned().unwrap();
            Ok(record.claims.unwrap())
        }
        Err(_) => Err(v.records().last().unwrap().refusal.clone().unwrap()),
    }
}

/// The device chain's three responses with `status`, at START.
fn device_responses(status: SimCertStatus) -> Vec<Vec<u8>> {
    let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
    let gpu = hierarchy.gpu(GpuProfile::hopper()).unwrap();
    let spec = OcspSpec {
        status,
        ..OcspSpec::good_at(START)
    };
    hierarchy.staple(&gpu, &spec).unwrap()
}

#[tokio::test]
async fn revoked_or_unknown_device_certificates_refuse_the_gpu() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    for (status, reason) in [
        (SimCertStatus::Revoked, "certificate revoked at"),
        (
            SimCertStatus::Unknown,
            "OCSP responder does not know the certificate",
        ),
    ] {
        let e = attest_with_ocsp(&v, "k", |_| device_responses(status))
            .await
            .unwrap_err();
        let AttestError::Gpu {
            index: 0,
            reason: why,
        } = &e
        else {
            panic!("{e:?}");
        };
        assert!(why.contains("device certificate 1"), "{why}");
        assert!(why.contains(reason), "{why}");
    }
    v.stop().await;
}

#[tokio::test]
async fn stapled_mode_refuses_a_gpu_without_responses() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    let e = attest_with_ocsp(&v, "k", |_| Vec::new()).await.unwrap_err();
    let AttestError::Gpu { index: 0, reason } = &e else {
        panic!("{e:?}");
    };
    assert!(
        reason.contains("no valid OCSP response for device certificate 1"),
        "{reason}"
    );
    // Stale responses (a week and a day old) are no better.
    let e = attest_with_ocsp(&v, "k", |_| {
        let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
        let gpu = hierarchy.gpu(GpuProfile::hopper()).unwrap();
        hierarchy
            .staple(&gpu, &OcspSpec::good_at(UnixTime(START.0 - 8 * 86_400)))
            .unwrap()
    })
    .await
    .unwrap_err();
    let AttestError::Gpu { reason, .. } = &e else {
        panic!("{e:?}");
    };
    assert!(reason.contains("OCSP response expired at"), "{reason}");
    v.stop().await;
}

#[tokio::test]
async fn certificate_hold_is_a_claim_for_policy() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    v.add_key("strict", "default");
    let claims = attest_with_ocsp(&v, "k", |_| device_responses(SimCertStatus::Hold))
        .await
        .unwrap();
    assert_eq!(claims["gpus"][0]["revocation_status"], "hold", "{claims}");
    let e = attest_with_ocsp(&v, "strict", |_| device_responses(SimCertStatus::Hold))
        .await
        .unwrap_err();
    let AttestError::AllDenied(reasons) = e else {
        panic!("{e:?}");
    };
    assert!(
        reasons.contains(
            "gpus[0].revocation_status is hold and data.gpus.allow_certificate_hold is not true"
        ),
        "{reasons}"
    );
    v.stop().await;
}

#[tokio::test]
async fn revocation_off_is_visible_and_denied_by_default() {
    let v = TestVerifier::start(Options {
        gpu_revocation: warden_verifier::revocation::RevocationMode::Off,
        ..Options::default()
    })
    .await;
    v.add_key("k", "dev");
    v.add_key("strict", "default");
    let claims = attest_with_ocsp(&v, "k", |_| Vec::new()).await.unwrap();
    assert_eq!(claims["gpus"][0]["revocation"], "off", "{claims}");
    assert_eq!(
        claims["gpus"][0]["revocation_status"], "unchecked",
        "{claims}"
    );
    let e = attest_with_ocsp(&v, "strict", |_| Vec::new())
        .await
        .unwrap_err();
    let AttestError::AllDenied(reasons) = e else {
        panic!("{e:?}");
    };
    assert!(
        reasons
            .contains("gpus[0].revocation is off and data.gpus.allow_revocation_off is not true"),
        "{reasons}"
    );
    v.stop().await;
}

#[tokio::test]
async fn nine_gpus_are_malformed() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let nonce = client::challenge(&mut c).await.unwrap();
    let pair = TeeKeyPair::generate();
    let gpu_nonce = binding::gpu_nonce(&nonce, pair.public_key());
    let bundle = simulated_snp_bundle(
        Product::Milan,
        &nonce,
        pair.public_key(),
        &model(),
        (0..9).map(|_| gpu_for(gpu_nonce.as_bytes())).collect(),
    )
    .unwrap();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::InvalidArgument)
        .await;
    assert!(matches!(e, AttestError::Malformed(_)), "{e:?}");
    v.stop().await;
}

/// A RIM service look-alike on loopback serving the simulated Hopper RIMs as NVIDIA's does
/// (`GET /v1/rim/<id>`, JSON with the base64 document); 404 for anything else. Returns its URL
/// and a request counter.
fn rim_service() -> (String, Arc<AtomicUsize>) {
    use base64::Engine as _;
    let sim = RimHierarchy::shared()
        .rims_for(&GpuProfile::hopper())
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/rim/", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                let mut header = String::new();
                reader.read_line(&mut header).unwrap();
                if header.trim().is_empty() {
                    break;
                }
            }
            count.fetch_add(1, Ordering::SeqCst);
            let path = line.split_whitespace().nth(1).unwrap_or("");
            let id = path.strip_prefix("/v1/rim/").unwrap_or("");
            let document = if id == sim.driver_id {
                Some(&sim.driver)
            } else if id == sim.vbios_id {
                Some(&sim.vbios)
            } else {
                None
            };
            let (status, body) = match document {
                Some(doc) => (
                    "200 OK",
                    serde_json::json!({
                        "id": id,
                        "rim": base64::engine::general_purpose::STANDARD.encode(doc),
                        "rim_format": "TCG",
                    })
                    .to_string(),
                ),
                None => ("404 Not Found", r#"{"detail":"not found"}"#.to_owned()),
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, requests)
}

#[tokio::test]
async fn rims_missing_from_the_store_are_fetched_once_and_match() {
    let (url, requests) = rim_service();
    let v = TestVerifier::start(Options {
        rim_fetch: Some(RimFetchConfig::new(&url).unwrap()),
        ..Options::default()
    })
    .await;
    v.add_key("model-a", "dev");
    let mut c = connect(&v).await;
    // Two GPUs of one profile need the same two RIMs: fetched once, then from the store.
    let released =
        client::attest_with_gpus(&mut c, &cpu(), &gpus(2), &model(), &["model-a".to_owned()])
            .await
            .unwrap();
    let claims = v.record(&released.correlation_id).claims.unwrap();
    for gpu in claims["gpus"].as_array().unwrap() {
        assert_eq!(gpu["measurements_match"], true, "{gpu}");
        assert_eq!(gpu["rims_complete"], true, "{gpu}");
    }
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    client::attest_with_gpus(&mut c, &cpu(), &gpus(1), &model(), &["model-a".to_owned()])
        .await
        .unwrap();
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    v.stop().await;
}
