//! Rego policies: which verified claims may receive a key.
//!
//! A policy is a Rego module in `package warden` with optional JSON data. It sees the claims
//! document of `docs/policy-input.md` as `input` and defines
//!
//! - `allow`: a boolean, `default allow := false`;
//! - `deny`: a set of human-readable reason strings.
//!
//! [`Policy::evaluate`] fails closed: a key is released only if `allow` is exactly `true` **and**
//! `deny` is empty. An `allow` that is neither a boolean nor undefined, or a `deny` that is not a
//! set or array of strings, is an error, never an allow.
//!
//! The policies shipped in `policies/` (see `policies/README.md`) are embedded as
//! [`PolicySet::builtin`]; an operator's policy directory ([`PolicySet::load_dir`]) replaces
//! them entirely.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Domain separator of [`Policy::digest`].
const DIGEST_DOMAIN: &[u8] = b"warden-policy-digest-v1\0";

/// The Rego package every policy must declare, as regorus names it.
const PACKAGE: &str = "data.warden";

/// The rule evaluated for the allow decision.
const ALLOW_RULE: &str = "data.warden.allow";

/// The rule evaluated for the deny reasons.
const DENY_RULE: &str = "data.warden.deny";

/// Extension of policy files in a policy directory.
const REGO_SUFFIX: &str = ".rego";

/// Suffix of the data file beside a policy in a policy directory.
const DATA_SUFFIX: &str = ".data.json";

/// Reason added when `allow` is not `true` and the policy gave no deny reason.
pub const NO_ALLOW_REASON: &str = "policy did not allow: no allow rule matched";

/// Longest policy name, in bytes.
const MAX_NAME_LEN: usize = 64;

/// Why a policy could not be loaded or evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy name does not match `^[a-z0-9][a-z0-9_-]{0,63}$`.
    #[error("invalid policy name {0:?}: must match ^[a-z0-9][a-z0-9_-]{{0,63}}$")]
    InvalidName(String),
    /// A file or directory could not be read.
    #[error("{file}: cannot read: {message}")]
    Io {
        /// The file or directory.
        file: String,
        /// The I/O error.
        message: String,
    },
    /// The Rego source did not parse or compile.
    #[error("{file}: {message}")]
    Rego {
        /// The Rego file (or `NAME.rego` for a policy loaded from a string).
        file: String,
        /// The regorus message.
        message: String,
    },
    /// The module is not `package warden`.
    #[error("{file}: policy package is {found}, must be `package warden`")]
    WrongPackage {
        /// The Rego file.
        file: String,
        /// The package the module declares, as regorus names it (`data.x`).
        found: String,
    },
    /// The module does not define a required rule.
    #[error("{file}: policy does not define the rule `{rule}`")]
    MissingRule {
        /// The Rego file.
        file: String,
        /// `allow` or `deny`.
        rule: &'static str,
    },
    /// The data document is not valid JSON, not an object, or defines the reserved key `warden`.
    #[error("{file}: invalid policy data: {message}")]
    Data {
        /// The data file (or `NAME.data.json`).
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A `NAME.data.json` in a policy directory has no `NAME.rego` beside it.
    #[error("{file}: data file without a policy {expected}")]
    OrphanData {
        /// The data file.
        file: String,
        /// The Rego file it would belong to.
        expected: String,
    },
    /// A policy directory holds no policy.
    #[error("{dir}: no *.rego policy in the policy directory")]
    EmptyDir {
        /// The directory.
        dir: String,
    },
    /// Evaluating the policy failed (for example a builtin raised an error).
    #[error("policy {policy}: evaluation failed: {message}")]
    Evaluation {
        /// The policy name.
        policy: String,
        /// The regorus message.
        message: String,
    },
    /// `allow` evaluated to something other than a boolean.
    #[error("policy {policy}: `allow` must be a boolean, got {found}")]
    AllowNotBoolean {
        /// The policy name.
        policy: String,
        /// The value `allow` evaluated to, as JSON.
        found: String,
    },
    /// `deny` evaluated to something other than a set or array of strings.
    #[error("policy {policy}: `deny` must be a set of strings, got {found}")]
    DenyNotStrings {
        /// The policy name.
        policy: String,
        /// The value `deny` evaluated to, as JSON.
        found: String,
    },
}

/// The outcome of evaluating a policy over one claims document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// `true` only if the policy's `allow` was exactly `true` and `deny` was empty.
    pub allow: bool,
    /// Why not: the policy's `deny` reasons, sorted and deduplicated, plus
    /// [`NO_ALLOW_REASON`] when `allow` was not `true` and `deny` was empty. Empty when allowed.
    pub reasons: Vec<String>,
}

/// A loaded Rego policy with its data, ready to evaluate from many threads.
#[derive(Clone)]
pub struct Policy {
    name: String,
    digest: [u8; 32],
    /// The engine with the module and data loaded and prepared; cloned per evaluation.
    engine: regorus::Engine,
    /// The model signers its data trusts (`model_signing`), if any.
    model_trust: Option<Arc<crate::model_signing::ModelTrust>>,
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy")
            .field("name", &self.name)
            .field("digest", &self.digest_hex())
            .finish_non_exhaustive()
    }
}

// The verifier evaluates one policy from many request handlers at once.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<PolicySet>();
};

impl Policy {
    /// Loads policy `name` from Rego source and optional JSON data.
    ///
    /// Error messages name the source `NAME.rego` (and `NAME.data.json`).
    ///
    /// # Errors
    ///
    /// [`PolicyError::InvalidName`], [`PolicyError::Rego`] for a parse or compile error,
    /// [`PolicyError::WrongPackage`], [`PolicyError::MissingRule`], [`PolicyError::Data`].
    pub fn load(name: &str, rego: &str, data_json: Option<&str>) -> Result<Self, PolicyError> {
        Self::load_named(
            name,
            &format!("{name}{REGO_SUFFIX}"),
            rego,
            data_json.map(|d| (format!("{name}{DATA_SUFFIX}"), d)),
        )
    }

    /// Loads a policy from a Rego file and an optional JSON data file. The policy's name is the
    /// Rego file's name without `.rego`.
    ///
    /// # Errors
    ///
    /// As [`Policy::load`], plus [`PolicyError::Io`] if a file cannot be read or is not UTF-8,
    /// and [`PolicyError::InvalidName`] if the file name does not end in `.rego`.
    pub fn from_files(rego: &Path, data: Option<&Path>) -> Result<Self, PolicyError> {
        let file_name = rego
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let name = file_name
            .strip_suffix(REGO_SUFFIX)
            .ok_or_else(|| PolicyError::InvalidName(file_name.to_owned()))?;
        let source = read_file(rego)?;
        let data = data
            .map(|path| read_file(path).map(|text| (path.display().to_string(), text)))
            .transpose()?;
        Self::load_named(
            name,
            &rego.display().to_string(),
            &source,
            data.as_ref()
                .map(|(file, text)| (file.clone(), text.as_str())),
        )
    }

    fn load_named(
        name: &str,
        rego_file: &str,
        rego: &str,
        data: Option<(String, &str)>,
    ) -> Result<Self, PolicyError> {
        check_name(name)?;
        let rego_error = |e: anyhow::Error| PolicyError::Rego {
            file: rego_file.to_owned(),
            message: format!("{e:#}"),
        };

        let mut engine = regorus::Engine::new();
        // Builtin errors abort the evaluation (fail closed) instead of making an expression
        // undefined, which in a `deny` rule would silently drop the reason.
        engine.set_strict_builtin_errors(true);
        let package = engine
            .add_policy(rego_file.to_owned(), rego.to_owned())
            .map_err(rego_error)?;
        if package != PACKAGE {
            return Err(PolicyError::WrongPackage {
                file: rego_file.to_owned(),
                found: package,
            });
        }
        for rule in ["allow", "deny"] {
            let declared = engine
                .has_declared_rule_rooted_at(rego_file, rule)
                .map_err(rego_error)?;
            if !declared {
                return Err(PolicyError::MissingRule {
                    file: rego_file.to_owned(),
                    rule,
                });
            }
        }

        let mut model_trust = None;
        if let Some((data_file, text)) = &data {
            let data_error = |message: String| PolicyError::Data {
                file: data_file.clone(),
                message,
            };
            let value: serde_json::Value =
                serde_json::from_str(text).map_err(|e| data_error(e.to_string()))?;
            let object = value
                .as_object()
                .ok_or_else(|| data_error("the data document must be a JSON object".to_owned()))?;
            if object.contains_key("warden") {
                return Err(data_error(
                    "the key `warden` is reserved for the policy package".to_owned(),
                ));
            }
            model_trust = crate::model_signing::ModelTrust::from_data(&value)
                .map_err(data_error)?
                .map(Arc::new);
            engine
                .add_data(regorus::Value::from(value))
                .map_err(|e| data_error(e.to_string()))?;
        }

        // Prepare (analyse and schedule) once now, so that compile errors surface at load time
        // and every per-request clone starts prepared.
        engine.set_input(regorus::Value::new_object());
        for rule in [ALLOW_RULE, DENY_RULE] {
            engine.eval_rule(rule.to_owned()).map_err(rego_error)?;
        }

        Ok(Self {
            name: name.to_owned(),
            digest: digest(rego, data.as_ref().map(|(_, text)| *text)),
            engine,
            model_trust,
        })
    }

    /// The model signers and signing rules its data configures (`model_signing`), if any.
    pub fn model_trust(&self) -> Option<&crate::model_signing::ModelTrust> {
        self.model_trust.as_deref()
    }

    /// The policy's name (a key's `policy` field names it).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// SHA-256 identifying the policy's Rego source and data, recorded with every decision.
    ///
    /// Exactly: `SHA-256("warden-policy-digest-v1\0" || u64be(len(rego)) || rego || d)` where
    /// `d` is the single byte `0x00` without data, or `0x01 || u64be(len(data)) || data` with
    /// data; `rego` and `data` are the file bytes as loaded (UTF-8, unnormalised). The name is
    /// not covered: the same source under two names has the same digest.
    pub fn digest(&self) -> [u8; 32] {
        self.digest
    }

    /// [`Policy::digest`] as lowercase hex.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }

    /// Evaluates the policy over a claims document (`docs/policy-input.md`).
    ///
    /// Thread-safe: each call evaluates on its own copy of the prepared engine.
    ///
    /// An undefined `allow` counts as `false` and an undefined `deny` as empty.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Evaluation`] if evaluation fails, [`PolicyError::AllowNotBoolean`],
    /// [`PolicyError::DenyNotStrings`].
    pub fn evaluate(&self, input: &serde_json::Value) -> Result<Decision, PolicyError> {
        let mut engine = self.engine.clone();
        engine.set_input(regorus::Value::from(input.clone()));
        let eval_error = |e: anyhow::Error| PolicyError::Evaluation {
            policy: self.name.clone(),
            message: format!("{e:#}"),
        };
        let allow = engine
            .eval_rule(ALLOW_RULE.to_owned())
            .map_err(eval_error)?;
        let deny = engine.eval_rule(DENY_RULE.to_owned()).map_err(eval_error)?;

        let allow = match allow {
            regorus::Value::Bool(b) => b,
            regorus::Value::Undefined => false,
            other => {
                return Err(PolicyError::AllowNotBoolean {
                    policy: self.name.clone(),
                    found: show(&other),
                });
            }
        };
        let mut reasons = self.deny_reasons(&deny)?;
        if !allow && reasons.is_empty() {
            reasons.insert(NO_ALLOW_REASON.to_owned());
        }
        Ok(Decision {
            allow: allow && reasons.is_empty(),
            reasons: reasons.into_iter().collect(),
        })
    }

    fn deny_reasons(&self, deny: &regorus::Value) -> Result<BTreeSet<String>, PolicyError> {
        let not_strings = || PolicyError::DenyNotStrings {
            policy: self.name.clone(),
            found: show(deny),
        };
        let items: Vec<&regorus::Value> = match deny {
            regorus::Value::Undefined => Vec::new(),
            regorus::Value::Set(set) => set.iter().collect(),
            regorus::Value::Array(array) => array.iter().collect(),
            _ => return Err(not_strings()),
        };
        items
            .into_iter()
            .map(|item| match item {
                regorus::Value::String(s) => Ok(s.to_string()),
                _ => Err(not_strings()),
            })
            .collect()
    }
}

/// A regorus value as JSON for an error message.
fn show(value: &regorus::Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

/// The digest of [`Policy::digest`].
fn digest(rego: &str, data: Option<&str>) -> [u8; 32] {
    let len = |s: &str| u64::try_from(s.len()).unwrap_or(u64::MAX).to_be_bytes();
    let mut hash = Sha256::new();
    hash.update(DIGEST_DOMAIN);
    hash.update(len(rego));
    hash.update(rego.as_bytes());
    match data {
        None => hash.update([0u8]),
        Some(data) => {
            hash.update([1u8]);
            hash.update(len(data));
            hash.update(data.as_bytes());
        }
    }
    hash.finalize().into()
}

/// Checks `^[a-z0-9][a-z0-9_-]{0,63}$`.
fn check_name(name: &str) -> Result<(), PolicyError> {
    let mut bytes = name.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok =
        bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if first_ok && rest_ok && name.len() <= MAX_NAME_LEN {
        Ok(())
    } else {
        Err(PolicyError::InvalidName(name.to_owned()))
    }
}

fn read_file(path: &Path) -> Result<String, PolicyError> {
    fs::read_to_string(path).map_err(|e| PolicyError::Io {
        file: path.display().to_string(),
        message: format!("{e:#}"),
    })
}

/// The policies a verifier knows, by name.
///
/// Either the built-in set ([`PolicySet::builtin`]) or an operator's directory
/// ([`PolicySet::load_dir`]), never a mix: a configured directory replaces the built-in
/// policies entirely, so what is enforced is exactly what the operator's directory holds.
#[derive(Debug, Clone, Default)]
pub struct PolicySet {
    policies: BTreeMap<String, Arc<Policy>>,
}

/// The built-in policies: `(name, Rego, data)`.
const BUILTIN: [(&str, &str, Option<&str>); 2] = [
    (
        "default",
        include_str!("../../policies/default.rego"),
        Some(include_str!("../../policies/default.data.json")),
    ),
    (
        "dev",
        include_str!("../../policies/dev.rego"),
        Some(include_str!("../../policies/dev.data.json")),
    ),
];

impl PolicySet {
    /// The policies shipped in the repository's `policies/` directory: `default` (strict
    /// SEV-SNP) and `dev` (admits simulated evidence), with their shipped data. Used when no
    /// policy directory is configured.
    ///
    /// # Errors
    ///
    /// Any [`Policy::load`] error (the tests load them, so this does not happen in a release).
    pub fn builtin() -> Result<Self, PolicyError> {
        let mut set = Self::default();
        for (name, rego, data) in BUILTIN {
            set.insert(Policy::load(name, rego, data)?);
        }
        Ok(set)
    }

    /// Loads every `NAME.rego` of `dir`, each with `NAME.data.json` beside it if present.
    ///
    /// Other files and subdirectories are ignored. Policy names must match
    /// `^[a-z0-9][a-z0-9_-]{0,63}$`.
    ///
    /// # Errors
    ///
    /// [`PolicyError::Io`] if the directory or a file cannot be read, [`PolicyError::EmptyDir`]
    /// if it holds no policy, [`PolicyError::OrphanData`] for a `NAME.data.json` without
    /// `NAME.rego`, and any [`Policy::from_files`] error (which names the file).
    pub fn load_dir(dir: &Path) -> Result<Self, PolicyError> {
        let io_error = |path: &Path, e: std::io::Error| PolicyError::Io {
            file: path.display().to_string(),
            message: format!("{e:#}"),
        };
        let mut rego_names = BTreeSet::new();
        let mut data_names = BTreeSet::new();
        for entry in fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
            let entry = entry.map_err(|e| io_error(dir, e))?;
            let path = entry.path();
            let file_type = entry.file_type().map_err(|e| io_error(&path, e))?;
            if file_type.is_dir() {
                continue;
            }
            let Some(file_name) = entry.file_name().to_str().map(str::to_owned) else {
                // A non-UTF-8 name cannot be a policy, but may be a misnamed one: refuse it.
                return Err(PolicyError::InvalidName(
                    entry.file_name().to_string_lossy().into_owned(),
                ));
            };
            if let Some(name) = file_name.strip_suffix(DATA_SUFFIX) {
                data_names.insert(name.to_owned());
            } else if let Some(name) = file_name.strip_suffix(REGO_SUFFIX) {
                rego_names.insert(name.to_owned());
            }
        }
        if let Some(orphan) = data_names.difference(&rego_names).next() {
            return Err(PolicyError::OrphanData {
                file: dir
                    .join(format!("{orphan}{DATA_SUFFIX}"))
                    .display()
                    .to_string(),
                expected: dir
                    .join(format!("{orphan}{REGO_SUFFIX}"))
                    .display()
                    .to_string(),
            });
        }
        if rego_names.is_empty() {
            return Err(PolicyError::EmptyDir {
                dir: dir.display().to_string(),
            });
        }
        let mut set = Self::default();
        for name in &rego_names {
            check_name(name)?;
            let rego = dir.join(format!("{name}{REGO_SUFFIX}"));
            let data = data_names
                .contains(name)
                .then(|| dir.join(format!("{name}{DATA_SUFFIX}")));
            set.insert(Policy::from_files(&rego, data.as_deref())?);
        }
        Ok(set)
    }

    fn insert(&mut self, policy: Policy) {
        self.policies
            .insert(policy.name().to_owned(), Arc::new(policy));
    }

    /// The policy named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Policy>> {
        self.policies.get(name).cloned()
    }

    /// The names of all policies, sorted.
    pub fn names(&self) -> Vec<String> {
        self.policies.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
package warden

default allow := false

allow if input.ok == true

deny contains "bad is set" if input.bad
"#;

    fn eval(rego: &str, input: serde_json::Value) -> Result<Decision, PolicyError> {
        Policy::load("t", rego, None)?.evaluate(&input)
    }

    #[test]
    fn allow_requires_true_and_no_deny() {
        let policy = Policy::load("t", MINIMAL, None).unwrap();
        let yes = policy.evaluate(&serde_json::json!({"ok": true})).unwrap();
        assert_eq!(
            yes,
            Decision {
                allow: true,
                reasons: vec![]
            }
        );
        let denied = policy
            .evaluate(&serde_json::json!({"ok": true, "bad": true}))
            .unwrap();
        assert_eq!(
            denied,
            Decision {
                allow: false,
                reasons: vec!["bad is set".to_owned()]
            }
        );
        let not_allowed = policy.evaluate(&serde_json::json!({})).unwrap();
        assert_eq!(
            not_allowed,
            Decision {
                allow: false,
                reasons: vec![NO_ALLOW_REASON.to_owned()]
            }
        );
    }

    #[test]
    fn reasons_sorted_and_deduped_from_array() {
        let rego = r#"
package warden
allow := true
deny := ["b", "a", "b"]
"#;
        let d = eval(rego, serde_json::json!({})).unwrap();
        assert_eq!(d.reasons, vec!["a".to_owned(), "b".to_owned()]);
        assert!(!d.allow);
    }

    #[test]
    fn non_boolean_allow_is_an_error() {
        let rego = "package warden\nallow := \"yes\"\ndeny := set()\n";
        assert_eq!(
            eval(rego, serde_json::json!({})),
            Err(PolicyError::AllowNotBoolean {
                policy: "t".to_owned(),
                found: "\"yes\"".to_owned()
            })
        );
    }

    #[test]
    fn non_string_deny_is_an_error() {
        let rego = "package warden\nallow := true\ndeny contains 1 if true\n";
        assert_eq!(
            eval(rego, serde_json::json!({})),
            Err(PolicyError::DenyNotStrings {
                policy: "t".to_owned(),
                found: "[1]".to_owned()
            })
        );
        let rego = "package warden\nallow := true\ndeny := \"no\"\n";
        assert!(matches!(
            eval(rego, serde_json::json!({})),
            Err(PolicyError::DenyNotStrings { .. })
        ));
    }

    #[test]
    fn builtin_error_fails_closed() {
        let rego = r#"
package warden
allow := true
deny contains msg if { msg := sprintf("%d", [to_number(input.x)]) }
"#;
        let r = eval(rego, serde_json::json!({"x": "not a number"}));
        assert!(matches!(r, Err(PolicyError::Evaluation { .. })), "{r:?}");
    }

    #[test]
    fn load_errors() {
        assert!(matches!(
            Policy::load("t", "package warden\nallow :=", None),
            Err(PolicyError::Rego { file, .. }) if file == "t.rego"
        ));
        assert!(matches!(
            Policy::load("t", "package other\ndefault allow := false\ndeny := set()\n", None),
            Err(PolicyError::WrongPackage { found, .. }) if found == "data.other"
        ));
        assert_eq!(
            Policy::load("t", "package warden\ndefault allow := false\n", None).unwrap_err(),
            PolicyError::MissingRule {
                file: "t.rego".to_owned(),
                rule: "deny"
            }
        );
        assert!(matches!(
            Policy::load("t", MINIMAL, Some("[1]")),
            Err(PolicyError::Data { file, .. }) if file == "t.data.json"
        ));
        assert!(matches!(
            Policy::load("t", MINIMAL, Some("{\"warden\": 1}")),
            Err(PolicyError::Data { .. })
        ));
        assert!(matches!(
            Policy::load("t", MINIMAL, Some("{")),
            Err(PolicyError::Data { .. })
        ));
    }

    #[test]
    fn names() {
        for good in ["default", "dev", "a", "0", "a-b_c", &"a".repeat(64)] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "-a",
            "_a",
            "A",
            "a.b",
            "a/b",
            "../x",
            "é",
            &"a".repeat(65),
        ] {
            assert_eq!(
                check_name(bad),
                Err(PolicyError::InvalidName(bad.to_owned())),
                "{bad}"
            );
        }
    }

    #[test]
    fn digest_is_domain_separated() {
        let expected: [u8; 32] = Sha256::new()
            .chain_update(DIGEST_DOMAIN)
            .chain_update(3u64.to_be_bytes())
            .chain_update(b"abc")
            .chain_update([1u8])
            .chain_update(2u64.to_be_bytes())
            .chain_update(b"{}")
            .finalize()
            .into();
        assert_eq!(digest("abc", Some("{}")), expected);
        assert_ne!(digest("abc", None), digest("abc", Some("")));
        assert_ne!(digest("ab", Some("c{}")), digest("abc", Some("{}")));
        let p = Policy::load("t", MINIMAL, Some("{}")).unwrap();
        assert_eq!(p.digest(), digest(MINIMAL, Some("{}")));
        assert_eq!(p.digest_hex(), hex::encode(p.digest()));
    }

    #[test]
    fn data_is_visible() {
        let rego = "package warden\nallow := data.flag\ndeny := set()\n";
        let p = Policy::load("t", rego, Some("{\"flag\": true}")).unwrap();
        assert!(p.evaluate(&serde_json::json!({})).unwrap().allow);
    }

    #[test]
    fn builtin_set_loads() {
        let set = PolicySet::builtin().unwrap();
        assert_eq!(set.names(), vec!["default".to_owned(), "dev".to_owned()]);
        assert!(set.get("default").is_some());
        assert!(set.get("nope").is_none());
    }

    #[test]
    fn load_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            PolicySet::load_dir(dir.path()),
            Err(PolicyError::EmptyDir { .. })
        ));
        fs::write(dir.path().join("p1.rego"), MINIMAL).unwrap();
        fs::write(dir.path().join("p1.data.json"), "{\"x\": 1}").unwrap();
        fs::write(dir.path().join("README.md"), "ignored").unwrap();
        let set = PolicySet::load_dir(dir.path()).unwrap();
        assert_eq!(set.names(), vec!["p1".to_owned()]);
        assert_eq!(
            set.get("p1").unwrap().digest(),
            digest(MINIMAL, Some("{\"x\": 1}"))
        );

        fs::write(dir.path().join("p2.data.json"), "{}").unwrap();
        assert!(matches!(
            PolicySet::load_dir(dir.path()),
            Err(PolicyError::OrphanData { .. })
        ));
        fs::remove_file(dir.path().join("p2.data.json")).unwrap();

        fs::write(dir.path().join("Bad.rego"), MINIMAL).unwrap();
        assert_eq!(
            PolicySet::load_dir(dir.path()).unwrap_err(),
            PolicyError::InvalidName("Bad".to_owned())
        );
        fs::remove_file(dir.path().join("Bad.rego")).unwrap();

        let broken = dir.path().join("broken.rego");
        fs::write(&broken, "package warden\nallow if {").unwrap();
        match PolicySet::load_dir(dir.path()).unwrap_err() {
            PolicyError::Rego { file, message } => {
                assert_eq!(file, broken.display().to_string());
                assert!(!message.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn concurrent_evaluation() {
        let policy = Arc::new(Policy::load("t", MINIMAL, None).unwrap());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let policy = Arc::clone(&policy);
                std::thread::spawn(move || {
                    let input = serde_json::json!({"ok": true, "bad": i % 2 == 0});
                    policy.evaluate(&input).unwrap().allow == (i % 2 != 0)
                })
            })
            .collect();
        for t in threads {
            assert!(t.join().unwrap());
        }
    }
}
