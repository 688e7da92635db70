//! Interop with the real OpenSSF `model-signing` tool (1.1.1, PyPI), run through
//! `tests/interop/model_signing_oracle.py` with the Python that `scripts/test.sh` installs
//! (`WARDEN_MODEL_SIGNING_PYTHON`). Without it the test says "skipped: model-signing not
//! installed".
//!
//! On a freshly generated model directory: Warden's manifest equals the tool's for the four
//! hashing configurations of the golden vectors; bundles the tool signs verify in Warden
//! (and a tampered file is named); a bundle Warden signs verifies in the tool.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::process::Command;

use warden_evidence::UnixTime;
use warden_evidence::model::{
    ModelSignatureError, ModelSigners, SignatureBundle, SigningRules, compare_manifest, verify,
};
use warden_model::hash::{HashOptions, NoProgress, hash_model};
use warden_proto::binding::{HashAlgorithm, Serialization};

const ORACLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/interop/model_signing_oracle.py"
);

fn python() -> Option<PathBuf> {
    let python = std::env::var_os("WARDEN_MODEL_SIGNING_PYTHON").map(PathBuf::from);
    if python.is_none() {
        eprintln!(
            "skipped: model-signing not installed (scripts/test.sh installs it with pip into \
             target/interop-venv and sets WARDEN_MODEL_SIGNING_PYTHON)"
        );
    }
    python
}

/// Runs the oracle; returns stdout, panicking with its stderr when it fails.
fn oracle(python: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(python)
        .arg(ORACLE)
        .args(args)
        .output()
        .expect("run the model-signing oracle");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "oracle {args:?} failed: {stderr}"
    );
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("utf-8"),
    )
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A model with the traps of the golden vector, but fresh bytes.
fn generate_model(root: &Path) {
    let seed: u64 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(7, |d| d.as_nanos() as u64);
    let mut state = seed | 1;
    let mut bytes = |n: usize| -> Vec<u8> {
        (0..n)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    };
    std::fs::create_dir_all(root.join("tokenizer")).unwrap();
    std::fs::create_dir_all(root.join("weights/layers")).unwrap();
    std::fs::create_dir_all(root.join("empty-dir")).unwrap();
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("config.json", b"{\"hidden_size\": 16}\n".to_vec()),
        (
            "tokenizer.json",
            b"{\"model\": {\"type\": \"BPE\"}}\n".to_vec(),
        ),
        ("tokenizer/vocab.txt", b"<pad>\n<s>\nhello\n".to_vec()),
        ("tokenizer/.gitignore", b"# nested: hashed\n".to_vec()),
        (".gitattributes", b"# root: ignored\n".to_vec()),
        (".hidden_config", b"dotfiles are hashed\n".to_vec()),
        ("empty.txt", Vec::new()),
        ("mod\u{e8}le.txt", b"non-ASCII name\n".to_vec()),
        ("weights/model-00001-of-00002.safetensors", bytes(300_000)),
        ("weights/model-00002-of-00002.safetensors", bytes(70_001)),
        ("weights/layers/0.bin", bytes(65_536)),
    ];
    for (name, data) in files {
        std::fs::write(root.join(name), data).unwrap();
    }
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

const SHARD: u64 = 65_536;

/// The four golden configurations: (method, model-signing hash option, Warden algorithm).
const CONFIGS: [(&str, &str, HashAlgorithm); 4] = [
    ("files", "sha256", HashAlgorithm::Sha256),
    ("shards", "sha256", HashAlgorithm::Sha256),
    ("files", "blake2", HashAlgorithm::Blake2b),
    ("files", "blake3", HashAlgorithm::Blake3),
];

fn options(method: &str, algorithm: HashAlgorithm) -> HashOptions {
    HashOptions {
        serialization: if method == "files" {
            Serialization::Files
        } else {
            Serialization::Shards {
                shard_size: NonZeroU64::new(SHARD).unwrap(),
            }
        },
        algorithm,
        ..HashOptions::default()
    }
}

fn oracle_args<'a>(method: &'a str, hash: &'a str, shard: &'a str) -> Vec<&'a str> {
    let mut v = vec![method, hash];
    if method == "shards" {
        v.push(shard);
    }
    v
}

#[test]
fn warden_and_model_signing_agree() {
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("fresh-model");
    generate_model(&model);
    let shard = SHARD.to_string();
    let now = UnixTime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64,
    );

    // 1. The same manifest, for each hashing configuration.
    for (method, hash, algorithm) in CONFIGS {
        let mut args = vec!["hash", p(&model)];
        args.extend(oracle_args(method, hash, &shard));
        let (ok, out) = oracle(&python, &args);
        assert!(ok, "model-signing hash {method}/{hash}: {out}");
        let theirs: serde_json::Value = serde_json::from_str(&out).unwrap();
        let theirs: BTreeMap<String, String> =
            serde_json::from_value(theirs["resources"].clone()).unwrap();
        let ours = hash_model(&model, &options(method, algorithm), &NoProgress).unwrap();
        let ours: BTreeMap<String, String> = ours
            .manifest
            .resources()
            .iter()
            .map(|r| (r.name().to_owned(), hex::encode(r.digest())))
            .collect();
        assert_eq!(ours, theirs, "{method}/{hash}");
    }

    // 2. Bundles the tool signs verify in Warden, against Warden's own hash of the directory.
    let private = dir.path().join("signer.pem");
    let public = dir.path().join("signer.pub.pem");
    assert!(oracle(&python, &["keygen", p(&private), p(&public)]).0);
    let mut signers = ModelSigners::new();
    signers
        .add_public_key_pem(&std::fs::read_to_string(&public).unwrap())
        .unwrap();
    for (method, hash, algorithm) in CONFIGS {
        let sig = dir.path().join(format!("{method}-{hash}.sig"));
        let mut args = vec!["sign", p(&model), p(&private), p(&sig)];
        args.extend(oracle_args(method, hash, &shard));
        let (ok, out) = oracle(&python, &args);
        assert!(ok, "model-signing sign {method}/{hash}: {out}");
        let bundle = SignatureBundle::parse(&std::fs::read(&sig).unwrap()).unwrap();
        let verified = verify(&bundle, &signers, &SigningRules::default(), now)
            .unwrap_or_else(|e| panic!("{method}/{hash}: {e}"));
        let ours = hash_model(&model, &options(method, algorithm), &NoProgress).unwrap();
        compare_manifest(&verified.statement.manifest, &ours.manifest)
            .unwrap_or_else(|e| panic!("{method}/{hash}: {e}"));
        assert_eq!(
            verified.statement.subject_digest,
            ours.manifest.subject_digest(),
            "{method}/{hash}: subject digest"
        );
    }

    // 3. One flipped byte is named.
    let tampered = dir.path().join("tampered");
    copy_dir(&model, &tampered);
    let weights = "weights/model-00001-of-00002.safetensors";
    let mut bytes = std::fs::read(model.join(weights)).unwrap();
    bytes[5000] ^= 1;
    std::fs::write(tampered.join(weights), bytes).unwrap();
    let sig = std::fs::read(dir.path().join("files-sha256.sig")).unwrap();
    let bundle = SignatureBundle::parse(&sig).unwrap();
    let verified = verify(&bundle, &signers, &SigningRules::default(), now).unwrap();
    let theirs = hash_model(
        &tampered,
        &options("files", HashAlgorithm::Sha256),
        &NoProgress,
    )
    .unwrap();
    match compare_manifest(&verified.statement.manifest, &theirs.manifest) {
        Err(ModelSignatureError::ManifestMismatch {
            missing,
            extra,
            changed,
        }) => {
            assert!(
                missing.is_empty() && extra.is_empty(),
                "{missing:?} {extra:?}"
            );
            assert_eq!(changed, [weights]);
        }
        other => panic!("expected a manifest mismatch, got {other:?}"),
    }

    // 4. A bundle Warden signs verifies in the tool.
    let ours = hash_model(
        &model,
        &options("files", HashAlgorithm::Sha256),
        &NoProgress,
    )
    .unwrap();
    let statement = warden_model::oms::statement(&ours.manifest, &ours.subject_name, false);
    let payload = serde_json::to_vec(&statement).unwrap();
    let key = warden_evidence::sim::model::ModelSigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(&private).unwrap(),
    )
    .unwrap();
    let warden_sig = dir.path().join("warden.sig");
    std::fs::write(
        &warden_sig,
        warden_evidence::sim::model::sign_key_bundle(&payload, &key),
    )
    .unwrap();
    let (ok, out) = oracle(
        &python,
        &[
            "verify",
            p(&model),
            p(&warden_sig),
            p(&public),
            "files",
            "sha256",
        ],
    );
    assert!(ok, "model-signing refused Warden's bundle: {out}");
    let (ok, out) = oracle(
        &python,
        &[
            "verify",
            p(&tampered),
            p(&warden_sig),
            p(&public),
            "files",
            "sha256",
        ],
    );
    assert!(!ok, "model-signing accepted a tampered model: {out}");
}
