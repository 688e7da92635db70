//! Load benchmark: full Challenge + Attest round trips over loopback gRPC, with N concurrent
//! simulated SEV-SNP agents in the same process as the verifier (both sides share the machine's
//! cores), beside the crypto bound measured in the same run.
//!
//! `cargo bench -p warden-tests --bench attest_load -- [SECONDS_PER_LEVEL] [CLIENTS...]`
//! (defaults: 5 seconds, 1 16 64).
//!
//! One attestation costs, in cryptography: the agent's X25519 key generation and its (simulated
//! firmware's) ECDSA P-384 signature over the report; the verifier's ECDSA P-384 verification
//! (chain cached after the first report, as in production) and its HPKE seal (X25519 + HKDF +
//! AES-256-GCM); the agent's HPKE open. Each is timed alone on one core below; their sum is the
//! crypto cost of one attestation, and `cores / sum` the bound no implementation can beat on
//! this machine.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use warden_agent::client;
use warden_agent::collect::SnpSource;
use warden_agent::collect::sim::SimulatedSnp;
use warden_evidence::sim::snp::{AmdHierarchy, simulated_chip_id};
use warden_evidence::snp::{Product, SnpVerifier, vek_from_certificates};
use warden_proto::binding::{HashAlgorithm, ModelManifest, ModelResource, Nonce, Serialization};
use warden_proto::seal::{self, TeeKeyPair};
use warden_tests::harness::{Options, START, TestVerifier};
use warden_tests::simulated_anchors;

fn model() -> ModelManifest {
    ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Sha256,
        vec![
            ModelResource::new("model.safetensors", vec![1; 32]),
            ModelResource::new("config.json", vec![2; 32]),
        ],
    )
    .unwrap()
}

fn source() -> SnpSource {
    SnpSource::Simulated(Box::new(SimulatedSnp::from_hierarchy(
        AmdHierarchy::shared(Product::Milan),
        simulated_chip_id(Product::Milan, 0),
    )))
}

/// Median seconds per call of `f` over 5 runs of `budget` each.
fn time_per_op(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..20 {
        f();
    }
    let mut runs = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < budget {
            f();
            n += 1;
        }
        runs.push(start.elapsed().as_secs_f64() / n as f64);
    }
    runs.sort_by(f64::total_cmp);
    runs[2]
}

struct Bound {
    sign: f64,
    verify: f64,
    keygen: f64,
    seal: f64,
    open: f64,
}

impl Bound {
    fn total(&self) -> f64 {
        self.sign + self.verify + self.keygen + self.seal + self.open
    }
}

fn crypto_bound() -> Bound {
    let budget = Duration::from_millis(400);
    let src = source();
    let rd = [7u8; 64];
    let evidence = src.collect(&rd).unwrap();
    let vek = vek_from_certificates(&evidence.certificates).unwrap();
    let verifier = SnpVerifier::new(simulated_anchors());
    verifier.verify(START, &evidence.report, &vek).unwrap();
    // `collect` is the simulated firmware: building the report and one P-384 signature.
    let sign = time_per_op(budget, || {
        std::hint::black_box(src.collect(&rd).unwrap());
    });
    // Repeat verification with the chain cached: parse, checks and one P-384 verification.
    let verify = time_per_op(budget, || {
        std::hint::black_box(verifier.verify(START, &evidence.report, &vek).unwrap());
    });
    let keygen = time_per_op(budget, || {
        std::hint::black_box(TeeKeyPair::generate());
    });
    let pair = TeeKeyPair::generate();
    let nonce = Nonce::from_bytes([1; 32]);
    let sealed = seal::seal(pair.public_key(), &nonce, "bench", &[9; 32]).unwrap();
    let seal_t = time_per_op(budget, || {
        std::hint::black_box(seal::seal(pair.public_key(), &nonce, "bench", &[9; 32]).unwrap());
    });
    let open = time_per_op(budget, || {
        std::hint::black_box(
            pair.open(
                &nonce,
                "bench",
                &sealed.encapsulated_key,
                &sealed.ciphertext,
            )
            .unwrap(),
        );
    });
    // Not crypto, but the largest other per-key cost on the server: one Rego evaluation.
    let verified = verifier.verify(START, &evidence.report, &vek).unwrap();
    let claims = warden_verifier::claims::ClaimsDocument::new(
        warden_verifier::claims::CpuClaims::Snp(&verified.claims),
        true,
        Vec::new(),
        &model(),
        &nonce,
        pair.public_key(),
        &["bench".to_owned()],
        START,
    )
    .unwrap();
    let policies = warden_verifier::policy::PolicySet::builtin().unwrap();
    let dev = policies.get("dev").unwrap();
    let doc = claims.for_key("bench");
    let policy = time_per_op(budget, || {
        std::hint::black_box(dev.evaluate(&doc).unwrap());
    });
    println!(
        "(not in the bound) server Rego evaluation of the dev policy: {:.1} us",
        policy * 1e6
    );
    Bound {
        sign,
        verify,
        keygen,
        seal: seal_t,
        open,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

struct Level {
    clients: usize,
    done: usize,
    errors: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

async fn run_level(url: &str, clients: usize, secs: f64) -> Level {
    let src = Arc::new(source());
    let model = Arc::new(model());
    let keys = Arc::new(vec!["bench".to_owned()]);
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (src, model, keys) = (Arc::clone(&src), Arc::clone(&model), Arc::clone(&keys));
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let mut c = client::connect(&url).await.unwrap();
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let t = Instant::now();
                // The agent side of one attestation, as `client::attest` does it, with the
                // CPU-bound evidence collection kept off the async workers.
                let result = async {
                    let nonce = client::challenge(&mut c).await?;
                    let (src2, model2) = (Arc::clone(&src), Arc::clone(&model));
                    let (pair, bundle) = tokio::task::spawn_blocking(move || {
                        let pair = TeeKeyPair::generate();
                        let bundle = client::evidence_bundle(&src2, &nonce, &pair, &model2);
                        (pair, bundle)
                    })
                    .await
                    .unwrap();
                    let bundle = bundle?;
                    let response = c
                        .attest(warden_proto::v1::AttestRequest {
                            evidence: Some(bundle),
                            key_ids: keys.to_vec(),
                        })
                        .await
                        .map_err(|s| client::AgentError::Refused {
                            code: s.code(),
                            message: s.message().to_owned(),
                            correlation_id: None,
                        })?
                        .into_inner();
                    let released = client::open_all(&pair, &nonce, &keys, response)?;
                    assert_eq!(released.keys.len(), 1);
                    Ok::<_, client::AgentError>(())
                }
                .await;
                match result {
                    Ok(()) => latencies.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        eprintln!("error: {e}");
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    Level {
        clients,
        done: all.len(),
        errors,
        secs: elapsed,
        p50: percentile(&all, 0.50),
        p99: percentile(&all, 0.99),
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let secs: f64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let levels: Vec<usize> = if args.len() > 1 {
        args[1..].iter().filter_map(|s| s.parse().ok()).collect()
    } else {
        vec![1, 16, 64]
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let bound = crypto_bound();
    let per_core = 1.0 / bound.total();
    println!("crypto cost of one attestation (one core, median of 5):");
    println!(
        "  agent   P-384 report signature (simulated firmware) {:8.1} us",
        bound.sign * 1e6
    );
    println!(
        "  agent   X25519 key generation                       {:8.1} us",
        bound.keygen * 1e6
    );
    println!(
        "  server  SNP report verification (P-384, chain cached) {:6.1} us",
        bound.verify * 1e6
    );
    println!(
        "  server  HPKE seal                                   {:8.1} us",
        bound.seal * 1e6
    );
    println!(
        "  agent   HPKE open                                   {:8.1} us",
        bound.open * 1e6
    );
    println!(
        "  total {:.1} us -> bound {:.0} attestations/s per core, {:.0}/s on {cores} cores",
        bound.total() * 1e6,
        per_core,
        per_core * cores as f64
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let v = TestVerifier::start(Options::default()).await;
        v.add_key("bench", "dev");
        // Warm up the chain cache and the connections.
        run_level(&v.url, 1, 0.5).await;
        println!("\nclients  attestations/s  p50 ms  p99 ms  errors  of bound");
        for clients in levels {
            let l = run_level(&v.url, clients, secs).await;
            let rate = l.done as f64 / l.secs;
            println!(
                "{:7}  {:14.0}  {:6.2}  {:6.2}  {:6}  {:6.0}%",
                l.clients,
                rate,
                l.p50.as_secs_f64() * 1e3,
                l.p99.as_secs_f64() * 1e3,
                l.errors,
                100.0 * rate / (per_core * cores as f64)
            );
        }
        v.stop().await;
    });
}
