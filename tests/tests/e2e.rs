//! End to end over real gRPC on loopback: a simulated SEV-SNP agent asks a verifier for keys.
//! Each test asserts the coarse status the agent sees and the specific reason the verifier
//! recorded (THREATS.md section 7, P rows, and section 8, K rows).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tonic::Code;
use warden_agent::client::{self, AgentError};
use warden_agent::collect::SnpSource;
use warden_agent::collect::sim::SimulatedSnp;
use warden_evidence::UnixTime;
use warden_evidence::sim::snp::{AmdHierarchy, simulated_chip_id};
use warden_evidence::snp::{CertRole, Product, SnpError};
use warden_proto::binding::{
    BindingError, HashAlgorithm, ModelManifest, ModelResource, Nonce, Serialization,
};
use warden_proto::seal::{SealError, TeeKeyPair};
use warden_proto::v1::verifier_client::VerifierClient;
use warden_proto::v1::{AttestRequest, AttestResponse, EvidenceBundle, GpuEvidence, Tee};
use warden_tests::harness::{Options, START, TestVerifier};
use warden_verifier::keys::KeyIdError;
use warden_verifier::service::{AttestError, NonceRefusal};

fn source() -> SnpSource {
    SnpSource::Simulated(Box::new(SimulatedSnp::from_hierarchy(
        AmdHierarchy::shared(Product::Milan),
        simulated_chip_id(Product::Milan, 0),
    )))
}

fn model(byte: u8) -> ModelManifest {
    ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Sha256,
        vec![
            ModelResource::new("model.safetensors", vec![byte; 32]),
            ModelResource::new("config.json", vec![2; 32]),
        ],
    )
    .unwrap()
}

/// Everything the verifier logs, at TRACE, into one buffer shared by the tests of this binary.
fn log() -> Arc<Mutex<Vec<u8>>> {
    static LOG: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer: Arc<Mutex<Vec<u8>>> = Arc::default();
        let writer = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || LogWriter(Arc::clone(&writer)))
            .init();
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_with(needle: &str) -> Vec<String> {
    let log = log();
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    text.lines()
        .filter(|l| l.contains(needle))
        .map(str::to_owned)
        .collect()
}

async fn start(options: Options) -> TestVerifier {
    log();
    TestVerifier::start(options).await
}

async fn connect(v: &TestVerifier) -> VerifierClient<tonic::transport::Channel> {
    client::connect(&v.url).await.unwrap()
}

/// A session's evidence and the key pair it binds, built exactly as the agent does.
async fn session(
    c: &mut VerifierClient<tonic::transport::Channel>,
    model: &ModelManifest,
) -> (Nonce, TeeKeyPair, EvidenceBundle) {
    let nonce = client::challenge(c).await.unwrap();
    let pair = TeeKeyPair::generate();
    let bundle = client::evidence_bundle(&source(), &nonce, &pair, model).unwrap();
    (nonce, pair, bundle)
}

fn request(bundle: EvidenceBundle, keys: &[&str]) -> AttestRequest {
    AttestRequest {
        evidence: Some(bundle),
        key_ids: keys.iter().map(|k| (*k).to_owned()).collect(),
    }
}

#[tokio::test]
async fn allowed_key_is_released_sealed_to_the_tee_key() {
    let v = start(Options::default()).await;
    let material = v.add_key("model-a", "dev");
    let mut c = connect(&v).await;
    let released = client::attest(&mut c, &source(), &model(1), &["model-a".to_owned()])
        .await
        .unwrap();
    assert_eq!(released.keys.len(), 1);
    assert_eq!(released.keys[0].key_id, "model-a");
    assert_eq!(released.keys[0].material.as_slice(), material.as_slice());

    // K8: the decision names the policy and its digest; the claims say simulated.
    let record = v.record(&released.correlation_id);
    assert_eq!(record.refusal, None);
    let d = &record.decisions[0];
    assert!(d.allow);
    assert_eq!(d.policy.as_deref(), Some("dev"));
    assert_eq!(d.policy_digest.as_ref().map(String::len), Some(64));
    let claims = record.claims.unwrap();
    assert_eq!(claims["tee"]["type"], "sev-snp");
    assert_eq!(claims["tee"]["simulated"], true);
    assert_eq!(
        claims["model"]["manifest_digest"],
        model(1).digest().to_hex()
    );
    assert_eq!(claims["time"]["unix"], START.0);
    v.stop().await;
}

#[tokio::test]
async fn denied_key_gives_a_coarse_status_and_reasons_in_the_log() {
    let v = start(Options::default()).await;
    v.add_key("strict", "default");
    let mut c = connect(&v).await;
    let err = client::attest(&mut c, &source(), &model(1), &["strict".to_owned()])
        .await
        .unwrap_err();
    let AgentError::Refused {
        code,
        message,
        correlation_id,
    } = err
    else {
        panic!("expected a refusal, got {err:?}");
    };
    assert_eq!(code, Code::PermissionDenied);
    let id = correlation_id.unwrap();
    // K9: the agent learns nothing of the reasons.
    assert_eq!(
        message,
        format!("no requested key was released (correlation id {id})")
    );
    let record = v.record(&id);
    assert!(matches!(record.refusal, Some(AttestError::AllDenied(_))));
    let reasons = &record.decisions[0].reasons;
    assert!(
        reasons.iter().any(|r| r.contains("simulated")),
        "{reasons:?}"
    );
    // The log carries the same reasons under the correlation id.
    let lines = log_lines_with(&id);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("key denied") && l.contains("simulated")),
        "{lines:#?}"
    );
    v.stop().await;
}

#[tokio::test]
async fn replayed_evidence_is_refused() {
    // P1
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &model(1)).await;
    c.attest(request(bundle.clone(), &["k"])).await.unwrap();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::FailedPrecondition)
        .await;
    assert_eq!(e, AttestError::Nonce(NonceRefusal::AlreadyUsed));
    v.stop().await;
}

#[tokio::test]
async fn expired_nonce_is_refused() {
    // P2
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &model(1)).await;
    v.clock.advance(120);
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::FailedPrecondition)
        .await;
    assert_eq!(
        e,
        AttestError::Nonce(NonceRefusal::Expired {
            expired_at: UnixTime(START.0 + 120)
        })
    );
    v.stop().await;
}

#[tokio::test]
async fn unknown_nonce_is_refused() {
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let pair = TeeKeyPair::generate();
    let bundle =
        client::evidence_bundle(&source(), &Nonce::from_bytes([7; 32]), &pair, &model(1)).unwrap();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::FailedPrecondition)
        .await;
    assert_eq!(e, AttestError::Nonce(NonceRefusal::Unknown));
    v.stop().await;
}

#[tokio::test]
async fn a_tee_key_other_than_the_bound_one_is_refused() {
    // P5: the request carries K', the evidence binds K.
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, mut bundle) = session(&mut c, &model(1)).await;
    bundle.tee_pubkey = TeeKeyPair::generate().public_key().as_bytes().to_vec();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert_eq!(e, AttestError::Binding(BindingError::ReportDataMismatch));
    v.stop().await;
}

#[tokio::test]
async fn evidence_from_one_session_with_another_sessions_nonce_is_refused() {
    // P9: evidence bound to session A presented in session B.
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, mut bundle) = session(&mut c, &model(1)).await;
    let other = client::challenge(&mut c).await.unwrap();
    bundle.nonce = other.as_bytes().to_vec();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert_eq!(e, AttestError::Binding(BindingError::ReportDataMismatch));
    v.stop().await;
}

#[tokio::test]
async fn a_substituted_model_is_refused() {
    // P10 at the binding: the manifest sent differs from the one bound into REPORT_DATA.
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, mut bundle) = session(&mut c, &model(1)).await;
    bundle.model = Some(model(9).into());
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert_eq!(e, AttestError::Binding(BindingError::ReportDataMismatch));
    v.stop().await;
}

#[tokio::test]
async fn unknown_key_id_is_denied() {
    let v = start(Options::default()).await;
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &model(1)).await;
    let e = v
        .refused(&mut c, request(bundle, &["nope"]), Code::PermissionDenied)
        .await;
    assert_eq!(
        e,
        AttestError::AllDenied("nope: unknown key id \"nope\"".to_owned())
    );
    v.stop().await;
}

#[tokio::test]
async fn partial_release_returns_only_the_allowed_keys() {
    // K2: each key is judged by its own policy.
    let v = start(Options::default()).await;
    let dev = v.add_key("dev-key", "dev");
    v.add_key("strict-key", "default");
    let mut c = connect(&v).await;
    let keys = ["dev-key".to_owned(), "strict-key".to_owned()];
    let released = client::attest(&mut c, &source(), &model(1), &keys)
        .await
        .unwrap();
    assert_eq!(released.keys.len(), 1);
    assert_eq!(released.keys[0].material.as_slice(), dev.as_slice());
    let record = v.record(&released.correlation_id);
    assert!(!record.decisions[1].allow);
    assert_eq!(record.decisions[1].policy.as_deref(), Some("default"));
    v.stop().await;
}

#[tokio::test]
async fn a_sealed_key_does_not_open_with_another_private_key() {
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (nonce, pair, bundle) = session(&mut c, &model(1)).await;
    let response: AttestResponse = c
        .attest(request(bundle, &["k"]))
        .await
        .unwrap()
        .into_inner();
    let keys = ["k".to_owned()];
    let thief = TeeKeyPair::generate();
    let err = client::open_all(&thief, &nonce, &keys, response.clone()).unwrap_err();
    assert!(matches!(
        err,
        AgentError::Open {
            source: SealError::Open,
            ..
        }
    ));
    // The rightful pair opens it; in another session (nonce) it does not.
    client::open_all(&pair, &nonce, &keys, response.clone()).unwrap();
    let err = client::open_all(&pair, &Nonce::from_bytes([0; 32]), &keys, response).unwrap_err();
    assert!(matches!(err, AgentError::Open { .. }));
    v.stop().await;
}

#[tokio::test]
async fn simulated_roots_are_rejected_unless_configured() {
    let v = start(Options {
        test_roots: false,
        ..Options::default()
    })
    .await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &model(1)).await;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert_eq!(
        e,
        AttestError::Snp(SnpError::CertSignature {
            role: CertRole::Vcek,
            issuer: CertRole::Ask
        })
    );
    v.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_attestations_racing_for_one_nonce_exactly_one_wins() {
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &model(1)).await;
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let mut c = connect(&v).await;
        let req = request(bundle.clone(), &["k"]);
        tasks.push(tokio::spawn(async move { c.attest(req).await }));
    }
    let mut ok = 0;
    let mut used = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) if s.code() == Code::FailedPrecondition => used += 1,
            Err(s) => panic!("unexpected {s:?}"),
        }
    }
    assert_eq!((ok, used), (1, 15));
    let refusals: Vec<_> = v.records().into_iter().filter_map(|r| r.refusal).collect();
    assert_eq!(refusals.len(), 15);
    assert!(
        refusals
            .iter()
            .all(|e| *e == AttestError::Nonce(NonceRefusal::AlreadyUsed))
    );
    v.stop().await;
}

#[tokio::test]
async fn low_order_tee_key_is_refused() {
    // P6: the all-zero X25519 key, correctly bound into REPORT_DATA, cannot be sealed to.
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let nonce = client::challenge(&mut c).await.unwrap();
    let zero = warden_proto::binding::TeePublicKey::from_bytes([0; 32]);
    let report_data = warden_proto::binding::report_data(&nonce, &zero, &model(1).digest(), &[]);
    let cpu = source().collect(&report_data).unwrap();
    let bundle = EvidenceBundle {
        nonce: nonce.as_bytes().to_vec(),
        cpu: Some(warden_proto::v1::CpuEvidence {
            tee: Tee::SevSnp.into(),
            report: cpu.report,
            certificates: cpu.certificates,
        }),
        gpus: Vec::new(),
        model: Some(model(1).into()),
        tee_pubkey: vec![0; 32],
        model_signature: Vec::new(),
    };
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert_eq!(e, AttestError::TeeKey(SealError::TeeKeyInvalid));
    v.stop().await;
}

#[tokio::test]
async fn mislabelled_tee_and_gpu_evidence_never_reach_policy() {
    // P11 and unverifiable GPU evidence.
    let v = start(Options::default()).await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    // An SEV-SNP report labelled TDX: refused for its certificates (TDX carries none), then,
    // without them, as a quote that does not parse.
    let (_, _, mut bundle) = session(&mut c, &model(1)).await;
    bundle.cpu.as_mut().unwrap().tee = Tee::Tdx.into();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::InvalidArgument)
        .await;
    assert!(matches!(e, AttestError::Malformed(_)), "{e:?}");
    let (_, _, mut bundle) = session(&mut c, &model(1)).await;
    let cpu = bundle.cpu.as_mut().unwrap();
    cpu.tee = Tee::Tdx.into();
    cpu.certificates.clear();
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(matches!(e, AttestError::Tdx(_)), "{e:?}");

    let (_, _, mut bundle) = session(&mut c, &model(1)).await;
    bundle.cpu.as_mut().unwrap().tee = 0;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::InvalidArgument)
        .await;
    assert_eq!(
        e,
        AttestError::Malformed("cpu.tee 0 is not a TEE kind".to_owned())
    );

    let (_, _, mut bundle) = session(&mut c, &model(1)).await;
    // A GPU the CPU TEE did not bind: refused before the GPU is looked at.
    bundle.gpus.push(GpuEvidence::default());
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(matches!(e, AttestError::Binding(_)), "{e:?}");
    v.stop().await;
}

#[tokio::test]
async fn expired_certificates_are_refused_at_the_verifiers_time() {
    // P13: the verifier's clock, not the agent's, judges validity. A nonce lifetime of ten
    // years lets the clock pass the simulated VCEK's notAfter (2032-01-01) with the nonce valid.
    let v = start(Options {
        nonce_ttl: Duration::from_secs(10 * 365 * 86_400),
        ..Options::default()
    })
    .await;
    v.add_key("k", "dev");
    let mut c = connect(&v).await;
    let (_, _, bundle) = session(&mut c, &model(1)).await;
    v.clock.set(UnixTime(1_956_528_001));
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert!(
        matches!(
            e,
            AttestError::Snp(SnpError::Expired {
                role: CertRole::Vcek,
                ..
            })
        ),
        "{e:?}"
    );
    v.stop().await;
}

#[tokio::test]
async fn path_traversal_key_ids_are_refused() {
    // K3
    let v = start(Options::default()).await;
    let mut c = connect(&v).await;
    for (id, reason) in [
        ("../master.key", KeyIdError::BadFirstChar('.')),
        (
            "a/../b",
            KeyIdError::BadChar {
                ch: '/',
                position: 1,
            },
        ),
        ("a..b", KeyIdError::DotDot),
        ("", KeyIdError::Empty),
    ] {
        let (_, _, bundle) = session(&mut c, &model(1)).await;
        let e = v
            .refused(&mut c, request(bundle, &[id]), Code::InvalidArgument)
            .await;
        assert_eq!(e, AttestError::BadKeyId(reason), "{id}");
    }
    v.stop().await;
}

#[tokio::test]
async fn key_material_never_reaches_the_log() {
    // K4: a TRACE-level canary.
    let v = start(Options::default()).await;
    let material = v.add_key("canary", "dev");
    let mut c = connect(&v).await;
    let released = client::attest(&mut c, &source(), &model(1), &["canary".to_owned()])
        .await
        .unwrap();
    assert!(!log_lines_with(&released.correlation_id).is_empty());
    let log = log();
    let text = log.lock().unwrap().clone();
    let hex_lower = hex::encode(&material);
    let text_str = String::from_utf8_lossy(&text);
    assert!(!text_str.contains(&hex_lower));
    assert!(!text_str.contains(&hex_lower.to_uppercase()));
    assert!(!text_str.contains(&format!("{:?}", material.as_slice())));
    assert!(
        !text
            .windows(material.len())
            .any(|w| w == material.as_slice())
    );
    v.stop().await;
}

#[tokio::test]
async fn model_bound_policy_denies_another_model() {
    // P10 at policy: the key's policy names the model it may be released for.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pinned.rego"),
        r#"package warden
import rego.v1
default allow := false
allow if input.model.manifest_digest in data.models
deny contains msg if {
    not input.model.manifest_digest in data.models
    msg := sprintf("model %s is not one this key may be released for", [input.model.manifest_digest])
}
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("pinned.data.json"),
        serde_json::json!({ "models": [model(1).digest().to_hex()] }).to_string(),
    )
    .unwrap();
    let v = start(Options {
        policy_dir: Some(dir.path().to_owned()),
        ..Options::default()
    })
    .await;
    v.add_key("k", "pinned");
    let mut c = connect(&v).await;
    client::attest(&mut c, &source(), &model(1), &["k".to_owned()])
        .await
        .unwrap();
    let (_, _, bundle) = session(&mut c, &model(3)).await;
    let e = v
        .refused(&mut c, request(bundle, &["k"]), Code::PermissionDenied)
        .await;
    assert_eq!(
        e,
        AttestError::AllDenied(format!(
            "k: model {} is not one this key may be released for",
            model(3).digest().to_hex()
        ))
    );
    v.stop().await;
}

#[tokio::test]
async fn malformed_requests_are_invalid_arguments() {
    let v = start(Options::default()).await;
    let mut c = connect(&v).await;
    let e = v
        .refused(
            &mut c,
            AttestRequest {
                evidence: None,
                key_ids: vec!["k".to_owned()],
            },
            Code::InvalidArgument,
        )
        .await;
    assert_eq!(e, AttestError::Malformed("evidence is missing".to_owned()));
    let (_, _, bundle) = session(&mut c, &model(1)).await;
    let e = v
        .refused(&mut c, request(bundle, &[]), Code::InvalidArgument)
        .await;
    assert_eq!(e, AttestError::Malformed("no key ids requested".to_owned()));
    v.stop().await;
}
