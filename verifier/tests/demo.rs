//! `warden-verifier demo` as a process: the TDX run with two simulated GPUs completes, the GPUs'
//! measurements match their signed RIMs, and a second run into the same --dir is refused
//! clearly instead of failing half-way.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_warden-verifier");

#[test]
fn tdx_demo_with_gpus_completes() {
    let dir = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(BIN)
            .args(["demo", "--tee", "tdx", "--gpus", "2", "--dir"])
            .arg(dir.path())
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    let out = run();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Demo complete"), "{stdout}");
    assert_eq!(
        stdout.matches("\"measurements_match\": true").count(),
        2,
        "{stdout}"
    );
    assert!(stdout.contains("gpus[1].simulated is true"), "{stdout}");

    let again = run();
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds a demo run"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
}
