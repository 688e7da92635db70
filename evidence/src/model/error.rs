//! Why an OMS signature bundle was rejected.

use std::fmt;

use warden_proto::binding::{BindingError, HashAlgorithm};

/// How many names of each kind a [`ModelSignatureError::ManifestMismatch`] message lists.
pub const MISMATCH_NAMES_SHOWN: usize = 20;

/// Why an OpenSSF Model Signing bundle, its statement or a model manifest was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelSignatureError {
    /// The bundle is larger than [`super::MAX_BUNDLE_LEN`].
    #[error("signature bundle is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// Length received.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The bundle or the statement is not JSON of the expected shape (including a duplicated
    /// known member).
    #[error("{what} is not valid JSON of the expected shape: {reason}")]
    Json {
        /// `bundle` or `statement`.
        what: &'static str,
        /// serde_json's message.
        reason: String,
    },
    /// `mediaType` is not a Sigstore bundle v0.3.
    #[error("bundle mediaType {value:?} is not a Sigstore bundle v0.3")]
    MediaType {
        /// The media type found.
        value: String,
    },
    /// No `dsseEnvelope` (a message-signature bundle, or none at all).
    #[error("bundle has no dsseEnvelope")]
    NoEnvelope,
    /// The DSSE payload type is not in-toto JSON.
    #[error("DSSE payloadType {value:?} is not application/vnd.in-toto+json")]
    PayloadType {
        /// The payload type found.
        value: String,
    },
    /// The envelope does not carry exactly one signature.
    #[error("DSSE envelope has {count} signatures, expected exactly one")]
    SignatureCount {
        /// Signatures found.
        count: usize,
    },
    /// A base64 field does not decode (standard alphabet, padded).
    #[error("{field} is not valid base64")]
    Base64 {
        /// The field.
        field: &'static str,
    },
    /// `verificationMaterial` holds none, or more than one, of publicKey,
    /// x509CertificateChain and certificate.
    #[error(
        "verificationMaterial must hold exactly one of publicKey, x509CertificateChain, certificate"
    )]
    VerificationMaterial,
    /// A Fulcio certificate (Sigstore keyless signing); needs Rekor and a Sigstore trust root.
    #[error("keyless Sigstore bundles (Fulcio + Rekor) are not supported")]
    KeylessUnsupported,
    /// The bundle names a key hint that no configured key has.
    #[error("no configured model signing key has hint {hint}")]
    UnknownSigningKey {
        /// The bundle's hint.
        hint: String,
    },
    /// No signing key or certificate root is configured for the bundle's method.
    #[error("no trusted {method} is configured")]
    NoTrust {
        /// `public key` or `certificate root`.
        method: &'static str,
    },
    /// A configured or certified key is not ECDSA P-256, P-384 or P-521 (or, for roots and
    /// intermediates, RSA), or does not parse.
    #[error("unsupported or malformed key: {reason}")]
    UnsupportedKey {
        /// What is wrong.
        reason: &'static str,
    },
    /// The DSSE signature does not verify with the key (or with any configured key, for a
    /// bundle without hint).
    #[error("DSSE signature does not verify")]
    SignatureInvalid,
    /// A configured root certificate does not parse.
    #[error("root certificate: {reason}")]
    InvalidRoot {
        /// What is wrong.
        reason: &'static str,
    },
    /// A certificate of the chain (0 = leaf) is malformed or outside the profile.
    #[error("certificate {index}: {reason}")]
    Certificate {
        /// Position in the chain, leaf first; the configured root is `chain length`.
        index: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A certificate is not valid at the signing time (the leaf's notBefore).
    #[error("certificate {index} is not valid at the signing time {at}")]
    CertificateValidity {
        /// Position in the chain, leaf first; the configured root is `chain length`.
        index: usize,
        /// The signing time.
        at: crate::UnixTime,
    },
    /// The leaf's notBefore, used as signing time, is after the verification time.
    #[error("leaf certificate notBefore {not_before} is after the verification time {now}")]
    SignedInFuture {
        /// The leaf's notBefore.
        not_before: crate::UnixTime,
        /// The verification time.
        now: crate::UnixTime,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("certificate {index}: signature does not verify with its issuer's key")]
    ChainSignature {
        /// Position of the signed certificate, leaf first.
        index: usize,
    },
    /// The chain does not end at a configured root.
    #[error("certificate chain does not lead to a configured root")]
    ChainUntrusted,
    /// The leaf lacks extendedKeyUsage codeSigning, or has keyUsage without
    /// digitalSignature.
    #[error("leaf certificate is not for code signing: {reason}")]
    NotCodeSigning {
        /// What is missing.
        reason: &'static str,
    },
    /// The statement `_type` is not in-toto Statement v1.
    #[error("statement _type {value:?} is not https://in-toto.io/Statement/v1")]
    StatementType {
        /// The type found.
        value: String,
    },
    /// The legacy `https://model_signing/Digests/v0.1` predicate (one subject per file).
    #[error("legacy model-signing v0.1 predicate is not supported")]
    LegacyPredicate,
    /// The predicate type is not OMS v1.0.
    #[error("predicateType {value:?} is not https://model_signing/signature/v1.0")]
    PredicateType {
        /// The type found.
        value: String,
    },
    /// The statement does not have exactly one subject.
    #[error("statement has {count} subjects, expected exactly one")]
    SubjectCount {
        /// Subjects found.
        count: usize,
    },
    /// The subject has no well-formed `digest.sha256`.
    #[error("subject digest.sha256 is missing or not 64 lowercase hex digits")]
    SubjectDigestFormat,
    /// The subject digest is not SHA-256 over the resource digests in listed order.
    #[error("subject digest {expected} does not match {computed} computed over the resources")]
    SubjectDigest {
        /// The signed subject digest, hex.
        expected: String,
        /// SHA-256 over the listed resource digests, hex.
        computed: String,
    },
    /// `predicate.serialization` is malformed.
    #[error("predicate serialization: {0}")]
    Serialization(&'static str),
    /// `method` is neither `files` nor `shards`.
    #[error("unknown serialization method {value:?}")]
    UnknownMethod {
        /// The method found.
        value: String,
    },
    /// `hash_type` is not sha256, blake2b or blake3 (or blake3 with shards).
    #[error("unsupported hash_type {value:?} for method {method}")]
    UnknownHashType {
        /// The hash type found.
        value: String,
        /// The serialization method.
        method: &'static str,
    },
    /// `shard_size` is not an exact positive integer.
    #[error("shard_size {value} is not a positive integer")]
    ShardSize {
        /// The number as written.
        value: String,
    },
    /// More resources than [`super::MAX_RESOURCES`].
    #[error("statement lists {count} resources, more than the {max} allowed")]
    TooManyResources {
        /// Resources listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A resource's `algorithm` does not match the serialization.
    #[error("resource {name:?}: algorithm {found:?}, expected {expected:?}")]
    ResourceAlgorithm {
        /// The resource.
        name: String,
        /// Its algorithm.
        found: String,
        /// What the serialization implies.
        expected: String,
    },
    /// A resource digest is not lowercase hex of the hash's length.
    #[error("resource {name:?}: digest is not {len} bytes of lowercase hex")]
    ResourceDigest {
        /// The resource.
        name: String,
        /// Expected length in bytes.
        len: usize,
    },
    /// A shard name is not `PATH:START:END` on a shard boundary.
    #[error("shard name {name:?}: {reason}")]
    ShardName {
        /// The resource name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The method and hash type are not allowed by the rules.
    #[error("serialization {method} with {hash} is not allowed")]
    MethodNotAllowed {
        /// The method.
        method: &'static str,
        /// The hash algorithm.
        hash: HashAlgorithm,
    },
    /// The signer ignored a path the rules do not allow to be ignored.
    #[error("signer ignore path {path:?} is not allowed")]
    IgnorePathNotAllowed {
        /// The path.
        path: String,
    },
    /// The signer allowed symlinks and the rules do not.
    #[error("signer allowed symlinks and the rules do not")]
    SymlinksNotAllowed,
    /// The two manifests use different serializations or hash algorithms.
    #[error("manifest parameters differ: signed {signed}, actual {actual}")]
    ManifestParameters {
        /// The signed method, shard size and hash.
        signed: String,
        /// The actual ones.
        actual: String,
    },
    /// The model on disk differs from the signed manifest.
    #[error("model does not match its signed manifest: {}", MismatchSummary(self))]
    ManifestMismatch {
        /// Signed resources that are absent.
        missing: Vec<String>,
        /// Present resources that were not signed.
        extra: Vec<String>,
        /// Resources whose digest differs.
        changed: Vec<String>,
    },
    /// The resources do not form a valid manifest (duplicates, lengths).
    #[error("manifest: {0}")]
    Manifest(BindingError),
}

impl From<BindingError> for ModelSignatureError {
    fn from(e: BindingError) -> Self {
        Self::Manifest(e)
    }
}

/// Display of the three lists of a [`ModelSignatureError::ManifestMismatch`], each capped.
struct MismatchSummary<'a>(&'a ModelSignatureError);

impl fmt::Display for MismatchSummary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ModelSignatureError::ManifestMismatch {
            missing,
            extra,
            changed,
        } = self.0
        else {
            return Ok(());
        };
        let mut first = true;
        for (label, names) in [("missing", missing), ("extra", extra), ("changed", changed)] {
            if names.is_empty() {
                continue;
            }
            if !first {
                f.write_str("; ")?;
            }
            first = false;
            write!(f, "{} {label}: ", names.len())?;
            for (i, name) in names.iter().take(MISMATCH_NAMES_SHOWN).enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{name:?}")?;
            }
            if names.len() > MISMATCH_NAMES_SHOWN {
                write!(f, ", … ({} more)", names.len() - MISMATCH_NAMES_SHOWN)?;
            }
        }
        Ok(())
    }
}
