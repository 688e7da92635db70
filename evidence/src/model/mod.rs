//! OpenSSF Model Signing (OMS) v1.0 signatures, as model-signing 1.x writes them: a Sigstore
//! bundle v0.3 wrapping a DSSE envelope wrapping an in-toto Statement v1 whose predicate
//! (`https://model_signing/signature/v1.0`) lists every file or file shard of a model with
//! its digest.
//!
//! * [`SignatureBundle::parse`] reads a bundle; [`SignatureBundle::statement`] reads what it
//!   claims without authenticating it.
//! * [`verify`] checks the signature with trusted [`ModelSigners`] (the key method with
//!   ECDSA P-256/P-384/P-521 keys, or the certificate method with X.509 roots; keyless
//!   Sigstore is refused), then the statement, then the [`SigningRules`].
//! * [`compare_manifest`] compares the signed manifest with the one hashed from the model.
//!
//! Nothing here does I/O or reads the clock. Hashing the model is the caller's job
//! (`warden-model`).

mod bundle;
pub mod cert;
mod error;
mod keys;
mod statement;
mod verify;

pub use self::bundle::{
    MEDIA_TYPE_V03, MEDIA_TYPE_V03_PARAM, SignatureBundle, VerificationMaterial, pae,
};
pub use self::error::{MISMATCH_NAMES_SHOWN, ModelSignatureError};
pub use self::keys::{Curve, ModelSigners, key_hint, public_key_pem};
pub use self::statement::Statement;
pub use self::verify::{
    SerializationMethod, Signer, SigningRules, VerifiedModelSignature, compare_manifest, verify,
};

/// Largest bundle accepted, in bytes. A statement lists about 150 bytes per resource, so this
/// allows some 100,000 resources.
pub const MAX_BUNDLE_LEN: usize = 16 << 20;
/// Most resources a statement may list.
pub const MAX_RESOURCES: usize = 100_000;

/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// `_type` of an in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
/// `predicateType` of OMS v1.0.
pub const PREDICATE_TYPE: &str = "https://model_signing/signature/v1.0";
/// `predicateType` of the legacy model-signing v0.1 format (one subject per file), refused.
pub const LEGACY_PREDICATE_TYPE: &str = "https://model_signing/Digests/v0.1";
