//! The `warden.v1.Verifier` gRPC service: Challenge hands out single-use nonces; Attest
//! verifies an evidence bundle, evaluates each requested key's policy over the claims, and
//! releases the allowed keys sealed to the TEE key bound in the evidence.
//!
//! Errors reach the agent as a coarse gRPC status carrying a correlation id (THREATS.md K9);
//! the specific reason goes to the log under that id. [`AttestError::status`] is the one place
//! where reasons become statuses.

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tonic::{Code, Request, Response, Status};
use tracing::{debug, info, warn};
use warden_evidence::UnixTime;
use warden_evidence::snp::{
    self, CertRole, ProductRoots, SnpError, SnpVerifier, TrustAnchors, VerifiedReport,
};
use warden_evidence::tdx::TdxError;
use warden_proto::binding::{self, BindingError, ModelManifest, Nonce, TeePublicKey};
use warden_proto::seal::{self, SealError};
use warden_proto::v1::verifier_server::{Verifier, VerifierServer};
use warden_proto::v1::{self, AttestRequest, AttestResponse, ChallengeRequest, ChallengeResponse};

use crate::claims::{ClaimsDocument, ClaimsError, CpuClaims};
use crate::collateral::CollateralCache;
use crate::config::{Config, MAX_KEYS_PER_REQUEST};
use crate::gpu::{GpuJudge, GpuRefusal};
use crate::keys::{KeyBroker, KeyError, KeyId, KeyIdError, MasterKey};
use crate::model_signing::ReceivedSignature;
use crate::policy::{PolicyError, PolicySet};
use crate::rims::RimStore;
use crate::store::{NonceError, Store, StoreError};
use crate::tdx::{TdxJudge, TdxRefusal};

pub use warden_proto::CORRELATION_ID_HEADER;

/// How long consumed and expired nonces are kept, so that a replay is reported as a replay.
const NONCE_RETENTION_SECS: u64 = 3600;

/// The verifier's source of time. Verification never reads the clock itself; the service asks
/// this once per request and passes the value down.
pub trait Clock: Send + Sync {
    /// The current time.
    fn now(&self) -> UnixTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        UnixTime(secs)
    }
}

/// SEV-SNP verification: AMD's pinned roots, and optionally generated test roots.
#[derive(Debug)]
pub struct SnpJudge {
    amd: SnpVerifier,
    test: Option<SnpVerifier>,
    /// SHA-256 of VEKs whose chain does not verify to AMD's roots (signature or root errors,
    /// which do not depend on time), so that test-root evidence does not pay for three failed
    /// RSA-4096 verifications on every report. Bounded; cleared when full.
    not_amd: Mutex<HashSet<[u8; 32]>>,
}

/// Most VEKs remembered as not chaining to AMD's roots.
const NOT_AMD_CACHE_LIMIT: usize = 4096;

impl SnpJudge {
    /// Verification against `amd` only.
    pub fn new(amd: TrustAnchors) -> Self {
        Self {
            amd: SnpVerifier::new(amd),
            test: None,
            not_amd: Mutex::new(HashSet::new()),
        }
    }

    /// Also accepts evidence that chains to `test` (generated hierarchies), marking its claims
    /// `simulated`. For `insecure_test_roots` only.
    #[must_use]
    pub fn with_insecure_test_roots(mut self, test: TrustAnchors) -> Self {
        self.test = Some(SnpVerifier::new(test));
        self
    }

    /// Whether test roots are trusted.
    pub fn trusts_test_roots(&self) -> bool {
        self.test.is_some()
    }

    /// Verifies a report signed by `vek` at `now`; returns it and whether it verified only
    /// through the test roots.
    ///
    /// AMD's roots are always tried first. The test roots are tried only when the chain to
    /// AMD's roots failed; if they fail too, the error reported is the test hierarchy's when
    /// its chain verified (the evidence is simulated and something after the chain is wrong),
    /// otherwise AMD's.
    ///
    /// # Errors
    ///
    /// The [`SnpError`] explaining the failure.
    pub fn verify(
        &self,
        now: UnixTime,
        report: &[u8],
        vek: &[u8],
    ) -> Result<(VerifiedReport, bool), SnpError> {
        let Some(test) = &self.test else {
            return self.amd.verify(now, report, vek).map(|v| (v, false));
        };
        let digest: [u8; 32] = Sha256::digest(vek).into();
        let known_not_amd = self.not_amd.lock().is_ok_and(|set| set.contains(&digest));
        if known_not_amd {
            return test.verify(now, report, vek).map(|v| (v, true));
        }
        match self.amd.verify(now, report, vek) {
            Ok(v) => Ok((v, false)),
            Err(amd_error) if is_chain_error(&amd_error) => match test.verify(now, report, vek) {
                Ok(v) => {
                    if let Ok(mut set) = self.not_amd.lock() {
                        if set.len() >= NOT_AMD_CACHE_LIMIT {
                            set.clear();
                        }
                        set.insert(digest);
                    }
                    Ok((v, true))
                }
                Err(test_error) if is_chain_error(&test_error) => Err(amd_error),
                Err(test_error) => Err(test_error),
            },
            Err(amd_error) => Err(amd_error),
        }
    }
}

/// Whether an error means "this VEK does not chain to these roots".
fn is_chain_error(e: &SnpError) -> bool {
    matches!(
        e,
        SnpError::CertSignature { .. } | SnpError::UntrustedRoot(_) | SnpError::NoRoots(_)
    )
}

/// Why an attestation was refused as a whole. Each variant maps to one coarse gRPC status in
/// [`AttestError::status`]; the `Display` text is the detailed reason for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttestError {
    /// The request is malformed (missing fields, wrong lengths, bad manifest).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// A key id breaks the key-id grammar (THREATS.md K3).
    #[error("bad key id: {0}")]
    BadKeyId(KeyIdError),
    /// The nonce is unknown, already used or expired (THREATS.md P1, P2).
    #[error("nonce not accepted: {0}")]
    Nonce(NonceRefusal),
    /// The CPU TEE kind is not verified by this release.
    #[error("unsupported TEE: {0}")]
    UnsupportedTee(&'static str),
    /// GPU evidence was sent, and this verifier has no GPU judge: unverified evidence never
    /// reaches policy.
    #[error("GPU evidence is not supported by this verifier ({0} GPUs sent)")]
    GpusUnsupported(usize),
    /// One GPU's evidence did not verify (chain, nonce, signature, FWID, RIM comparison).
    #[error("GPU {index} evidence rejected: {reason}")]
    Gpu {
        /// The GPU's position in the evidence list.
        index: usize,
        /// Why.
        reason: String,
    },
    /// The CPU evidence did not verify.
    #[error("SEV-SNP evidence rejected: {0}")]
    Snp(SnpError),
    /// The TDX quote did not verify.
    #[error("TDX evidence rejected: {0}")]
    Tdx(TdxError),
    /// The verifier has no fresh DCAP collateral for the quote's platform (FMSPC): the
    /// operator must import it (or the fetcher must reach PCS); the agent may retry later.
    #[error("TDX collateral unavailable: {0}")]
    Collateral(TdxError),
    /// The evidence is not bound to this session: REPORT_DATA differs from the value recomputed
    /// from the nonce, TEE key, model and GPU evidence (THREATS.md P3-P5, P9, P10).
    #[error("binding rejected: {0}")]
    Binding(BindingError),
    /// The TEE key cannot be sealed to (THREATS.md P6).
    #[error("TEE key rejected: {0}")]
    TeeKey(SealError),
    /// Policy released none of the requested keys.
    #[error("no requested key was released: {0}")]
    AllDenied(String),
    /// A fault on the verifier's side (storage, policy engine).
    #[error("internal error: {0}")]
    Internal(String),
}

impl AttestError {
    /// The coarse status the agent sees: a code and a fixed message with the correlation id.
    pub fn status(&self, correlation_id: &str) -> Status {
        let (code, message) = match self {
            Self::Malformed(_) | Self::BadKeyId(_) => (Code::InvalidArgument, "malformed request"),
            Self::Nonce(_) => (
                Code::FailedPrecondition,
                "nonce not accepted; request a new challenge",
            ),
            Self::UnsupportedTee(_) | Self::GpusUnsupported(_) => {
                (Code::Unimplemented, "evidence kind not supported")
            }
            Self::Snp(_) | Self::Tdx(_) | Self::Gpu { .. } | Self::Binding(_) | Self::TeeKey(_) => {
                (Code::PermissionDenied, "attestation failed")
            }
            Self::Collateral(_) => (
                Code::Unavailable,
                "the verifier lacks current collateral for this platform; retry later",
            ),
            Self::AllDenied(_) => (Code::PermissionDenied, "no requested key was released"),
            Self::Internal(_) => (Code::Internal, "internal error"),
        };
        with_correlation_id(
            Status::new(code, format!("{message} (correlation id {correlation_id})")),
            correlation_id,
        )
    }
}

/// Why a nonce was not accepted (the store's [`NonceError`] without its storage faults, which
/// are [`AttestError::Internal`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NonceRefusal {
    /// Never issued by this verifier (or purged long after use).
    #[error("unknown nonce")]
    Unknown,
    /// Already consumed by an earlier Attest (THREATS.md P1).
    #[error("nonce already used")]
    AlreadyUsed,
    /// Past its lifetime (THREATS.md P2).
    #[error("nonce expired at {expired_at}")]
    Expired {
        /// When it expired.
        expired_at: UnixTime,
    },
}

fn nonce_refusal(e: NonceError) -> AttestError {
    match e {
        NonceError::Unknown => AttestError::Nonce(NonceRefusal::Unknown),
        NonceError::AlreadyUsed => AttestError::Nonce(NonceRefusal::AlreadyUsed),
        NonceError::Expired { expired_at } => {
            AttestError::Nonce(NonceRefusal::Expired { expired_at })
        }
        NonceError::Length(n) => AttestError::Malformed(format!("nonce must be 32 bytes, got {n}")),
        other => AttestError::Internal(format!("nonce store: {other}")),
    }
}

fn with_correlation_id(mut status: Status, correlation_id: &str) -> Status {
    if let Ok(value) = correlation_id.parse() {
        status.metadata_mut().insert(CORRELATION_ID_HEADER, value);
    }
    status
}

/// The decision on one requested key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDecision {
    /// The key id.
    pub key_id: String,
    /// The policy the key names, if the key exists.
    pub policy: Option<String>,
    /// SHA-256 of that policy (source and data), hex, if it was evaluated (THREATS.md K8).
    pub policy_digest: Option<String>,
    /// Whether the key was released.
    pub allow: bool,
    /// Why not (empty when released).
    pub reasons: Vec<String>,
    /// `model.signature` as this key's policy judged it (its pinned signers), when the policy
    /// was evaluated.
    pub model_signature: Option<Value>,
}

/// What the verifier decided for one Attest call, as written to the log.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    /// The correlation id returned to the agent.
    pub correlation_id: String,
    /// The verification time.
    pub time: UnixTime,
    /// Per-key decisions (empty when the attestation was refused before policy ran).
    pub decisions: Vec<KeyDecision>,
    /// Why the attestation was refused as a whole, if it was.
    pub refusal: Option<AttestError>,
    /// The claims document policy saw (without `request.key_id`), when verification got that
    /// far.
    pub claims: Option<Value>,
    /// SHA-256 of the TEE public key, hex, when it was well formed.
    pub tee_pubkey_sha256: Option<String>,
}

/// Something that wants to see every decision (the demo, tests; later the transparency log).
pub type DecisionObserver = Arc<dyn Fn(&DecisionRecord) + Send + Sync>;

/// Everything a running verifier holds.
pub struct VerifierState {
    store: Arc<Store>,
    broker: KeyBroker,
    policies: Arc<PolicySet>,
    snp: SnpJudge,
    tdx: Option<TdxJudge>,
    gpu: Option<GpuJudge>,
    nonce_ttl: Duration,
    clock: Arc<dyn Clock>,
    rng: SystemRandom,
    observer: Option<DecisionObserver>,
}

impl std::fmt::Debug for VerifierState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierState")
            .field("policies", &self.policies.names())
            .field("snp", &self.snp)
            .field("nonce_ttl", &self.nonce_ttl)
            .finish_non_exhaustive()
    }
}

/// Why the verifier could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The database could not be opened.
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    /// The master key could not be loaded or created.
    #[error("master key: {0}")]
    MasterKey(#[from] KeyError),
    /// The policies could not be loaded.
    #[error("policies: {0}")]
    Policy(#[from] PolicyError),
    /// A trust anchor file is unreadable or invalid.
    #[error("trust anchor {path}: {reason}")]
    TrustAnchor {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The TDX collateral cache could not be loaded, or its refresher started.
    #[error("TDX collateral: {0}")]
    Collateral(String),
    /// The GPU RIM fetcher could not be set up (its service key file).
    #[error("GPU RIM fetcher: {0}")]
    RimFetch(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl VerifierState {
    /// A verifier from its parts.
    pub fn new(
        store: Arc<Store>,
        broker: KeyBroker,
        policies: Arc<PolicySet>,
        snp: SnpJudge,
        nonce_ttl: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            broker,
            policies,
            snp,
            tdx: None,
            gpu: None,
            nonce_ttl,
            clock,
            rng: SystemRandom::new(),
            observer: None,
        }
    }

    /// Verifies Intel TDX quotes with `tdx`. Without it TDX evidence is refused as unsupported.
    #[must_use]
    pub fn with_tdx(mut self, tdx: TdxJudge) -> Self {
        self.tdx = Some(tdx);
        self
    }

    /// Verifies NVIDIA GPU evidence with `gpu`. Without it GPU evidence is refused as
    /// unsupported.
    #[must_use]
    pub fn with_gpu(mut self, gpu: GpuJudge) -> Self {
        self.gpu = Some(gpu);
        self
    }

    /// The GPU judge, if GPUs are verified.
    pub fn gpu(&self) -> Option<&GpuJudge> {
        self.gpu.as_ref()
    }

    /// The TDX judge, if TDX is verified.
    pub fn tdx(&self) -> Option<&TdxJudge> {
        self.tdx.as_ref()
    }

    /// Opens the state, the master key, the policies and the trust anchors a configuration
    /// names. Logs a warning for every insecure setting.
    ///
    /// # Errors
    ///
    /// [`StartError`] naming what could not be loaded.
    pub fn from_config(config: &Config) -> Result<Self, StartError> {
        let store = Arc::new(Store::open(&config.state_dir)?);
        let (master, created) = MasterKey::load_or_create(&config.master_key)?;
        if created {
            info!(path = %config.master_key.display(), "created a new master key (mode 0600); back it up");
        }
        let broker = KeyBroker::new(Arc::clone(&store), master);
        let policies = match &config.policy_dir {
            Some(dir) => PolicySet::load_dir(dir)?,
            None => PolicySet::builtin()?,
        };
        let mut amd = crate::roots::amd();
        for crl in &config.amd_crls {
            let bytes = read_anchor(&crl.path)?;
            amd = snp::decode_crl(&bytes)
                .and_then(|der| amd.clone().with_crl(crl.product, der))
                .map_err(|e| StartError::TrustAnchor {
                    path: crl.path.clone(),
                    reason: e.to_string(),
                })?;
        }
        let mut snp_judge = SnpJudge::new(amd);
        if !config.insecure_test_roots.is_empty() {
            let mut test = TrustAnchors::new();
            for root in &config.insecure_test_roots {
                let bytes = read_anchor(&root.cert_chain)?;
                let chain = snp::decode_certificates(&bytes, &[CertRole::Ask, CertRole::Ark])
                    .map_err(|e| StartError::TrustAnchor {
                        path: root.cert_chain.clone(),
                        reason: e.to_string(),
                    })?;
                let [ask, ark] =
                    <[Vec<u8>; 2]>::try_from(chain).map_err(|_| StartError::TrustAnchor {
                        path: root.cert_chain.clone(),
                        reason: "expected two certificates: ASK, then ARK".to_owned(),
                    })?;
                warn!(
                    product = %root.product,
                    cert_chain = %root.cert_chain.display(),
                    "insecure_test_roots: trusting a generated SEV-SNP test hierarchy; evidence \
                     it signs is marked simulated. Never use this in production"
                );
                test = test.with(
                    root.product,
                    ProductRoots {
                        ark,
                        ask: Some(ask),
                        asvk: None,
                        crls: Vec::new(),
                    },
                );
            }
            snp_judge = snp_judge.with_insecure_test_roots(test);
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let cache = Arc::new(
            CollateralCache::open(Arc::clone(&store))
                .map_err(|e| StartError::Collateral(e.to_string()))?,
        );
        let mut tdx = TdxJudge::new(crate::roots::intel_sgx_root_ca(), Arc::clone(&cache));
        if !config.insecure_tdx_test_roots.is_empty() {
            let mut roots = Vec::new();
            for path in &config.insecure_tdx_test_roots {
                let bytes = read_anchor(path)?;
                let der = crate::tdx::single_certificate(&bytes).map_err(|reason| {
                    StartError::TrustAnchor {
                        path: path.clone(),
                        reason,
                    }
                })?;
                warn!(
                    root = %path.display(),
                    "insecure_tdx_test_roots: trusting a generated Intel DCAP test root; quotes \
                     it signs are marked simulated. Never use this in production"
                );
                roots.push(der);
            }
            tdx = tdx.with_insecure_test_roots(roots);
        }
        if let Some(fetch) = &config.collateral_fetch {
            let client = crate::pcs::PcsClient::new(fetch);
            crate::pcs::spawn_refresher(client.clone(), cache, Arc::clone(&clock), fetch)
                .map_err(|e| StartError::Collateral(format!("cannot start the refresher: {e}")))?;
            info!(url = %fetch.url, "TDX collateral fetcher on");
            tdx = tdx.with_fetcher(client);
        }
        let mut gpu = GpuJudge::pinned(RimStore::new(Arc::clone(&store)));
        if !config.insecure_gpu_test_roots.is_empty() {
            let mut roots = Vec::new();
            for path in &config.insecure_gpu_test_roots {
                roots.push(read_test_root(path)?);
                warn!(
                    root = %path.display(),
                    "insecure_gpu_test_roots: trusting a generated NVIDIA device test root; GPU \
                     reports it signs are marked simulated. Never use this in production"
                );
            }
            gpu = gpu.with_insecure_test_roots(roots);
        }
        if !config.insecure_rim_test_roots.is_empty() {
            let mut roots = Vec::new();
            for path in &config.insecure_rim_test_roots {
                roots.push(read_test_root(path)?);
                warn!(
                    root = %path.display(),
                    "insecure_rim_test_roots: trusting a generated CoRIM signing test root for \
                     stored RIMs. Never use this in production"
                );
            }
            gpu = gpu.with_insecure_rim_test_roots(roots);
        }
        let cache = crate::revocation::OcspCache::new(Arc::clone(&store));
        let revocation = &config.gpu_revocation;
        gpu = gpu.with_revocation(match (revocation.mode, &revocation.ocsp_url) {
            (crate::revocation::RevocationMode::Off, _) => {
                warn!(
                    "gpu_revocation.mode = \"off\": NVIDIA certificate revocation is not \
                     checked; GPU claims say revocation \"off\""
                );
                crate::revocation::Revocation::off()
            }
            (crate::revocation::RevocationMode::Online, Some(url)) => {
                info!(url = %url, "GPU certificate revocation: online OCSP");
                crate::revocation::Revocation::online(
                    crate::revocation::OnlineOcsp {
                        url: url.clone(),
                        timeout: revocation.timeout,
                        nonce: revocation.online_nonce,
                    },
                    Some(cache),
                )
            }
            _ => crate::revocation::Revocation::stapled(Some(cache)),
        });
        if let Some(fetch) = &config.rim_fetch {
            let client = crate::rim_fetch::RimClient::new(fetch)
                .map_err(|e| StartError::RimFetch(e.to_string()))?;
            if fetch.service_key_file.is_some() && fetch.url.starts_with("http://") {
                warn!(
                    url = %fetch.url,
                    "gpu_rims: the service key is sent over plain http://; use https://"
                );
            }
            info!(url = %fetch.url, timeout_secs = fetch.timeout.as_secs(), service_key = fetch.service_key_file.is_some(), "GPU RIM fetcher on");
            gpu = gpu.with_rim_fetcher(client);
        }
        Ok(Self::new(
            store,
            broker,
            Arc::new(policies),
            snp_judge,
            config.nonce_ttl,
            clock,
        )
        .with_tdx(tdx)
        .with_gpu(gpu))
    }

    /// Calls `observer` with every decision.
    #[must_use]
    pub fn with_observer(mut self, observer: DecisionObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The key broker.
    pub fn broker(&self) -> &KeyBroker {
        &self.broker
    }

    /// The state store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Issues a nonce: 32 bytes from the system CSPRNG, stored with its expiry.
    ///
    /// # Errors
    ///
    /// [`AttestError::Internal`] if the CSPRNG or the store fails.
    pub fn challenge(&self) -> Result<(Nonce, UnixTime), AttestError> {
        let mut nonce = [0u8; Nonce::LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| AttestError::Internal("system CSPRNG failed".to_owned()))?;
        let now = self.clock.now();
        let expires_at = self
            .store
            .issue_nonce(&nonce, now, self.nonce_ttl.as_secs())
            .map_err(|e| AttestError::Internal(e.to_string()))?;
        Ok((Nonce::from_bytes(nonce), expires_at))
    }

    /// Judges one Attest request: the whole pipeline, synchronous (run it off the async
    /// reactor). Logs the decision and tells the observer.
    pub fn attest(&self, correlation_id: &str, request: &AttestRequest) -> AttestOutcome {
        let now = self.clock.now();
        let mut record = DecisionRecord {
            correlation_id: correlation_id.to_owned(),
            time: now,
            decisions: Vec::new(),
            refusal: None,
            claims: None,
            tee_pubkey_sha256: None,
        };
        let response = self.judge(now, request, &mut record);
        record.refusal = response.as_ref().err().cloned();
        log_decision(&record);
        if let Some(observer) = &self.observer {
            observer(&record);
        }
        AttestOutcome { response, record }
    }

    fn judge(
        &self,
        now: UnixTime,
        request: &AttestRequest,
        record: &mut DecisionRecord,
    ) -> Result<Vec<v1::SealedKey>, AttestError> {
        // 1. Syntax, before anything is consumed or computed.
        let bundle = request
            .evidence
            .as_ref()
            .ok_or_else(|| AttestError::Malformed("evidence is missing".to_owned()))?;
        let key_ids = parse_key_ids(&request.key_ids)?;
        let nonce = Nonce::from_slice(&bundle.nonce).map_err(malformed)?;
        let tee_pubkey = TeePublicKey::from_slice(&bundle.tee_pubkey).map_err(malformed)?;
        record.tee_pubkey_sha256 = Some(hex::encode(ring::digest::digest(
            &ring::digest::SHA256,
            tee_pubkey.as_bytes(),
        )));
        let cpu = bundle
            .cpu
            .as_ref()
            .ok_or_else(|| AttestError::Malformed("cpu evidence is missing".to_owned()))?;
        let model = ModelManifest::try_from(
            bundle
                .model
                .as_ref()
                .ok_or_else(|| AttestError::Malformed("model manifest is missing".to_owned()))?,
        )
        .map_err(malformed)?;

        if bundle.model_signature.len() > crate::model_signing::MAX_SIGNATURE_BYTES {
            return Err(AttestError::Malformed(format!(
                "model_signature is {} bytes, at most {} are accepted",
                bundle.model_signature.len(),
                crate::model_signing::MAX_SIGNATURE_BYTES
            )));
        }

        // 2. The nonce: consumed now, whatever happens next (docs/protocol.md).
        self.store
            .consume_nonce(nonce.as_bytes(), now)
            .map_err(nonce_refusal)?;

        // 3. The evidence.
        if bundle.gpus.len() > crate::gpu::MAX_GPUS {
            return Err(AttestError::Malformed(format!(
                "{} GPUs sent, at most {} are accepted",
                bundle.gpus.len(),
                crate::gpu::MAX_GPUS
            )));
        }
        let expected = binding::report_data_for_bundle(bundle).map_err(AttestError::Binding)?;
        let snp_verified;
        let tdx_verified;
        let (cpu_claims, simulated, report_data) = match v1::Tee::try_from(cpu.tee) {
            Ok(v1::Tee::SevSnp) => {
                let vek =
                    snp::vek_from_certificates(&cpu.certificates).map_err(AttestError::Snp)?;
                let (verified, simulated) = self
                    .snp
                    .verify(now, &cpu.report, &vek)
                    .map_err(AttestError::Snp)?;
                snp_verified = verified;
                (
                    CpuClaims::Snp(&snp_verified.claims),
                    simulated,
                    snp_verified.report.report_data(),
                )
            }
            Ok(v1::Tee::Tdx) => {
                let Some(tdx) = &self.tdx else {
                    return Err(AttestError::UnsupportedTee("TDX"));
                };
                if !cpu.certificates.is_empty() {
                    return Err(AttestError::Malformed(
                        "cpu.certificates must be empty for TDX: the PCK chain is in the quote"
                            .to_owned(),
                    ));
                }
                let (verified, simulated) = tdx.verify(now, &cpu.report).map_err(|e| match e {
                    TdxRefusal::Quote(e) => AttestError::Tdx(e),
                    TdxRefusal::Collateral(e) => AttestError::Collateral(e),
                    TdxRefusal::Cache(e) => AttestError::Internal(e),
                })?;
                tdx_verified = verified;
                (
                    CpuClaims::Tdx(&tdx_verified.claims),
                    simulated,
                    tdx_verified.quote.report_data(),
                )
            }
            Ok(v1::Tee::Unspecified) | Err(_) => {
                return Err(AttestError::Malformed(format!(
                    "cpu.tee {} is not a TEE kind",
                    cpu.tee
                )));
            }
        };

        // 4. The binding: every byte of REPORT_DATA.
        binding::verify_report_data(&expected, report_data).map_err(AttestError::Binding)?;

        // 5. The GPUs, now known to be the ones the CPU TEE bound.
        let gpus = if bundle.gpus.is_empty() {
            Vec::new()
        } else {
            let Some(judge) = &self.gpu else {
                return Err(AttestError::GpusUnsupported(bundle.gpus.len()));
            };
            let gpu_nonce = binding::gpu_nonce(&nonce, &tee_pubkey);
            judge
                .verify(now, &bundle.gpus, gpu_nonce.as_bytes())
                .map_err(|e| match e {
                    GpuRefusal::TooMany(n) => {
                        AttestError::Malformed(format!("{n} GPUs sent, at most 8 are accepted"))
                    }
                    GpuRefusal::Gpu { index, reason } => AttestError::Gpu { index, reason },
                    GpuRefusal::Store(e) => AttestError::Internal(e),
                })?
        };
        let claims = ClaimsDocument::new(
            cpu_claims,
            simulated,
            gpus,
            &model,
            &nonce,
            &tee_pubkey,
            &request.key_ids,
            now,
        )
        .map_err(|e: ClaimsError| AttestError::Internal(e.to_string()))?;

        // 6. Policy, per key; the model signature is judged under each key's policy's signers.
        let mut shared = claims.shared().clone();
        if let Some(model) = shared.get_mut("model").and_then(Value::as_object_mut) {
            // Judged per key (KeyDecision::model_signature); here only whether one came.
            model.insert(
                "signature".to_owned(),
                serde_json::json!({ "present": !bundle.model_signature.is_empty() }),
            );
        }
        record.claims = Some(shared);
        let signature = ReceivedSignature::parse(&bundle.model_signature);
        let model_check = ModelCheck {
            signature: &signature,
            model: &model,
            now,
            judged: std::cell::RefCell::new(Vec::new()),
        };
        let mut sealed = Vec::new();
        for key_id in &key_ids {
            let (decision, material) = self.decide(&claims, &model_check, key_id)?;
            if let Some(material) = material {
                let s = seal::seal(&tee_pubkey, &nonce, key_id.as_ref(), material.expose())
                    .map_err(AttestError::TeeKey)?;
                sealed.push(v1::SealedKey {
                    key_id: key_id.to_string(),
                    encapsulated_key: s.encapsulated_key.to_vec(),
                    ciphertext: s.ciphertext,
                });
            }
            record.decisions.push(decision);
        }
        if sealed.is_empty() {
            let summary = record
                .decisions
                .iter()
                .map(|d| format!("{}: {}", d.key_id, d.reasons.join("; ")))
                .collect::<Vec<_>>()
                .join(" | ");
            return Err(AttestError::AllDenied(summary));
        }
        Ok(sealed)
    }

    /// Evaluates `key_id`'s policy; returns the decision and, if allowed, the key material.
    fn decide(
        &self,
        claims: &ClaimsDocument,
        model_check: &ModelCheck<'_>,
        key_id: &KeyId,
    ) -> Result<(KeyDecision, Option<crate::keys::KeyMaterial>), AttestError> {
        let mut decision = KeyDecision {
            key_id: key_id.to_string(),
            policy: None,
            policy_digest: None,
            allow: false,
            reasons: Vec::new(),
            model_signature: None,
        };
        // One read gives the policy name and the material: what is judged is what is released.
        let Some(stored) = self
            .broker
            .load(key_id)
            .map_err(|e| AttestError::Internal(e.to_string()))?
        else {
            decision
                .reasons
                .push(format!("unknown key id \"{key_id}\""));
            return Ok((decision, None));
        };
        decision.policy = Some(stored.policy.clone());
        let Some(policy) = self.policies.get(&stored.policy) else {
            decision.reasons.push(format!(
                "key \"{key_id}\" names policy {:?}, which is not loaded",
                stored.policy
            ));
            return Ok((decision, None));
        };
        decision.policy_digest = Some(policy.digest_hex());
        let signature = model_check.judge(&policy);
        decision.model_signature = Some(signature.clone());
        let verdict = policy
            .evaluate(&claims.for_key_with_signature(key_id.as_ref(), signature))
            .map_err(|e| AttestError::Internal(format!("policy {}: {e}", policy.name())))?;
        decision.allow = verdict.allow;
        decision.reasons = verdict.reasons;
        Ok((decision, verdict.allow.then_some(stored.material)))
    }
}

/// What the per-key model signature check needs: the signature as received, the manifest the
/// evidence bound, and the verification time.
struct ModelCheck<'a> {
    signature: &'a ReceivedSignature,
    model: &'a ModelManifest,
    now: UnixTime,
    /// Claims already computed in this attestation, by policy digest (several keys often
    /// share a policy).
    judged: std::cell::RefCell<Vec<([u8; 32], Value)>>,
}

impl ModelCheck<'_> {
    /// `model.signature` under `policy`'s signers.
    fn judge(&self, policy: &crate::policy::Policy) -> Value {
        let digest = policy.digest();
        if let Some((_, claims)) = self.judged.borrow().iter().find(|(d, _)| *d == digest) {
            return claims.clone();
        }
        let claims = self
            .signature
            .claims(policy.model_trust(), self.model, self.now);
        self.judged.borrow_mut().push((digest, claims.clone()));
        claims
    }
}

/// The result of [`VerifierState::attest`]: the response (or refusal) and the decision record.
#[derive(Debug)]
pub struct AttestOutcome {
    /// The sealed keys, or why the attestation was refused.
    pub response: Result<Vec<v1::SealedKey>, AttestError>,
    /// The decision as logged.
    pub record: DecisionRecord,
}

fn malformed(e: BindingError) -> AttestError {
    AttestError::Malformed(e.to_string())
}

fn parse_key_ids(ids: &[String]) -> Result<Vec<KeyId>, AttestError> {
    if ids.is_empty() {
        return Err(AttestError::Malformed("no key ids requested".to_owned()));
    }
    if ids.len() > MAX_KEYS_PER_REQUEST {
        return Err(AttestError::Malformed(format!(
            "{} key ids requested, at most {MAX_KEYS_PER_REQUEST} allowed",
            ids.len()
        )));
    }
    let mut parsed: Vec<KeyId> = Vec::with_capacity(ids.len());
    for id in ids {
        let key_id = KeyId::parse(id).map_err(AttestError::BadKeyId)?;
        if parsed.iter().any(|k| k.as_ref() == key_id.as_ref()) {
            return Err(AttestError::Malformed(format!(
                "key id {id:?} requested twice"
            )));
        }
        parsed.push(key_id);
    }
    Ok(parsed)
}

fn log_decision(record: &DecisionRecord) {
    let id = record.correlation_id.as_str();
    if let Some(claims) = &record.claims {
        debug!(correlation_id = id, claims = %claims, "claims seen by policy");
    }
    for d in record.decisions.iter().filter(|d| !d.allow) {
        warn!(
            correlation_id = id,
            key_id = %d.key_id,
            policy = d.policy.as_deref().unwrap_or("-"),
            policy_digest = d.policy_digest.as_deref().unwrap_or("-"),
            reasons = ?d.reasons,
            "key denied"
        );
    }
    match &record.refusal {
        Some(AttestError::AllDenied(_)) => {
            warn!(
                correlation_id = id,
                "attestation denied: no requested key was released"
            );
        }
        Some(e) => warn!(correlation_id = id, reason = %e, "attestation refused"),
        None => {
            let released: Vec<&str> = record
                .decisions
                .iter()
                .filter(|d| d.allow)
                .map(|d| d.key_id.as_str())
                .collect();
            info!(
                correlation_id = id,
                released = ?released,
                tee_pubkey_sha256 = record.tee_pubkey_sha256.as_deref().unwrap_or("-"),
                "attestation allowed"
            );
        }
    }
}

/// The tonic service.
#[derive(Debug, Clone)]
pub struct VerifierService {
    state: Arc<VerifierState>,
}

impl VerifierService {
    /// The service over `state`.
    pub fn new(state: Arc<VerifierState>) -> Self {
        Self { state }
    }
}

fn correlation_id(rng: &SystemRandom) -> String {
    let mut id = [0u8; 16];
    // A failing CSPRNG leaves zeros: still a valid (if not unique) id, and the request fails
    // later anyway when a nonce or HPKE needs randomness.
    let _ = rng.fill(&mut id);
    hex::encode(id)
}

#[tonic::async_trait]
impl Verifier for VerifierService {
    async fn challenge(
        &self,
        _request: Request<ChallengeRequest>,
    ) -> Result<Response<ChallengeResponse>, Status> {
        let state = Arc::clone(&self.state);
        let issued = tokio::task::spawn_blocking(move || state.challenge())
            .await
            .map_err(|e| AttestError::Internal(e.to_string()));
        match issued.and_then(|r| r) {
            Ok((nonce, expires_at)) => Ok(Response::new(ChallengeResponse {
                nonce: nonce.as_bytes().to_vec(),
                expires_at_unix_seconds: u64::try_from(expires_at.0).unwrap_or(0),
            })),
            Err(e) => {
                let id = correlation_id(&self.state.rng);
                warn!(correlation_id = %id, reason = %e, "challenge failed");
                Err(e.status(&id))
            }
        }
    }

    async fn attest(
        &self,
        request: Request<AttestRequest>,
    ) -> Result<Response<AttestResponse>, Status> {
        let id = correlation_id(&self.state.rng);
        let state = Arc::clone(&self.state);
        let request = request.into_inner();
        let task_id = id.clone();
        let outcome = tokio::task::spawn_blocking(move || state.attest(&task_id, &request)).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(e) => {
                let e = AttestError::Internal(format!("attestation task failed: {e}"));
                warn!(correlation_id = %id, reason = %e, "attestation refused");
                return Err(e.status(&id));
            }
        };
        match outcome.response {
            Ok(sealed_keys) => {
                let mut response = Response::new(AttestResponse {
                    sealed_keys,
                    result_token: String::new(),
                    correlation_id: id.clone(),
                });
                if let Ok(value) = id.parse() {
                    response.metadata_mut().insert(CORRELATION_ID_HEADER, value);
                }
                Ok(response)
            }
            Err(e) => Err(e.status(&id)),
        }
    }
}

/// Limits of the gRPC server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message decoded or encoded.
    pub max_message_bytes: usize,
    /// Deadline of one request.
    pub request_timeout: Duration,
    /// Requests served at once per connection.
    pub concurrency_per_connection: usize,
}

impl Limits {
    /// The limits a configuration names.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_message_bytes: config.max_message_bytes,
            request_timeout: config.request_timeout,
            concurrency_per_connection: config.concurrency_per_connection,
        }
    }
}

/// Serves `state` on `listener` until `shutdown` completes, then finishes in-flight requests.
///
/// # Errors
///
/// The transport error that stopped the server.
pub async fn serve(
    state: Arc<VerifierState>,
    limits: Limits,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let purge_state = Arc::clone(&state);
    let purger = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            let s = Arc::clone(&purge_state);
            let purged = tokio::task::spawn_blocking(move || {
                s.store.purge_nonces(s.clock.now(), NONCE_RETENTION_SECS)
            })
            .await;
            if let Ok(Err(e)) = purged {
                warn!(reason = %e, "purging old nonces failed");
            }
        }
    });
    let service = VerifierServer::new(VerifierService::new(state))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
    // Nagle off on every accepted connection: with it, small responses wait for the peer's
    // delayed ACK (40 ms on Linux).
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let result = tonic::transport::Server::builder()
        .timeout(limits.request_timeout)
        .concurrency_limit_per_connection(limits.concurrency_per_connection)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .add_service(service)
        .serve_with_incoming_shutdown(incoming, shutdown)
        .await;
    purger.abort();
    result
}

/// Binds `addr`.
///
/// # Errors
///
/// [`StartError::Listen`].
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Listen { addr, source })
}

/// A test root CA file (PEM or DER, one certificate) as DER.
fn read_test_root(path: &Path) -> Result<Vec<u8>, StartError> {
    let bytes = read_anchor(path)?;
    crate::tdx::single_certificate(&bytes).map_err(|reason| StartError::TrustAnchor {
        path: path.to_owned(),
        reason,
    })
}

fn read_anchor(path: &Path) -> Result<Vec<u8>, StartError> {
    std::fs::read(path).map_err(|e| StartError::TrustAnchor {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}
