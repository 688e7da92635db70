//! `warden-agent model hash` as an operator runs it: the golden model-signing vectors through
//! `--json`, the text output, and errors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden-agent"))
        .args(args)
        .output()
        .unwrap()
}

/// `shared/vectors/model-signing`, read in place (see `evidence/src/test_vectors.rs`).
fn vectors() -> Option<PathBuf> {
    let root = std::env::var_os("WARDEN_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/vectors"));
    let dir = root.join("model-signing");
    if dir.join("expected.json").is_file() {
        return Some(dir);
    }
    let required = std::env::var("WARDEN_REQUIRE_VECTORS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "WARDEN_REQUIRE_VECTORS=1 but {} is missing",
        dir.display()
    );
    eprintln!("skipped: vectors not found ({})", dir.display());
    None
}

#[test]
fn json_on_the_golden_model_matches_model_signing() {
    let Some(dir) = vectors() else { return };
    let model = dir.join("tiny-model");
    let model = model.to_str().unwrap();
    for (args, payload) in [
        (vec![], "tiny-model.sha256-files.payload.json"),
        (
            vec!["--method", "shards", "--shard-size", "4096"],
            "tiny-model.sha256-shards4096.payload.json",
        ),
        (
            vec!["--hash", "blake2"],
            "tiny-model.blake2-files.payload.json",
        ),
        (
            vec!["--hash", "blake3"],
            "tiny-model.blake3-files.payload.json",
        ),
    ] {
        let mut all = vec!["model", "hash", model, "--json"];
        all.extend(&args);
        let out = agent(&all);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        let golden: Value =
            serde_json::from_slice(&std::fs::read(dir.join(payload)).unwrap()).unwrap();
        let statement = &got["statement"];
        assert_eq!(statement["subject"], golden["subject"], "{args:?}");
        assert_eq!(
            statement["predicate"]["resources"], golden["predicate"]["resources"],
            "{args:?}"
        );
        for field in ["method", "hash_type", "allow_symlinks", "shard_size"] {
            assert_eq!(
                statement["predicate"]["serialization"][field],
                golden["predicate"]["serialization"][field],
                "{args:?} {field}"
            );
        }
        assert_eq!(
            got["subject_digest"],
            golden["subject"][0]["digest"]["sha256"]
        );
        assert_eq!(got["manifest_digest"].as_str().unwrap().len(), 64);
    }
}

#[test]
fn text_output_lists_resources_in_oms_order() {
    let Some(dir) = vectors() else { return };
    let out = agent(&[
        "model",
        "hash",
        dir.join("tiny-model").to_str().unwrap(),
        "--threads",
        "1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert!(lines[5].ends_with("  tokenizer/.gitignore"), "{text}");
    assert!(lines[7].ends_with("  tokenizer.json"), "{text}");
    assert_eq!(
        lines[8],
        "subject sha256 ea0ffcc7c1bdc6331a83b32e4c8b228b5fb65860b1b5c0ef3967d8c90e0b9261 tiny-model"
    );
    assert!(lines[9].starts_with("manifest digest M "), "{text}");
    assert!(out.stderr.is_empty(), "no progress bar off a terminal");
}

#[test]
fn errors_are_specific_and_fail() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a"), b"a").unwrap();
    std::os::unix::fs::symlink("a", dir.path().join("link")).unwrap();
    let root = dir.path().to_str().unwrap();

    let out = agent(&["model", "hash", root]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("link is a symbolic link"), "{err}");

    let out = agent(&["model", "hash", root, "--allow-symlinks", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        got["statement"]["predicate"]["serialization"]["allow_symlinks"],
        true
    );

    let out = agent(&[
        "model", "hash", root, "--method", "shards", "--hash", "blake3",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("blake3 cannot be used with shard"), "{err}");

    let out = agent(&["model", "hash", root, "--shard-size", "10"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--shard-size goes with"));

    let missing = dir.path().join("missing");
    let out = agent(&["model", "hash", missing.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing"));
}
