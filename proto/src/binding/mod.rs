//! The binding rules (`docs/protocol.md`, "Binding rules"): how the verifier's nonce, the
//! agent's TEE key, the model and the GPU evidence are tied into the 64-byte REPORT_DATA of the
//! CPU TEE's signed report.
//!
//! Both sides call the same functions: the agent to produce REPORT_DATA and the GPU nonce, the
//! verifier to recompute them from the evidence bundle and compare with
//! [`verify_report_data`]. Every hash input is versioned (`v1` in the domain tags, `"v":1` in
//! the REPORT_DATA object) so that a later protocol version cannot be confused with this one.

mod manifest;
#[cfg(test)]
mod vectors;

use std::fmt;

use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

pub use self::manifest::{
    HashAlgorithm, ModelManifest, ModelResource, Serialization, oms_cmp, subject_digest,
};
use crate::v1;

/// Version number written as `"v"` in the REPORT_DATA object.
pub const REPORT_DATA_VERSION: u64 = 1;

/// Length of REPORT_DATA in bytes (SHA-512 output; the size of the SNP and TDX fields).
pub const REPORT_DATA_LEN: usize = 64;

/// Domain tag of the GPU nonce hash.
pub const GPU_NONCE_TAG: &[u8] = b"warden/v1/gpu-nonce";

/// Domain tag of the GPU digest hash.
pub const GPU_DIGEST_TAG: &[u8] = b"warden/v1/gpu-digest";

/// Prefix of the HPKE `info` string with which the key broker seals a released key.
pub const KEY_RELEASE_TAG: &[u8] = b"warden/v1/key-release";

/// Why binding inputs were rejected or did not match.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// The nonce is not exactly 32 bytes.
    #[error("nonce must be 32 bytes, got {actual}")]
    NonceLength {
        /// Length received.
        actual: usize,
    },
    /// The TEE public key is not exactly 32 bytes.
    #[error("TEE public key must be 32 bytes (X25519), got {actual}")]
    TeePublicKeyLength {
        /// Length received.
        actual: usize,
    },
    /// A model digest is not exactly 32 bytes.
    #[error("model digest must be 32 bytes, got {actual}")]
    ModelDigestLength {
        /// Length received.
        actual: usize,
    },
    /// A GPU nonce is not exactly 32 bytes.
    #[error("GPU nonce must be 32 bytes, got {actual}")]
    GpuNonceLength {
        /// Length received.
        actual: usize,
    },
    /// A GPU digest is not exactly 32 bytes.
    #[error("GPU digest must be 32 bytes, got {actual}")]
    GpuDigestLength {
        /// Length received.
        actual: usize,
    },
    /// The REPORT_DATA taken from the evidence is not exactly 64 bytes. It is never padded or
    /// truncated to fit.
    #[error("REPORT_DATA must be 64 bytes, got {actual}")]
    ReportDataLength {
        /// Length received.
        actual: usize,
    },
    /// The REPORT_DATA in the evidence differs from the value recomputed from the bundle.
    #[error("REPORT_DATA does not match the nonce, TEE key, model and GPU evidence")]
    ReportDataMismatch,
    /// The evidence bundle has no model manifest.
    #[error("evidence bundle has no model manifest")]
    MissingModel,
    /// The manifest names a hash algorithm other than sha256, blake2b or blake3.
    #[error("unknown model hash algorithm {value:?}")]
    UnknownHashAlgorithm {
        /// The algorithm name received.
        value: String,
    },
    /// The manifest names a serialization method other than files or shards.
    #[error("unknown model serialization method {value:?}")]
    UnknownSerialization {
        /// The method name received.
        value: String,
    },
    /// A "shards" manifest has no shard size.
    #[error("serialization \"shards\" requires a shard size")]
    ShardSizeMissing,
    /// A "shards" manifest has a shard size of zero.
    #[error("shard size must not be zero")]
    ShardSizeZero,
    /// A "files" manifest has a shard size.
    #[error("serialization \"files\" must not have a shard size")]
    ShardSizeUnexpected,
    /// The manifest lists no resources.
    #[error("model manifest lists no resources")]
    NoResources,
    /// A resource has an empty name.
    #[error("model resource with an empty name")]
    EmptyResourceName,
    /// Two resources have the same name.
    #[error("model resource {name:?} is listed more than once")]
    DuplicateResourceName {
        /// The repeated name.
        name: String,
    },
    /// A resource digest's length does not fit the manifest's hash algorithm.
    #[error(
        "digest of model resource {name:?} must be {expected} bytes for {algorithm}, got {actual}"
    )]
    ResourceDigestLength {
        /// The resource's name.
        name: String,
        /// The manifest's hash algorithm.
        algorithm: HashAlgorithm,
        /// Length the algorithm produces.
        expected: usize,
        /// Length received.
        actual: usize,
    },
}

/// Declares a fixed-length byte string newtype with a strict slice constructor.
macro_rules! fixed_bytes {
    ($(#[$meta:meta])* $name:ident, $len:literal, $error:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name([u8; $len]);

        impl $name {
            /// Length in bytes.
            pub const LEN: usize = $len;

            /// Wraps bytes of the right length.
            pub const fn from_bytes(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }

            /// Copies `bytes`, which must be exactly [`Self::LEN`] long: nothing is padded or
            /// truncated.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, BindingError> {
                <[u8; $len]>::try_from(bytes)
                    .map(Self)
                    .map_err(|_| BindingError::$error { actual: bytes.len() })
            }

            /// The bytes.
            pub const fn as_bytes(&self) -> &[u8; $len] {
                &self.0
            }

            /// Lowercase hex, as written in the canonical JSON objects.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
        }

        impl From<[u8; $len]> for $name {
            fn from(bytes: [u8; $len]) -> Self {
                Self(bytes)
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.to_hex())
            }
        }
    };
}

fixed_bytes!(
    /// The verifier's nonce `N`: 32 bytes from its CSPRNG, single use.
    Nonce,
    32,
    NonceLength
);

fixed_bytes!(
    /// The agent's TEE key `pk`: an HPKE (RFC 9180) DHKEM(X25519, HKDF-SHA256) public key,
    /// 32 bytes, generated inside the TEE for one attestation.
    TeePublicKey,
    32,
    TeePublicKeyLength
);

fixed_bytes!(
    /// The model digest `M`: SHA-256 of the canonical model manifest
    /// ([`ModelManifest::digest`]).
    ModelDigest,
    32,
    ModelDigestLength
);

fixed_bytes!(
    /// The GPU nonce: the 32 bytes handed to NVML as the attestation report nonce
    /// ([`gpu_nonce`]).
    GpuNonce,
    32,
    GpuNonceLength
);

fixed_bytes!(
    /// The GPU digest `D_i`: binds one GPU's report and certificate chain ([`gpu_digest`]).
    GpuDigest,
    32,
    GpuDigestLength
);

/// The GPU nonce: `SHA-256("warden/v1/gpu-nonce" || N || pk)`.
///
/// The same value for every GPU of the attestation: each GPU's report is then told apart by
/// its own signature and position in the evidence list.
pub fn gpu_nonce(nonce: &Nonce, tee_pubkey: &TeePublicKey) -> GpuNonce {
    let digest = Sha256::new()
        .chain_update(GPU_NONCE_TAG)
        .chain_update(nonce.as_bytes())
        .chain_update(tee_pubkey.as_bytes())
        .finalize();
    GpuNonce(digest.into())
}

/// The GPU digest `D_i` of one GPU's evidence:
/// `SHA-256("warden/v1/gpu-digest" || u64be(len(report)) || report || u64be(len(chain)) || chain)`.
///
/// The length prefixes make the split between report and chain unambiguous: moving bytes from
/// one to the other changes the digest.
pub fn gpu_digest(report: &[u8], certificate_chain: &[u8]) -> GpuDigest {
    let digest = Sha256::new()
        .chain_update(GPU_DIGEST_TAG)
        .chain_update(len_be(report))
        .chain_update(report)
        .chain_update(len_be(certificate_chain))
        .chain_update(certificate_chain)
        .finalize();
    GpuDigest(digest.into())
}

/// The big-endian u64 length prefix of `bytes`.
fn len_be(bytes: &[u8]) -> [u8; 8] {
    // usize is at most 64 bits on every target Rust supports, so this never truncates.
    (bytes.len() as u64).to_be_bytes()
}

/// The canonical JSON whose SHA-512 is REPORT_DATA:
/// `{"gpus":[hex(D_1),...],"model":hex(M),"nonce":hex(N),"tee_pubkey":hex(pk),"v":1}`.
///
/// This is the RFC 8785 encoding of the object: members in sorted order, no whitespace, every
/// byte string as lowercase hex (which JSON never escapes), GPUs in evidence order. Exposed
/// so that operators can log the exact preimage.
pub fn report_data_json(
    nonce: &Nonce,
    tee_pubkey: &TeePublicKey,
    model: &ModelDigest,
    gpus: &[GpuDigest],
) -> String {
    // Written directly rather than through `jcs::to_string` because every part is fixed ASCII
    // or hex, so it cannot fail; tests check it equals the generic encoder's output.
    let gpus: Vec<String> = gpus.iter().map(|d| format!("\"{}\"", d.to_hex())).collect();
    format!(
        "{{\"gpus\":[{}],\"model\":\"{}\",\"nonce\":\"{}\",\"tee_pubkey\":\"{}\",\"v\":{}}}",
        gpus.join(","),
        model.to_hex(),
        nonce.to_hex(),
        tee_pubkey.to_hex(),
        REPORT_DATA_VERSION,
    )
}

/// `REPORT_DATA = SHA-512(JCS({"v":1,"nonce":N,"tee_pubkey":pk,"model":M,"gpus":[D_1..D_n]}))`.
pub fn report_data(
    nonce: &Nonce,
    tee_pubkey: &TeePublicKey,
    model: &ModelDigest,
    gpus: &[GpuDigest],
) -> [u8; REPORT_DATA_LEN] {
    Sha512::digest(report_data_json(nonce, tee_pubkey, model, gpus).as_bytes()).into()
}

/// Recomputes REPORT_DATA from an evidence bundle: its nonce, TEE key, model manifest and the
/// report and certificate chain of each GPU, in order. The CPU evidence is not an input.
///
/// Fails if the nonce or key has the wrong length, the model is missing, or the manifest is
/// invalid.
pub fn report_data_for_bundle(
    bundle: &v1::EvidenceBundle,
) -> Result<[u8; REPORT_DATA_LEN], BindingError> {
    let nonce = Nonce::from_slice(&bundle.nonce)?;
    let tee_pubkey = TeePublicKey::from_slice(&bundle.tee_pubkey)?;
    let model = ModelManifest::try_from(bundle.model.as_ref().ok_or(BindingError::MissingModel)?)?;
    let gpus: Vec<GpuDigest> = bundle
        .gpus
        .iter()
        .map(|g| gpu_digest(&g.report, &g.certificate_chain))
        .collect();
    Ok(report_data(&nonce, &tee_pubkey, &model.digest(), &gpus))
}

/// Checks REPORT_DATA taken from a verified CPU report against the recomputed value.
///
/// All 64 bytes are compared in constant time. An `actual` of any other length is rejected
/// ([`BindingError::ReportDataLength`]), never padded or truncated; a difference is
/// [`BindingError::ReportDataMismatch`].
pub fn verify_report_data(
    expected: &[u8; REPORT_DATA_LEN],
    actual: &[u8],
) -> Result<(), BindingError> {
    let actual: &[u8; REPORT_DATA_LEN] =
        actual
            .try_into()
            .map_err(|_| BindingError::ReportDataLength {
                actual: actual.len(),
            })?;
    if bool::from(expected.ct_eq(actual)) {
        Ok(())
    } else {
        Err(BindingError::ReportDataMismatch)
    }
}

/// The HPKE `info` with which the key broker seals key `key_id` in the session of nonce `N`:
/// `"warden/v1/key-release" || N || UTF-8(key_id)`.
///
/// Used by the key broker and the agent only, not part of REPORT_DATA. The tag and `N` have
/// fixed lengths, so the key id, which runs to the end, needs no length prefix.
pub fn key_release_info(nonce: &Nonce, key_id: &str) -> Vec<u8> {
    let mut info = Vec::with_capacity(KEY_RELEASE_TAG.len() + Nonce::LEN + key_id.len());
    info.extend_from_slice(KEY_RELEASE_TAG);
    info.extend_from_slice(nonce.as_bytes());
    info.extend_from_slice(key_id.as_bytes());
    info
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jcs;

    fn nonce() -> Nonce {
        Nonce::from_bytes(std::array::from_fn(|i| i as u8))
    }

    fn pk() -> TeePublicKey {
        TeePublicKey::from_bytes(std::array::from_fn(|i| 0x20 + i as u8))
    }

    fn model() -> ModelDigest {
        ModelDigest::from_bytes([0xaa; 32])
    }

    #[test]
    fn from_slice_is_strict() {
        assert_eq!(Nonce::from_slice(&[0; 32]), Ok(Nonce::from_bytes([0; 32])));
        assert_eq!(
            Nonce::from_slice(&[0; 31]),
            Err(BindingError::NonceLength { actual: 31 })
        );
        assert_eq!(
            Nonce::from_slice(&[0; 33]),
            Err(BindingError::NonceLength { actual: 33 })
        );
        assert_eq!(
            Nonce::from_slice(&[]),
            Err(BindingError::NonceLength { actual: 0 })
        );
        assert_eq!(
            TeePublicKey::from_slice(&[1; 32]),
            Ok(TeePublicKey::from_bytes([1; 32]))
        );
        assert_eq!(
            TeePublicKey::from_slice(&[1; 64]),
            Err(BindingError::TeePublicKeyLength { actual: 64 })
        );
        assert_eq!(
            ModelDigest::from_slice(&[0; 48]),
            Err(BindingError::ModelDigestLength { actual: 48 })
        );
        assert_eq!(
            GpuNonce::from_slice(&[0; 1]),
            Err(BindingError::GpuNonceLength { actual: 1 })
        );
        assert_eq!(
            GpuDigest::from_slice(&[0; 31]),
            Err(BindingError::GpuDigestLength { actual: 31 })
        );
    }

    #[test]
    fn debug_and_hex_are_lowercase_hex() {
        let n = Nonce::from_bytes([0xab; 32]);
        assert_eq!(n.to_hex(), "ab".repeat(32));
        assert_eq!(format!("{n:?}"), format!("Nonce({})", "ab".repeat(32)));
        assert_eq!(n.as_ref(), &[0xab; 32]);
        assert_eq!(Nonce::from([0xab; 32]), n);
    }

    #[test]
    fn gpu_nonce_depends_on_nonce_and_key() {
        let g = gpu_nonce(&nonce(), &pk());
        assert_ne!(g, gpu_nonce(&Nonce::from_bytes([0; 32]), &pk()));
        assert_ne!(g, gpu_nonce(&nonce(), &TeePublicKey::from_bytes([0; 32])));
        // Swapping N and pk is a different input.
        let swapped = gpu_nonce(
            &Nonce::from_bytes(*pk().as_bytes()),
            &TeePublicKey::from_bytes(*nonce().as_bytes()),
        );
        assert_ne!(g, swapped);
    }

    #[test]
    fn gpu_digest_framing_is_unambiguous() {
        assert_ne!(gpu_digest(b"ab", b"c"), gpu_digest(b"a", b"bc"));
        assert_ne!(gpu_digest(b"abc", b""), gpu_digest(b"", b"abc"));
        assert_ne!(gpu_digest(b"", b""), gpu_digest(b"\0", b""));
    }

    #[test]
    fn gpu_digest_matches_spelled_out_preimage() {
        let mut preimage = b"warden/v1/gpu-digest".to_vec();
        preimage.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 3]);
        preimage.extend_from_slice(b"rep");
        preimage.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 2]);
        preimage.extend_from_slice(b"ch");
        let expected: [u8; 32] = Sha256::digest(&preimage).into();
        assert_eq!(gpu_digest(b"rep", b"ch").as_bytes(), &expected);
    }

    #[test]
    fn report_data_json_equals_generic_jcs() {
        let gpu_lists: [&[GpuDigest]; 4] = [
            &[],
            &[GpuDigest::from_bytes([1; 32])],
            &[
                GpuDigest::from_bytes([1; 32]),
                GpuDigest::from_bytes([2; 32]),
            ],
            &[GpuDigest::from_bytes([9; 32]); 8],
        ];
        for gpus in gpu_lists {
            let value = json!({
                "v": 1,
                "nonce": nonce().to_hex(),
                "tee_pubkey": pk().to_hex(),
                "model": model().to_hex(),
                "gpus": gpus.iter().map(GpuDigest::to_hex).collect::<Vec<_>>(),
            });
            assert_eq!(
                report_data_json(&nonce(), &pk(), &model(), gpus),
                jcs::to_string(&value).unwrap()
            );
        }
    }

    #[test]
    fn report_data_is_sha512_of_json_and_gpu_order_matters() {
        let d1 = GpuDigest::from_bytes([1; 32]);
        let d2 = GpuDigest::from_bytes([2; 32]);
        let rd = report_data(&nonce(), &pk(), &model(), &[d1, d2]);
        let json = report_data_json(&nonce(), &pk(), &model(), &[d1, d2]);
        let expected: [u8; 64] = Sha512::digest(json.as_bytes()).into();
        assert_eq!(rd, expected);
        assert_ne!(rd, report_data(&nonce(), &pk(), &model(), &[d2, d1]));
        assert_ne!(rd, report_data(&nonce(), &pk(), &model(), &[d1]));
    }

    #[test]
    fn verify_report_data_accepts_exact_match_only() {
        let rd = report_data(&nonce(), &pk(), &model(), &[]);
        assert_eq!(verify_report_data(&rd, &rd), Ok(()));
        for i in 0..REPORT_DATA_LEN {
            let mut other = rd;
            other[i] ^= 0x01;
            assert_eq!(
                verify_report_data(&rd, &other),
                Err(BindingError::ReportDataMismatch)
            );
        }
    }

    #[test]
    fn verify_report_data_never_pads_or_truncates() {
        let rd = report_data(&nonce(), &pk(), &model(), &[]);
        // A 32-byte prefix of the right value is still wrong.
        assert_eq!(
            verify_report_data(&rd, &rd[..32]),
            Err(BindingError::ReportDataLength { actual: 32 })
        );
        let mut longer = rd.to_vec();
        longer.push(0);
        assert_eq!(
            verify_report_data(&rd, &longer),
            Err(BindingError::ReportDataLength { actual: 65 })
        );
        assert_eq!(
            verify_report_data(&rd, &[]),
            Err(BindingError::ReportDataLength { actual: 0 })
        );
    }

    fn bundle() -> v1::EvidenceBundle {
        v1::EvidenceBundle {
            nonce: nonce().as_bytes().to_vec(),
            cpu: None,
            gpus: vec![v1::GpuEvidence {
                report: b"r".to_vec(),
                certificate_chain: b"c".to_vec(),
                arch: "HOPPER".to_owned(),
                ocsp_responses: Vec::new(),
            }],
            model: Some(v1::ModelManifest {
                serialization: "files".to_owned(),
                hash_algorithm: "sha256".to_owned(),
                resources: vec![v1::Resource {
                    name: "w".to_owned(),
                    digest: vec![0; 32],
                }],
                shard_size: None,
                ignore_paths: Vec::new(),
            }),
            tee_pubkey: pk().as_bytes().to_vec(),
            model_signature: Vec::new(),
        }
    }

    #[test]
    fn report_data_for_bundle_uses_every_bound_field() {
        let b = bundle();
        let manifest = ModelManifest::try_from(b.model.as_ref().unwrap()).unwrap();
        let expected = report_data(
            &nonce(),
            &pk(),
            &manifest.digest(),
            &[gpu_digest(b"r", b"c")],
        );
        assert_eq!(report_data_for_bundle(&b), Ok(expected));

        // Fields outside the binding do not change it.
        let mut unbound = bundle();
        unbound.gpus[0].arch = "BLACKWELL".to_owned();
        unbound.gpus[0].ocsp_responses.push(vec![1]);
        unbound
            .model
            .as_mut()
            .unwrap()
            .ignore_paths
            .push(".git".to_owned());
        assert_eq!(report_data_for_bundle(&unbound), Ok(expected));

        // Each bound field does.
        let mut changed = bundle();
        changed.gpus[0].report.push(0);
        assert_ne!(report_data_for_bundle(&changed), Ok(expected));
        let mut changed = bundle();
        changed.model.as_mut().unwrap().resources[0].digest[0] = 1;
        assert_ne!(report_data_for_bundle(&changed), Ok(expected));
    }

    #[test]
    fn report_data_for_bundle_rejects_bad_inputs() {
        let mut b = bundle();
        b.nonce.pop();
        assert_eq!(
            report_data_for_bundle(&b),
            Err(BindingError::NonceLength { actual: 31 })
        );
        let mut b = bundle();
        b.tee_pubkey.clear();
        assert_eq!(
            report_data_for_bundle(&b),
            Err(BindingError::TeePublicKeyLength { actual: 0 })
        );
        let mut b = bundle();
        b.model = None;
        assert_eq!(report_data_for_bundle(&b), Err(BindingError::MissingModel));
        let mut b = bundle();
        b.model.as_mut().unwrap().resources.clear();
        assert_eq!(report_data_for_bundle(&b), Err(BindingError::NoResources));
    }

    #[test]
    fn key_release_info_layout() {
        let info = key_release_info(&nonce(), "k");
        assert_eq!(&info[..21], b"warden/v1/key-release");
        assert_eq!(&info[21..53], nonce().as_bytes());
        assert_eq!(&info[53..], b"k");
    }

    #[test]
    fn no_domain_tag_is_a_prefix_of_another() {
        let tags = [GPU_NONCE_TAG, GPU_DIGEST_TAG, KEY_RELEASE_TAG];
        for (i, a) in tags.iter().enumerate() {
            for (j, b) in tags.iter().enumerate() {
                if i != j {
                    assert!(!b.starts_with(a), "{a:?} is a prefix of {b:?}");
                }
            }
        }
    }
}
