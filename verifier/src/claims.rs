//! The claims document that policy sees (`docs/policy-input.md`): built only from evidence that
//! has verified, never from raw request fields that nothing checked.

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use warden_evidence::UnixTime;
use warden_evidence::snp::SnpClaims;
use warden_evidence::tdx::TdxClaims;
use warden_proto::binding::{ModelManifest, Nonce, TeePublicKey};

/// The verified claims of the CPU TEE, by kind (`tee.type` in the document).
#[derive(Debug, Clone, Copy)]
pub enum CpuClaims<'a> {
    /// AMD SEV-SNP (`sev-snp`).
    Snp(&'a SnpClaims),
    /// Intel TDX (`tdx`).
    Tdx(&'a TdxClaims),
}

/// The parts of one attestation that every requested key's decision shares.
#[derive(Debug, Clone)]
pub struct ClaimsDocument {
    base: Value,
}

/// Why the claims document could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimsError {
    /// The verified TEE claims did not serialise to a JSON object (a bug).
    #[error("TEE claims are not a JSON object")]
    NotAnObject,
    /// The verification time cannot be written as RFC 3339.
    #[error("time {0} cannot be written as RFC 3339")]
    Time(i64),
}

impl ClaimsDocument {
    /// The document for verified CPU evidence.
    ///
    /// `simulated` says the evidence verified only through an operator-configured test root
    /// (`insecure_test_roots`, `insecure_tdx_test_roots`). The model, nonce and TEE key have been
    /// checked against REPORT_DATA before this is called. `gpus` are the per-GPU claims objects
    /// of verified GPU evidence (`crate::gpu::GpuJudge::verify`), in evidence order.
    ///
    /// # Errors
    ///
    /// [`ClaimsError`] on a time outside RFC 3339's range.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cpu: CpuClaims<'_>,
        simulated: bool,
        gpus: Vec<Value>,
        model: &ModelManifest,
        nonce: &Nonce,
        tee_pubkey: &TeePublicKey,
        key_ids: &[String],
        now: UnixTime,
    ) -> Result<Self, ClaimsError> {
        let (tee, kind) = match cpu {
            CpuClaims::Snp(c) => (serde_json::to_value(c), "sev-snp"),
            CpuClaims::Tdx(c) => (serde_json::to_value(c), "tdx"),
        };
        let tee = tee.map_err(|_| ClaimsError::NotAnObject)?;
        Self::build(
            tee, kind, simulated, gpus, model, nonce, tee_pubkey, key_ids, now,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        mut tee: Value,
        kind: &str,
        simulated: bool,
        gpus: Vec<Value>,
        model: &ModelManifest,
        nonce: &Nonce,
        tee_pubkey: &TeePublicKey,
        key_ids: &[String],
        now: UnixTime,
    ) -> Result<Self, ClaimsError> {
        let Some(object) = tee.as_object_mut() else {
            return Err(ClaimsError::NotAnObject);
        };
        object.insert("type".to_owned(), json!(kind));
        object.insert("simulated".to_owned(), json!(simulated));
        let rfc3339 = OffsetDateTime::from_unix_timestamp(now.0)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .ok_or(ClaimsError::Time(now.0))?;
        let base = json!({
            "tee": tee,
            "gpus": gpus,
            "model": model_claims(model),
            "request": {
                "key_id": null,
                "key_ids": key_ids,
                "tee_pubkey": tee_pubkey.to_hex(),
                "nonce": nonce.to_hex(),
            },
            "time": { "rfc3339": rfc3339, "unix": now.0 },
        });
        Ok(Self { base })
    }

    /// The document for the decision on `key_id`.
    pub fn for_key(&self, key_id: &str) -> Value {
        let mut doc = self.base.clone();
        if let Some(request) = doc.get_mut("request").and_then(Value::as_object_mut) {
            request.insert("key_id".to_owned(), json!(key_id));
        }
        doc
    }

    /// The document for the decision on `key_id`, with `model.signature` as judged under that
    /// key's policy (`crate::model_signing`).
    pub fn for_key_with_signature(&self, key_id: &str, signature: Value) -> Value {
        let mut doc = self.for_key(key_id);
        if let Some(model) = doc.get_mut("model").and_then(Value::as_object_mut) {
            model.insert("signature".to_owned(), signature);
        }
        doc
    }

    /// The document without a key id (for logs and the demo).
    pub fn shared(&self) -> &Value {
        &self.base
    }
}

fn model_claims(model: &ModelManifest) -> Value {
    let resources: Vec<Value> = model
        .resources()
        .iter()
        .map(|r| json!({ "name": r.name(), "digest": hex::encode(r.digest()) }))
        .collect();
    json!({
        "manifest_digest": model.digest().to_hex(),
        "subject_digest": hex::encode(model.subject_digest()),
        "serialization": model.serialization().method(),
        "shard_size": model.serialization().shard_size().map(|s| s.get()),
        "hash_algorithm": model.hash_algorithm().as_str(),
        "resources": resources,
        "ignore_paths": model.ignore_paths(),
    })
}
