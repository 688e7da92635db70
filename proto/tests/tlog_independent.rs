//! Checks `warden_proto::tlog` against an independent RFC 9162 implementation: the Rust code
//! writes trees, roots and proofs to a JSON file and `tests/tlog_oracle.py` (python3 standard
//! library only, written from the RFC text) recomputes and verifies every one of them.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use warden_proto::tlog::{NoteSigner, consistency_proof, inclusion_proof, leaf_hash, root};

fn tree_case(n: u64) -> Value {
    // Leaves of varied lengths, including an empty one.
    let data: Vec<Vec<u8>> = (0..n)
        .map(|i| (0..i % 5).map(|j| (i * 7 + j) as u8).collect())
        .collect();
    let hashes: Vec<[u8; 32]> = data.iter().map(|d| leaf_hash(d)).collect();
    let inclusion: Vec<Value> = (0..n)
        .map(|i| {
            let proof = inclusion_proof(&hashes, i).unwrap();
            json!({"index": i, "proof": proof.iter().map(hex::encode).collect::<Vec<_>>()})
        })
        .collect();
    let consistency: Vec<Value> = (1..=n)
        .map(|m| {
            let proof = consistency_proof(&hashes, m).unwrap();
            json!({
                "old_size": m,
                "old_root": hex::encode(root(&hashes[..m as usize])),
                "proof": proof.iter().map(hex::encode).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "leaves": data.iter().map(hex::encode).collect::<Vec<_>>(),
        "root": hex::encode(root(&hashes)),
        "inclusion": inclusion,
        "consistency": consistency,
    })
}

#[test]
fn rust_trees_and_proofs_agree_with_the_python_oracle() {
    if Command::new("python3").arg("--version").output().is_err() {
        println!("skipped: python3 not found");
        return;
    }
    let trees: Vec<Value> = (0..=70).map(tree_case).collect();
    let verifier_keys: Vec<Value> = ["log.example/a", "PeterNeumann", "k\u{e9}y"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let v = NoteSigner::from_seed(name, &[i as u8; 32])
                .unwrap()
                .verifier();
            json!({
                "name": name,
                "public_key": hex::encode(v.public_key),
                "vkey": v.verifier_key_string(),
            })
        })
        .collect();
    let doc = json!({"trees": trees, "verifier_keys": verifier_keys});

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let file: PathBuf = std::env::temp_dir().join(format!(
        "warden-tlog-oracle-{}-{nanos}.json",
        std::process::id()
    ));
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/tlog_oracle.py");
    let out = Command::new("python3").arg(script).arg(&file).output();
    let _ = std::fs::remove_file(&file);
    let out = out.unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{report}");
    assert!(out.status.success(), "oracle disagreed:\n{report}");
}
