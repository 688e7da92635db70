//! Model hashing for Warden: the OpenSSF Model Signing (OMS) v1.0 manifest of a model
//! directory, with digests identical to `model-signing` 1.1.1, and the streaming hasher the
//! agent uses while it decrypts a model.
//!
//! The rules (component-wise order, root-only git ignores, empty files, shard names,
//! single-file models, symlinks) are in `docs/protocol.md`, "Model manifest and M".

pub mod digest;
pub mod stream;

pub use digest::ContentHasher;
pub use stream::FileHasher;
