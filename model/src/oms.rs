//! The in-toto Statement v1 that OpenSSF Model Signing (model-signing 1.1.1) signs for a model:
//! a pure function of the manifest, so that a signer can sign it and a test can compare it
//! with model-signing's own payloads.

use serde_json::{Value, json};
use warden_proto::binding::{HashAlgorithm, ModelManifest, Serialization};

/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// `predicateType` of an OMS v1.0 signature.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";

/// The `algorithm` model-signing records on each resource: the hash name in `files` mode,
/// `<hash>-sharded-<S>` in `shards` mode.
pub fn resource_algorithm(algorithm: HashAlgorithm, serialization: Serialization) -> String {
    match serialization.shard_size() {
        None => algorithm.as_str().to_owned(),
        Some(size) => format!("{}-sharded-{size}", algorithm.as_str()),
    }
}

/// The in-toto Statement v1 model-signing 1.1.1 writes for `manifest`: one subject
/// `{name: subject_name, digest: {sha256: subject digest}}`, predicate type
/// [`PREDICATE_TYPE`], predicate `{serialization, resources}` with the resources in OMS order
/// ([`ModelManifest::oms_resources`]).
///
/// As in model-signing, whose predicate is a protobuf `Struct`, `shard_size` is a JSON float
/// (`4096.0`). `ignore_paths` is written in the manifest's (sorted) order; model-signing's is
/// arbitrary.
pub fn statement(manifest: &ModelManifest, subject_name: &str, allow_symlinks: bool) -> Value {
    let serialization = manifest.serialization();
    let algorithm = resource_algorithm(manifest.hash_algorithm(), serialization);
    let mut params = json!({
        "method": serialization.method(),
        "hash_type": manifest.hash_algorithm().as_str(),
        "allow_symlinks": allow_symlinks,
        "ignore_paths": manifest.ignore_paths(),
    });
    if let (Some(size), Some(map)) = (serialization.shard_size(), params.as_object_mut()) {
        // A protobuf Struct number is a double; model-signing's payloads say `4096.0`.
        #[allow(clippy::cast_precision_loss)]
        map.insert("shard_size".to_owned(), Value::from(size.get() as f64));
    }
    let resources: Vec<Value> = manifest
        .oms_resources()
        .into_iter()
        .map(|r| {
            json!({
                "name": r.name(),
                "algorithm": algorithm,
                "digest": hex::encode(r.digest()),
            })
        })
        .collect();
    json!({
        "_type": STATEMENT_TYPE,
        "subject": [{
            "name": subject_name,
            "digest": {"sha256": hex::encode(manifest.subject_digest())},
        }],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "serialization": params,
            "resources": resources,
        },
    })
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU64;

    use warden_proto::binding::ModelResource;

    use super::*;

    #[test]
    fn shard_size_is_a_float_and_algorithm_names_the_shard_size() {
        let shards = Serialization::Shards {
            shard_size: NonZeroU64::new(4096).unwrap(),
        };
        let m = ModelManifest::new(
            shards,
            HashAlgorithm::Sha256,
            vec![ModelResource::new("w:0:4096", vec![0; 32])],
        )
        .unwrap();
        let s = statement(&m, "m", false);
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains("\"shard_size\":4096.0"), "{text}");
        assert_eq!(
            s["predicate"]["resources"][0]["algorithm"],
            "sha256-sharded-4096"
        );
        assert_eq!(
            resource_algorithm(HashAlgorithm::Blake2b, Serialization::Files),
            "blake2b"
        );
    }
}
