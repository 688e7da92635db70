//! The optional collateral fetcher against a local PCS look-alike serving the simulated
//! hierarchy's collateral the way Intel PCS v4 does (issuer chains URL-encoded in headers, the
//! root CA CRL hex-encoded as PCCS serves it): a TDX quote with an empty cache is fetched for
//! and verified; the refresher re-fetches what is close to its nextUpdate; a failing service
//! leaves the cache as it was.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use warden_evidence::UnixTime;
use warden_evidence::sim::tdx::{CollateralProfile, IntelHierarchy, PlatformProfile, TdProfile};
use warden_evidence::tdx::TdxError;
use warden_verifier::collateral::CollateralCache;
use warden_verifier::config::CollateralFetch;
use warden_verifier::pcs::{self, PcsClient};
use warden_verifier::store::Store;
use warden_verifier::tdx::{TdxJudge, TdxRefusal};

const NOW: UnixTime = UnixTime(1_767_225_600); // 2026-01-01

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A PCS look-alike; `fail` makes every answer a 503. Counts requests.
struct Pcs {
    url: String,
    requests: Arc<AtomicUsize>,
    fail: Arc<Mutex<bool>>,
}

fn serve(profile: CollateralProfile) -> Pcs {
    let collateral = IntelHierarchy::shared().collateral(&profile).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let fail = Arc::new(Mutex::new(false));
    let (count, failing) = (Arc::clone(&requests), Arc::clone(&fail));
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
            let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
            let (status, headers, body): (&str, Vec<(&str, String)>, Vec<u8>) =
                if *failing.lock().unwrap() {
                    ("503 Service Unavailable", vec![], b"down".to_vec())
                } else if path.starts_with("/tdx/certification/v4/tcb?fmspc=90c06f000000") {
                    (
                        "200 OK",
                        vec![(
                            "TCB-Info-Issuer-Chain",
                            url_encode(&collateral.tcb_signing_chain_pem),
                        )],
                        collateral.tcb_info_response.clone(),
                    )
                } else if path.starts_with("/tdx/certification/v4/qe/identity") {
                    (
                        "200 OK",
                        vec![(
                            "SGX-Enclave-Identity-Issuer-Chain",
                            url_encode(&collateral.tcb_signing_chain_pem),
                        )],
                        collateral.qe_identity_response.clone(),
                    )
                } else if path == "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" {
                    (
                        "200 OK",
                        vec![(
                            "SGX-PCK-CRL-Issuer-Chain",
                            url_encode(&collateral.pck_crl_issuer_chain_pem),
                        )],
                        collateral.pck_crl_der.clone(),
                    )
                } else if path == "/sgx/certification/v4/rootcacrl" {
                    (
                        "200 OK",
                        vec![],
                        hex::encode(&collateral.root_ca_crl_der).into_bytes(),
                    )
                } else {
                    ("404 Not Found", vec![], b"no such resource".to_vec())
                };
            let mut response = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (name, value) in headers {
                response.push_str(&format!("{name}: {value}\r\n"));
            }
            response.push_str("\r\n");
            let _ = stream.write_all(response.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    Pcs {
        url,
        requests,
        fail,
    }
}

fn fetch_config(pcs: &Pcs) -> CollateralFetch {
    CollateralFetch {
        url: pcs.url.clone(),
        root_ca_crl_url: format!("{}/sgx/certification/v4/rootcacrl", pcs.url),
        early_updates: false,
        timeout: Duration::from_secs(5),
        check_interval: Duration::from_secs(3600),
        refresh_before: Duration::from_secs(7 * 86_400),
    }
}

fn quote() -> Vec<u8> {
    IntelHierarchy::shared()
        .platform(&PlatformProfile::default())
        .unwrap()
        .quote(&TdProfile::default(), &[7; 64])
        .unwrap()
}

fn judge(dir: &std::path::Path) -> (Arc<CollateralCache>, TdxJudge) {
    let store = Arc::new(Store::open(dir).unwrap());
    let cache = Arc::new(CollateralCache::open(store).unwrap());
    let judge = TdxJudge::new(
        warden_verifier::roots::intel_sgx_root_ca(),
        Arc::clone(&cache),
    )
    .with_insecure_test_roots(vec![IntelHierarchy::shared().root_ca_der().to_vec()]);
    (cache, judge)
}

#[test]
fn an_empty_cache_is_filled_from_pcs_before_judging() {
    let pcs = serve(CollateralProfile::valid_at(NOW));
    let dir = tempfile::tempdir().unwrap();
    let (cache, judge) = judge(dir.path());

    // Offline (no fetcher): the gap is reported with the FMSPC.
    let e = judge.verify(NOW, &quote()).unwrap_err();
    assert!(
        matches!(
            &e,
            TdxRefusal::Collateral(TdxError::MissingCollateral { .. })
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("90c06f000000"), "{e}");
    assert_eq!(pcs.requests.load(Ordering::SeqCst), 0);

    let judge = judge.with_fetcher(PcsClient::new(&fetch_config(&pcs)));
    let (verified, simulated) = judge.verify(NOW, &quote()).unwrap();
    assert!(simulated);
    assert_eq!(verified.claims.tcb_status, "UpToDate");
    assert_eq!(pcs.requests.load(Ordering::SeqCst), 4);
    let kinds: Vec<_> = cache
        .rows()
        .unwrap()
        .iter()
        .map(|r| r.kind.clone())
        .collect();
    assert_eq!(kinds.len(), 6, "{kinds:?}");
    assert!(
        cache
            .rows()
            .unwrap()
            .iter()
            .all(|r| r.source.starts_with("fetch:http://"))
    );

    // Fresh cache: no network on the next attestation.
    judge.verify(NOW, &quote()).unwrap();
    assert_eq!(pcs.requests.load(Ordering::SeqCst), 4);
}

#[test]
fn the_refresher_fetches_what_is_close_to_expiry_and_survives_failures() {
    let pcs = serve(CollateralProfile::valid_at(NOW));
    let dir = tempfile::tempdir().unwrap();
    let (cache, _) = judge(dir.path());
    let client = PcsClient::new(&fetch_config(&pcs));
    pcs::fetch_into(
        &client,
        &cache,
        [0x90, 0xc0, 0x6f, 0, 0, 0],
        warden_evidence::tdx::PckCa::Platform,
        NOW,
    )
    .unwrap();
    let before = pcs.requests.load(Ordering::SeqCst);

    // Nothing expires within a day of NOW: nothing fetched.
    assert_eq!(pcs::refresh_once(&client, &cache, NOW, 86_400), 0);
    assert_eq!(pcs.requests.load(Ordering::SeqCst), before);

    // Within a week of the nextUpdate of the TCB info, the QE identity and the PCK CRL (NOW + 29
    // days): those three are fetched again; the root CA CRL lives a year and is left alone.
    let later = UnixTime(NOW.0 + 25 * 86_400);
    assert_eq!(pcs::refresh_once(&client, &cache, later, 7 * 86_400), 3);

    // PCS down: failures are logged, the cache keeps its items.
    *pcs.fail.lock().unwrap() = true;
    assert_eq!(pcs::refresh_once(&client, &cache, later, 7 * 86_400), 0);
    assert_eq!(cache.rows().unwrap().len(), 6);
    let e = client
        .tcb_info([0x90, 0xc0, 0x6f, 0, 0, 0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("503"), "{e}");
}

#[test]
fn a_failed_fetch_is_not_repeated_for_every_attestation() {
    let pcs = serve(CollateralProfile::valid_at(NOW));
    *pcs.fail.lock().unwrap() = true;
    let dir = tempfile::tempdir().unwrap();
    let (_, judge) = judge(dir.path());
    let judge = judge.with_fetcher(PcsClient::new(&fetch_config(&pcs)));

    let missing = |e: TdxRefusal| {
        assert!(
            matches!(
                e,
                TdxRefusal::Collateral(TdxError::MissingCollateral { .. })
            ),
            "{e:?}"
        );
    };
    missing(judge.verify(NOW, &quote()).unwrap_err());
    let after_first = pcs.requests.load(Ordering::SeqCst);
    assert_eq!(after_first, 1, "the first failing request ends the fetch");
    // Within the retry interval: refused from the cache alone.
    missing(
        judge
            .verify(
                UnixTime(NOW.0 + warden_verifier::tdx::FETCH_RETRY_AFTER_SECS - 1),
                &quote(),
            )
            .unwrap_err(),
    );
    assert_eq!(pcs.requests.load(Ordering::SeqCst), after_first);
    // After it, and with PCS back: fetched and verified.
    *pcs.fail.lock().unwrap() = false;
    let later = UnixTime(NOW.0 + warden_verifier::tdx::FETCH_RETRY_AFTER_SECS);
    let (verified, _) = judge.verify(later, &quote()).unwrap();
    assert_eq!(verified.claims.tcb_status, "UpToDate");
}
