//! The operator commands for Intel TDX, as processes: `evidence verify tdx` on the real quotes of
//! `../shared/vectors/tdx` at their README times (exit 0 valid, 1 invalid with the reason, 2
//! usage), and `collateral import|list` into a state directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use warden_evidence::sim::tdx::{CollateralProfile, IntelHierarchy};

const BIN: &str = env!("CARGO_BIN_EXE_warden-verifier");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run warden-verifier")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn verify(dir: &Path, quote: &str, collateral: &str, at: &str, json: bool) -> Output {
    let quote = dir.join(quote);
    let collateral = dir.join(collateral);
    let mut args = vec![
        "evidence",
        "verify",
        "tdx",
        "--quote",
        quote.to_str().unwrap(),
        "--collateral",
        collateral.to_str().unwrap(),
        "--at",
        at,
    ];
    if json {
        args.push("--json");
    }
    run(&args)
}

fn assert_invalid(out: &Output, reason: &str) {
    let text = stdout(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("invalid: "), "{text}");
    assert!(text.contains(reason), "expected {reason:?} in {text}");
}

#[test]
fn the_outcomes_of_the_vectors_readme() {
    let Some(dir) = common::vectors("tdx") else {
        return;
    };
    // A: v4, UpToDate.
    let out = verify(
        &dir,
        "phala_tdx_quote",
        "phala_tdx_quote_collateral.json",
        "2025-06-25T00:00:00Z",
        true,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["tcb_status"], "UpToDate");
    assert_eq!(claims["advisory_ids"], serde_json::json!([]));
    assert_eq!(claims["fmspc"], "b0c06f000000");
    assert_eq!(
        claims["mr_td"],
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    assert_eq!(claims["td_attributes"]["sept_ve_disable"], true);
    assert_eq!(claims["td_attributes"]["debug"], false);

    // A, later: the TCB info is past its nextUpdate; the message names the FMSPC and expiry.
    let out = verify(
        &dir,
        "phala_tdx_quote",
        "phala_tdx_quote_collateral.json",
        "2026-01-01T00:00:00Z",
        false,
    );
    assert_invalid(&out, "FMSPC b0c06f000000");
    assert_invalid(&out, "2025-07-19T10:16:03Z");

    // B: v5, signatures fine, no matching TCB level.
    let out = verify(
        &dir,
        "phala_tdx_quote_outdated",
        "phala_tdx_quote_outdated_collateral.json",
        "2026-02-20T00:00:00Z",
        false,
    );
    assert_invalid(&out, "No matching TCB level found");

    // D: v5 sample with B's collateral (same FMSPC): UpToDate.
    let out = verify(
        &dir,
        "gotdx_quote_v5_sample.dat",
        "phala_tdx_quote_outdated_collateral.json",
        "2026-02-20T00:00:00Z",
        false,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).starts_with("valid: TDX quote v5 with TCB status UpToDate"),
        "{}",
        stdout(&out)
    );

    // C: go-tdx-guest's SPR quote with a directory of PCS response files.
    let pcs = tempfile::tempdir().unwrap();
    for name in [
        "gotdx_tcbinfo_response_fmspc50806f000000.json",
        "gotdx_qeidentity_response.json",
        "gotdx_pck_crl_platform.der",
        "gotdx_root_ca_crl.der",
        "gotdx_tcb_signing_issuer_chain.pem",
        "gotdx_pck_crl_issuer_chain.pem",
    ] {
        std::fs::copy(dir.join(name), pcs.path().join(name)).unwrap();
    }
    // The file ends with go-tdx-guest's text trailer "extra bytes(only for testing purpose)":
    // dcap-qvl ignores it, Warden's parser refuses it (only zero padding is tolerated). With the
    // trailer cut, the README's outcome.
    let verify_dir = |quote: &Path| {
        run(&[
            "evidence",
            "verify",
            "tdx",
            "--quote",
            quote.to_str().unwrap(),
            "--collateral",
            pcs.path().to_str().unwrap(),
            "--at",
            "2023-07-01T01:00:00Z",
        ])
    };
    let raw = std::fs::read(dir.join("gotdx_spr_quote_v4.dat")).unwrap();
    assert_invalid(
        &verify_dir(&dir.join("gotdx_spr_quote_v4.dat")),
        "39 trailing bytes after quote signature data",
    );
    let trailer = b"\nextra bytes(only for testing purpose)\n";
    assert!(raw.ends_with(trailer));
    let cut = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cut.path(), &raw[..raw.len() - trailer.len()]).unwrap();
    assert_invalid(&verify_dir(cut.path()), "No matching TCB level found");
}

#[test]
fn usage_errors_exit_two_and_hostile_quotes_exit_one() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let m = missing.to_str().unwrap();
    let out = run(&[
        "evidence",
        "verify",
        "tdx",
        "--quote",
        m,
        "--collateral",
        m,
        "--at",
        "2025-06-25T00:00:00Z",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["evidence", "verify", "tdx", "--quote", m]);
    assert_eq!(out.status.code(), Some(2));

    // A collateral directory with a stray file is refused naming it.
    let collateral = dir.path().join("collateral");
    std::fs::create_dir(&collateral).unwrap();
    let sim = IntelHierarchy::shared()
        .collateral(&CollateralProfile::valid_at(warden_evidence::UnixTime(
            1_767_225_600,
        )))
        .unwrap();
    for (name, bytes) in sim.files() {
        std::fs::write(collateral.join(name), bytes).unwrap();
    }
    std::fs::write(collateral.join("notes.txt"), b"hello").unwrap();
    let quote = dir.path().join("quote");
    std::fs::write(&quote, [0u8; 10]).unwrap();
    let out = run(&[
        "evidence",
        "verify",
        "tdx",
        "--quote",
        quote.to_str().unwrap(),
        "--collateral",
        collateral.to_str().unwrap(),
        "--at",
        "2026-01-01T00:00:00Z",
    ]);
    assert_invalid(&out, "notes.txt");

    // Garbage quotes: a reason, never a panic.
    std::fs::remove_file(collateral.join("notes.txt")).unwrap();
    for garbage in [&[][..], &[4, 0, 2, 0][..], &[0xff; 700][..]] {
        std::fs::write(&quote, garbage).unwrap();
        let out = run(&[
            "evidence",
            "verify",
            "tdx",
            "--quote",
            quote.to_str().unwrap(),
            "--collateral",
            collateral.to_str().unwrap(),
            "--at",
            "2026-01-01T00:00:00Z",
        ]);
        assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    }
}

#[test]
fn collateral_import_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("verifier.toml");
    std::fs::write(&config, "state_dir = \"state\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let now = warden_evidence::UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );
    let write = |name: &str, profile: &CollateralProfile| {
        let path = dir.path().join(name);
        std::fs::create_dir(&path).unwrap();
        for (file, bytes) in IntelHierarchy::shared()
            .collateral(profile)
            .unwrap()
            .files()
        {
            std::fs::write(path.join(file), bytes).unwrap();
        }
        path
    };
    let mut newer = CollateralProfile::valid_at(now);
    newer.tcb_evaluation_data_number += 1;
    newer.qe_tcb_evaluation_data_number += 1;
    let newer = write("newer", &newer);
    let older = write("older", &CollateralProfile::valid_at(now));

    let out = run(&[
        "collateral",
        "import",
        newer.to_str().unwrap(),
        "--config",
        cfg,
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("tcb-info 90c06f000000: added"), "{text}");
    assert_eq!(text.lines().count(), 6, "{text}");

    // D7: an older bundle does not roll the cache back.
    let out = run(&[
        "collateral",
        "import",
        older.to_str().unwrap(),
        "--config",
        cfg,
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tcb = entries
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "tcb-info")
        .unwrap();
    assert_eq!(tcb["outcome"], "kept-existing", "{entries}");

    let out = run(&["collateral", "list", "--config", cfg, "--json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 6, "{rows}");
    assert!(
        rows.as_array()
            .unwrap()
            .iter()
            .all(|r| r["expired"] == false)
    );
    let tcb = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "tcb-info")
        .unwrap();
    assert!(tcb["source"].as_str().unwrap().contains("newer"), "{tcb}");

    // Not collateral: refused with the file's name, nothing imported.
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, b"{\"hello\": 1}").unwrap();
    let out = run(&[
        "collateral",
        "import",
        bad.to_str().unwrap(),
        "--config",
        cfg,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bad.json"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
