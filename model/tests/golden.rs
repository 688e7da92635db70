//! model-signing 1.1.1 golden vectors (`shared/vectors/model-signing/`), read in place: the four
//! signed configurations must give the same resources, subject digest and statement, and the
//! tampered copy must differ at exactly the expected resource.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::path::PathBuf;

use serde_json::Value;
use warden_model::hash::{HashOptions, NoProgress, hash_model};
use warden_model::oms;
use warden_proto::binding::{HashAlgorithm, Serialization};

/// `shared/vectors/model-signing` from `WARDEN_VECTORS` (default `../shared/vectors` beside the
/// workspace); `None` (skip) when absent, a failure when `WARDEN_REQUIRE_VECTORS=1`.
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

fn read_json(path: PathBuf) -> Value {
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// (bundle name in expected.json, payload file, options)
fn configurations() -> Vec<(&'static str, &'static str, HashOptions)> {
    let opts = |serialization, algorithm| HashOptions {
        serialization,
        algorithm,
        ..HashOptions::default()
    };
    let shards = Serialization::Shards {
        shard_size: NonZeroU64::new(4096).unwrap(),
    };
    vec![
        (
            "tiny-model.sha256-files.sig",
            "tiny-model.sha256-files.payload.json",
            opts(Serialization::Files, HashAlgorithm::Sha256),
        ),
        (
            "tiny-model.sha256-shards4096.sig",
            "tiny-model.sha256-shards4096.payload.json",
            opts(shards, HashAlgorithm::Sha256),
        ),
        (
            "tiny-model.blake2-files.sig",
            "tiny-model.blake2-files.payload.json",
            opts(Serialization::Files, HashAlgorithm::Blake2b),
        ),
        (
            "tiny-model.blake3-files.sig",
            "tiny-model.blake3-files.payload.json",
            opts(Serialization::Files, HashAlgorithm::Blake3),
        ),
    ]
}

/// Compares two statements field by field; `ignore_paths` as sets (model-signing's order is
/// arbitrary), `shard_size` as numbers.
fn assert_same_statement(ours: &Value, golden: &Value, what: &str) {
    assert_eq!(ours["_type"], golden["_type"], "{what}");
    assert_eq!(ours["predicateType"], golden["predicateType"], "{what}");
    assert_eq!(ours["subject"], golden["subject"], "{what}");
    let (a, b) = (&ours["predicate"], &golden["predicate"]);
    assert_eq!(a["resources"], b["resources"], "{what}");
    let keys = |v: &Value| {
        v.as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(keys(a), keys(b), "{what}: predicate fields");
    let (sa, sb) = (&a["serialization"], &b["serialization"]);
    assert_eq!(keys(sa), keys(sb), "{what}: serialization fields");
    for field in ["method", "hash_type", "allow_symlinks"] {
        assert_eq!(sa[field], sb[field], "{what}: {field}");
    }
    let set = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(
        set(&sa["ignore_paths"]),
        set(&sb["ignore_paths"]),
        "{what}: ignore_paths"
    );
    assert_eq!(
        sa.get("shard_size").map(Value::as_f64),
        sb.get("shard_size").map(Value::as_f64),
        "{what}: shard_size"
    );
    if let Some(size) = sb.get("shard_size") {
        // Both are JSON floats, as model-signing's protobuf Struct writes them.
        assert!(size.is_f64() && sa["shard_size"].is_f64(), "{what}");
    }
}

#[test]
fn golden_configurations_match_model_signing() {
    let Some(dir) = vectors() else { return };
    let expected = read_json(dir.join("expected.json"));
    for (bundle, payload, opts) in configurations() {
        let golden = read_json(dir.join(payload));
        let want = &expected["bundles"][bundle];
        for threads in [1, 4] {
            let opts = HashOptions {
                threads,
                ..opts.clone()
            };
            let hashed = hash_model(&dir.join("tiny-model"), &opts, &NoProgress).unwrap();
            assert_eq!(hashed.subject_name, "tiny-model");
            assert_eq!(hashed.files, 8, "{bundle}: .gitattributes is ignored");
            let m = &hashed.manifest;
            assert_eq!(
                hex::encode(m.subject_digest()),
                want["subject_sha256"].as_str().unwrap(),
                "{bundle}"
            );
            assert_eq!(
                m.resources().len() as u64,
                want["resource_count"].as_u64().unwrap(),
                "{bundle}"
            );
            let ours = oms::statement(m, &hashed.subject_name, false);
            assert_same_statement(&ours, &golden, bundle);
        }
    }
}

#[test]
fn per_file_digests_match_expected_json() {
    let Some(dir) = vectors() else { return };
    let expected = read_json(dir.join("expected.json"));
    for (algorithm, key) in [
        (HashAlgorithm::Sha256, "sha256"),
        (HashAlgorithm::Blake2b, "blake2b"),
        (HashAlgorithm::Blake3, "blake3"),
    ] {
        let opts = HashOptions {
            algorithm,
            ..HashOptions::default()
        };
        let hashed = hash_model(&dir.join("tiny-model"), &opts, &NoProgress).unwrap();
        let ours: Vec<(String, String)> = hashed
            .manifest
            .resources()
            .iter()
            .map(|r| (r.name().to_owned(), hex::encode(r.digest())))
            .collect();
        let mut want: Vec<(String, String)> = expected["files"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, f)| f["in_manifest"] == true)
            .map(|(name, f)| (name.clone(), f[key].as_str().unwrap().to_owned()))
            .collect();
        want.sort();
        assert_eq!(ours, want, "{key}");
        let size: u64 = expected["files"]
            .as_object()
            .unwrap()
            .values()
            .filter(|f| f["in_manifest"] == true)
            .map(|f| f["size"].as_u64().unwrap())
            .sum();
        assert_eq!(hashed.bytes, size);
    }
}

#[test]
fn tampered_copy_differs_at_exactly_the_expected_resource() {
    let Some(dir) = vectors() else { return };
    let expected = read_json(dir.join("expected.json"));
    for (bundle, _, opts) in configurations() {
        let want = expected["bundles"][bundle]["tampered_mismatch_resource"]
            .as_str()
            .unwrap();
        let good = hash_model(&dir.join("tiny-model"), &opts, &NoProgress).unwrap();
        let bad = hash_model(&dir.join("tiny-model-tampered"), &opts, &NoProgress).unwrap();
        let (good, bad) = (good.manifest.resources(), bad.manifest.resources());
        assert_eq!(good.len(), bad.len(), "{bundle}");
        let differing: Vec<&str> = good
            .iter()
            .zip(bad)
            .filter(|(g, b)| {
                assert_eq!(g.name(), b.name(), "{bundle}");
                g.digest() != b.digest()
            })
            .map(|(g, _)| g.name())
            .collect();
        assert_eq!(differing, [want], "{bundle}");
    }
}
