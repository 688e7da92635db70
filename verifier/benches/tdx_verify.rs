//! Intel TDX quote verification throughput on one thread, collateral cached, on a real quote.
//!
//! `cargo bench -p warden-verifier --bench tdx_verify` (or `bench/tdx.sh`, which pins one core
//! and runs the Python binding of dcap-qvl on the same quote in the same run). Prints one line
//! per case: `<case> <median verifications per second> <runs>`.
//!
//! The quote is `phala_tdx_quote` (v4, Emerald Rapids) with `phala_tdx_quote_collateral.json`
//! at 2025-06-25T00:00:00Z, where it is UpToDate (`shared/vectors/tdx/README.md`, section A).

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

use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::{QuoteCollateralV3, QuotePolicy};
use ring::signature::{self, UnparsedPublicKey};
use warden_evidence::UnixTime;
use warden_evidence::tdx::{CollateralItem, CollateralSet, Quote, TdxVerifier};
use warden_verifier::roots;

/// 2025-06-25T00:00:00Z, inside the collateral's window (2025-06-19 .. 2025-07-19).
const AT: UnixTime = UnixTime(1_750_809_600);
const AT_SECS: u64 = 1_750_809_600;

/// One case: its name and one verification.
type Case<'a> = (&'static str, Box<dyn FnMut() + 'a>);

/// The median rate of each case over `runs` runs of `per_run`, the cases taking turns run by
/// run, so that a change in the machine's load during the bench reaches every case alike.
fn median_rates(runs: usize, per_run: Duration, cases: &mut [Case<'_>]) -> Vec<f64> {
    // Warm up caches and the branch predictor.
    for (_, op) in cases.iter_mut() {
        let warm = Instant::now();
        while warm.elapsed() < per_run / 4 {
            op();
        }
    }
    let mut rates = vec![Vec::with_capacity(runs); cases.len()];
    for _ in 0..runs {
        for ((_, op), rates) in cases.iter_mut().zip(&mut rates) {
            let start = Instant::now();
            let mut n = 0u64;
            while start.elapsed() < per_run {
                op();
                n += 1;
            }
            rates.push(n as f64 / start.elapsed().as_secs_f64());
        }
    }
    rates
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r[runs / 2]
        })
        .collect()
}

fn main() {
    let dir = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
        .join("tdx");
    // The file as published: the quote and 70 zero bytes of buffer padding. Every case gets
    // these same bytes.
    let Ok(quote_bytes) = std::fs::read(dir.join("phala_tdx_quote")) else {
        eprintln!("skipped: vectors not found ({})", dir.display());
        return;
    };
    let collateral_json = std::fs::read(dir.join("phala_tdx_quote_collateral.json")).unwrap();
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let per_run = Duration::from_secs_f64(seconds);
    let runs = 5;

    // The cache: collateral parsed and classified once, before any timing, as the verifier
    // holds it after an import or a fetch.
    let mut set = CollateralSet::new();
    for item in CollateralItem::parse_file(&collateral_json).unwrap() {
        set.add(item);
    }
    let root = roots::intel_sgx_root_ca().to_vec();
    assert_eq!(
        root,
        std::fs::read(dir.join("intel_sgx_root_ca.der")).unwrap()
    );
    let verifier = TdxVerifier::new(root);

    // Warden, the whole path per quote: strict parse (padding dropped), the PCK leaf's FMSPC,
    // PCE-ID and CA, selection of the collateral from the cache with its dates checked at
    // `now`, the root checks of the three chains, dcap-qvl `verify_with_policy(claims_only)`,
    // the attribute checks and the claims.
    let warden = || {
        let quote = Quote::parse_allow_zero_padding(black_box(&quote_bytes)).unwrap();
        let pck = quote.pck().unwrap();
        let collateral = set.select(&pck, AT).unwrap();
        verifier.verify(AT, &quote, &collateral).unwrap()
    };
    let verified = warden();
    assert_eq!(verified.claims.tcb_status, "UpToDate");
    assert!(verified.claims.advisory_ids.is_empty());

    // dcap-qvl alone, in the same binary, with the same crate, version and features: the
    // one-shot `verify` that the Python binding's `verify` calls.
    let dcap_collateral: QuoteCollateralV3 = serde_json::from_slice(&collateral_json).unwrap();
    let dcap = QuoteVerifier::new_prod();
    let report = dcap
        .verify(&quote_bytes, &dcap_collateral, AT_SECS)
        .unwrap();
    assert_eq!(report.status, "UpToDate");
    assert!(report.advisory_ids.is_empty());
    let policy = QuotePolicy::claims_only(AT_SECS);

    // The floor: one bare ECDSA P-256 verification with ring (the quote's signature by its
    // attestation key over header and body). dcap-qvl makes nine per quote.
    let quote = Quote::parse_allow_zero_padding(&quote_bytes).unwrap();
    let mut point = [0x04u8; 65];
    point[1..].copy_from_slice(quote.attestation_key());
    let key = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point);
    let signed = quote.signed_bytes();
    let sig = quote.signature();
    key.verify(signed, sig).unwrap();

    let mut cases: Vec<Case<'_>> = vec![
        (
            "tdx_warden",
            Box::new(|| {
                black_box(warden());
            }),
        ),
        // Of which the steps before dcap-qvl: parse, PCK leaf, selection (no signature).
        (
            "tdx_warden_prepare",
            Box::new(|| {
                let quote = Quote::parse_allow_zero_padding(black_box(&quote_bytes)).unwrap();
                let pck = quote.pck().unwrap();
                black_box(set.select(&pck, AT).unwrap());
            }),
        ),
        (
            "tdx_dcap_qvl_verify",
            Box::new(|| {
                black_box(
                    dcap.verify(black_box(&quote_bytes), &dcap_collateral, AT_SECS)
                        .unwrap(),
                );
            }),
        ),
        // dcap-qvl's claims API, the call Warden makes inside `TdxVerifier::verify`: the same
        // verification, then the claims (the CRLs parsed again for their numbers and dates,
        // the collateral's validity window over all eight sources).
        (
            "tdx_dcap_qvl_claims",
            Box::new(|| {
                black_box(
                    dcap.verify_with_policy(
                        black_box(&quote_bytes),
                        &dcap_collateral,
                        AT_SECS,
                        &policy,
                    )
                    .unwrap(),
                );
            }),
        ),
        (
            "p256_verify_ring",
            Box::new(|| {
                key.verify(black_box(signed), black_box(sig)).unwrap();
            }),
        ),
    ];
    let rates = median_rates(runs, per_run, &mut cases);
    for ((name, _), rate) in cases.iter().zip(rates) {
        println!("{name} {rate:.1} {runs}");
    }
}
