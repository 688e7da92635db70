//! The optional RIM fetcher against a local look-alike of NVIDIA's RIM service serving simulated
//! RIMs (and, for the command, the real ones of `../shared/vectors/nvidia`): a fetched RIM is
//! stored by the rules of `rims import` and then found without the network; every defect of a
//! response is refused with its own error and stores nothing; the service key is sent as a
//! bearer token; a failed fetch is not repeated within 60 s; a missing RIM stays a claim.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use warden_evidence::UnixTime;
use warden_evidence::nvidia::rim::{RimError, RimVerifier};
use warden_evidence::sim::nvidia::{
    Arch, DeviceHierarchy, GpuProfile, RimFaults, RimHierarchy, RimProfile, SimRims,
};
use warden_proto::v1;
use warden_verifier::config::RimFetchConfig;
use warden_verifier::gpu::GpuJudge;
use warden_verifier::rim_fetch::{self, RimClient, RimFetchError};
use warden_verifier::rims::{ImportOutcome, RimStore};
use warden_verifier::store::Store;

const NOW: UnixTime = UnixTime(1_767_225_600); // 2026-01-01
const BIN: &str = env!("CARGO_BIN_EXE_warden-verifier");

/// What the look-alike answers for one id: status and body.
type Answer = (u16, Vec<u8>);

/// A RIM service look-alike at `{url}` (= `http://127.0.0.1:PORT/v1/rim/`): answers
/// `GET /v1/rim/<id>` from `answers` (404 with a JSON detail otherwise), counts requests and
/// records each request's `Authorization` header.
struct Service {
    url: String,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    requests: Arc<AtomicUsize>,
    authorization: Arc<Mutex<Vec<Option<String>>>>,
}

impl Service {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1/rim/", listener.local_addr().unwrap());
        let answers: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let requests = Arc::new(AtomicUsize::new(0));
        let authorization: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
        let (a, r, h) = (
            Arc::clone(&answers),
            Arc::clone(&requests),
            Arc::clone(&authorization),
        );
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                answer(stream, &a, &r, &h);
            }
        });
        Self {
            url,
            answers,
            requests,
            authorization,
        }
    }

    fn set(&self, id: &str, status: u16, body: Vec<u8>) {
        self.answers
            .lock()
            .unwrap()
            .insert(id.to_owned(), (status, body));
    }

    /// Serves `document` under `id` as NVIDIA does.
    fn serve_rim(&self, id: &str, document: &[u8]) {
        self.set(id, 200, service_json(id, document).to_string().into_bytes());
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    fn config(&self) -> RimFetchConfig {
        RimFetchConfig::new(&self.url).unwrap()
    }

    fn client(&self) -> RimClient {
        RimClient::new(&self.config()).unwrap()
    }
}

fn answer(
    mut stream: TcpStream,
    answers: &Mutex<HashMap<String, Answer>>,
    requests: &AtomicUsize,
    authorization: &Mutex<Vec<Option<String>>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let mut auth = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("authorization")
        {
            auth = Some(value.trim().to_owned());
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    authorization.lock().unwrap().push(auth);
    let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
    let id = path.strip_prefix("/v1/rim/").unwrap_or("");
    let (status, body) = answers.lock().unwrap().get(id).cloned().unwrap_or_else(|| {
        (
            404,
            br#"{"detail":"RIM not found","request_id":"r"}"#.to_vec(),
        )
    });
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Error",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// The JSON NVIDIA's RIM service answers for `document` under `id`.
fn service_json(id: &str, document: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "rim": base64::engine::general_purpose::STANDARD.encode(document),
        "sha256": hex::encode(Sha256::digest(document)),
        "last_updated": "2025-03-14T15:09:03.011000",
        "rim_format": "TCG",
        "request_id": "ca80a80a-054c-476e-bdd2-7be7e3047fe5",
    })
}

fn sim_rims() -> SimRims {
    RimHierarchy::shared()
        .rims_for(&GpuProfile::hopper())
        .unwrap()
}

fn test_verifier() -> RimVerifier {
    RimVerifier::new(RimHierarchy::shared().root_der().to_vec())
}

/// A RIM store in a fresh directory.
fn store(dir: &tempfile::TempDir) -> RimStore {
    RimStore::new(Arc::new(Store::open(dir.path()).unwrap()))
}

/// Fetches `id` from `service` into `store`, trusting the pinned and the simulated CoRIM root.
fn fetch(service: &Service, store: &RimStore, id: &str) -> Result<ImportOutcome, RimFetchError> {
    let pinned = warden_verifier::rims::pinned_verifier();
    let test = test_verifier();
    rim_fetch::fetch_into(&service.client(), store, &[&pinned, &test], id, NOW)
        .map(|(entry, _)| entry.outcome)
}

fn stored_ids(store: &RimStore) -> Vec<String> {
    store.rows().unwrap().into_iter().map(|r| r.id).collect()
}

#[test]
fn a_fetched_rim_is_stored_and_then_found_without_the_network() {
    let service = Service::start();
    let sim = sim_rims();
    service.serve_rim(&sim.driver_id, &sim.driver);
    service.serve_rim(&sim.vbios_id, &sim.vbios);
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);

    assert_eq!(
        fetch(&service, &store, &sim.driver_id),
        Ok(ImportOutcome::Added)
    );
    assert_eq!(
        fetch(&service, &store, &sim.vbios_id),
        Ok(ImportOutcome::Added)
    );
    // The same RIM again keeps the stored one.
    assert_eq!(
        fetch(&service, &store, &sim.driver_id),
        Ok(ImportOutcome::KeptExisting)
    );
    let rows = store.rows().unwrap();
    assert_eq!(rows.len(), 2);
    assert!(
        rows.iter()
            .all(|r| r.source == format!("fetch:{}{}", service.url, r.id)),
        "{rows:?}"
    );
    assert_eq!(service.requests(), 3);

    // Stored verbatim: the store alone serves it, verified again.
    let rim = store
        .get(&sim.driver_id, &test_verifier(), NOW)
        .unwrap()
        .unwrap();
    assert_eq!(rim.colloquial_version, GpuProfile::hopper().driver_version);
    assert_eq!(service.requests(), 3);
}

#[test]
fn each_bad_response_is_refused_with_its_own_error_and_nothing_is_stored() {
    let service = Service::start();
    let sim = sim_rims();
    let id = sim.driver_id.clone();
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir);
    let good = service_json(&id, &sim.driver);

    // Not at the service.
    assert_eq!(
        fetch(&service, &store, &id),
        Err(RimFetchError::NotFound { id: id.clone() })
    );
    // Another status.
    service.set(&id, 503, b"down".to_vec());
    assert_eq!(
        fetch(&service, &store, &id),
        Err(RimFetchError::Status {
            id: id.clone(),
            status: 503
        })
    );
    // Not JSON: the XML itself.
    service.set(&id, 200, sim.driver.clone());
    assert!(
        matches!(
            fetch(&service, &store, &id),
            Err(RimFetchError::NotJson { .. })
        ),
        "{:?}",
        fetch(&service, &store, &id)
    );
    // No "rim".
    let mut v = good.clone();
    v.as_object_mut().unwrap().remove("rim");
    service.set(&id, 200, v.to_string().into_bytes());
    assert_eq!(
        fetch(&service, &store, &id),
        Err(RimFetchError::MissingRim { id: id.clone() })
    );
    // Bad base64.
    let mut v = good.clone();
    v["rim"] = "PFNvZnR3YXJlSWRlbnRpdHk*".into();
    service.set(&id, 200, v.to_string().into_bytes());
    assert!(matches!(
        fetch(&service, &store, &id),
        Err(RimFetchError::Base64 { .. })
    ));
    // The digest of something else.
    let mut v = good.clone();
    v["sha256"] = hex::encode(Sha256::digest(&sim.vbios)).into();
    service.set(&id, 200, v.to_string().into_bytes());
    assert_eq!(
        fetch(&service, &store, &id),
        Err(RimFetchError::Digest {
            id: id.clone(),
            expected: hex::encode(Sha256::digest(&sim.vbios)),
            actual: hex::encode(Sha256::digest(&sim.driver)),
        })
    );
    // The response names another RIM.
    let mut v = good.clone();
    v["id"] = sim.vbios_id.clone().into();
    service.set(&id, 200, v.to_string().into_bytes());
    assert_eq!(
        fetch(&service, &store, &id),
        Err(RimFetchError::IdMismatch {
            requested: id.clone(),
            returned: sim.vbios_id.clone(),
        })
    );
    // A CoRIM.
    let mut v = good;
    v["rim_format"] = "CORIM".into();
    service.set(&id, 200, v.to_string().into_bytes());
    assert!(matches!(
        fetch(&service, &store, &id),
        Err(RimFetchError::Format { format, .. }) if format == "CORIM"
    ));
    // Larger than any response.
    service.set(&id, 200, vec![b' '; 5 * 1024 * 1024]);
    assert_eq!(
        fetch(&service, &store, &id),
        Err(RimFetchError::TooLarge { id: id.clone() })
    );
    // The service's own checks pass, the signature does not.
    let tampered = RimHierarchy::shared()
        .sign_rim_with(
            &RimProfile::driver_for(&GpuProfile::hopper()),
            &RimFaults {
                tamper_after_signing: true,
                ..RimFaults::default()
            },
        )
        .unwrap();
    service.serve_rim(&id, &tampered);
    assert!(
        matches!(
            fetch(&service, &store, &id),
            Err(RimFetchError::Verify {
                reason: RimError::DigestMismatch,
                ..
            })
        ),
        "{:?}",
        fetch(&service, &store, &id)
    );
    // A genuine RIM, but not the one asked for: the VBIOS RIM under the driver id, and a driver
    // RIM of another version under this one's id (both with the service's metadata agreeing).
    service.serve_rim(&id, &sim.vbios);
    assert!(matches!(
        fetch(&service, &store, &id),
        Err(RimFetchError::WrongRim { .. })
    ));
    let mut other = GpuProfile::hopper();
    other.driver_version = "535.86.09".to_owned();
    let other_rims = RimHierarchy::shared().rims_for(&other).unwrap();
    service.serve_rim(&id, &other_rims.driver);
    let e = fetch(&service, &store, &id).unwrap_err();
    assert!(
        matches!(&e, RimFetchError::WrongRim { reason, .. } if reason.contains("NV_GPU_DRIVER_GH100_535.86.09")),
        "{e}"
    );

    assert_eq!(stored_ids(&store), Vec::<String>::new());
    // Ids that are not RIM ids are refused before any request.
    let before = service.requests();
    assert!(matches!(
        fetch(&service, &store, "../../admin"),
        Err(RimFetchError::InvalidId { .. })
    ));
    assert_eq!(service.requests(), before);
}

#[test]
fn a_silent_service_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/rim/", listener.local_addr().unwrap());
    // Accepts and reads, never answers.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let mut config = RimFetchConfig::new(&url).unwrap();
    config.timeout = Duration::from_millis(500);
    let started = std::time::Instant::now();
    let e = RimClient::new(&config)
        .unwrap()
        .fetch("NV_GPU_DRIVER_GH100_550.144.03")
        .unwrap_err();
    assert!(matches!(e, RimFetchError::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_service_key_is_sent_as_a_bearer_token() {
    let service = Service::start();
    let sim = sim_rims();
    service.serve_rim(&sim.driver_id, &sim.driver);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("service.key");
    std::fs::write(&key, "nvapi-secret-token\n").unwrap();
    let mut config = service.config();
    config.service_key_file = Some(key.clone());
    let client = RimClient::new(&config).unwrap();
    assert!(!format!("{client:?}").contains("secret"));
    client.fetch(&sim.driver_id).unwrap();
    // Without a key, no header.
    service.client().fetch(&sim.driver_id).unwrap();
    assert_eq!(
        *service.authorization.lock().unwrap(),
        vec![Some("Bearer nvapi-secret-token".to_owned()), None]
    );
    // An empty or missing key file is refused up front.
    std::fs::write(&key, " \n").unwrap();
    assert!(matches!(
        RimClient::new(&config),
        Err(RimFetchError::ServiceKey { .. })
    ));
    config.service_key_file = Some(dir.path().join("absent.key"));
    assert!(matches!(
        RimClient::new(&config),
        Err(RimFetchError::ServiceKey { .. })
    ));
}

fn evidence(nonce: &[u8; 32]) -> v1::GpuEvidence {
    let gpu = DeviceHierarchy::shared(Arch::Hopper)
        .gpu(GpuProfile::hopper())
        .unwrap();
    v1::GpuEvidence {
        report: gpu.report(nonce).unwrap(),
        certificate_chain: gpu.chain_pem().into_bytes(),
        arch: "HOPPER".to_owned(),
        ocsp_responses: Vec::new(),
    }
}

/// A judge trusting the simulated roots, over `store`, fetching from `service`.
fn judge(dir: &tempfile::TempDir, service: Option<&Service>) -> GpuJudge {
    let judge = GpuJudge::pinned(store(dir))
        .with_insecure_test_roots(vec![
            DeviceHierarchy::shared(Arch::Hopper).root_der().to_vec(),
        ])
        .with_insecure_rim_test_roots(vec![RimHierarchy::shared().root_der().to_vec()]);
    match service {
        Some(service) => judge.with_rim_fetcher(service.client()),
        None => judge,
    }
}

#[test]
fn the_judge_fetches_missing_rims_once_and_then_uses_the_store() {
    let service = Service::start();
    let sim = sim_rims();
    service.serve_rim(&sim.driver_id, &sim.driver);
    service.serve_rim(&sim.vbios_id, &sim.vbios);
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(&dir, Some(&service));

    let claims = judge.verify(NOW, &[evidence(&[7; 32])], &[7; 32]).unwrap();
    assert_eq!(claims[0]["measurements_match"], true, "{}", claims[0]);
    assert_eq!(claims[0]["rims_complete"], true);
    assert_eq!(
        claims[0]["rim_ids"],
        serde_json::json!([sim.driver_id, sim.vbios_id])
    );
    assert_eq!(service.requests(), 2);

    // Stored: no further requests, and a judge without a fetcher finds them.
    judge.verify(NOW, &[evidence(&[8; 32])], &[8; 32]).unwrap();
    assert_eq!(service.requests(), 2);
    let offline = self::judge(&dir, None)
        .verify(NOW, &[evidence(&[9; 32])], &[9; 32])
        .unwrap();
    assert_eq!(offline[0]["rims_complete"], true);
}

#[test]
fn a_failed_fetch_is_a_claim_and_is_not_repeated_within_60_seconds() {
    let service = Service::start();
    let sim = sim_rims();
    let dir = tempfile::tempdir().unwrap();
    let judge = judge(&dir, Some(&service));
    let attest = |now: UnixTime| {
        judge
            .verify(now, &[evidence(&[7; 32])], &[7; 32])
            .expect("missing RIMs are not a refusal")
    };

    // Neither RIM at the service: one request each, and the claims say so.
    let claims = attest(NOW);
    assert_eq!(claims[0]["rims_complete"], false);
    assert_eq!(claims[0]["measurements_match"], false);
    assert_eq!(service.requests(), 2);
    // Within 60 s nothing is asked again, even once the service has them.
    service.serve_rim(&sim.driver_id, &sim.driver);
    service.serve_rim(&sim.vbios_id, &sim.vbios);
    attest(UnixTime(NOW.0 + 30));
    attest(UnixTime(NOW.0 + 59));
    assert_eq!(service.requests(), 2);
    // After that, it is fetched and used.
    let claims = attest(UnixTime(NOW.0 + 60));
    assert_eq!(service.requests(), 4);
    assert_eq!(claims[0]["rims_complete"], true);
    assert_eq!(claims[0]["measurements_match"], true);
}

#[test]
fn a_fetched_rim_that_does_not_verify_is_not_stored_and_not_used() {
    let service = Service::start();
    let sim = sim_rims();
    let tampered = RimHierarchy::shared()
        .sign_rim_with(
            &RimProfile::driver_for(&GpuProfile::hopper()),
            &RimFaults {
                tamper_after_signing: true,
                ..RimFaults::default()
            },
        )
        .unwrap();
    service.serve_rim(&sim.driver_id, &tampered);
    service.serve_rim(&sim.vbios_id, &sim.vbios);
    let dir = tempfile::tempdir().unwrap();
    let claims = judge(&dir, Some(&service))
        .verify(NOW, &[evidence(&[7; 32])], &[7; 32])
        .unwrap();
    assert_eq!(claims[0]["rims_complete"], false);
    assert_eq!(claims[0]["rim_ids"], serde_json::json!([sim.vbios_id]));
    assert_eq!(stored_ids(&store(&dir)), vec![sim.vbios_id]);
}

// ---- `warden-verifier rims fetch` ----

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run warden-verifier")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn config_file(dir: &Path, extra: &str) -> String {
    let path = dir.join("verifier.toml");
    std::fs::write(&path, format!("state_dir = \"state\"\n{extra}")).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn rims_fetch_command() {
    let service = Service::start();
    let tmp = tempfile::tempdir().unwrap();

    // No URL anywhere: a usage error.
    let cfg = config_file(tmp.path(), "");
    let out = run(&[
        "rims",
        "fetch",
        "NV_GPU_DRIVER_GH100_550.144.03",
        "--config",
        &cfg,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("fetch_url"), "{}", text(&out));
    let out = run(&["rims", "fetch", "X", "--url", "ftp://x/", "--config", &cfg]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));

    // A simulated RIM is refused: the command trusts only NVIDIA's pinned root, as
    // `rims import` does. A missing one is reported; both exit 1, storing nothing.
    let sim = sim_rims();
    service.serve_rim(&sim.driver_id, &sim.driver);
    let cfg = config_file(
        tmp.path(),
        &format!("[gpu_rims]\nfetch_url = \"{}\"\n", service.url),
    );
    let out = run(&[
        "rims",
        "fetch",
        &sim.driver_id,
        "NV_GPU_DRIVER_GH100_999.1",
        "--config",
        &cfg,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["outcome"], "failed");
    assert!(
        doc[0]["error"]
            .as_str()
            .unwrap()
            .contains("does not verify"),
        "{doc}"
    );
    assert!(
        doc[1]["error"].as_str().unwrap().contains("not found"),
        "{doc}"
    );
    let out = run(&["rims", "list", "--config", &cfg]);
    assert!(text(&out).contains("no RIMs stored"), "{}", text(&out));

    // NVIDIA's own RIMs, served as the service does, are fetched and stored.
    let Some(vectors) = common::vectors("nvidia") else {
        return;
    };
    let vbios_id = "NV_GPU_VBIOS_1010_0200_882_96005E0001";
    service.serve_rim(
        vbios_id,
        &common::read(
            &vectors,
            "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag",
        ),
    );
    // The nvtrust signer has expired: refused now, accepted at a time inside its validity.
    let out = run(&["rims", "fetch", vbios_id, "--config", &cfg]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("expired"), "{}", text(&out));
    let out = run(&[
        "rims",
        "fetch",
        vbios_id,
        "--at",
        "2024-06-01T00:00:00Z",
        "--config",
        &cfg,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).starts_with(&format!("{vbios_id} (vbios 96.00.5E.00.01")),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains(": added (fetch:http://"),
        "{}",
        text(&out)
    );
    let out = run(&["rims", "list", "--config", &cfg, "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["id"], vbios_id);
    // A bad signature from NVIDIA's negative samples, under --url.
    let driver_id = "NV_GPU_DRIVER_GH100_550.144.03";
    service.serve_rim(
        driver_id,
        &common::read(
            &vectors,
            "rims/attestation-sdk/negative_NV_GPU_DRIVER_GH100_550.144.03_bad_signature.xml",
        ),
    );
    let empty = config_file(tmp.path(), "");
    let out = run(&[
        "rims",
        "fetch",
        driver_id,
        "--url",
        service.url.trim_end_matches('/'),
        "--at",
        "2026-01-01T00:00:00Z",
        "--config",
        &empty,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not verify"), "{}", text(&out));
}
