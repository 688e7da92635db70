//! Model signatures end to end over real gRPC: a simulated SEV-SNP agent sends an OpenSSF
//! Model Signing bundle beside its evidence, and each key's policy judges it with the signers
//! its data pins (THREATS.md P10, K2). Each refusal asserts the reason the verifier recorded.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tonic::Code;
use warden_agent::client::{self, AgentError};
use warden_agent::collect::CpuSource;
use warden_agent::collect::nvidia::GpuSource;
use warden_agent::collect::sim::SimulatedSnp;
use warden_evidence::model::Curve;
use warden_evidence::sim::model::{ModelSigningKey, sign_key_bundle};
use warden_evidence::sim::snp::{AmdHierarchy, simulated_chip_id};
use warden_evidence::snp::Product;
use warden_proto::binding::{HashAlgorithm, ModelManifest, ModelResource, Serialization};
use warden_tests::harness::{Options, TestVerifier};
use warden_verifier::service::AttestError;

fn source() -> CpuSource {
    CpuSource::Simulated(Box::new(SimulatedSnp::from_hierarchy(
        AmdHierarchy::shared(Product::Milan),
        simulated_chip_id(Product::Milan, 0),
    )))
}

fn model(weights: u8) -> ModelManifest {
    ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Sha256,
        vec![
            ModelResource::new("model.safetensors", vec![weights; 32]),
            ModelResource::new("config.json", vec![2; 32]),
            ModelResource::new("tokenizer/vocab.txt", vec![3; 32]),
        ],
    )
    .unwrap()
    .with_ignore_paths(vec![".git".to_owned(), "model.sig".to_owned()])
}

fn sign(model: &ModelManifest, key: &ModelSigningKey) -> Vec<u8> {
    let statement = warden_model::oms::statement(model, "demo-model", false);
    sign_key_bundle(&serde_json::to_vec(&statement).unwrap(), key)
}

fn publisher() -> ModelSigningKey {
    ModelSigningKey::from_seed(Curve::P256, 1)
}

/// A verifier whose `signed` policy (the built-in `dev` Rego) pins `publisher()` and whose
/// `unsigned` policy (the same Rego, no `model_signing`) pins nobody.
async fn start() -> TestVerifier {
    let dir = tempfile::tempdir().unwrap();
    let rego = include_str!("../../policies/dev.rego");
    for name in ["signed", "unsigned"] {
        std::fs::write(dir.path().join(format!("{name}.rego")), rego).unwrap();
    }
    std::fs::write(
        dir.path().join("signed.data.json"),
        serde_json::json!({
            "model_signing": {
                "public_keys": [publisher().public_key_pem()],
                "allowed_methods": ["files/sha256"],
            }
        })
        .to_string(),
    )
    .unwrap();
    let v = TestVerifier::start(Options {
        policy_dir: Some(dir.keep()),
        ..Options::default()
    })
    .await;
    v.add_key("signed-key", "signed");
    v.add_key("open-key", "unsigned");
    v
}

async fn attest(
    v: &TestVerifier,
    model: &ModelManifest,
    signature: Option<&[u8]>,
    keys: &[&str],
) -> Result<client::Released, AgentError> {
    let mut c = client::connect(&v.url).await.unwrap();
    let keys: Vec<String> = keys.iter().map(|k| (*k).to_owned()).collect();
    client::attest_signed_model(&mut c, &source(), &GpuSource::None, model, signature, &keys).await
}

fn correlation(e: &AgentError) -> String {
    match e {
        AgentError::Refused {
            code: Code::PermissionDenied,
            correlation_id: Some(id),
            ..
        } => id.clone(),
        other => panic!("expected PERMISSION_DENIED with a correlation id, got {other:?}"),
    }
}

#[tokio::test]
async fn a_signed_model_is_released_with_its_signer_in_the_claims() {
    let v = start().await;
    let m = model(1);
    let released = attest(&v, &m, Some(&sign(&m, &publisher())), &["signed-key"])
        .await
        .unwrap();
    assert_eq!(released.keys.len(), 1);
    let record = v.record(&released.correlation_id);
    let claims = record.claims.unwrap();
    assert_eq!(
        claims["model"]["subject_digest"],
        hex::encode(m.subject_digest())
    );
    assert_eq!(claims["model"]["signature"]["present"], true);
    let signature = record.decisions[0].model_signature.clone().unwrap();
    assert_eq!(signature["verified"], true, "{signature}");
    assert_eq!(
        signature["signer"],
        serde_json::json!({ "method": "key", "hint": publisher().hint(), "curve": "P-256" })
    );
    assert_eq!(signature["subject_digest"], hex::encode(m.subject_digest()));
    assert_eq!(signature["subject_name"], "demo-model");
    v.stop().await;
}

#[tokio::test]
async fn signature_claims_are_judged_per_key_policy() {
    // The same attestation asks for both keys: the pinned signer's policy sees a verified
    // signature; the policy without signers sees why it could not be verified, and (not
    // requiring one) still allows.
    let v = start().await;
    let m = model(1);
    let released = attest(
        &v,
        &m,
        Some(&sign(&m, &publisher())),
        &["signed-key", "open-key"],
    )
    .await
    .unwrap();
    assert_eq!(released.keys.len(), 2);
    let record = v.record(&released.correlation_id);
    let by_key = |id: &str| {
        record
            .decisions
            .iter()
            .find(|d| d.key_id == id)
            .and_then(|d| d.model_signature.clone())
            .unwrap()
    };
    assert_eq!(by_key("signed-key")["verified"], true);
    assert_eq!(
        by_key("open-key"),
        serde_json::json!({
            "present": true,
            "verified": false,
            "error": "the key's policy data names no model signers (model_signing)",
        })
    );
    v.stop().await;
}

#[tokio::test]
async fn a_missing_signature_is_denied_where_signers_are_pinned() {
    let v = start().await;
    let e = attest(&v, &model(1), None, &["signed-key"])
        .await
        .unwrap_err();
    let record = v.record(&correlation(&e));
    assert_eq!(
        record.decisions[0].reasons,
        ["model.signature is not verified: no model signature was sent"]
    );
    // Without pinned signers the signature is not required.
    attest(&v, &model(1), None, &["open-key"]).await.unwrap();
    v.stop().await;
}

#[tokio::test]
async fn another_publishers_signature_is_denied() {
    let v = start().await;
    let m = model(1);
    let other = ModelSigningKey::from_seed(Curve::P256, 2);
    let e = attest(&v, &m, Some(&sign(&m, &other)), &["signed-key"])
        .await
        .unwrap_err();
    let reasons = v.record(&correlation(&e)).decisions[0].reasons.clone();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with("model.signature is not verified: ")
            && reasons[0].contains(&other.hint()),
        "{reasons:?}"
    );
    v.stop().await;
}

#[tokio::test]
async fn a_signature_over_another_model_is_denied_naming_the_changed_file() {
    // P10: the agent binds model 9 but presents the publisher's signature over model 1.
    let v = start().await;
    let signed = sign(&model(1), &publisher());
    let e = attest(&v, &model(9), Some(&signed), &["signed-key"])
        .await
        .unwrap_err();
    let reasons = v.record(&correlation(&e)).decisions[0].reasons.clone();
    assert_eq!(reasons.len(), 1);
    assert!(
        reasons[0].starts_with("model.signature is not verified: ")
            && reasons[0].contains("model.safetensors")
            && !reasons[0].contains("config.json"),
        "{reasons:?}"
    );
    v.stop().await;
}

#[tokio::test]
async fn a_disallowed_hashing_method_is_denied() {
    let v = start().await;
    let m = ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Blake3,
        vec![ModelResource::new("model.safetensors", vec![1; 32])],
    )
    .unwrap();
    let e = attest(&v, &m, Some(&sign(&m, &publisher())), &["signed-key"])
        .await
        .unwrap_err();
    let reasons = v.record(&correlation(&e)).decisions[0].reasons.clone();
    assert!(
        reasons[0].contains("blake3") && reasons[0].contains("not allowed"),
        "{reasons:?}"
    );
    v.stop().await;
}

#[tokio::test]
async fn garbage_and_oversized_signatures() {
    let v = start().await;
    let e = attest(&v, &model(1), Some(b"{not json"), &["signed-key"])
        .await
        .unwrap_err();
    let reasons = v.record(&correlation(&e)).decisions[0].reasons.clone();
    assert!(
        reasons[0].starts_with("model.signature is not verified: "),
        "{reasons:?}"
    );
    // Above the gRPC message limit the transport refuses first; the verifier's own cap holds
    // for larger configured limits and for callers of `VerifierState::attest`.
    let mut c = client::connect(&v.url).await.unwrap();
    let nonce = client::challenge(&mut c).await.unwrap();
    let pair = warden_proto::seal::TeeKeyPair::generate();
    let mut bundle = client::evidence_bundle(&source(), &nonce, &pair, &model(1)).unwrap();
    bundle.model_signature = vec![b' '; warden_verifier::model_signing::MAX_SIGNATURE_BYTES + 1];
    let outcome = v.state.attest(
        "oversized",
        &warden_proto::v1::AttestRequest {
            evidence: Some(bundle),
            key_ids: vec!["signed-key".to_owned()],
        },
    );
    assert_eq!(
        outcome.response.unwrap_err(),
        AttestError::Malformed(format!(
            "model_signature is {} bytes, at most {} are accepted",
            warden_verifier::model_signing::MAX_SIGNATURE_BYTES + 1,
            warden_verifier::model_signing::MAX_SIGNATURE_BYTES
        ))
    );
    v.stop().await;
}
