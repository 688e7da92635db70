//! The model manifest, its canonical JSON form and the model digest `M`
//! (`docs/protocol.md`, "Model manifest and M").

use std::fmt;
use std::num::NonZeroU64;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use super::{BindingError, ModelDigest};
use crate::jcs;
use crate::v1;

/// Hash algorithm of the resource digests in a model manifest, named as in OpenSSF Model
/// Signing (OMS).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlgorithm {
    /// SHA-256: 32-byte digests. Name `"sha256"`.
    Sha256,
    /// BLAKE2b-512: 64-byte digests. Name `"blake2b"`.
    Blake2b,
    /// BLAKE3 with its default 32-byte output. Name `"blake3"`.
    Blake3,
}

impl HashAlgorithm {
    /// The name written in the manifest.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Blake2b => "blake2b",
            Self::Blake3 => "blake3",
        }
    }

    /// Length in bytes of one resource digest.
    pub const fn digest_len(self) -> usize {
        match self {
            Self::Sha256 | Self::Blake3 => 32,
            Self::Blake2b => 64,
        }
    }
}

impl FromStr for HashAlgorithm {
    type Err = BindingError;

    /// Parses an exact, lowercase name; anything else is
    /// [`BindingError::UnknownHashAlgorithm`].
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "sha256" => Ok(Self::Sha256),
            "blake2b" => Ok(Self::Blake2b),
            "blake3" => Ok(Self::Blake3),
            _ => Err(BindingError::UnknownHashAlgorithm {
                value: value.to_owned(),
            }),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the model was split into resources (the OMS serialization method).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Serialization {
    /// One resource per file, named by its path. Method `"files"`.
    Files,
    /// One resource per fixed-size shard of a file. Method `"shards"`.
    Shards {
        /// Shard size in bytes. Not part of the model digest: the shard names already carry
        /// each shard's byte range.
        shard_size: NonZeroU64,
    },
}

impl Serialization {
    /// The method name written in the manifest.
    pub const fn method(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Shards { .. } => "shards",
        }
    }

    /// The shard size, for [`Serialization::Shards`].
    pub const fn shard_size(self) -> Option<NonZeroU64> {
        match self {
            Self::Files => None,
            Self::Shards { shard_size } => Some(shard_size),
        }
    }

    /// Reads the method name and optional shard size of a wire manifest.
    fn from_wire(method: &str, shard_size: Option<u64>) -> Result<Self, BindingError> {
        match (method, shard_size) {
            ("files", None) => Ok(Self::Files),
            ("files", Some(_)) => Err(BindingError::ShardSizeUnexpected),
            ("shards", None) => Err(BindingError::ShardSizeMissing),
            ("shards", Some(size)) => NonZeroU64::new(size)
                .map(|shard_size| Self::Shards { shard_size })
                .ok_or(BindingError::ShardSizeZero),
            _ => Err(BindingError::UnknownSerialization {
                value: method.to_owned(),
            }),
        }
    }
}

/// One resource of a model: a name and its digest under the manifest's hash algorithm.
///
/// Unchecked on its own; [`ModelManifest::new`] validates it against the algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelResource {
    name: String,
    digest: Vec<u8>,
}

impl ModelResource {
    /// A resource named `name` (a path relative to the model root, or an OMS shard name) with
    /// raw digest `digest`.
    pub fn new(name: impl Into<String>, digest: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            digest: digest.into(),
        }
    }

    /// The resource's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The resource's raw digest.
    pub fn digest(&self) -> &[u8] {
        &self.digest
    }
}

/// A validated, OMS-compatible model manifest.
///
/// Invariants, checked by every constructor: at least one resource; names non-empty and
/// unique; every digest as long as the hash algorithm's output; resources sorted by name in
/// UTF-8 byte order.
///
/// Its identity, hashed into the model digest `M`, is the serialization method, the hash
/// algorithm and the resources. The shard size and the ignored paths are carried along for
/// the record but are not part of `M`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ModelManifest {
    serialization: Serialization,
    hash_algorithm: HashAlgorithm,
    resources: Vec<ModelResource>,
    ignore_paths: Vec<String>,
}

impl ModelManifest {
    /// Validates and sorts `resources` into a manifest. The input order does not matter.
    pub fn new(
        serialization: Serialization,
        hash_algorithm: HashAlgorithm,
        mut resources: Vec<ModelResource>,
    ) -> Result<Self, BindingError> {
        if resources.is_empty() {
            return Err(BindingError::NoResources);
        }
        let expected = hash_algorithm.digest_len();
        for resource in &resources {
            if resource.name.is_empty() {
                return Err(BindingError::EmptyResourceName);
            }
            if resource.digest.len() != expected {
                return Err(BindingError::ResourceDigestLength {
                    name: resource.name.clone(),
                    algorithm: hash_algorithm,
                    expected,
                    actual: resource.digest.len(),
                });
            }
        }
        // `String`'s order is UTF-8 byte order.
        resources.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in resources.windows(2) {
            if let [a, b] = pair
                && a.name == b.name
            {
                return Err(BindingError::DuplicateResourceName {
                    name: a.name.clone(),
                });
            }
        }
        Ok(Self {
            serialization,
            hash_algorithm,
            resources,
            ignore_paths: Vec::new(),
        })
    }

    /// Records the paths the hashing step ignored. Informational: not part of `M`.
    #[must_use]
    pub fn with_ignore_paths(mut self, ignore_paths: Vec<String>) -> Self {
        self.ignore_paths = ignore_paths;
        self
    }

    /// The serialization method (and shard size).
    pub fn serialization(&self) -> Serialization {
        self.serialization
    }

    /// The hash algorithm of every resource digest.
    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash_algorithm
    }

    /// The resources, sorted by name in UTF-8 byte order.
    pub fn resources(&self) -> &[ModelResource] {
        &self.resources
    }

    /// The paths the hashing step ignored, as given.
    pub fn ignore_paths(&self) -> &[String] {
        &self.ignore_paths
    }

    /// The canonical (RFC 8785) JSON of the manifest, the preimage of `M`:
    /// `{"hash_algorithm":A,"resources":[{"digest":hex,"name":N},...],"serialization":S}`,
    /// resources sorted by name, digests in lowercase hex.
    pub fn canonical_json(&self) -> String {
        // Written directly rather than through `jcs::to_string` (which is fallible because of
        // numbers, absent here); tests check both agree. Member names are in sorted order.
        let mut out = String::from("{\"hash_algorithm\":");
        jcs::write_string(&mut out, self.hash_algorithm.as_str());
        out.push_str(",\"resources\":[");
        for (i, resource) in self.resources.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str("{\"digest\":\"");
            out.push_str(&hex::encode(&resource.digest));
            out.push_str("\",\"name\":");
            jcs::write_string(&mut out, &resource.name);
            out.push('}');
        }
        out.push_str("],\"serialization\":");
        jcs::write_string(&mut out, self.serialization.method());
        out.push('}');
        out
    }

    /// The resources in OpenSSF Model Signing order: paths compared component by component
    /// (`tokenizer/vocab.txt` before `tokenizer.json`), and shards of one file by their start
    /// and end offsets as numbers. This is the order model-signing writes into a signed
    /// statement and hashes into the subject digest; `M` keeps its own (byte) order.
    pub fn oms_resources(&self) -> Vec<&ModelResource> {
        let shards = matches!(self.serialization, Serialization::Shards { .. });
        let mut out: Vec<&ModelResource> = self.resources.iter().collect();
        out.sort_by(|a, b| oms_cmp(&a.name, &b.name, shards));
        out
    }

    /// The OMS subject digest: SHA-256 over the raw resource digests concatenated in
    /// [`ModelManifest::oms_resources`] order. It covers digests only, not names, so it is an
    /// index into signed statements, never an identity on its own (the identity is `M`).
    pub fn subject_digest(&self) -> [u8; 32] {
        subject_digest(self.oms_resources().iter().map(|r| r.digest()))
    }

    /// The model digest `M = SHA-256(canonical_json)`.
    pub fn digest(&self) -> ModelDigest {
        ModelDigest::from_bytes(Sha256::digest(self.canonical_json().as_bytes()).into())
    }
}

/// Compares two resource names in OpenSSF Model Signing order (see
/// [`ModelManifest::oms_resources`]). With `shards`, a name is `PATH:START:END` (split at its
/// last two colons) and the offsets compare as numbers; a shard name that does not have that
/// form sorts by its whole text as a path.
pub fn oms_cmp(a: &str, b: &str, shards: bool) -> std::cmp::Ordering {
    fn path_cmp(a: &str, b: &str) -> std::cmp::Ordering {
        a.split('/').cmp(b.split('/'))
    }
    fn shard(name: &str) -> Option<(&str, u64, u64)> {
        let mut parts = name.rsplitn(3, ':');
        let end = parts.next()?.parse().ok()?;
        let start = parts.next()?.parse().ok()?;
        Some((parts.next()?, start, end))
    }
    if shards && let (Some((pa, sa, ea)), Some((pb, sb, eb))) = (shard(a), shard(b)) {
        return path_cmp(pa, pb).then(sa.cmp(&sb)).then(ea.cmp(&eb));
    }
    path_cmp(a, b)
}

/// SHA-256 over `digests` concatenated in the order given: the OMS subject digest of a
/// statement whose resources are listed in that order.
pub fn subject_digest<'a>(digests: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
    let mut hash = Sha256::new();
    for digest in digests {
        hash.update(digest);
    }
    hash.finalize().into()
}

impl TryFrom<&v1::ModelManifest> for ModelManifest {
    type Error = BindingError;

    /// Validates a wire manifest. Checks, in order: hash algorithm, serialization method and
    /// shard size, then the resources as in [`ModelManifest::new`].
    fn try_from(wire: &v1::ModelManifest) -> Result<Self, Self::Error> {
        let hash_algorithm: HashAlgorithm = wire.hash_algorithm.parse()?;
        let serialization = Serialization::from_wire(&wire.serialization, wire.shard_size)?;
        let resources = wire
            .resources
            .iter()
            .map(|r| ModelResource::new(r.name.clone(), r.digest.clone()))
            .collect();
        Ok(Self::new(serialization, hash_algorithm, resources)?
            .with_ignore_paths(wire.ignore_paths.clone()))
    }
}

impl TryFrom<v1::ModelManifest> for ModelManifest {
    type Error = BindingError;

    /// As for `&v1::ModelManifest`.
    fn try_from(wire: v1::ModelManifest) -> Result<Self, Self::Error> {
        Self::try_from(&wire)
    }
}

impl From<&ModelManifest> for v1::ModelManifest {
    /// The wire form, resources in canonical order.
    fn from(manifest: &ModelManifest) -> Self {
        Self {
            serialization: manifest.serialization.method().to_owned(),
            hash_algorithm: manifest.hash_algorithm.as_str().to_owned(),
            resources: manifest
                .resources
                .iter()
                .map(|r| v1::Resource {
                    name: r.name.clone(),
                    digest: r.digest.clone(),
                })
                .collect(),
            shard_size: manifest.serialization.shard_size().map(NonZeroU64::get),
            ignore_paths: manifest.ignore_paths.clone(),
        }
    }
}

impl From<ModelManifest> for v1::ModelManifest {
    /// As for `&ModelManifest`.
    fn from(manifest: ModelManifest) -> Self {
        Self::from(&manifest)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn wire() -> v1::ModelManifest {
        v1::ModelManifest {
            serialization: "files".to_owned(),
            hash_algorithm: "sha256".to_owned(),
            resources: vec![
                v1::Resource {
                    name: "model.safetensors".to_owned(),
                    digest: vec![1; 32],
                },
                v1::Resource {
                    name: "config.json".to_owned(),
                    digest: vec![2; 32],
                },
            ],
            shard_size: None,
            ignore_paths: Vec::new(),
        }
    }

    fn parse(wire: &v1::ModelManifest) -> Result<ModelManifest, BindingError> {
        ModelManifest::try_from(wire)
    }

    #[test]
    fn accepts_and_sorts() {
        let m = parse(&wire()).unwrap();
        let names: Vec<&str> = m.resources().iter().map(ModelResource::name).collect();
        assert_eq!(names, ["config.json", "model.safetensors"]);
        assert_eq!(m.serialization(), Serialization::Files);
        assert_eq!(m.hash_algorithm(), HashAlgorithm::Sha256);
    }

    #[test]
    fn oms_order_is_component_wise_and_numeric_for_shards() {
        let names = ["tokenizer.json", "tokenizer/vocab.txt", "a:0:10", "b"];
        let mut files = names.to_vec();
        files.sort_by(|a, b| oms_cmp(a, b, false));
        assert_eq!(
            files,
            ["a:0:10", "b", "tokenizer/vocab.txt", "tokenizer.json"]
        );
        let mut shards = [
            "w:8192:9000",
            "w:0:4096",
            "w:4096:8192",
            "v/x:0:1",
            "v.y:0:1",
        ]
        .to_vec();
        shards.sort_by(|a, b| oms_cmp(a, b, true));
        assert_eq!(
            shards,
            [
                "v/x:0:1",
                "v.y:0:1",
                "w:0:4096",
                "w:4096:8192",
                "w:8192:9000"
            ]
        );
        let m = ModelManifest::new(
            Serialization::Files,
            HashAlgorithm::Sha256,
            vec![
                ModelResource::new("tokenizer.json", vec![1; 32]),
                ModelResource::new("tokenizer/vocab.txt", vec![2; 32]),
            ],
        )
        .unwrap();
        let order: Vec<&str> = m.oms_resources().iter().map(|r| r.name()).collect();
        assert_eq!(order, ["tokenizer/vocab.txt", "tokenizer.json"]);
        let mut concat = vec![2; 32];
        concat.extend([1; 32]);
        assert_eq!(
            m.subject_digest(),
            <[u8; 32]>::from(Sha256::digest(&concat))
        );
    }

    #[test]
    fn input_order_does_not_change_m() {
        let mut reversed = wire();
        reversed.resources.reverse();
        assert_eq!(
            parse(&wire()).unwrap().digest(),
            parse(&reversed).unwrap().digest()
        );
    }

    #[test]
    fn sorting_is_utf8_byte_order() {
        // Uppercase sorts before lowercase, and U+FFFF (EF BF BF) before U+10000 (F0 ...), the
        // reverse of UTF-16 order: resource order is not JCS member order.
        let mut w = wire();
        w.resources = ["b", "B", "\u{10000}", "\u{ffff}", "a"]
            .iter()
            .map(|n| v1::Resource {
                name: (*n).to_owned(),
                digest: vec![0; 32],
            })
            .collect();
        let m = parse(&w).unwrap();
        let names: Vec<&str> = m.resources().iter().map(ModelResource::name).collect();
        assert_eq!(names, ["B", "a", "b", "\u{ffff}", "\u{10000}"]);
    }

    #[test]
    fn canonical_json_equals_generic_jcs() {
        let mut w = wire();
        w.resources.push(v1::Resource {
            name: "odd \"name\"\\\n\u{1}/\u{e9}\u{1f600}".to_owned(),
            digest: vec![0xfe; 32],
        });
        let m = parse(&w).unwrap();
        let value = json!({
            "serialization": "files",
            "hash_algorithm": "sha256",
            "resources": m.resources().iter().map(|r| json!({
                "name": r.name(),
                "digest": hex::encode(r.digest()),
            })).collect::<Vec<_>>(),
        });
        assert_eq!(m.canonical_json(), jcs::to_string(&value).unwrap());
        let expected: [u8; 32] = Sha256::digest(m.canonical_json().as_bytes()).into();
        assert_eq!(m.digest().as_bytes(), &expected);
    }

    #[test]
    fn algorithm_and_method_change_m() {
        let base = parse(&wire()).unwrap().digest();
        let mut w = wire();
        w.hash_algorithm = "blake3".to_owned();
        assert_ne!(parse(&w).unwrap().digest(), base);
        let mut w = wire();
        w.serialization = "shards".to_owned();
        w.shard_size = Some(4096);
        assert_ne!(parse(&w).unwrap().digest(), base);
    }

    #[test]
    fn shard_size_and_ignore_paths_do_not_change_m() {
        let mut a = wire();
        a.serialization = "shards".to_owned();
        a.shard_size = Some(4096);
        let mut b = a.clone();
        b.shard_size = Some(1 << 30);
        b.ignore_paths = vec![".git".to_owned(), "README.md".to_owned()];
        assert_eq!(parse(&a).unwrap().digest(), parse(&b).unwrap().digest());
    }

    #[test]
    fn digest_lengths_per_algorithm() {
        for (name, len) in [("sha256", 32), ("blake2b", 64), ("blake3", 32)] {
            let mut w = wire();
            w.hash_algorithm = name.to_owned();
            for r in &mut w.resources {
                r.digest = vec![0; len];
            }
            assert!(parse(&w).is_ok(), "{name}");
            w.resources[1].digest.push(0);
            assert_eq!(
                parse(&w),
                Err(BindingError::ResourceDigestLength {
                    name: "config.json".to_owned(),
                    algorithm: name.parse().unwrap(),
                    expected: len,
                    actual: len + 1,
                })
            );
        }
    }

    #[test]
    fn rejects_unknown_algorithm_and_method() {
        for bad in ["", "SHA256", "sha-256", "blake2", "sha512"] {
            let mut w = wire();
            w.hash_algorithm = bad.to_owned();
            assert_eq!(
                parse(&w),
                Err(BindingError::UnknownHashAlgorithm {
                    value: bad.to_owned()
                })
            );
        }
        for bad in ["", "Files", "digest"] {
            let mut w = wire();
            w.serialization = bad.to_owned();
            assert_eq!(
                parse(&w),
                Err(BindingError::UnknownSerialization {
                    value: bad.to_owned()
                })
            );
        }
    }

    #[test]
    fn shard_size_rules() {
        let mut w = wire();
        w.shard_size = Some(4096);
        assert_eq!(parse(&w), Err(BindingError::ShardSizeUnexpected));
        let mut w = wire();
        w.serialization = "shards".to_owned();
        assert_eq!(parse(&w), Err(BindingError::ShardSizeMissing));
        w.shard_size = Some(0);
        assert_eq!(parse(&w), Err(BindingError::ShardSizeZero));
        w.shard_size = Some(4096);
        let m = parse(&w).unwrap();
        assert_eq!(
            m.serialization().shard_size().map(NonZeroU64::get),
            Some(4096)
        );
    }

    #[test]
    fn rejects_bad_resources() {
        let mut w = wire();
        w.resources.clear();
        assert_eq!(parse(&w), Err(BindingError::NoResources));

        let mut w = wire();
        w.resources[0].name.clear();
        assert_eq!(parse(&w), Err(BindingError::EmptyResourceName));

        let mut w = wire();
        w.resources.push(v1::Resource {
            name: "config.json".to_owned(),
            digest: vec![3; 32],
        });
        assert_eq!(
            parse(&w),
            Err(BindingError::DuplicateResourceName {
                name: "config.json".to_owned()
            })
        );
    }

    #[test]
    fn wire_round_trip() {
        let mut w = wire();
        w.serialization = "shards".to_owned();
        w.shard_size = Some(1 << 20);
        w.ignore_paths = vec![".git".to_owned()];
        let m = parse(&w).unwrap();
        let back = v1::ModelManifest::from(&m);
        // Resources come back in canonical order; everything else unchanged.
        let mut sorted = w;
        sorted.resources.sort_by(|a, b| a.name.cmp(&b.name));
        assert_eq!(back, sorted);
        assert_eq!(ModelManifest::try_from(back).unwrap(), m);
        assert_eq!(
            v1::ModelManifest::from(m.clone()),
            v1::ModelManifest::from(&m)
        );
    }

    #[test]
    fn algorithm_names_round_trip() {
        for alg in [
            HashAlgorithm::Sha256,
            HashAlgorithm::Blake2b,
            HashAlgorithm::Blake3,
        ] {
            assert_eq!(alg.as_str().parse::<HashAlgorithm>(), Ok(alg));
            assert_eq!(alg.to_string(), alg.as_str());
        }
    }
}
