//! The operator commands for NVIDIA GPUs, as processes: `evidence verify nvidia` on the real
//! reports and RIMs of `../shared/vectors/nvidia` at the README's times (exit 0 valid, 1 invalid
//! with the reason, 2 usage), and `rims import|list` into a state directory.

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

const BIN: &str = env!("CARGO_BIN_EXE_warden-verifier");

/// Inside every RIM chain window of the README except the 2024-12 re-issues, and after every
/// device certificate's notBefore.
const AT: &str = "2024-06-01T00:00:00Z";
/// The nonce most AS/NT samples were made with.
const NONCE_931D: &str = "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb";
const NONCE_535: &str = "27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66";
const NONCE_580: &str = "5bb22e377702d4e1e8215a903ba094826b9ac7f731dee1fe8102958bf2840aca";
const NONCE_590: &str = "e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576";
const NONCE_PPCIE: &str = "4760e30534a0621357d458b1a7936551b5dc4cd1e69718adf7ed9fb0252a537e";

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run warden-verifier")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn p(dir: &Path, name: &str) -> String {
    dir.join(name).to_str().unwrap().to_owned()
}

/// `evidence verify nvidia --report R [--certs C] --nonce N --at AT --json [extra...]`.
fn verify(dir: &Path, report: &str, certs: Option<&str>, nonce: &str, extra: &[&str]) -> Output {
    let report = p(dir, report);
    let certs = certs.map(|c| p(dir, c));
    let mut args = vec!["evidence", "verify", "nvidia", "--report", &report];
    if let Some(certs) = &certs {
        args.extend(["--certs", certs]);
    }
    args.extend(["--nonce", nonce, "--at", AT, "--json"]);
    args.extend(extra);
    run(&args)
}

fn claims(out: &Output) -> serde_json::Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
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
fn every_valid_report_verifies_with_its_nonce() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    for (report, nonce, driver, hwmodel) in [
        (
            "hopper_550.90.07",
            NONCE_931D,
            "550.90.07",
            "GH100 A01 GSP BROM",
        ),
        (
            "hopper_580.159.03",
            NONCE_580,
            "580.159.03",
            "GH100 A01 GSP BROM",
        ),
        (
            "hopper_535.86.09",
            NONCE_535,
            "535.86.09",
            "GH100 A01 GSP BROM",
        ),
        (
            "hopper_570.124.03",
            NONCE_931D,
            "570.124.03",
            "GH100 A01 GSP BROM",
        ),
        (
            "blackwell_575.32",
            NONCE_931D,
            "575.32",
            "GB100 A01 GSP BROM",
        ),
    ] {
        let out = verify(
            &dir,
            &format!("gpu/{report}_report.hex"),
            Some(&format!("gpu/{report}_certchain.pem")),
            nonce,
            &[],
        );
        let c = claims(&out);
        assert_eq!(c["driver_version"], driver, "{report}");
        assert_eq!(c["hwmodel"], hwmodel, "{report}");
        assert_eq!(c["nonce_ok"], true, "{report}");
        assert_eq!(c["revocation"], "off", "{report}");
        // No RIMs given: nothing matched, and the claims say so.
        assert_eq!(c["measurements_match"], false, "{report}");
        assert_eq!(c["rims_complete"], false, "{report}");
        assert_eq!(c["rim_ids"], serde_json::json!([]), "{report}");
    }
    assert_eq!(
        claims(&verify(
            &dir,
            "gpu/hopper_535.86.09_report.hex",
            Some("gpu/hopper_535.86.09_certchain.pem"),
            NONCE_535,
            &[]
        ))["fwid_checked"],
        false,
        "535.86.09 has no FWID TLV"
    );

    // Serialized-evidence JSON: the certificate comes from the file.
    for (file, nonce, entries) in [
        ("gpu/evidence_hopper_590.12.json", NONCE_590, 1),
        (
            "gpu/evidence_hopper_570.86.10_cert_hold.json",
            NONCE_931D,
            1,
        ),
        ("gpu/evidence_multi_gpu_hopper_590.12.json", NONCE_590, 4),
        ("gpu/evidence_ppcie_8gpu_hopper_590.12.json", NONCE_PPCIE, 8),
    ] {
        for i in 0..entries {
            let index = i.to_string();
            let c = claims(&verify(&dir, file, None, nonce, &["--index", &index]));
            assert_eq!(c["fwid_checked"], true, "{file} #{i}");
            assert_eq!(c["arch"], "HOPPER", "{file} #{i}");
        }
        // One past the last entry is a usage error.
        let index = entries.to_string();
        let out = verify(&dir, file, None, nonce, &["--index", &index]);
        assert_eq!(out.status.code(), Some(2), "{file}");
    }
    assert_eq!(
        claims(&verify(
            &dir,
            "gpu/evidence_ppcie_8gpu_hopper_590.12.json",
            None,
            NONCE_PPCIE,
            &["--index", "7"]
        ))["feature_flag"],
        "PPCIE"
    );
    // --certs overrides the chain a JSON report carries: another GPU's chain fails.
    let out = verify(
        &dir,
        "gpu/evidence_hopper_590.12.json",
        Some("gpu/hopper_580.159.03_certchain.pem"),
        NONCE_590,
        &[],
    );
    assert_invalid(&out, "report signature does not verify");
}

#[test]
fn bad_signature_wrong_nonce_and_wrong_root_are_invalid() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    let out = verify(
        &dir,
        "gpu/negative_hopper_560.00_bad_signature_report.hex",
        Some("gpu/hopper_570.124.03_certchain.pem"),
        NONCE_931D,
        &[],
    );
    assert_invalid(&out, "report signature does not verify");

    // AS's "bad nonce" test: all zeros.
    let zeros = "00".repeat(32);
    let out = verify(
        &dir,
        "gpu/hopper_535.86.09_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        &zeros,
        &[],
    );
    assert_invalid(&out, "report nonce is not the expected nonce");
    // The nvtrust config.py nonce does not belong to the 550.90.07 report either.
    let out = verify(
        &dir,
        "gpu/evidence_hopper_590.12.json",
        None,
        NONCE_931D,
        &[],
    );
    assert_invalid(&out, "report nonce is not the expected nonce");

    // Wrong root: the chain's last certificate replaced by NVIDIA's RIM root.
    let tmp = tempfile::tempdir().unwrap();
    let chain =
        String::from_utf8(common::read(&dir, "gpu/hopper_550.90.07_certchain.pem")).unwrap();
    let marker = "-----BEGIN CERTIFICATE-----";
    let starts: Vec<usize> = chain.match_indices(marker).map(|(i, _)| i).collect();
    assert_eq!(starts.len(), 5);
    let rim_root =
        String::from_utf8(common::read(&dir, "roots/nvidia_corim_signing_root_ca.pem")).unwrap();
    let forged = format!("{}{rim_root}", &chain[..starts[4]]);
    let forged_path = tmp.path().join("chain.pem");
    std::fs::write(&forged_path, forged).unwrap();
    let out = verify(
        &dir,
        "gpu/hopper_550.90.07_report.hex",
        Some(forged_path.to_str().unwrap()),
        NONCE_931D,
        &[],
    );
    assert_invalid(&out, "does not end in the pinned NVIDIA Device Identity CA");

    // Another GPU's (valid) chain: the signature does not verify.
    let out = verify(
        &dir,
        "gpu/hopper_550.90.07_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        NONCE_931D,
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

#[test]
fn the_535_report_matches_its_vbios_rim_at_all_active_indices() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    let rim = p(&dir, "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag");
    let c = claims(&verify(
        &dir,
        "gpu/hopper_535.86.09_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        NONCE_535,
        &["--rim", &rim],
    ));
    assert_eq!(c["measurements_match"], true);
    assert_eq!(c["mismatched_indices"], serde_json::json!([]));
    assert_eq!(
        c["compared_indices"],
        serde_json::json!([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12])
    );
    assert_eq!(
        c["rim_ids"],
        serde_json::json!(["NV_GPU_VBIOS_1010_0200_882_96005E0001"])
    );
    // The only 535.86.09 driver RIM in the vectors is edited (DigestValue mismatch), so no
    // complete pair exists: the claims say the VBIOS RIM alone was compared.
    assert_eq!(c["rims_complete"], false);
}

#[test]
fn mismatching_pairs_report_exactly_the_readme_indices() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    for (report, nonce, rim, indices) in [
        (
            "hopper_535.86.09",
            NONCE_535,
            "rims/nvtrust/1010_0200_882_96005E0001_test_no_gpu.swidtag",
            vec![1, 2, 3, 9],
        ),
        (
            "hopper_535.86.09",
            NONCE_535,
            "rims/attestation-sdk/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml",
            vec![9],
        ),
        (
            "hopper_570.124.03",
            NONCE_931D,
            "rims/nvtrust/1010_0205_862_96005E0004_PROD.swidtag",
            vec![9],
        ),
        (
            "hopper_580.159.03",
            NONCE_580,
            "rims/nvtrust/1010_0205_862_9600740020_PROD.swidtag",
            vec![9],
        ),
    ] {
        let rim = p(&dir, rim);
        let out = verify(
            &dir,
            &format!("gpu/{report}_report.hex"),
            Some(&format!("gpu/{report}_certchain.pem")),
            nonce,
            &["--rim", &rim],
        );
        let c = claims(&out);
        assert_eq!(c["measurements_match"], false, "{report} {rim}");
        assert_eq!(
            c["mismatched_indices"],
            serde_json::json!(indices),
            "{report} {rim}"
        );
    }
}

#[test]
fn bad_rims_fail_naming_the_file() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    let report = "gpu/hopper_535.86.09_report.hex";
    let certs = "gpu/hopper_535.86.09_certchain.pem";
    let check = |rim: &str, at: &str, reason: &str| {
        let report = p(&dir, report);
        let certs = p(&dir, certs);
        let out = run(&[
            "evidence", "verify", "nvidia", "--report", &report, "--certs", &certs, "--nonce",
            NONCE_535, "--at", at, "--rim", rim,
        ]);
        assert_invalid(&out, reason);
        assert!(stdout(&out).contains(rim), "{}", stdout(&out));
    };
    // Content edited after signing.
    check(
        &p(
            &dir,
            "rims/attestation-sdk/NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml",
        ),
        "2026-01-01T00:00:00Z",
        "RIM DigestValue does not match the document",
    );
    // One hash of the matching VBIOS RIM changed here.
    let tmp = tempfile::tempdir().unwrap();
    let good = String::from_utf8(common::read(
        &dir,
        "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag",
    ))
    .unwrap();
    let tampered = good.replacen(
        "c3f65ef79a19c029868cd7ce54b10e44",
        "c3f65ef79a19c029868cd7ce54b10e45",
        1,
    );
    assert_ne!(tampered, good);
    let tampered_path = tmp.path().join("1010_0200_882_96005E0001_PROD.swidtag");
    std::fs::write(&tampered_path, tampered).unwrap();
    check(
        tampered_path.to_str().unwrap(),
        AT,
        "RIM DigestValue does not match the document",
    );
    // Expired signer: the genuine RIM a day after its chain's window.
    check(
        &p(&dir, "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag"),
        "2025-06-23T00:00:00Z",
        "expired",
    );
    // Signature value invalid.
    check(
        &p(
            &dir,
            "rims/attestation-sdk/negative_NV_GPU_DRIVER_GH100_550.144.03_bad_signature.xml",
        ),
        "2026-01-01T00:00:00Z",
        "RIM SignatureValue does not verify",
    );
    // Chain to a debug root, not the pinned CoRIM root.
    check(
        &p(
            &dir,
            "rims/attestation-sdk/negative_GB100_97.00.83.00.09_incomplete_cert_chain.xml",
        ),
        "2026-01-01T00:00:00Z",
        "does not end in the pinned NVIDIA CoRIM signing root",
    );
    // The AS "expired" driver RIM: its leaf lived one day.
    check(
        &p(
            &dir,
            "rims/attestation-sdk/NV_GPU_DRIVER_GH100_570.124.03_expired.xml",
        ),
        "2026-01-01T00:00:00Z",
        "RIM certificate 0 expired at 2025-01-02T00:00:00Z",
    );
    // A genuine, currently valid driver RIM for another driver version.
    check(
        &p(
            &dir,
            "rims/attestation-sdk/NV_GPU_DRIVER_GH100_550.144.03.xml",
        ),
        "2026-01-01T00:00:00Z",
        "describes driver 550.144.03, the report has 535.86.09",
    );
}

#[test]
fn usage_errors_exit_2() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    let report = p(&dir, "gpu/hopper_535.86.09_report.hex");
    let certs = p(&dir, "gpu/hopper_535.86.09_certchain.pem");
    for args in [
        // Nonce not 32 bytes.
        vec![
            "--report", &report, "--certs", &certs, "--nonce", "00", "--at", AT,
        ],
        // No --certs with a hex report.
        vec!["--report", &report, "--nonce", NONCE_535, "--at", AT],
        // --index with a hex report.
        vec![
            "--report", &report, "--certs", &certs, "--nonce", NONCE_535, "--at", AT, "--index",
            "1",
        ],
        // Missing --at.
        vec!["--report", &report, "--certs", &certs, "--nonce", NONCE_535],
        // Unreadable file.
        vec![
            "--report",
            "/nonexistent/report.hex",
            "--certs",
            &certs,
            "--nonce",
            NONCE_535,
            "--at",
            AT,
        ],
        // Unknown revocation mode.
        vec![
            "--report",
            &report,
            "--certs",
            &certs,
            "--nonce",
            NONCE_535,
            "--at",
            AT,
            "--revocation",
            "online",
        ],
    ] {
        let mut full = vec!["evidence", "verify", "nvidia"];
        full.extend(args.iter().copied());
        let out = run(&full);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stdout(&out));
    }
}

#[test]
fn rims_import_then_list() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("verifier.toml");
    std::fs::write(&config, "state_dir = \"state\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let ok = |out: &Output| {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(out),
            String::from_utf8_lossy(&out.stderr)
        );
    };

    // Every nvtrust RIM signer has expired: without --at the import is refused, whole.
    let nvtrust = p(&dir, "rims/nvtrust");
    let out = run(&["rims", "import", &nvtrust, "--config", cfg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expired"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["rims", "list", "--config", cfg]);
    ok(&out);
    assert!(
        stdout(&out).starts_with("no RIMs stored"),
        "{}",
        stdout(&out)
    );

    let out = run(&["rims", "import", &nvtrust, "--at", AT, "--config", cfg]);
    ok(&out);

    // A re-issued RIM of the same id (valid longer) replaces it; the old one does not come back.
    let reissued = p(
        &dir,
        "rims/attestation-sdk/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml",
    );
    let prod = p(&dir, "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag");
    let out = run(&[
        "rims", "import", &reissued, &prod, "--at", AT, "--config", cfg, "--json",
    ]);
    ok(&out);
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(entries[0]["id"], "NV_GPU_VBIOS_1010_0200_882_96005E0001");
    assert_eq!(entries[0]["outcome"], "replaced");
    assert_eq!(entries[1]["outcome"], "kept-existing");

    // A driver RIM's id is from its content. (--at keeps the test independent of the clock;
    // this RIM's chain is valid until 2026-12-30.)
    let driver = p(
        &dir,
        "rims/attestation-sdk/NV_GPU_DRIVER_GH100_550.144.03.xml",
    );
    ok(&run(&[
        "rims",
        "import",
        &driver,
        "--at",
        "2026-01-01T00:00:00Z",
        "--config",
        cfg,
    ]));

    // A tampered RIM is refused, naming it.
    let bad = p(
        &dir,
        "rims/attestation-sdk/NV_GPU_DRIVER_GH100_535.86.09_measurement_mismatch.xml",
    );
    let out = run(&[
        "rims",
        "import",
        &bad,
        "--at",
        "2026-01-01T00:00:00Z",
        "--config",
        cfg,
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&bad) && err.contains("DigestValue"), "{err}");

    let out = run(&["rims", "list", "--config", cfg, "--json"]);
    ok(&out);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = list.as_array().unwrap();
    // 26 nvtrust files, two of which share an id, plus the driver RIM.
    assert_eq!(list.len(), 26, "{list:?}");
    let row = |id: &str| {
        list.iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed"))
    };
    let vbios = row("NV_GPU_VBIOS_1010_0200_882_96005E0001");
    assert_eq!(vbios["kind"], "vbios");
    assert_eq!(vbios["valid_until"], "2025-12-12T23:58:03Z");
    assert!(
        vbios["source"]
            .as_str()
            .unwrap()
            .ends_with("_measurement_mismatch.xml")
    );
    let driver = row("NV_GPU_DRIVER_GH100_550.144.03");
    assert_eq!(driver["kind"], "driver");
    assert_eq!(driver["version"], "550.144.03");
    row("NV_GPU_DRIVER_GH100_545.00");
    row("NV_GPU_VBIOS_G520_0200_885_9600740001");
}

#[test]
fn rims_from_the_store_are_found_by_the_reports_ids_and_reverified() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("verifier.toml");
    std::fs::write(&config, "state_dir = \"state\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let nvtrust = p(&dir, "rims/nvtrust");
    let out = run(&["rims", "import", &nvtrust, "--at", AT, "--config", cfg]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The store holds the PROD and the test VBIOS RIM under one id; the later-expiring test
    // RIM won, so the 535.86.09 report mismatches it at the README's indices.
    let store_args = ["--rims-from-store", "--config", cfg];
    let c = claims(&verify(
        &dir,
        "gpu/hopper_535.86.09_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        NONCE_535,
        &store_args,
    ));
    assert_eq!(
        c["rim_ids"],
        serde_json::json!(["NV_GPU_VBIOS_1010_0200_882_96005E0001"])
    );
    assert_eq!(c["mismatched_indices"], serde_json::json!([1, 2, 3, 9]));
    assert_eq!(
        c["rims_complete"], false,
        "no 535.86.09 driver RIM is stored"
    );

    // A --rim of a kind takes precedence over the store.
    let prod = p(&dir, "rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag");
    let mut args = store_args.to_vec();
    args.extend(["--rim", &prod]);
    let c = claims(&verify(
        &dir,
        "gpu/hopper_535.86.09_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        NONCE_535,
        &args,
    ));
    assert_eq!(c["measurements_match"], true);

    // Stored RIMs are verified again at the verification time: after the signer expired they
    // fail, naming where the RIM came from.
    let report = p(&dir, "gpu/hopper_535.86.09_report.hex");
    let certs = p(&dir, "gpu/hopper_535.86.09_certchain.pem");
    let out = run(&[
        "evidence",
        "verify",
        "nvidia",
        "--report",
        &report,
        "--certs",
        &certs,
        "--nonce",
        NONCE_535,
        "--at",
        "2026-01-01T00:00:00Z",
        "--rims-from-store",
        "--config",
        cfg,
    ]);
    assert_invalid(&out, "1010_0200_882_96005E0001_test_no_gpu.swidtag");
    assert_invalid(&out, "expired");
}

#[test]
fn stapled_revocation_needs_a_response_for_every_checked_certificate() {
    let Some(dir) = common::vectors("nvidia") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("ocsp");
    std::fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    // No response at all: the first checked certificate (the BROM) is named.
    let out = verify(
        &dir,
        "gpu/hopper_535.86.09_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        NONCE_535,
        &["--revocation", "stapled", empty],
    );
    assert_invalid(&out, "no valid OCSP response for device certificate 1");
    assert_invalid(&out, "GH100 A01 GSP BROM");

    // A response of another responder (the simulator's, for a simulated chain) answers for
    // none of these certificates.
    let hierarchy = warden_evidence::sim::nvidia::DeviceHierarchy::shared(
        warden_evidence::sim::nvidia::Arch::Hopper,
    );
    let gpu = hierarchy
        .gpu(warden_evidence::sim::nvidia::GpuProfile::hopper())
        .unwrap();
    let spec =
        warden_evidence::sim::nvidia::OcspSpec::good_at(warden_evidence::UnixTime(1_717_200_000));
    for (i, response) in hierarchy.staple(&gpu, &spec).unwrap().iter().enumerate() {
        std::fs::write(tmp.path().join(format!("ocsp/{i}.der")), response).unwrap();
    }
    let out = verify(
        &dir,
        "gpu/hopper_535.86.09_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        NONCE_535,
        &["--revocation", "stapled", empty],
    );
    assert_invalid(&out, "no valid OCSP response for device certificate 1");

    // `stapled` without a directory, or a directory that does not exist: usage.
    for extra in [
        vec!["--revocation", "stapled"],
        vec!["--revocation", "stapled", "/nonexistent/ocsp"],
    ] {
        let out = verify(
            &dir,
            "gpu/hopper_535.86.09_report.hex",
            Some("gpu/hopper_535.86.09_certchain.pem"),
            NONCE_535,
            &extra,
        );
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {}", stdout(&out));
    }
    // `off` is the default and says so.
    let c = claims(&verify(
        &dir,
        "gpu/hopper_535.86.09_report.hex",
        Some("gpu/hopper_535.86.09_certchain.pem"),
        NONCE_535,
        &["--revocation", "off"],
    ));
    assert_eq!(c["revocation"], "off");
    assert_eq!(c["revocation_status"], "unchecked");
}

#[test]
fn ocsp_import_then_list() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("verifier.toml");
    std::fs::write(&config, "state_dir = \"state\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let responses = tmp.path().join("responses");
    std::fs::create_dir(&responses).unwrap();
    let hierarchy = warden_evidence::sim::nvidia::RimHierarchy::shared();
    let rims = hierarchy
        .rims_for(&warden_evidence::sim::nvidia::GpuProfile::hopper())
        .unwrap();
    let spec =
        warden_evidence::sim::nvidia::OcspSpec::good_at(warden_evidence::UnixTime(1_767_225_600));
    for (i, response) in hierarchy
        .staple(&rims.driver, &spec)
        .unwrap()
        .iter()
        .enumerate()
    {
        std::fs::write(responses.join(format!("{i}.der")), response).unwrap();
    }
    let dir = responses.to_str().unwrap();

    // A file that is not an OCSP response stops the import; nothing is stored.
    let bad = tmp.path().join("bad");
    std::fs::create_dir(&bad).unwrap();
    std::fs::copy(responses.join("0.der"), bad.join("0.der")).unwrap();
    std::fs::write(bad.join("1.der"), b"not an OCSP response").unwrap();
    let out = run(&["ocsp", "import", bad.to_str().unwrap(), "--config", cfg]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a DER OCSPResponse"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run(&["ocsp", "list", "--config", cfg]);
    assert!(
        stdout(&out).starts_with("no OCSP responses cached"),
        "{}",
        stdout(&out)
    );

    let out = run(&["ocsp", "import", dir, "--json", "--config", cfg]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 3);
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "added")
    );
    // The same responses again: kept.
    let out = run(&["ocsp", "import", dir, "--json", "--config", cfg]);
    let entries: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        entries
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["outcome"] == "kept_existing"),
        "{entries}"
    );
    let out = run(&["ocsp", "list", "--json", "--config", cfg]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
    assert_eq!(rows[0]["next_update"], "2026-01-08T00:00:00Z");
}
