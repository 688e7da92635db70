//! `warden-verifier evidence verify model` as a process, on the golden model-signing 1.1.1
//! bundles of `../shared/vectors/model-signing` (exit 0 valid, 1 invalid with the reason, 2
//! usage): the model verifies with each bundle; the tampered model, the forged payload and
//! the other key fail with their reasons.

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

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run warden-verifier")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

const BUNDLES: [&str; 4] = [
    "tiny-model.sha256-files.sig",
    "tiny-model.sha256-shards4096.sig",
    "tiny-model.blake2-files.sig",
    "tiny-model.blake3-files.sig",
];

#[test]
fn golden_bundles_verify_the_model() {
    let Some(dir) = common::vectors("model-signing") else {
        return;
    };
    let expected: serde_json::Value =
        serde_json::from_slice(&common::read(&dir, "expected.json")).unwrap();
    for bundle in BUNDLES {
        let out = run(&[
            "evidence",
            "verify",
            "model",
            "--dir",
            p(&dir.join("tiny-model")),
            "--bundle",
            p(&dir.join(bundle)),
            "--key",
            p(&dir.join("ec-p256-public.pem")),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{bundle}: {}", stdout(&out));
        let claims: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            claims["signature"]["subject_digest"], expected["bundles"][bundle]["subject_sha256"],
            "{bundle}"
        );
        assert_eq!(
            claims["subject_digest"], claims["signature"]["subject_digest"],
            "{bundle}"
        );
        assert_eq!(
            claims["signature"]["signer"]["hint"],
            expected["public_key_hint_sha256_of_pem"]
        );
    }
}

#[test]
fn the_tampered_model_forged_payload_and_other_key_fail_with_their_reasons() {
    let Some(dir) = common::vectors("model-signing") else {
        return;
    };
    let verify = |model: &str, bundle: &str, key: &str| {
        run(&[
            "evidence",
            "verify",
            "model",
            "--dir",
            p(&dir.join(model)),
            "--bundle",
            p(&dir.join(bundle)),
            "--key",
            p(&dir.join(key)),
        ])
    };
    for (bundle, changed) in [
        (
            "tiny-model.sha256-files.sig",
            "model-00001-of-00002.safetensors",
        ),
        (
            "tiny-model.sha256-shards4096.sig",
            "model-00001-of-00002.safetensors:4096:8192",
        ),
        (
            "tiny-model.blake3-files.sig",
            "model-00001-of-00002.safetensors",
        ),
    ] {
        let out = verify("tiny-model-tampered", bundle, "ec-p256-public.pem");
        assert_eq!(out.status.code(), Some(1), "{bundle}");
        let text = stdout(&out);
        assert!(
            text.starts_with("invalid: ") && text.contains(&format!("1 changed: {changed:?}")),
            "{bundle}: {text}"
        );
    }
    let out = verify(
        "tiny-model-tampered",
        "tiny-model.sha256-files.forged-payload.sig",
        "ec-p256-public.pem",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("signature"), "{}", stdout(&out));
    let out = verify(
        "tiny-model",
        "tiny-model.sha256-files.sig",
        "ec-p256-other-public.pem",
    );
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("fac92ef340f2b32f4b743423c948af0f66bacc7b6409df636da1911a6412565f"),
        "the refusal names the bundle's key hint: {text}"
    );
}

#[test]
fn policy_data_rules_apply() {
    let Some(dir) = common::vectors("model-signing") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("llama.data.json");
    let key = String::from_utf8(common::read(&dir, "ec-p256-public.pem")).unwrap();
    std::fs::write(
        &data,
        serde_json::json!({ "model_signing": {
            "public_keys": [key],
            "allowed_methods": ["files/sha256"],
        }})
        .to_string(),
    )
    .unwrap();
    let with_data = |bundle: &str| {
        run(&[
            "evidence",
            "verify",
            "model",
            "--dir",
            p(&dir.join("tiny-model")),
            "--bundle",
            p(&dir.join(bundle)),
            "--policy-data",
            p(&data),
        ])
    };
    assert_eq!(
        with_data("tiny-model.sha256-files.sig").status.code(),
        Some(0)
    );
    let out = with_data("tiny-model.blake3-files.sig");
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("not allowed"), "{}", stdout(&out));
}

#[test]
fn usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("model.sig");
    std::fs::write(&bundle, b"{}").unwrap();
    // No signer named.
    let out = run(&[
        "evidence",
        "verify",
        "model",
        "--dir",
        p(tmp.path()),
        "--bundle",
        p(&bundle),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("name a signer"));
    // A key that is not a key.
    let out = run(&[
        "evidence",
        "verify",
        "model",
        "--dir",
        p(tmp.path()),
        "--bundle",
        p(&bundle),
        "--key",
        p(&bundle),
    ]);
    assert_eq!(out.status.code(), Some(2));
    // A missing bundle.
    let out = run(&[
        "evidence",
        "verify",
        "model",
        "--dir",
        p(tmp.path()),
        "--bundle",
        p(&tmp.path().join("absent.sig")),
        "--key",
        p(&bundle),
    ]);
    assert_eq!(out.status.code(), Some(2));
    // Policy data without model_signing.
    let data = tmp.path().join("p.data.json");
    std::fs::write(&data, b"{\"models\": []}").unwrap();
    let out = run(&[
        "evidence",
        "verify",
        "model",
        "--dir",
        p(tmp.path()),
        "--bundle",
        p(&bundle),
        "--policy-data",
        p(&data),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no model_signing"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_bundle_inside_the_model_is_hashed_unless_the_signer_ignored_it() {
    // The golden bundle was written outside the model, so its statement does not ignore any
    // `model.sig`: placed inside the model, under that name or another, it is an extra file.
    // (Skipping it on the side would let any file be hidden by passing it as --bundle.)
    let Some(dir) = common::vectors("model-signing") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let model = tmp.path().join("tiny-model");
    copy_dir(&dir.join("tiny-model"), &model);
    for name in ["model.sig", "chat_template.json"] {
        let inside = model.join(name);
        std::fs::copy(dir.join("tiny-model.sha256-files.sig"), &inside).unwrap();
        let out = run(&[
            "evidence",
            "verify",
            "model",
            "--dir",
            p(&model),
            "--bundle",
            p(&inside),
            "--key",
            p(&dir.join("ec-p256-public.pem")),
        ]);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(
            stdout(&out).contains(&format!("1 extra: {name:?}")),
            "{name}: {}",
            stdout(&out)
        );
        std::fs::remove_file(&inside).unwrap();
    }
}
