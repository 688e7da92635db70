//! One attestation, end to end: Challenge, a fresh TEE key pair, evidence bound to both,
//! Attest, and opening the keys the verifier released.

use std::fmt;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use warden_proto::binding::{self, GpuDigest, ModelManifest, Nonce};
use warden_proto::seal::{SealError, TeeKeyPair};
use warden_proto::v1::verifier_client::VerifierClient;
use warden_proto::v1::{self, AttestRequest, ChallengeRequest};
use zeroize::Zeroizing;

use crate::collect::nvidia::GpuSource;
use crate::collect::{CollectError, CpuSource};

use warden_proto::CORRELATION_ID_HEADER;

/// Largest message the agent accepts from the verifier.
const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Why an attestation failed on the agent's side, or how the verifier refused it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// The verifier URL is not valid.
    #[error("invalid verifier URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The verifier could not be reached.
    #[error("cannot connect to the verifier at {url}: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The verifier refused Challenge.
    #[error("challenge failed: {code:?}: {message}")]
    Challenge {
        /// The gRPC code.
        code: tonic::Code,
        /// The verifier's message.
        message: String,
    },
    /// The verifier's nonce is not 32 bytes.
    #[error("the verifier sent a {0}-byte nonce; the protocol needs 32")]
    BadNonce(usize),
    /// The evidence could not be collected.
    #[error("collecting evidence: {0}")]
    Collect(#[from] CollectError),
    /// The verifier refused Attest. The reasons are in the verifier's log under the
    /// correlation id.
    #[error("attestation refused: {code:?}: {message}")]
    Refused {
        /// The gRPC code.
        code: tonic::Code,
        /// The verifier's message (coarse, with the correlation id).
        message: String,
        /// The correlation id, if the verifier sent one.
        correlation_id: Option<String>,
    },
    /// The verifier released a key that was not asked for.
    #[error("the verifier released key {0:?}, which was not requested")]
    UnexpectedKey(String),
    /// A released key does not open with this session's TEE key.
    #[error("key {key_id:?} does not open: {source}")]
    Open {
        /// The key id.
        key_id: String,
        /// Why.
        source: SealError,
    },
}

/// One released key, opened. The material is zeroised on drop and never printed.
pub struct ReleasedKey {
    /// The key id.
    pub key_id: String,
    /// The key material.
    pub material: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for ReleasedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ReleasedKey({:?}, <redacted, {} bytes>)",
            self.key_id,
            self.material.len()
        )
    }
}

/// The outcome of a successful attestation.
#[derive(Debug)]
pub struct Released {
    /// The verifier's correlation id for this decision.
    pub correlation_id: String,
    /// The keys the verifier released (requested keys that policy denied are absent).
    pub keys: Vec<ReleasedKey>,
}

/// Connects to the verifier at `url` (for example `http://127.0.0.1:50051`).
///
/// # Errors
///
/// [`AgentError::Url`] or [`AgentError::Connect`].
pub async fn connect(url: &str) -> Result<VerifierClient<Channel>, AgentError> {
    let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| AgentError::Url {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    let channel = endpoint
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(60))
        .tcp_nodelay(true)
        .connect()
        .await
        .map_err(|e| AgentError::Connect {
            url: url.to_owned(),
            reason: error_chain(&e),
        })?;
    Ok(VerifierClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Asks the verifier for a nonce.
///
/// # Errors
///
/// [`AgentError::Challenge`] or [`AgentError::BadNonce`].
pub async fn challenge(client: &mut VerifierClient<Channel>) -> Result<Nonce, AgentError> {
    let response = client
        .challenge(ChallengeRequest {})
        .await
        .map_err(|s| AgentError::Challenge {
            code: s.code(),
            message: s.message().to_owned(),
        })?
        .into_inner();
    Nonce::from_slice(&response.nonce).map_err(|_| AgentError::BadNonce(response.nonce.len()))
}

/// Collects CPU evidence from `source` bound to `nonce`, the TEE key and `model`, for a node
/// with no GPUs to attest: [`evidence_bundle_with_gpus`] with [`GpuSource::None`].
///
/// # Errors
///
/// [`AgentError::Collect`].
pub fn evidence_bundle(
    source: &CpuSource,
    nonce: &Nonce,
    pair: &TeeKeyPair,
    model: &ModelManifest,
) -> Result<v1::EvidenceBundle, AgentError> {
    evidence_bundle_with_gpus(source, &GpuSource::None, nonce, pair, model)
}

/// Collects evidence as the binding rules require: first every GPU's report for the GPU nonce
/// `gpu_nonce(nonce, pk)`, then the CPU evidence whose REPORT_DATA binds `nonce`, the TEE key,
/// `model` and the GPU digests in the bundle's order (REPORT_DATA depends on the GPU
/// evidence, so the CPU evidence comes last). The bundle's `cpu.tee` names the TEE that
/// produced the evidence.
///
/// # Errors
///
/// [`AgentError::Collect`].
pub fn evidence_bundle_with_gpus(
    source: &CpuSource,
    gpu_source: &GpuSource,
    nonce: &Nonce,
    pair: &TeeKeyPair,
    model: &ModelManifest,
) -> Result<v1::EvidenceBundle, AgentError> {
    let gpu_nonce = binding::gpu_nonce(nonce, pair.public_key());
    let gpus = gpu_source.collect(gpu_nonce.as_bytes())?;
    let digests: Vec<GpuDigest> = gpus
        .iter()
        .map(|g| binding::gpu_digest(&g.report, &g.certificate_chain))
        .collect();
    let report_data = binding::report_data(nonce, pair.public_key(), &model.digest(), &digests);
    let cpu = source.collect(&report_data)?;
    Ok(v1::EvidenceBundle {
        nonce: nonce.as_bytes().to_vec(),
        cpu: Some(v1::CpuEvidence {
            tee: v1::Tee::from(cpu.tee).into(),
            report: cpu.report,
            certificates: cpu.certificates,
        }),
        gpus: gpus.into_iter().map(v1::GpuEvidence::from).collect(),
        model: Some(model.into()),
        tee_pubkey: pair.public_key().as_bytes().to_vec(),
        model_signature: Vec::new(),
    })
}

/// Runs one attestation: Challenge, a fresh TEE key pair, evidence, Attest for `key_ids`, and
/// opens what was released. The key pair is dropped (zeroised) before returning. For a node
/// with no GPUs to attest: [`attest_with_gpus`] with [`GpuSource::None`].
///
/// # Errors
///
/// [`AgentError`] for each step.
pub async fn attest(
    client: &mut VerifierClient<Channel>,
    source: &CpuSource,
    model: &ModelManifest,
    key_ids: &[String],
) -> Result<Released, AgentError> {
    attest_with_gpus(client, source, &GpuSource::None, model, key_ids).await
}

/// [`attest`] with GPU evidence from `gpu_source` ([`evidence_bundle_with_gpus`]).
///
/// # Errors
///
/// [`AgentError`] for each step.
pub async fn attest_with_gpus(
    client: &mut VerifierClient<Channel>,
    source: &CpuSource,
    gpu_source: &GpuSource,
    model: &ModelManifest,
    key_ids: &[String],
) -> Result<Released, AgentError> {
    attest_signed_model(client, source, gpu_source, model, None, key_ids).await
}

/// [`attest_with_gpus`], sending `model_signature` (the OpenSSF Model Signing bundle over
/// `model`, as read from its file) beside the evidence for the verifier to check.
///
/// # Errors
///
/// [`AgentError`] for each step.
pub async fn attest_signed_model(
    client: &mut VerifierClient<Channel>,
    source: &CpuSource,
    gpu_source: &GpuSource,
    model: &ModelManifest,
    model_signature: Option<&[u8]>,
    key_ids: &[String],
) -> Result<Released, AgentError> {
    let nonce = challenge(client).await?;
    let pair = TeeKeyPair::generate();
    let mut evidence = evidence_bundle_with_gpus(source, gpu_source, &nonce, &pair, model)?;
    if let Some(signature) = model_signature {
        evidence.model_signature = signature.to_vec();
    }
    let request = AttestRequest {
        evidence: Some(evidence),
        key_ids: key_ids.to_vec(),
    };
    let response = client
        .attest(request)
        .await
        .map_err(|s| AgentError::Refused {
            code: s.code(),
            message: s.message().to_owned(),
            correlation_id: s
                .metadata()
                .get(CORRELATION_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        })?;
    let response = response.into_inner();
    open_all(&pair, &nonce, key_ids, response)
}

/// Opens every sealed key of `response` with `pair`; refuses keys that were not requested.
///
/// # Errors
///
/// [`AgentError::UnexpectedKey`] or [`AgentError::Open`].
pub fn open_all(
    pair: &TeeKeyPair,
    nonce: &Nonce,
    key_ids: &[String],
    response: v1::AttestResponse,
) -> Result<Released, AgentError> {
    let mut keys = Vec::with_capacity(response.sealed_keys.len());
    for sealed in response.sealed_keys {
        if !key_ids.contains(&sealed.key_id)
            || keys.iter().any(|k: &ReleasedKey| k.key_id == sealed.key_id)
        {
            return Err(AgentError::UnexpectedKey(sealed.key_id));
        }
        let material = pair
            .open(
                nonce,
                &sealed.key_id,
                &sealed.encapsulated_key,
                &sealed.ciphertext,
            )
            .map_err(|source| AgentError::Open {
                key_id: sealed.key_id.clone(),
                source,
            })?;
        keys.push(ReleasedKey {
            key_id: sealed.key_id,
            material,
        });
    }
    Ok(Released {
        correlation_id: response.correlation_id,
        keys,
    })
}

#[cfg(test)]
mod tests {
    use warden_evidence::sim::snp::{AmdHierarchy, simulated_chip_id};
    use warden_evidence::sim::tdx::IntelHierarchy;
    use warden_evidence::snp::Product;
    use warden_proto::binding::{HashAlgorithm, ModelResource, Serialization};

    use super::*;
    use crate::collect::SnpSource;
    use crate::collect::sim::{SimulatedSnp, SimulatedTdx};
    use crate::collect::tdx::quote_report_data;

    fn model() -> ModelManifest {
        ModelManifest::new(
            Serialization::Files,
            HashAlgorithm::Sha256,
            vec![ModelResource::new("model.safetensors", vec![1; 32])],
        )
        .unwrap()
    }

    #[test]
    fn the_bundle_names_the_tee_and_binds_the_evidence() {
        let nonce = Nonce::from_bytes([7; 32]);
        let pair = TeeKeyPair::generate();
        let model = model();
        let expected = binding::report_data(&nonce, pair.public_key(), &model.digest(), &[]);

        let tdx = CpuSource::SimulatedTdx(Box::new(SimulatedTdx::from_hierarchy(
            IntelHierarchy::shared(),
        )));
        let bundle = evidence_bundle(&tdx, &nonce, &pair, &model).unwrap();
        let cpu = bundle.cpu.unwrap();
        assert_eq!(cpu.tee(), v1::Tee::Tdx);
        assert!(cpu.certificates.is_empty());
        assert_eq!(quote_report_data(&cpu.report), Ok(expected));
        assert_eq!(bundle.nonce, nonce.as_bytes());
        assert_eq!(bundle.tee_pubkey, pair.public_key().as_bytes());

        // Through the former name and an Arc, as callers written for SEV-SNP only do.
        let snp = std::sync::Arc::new(SnpSource::Simulated(Box::new(
            SimulatedSnp::from_hierarchy(
                AmdHierarchy::shared(Product::Milan),
                simulated_chip_id(Product::Milan, 1),
            ),
        )));
        let cpu = evidence_bundle(&snp, &nonce, &pair, &model)
            .unwrap()
            .cpu
            .unwrap();
        assert_eq!(cpu.tee(), v1::Tee::SevSnp);
        assert!(!cpu.certificates.is_empty());
    }

    /// GPU evidence first, each report for the GPU nonce and verifiable to the simulated root;
    /// then CPU evidence whose REPORT_DATA is what `report_data_for_bundle` recomputes from the
    /// GPUs in the bundle's order, on both simulated TEEs.
    #[test]
    fn gpu_evidence_is_bound_into_report_data() {
        use warden_evidence::UnixTime;
        use warden_evidence::nvidia::GpuVerifier;
        use warden_evidence::sim::nvidia::{Arch, DeviceHierarchy};

        use crate::collect::sim::SimulatedGpus;

        let nonce = Nonce::from_bytes([7; 32]);
        let pair = TeeKeyPair::generate();
        let model = model();
        let gpu_nonce = binding::gpu_nonce(&nonce, pair.public_key());
        let hierarchy = DeviceHierarchy::shared(Arch::Hopper);
        let verifier = GpuVerifier::new(hierarchy.root_der().to_vec());
        let gpus = GpuSource::Simulated(Box::new(
            SimulatedGpus::from_hierarchy(hierarchy, 3).unwrap(),
        ));

        let tdx = CpuSource::SimulatedTdx(Box::new(SimulatedTdx::from_hierarchy(
            IntelHierarchy::shared(),
        )));
        let snp = CpuSource::Simulated(Box::new(SimulatedSnp::from_hierarchy(
            AmdHierarchy::shared(Product::Milan),
            simulated_chip_id(Product::Milan, 1),
        )));
        for cpu_source in [&tdx, &snp] {
            let bundle =
                evidence_bundle_with_gpus(cpu_source, &gpus, &nonce, &pair, &model).unwrap();
            assert_eq!(bundle.gpus.len(), 3);
            let mut digests = Vec::new();
            for gpu in &bundle.gpus {
                assert_eq!(gpu.arch, "HOPPER");
                // Stapled for the BROM, Provisioner ICA and Identity CA; not bound into
                // REPORT_DATA (NVIDIA's responder signs them, and they are checked on their own).
                assert_eq!(gpu.ocsp_responses.len(), 3);
                verifier
                    .verify(
                        UnixTime(1_780_272_000),
                        &gpu.report,
                        &gpu.certificate_chain,
                        gpu_nonce.as_bytes(),
                    )
                    .unwrap();
                digests.push(binding::gpu_digest(&gpu.report, &gpu.certificate_chain));
            }
            let expected =
                binding::report_data(&nonce, pair.public_key(), &model.digest(), &digests);
            assert_ne!(
                expected,
                binding::report_data(&nonce, pair.public_key(), &model.digest(), &[])
            );
            assert_eq!(binding::report_data_for_bundle(&bundle), Ok(expected));
            let cpu = bundle.cpu.as_ref().unwrap();
            let report_data = match cpu.tee() {
                v1::Tee::Tdx => quote_report_data(&cpu.report).unwrap(),
                v1::Tee::SevSnp => *warden_evidence::snp::Report::parse(&cpu.report)
                    .unwrap()
                    .report_data(),
                other => panic!("unexpected TEE {other:?}"),
            };
            assert_eq!(report_data, expected);

            // Reordering the GPUs breaks the binding.
            let mut swapped = bundle.clone();
            swapped.gpus.swap(0, 2);
            assert_ne!(binding::report_data_for_bundle(&swapped), Ok(expected));
        }
    }
}
