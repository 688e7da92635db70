//! The `warden-verifier evidence verify snp` exit-code contract: 0 valid with claims, 1 with one
//! line naming the reason, 2 on usage errors, and never a panic whatever the input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::vectors;

const BIN: &str = env!("CARGO_BIN_EXE_warden-verifier");
const AT: &str = "2025-06-01T00:00:00Z";

fn snp(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(["evidence", "verify", "snp"])
        .args(args)
        .output()
        .unwrap()
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).display().to_string()
}

fn assert_no_panic(out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
}

/// Exit 1 with exactly one line on stdout, starting `invalid: ` and containing `reason`.
fn assert_invalid(out: &Output, reason: &str) {
    assert_no_panic(out);
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(1), "stdout: {stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("invalid: ") && stdout.contains(reason),
        "{stdout}"
    );
}

#[test]
fn valid_evidence_exits_zero_with_claims() {
    let Some(dir) = vectors("snp") else { return };
    let out = snp(&[
        "--report",
        &path(&dir, "virtee_milan_report.bin"),
        "--cert",
        &path(&dir, "virtee_milan_vcek.der"),
        "--at",
        AT,
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["product"], "milan");
    assert_eq!(claims["signer"], "vcek");
    assert_eq!(
        claims["measurement"],
        "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f"
    );
    assert_eq!(claims["policy"]["debug"], false);

    let out = snp(&[
        "--report",
        &path(&dir, "trustee_milan_vlek_report.bin"),
        "--cert",
        &path(&dir, "trustee_milan_vlek.der"),
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("valid: SEV-SNP report v3 from Milan signed by VLEK"),
        "{text}"
    );
    assert!(text.contains("  vmpl: 1"), "{text}");
}

#[test]
fn the_outcomes_of_the_vectors_readme() {
    let Some(dir) = vectors("snp") else { return };
    let vlek = [
        "--report",
        &path(&dir, "trustee_milan_vlek_report.bin"),
        "--cert",
        &path(&dir, "trustee_milan_vlek.der"),
    ];
    let out = snp(&[&vlek[..], &["--at", "2026-01-01T00:00:00Z"]].concat());
    assert_invalid(&out, "VLEK expired at 2025-12-10T22:14:21Z");

    let tmp = tempfile::tempdir().unwrap();
    let mut report = std::fs::read(dir.join("virtee_milan_report.bin")).unwrap();
    report[0x50] ^= 1;
    let flipped = tmp.path().join("flipped.bin");
    std::fs::write(&flipped, &report).unwrap();
    let out = snp(&[
        "--report",
        flipped.to_str().unwrap(),
        "--cert",
        &path(&dir, "virtee_milan_vcek.der"),
        "--at",
        AT,
    ]);
    assert_invalid(&out, "report signature does not verify with the VCEK key");

    let out = snp(&[
        "--report",
        &path(&dir, "gosev_milan_report.bin"),
        "--cert",
        &path(&dir, "virtee_milan_vcek.der"),
        "--at",
        AT,
    ]);
    assert_invalid(&out, "report signature does not verify");

    let out = snp(&[
        "--report",
        &path(&dir, "virtee_milan_report.bin"),
        "--cert",
        &path(&dir, "virtee_turin_vcek.der"),
        "--chain",
        &path(&dir, "gosev_milan_ask_ark.pem"),
        "--at",
        AT,
    ]);
    assert_invalid(
        &out,
        "certificate chain is Milan's but the evidence is from Turin",
    );
}

#[test]
fn usage_errors_exit_two() {
    let out = snp(&[
        "--report",
        "/nonexistent/report.bin",
        "--cert",
        "/nonexistent",
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read --report"));
    let out = snp(&["--report", "r", "--cert", "c", "--at", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    let out = snp(&["--report", "r", "--at", AT]);
    assert_eq!(out.status.code(), Some(2));
    let out = snp(&[
        "--report",
        "r",
        "--cert",
        "c",
        "--at",
        AT,
        "--dangerous-trust-chain-root",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "the dangerous flag requires --chain"
    );
    assert_no_panic(&out);
}

#[test]
fn hostile_files_never_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = vectors("snp");
    let good_report = dir
        .as_ref()
        .map(|d| std::fs::read(d.join("virtee_milan_report.bin")).unwrap());
    let good_cert = dir
        .as_ref()
        .map(|d| std::fs::read(d.join("virtee_milan_vcek.der")).unwrap());
    let mut inputs: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (vec![], vec![]),
        (vec![0; 1184], vec![0x30, 0x82, 0xff, 0xff]),
        (vec![0xff; 1184], b"-----BEGIN CERTIFICATE-----\n".to_vec()),
        (
            vec![2; 1183],
            b"-----BEGIN CERTIFICATE-----\n====\n-----END CERTIFICATE-----\n".to_vec(),
        ),
        ((0..=255u8).cycle().take(4096).collect(), vec![0xff; 10]),
    ];
    if let (Some(report), Some(cert)) = (&good_report, &good_cert) {
        // Truncations and extensions of the real files.
        for cut in [0, 1, 100, 600, cert.len() - 1] {
            inputs.push((report.clone(), cert[..cut].to_vec()));
        }
        for cut in [1, 0x2A0, 1183] {
            inputs.push((report[..cut].to_vec(), cert.clone()));
        }
        let mut long = cert.clone();
        long.push(0);
        inputs.push((report.clone(), long));
    }
    for (i, (report, cert)) in inputs.iter().enumerate() {
        let r = tmp.path().join(format!("r{i}"));
        let c = tmp.path().join(format!("c{i}"));
        std::fs::write(&r, report).unwrap();
        std::fs::write(&c, cert).unwrap();
        let out = snp(&[
            "--report",
            r.to_str().unwrap(),
            "--cert",
            c.to_str().unwrap(),
            "--at",
            AT,
        ]);
        assert_no_panic(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "input {i}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
