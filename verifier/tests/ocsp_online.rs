//! `online` revocation against a local OCSP responder look-alike (the simulated responder of
//! the generated device hierarchy behind a minimal HTTP server): a fresh nonce per request,
//! echoed and checked; a wrong echo, an HTTP error and an unreachable responder refuse; good
//! answers are saved to the cache and serve later `stapled` checks.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use warden_evidence::UnixTime;
use warden_evidence::nvidia::ocsp::{DEVICE_CHAIN_OCSP, OcspCertStatus, OcspError};
use warden_evidence::sim::nvidia::{Arch, DeviceHierarchy, GpuProfile, OcspSpec};
use warden_verifier::revocation::{
    ChainKind, OcspCache, OnlineOcsp, ResponseSource, Revocation, RevocationError,
};
use warden_verifier::store::Store;

const NOW: UnixTime = UnixTime(1_767_225_600);

fn chain() -> Vec<Vec<u8>> {
    let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
    hierarchy
        .gpu(GpuProfile::hopper())
        .unwrap()
        .chain_der()
        .to_vec()
}

/// Serves `requests` OCSP requests: finds the certificate of the chain the request names by
/// serial, answers `good` with the request's nonce (or `nonce_override`), or `status` when not
/// 200. Returns the URL.
fn responder(requests: usize, status: u16, nonce_override: Option<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let chain = chain();
        let responder = DeviceHierarchy::shared(Arch::Hopper)
            .ocsp_responder()
            .unwrap();
        for _ in 0..requests {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let request =
                <x509_ocsp::OcspRequest as x509_cert::der::Decode>::from_der(&body).unwrap();
            let serial = request.tbs_request.request_list[0]
                .req_cert
                .serial_number
                .as_bytes()
                .to_vec();
            let index = chain
                .iter()
                .position(|c| {
                    let cert =
                        <x509_cert::Certificate as x509_cert::der::Decode>::from_der(c).unwrap();
                    cert.tbs_certificate.serial_number.as_bytes() == serial.as_slice()
                })
                .unwrap();
            let nonce = nonce_override
                .clone()
                .or_else(|| request.nonce().map(|n| n.0.as_bytes().to_vec()));
            let spec = OcspSpec {
                nonce,
                ..OcspSpec::good_at(NOW)
            };
            let answer = responder
                .respond(&chain[index], &chain[index + 1], &spec)
                .unwrap();
            let mut stream = stream;
            if status == 200 {
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/ocsp-response\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    answer.len()
                )
                .unwrap();
                stream.write_all(&answer).unwrap();
            } else {
                write!(
                    stream,
                    "HTTP/1.1 {status} Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .unwrap();
            }
        }
    });
    url
}

fn online(url: String, cache: Option<OcspCache>) -> Revocation {
    Revocation::online(
        OnlineOcsp {
            url,
            timeout: Duration::from_secs(5),
            nonce: true,
        },
        cache,
    )
}

#[test]
fn online_checks_use_a_fresh_nonce_and_fill_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = OcspCache::new(Arc::new(Store::open(dir.path()).unwrap()));
    let url = responder(3, 200, None);
    let checked = online(url, Some(cache.clone()))
        .check_chain(NOW, ChainKind::Device, &chain(), DEVICE_CHAIN_OCSP, &[])
        .unwrap();
    assert_eq!(checked.len(), 3);
    assert!(
        checked
            .iter()
            .all(|c| c.status == OcspCertStatus::Good && c.source == ResponseSource::Online)
    );
    // The answers (with their nonces) now serve `stapled` checks from the cache.
    let checked = Revocation::stapled(Some(cache))
        .check_chain(NOW, ChainKind::Device, &chain(), DEVICE_CHAIN_OCSP, &[])
        .unwrap();
    assert!(checked.iter().all(|c| c.source == ResponseSource::Cache));
}

#[test]
fn a_wrong_nonce_an_http_error_or_no_responder_refuse() {
    let url = responder(1, 200, Some(vec![7; 32]));
    let e = online(url, None)
        .check_chain(NOW, ChainKind::Device, &chain(), DEVICE_CHAIN_OCSP, &[])
        .unwrap_err();
    assert!(
        matches!(
            &e,
            RevocationError::Refused {
                index: 1,
                error: OcspError::NonceMismatch,
                ..
            }
        ),
        "{e:?}"
    );

    let url = responder(1, 503, None);
    let e = online(url, None)
        .check_chain(NOW, ChainKind::Device, &chain(), DEVICE_CHAIN_OCSP, &[])
        .unwrap_err();
    let RevocationError::Fetch { reason, .. } = &e else {
        panic!("{e:?}");
    };
    assert_eq!(reason, "HTTP status 503 Service Unavailable");

    // Nothing listens on this port.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = online(format!("http://127.0.0.1:{port}/"), None)
        .check_chain(NOW, ChainKind::Device, &chain(), DEVICE_CHAIN_OCSP, &[])
        .unwrap_err();
    assert!(
        matches!(e, RevocationError::Fetch { index: 1, .. }),
        "{e:?}"
    );
}
