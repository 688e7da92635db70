//! SEV-SNP verification throughput on one thread, on a real Milan report.
//!
//! `cargo bench -p warden-verifier --bench snp_verify` (or `bench/snp.sh`, which pins one core
//! and runs `openssl speed ecdsap384` in the same run). Prints one line per case:
//! `<case> <median verifications per second> <runs>`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ring::signature::{self, UnparsedPublicKey};
use warden_evidence::UnixTime;
use warden_evidence::snp::{Report, SnpVerifier};
use warden_verifier::roots;

/// 2025-06-01T00:00:00Z, inside every vector's validity.
const AT: UnixTime = UnixTime(1_748_736_000);

fn median_rate(runs: usize, per_run: Duration, mut op: impl FnMut()) -> f64 {
    // Warm up caches and the branch predictor.
    let warm = Instant::now();
    while warm.elapsed() < per_run / 4 {
        op();
    }
    let mut rates: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < per_run {
                op();
                n += 1;
            }
            n as f64 / start.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    rates[runs / 2]
}

fn main() {
    let dir = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
        .join("snp");
    let Ok(report) = std::fs::read(dir.join("virtee_milan_report.bin")) else {
        eprintln!("skipped: vectors not found ({})", dir.display());
        return;
    };
    let vcek = std::fs::read(dir.join("virtee_milan_vcek.der")).unwrap();
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let per_run = Duration::from_secs_f64(seconds);
    let runs = 5;

    let anchors = roots::amd();
    // First sight: a fresh verifier each time, so the whole chain is verified (ARK
    // self-signature, ARK->ASK, ASK->VCEK, profiles, extensions) before the report.
    let first = median_rate(runs, per_run, || {
        let verifier = SnpVerifier::new(anchors.clone());
        black_box(verifier.verify(AT, black_box(&report), &vcek).unwrap());
    });
    // Repeat: the VCEK's chain is cached by SHA-256 fingerprint; the report is parsed, checked
    // and its signature verified; claims are built.
    let verifier = SnpVerifier::new(anchors);
    let repeat = median_rate(runs, per_run, || {
        black_box(verifier.verify(AT, black_box(&report), &vcek).unwrap());
    });
    // The floor: one bare ECDSA P-384 verification of the same report with the same library.
    let parsed = Report::parse(&report).unwrap();
    let mut sig = [0u8; 96];
    let raw = &report[0x2A0..0x2A0 + 144];
    for (i, b) in raw[..48].iter().rev().enumerate() {
        sig[i] = *b;
    }
    for (i, b) in raw[72..120].iter().rev().enumerate() {
        sig[48 + i] = *b;
    }
    let point = vcek_point(&vcek);
    let bare = median_rate(runs, per_run, || {
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &point)
            .verify(black_box(parsed.signed_bytes()), &sig)
            .unwrap();
    });
    println!("snp_first_sight {first:.1} {runs}");
    println!("snp_repeat {repeat:.1} {runs}");
    println!("p384_verify_ring {bare:.1} {runs}");
}

/// The VCEK's uncompressed P-384 point: the last 97 bytes of its SubjectPublicKeyInfo bit
/// string, found by the fixed SPKI prefix for P-384 keys.
fn vcek_point(der: &[u8]) -> Vec<u8> {
    // SEQUENCE { SEQUENCE { id-ecPublicKey, secp384r1 }, BIT STRING (98 bytes: 0x00 || point) }
    const PREFIX: [u8; 23] = [
        0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05,
        0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
    ];
    let at = der
        .windows(PREFIX.len())
        .position(|w| w == PREFIX)
        .expect("P-384 SPKI in VCEK");
    der[at + PREFIX.len()..at + PREFIX.len() + 97].to_vec()
}
