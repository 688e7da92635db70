//! NVIDIA GPU evidence verification throughput on one thread: one GPU's report and device chain,
//! its driver and VBIOS RIMs, and the measurement comparison.
//!
//! `cargo bench -p warden-verifier --bench nvidia_verify` (or `bench/nvidia.sh`, which pins one
//! core and runs NVIDIA's Python verifier `nv-local-gpu-verifier` on the same vector in the same
//! run). Prints one line per case: `<case> <median verifications per second> <runs>`, then
//! `nvidia_warden_mismatched <indices>` (the comparison's result on the bench vector).
//!
//! The vector (`shared/vectors/nvidia/README.md`): H100 report `hopper_535.86.09` with its
//! chain and nonce, the driver RIM `NV_GPU_DRIVER_GH100_550.144.03.xml` and the VBIOS RIM
//! `1010_0200_882_96005E0001_PROD.swidtag`, at 2025-06-01T00:00:00Z, where every RIM
//! certificate is valid. No public driver RIM matches any public report, so the driver RIM is
//! for another version (550.144.03, the report has 535.86.09). The Python verifier warns about
//! that and goes on: it verifies both RIMs and compares all measurements (14 driver indices
//! differ, the VBIOS ones all match). `nvidia_warden` does the same work, so that both sides
//! are timed on the same steps; `nvidia_warden_service` is the service's own order
//! (`rims::match_report`), which refuses at the version check after both RIMs verified, before
//! comparing, and is shown to make clear that the comparison itself is cheap.
//!
//! `nvidia_warden_stapled` adds revocation in `stapled` mode (nine OCSP responses, see
//! [`stapled_ocsp`]); `nvidia_warden_ocsp9` is that part alone.

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

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};
use warden_evidence::UnixTime;
use warden_evidence::nvidia::rim::{self, Comparison, RimError, RimVerifier};
use warden_evidence::nvidia::{GpuError, GpuVerifier, SpdmReport};
use warden_verifier::{rims, roots};

/// 2025-06-01T00:00:00Z: inside both RIM chains' windows (VBIOS RIM 2023-06-23 .. 2025-06-22,
/// driver RIM 2024-12-30 .. 2026-12-30); the device certificates run to 9999.
const AT: UnixTime = UnixTime(1_748_736_000);

/// The request nonce of `hopper_535.86.09_report.hex`.
const NONCE: &str = "27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66";

/// The driver RIM indices that differ on this vector (`expected.json`, and the Python
/// verifier's own list in notes/nvidia.md section 9, scenario 1).
const MISMATCHED: [u32; 14] = [7, 21, 22, 25, 26, 27, 29, 30, 31, 32, 34, 37, 39, 40];

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

/// The report's blocks as RIM-indexed digests, as `rims::match_report` builds them (block
/// `i + 1` is RIM index `i`), and whether NVDEC0 is disabled (index 35 skipped).
fn blocks(report: &SpdmReport) -> (Vec<[u8; 48]>, bool) {
    let mut out = Vec::with_capacity(report.measurements().len());
    for (expected, block) in (1_usize..).zip(report.measurements()) {
        assert_eq!(usize::from(block.index), expected);
        out.push(block.digest);
    }
    (out, report.opaque().nvdec0_status() == Some(0x55))
}

/// The OCSP part of the revocation-stapled variant of `nvidia_warden`: per GPU, three
/// responses for the device chain (BROM, Provisioner ICA, Identity CA) and three for each RIM's
/// chain (signer, L3, CA), each verified as the service does in `stapled` mode (responder
/// authorisation, ECDSA P-384 signature, CertID, status, freshness). The vectors hold no
/// responses of NVIDIA's responder, so these are signed by the simulator's responders for a
/// simulated Hopper chain and simulated RIMs of the same shapes (P-384 throughout, same chain
/// lengths); the work per response is the same.
fn stapled_ocsp() -> impl Fn() {
    use warden_evidence::sim::nvidia::{Arch, DeviceHierarchy, GpuProfile, OcspSpec, RimHierarchy};
    use warden_verifier::revocation::{ChainKind, Revocation};
    const SIM_AT: UnixTime = UnixTime(1_767_225_600);
    let device = DeviceHierarchy::shared(Arch::Hopper);
    let gpu = device.gpu(GpuProfile::hopper()).unwrap();
    let spec = OcspSpec::good_at(SIM_AT);
    let mut responses = device.staple(&gpu, &spec).unwrap();
    let rim_hierarchy = RimHierarchy::shared();
    let rims = rim_hierarchy.rims_for(&GpuProfile::hopper()).unwrap();
    let rim_verifier = RimVerifier::new(rim_hierarchy.root_der().to_vec());
    let mut rim_chains = Vec::new();
    for xml in [&rims.driver, &rims.vbios] {
        responses.extend(rim_hierarchy.staple(xml, &spec).unwrap());
        rim_chains.push(rim_verifier.verify(SIM_AT, xml).unwrap().chain);
    }
    let device_chain = gpu.chain_der().to_vec();
    let checker = Revocation::stapled(None);
    move || {
        let n = checker
            .check_chain(
                SIM_AT,
                ChainKind::Device,
                &device_chain,
                warden_evidence::nvidia::ocsp::DEVICE_CHAIN_OCSP,
                black_box(&responses),
            )
            .unwrap()
            .len();
        let mut total = n;
        for (kind, chain) in [ChainKind::DriverRim, ChainKind::VbiosRim]
            .into_iter()
            .zip(&rim_chains)
        {
            total += checker
                .check_chain(
                    SIM_AT,
                    kind,
                    chain,
                    warden_evidence::nvidia::ocsp::RIM_CHAIN_OCSP,
                    black_box(&responses),
                )
                .unwrap()
                .len();
        }
        assert_eq!(total, 9);
    }
}

/// A step name shared with `bench/nvidia_nvlv.py` (NVIDIA's steps), for a report refusal.
fn gpu_step(e: &GpuError) -> &'static str {
    match e {
        GpuError::NonceMismatch => "nonce",
        GpuError::Signature => "report_signature",
        GpuError::FwidMismatch | GpuError::FwidExtension(_) => "fwid",
        GpuError::ChainLength(_)
        | GpuError::ChainEncoding(_)
        | GpuError::CertEncoding { .. }
        | GpuError::UntrustedRoot
        | GpuError::BadCert { .. }
        | GpuError::ChainSignature { .. }
        | GpuError::CertExpired { .. }
        | GpuError::CertNotYetValid { .. }
        | GpuError::UnsupportedArch(_) => "device_chain",
        _ => "parse",
    }
}

/// The same for a RIM refusal.
fn rim_step(e: &RimError) -> &'static str {
    match e {
        RimError::DigestMismatch | RimError::SignatureInvalid | RimError::Algorithm { .. } => {
            "rim_signature"
        }
        RimError::UntrustedRoot
        | RimError::ChainLength { .. }
        | RimError::Certificate { .. }
        | RimError::ChainName { .. }
        | RimError::NotCa { .. }
        | RimError::ChainSignature { .. }
        | RimError::CertNotYetValid { .. }
        | RimError::CertExpired { .. }
        | RimError::SignerKeyUsage => "rim_chain",
        _ => "rim_schema",
    }
}

/// `NVIDIA_OUTCOMES=bench/nvidia_scenarios.json`: instead of timing, runs each scenario through
/// Warden's functions in the order NVIDIA's Python verifier runs its steps (a RIM for another
/// version is a failed step, and the comparison still runs), and prints
/// `warden_outcome <name> <pass|fail> first_fail=<step> stopped=<step> mismatched=<list|->`.
/// The service and the CLI stop at the version check instead; `bench/nvidia.sh` shows the CLI's
/// verdict beside this.
fn outcomes(dir: &std::path::Path, scenarios: &std::path::Path) {
    let table: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scenarios).unwrap()).unwrap();
    let gpu = GpuVerifier::new(roots::nvidia_device_identity_ca().to_vec());
    let rim_verifier = rims::pinned_verifier();
    for s in table.as_array().unwrap() {
        let field = |k: &str| s[k].as_str().unwrap().to_owned();
        let name = field("name");
        let report_file = field("report");
        let (report, chain) = if report_file.ends_with(".json") {
            let list: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.join("gpu").join(&report_file)).unwrap())
                    .unwrap();
            let index = s["index"].as_u64().unwrap_or(0) as usize;
            let b64 = |k: &str| {
                base64::engine::general_purpose::STANDARD
                    .decode(list[index][k].as_str().unwrap())
                    .unwrap()
            };
            (b64("evidence"), b64("certificate"))
        } else {
            let hex_text = std::fs::read_to_string(dir.join("gpu").join(&report_file)).unwrap();
            (
                hex::decode(hex_text.trim()).unwrap(),
                std::fs::read(dir.join("gpu").join(field("certs"))).unwrap(),
            )
        };
        let nonce: [u8; 32] = hex::decode(field("nonce")).unwrap().try_into().unwrap();
        let driver_xml = std::fs::read(dir.join("rims").join(field("driver_rim"))).unwrap();
        let vbios_xml = std::fs::read(dir.join("rims").join(field("vbios_rim"))).unwrap();

        let mut failed: Vec<&str> = Vec::new();
        let mut mismatched: Vec<u32> = Vec::new();
        let stopped = 'run: {
            let verified = match gpu.verify(AT, &report, &chain, &nonce) {
                Ok(v) => v,
                Err(e) => {
                    failed.push(gpu_step(&e));
                    break 'run gpu_step(&e);
                }
            };
            let opaque = verified.report.opaque();
            let mut rims_ok = Vec::new();
            for (xml, version) in [
                (&driver_xml, opaque.driver_version()),
                (&vbios_xml, opaque.vbios_version()),
            ] {
                // NVIDIA checks the version (a warning) before the chain and signature.
                let rim = rim_verifier.verify(AT, xml);
                if let Ok(rim) = &rim
                    && !version.is_some_and(|v| rim.describes_version(&v))
                {
                    failed.push("rim_version");
                }
                match rim {
                    Ok(rim) => rims_ok.push(rim),
                    Err(e) => {
                        failed.push(rim_step(&e));
                        break 'run rim_step(&e);
                    }
                }
            }
            let (blocks, nvdec0_disabled) = blocks(&verified.report);
            match rim::compare(&blocks, nvdec0_disabled, &rims_ok[0], &rims_ok[1]) {
                Ok(c) if c.matched => "end",
                Ok(c) => {
                    failed.push("measurements");
                    mismatched = c.mismatched_indices;
                    "end"
                }
                Err(_) => {
                    failed.push("rim_index_conflict");
                    "rim_index_conflict"
                }
            }
        };
        let list: Vec<String> = mismatched.iter().map(u32::to_string).collect();
        println!(
            "warden_outcome {name} {} first_fail={} stopped={stopped} mismatched={}",
            if failed.is_empty() { "pass" } else { "fail" },
            failed.first().unwrap_or(&"none"),
            if list.is_empty() {
                "-".to_owned()
            } else {
                list.join(",")
            },
        );
    }
}

fn main() {
    let dir = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"))
        .join("nvidia");
    let Ok(report_hex) = std::fs::read_to_string(dir.join("gpu/hopper_535.86.09_report.hex"))
    else {
        eprintln!("skipped: vectors not found ({})", dir.display());
        return;
    };
    if let Some(scenarios) = std::env::var_os("NVIDIA_OUTCOMES") {
        outcomes(&dir, std::path::Path::new(&scenarios));
        return;
    }
    let report = hex::decode(report_hex.trim()).unwrap();
    let chain = std::fs::read(dir.join("gpu/hopper_535.86.09_certchain.pem")).unwrap();
    let driver_xml =
        std::fs::read(dir.join("rims/attestation-sdk/NV_GPU_DRIVER_GH100_550.144.03.xml")).unwrap();
    let vbios_xml =
        std::fs::read(dir.join("rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag")).unwrap();
    let nonce: [u8; 32] = hex::decode(NONCE).unwrap().try_into().unwrap();
    let seconds: f64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let per_run = Duration::from_secs_f64(seconds);
    let runs = 5;

    // The pinned roots, as the service loads them (`GpuJudge::pinned`, `rims::pinned_verifier`).
    let gpu = GpuVerifier::new(roots::nvidia_device_identity_ca().to_vec());
    let rim_verifier: RimVerifier = rims::pinned_verifier();

    // Warden, one GPU, the same steps as the Python verifier's attest(): the report (strict
    // parse, device chain to the pinned root, nonce, signature, FWID when present), both RIMs
    // (XML parse, XMLDSig, chain to the pinned CoRIM root), the version checks (both RIMs are
    // looked at; the driver one fails, as in Python, which goes on), and the comparison of all
    // active measurements.
    let warden = || -> (bool, bool, Comparison) {
        let verified = gpu
            .verify(AT, black_box(&report), black_box(&chain), &nonce)
            .unwrap();
        let driver = rim_verifier.verify(AT, black_box(&driver_xml)).unwrap();
        let vbios = rim_verifier.verify(AT, black_box(&vbios_xml)).unwrap();
        let opaque = verified.report.opaque();
        let driver_ok = opaque
            .driver_version()
            .is_some_and(|v| driver.describes_version(&v));
        let vbios_ok = opaque
            .vbios_version()
            .is_some_and(|v| vbios.describes_version(&v));
        let (blocks, nvdec0_disabled) = blocks(&verified.report);
        let comparison = rim::compare(&blocks, nvdec0_disabled, &driver, &vbios).unwrap();
        (driver_ok, vbios_ok, comparison)
    };
    let (driver_ok, vbios_ok, comparison) = warden();
    assert!(
        !driver_ok,
        "the driver RIM is for 550.144.03, the report 535.86.09"
    );
    assert!(vbios_ok);
    assert_eq!(comparison.mismatched_indices, MISMATCHED);

    // The service's order over the same inputs: `rims::match_report` checks the versions first
    // and refuses, so no comparison is made.
    let service = || {
        let verified = gpu
            .verify(AT, black_box(&report), black_box(&chain), &nonce)
            .unwrap();
        let driver = rim_verifier.verify(AT, black_box(&driver_xml)).unwrap();
        let vbios = rim_verifier.verify(AT, black_box(&vbios_xml)).unwrap();
        let given = [
            ("driver".to_owned(), "driver".to_owned(), driver),
            ("vbios".to_owned(), "vbios".to_owned(), vbios),
        ];
        rims::match_report(&verified.report, &given)
    };
    assert!(matches!(
        service(),
        Err(rims::RimMatchError::Version { .. })
    ));

    // Parts, for where the time goes.
    let verified = gpu.verify(AT, &report, &chain, &nonce).unwrap();
    let driver = rim_verifier.verify(AT, &driver_xml).unwrap();
    let vbios = rim_verifier.verify(AT, &vbios_xml).unwrap();
    let (report_blocks, nvdec0_disabled) = blocks(&verified.report);

    // The floor: one bare ECDSA P-384 verification with ring over a message as long as the
    // report's signed bytes (the report, each certificate and each XMLDSig is one such
    // signature; the key is generated here, the verification does not depend on it).
    let rng = SystemRandom::new();
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(
        &signature::ECDSA_P384_SHA384_FIXED_SIGNING,
        pkcs8.as_ref(),
        &rng,
    )
    .unwrap();
    let signed = verified.report.signed_bytes().to_vec();
    let sig = pair.sign(&rng, &signed).unwrap();
    let key = UnparsedPublicKey::new(
        &signature::ECDSA_P384_SHA384_FIXED,
        pair.public_key().as_ref().to_vec(),
    );
    key.verify(&signed, sig.as_ref()).unwrap();

    let ocsp = stapled_ocsp();
    let mut cases: Vec<Case<'_>> = vec![
        (
            "nvidia_warden",
            Box::new(|| {
                black_box(warden());
            }),
        ),
        (
            "nvidia_warden_service",
            Box::new(|| {
                black_box(service().unwrap_err());
            }),
        ),
        (
            "nvidia_warden_report",
            Box::new(|| {
                black_box(
                    gpu.verify(AT, black_box(&report), black_box(&chain), &nonce)
                        .unwrap(),
                );
            }),
        ),
        (
            "nvidia_warden_driver_rim",
            Box::new(|| {
                black_box(rim_verifier.verify(AT, black_box(&driver_xml)).unwrap());
            }),
        ),
        (
            "nvidia_warden_vbios_rim",
            Box::new(|| {
                black_box(rim_verifier.verify(AT, black_box(&vbios_xml)).unwrap());
            }),
        ),
        (
            "nvidia_warden_compare",
            Box::new(|| {
                black_box(
                    rim::compare(black_box(&report_blocks), nvdec0_disabled, &driver, &vbios)
                        .unwrap(),
                );
            }),
        ),
        (
            "p384_verify_ring",
            Box::new(|| {
                key.verify(black_box(&signed), black_box(sig.as_ref()))
                    .unwrap();
            }),
        ),
    ];
    cases.push((
        "nvidia_warden_stapled",
        Box::new(|| {
            black_box(warden());
            ocsp();
        }),
    ));
    let ocsp_only = stapled_ocsp();
    cases.push(("nvidia_warden_ocsp9", Box::new(ocsp_only)));
    let rates = median_rates(runs, per_run, &mut cases);
    for ((name, _), rate) in cases.iter().zip(rates) {
        println!("{name} {rate:.1} {runs}");
    }
    let list: Vec<String> = comparison
        .mismatched_indices
        .iter()
        .map(u32::to_string)
        .collect();
    println!("nvidia_warden_mismatched {}", list.join(","));
}
