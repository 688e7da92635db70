//! The binding rules end to end for SEV-SNP: a simulated CVM binds its report to the session;
//! the verifier side verifies the report and recomputes REPORT_DATA from the bundle. Any
//! substitution in the bundle (nonce, TEE key, model, GPU evidence) breaks the binding
//! (THREATS.md S15, P3, P4, P5, P9, P10).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use warden_evidence::UnixTime;
use warden_evidence::snp::{Product, SnpVerifier};
use warden_proto::binding::{
    self, BindingError, HashAlgorithm, ModelManifest, ModelResource, Nonce, Serialization,
    TeePublicKey,
};
use warden_proto::v1;
use warden_tests::{simulated_anchors, simulated_snp_bundle};

const NOW: UnixTime = UnixTime(1_748_736_000);

fn manifest(digest_byte: u8) -> ModelManifest {
    ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Sha256,
        vec![
            ModelResource::new("model.safetensors", vec![digest_byte; 32]),
            ModelResource::new("config.json", vec![2; 32]),
        ],
    )
    .unwrap()
}

fn gpu(tag: &str) -> v1::GpuEvidence {
    v1::GpuEvidence {
        report: format!("{tag}-report").into_bytes(),
        certificate_chain: format!("{tag}-chain").into_bytes(),
        arch: "HOPPER".into(),
        ocsp_responses: vec![],
    }
}

/// The verifier side: verify the CPU report, then check REPORT_DATA against the bundle.
fn judge(bundle: &v1::EvidenceBundle) -> Result<(), String> {
    let cpu = bundle.cpu.as_ref().ok_or("no CPU evidence")?;
    let verified = SnpVerifier::new(simulated_anchors())
        .verify(NOW, &cpu.report, &cpu.certificates)
        .map_err(|e| e.to_string())?;
    let expected = binding::report_data_for_bundle(bundle).map_err(|e| e.to_string())?;
    binding::verify_report_data(&expected, verified.report.report_data()).map_err(|e| e.to_string())
}

fn session() -> (Nonce, TeePublicKey) {
    (
        Nonce::from_bytes([0x11; 32]),
        TeePublicKey::from_bytes([0x22; 32]),
    )
}

#[test]
fn bound_bundles_verify_for_every_product_and_gpu_count() {
    let (nonce, pk) = session();
    for product in Product::ALL {
        for gpus in [vec![], vec![gpu("a")], vec![gpu("a"), gpu("b")]] {
            let bundle = simulated_snp_bundle(product, &nonce, &pk, &manifest(1), gpus).unwrap();
            judge(&bundle).unwrap_or_else(|e| panic!("{product}: {e}"));
        }
    }
}

#[test]
fn every_substitution_breaks_the_binding() {
    let (nonce, pk) = session();
    let bundle = simulated_snp_bundle(
        Product::Milan,
        &nonce,
        &pk,
        &manifest(1),
        vec![gpu("a"), gpu("b")],
    )
    .unwrap();
    judge(&bundle).unwrap();
    let mismatch = BindingError::ReportDataMismatch.to_string();

    let mut other_nonce = bundle.clone();
    other_nonce.nonce = vec![0x12; 32];
    let mut other_key = bundle.clone();
    other_key.tee_pubkey = vec![0x23; 32];
    let mut other_model = bundle.clone();
    other_model.model = Some((&manifest(9)).into());
    let mut swapped_gpus = bundle.clone();
    swapped_gpus.gpus.reverse();
    let mut dropped_gpu = bundle.clone();
    dropped_gpu.gpus.pop();
    let mut other_gpu = bundle.clone();
    other_gpu.gpus[1] = gpu("c");
    let mut replayed_gpu = bundle;
    replayed_gpu.gpus[1] = gpu("a");
    for (name, tampered) in [
        ("nonce (P1/S15)", other_nonce),
        ("TEE key (P5)", other_key),
        ("model (P10)", other_model),
        ("GPU order (P3)", swapped_gpus),
        ("GPU dropped (P9)", dropped_gpu),
        ("GPU from elsewhere (P9)", other_gpu),
        ("one GPU's evidence for two slots (G15)", replayed_gpu),
    ] {
        assert_eq!(judge(&tampered).unwrap_err(), mismatch, "{name}");
    }
}

#[test]
fn malformed_bundles_are_refused_before_any_comparison() {
    let (nonce, pk) = session();
    let bundle = simulated_snp_bundle(Product::Genoa, &nonce, &pk, &manifest(1), vec![]).unwrap();
    let mut short_key = bundle.clone();
    short_key.tee_pubkey.truncate(31);
    assert_eq!(
        judge(&short_key).unwrap_err(),
        BindingError::TeePublicKeyLength { actual: 31 }.to_string()
    );
    let mut no_model = bundle.clone();
    no_model.model = None;
    assert_eq!(
        judge(&no_model).unwrap_err(),
        BindingError::MissingModel.to_string()
    );
    // REPORT_DATA is never truncated or padded (P4).
    let expected = binding::report_data_for_bundle(&bundle).unwrap();
    assert_eq!(
        binding::verify_report_data(&expected, &expected[..32]).unwrap_err(),
        BindingError::ReportDataLength { actual: 32 }
    );
}
