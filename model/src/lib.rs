//! Model hashing for Warden: the OpenSSF Model Signing (OMS) v1.0 manifest of a model
//! directory, with digests identical to `model-signing` 1.1.1, and the streaming hasher the
//! agent uses while it decrypts a model.
//!
//! - [`hash`]: hashing a model directory or file ([`hash::hash_model`]), in parallel, with
//!   bounded memory.
//! - [`oms`]: the in-toto statement model-signing signs for a manifest.
//! - [`digest`], [`stream`]: the content hasher and the in-order file hasher.
//!
//! The rules (component-wise order, root-only git ignores, empty files, shard names,
//! single-file models, symlinks) are in `docs/protocol.md`, "Model manifest and M".

pub mod digest;
pub mod hash;
pub mod oms;
pub mod signed;
pub mod stream;

pub use digest::ContentHasher;
pub use hash::{HashError, HashOptions, HashedModel, NoProgress, Progress, hash_model};
pub use stream::FileHasher;
