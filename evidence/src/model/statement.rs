//! The in-toto Statement v1 with the OMS v1.0 predicate
//! (`https://model_signing/signature/v1.0`, model-signing 1.x `_signing/signing.py`).
//!
//! The payload is protobuf `MessageToJson` output whose predicate is a `google.protobuf.Struct`,
//! so numbers are doubles (`"shard_size": 4096.0`) and member order varies between runs. It is
//! parsed leniently (unknown predicate members are ignored, as v1.0 requires) and never
//! re-serialized: the signature covers the bytes as received.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use warden_proto::binding::{
    HashAlgorithm, ModelManifest, ModelResource, Serialization, subject_digest,
};

use super::{
    LEGACY_PREDICATE_TYPE, MAX_RESOURCES, ModelSignatureError, PREDICATE_TYPE, STATEMENT_TYPE,
};

/// The largest shard size accepted: every integer up to it is exact in a double.
const MAX_SHARD_SIZE: f64 = 9_007_199_254_740_992.0;

/// What a checked OMS statement says about the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// The signed manifest (method, hash, resources; ignore paths recorded).
    pub manifest: ModelManifest,
    /// `subject[0].name`: informational (the model directory's basename).
    pub subject_name: String,
    /// `subject[0].digest.sha256`, checked against the resources.
    pub subject_digest: [u8; 32],
    /// Whether the signer hashed symlinks (as their targets' content).
    pub allow_symlinks: bool,
    /// The paths the signer ignored, as written (order is not meaningful).
    pub ignore_paths: Vec<String>,
    /// SHA-256 of the DSSE payload: names, digests and parameters, the value to bind.
    pub payload_sha256: [u8; 32],
}

/// The two type members of an in-toto Statement v1, read first so that a legacy or foreign
/// predicate is named before its shape is judged.
#[derive(Deserialize)]
struct Header {
    #[serde(rename = "_type")]
    statement_type: String,
    #[serde(rename = "predicateType")]
    predicate_type: String,
}

/// in-toto Statement v1 (`in-toto/attestation` spec v1.0, statement.md).
#[derive(Deserialize)]
struct RawStatement {
    subject: Vec<RawSubject>,
    predicate: RawPredicate,
}

/// in-toto ResourceDescriptor v1, as a statement subject.
#[derive(Deserialize)]
struct RawSubject {
    #[serde(default)]
    name: String,
    digest: RawSubjectDigest,
}

/// in-toto DigestSet; only `sha256` is read.
#[derive(Deserialize)]
struct RawSubjectDigest {
    sha256: Option<String>,
}

/// OMS v1.0 predicate (model-signing 1.x `_signing/signing.py`, `_serialization`).
#[derive(Deserialize)]
struct RawPredicate {
    serialization: RawSerialization,
    resources: Vec<RawResource>,
}

/// OMS v1.0 `predicate.serialization`.
#[derive(Deserialize)]
struct RawSerialization {
    method: String,
    hash_type: String,
    shard_size: Option<serde_json::Number>,
    allow_symlinks: bool,
    #[serde(default)]
    ignore_paths: Vec<String>,
}

/// OMS v1.0 `predicate.resources[]`.
#[derive(Deserialize)]
struct RawResource {
    name: String,
    algorithm: String,
    digest: String,
}

fn json(e: &serde_json::Error) -> ModelSignatureError {
    ModelSignatureError::Json {
        what: "statement",
        reason: e.to_string(),
    }
}

/// Lowercase hex of exactly `len` bytes, or `None`.
fn lower_hex(text: &str, len: usize) -> Option<Vec<u8>> {
    let lower = text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !lower || text.len() != len.saturating_mul(2) {
        return None;
    }
    hex::decode(text).ok()
}

/// A shard size written as a JSON number: an exact positive integer, integral doubles
/// (`4096.0`) included.
fn shard_size(number: &serde_json::Number) -> Result<u64, ModelSignatureError> {
    let bad = || ModelSignatureError::ShardSize {
        value: number.to_string(),
    };
    if let Some(size) = number.as_u64() {
        return if size > 0 { Ok(size) } else { Err(bad()) };
    }
    if number.is_i64() {
        return Err(bad());
    }
    let value = number.as_f64().ok_or_else(bad)?;
    if value.fract() != 0.0 || !(1.0..=MAX_SHARD_SIZE).contains(&value) {
        return Err(bad());
    }
    // Integral and within 2^53: the conversion is exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(value as u64)
}

/// A canonical decimal offset: digits only, no sign, no leading zero.
fn offset(text: &str) -> Option<u64> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// Checks a shard name `PATH:START:END` against shard size `size`.
fn check_shard_name(name: &str, size: u64) -> Result<(), ModelSignatureError> {
    let bad = |reason| ModelSignatureError::ShardName {
        name: name.to_owned(),
        reason,
    };
    let mut parts = name.rsplitn(3, ':');
    let (Some(end), Some(start), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("not PATH:START:END"));
    };
    if path.is_empty() {
        return Err(bad("empty path"));
    }
    let (Some(start), Some(end)) = (offset(start), offset(end)) else {
        return Err(bad("offsets are not decimal integers"));
    };
    if start >= end {
        return Err(bad("START is not below END"));
    }
    if end - start > size {
        return Err(bad("shard longer than shard_size"));
    }
    if start % size != 0 {
        return Err(bad("START is not a multiple of shard_size"));
    }
    Ok(())
}

impl Statement {
    /// Parses and checks a DSSE payload, in order: statement and predicate types, exactly one
    /// subject with a SHA-256 digest, the serialization (method `files` | `shards`, hash
    /// `sha256` | `blake2b` | `blake3` (`files` only), an integral positive `shard_size` for
    /// shards only), at most [`MAX_RESOURCES`] resources, each with the algorithm the
    /// serialization implies (`<hash>` or `<hash>-sharded-<S>`), a lowercase hex digest of
    /// the hash's length and, for shards, a name `PATH:START:END` on a shard boundary; then
    /// the subject digest recomputed over the resources in the listed order (as model-signing
    /// does); then the manifest (unique names).
    pub fn parse(payload: &[u8]) -> Result<Self, ModelSignatureError> {
        let header: Header = serde_json::from_slice(payload).map_err(|e| json(&e))?;
        if header.statement_type != STATEMENT_TYPE {
            return Err(ModelSignatureError::StatementType {
                value: header.statement_type,
            });
        }
        if header.predicate_type == LEGACY_PREDICATE_TYPE {
            return Err(ModelSignatureError::LegacyPredicate);
        }
        if header.predicate_type != PREDICATE_TYPE {
            return Err(ModelSignatureError::PredicateType {
                value: header.predicate_type,
            });
        }
        let raw: RawStatement = serde_json::from_slice(payload).map_err(|e| json(&e))?;
        let [subject] = raw.subject.as_slice() else {
            return Err(ModelSignatureError::SubjectCount {
                count: raw.subject.len(),
            });
        };
        let signed_subject: [u8; 32] = subject
            .digest
            .sha256
            .as_deref()
            .and_then(|h| lower_hex(h, 32))
            .and_then(|d| d.try_into().ok())
            .ok_or(ModelSignatureError::SubjectDigestFormat)?;

        let ser = &raw.predicate.serialization;
        let (serialization, hash) = match ser.method.as_str() {
            "files" => {
                if ser.shard_size.is_some() {
                    return Err(ModelSignatureError::Serialization(
                        "shard_size given for method files",
                    ));
                }
                let hash = match ser.hash_type.as_str() {
                    "sha256" => HashAlgorithm::Sha256,
                    "blake2b" => HashAlgorithm::Blake2b,
                    "blake3" => HashAlgorithm::Blake3,
                    _ => {
                        return Err(ModelSignatureError::UnknownHashType {
                            value: ser.hash_type.clone(),
                            method: "files",
                        });
                    }
                };
                (Serialization::Files, hash)
            }
            "shards" => {
                let size = ser
                    .shard_size
                    .as_ref()
                    .ok_or(ModelSignatureError::Serialization(
                        "shard_size missing for method shards",
                    ))
                    .and_then(shard_size)?;
                let shard_size = std::num::NonZeroU64::new(size).ok_or_else(|| {
                    ModelSignatureError::ShardSize {
                        value: size.to_string(),
                    }
                })?;
                // model-signing falls back to files for blake3 shards, so none exist.
                let hash = match ser.hash_type.as_str() {
                    "sha256" => HashAlgorithm::Sha256,
                    "blake2b" => HashAlgorithm::Blake2b,
                    _ => {
                        return Err(ModelSignatureError::UnknownHashType {
                            value: ser.hash_type.clone(),
                            method: "shards",
                        });
                    }
                };
                (Serialization::Shards { shard_size }, hash)
            }
            _ => {
                return Err(ModelSignatureError::UnknownMethod {
                    value: ser.method.clone(),
                });
            }
        };

        let resources = &raw.predicate.resources;
        if resources.len() > MAX_RESOURCES {
            return Err(ModelSignatureError::TooManyResources {
                count: resources.len(),
                max: MAX_RESOURCES,
            });
        }
        let expected_algorithm = match serialization.shard_size() {
            None => hash.as_str().to_owned(),
            Some(size) => format!("{}-sharded-{size}", hash.as_str()),
        };
        let mut checked = Vec::with_capacity(resources.len());
        for r in resources {
            if r.algorithm != expected_algorithm {
                return Err(ModelSignatureError::ResourceAlgorithm {
                    name: r.name.clone(),
                    found: r.algorithm.clone(),
                    expected: expected_algorithm,
                });
            }
            let digest = lower_hex(&r.digest, hash.digest_len()).ok_or_else(|| {
                ModelSignatureError::ResourceDigest {
                    name: r.name.clone(),
                    len: hash.digest_len(),
                }
            })?;
            if let Some(size) = serialization.shard_size() {
                check_shard_name(&r.name, size.get())?;
            }
            checked.push(ModelResource::new(r.name.clone(), digest));
        }
        let computed = subject_digest(checked.iter().map(ModelResource::digest));
        if computed != signed_subject {
            return Err(ModelSignatureError::SubjectDigest {
                expected: hex::encode(signed_subject),
                computed: hex::encode(computed),
            });
        }
        let ignore_paths = ser.ignore_paths.clone();
        let manifest = ModelManifest::new(serialization, hash, checked)?
            .with_ignore_paths(ignore_paths.clone());
        Ok(Self {
            manifest,
            subject_name: subject.name.clone(),
            subject_digest: signed_subject,
            allow_symlinks: ser.allow_symlinks,
            ignore_paths,
            payload_sha256: Sha256::digest(payload).into(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn shard_sizes() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).unwrap();
        assert_eq!(shard_size(&n("4096")), Ok(4096));
        assert_eq!(shard_size(&n("4096.0")), Ok(4096));
        assert_eq!(shard_size(&n("1e9")), Ok(1_000_000_000));
        for bad in ["0", "0.0", "-1", "-4096.0", "4096.5", "1e300", "0.5"] {
            assert_eq!(
                shard_size(&n(bad)),
                Err(ModelSignatureError::ShardSize {
                    value: n(bad).to_string()
                }),
                "{bad}"
            );
        }
    }

    #[test]
    fn shard_names() {
        assert_eq!(check_shard_name("a:b:0:4096", 4096), Ok(()));
        assert_eq!(check_shard_name("w:4096:5000", 4096), Ok(()));
        for (name, reason) in [
            ("w:4096", "not PATH:START:END"),
            (":0:1", "empty path"),
            ("w:+0:1", "offsets are not decimal integers"),
            ("w:00:1", "offsets are not decimal integers"),
            ("w:0:", "offsets are not decimal integers"),
            ("w:5:5", "START is not below END"),
            ("w:0:4097", "shard longer than shard_size"),
            ("w:1:4096", "START is not a multiple of shard_size"),
        ] {
            assert_eq!(
                check_shard_name(name, 4096),
                Err(ModelSignatureError::ShardName {
                    name: name.to_owned(),
                    reason
                }),
                "{name}"
            );
        }
    }

    #[test]
    fn hex_is_lowercase_and_exact() {
        assert_eq!(lower_hex("00ff", 2), Some(vec![0, 255]));
        assert_eq!(lower_hex("00FF", 2), None);
        assert_eq!(lower_hex("00f", 2), None);
        assert_eq!(lower_hex("00ff00", 2), None);
    }
}
