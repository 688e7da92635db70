//! Verification of an OMS bundle against trusted signers and signing rules, and the
//! comparison of a signed manifest with the model's actual one.

use std::cmp::Ordering;

use serde::Serialize;
use warden_proto::binding::{HashAlgorithm, ModelManifest, Serialization};

use super::ModelSignatureError;
use super::bundle::{SignatureBundle, VerificationMaterial, pae};
use super::cert::verify_chain;
use super::keys::ModelSigners;
use super::statement::Statement;
use crate::UnixTime;

/// An OMS serialization method, without its shard size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SerializationMethod {
    /// One resource per file.
    Files,
    /// One resource per fixed-size shard of a file.
    Shards,
}

impl SerializationMethod {
    /// The method of a manifest serialization.
    pub fn of(serialization: Serialization) -> Self {
        match serialization {
            Serialization::Shards { .. } => Self::Shards,
            _ => Self::Files,
        }
    }

    /// The method name, `files` or `shards`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Shards => "shards",
        }
    }
}

/// What a verifier accepts of a signer's choices, checked after the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningRules {
    /// Allowed (method, hash) pairs.
    pub allowed_methods: Vec<(SerializationMethod, HashAlgorithm)>,
    /// Paths a signer may leave unhashed (root-relative, as model-signing writes them). A
    /// signer's ignore path is allowed when it equals one of these, or lies under one, after
    /// removing trailing `/`. A signer path that is absolute or has an empty, `.` or `..`
    /// component is never allowed.
    pub allowed_ignore_paths: Vec<String>,
    /// Whether a signer may have hashed symlinks (as their targets' content; symlinked
    /// directories are silently skipped by model-signing).
    pub allow_symlinks: bool,
}

impl Default for SigningRules {
    /// Every combination model-signing 1.x produces (files with sha256, blake2b or blake3;
    /// shards with sha256 or blake2b); the ignore paths model-signing adds by itself (the
    /// root-level git files `.git`, `.gitattributes`, `.github`, `.gitignore`, and the
    /// signature `model.sig`); symlinks not allowed.
    fn default() -> Self {
        use HashAlgorithm::{Blake2b, Blake3, Sha256};
        use SerializationMethod::{Files, Shards};
        Self {
            allowed_methods: vec![
                (Files, Sha256),
                (Files, Blake2b),
                (Files, Blake3),
                (Shards, Sha256),
                (Shards, Blake2b),
            ],
            allowed_ignore_paths: [
                ".git",
                ".gitattributes",
                ".github",
                ".gitignore",
                "model.sig",
            ]
            .map(str::to_owned)
            .to_vec(),
            allow_symlinks: false,
        }
    }
}

impl SigningRules {
    /// Checks a statement's method, hash, ignore paths and symlink flag.
    pub fn check(&self, statement: &Statement) -> Result<(), ModelSignatureError> {
        let method = SerializationMethod::of(statement.manifest.serialization());
        let hash = statement.manifest.hash_algorithm();
        if !self.allowed_methods.contains(&(method, hash)) {
            return Err(ModelSignatureError::MethodNotAllowed {
                method: method.as_str(),
                hash,
            });
        }
        for path in &statement.ignore_paths {
            let p = path.trim_end_matches('/');
            // model-signing joins ignore paths to the model root without normalising them;
            // a path that is absolute or has empty, `.` or `..` components could name
            // something other than what it looks like, so it is never allowed.
            let plain = p.split('/').all(|c| !c.is_empty() && c != "." && c != "..");
            let allowed = plain
                && self.allowed_ignore_paths.iter().any(|a| {
                    let a = a.trim_end_matches('/');
                    p == a
                        || p.strip_prefix(a)
                            .is_some_and(|rest| !a.is_empty() && rest.starts_with('/'))
                });
            if !allowed {
                return Err(ModelSignatureError::IgnorePathNotAllowed { path: path.clone() });
            }
        }
        if statement.allow_symlinks && !self.allow_symlinks {
            return Err(ModelSignatureError::SymlinksNotAllowed);
        }
        Ok(())
    }
}

/// Who signed a verified bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "method", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Signer {
    /// A configured public key.
    Key {
        /// The key's OMS hint (lowercase hex SHA-256 of its PEM text).
        hint: String,
        /// `P-256`, `P-384` or `P-521`.
        curve: &'static str,
    },
    /// A certificate chaining to a configured root.
    Certificate {
        /// The leaf's subject (RFC 4514).
        subject: String,
        /// The leaf's issuer (RFC 4514).
        issuer: String,
        /// The leaf's serial number, hex.
        serial: String,
        /// The leaf's notBefore, the signing time the chain was validated at.
        #[serde(serialize_with = "unix_seconds")]
        not_before: UnixTime,
        /// SHA-256 of the root certificate's DER, hex.
        root_sha256: String,
    },
}

fn unix_seconds<S: serde::Serializer>(t: &UnixTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_i64(t.0)
}

impl Signer {
    /// One line for logs and claims.
    pub fn describe(&self) -> String {
        match self {
            Self::Key { hint, curve } => format!("{curve} key {hint}"),
            Self::Certificate {
                subject,
                issuer,
                serial,
                not_before,
                root_sha256,
            } => format!(
                "certificate {subject:?} serial {serial} issued by {issuer:?} at {not_before}, \
                 root sha256 {root_sha256}"
            ),
        }
    }
}

/// A bundle whose signature, statement and rules all checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedModelSignature {
    /// The signed statement.
    pub statement: Statement,
    /// Who signed it.
    pub signer: Signer,
}

/// Verifies `bundle`: the DSSE signature (key or certificate method) with `signers`, then the
/// statement ([`Statement::parse`]), then `rules`. `now` bounds the certificate method's
/// signing time (see [`super::cert`]); the key method has no time.
///
/// Key method: a bundle's hint must be that of a configured key
/// ([`ModelSignatureError::UnknownSigningKey`] otherwise); a bundle without hint (before
/// model-signing 1.1) is tried against every configured key, and [`Signer::Key`] names the
/// one that verified. The signature is ASN.1 DER ECDSA over [`pae`] with SHA-256, SHA-384 or
/// SHA-512 for P-256, P-384 or P-521.
pub fn verify(
    bundle: &SignatureBundle,
    signers: &ModelSigners,
    rules: &SigningRules,
    now: UnixTime,
) -> Result<VerifiedModelSignature, ModelSignatureError> {
    let message = pae(bundle.payload());
    let signer = match bundle.material() {
        VerificationMaterial::PublicKey { hint } => {
            if signers.keys.is_empty() {
                return Err(ModelSignatureError::NoTrust {
                    method: "public key",
                });
            }
            let key = match hint {
                Some(hint) => {
                    let key = signers
                        .keys
                        .iter()
                        .find(|k| &k.hint == hint)
                        .ok_or_else(|| ModelSignatureError::UnknownSigningKey {
                            hint: hint.clone(),
                        })?;
                    key.curve
                        .verify(&key.point, &message, bundle.signature())
                        .then_some(key)
                }
                None => signers
                    .keys
                    .iter()
                    .find(|k| k.curve.verify(&k.point, &message, bundle.signature())),
            }
            .ok_or(ModelSignatureError::SignatureInvalid)?;
            Signer::Key {
                hint: key.hint.clone(),
                curve: key.curve.name(),
            }
        }
        VerificationMaterial::CertificateChain { certificates } => {
            if signers.roots.is_empty() {
                return Err(ModelSignatureError::NoTrust {
                    method: "certificate root",
                });
            }
            let leaf = verify_chain(certificates, &signers.roots, now)?;
            if !leaf.curve.verify(&leaf.point, &message, bundle.signature()) {
                return Err(ModelSignatureError::SignatureInvalid);
            }
            Signer::Certificate {
                subject: leaf.subject,
                issuer: leaf.issuer,
                serial: leaf.serial,
                not_before: leaf.not_before,
                root_sha256: leaf.root_sha256,
            }
        }
    };
    let statement = bundle.statement()?;
    rules.check(&statement)?;
    Ok(VerifiedModelSignature { statement, signer })
}

/// Compares the signed manifest with the model's actual one: same method, shard size and
/// hash algorithm, then every resource name and digest. Missing, extra and changed resources
/// all fail, every one listed in [`ModelSignatureError::ManifestMismatch`].
pub fn compare_manifest(
    signed: &ModelManifest,
    actual: &ModelManifest,
) -> Result<(), ModelSignatureError> {
    if signed.serialization() != actual.serialization()
        || signed.hash_algorithm() != actual.hash_algorithm()
    {
        let describe = |m: &ModelManifest| match m.serialization().shard_size() {
            Some(size) => format!("shards of {size} with {}", m.hash_algorithm()),
            None => format!("{} with {}", m.serialization().method(), m.hash_algorithm()),
        };
        return Err(ModelSignatureError::ManifestParameters {
            signed: describe(signed),
            actual: describe(actual),
        });
    }
    // Both lists are sorted by name in byte order and free of duplicates (manifest
    // invariants): one merge pass.
    let (mut missing, mut extra, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    let mut s = signed.resources().iter().peekable();
    let mut a = actual.resources().iter().peekable();
    loop {
        match (s.peek(), a.peek()) {
            (None, None) => break,
            (Some(x), None) => {
                missing.push(x.name().to_owned());
                s.next();
            }
            (None, Some(y)) => {
                extra.push(y.name().to_owned());
                a.next();
            }
            (Some(x), Some(y)) => match x.name().cmp(y.name()) {
                Ordering::Less => {
                    missing.push(x.name().to_owned());
                    s.next();
                }
                Ordering::Greater => {
                    extra.push(y.name().to_owned());
                    a.next();
                }
                Ordering::Equal => {
                    if x.digest() != y.digest() {
                        changed.push(x.name().to_owned());
                    }
                    s.next();
                    a.next();
                }
            },
        }
    }
    if missing.is_empty() && extra.is_empty() && changed.is_empty() {
        return Ok(());
    }
    Err(ModelSignatureError::ManifestMismatch {
        missing,
        extra,
        changed,
    })
}
