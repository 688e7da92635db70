//! One content hasher over the OMS hash types.

use blake2::Blake2b512;
use sha2::{Digest, Sha256};
use warden_proto::binding::HashAlgorithm;

/// An incremental hash of one resource's bytes under a manifest's [`HashAlgorithm`].
#[derive(Clone)]
pub enum ContentHasher {
    /// SHA-256.
    Sha256(Sha256),
    /// BLAKE2b with its 64-byte output (hashlib's `blake2b()` default).
    Blake2b(Box<Blake2b512>),
    /// BLAKE3, 32-byte output.
    Blake3(Box<blake3::Hasher>),
}

impl std::fmt::Debug for ContentHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Sha256(_) => "ContentHasher(sha256)",
            Self::Blake2b(_) => "ContentHasher(blake2b)",
            Self::Blake3(_) => "ContentHasher(blake3)",
        })
    }
}

impl ContentHasher {
    /// A fresh hasher for `algorithm`.
    pub fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
            HashAlgorithm::Blake2b => Self::Blake2b(Box::default()),
            HashAlgorithm::Blake3 => Self::Blake3(Box::default()),
            // `HashAlgorithm` is non_exhaustive; every variant it has today is above.
            #[allow(unreachable_patterns)]
            _ => unreachable!("unknown hash algorithm"),
        }
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha256(h) => h.update(bytes),
            Self::Blake2b(h) => h.update(bytes),
            Self::Blake3(h) => {
                h.update(bytes);
            }
        }
    }

    /// The raw digest (32 bytes, or 64 for BLAKE2b).
    pub fn finalize(self) -> Vec<u8> {
        match self {
            Self::Sha256(h) => h.finalize().to_vec(),
            Self::Blake2b(h) => h.finalize().to_vec(),
            Self::Blake3(h) => h.finalize().as_bytes().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_input_digests() {
        let hex = |a| hex::encode(ContentHasher::new(a).finalize());
        assert_eq!(
            hex(HashAlgorithm::Sha256),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert!(hex(HashAlgorithm::Blake2b).starts_with("786a02f742015903c6c6fd852552d272"));
        assert_eq!(
            hex(HashAlgorithm::Blake3),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }
}
