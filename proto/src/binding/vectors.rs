//! The test vectors of `docs/protocol.md`, computed independently by
//! `proto/testdata/vectors.py` (Python standard library only), checked against this crate and
//! against the document.

use super::*;

const PROTOCOL_MD: &str = include_str!("../../../docs/protocol.md");

const N: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const PK: &str = "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";

const MANIFEST_1_JSON: &str = concat!(
    r#"{"hash_algorithm":"sha256","resources":["#,
    r#"{"digest":"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f","#,
    r#""name":"config.json"},"#,
    r#"{"digest":"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f","#,
    r#""name":"model.safetensors"}],"serialization":"files"}"#,
);
const M_1: &str = "c29b8c409b4dc1ec0875d0818e06b5fab5dc6b4d0f4c40407b84a65afa1708d2";

const MANIFEST_2_JSON: &str = concat!(
    r#"{"hash_algorithm":"blake2b","resources":[{"digest":""#,
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
    r#"","name":"config \"v2\".json"},{"digest":""#,
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
    r#"","name":"données/modèle.bin:0:1048576"},{"digest":""#,
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
    r#"","name":"données/modèle.bin:1048576:2097152"}],"serialization":"shards"}"#,
);
const M_2: &str = "30a01af30d915a088bff9df4fb35940e13c70da59c7f0b53b14c1ce61471fc5c";

const G: &str = "d4b4102b0ea8ac10663a486b2db72f7900b4a5e5b6b82379f0fc093b27eb5c7c";

const D_EMPTY: &str = "984eda9a9e61891d8e37be1f3d6dba6575523f3190044ffe92cfa1d7d7c67193";
const D_0: &str = "18f01011aecd6020ab3e0b78fb06432acbf353df52bc95d673e357a1f34bbe16";
const D_1: &str = "04efe641fdf74dc3fb6eadede1a556409643aeb68b07c9e1aabab6fdae240633";

const RD_JSON_2: &str = concat!(
    r#"{"gpus":["18f01011aecd6020ab3e0b78fb06432acbf353df52bc95d673e357a1f34bbe16","#,
    r#""04efe641fdf74dc3fb6eadede1a556409643aeb68b07c9e1aabab6fdae240633"],"#,
    r#""model":"c29b8c409b4dc1ec0875d0818e06b5fab5dc6b4d0f4c40407b84a65afa1708d2","#,
    r#""nonce":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f","#,
    r#""tee_pubkey":"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f","v":1}"#,
);
const RD_0: &str = concat!(
    "b6f93968f7bdfa88436658bed10acad713f417cabb3f90e0a153f60281d8cb46",
    "8de130a32f110706268c953b96505c98e2dbb73b41269a75bb7738b72d7d7ffe",
);
const RD_1: &str = concat!(
    "f22e0677919b756291c1fb0baa626df636e66f014c8c09ae3936c4598b51a06e",
    "1f4167b5afab4aa983f07104832339a8b3b3a5e371f5a7f451b84ad10a4d120d",
);
const RD_2: &str = concat!(
    "d24698e8ec3c7b4713ce4b54757572de3e11e44ed456348349256153e9e0520e",
    "7945aa690ab4e348930cd978947ad43521a6090278e895da72f0e0efb992f9c4",
);

const KEY_RELEASE_INFO: &str = concat!(
    "77617264656e2f76312f6b65792d72656c65617365",
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
    "6d6f64656c2d6b65792d31",
);

fn range(start: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| start.wrapping_add(i as u8)).collect()
}

fn nonce() -> Nonce {
    Nonce::from_slice(&range(0x00, 32)).unwrap()
}

fn pk() -> TeePublicKey {
    TeePublicKey::from_slice(&range(0x20, 32)).unwrap()
}

fn manifest_1() -> ModelManifest {
    // Deliberately out of canonical order.
    ModelManifest::new(
        Serialization::Files,
        HashAlgorithm::Sha256,
        vec![
            ModelResource::new("model.safetensors", range(0x40, 32)),
            ModelResource::new("config.json", range(0x60, 32)),
        ],
    )
    .unwrap()
}

fn manifest_2() -> ModelManifest {
    ModelManifest::new(
        Serialization::Shards {
            shard_size: std::num::NonZeroU64::new(1_048_576).unwrap(),
        },
        HashAlgorithm::Blake2b,
        vec![
            ModelResource::new("données/modèle.bin:1048576:2097152", range(0x80, 64)),
            ModelResource::new("config \"v2\".json", range(0xc0, 64)),
            ModelResource::new("données/modèle.bin:0:1048576", range(0x00, 64)),
        ],
    )
    .unwrap()
}

fn gpus() -> [GpuDigest; 2] {
    [
        gpu_digest(b"gpu0-report", b"gpu0-chain"),
        gpu_digest(b"gpu1-report", b"gpu1-chain"),
    ]
}

#[test]
fn inputs() {
    assert_eq!(nonce().to_hex(), N);
    assert_eq!(pk().to_hex(), PK);
}

#[test]
fn model_digests() {
    assert_eq!(manifest_1().canonical_json(), MANIFEST_1_JSON);
    assert_eq!(manifest_1().digest().to_hex(), M_1);
    assert_eq!(manifest_2().canonical_json(), MANIFEST_2_JSON);
    assert_eq!(manifest_2().digest().to_hex(), M_2);
}

#[test]
fn gpu_nonce_vector() {
    assert_eq!(gpu_nonce(&nonce(), &pk()).to_hex(), G);
}

#[test]
fn gpu_digest_vectors() {
    assert_eq!(gpu_digest(b"", b"").to_hex(), D_EMPTY);
    let [d0, d1] = gpus();
    assert_eq!(d0.to_hex(), D_0);
    assert_eq!(d1.to_hex(), D_1);
}

#[test]
fn report_data_vectors() {
    let m = manifest_1().digest();
    let gpus = gpus();
    assert_eq!(report_data_json(&nonce(), &pk(), &m, &gpus), RD_JSON_2);
    for (n, expected) in [(0, RD_0), (1, RD_1), (2, RD_2)] {
        let rd = report_data(&nonce(), &pk(), &m, &gpus[..n]);
        assert_eq!(hex::encode(rd), expected, "{n} GPUs");
        let expected_bytes = hex::decode(expected).unwrap();
        assert_eq!(verify_report_data(&rd, &expected_bytes), Ok(()));
    }
}

#[test]
fn key_release_info_vector() {
    assert_eq!(
        hex::encode(key_release_info(&nonce(), "model-key-1")),
        KEY_RELEASE_INFO
    );
}

#[test]
fn protocol_md_lists_the_same_vectors() {
    for (name, value) in [
        ("N", N),
        ("pk", PK),
        ("manifest 1 JSON", MANIFEST_1_JSON),
        ("M_1", M_1),
        ("manifest 2 JSON", MANIFEST_2_JSON),
        ("M_2", M_2),
        ("G", G),
        ("D_empty", D_EMPTY),
        ("D_0", D_0),
        ("D_1", D_1),
        ("REPORT_DATA JSON, 2 GPUs", RD_JSON_2),
        ("REPORT_DATA, 0 GPUs", RD_0),
        ("REPORT_DATA, 1 GPU", RD_1),
        ("REPORT_DATA, 2 GPUs", RD_2),
        ("key release info", KEY_RELEASE_INFO),
    ] {
        assert!(
            PROTOCOL_MD.contains(value),
            "docs/protocol.md lacks {name}: {value}"
        );
    }
}

#[test]
fn protocol_md_names_the_domain_tags() {
    for tag in [GPU_NONCE_TAG, GPU_DIGEST_TAG, KEY_RELEASE_TAG] {
        let tag = std::str::from_utf8(tag).unwrap();
        assert!(
            PROTOCOL_MD.contains(&format!("\"{tag}\"")),
            "docs/protocol.md lacks {tag}"
        );
    }
}
