//! The `warden-agent` binary as an operator runs it, without a verifier: evidence bundles from
//! simulated CVMs, and the errors of a machine without a TEE.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use warden_agent::collect::nvidia::GpuSource;
use warden_agent::collect::tdx::{check_quote, quote_report_data};
use warden_agent::model;
use warden_evidence::UnixTime;
use warden_evidence::nvidia::{GpuVerifier, decode_chain};
use warden_evidence::snp::Report;
use warden_proto::binding::{self, Nonce, TeePublicKey};

fn agent() -> Command {
    Command::new(env!("CARGO_BIN_EXE_warden-agent"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn model_dir(root: &Path) -> std::path::PathBuf {
    let dir = root.join("model");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("weights.bin"), b"not really a model").unwrap();
    dir
}

/// `warden-agent evidence --simulate --tee tdx` with `extra` arguments; the bundle as JSON.
fn tdx_evidence(state: &Path, model: &Path, nonce: &str, extra: &[&str]) -> (Value, String) {
    let out = agent()
        .args(["evidence", "--simulate", "--tee", "tdx", "--state-dir"])
        .arg(state)
        .arg("--model")
        .arg(model)
        .args(["--nonce", nonce])
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let bundle = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", show(&out)));
    (bundle, text(&out.stderr))
}

#[test]
fn simulated_tdx_evidence_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let model = model_dir(dir.path());
    let nonce = "ab".repeat(32);
    let (bundle, stderr) = tdx_evidence(&state, &model, &nonce, &[]);

    assert_eq!(bundle["nonce"], Value::from(nonce.clone()));
    assert_eq!(bundle["cpu"]["tee"], "TEE_TDX", "{bundle}");
    assert_eq!(bundle["cpu"]["certificates"], "", "{bundle}");
    let quote = hex::decode(bundle["cpu"]["report"].as_str().unwrap()).unwrap();
    assert_eq!(quote[..2], [4, 0], "a v4 quote by default");

    // REPORT_DATA is the binding of this nonce, TEE key and model.
    let pk: [u8; 32] = hex::decode(bundle["tee_pubkey"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let manifest = model::hash_dir(&model).unwrap();
    let expected = binding::report_data(
        &Nonce::from_bytes([0xab; 32]),
        &TeePublicKey::from_bytes(pk),
        &manifest.digest(),
        &[],
    );
    assert_eq!(quote_report_data(&quote), Ok(expected));
    assert_eq!(check_quote(&quote, &expected), Ok(()));

    // The operator is told where the test root and the collateral are, and they are there.
    let tdx = state.join("sim/tdx");
    let root = tdx.join("root_ca.pem");
    let collateral = tdx.join("collateral");
    assert!(stderr.contains("simulated TDX"), "{stderr}");
    assert!(stderr.contains(&root.display().to_string()), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "warden-verifier collateral import {}",
            collateral.display()
        )),
        "{stderr}"
    );
    assert!(
        std::fs::read_to_string(&root)
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    for name in ["tcbinfo.json", "qeidentity.json", "pck_crl.der"] {
        assert!(collateral.join(name).is_file(), "{name}");
    }

    // The same CVM again, with v5 quotes.
    let root_pem = std::fs::read(&root).unwrap();
    let (bundle, _) = tdx_evidence(&state, &model, &nonce, &["--sim-quote-version", "5"]);
    let quote = hex::decode(bundle["cpu"]["report"].as_str().unwrap()).unwrap();
    assert_eq!(quote[..2], [5, 0]);
    assert!(quote_report_data(&quote).is_ok());
    assert_eq!(std::fs::read(&root).unwrap(), root_pem);
}

#[test]
fn simulation_options_must_fit_the_tee() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let run = |args: &[&str]| {
        agent()
            .args(["evidence", "--simulate", "--state-dir"])
            .arg(dir.path().join("state"))
            .arg("--model")
            .arg(&model)
            .args(["--nonce", &"00".repeat(32)])
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--tee", "tdx", "--sim-product", "genoa"]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("--sim-product"),
        "{}",
        show(&out)
    );
    let out = run(&["--sim-quote-version", "5"]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(text(&out.stderr).contains("--tee tdx"), "{}", show(&out));
    // Neither created a simulated CVM.
    assert!(!dir.path().join("state/sim").exists());
}

#[test]
fn no_tee_errors_name_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let tdx_guest = dir.path().join("tdx_guest");
    let run = |tee: Option<&str>| {
        let mut cmd = agent();
        cmd.args(["evidence", "--model"])
            .arg(&model)
            .args(["--nonce", &"00".repeat(32)])
            .args(["--configfs-tsm", "/nonexistent/tsm"])
            .args(["--sev-guest", "/nonexistent/sev-guest"])
            .arg("--tdx-guest")
            .arg(&tdx_guest);
        if let Some(tee) = tee {
            cmd.args(["--tee", tee]);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{}", show(&out));
        assert!(out.stdout.is_empty(), "{}", show(&out));
        text(&out.stderr)
    };

    let stderr = run(None);
    assert!(stderr.contains("no SEV-SNP interface found"), "{stderr}");
    assert!(stderr.contains("no TDX interface"), "{stderr}");
    assert!(stderr.contains("--simulate"), "{stderr}");
    let stderr = run(Some("tdx"));
    assert!(stderr.contains("no TDX interface found"), "{stderr}");
    assert!(stderr.contains("--simulate --tee tdx"), "{stderr}");

    // A TDX guest on a kernel without configfs-tsm.
    std::fs::write(&tdx_guest, b"").unwrap();
    for tee in [None, Some("tdx")] {
        let stderr = run(tee);
        assert!(stderr.contains("Linux 6.7"), "{stderr}");
        assert!(stderr.contains("configfs-tsm"), "{stderr}");
        assert!(
            stderr.contains(&tdx_guest.display().to_string()),
            "{stderr}"
        );
    }
    let stderr = run(Some("snp"));
    assert!(stderr.contains("no SEV-SNP interface found"), "{stderr}");
}

/// `warden-agent evidence --simulate --gpus N` with `extra` arguments; the output.
fn gpu_evidence(state: &Path, model: &Path, gpus: &str, extra: &[&str]) -> Output {
    agent()
        .args(["evidence", "--state-dir"])
        .arg(state)
        .arg("--model")
        .arg(model)
        .args(["--nonce", &"cd".repeat(32), "--gpus", gpus])
        .args(extra)
        .output()
        .unwrap()
}

#[test]
fn simulated_gpus_are_bound_into_the_cpu_report() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let model = model_dir(dir.path());
    let out = gpu_evidence(&state, &model, "2", &["--simulate"]);
    assert!(out.status.success(), "{}", show(&out));
    let bundle: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stderr = text(&out.stderr);
    let root_pem = state.join("sim/nvidia/device_root.pem");
    assert!(stderr.contains("2 simulated NVIDIA GPU"), "{stderr}");
    assert!(stderr.contains(&root_pem.display().to_string()), "{stderr}");

    assert_eq!(bundle["gpus"], 2, "{bundle}");
    let gpus = bundle["gpu_evidence"].as_array().unwrap();
    assert_eq!(gpus.len(), 2, "{bundle}");

    // Every report verifies to the generated root, for the GPU nonce of this session.
    let nonce = Nonce::from_bytes([0xcd; 32]);
    let pk = TeePublicKey::from_bytes(
        hex::decode(bundle["tee_pubkey"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    );
    let gpu_nonce = binding::gpu_nonce(&nonce, &pk);
    let root = decode_chain(&std::fs::read(&root_pem).unwrap()).unwrap();
    let verifier = GpuVerifier::new(root[0].clone());
    let mut digests = Vec::new();
    for gpu in gpus {
        assert_eq!(gpu["arch"], "HOPPER");
        let report = hex::decode(gpu["report"].as_str().unwrap()).unwrap();
        let chain = hex::decode(gpu["certificate_chain"].as_str().unwrap()).unwrap();
        verifier
            .verify(
                UnixTime(1_780_272_000),
                &report,
                &chain,
                gpu_nonce.as_bytes(),
            )
            .unwrap();
        let digest = binding::gpu_digest(&report, &chain);
        assert_eq!(gpu["digest"], digest.to_hex());
        digests.push(digest);
    }

    // The simulated SEV-SNP report binds them, in order.
    let manifest = model::hash_dir(&model).unwrap();
    let expected = binding::report_data(&nonce, &pk, &manifest.digest(), &digests);
    assert_eq!(bundle["cpu"]["tee"], "TEE_SEV_SNP", "{bundle}");
    let report = hex::decode(bundle["cpu"]["report"].as_str().unwrap()).unwrap();
    assert_eq!(Report::parse(&report).unwrap().report_data(), &expected);
}

#[test]
fn gpu_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let model = model_dir(dir.path());
    let cases: [(&str, &[&str], &str); 4] = [
        ("9", &["--simulate"], "at most 8"),
        ("0", &["--simulate"], "`none`"),
        ("2", &[], "needs --simulate"),
        ("nvml", &["--simulate"], "does not go with --simulate"),
    ];
    for (gpus, extra, message) in cases {
        let out = gpu_evidence(&state, &model, gpus, extra);
        assert!(!out.status.success(), "{}", show(&out));
        assert!(out.stdout.is_empty(), "{}", show(&out));
        assert!(text(&out.stderr).contains(message), "{}", show(&out));
    }
    assert!(!state.join("sim/nvidia").exists());
}

/// This machine has no NVIDIA driver: `--gpus nvml` stops with the NVML error (before the CPU
/// TEE is looked for), and says how to run a node without GPUs. Skipped where NVML loads.
#[test]
fn gpus_from_nvml_without_the_driver() {
    if GpuSource::nvml().is_ok() {
        eprintln!("NVML loaded: this machine has an NVIDIA driver; nothing to check");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let out = gpu_evidence(
        &dir.path().join("state"),
        &model,
        "nvml",
        &[
            "--configfs-tsm",
            "/nonexistent/tsm",
            "--sev-guest",
            "/nonexistent/sev-guest",
        ],
    );
    assert!(!out.status.success(), "{}", show(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("--gpus nvml"), "{stderr}");
    assert!(stderr.contains("libnvidia-ml.so.1"), "{stderr}");
    assert!(stderr.contains("NVIDIA driver"), "{stderr}");
    assert!(stderr.contains("--gpus none"), "{stderr}");
    assert!(!stderr.contains("SEV-SNP"), "{stderr}");
}
