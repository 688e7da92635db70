//! End to end over real gRPC on loopback with Intel TDX: a simulated TDX agent (v4 and v5 quotes
//! from a generated DCAP hierarchy) asks a verifier whose collateral cache holds the simulated
//! collateral. Each refusal asserts the coarse status and the recorded reason.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use tonic::Code;
use warden_agent::client;
use warden_agent::collect::CpuSource;
use warden_agent::collect::sim::SimulatedTdx;
use warden_evidence::sim::tdx::{
    IntelHierarchy, QuoteVersion, TD_ATTR_DEBUG, TD_ATTR_SEPT_VE_DISABLE, TdProfile,
};
use warden_evidence::tdx::TdxError;
use warden_proto::binding::{HashAlgorithm, ModelManifest, ModelResource, Nonce, Serialization};
use warden_proto::seal::TeeKeyPair;
use warden_proto::v1::verifier_client::VerifierClient;
use warden_proto::v1::{AttestRequest, EvidenceBundle};
use warden_tests::harness::{Options, START, TestVerifier};
use warden_tests::simulated_tdx_bundle;
use warden_verifier::service::AttestError;

fn source(version: QuoteVersion) -> CpuSource {
    CpuSource::SimulatedTdx(Box::new(
        SimulatedTdx::from_hierarchy(IntelHierarchy::shared()).with_quote_version(version),
    ))
}

fn model(byte: u8) -> ModelManifest {
    ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Sha256,
        vec![ModelResource::new("model.safetensors", vec![byte; 32])],
    )
    .unwrap()
}

async fn connect(v: &TestVerifier) -> VerifierClient<tonic::transport::Channel> {
    client::connect(&v.url).await.unwrap()
}

fn request(bundle: EvidenceBundle, keys: &[&str]) -> AttestRequest {
    AttestRequest {
        evidence: Some(bundle),
        key_ids: keys.iter().map(|k| (*k).to_owned()).collect(),
    }
}

/// A fresh session's bundle with a quote of `td`.
async fn session(
    c: &mut VerifierClient<tonic::transport::Channel>,
    td: &TdProfile,
) -> (Nonce, TeeKeyPair, EvidenceBundle) {
    let nonce = client::challenge(c).await.unwrap();
    let pair = TeeKeyPair::generate();
    let bundle = simulated_tdx_bundle(td, &nonce, pair.public_key(), &model(1)).unwrap();
    (nonce, pair, bundle)
}

#[tokio::test]
async fn tdx_v4_and_v5_quotes_release_keys_under_dev() {
    let v = TestVerifier::start(Options::default()).await;
    let material = v.add_key("model-a", "dev");
    let mut c = connect(&v).await;
    for version in [QuoteVersion::V4, QuoteVersion::V5Td10, QuoteVersion::V5Td15] {
        let released = client::attest(&mut c, &source(version), &model(1), &["model-a".to_owned()])
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(released.keys[0].material.as_slice(), material.as_slice());
        let claims = v.record(&released.correlation_id).claims.unwrap();
        assert_eq!(claims["tee"]["type"], "tdx", "{version:?}");
        assert_eq!(claims["tee"]["simulated"], true);
        assert_eq!(claims["tee"]["tcb_status"], "UpToDate");
        assert_eq!(claims["tee"]["td_attributes"]["sept_ve_disable"], true);
        assert_eq!(claims["tee"]["td_attributes"]["debug"], false);
        assert_eq!(
            claims["model"]["manifest_digest"],
            model(1).digest().to_hex()
        );
    }
    v.stop().await;
}

#[tokio::test]
async fn default_policy_denies_simulated_tdx_with_reasons() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("strict", "default");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &TdProfile::default()).await;
    let e = v
        .refused(&mut c, request(bundle, &["strict"]), Code::PermissionDenied)
        .await;
    let AttestError::AllDenied(reasons) = e else {
        panic!("expected a policy denial, got {e:?}");
    };
    assert!(reasons.contains("tee.simulated is true"), "{reasons}");
    assert!(
        reasons.contains("data.tdx.measurements is empty"),
        "{reasons}"
    );
    v.stop().await;
}

#[tokio::test]
async fn tdx_guest_configuration_is_judged_by_dev_policy() {
    // T1 and T3 reach policy only if dcap-qvl lets them through; either way no key is released
    // and the reason names the attribute.
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let debug = TdProfile {
        td_attributes: TD_ATTR_SEPT_VE_DISABLE | TD_ATTR_DEBUG,
        ..TdProfile::default()
    };
    let (_, _, bundle) = session(&mut c, &debug).await;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(
        matches!(e, AttestError::Tdx(TdxError::DebugTd { .. })),
        "{e}"
    );

    let no_sept = TdProfile {
        td_attributes: 0,
        ..TdProfile::default()
    };
    let (_, _, bundle) = session(&mut c, &no_sept).await;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(
        matches!(e, AttestError::Tdx(TdxError::SeptVeDisabled { .. })),
        "{e}"
    );
    v.stop().await;
}

#[tokio::test]
async fn tampered_quote_and_foreign_binding_are_refused() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;

    // T12: one bit of the body.
    let (_, _, mut bundle) = session(&mut c, &TdProfile::default()).await;
    let quote = &mut bundle.cpu.as_mut().unwrap().report;
    quote[48 + 200] ^= 1;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(
        matches!(e, AttestError::Tdx(TdxError::QuoteSignature { .. })),
        "{e}"
    );

    // P3: a genuine quote bound to another session's nonce.
    let (_, _, old) = session(&mut c, &TdProfile::default()).await;
    let (_, _, mut bundle) = session(&mut c, &TdProfile::default()).await;
    bundle.cpu = old.cpu;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(matches!(e, AttestError::Binding(_)), "{e}");

    // TDX evidence carries no certificates beside the quote.
    let (_, _, mut bundle) = session(&mut c, &TdProfile::default()).await;
    bundle.cpu.as_mut().unwrap().certificates = vec![0x30, 0x00];
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::InvalidArgument)
        .await;
    assert!(matches!(e, AttestError::Malformed(_)), "{e}");
    v.stop().await;
}

#[tokio::test]
async fn stale_or_missing_collateral_is_unavailable_and_names_the_fmspc() {
    let v = TestVerifier::start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    // Past the simulated TCB info's nextUpdate (30 days after START - 1 day).
    v.clock
        .set(warden_evidence::UnixTime(START.0 + 31 * 86_400));
    let (_, _, bundle) = session(&mut c, &TdProfile::default()).await;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::Unavailable)
        .await;
    let AttestError::Collateral(inner) = &e else {
        panic!("expected a collateral refusal, got {e:?}");
    };
    assert!(
        matches!(inner, TdxError::StaleCollateral { .. }),
        "{inner:?}"
    );
    assert!(e.to_string().contains("90c06f000000"), "{e}");
    v.stop().await;

    let v = TestVerifier::start(Options {
        tdx_collateral: false,
        ..Options::default()
    })
    .await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &TdProfile::default()).await;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::Unavailable)
        .await;
    assert!(
        matches!(
            e,
            AttestError::Collateral(TdxError::MissingCollateral { .. })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("90c06f000000"), "{e}");
    v.stop().await;
}

#[tokio::test]
async fn simulated_tdx_roots_are_rejected_unless_configured() {
    let v = TestVerifier::start(Options {
        test_roots: false,
        ..Options::default()
    })
    .await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &TdProfile::default()).await;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(
        matches!(
            e,
            AttestError::Tdx(TdxError::PckChain { .. } | TdxError::UntrustedRoot { .. })
        ),
        "{e:?}"
    );
    v.stop().await;
}
