//! Model signatures in the verifier: which OpenSSF Model Signing (OMS) signers a policy trusts
//! (its data's `model_signing` object, `docs/policy-input.md`), and the `model.signature`
//! claims of one attestation under that trust.
//!
//! The signature is checked per policy because each policy pins its own signers: a key for
//! model X trusts X's publisher, not every publisher the verifier knows. The result is a claim,
//! never a refusal of the whole attestation: the policy decides (the `default` policy denies a
//! key whose policy data names signers unless the signature verified).

use serde_json::{Value, json};
use warden_evidence::UnixTime;
use warden_evidence::model::{
    ModelSignatureError, ModelSigners, SerializationMethod, SignatureBundle, SigningRules,
    VerifiedModelSignature, compare_manifest, verify,
};
use warden_proto::binding::{HashAlgorithm, ModelManifest};

/// The largest model signature accepted in an evidence bundle (a Sigstore bundle lists every
/// resource's digest; 16 MiB is tens of thousands of files).
pub const MAX_SIGNATURE_BYTES: usize = warden_evidence::model::MAX_BUNDLE_LEN;

/// The signers and rules one policy's data configures under `model_signing`.
#[derive(Debug)]
pub struct ModelTrust {
    signers: ModelSigners,
    rules: SigningRules,
}

impl ModelTrust {
    /// Reads `data.model_signing` of a policy's data document; `Ok(None)` when it is absent.
    ///
    /// ```json
    /// "model_signing": {
    ///   "public_keys": ["-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n"],
    ///   "certificate_roots": ["-----BEGIN CERTIFICATE-----\n..."],
    ///   "allowed_methods": ["files/sha256", "shards/sha256"],
    ///   "allowed_ignore_paths": [".git", ".gitattributes", ".github", ".gitignore", "model.sig"],
    ///   "allow_symlinks": false
    /// }
    /// ```
    ///
    /// # Errors
    ///
    /// A message naming the member that is wrong. At least one key or root is required: a
    /// `model_signing` object that trusts nobody is a mistake, not a policy.
    pub fn from_data(data: &Value) -> Result<Option<Self>, String> {
        let Some(section) = data.get("model_signing") else {
            return Ok(None);
        };
        let object = section
            .as_object()
            .ok_or("model_signing must be an object")?;
        for key in object.keys() {
            if ![
                "public_keys",
                "certificate_roots",
                "allowed_methods",
                "allowed_ignore_paths",
                "allow_symlinks",
            ]
            .contains(&key.as_str())
            {
                return Err(format!("model_signing.{key} is not a known member"));
            }
        }
        let strings = |name: &str| -> Result<Option<Vec<&str>>, String> {
            object
                .get(name)
                .map(|v| {
                    v.as_array()
                        .ok_or_else(|| format!("model_signing.{name} must be an array of strings"))?
                        .iter()
                        .map(|s| {
                            s.as_str().ok_or_else(|| {
                                format!("model_signing.{name} must be an array of strings")
                            })
                        })
                        .collect()
                })
                .transpose()
        };
        let mut signers = ModelSigners::new();
        let keys = strings("public_keys")?.unwrap_or_default();
        for (i, pem) in keys.iter().enumerate() {
            signers
                .add_public_key_pem(pem)
                .map_err(|e| format!("model_signing.public_keys[{i}]: {e}"))?;
        }
        let roots = strings("certificate_roots")?.unwrap_or_default();
        for (i, pem) in roots.iter().enumerate() {
            signers
                .add_root_pem(pem)
                .map_err(|e| format!("model_signing.certificate_roots[{i}]: {e}"))?;
        }
        if keys.is_empty() && roots.is_empty() {
            return Err(
                "model_signing names no public_keys and no certificate_roots: nobody could sign"
                    .to_owned(),
            );
        }
        let mut rules = SigningRules::default();
        if let Some(methods) = strings("allowed_methods")? {
            rules.allowed_methods = methods
                .iter()
                .map(|m| parse_method(m))
                .collect::<Result<_, _>>()?;
        }
        if let Some(paths) = strings("allowed_ignore_paths")? {
            rules.allowed_ignore_paths = paths.iter().map(|p| (*p).to_owned()).collect();
        }
        if let Some(v) = object.get("allow_symlinks") {
            rules.allow_symlinks = v
                .as_bool()
                .ok_or("model_signing.allow_symlinks must be true or false")?;
        }
        Ok(Some(Self { signers, rules }))
    }
}

/// `files/sha256` and the like.
fn parse_method(text: &str) -> Result<(SerializationMethod, HashAlgorithm), String> {
    let (method, hash) = text.split_once('/').ok_or_else(|| {
        format!("model_signing.allowed_methods: {text:?} is not METHOD/HASH (e.g. files/sha256)")
    })?;
    let method = match method {
        "files" => SerializationMethod::Files,
        "shards" => SerializationMethod::Shards,
        _ => {
            return Err(format!(
                "model_signing.allowed_methods: unknown method {method:?} (files or shards)"
            ));
        }
    };
    let hash = hash
        .parse::<HashAlgorithm>()
        .map_err(|e| format!("model_signing.allowed_methods: {e}"))?;
    Ok((method, hash))
}

/// A model signature parsed once per attestation.
#[derive(Debug)]
pub enum ReceivedSignature {
    /// The bundle carried none.
    Absent,
    /// It parsed.
    Parsed(Box<SignatureBundle>),
    /// It did not parse: every policy sees the same reason.
    Invalid(ModelSignatureError),
}

impl ReceivedSignature {
    /// Parses the evidence bundle's `model_signature` field.
    pub fn parse(bytes: &[u8]) -> Self {
        if bytes.is_empty() {
            Self::Absent
        } else {
            match SignatureBundle::parse(bytes) {
                Ok(bundle) => Self::Parsed(Box::new(bundle)),
                Err(e) => Self::Invalid(e),
            }
        }
    }

    /// The `model.signature` claims under `trust` (a policy's `model_signing`), for the
    /// manifest the agent bound into REPORT_DATA.
    pub fn claims(
        &self,
        trust: Option<&ModelTrust>,
        model: &ModelManifest,
        now: UnixTime,
    ) -> Value {
        let bundle = match self {
            Self::Absent => return json!({ "present": false, "verified": false }),
            Self::Invalid(e) => return refused(e.to_string()),
            Self::Parsed(bundle) => bundle,
        };
        let Some(trust) = trust else {
            return refused(
                "the key's policy data names no model signers (model_signing)".to_owned(),
            );
        };
        let verified = match verify(bundle, &trust.signers, &trust.rules, now) {
            Ok(v) => v,
            Err(e) => return refused(e.to_string()),
        };
        if let Err(e) = compare_manifest(&verified.statement.manifest, model) {
            return refused(e.to_string());
        }
        verified_claims(&verified)
    }
}

/// `model.signature` of a signature that verified and matched.
fn verified_claims(verified: &VerifiedModelSignature) -> Value {
    let statement = &verified.statement;
    json!({
        "present": true,
        "verified": true,
        "signer": verified.signer,
        "subject_name": statement.subject_name,
        "subject_digest": hex::encode(statement.subject_digest),
        "payload_sha256": hex::encode(statement.payload_sha256),
        "ignore_paths": statement.ignore_paths,
    })
}

fn refused(reason: String) -> Value {
    json!({ "present": true, "verified": false, "error": reason })
}

impl ModelTrust {
    /// Trust `signers` under `rules` (the CLI's `--key`/`--root`).
    pub fn new(signers: ModelSigners, rules: SigningRules) -> Self {
        Self { signers, rules }
    }
}

/// Why `evidence verify model` refused a model directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelDirError {
    /// The bundle, its signature, its statement, or the manifest comparison.
    #[error(transparent)]
    Signature(#[from] ModelSignatureError),
    /// The directory could not be hashed as the statement says.
    #[error("cannot hash the model directory: {0}")]
    Hash(#[from] warden_model::hash::HashError),
}

/// Verifies the signature `bundle` over the model directory `dir`: signature and rules first,
/// then `dir` hashed exactly as the signed statement says (method, hash, shard size, the
/// signer's ignore paths; a bundle inside `dir` must be one of those, as model-signing's CLI
/// records it), then the signed resources compared with what was hashed. Returns the claims
/// `{manifest_digest, subject_digest, signature}` as the verifier's policy would see them.
///
/// # Errors
///
/// [`ModelDirError`] naming the first failure; a mismatch lists the missing, extra and changed
/// names.
pub fn verify_model_dir(
    dir: &std::path::Path,
    bundle: &[u8],
    trust: &ModelTrust,
    now: UnixTime,
) -> Result<Value, ModelDirError> {
    let parsed = SignatureBundle::parse(bundle)?;
    let verified = verify(&parsed, &trust.signers, &trust.rules, now)?;
    let statement = &verified.statement;
    let options = warden_model::signed::options_for_signed(
        &statement.manifest,
        &statement.ignore_paths,
        statement.allow_symlinks,
    );
    let hashed = warden_model::hash::hash_model(dir, &options, &warden_model::hash::NoProgress)?;
    compare_manifest(&statement.manifest, &hashed.manifest)?;
    Ok(json!({
        "manifest_digest": hashed.manifest.digest().to_hex(),
        "subject_digest": hex::encode(hashed.manifest.subject_digest()),
        "signature": verified_claims(&verified),
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use warden_evidence::model::Curve;
    use warden_evidence::sim::model::ModelSigningKey;

    use super::*;

    fn pem() -> String {
        ModelSigningKey::from_seed(Curve::P256, 1).public_key_pem()
    }

    fn err(data: Value) -> String {
        ModelTrust::from_data(&data).unwrap_err()
    }

    #[test]
    fn absent_section_is_none_and_a_full_one_loads() {
        assert!(
            ModelTrust::from_data(&json!({ "models": [] }))
                .unwrap()
                .is_none()
        );
        let trust = ModelTrust::from_data(&json!({ "model_signing": {
            "public_keys": [pem()],
            "allowed_methods": ["files/sha256", "shards/blake2b"],
            "allowed_ignore_paths": [".git"],
            "allow_symlinks": true,
        }}))
        .unwrap()
        .unwrap();
        assert_eq!(
            trust.rules.allowed_methods,
            [
                (SerializationMethod::Files, HashAlgorithm::Sha256),
                (SerializationMethod::Shards, HashAlgorithm::Blake2b)
            ]
        );
        assert_eq!(trust.rules.allowed_ignore_paths, [".git"]);
        assert!(trust.rules.allow_symlinks);
    }

    #[test]
    fn malformed_sections_name_the_member() {
        assert_eq!(
            err(json!({ "model_signing": [] })),
            "model_signing must be an object"
        );
        assert_eq!(
            err(json!({ "model_signing": {} })),
            "model_signing names no public_keys and no certificate_roots: nobody could sign"
        );
        assert_eq!(
            err(json!({ "model_signing": { "public_keys": [pem()], "keys": [] } })),
            "model_signing.keys is not a known member"
        );
        assert_eq!(
            err(json!({ "model_signing": { "public_keys": "x" } })),
            "model_signing.public_keys must be an array of strings"
        );
        assert!(
            err(json!({ "model_signing": { "public_keys": ["not a key"] } }))
                .starts_with("model_signing.public_keys[0]: ")
        );
        assert!(
            err(json!({ "model_signing": { "certificate_roots": ["not a root"] } }))
                .starts_with("model_signing.certificate_roots[0]: ")
        );
        assert_eq!(
            err(
                json!({ "model_signing": { "public_keys": [pem()], "allowed_methods": ["sha256"] } })
            ),
            "model_signing.allowed_methods: \"sha256\" is not METHOD/HASH (e.g. files/sha256)"
        );
        assert_eq!(
            err(
                json!({ "model_signing": { "public_keys": [pem()], "allowed_methods": ["dirs/sha256"] } })
            ),
            "model_signing.allowed_methods: unknown method \"dirs\" (files or shards)"
        );
        assert!(
            err(json!({ "model_signing": { "public_keys": [pem()], "allowed_methods": ["files/md5"] } }))
                .starts_with("model_signing.allowed_methods: ")
        );
        assert_eq!(
            err(json!({ "model_signing": { "public_keys": [pem()], "allow_symlinks": "no" } })),
            "model_signing.allow_symlinks must be true or false"
        );
    }

    #[test]
    fn a_policy_with_a_bad_section_does_not_load() {
        let e = crate::policy::Policy::load(
            "p",
            "package warden\nimport rego.v1\ndefault allow := false\ndeny contains \"x\" if false\n",
            Some(r#"{"model_signing": {}}"#),
        )
        .unwrap_err();
        assert!(e.to_string().contains("nobody could sign"), "{e}");
    }
}
