//! Revocation of the NVIDIA certificates behind GPU evidence: per-certificate OCSP, in one of
//! three modes chosen by the operator (`[gpu_revocation] mode`):
//!
//! - `stapled` (the default): every checked certificate needs a verified, fresh response, taken
//!   from the evidence (`GpuEvidence.ocsp_responses`, which the agent fetched) or from the
//!   verifier's OCSP cache (`warden-verifier ocsp import`, and responses saved by `online`
//!   checks). No network. A certificate without one refuses the GPU.
//! - `online`: each checked certificate is queried at `ocsp_url` with a fresh nonce (unless
//!   `online_nonce = false`, for responders that do not echo one); good answers are also saved
//!   to the cache.
//! - `off`: nothing is checked; every GPU's claims say `revocation: "off"`, each attestation
//!   logs a warning, and the default policy denies it unless `data.gpus.allow_revocation_off`.
//!
//! Checked certificates, as NVIDIA's verifier does: 1..=3 of the device chain (GSP BROM,
//! Provisioner ICA, Identity CA) and 0..=2 of each RIM's chain (signer, L3, CA). A `revoked`
//! (other than certificateHold) or `unknown` answer refuses the GPU; `certificateHold` is a
//! claim (`revocation_status: "hold"`) that the default policy denies unless
//! `data.gpus.allow_certificate_hold`.

use std::io::Read as _;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use warden_evidence::UnixTime;
use warden_evidence::nvidia::ocsp::{
    self, OcspCertStatus, OcspError, OcspOptions, certificate_serial, certificate_subject,
};

use crate::bundle::{self, BundleError};
use crate::store::{OcspRow, Store, StoreError};

/// The revocation mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationMode {
    /// No check; visible in claims and logs.
    Off,
    /// Responses from the evidence or the cache, no network.
    Stapled,
    /// Responses fetched from the configured responder for every check.
    Online,
}

impl RevocationMode {
    /// The name used in configuration and claims.
    pub fn name(self) -> &'static str {
        match self {
            Self::Off => "off",
            Self::Stapled => "stapled",
            Self::Online => "online",
        }
    }

    /// Parses `off`, `stapled` or `online`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "off" => Some(Self::Off),
            "stapled" => Some(Self::Stapled),
            "online" => Some(Self::Online),
            _ => None,
        }
    }
}

/// The `online` responder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineOcsp {
    /// Where requests are POSTed (NVIDIA's: `https://ocsp.ndis.nvidia.com/`).
    pub url: String,
    /// Timeout of one request.
    pub timeout: Duration,
    /// Send a nonce and require it echoed.
    pub nonce: bool,
}

/// Which chain a checked certificate is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChainKind {
    /// The GPU's device chain.
    Device,
    /// The driver RIM's signing chain.
    DriverRim,
    /// The VBIOS RIM's signing chain.
    VbiosRim,
}

impl ChainKind {
    fn name(self) -> &'static str {
        match self {
            Self::Device => "device",
            Self::DriverRim => "driver RIM",
            Self::VbiosRim => "VBIOS RIM",
        }
    }
}

/// Where a verified response came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ResponseSource {
    /// Stapled to the evidence by the agent.
    Evidence,
    /// The verifier's OCSP cache.
    Cache,
    /// Fetched from the responder for this check.
    Online,
}

/// One checked certificate, for the claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertRevocation {
    /// The chain.
    pub chain: ChainKind,
    /// The certificate's position in it, leaf first.
    pub index: usize,
    /// Its subject.
    pub subject: String,
    /// Its status.
    pub status: OcspCertStatus,
    /// Where the response came from.
    pub source: ResponseSource,
    /// Until when the response is fresh (RFC 3339).
    pub valid_until: String,
}

/// Why revocation refused a GPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// No usable response for a certificate (stapled mode).
    #[error(
        "no valid OCSP response for {chain} certificate {index} ({subject}) in the evidence or \
         the OCSP cache{}",
        last.as_ref().map(|e| format!(" (last candidate: {e})")).unwrap_or_default()
    )]
    Missing {
        /// The chain's name.
        chain: &'static str,
        /// The certificate's index.
        index: usize,
        /// Its subject.
        subject: String,
        /// Why the last candidate response failed, if there was one.
        last: Option<OcspError>,
    },
    /// A verified response says revoked or unknown, or the online answer did not verify.
    #[error("{chain} certificate {index} ({subject}): {error}")]
    Refused {
        /// The chain's name.
        chain: &'static str,
        /// The certificate's index.
        index: usize,
        /// Its subject.
        subject: String,
        /// The OCSP result.
        error: OcspError,
    },
    /// The online responder could not be asked.
    #[error("OCSP request for {chain} certificate {index} ({subject}) to {url} failed: {reason}")]
    Fetch {
        /// The chain's name.
        chain: &'static str,
        /// The certificate's index.
        index: usize,
        /// Its subject.
        subject: String,
        /// The responder.
        url: String,
        /// Why.
        reason: String,
    },
    /// The chain is shorter than the checked range.
    #[error("{chain} chain has {len} certificates, too few to check by OCSP")]
    ShortChain {
        /// The chain's name.
        chain: &'static str,
        /// Its length.
        len: usize,
    },
    /// The OCSP cache could not be read or written.
    #[error("OCSP cache: {0}")]
    Store(String),
}

impl From<StoreError> for RevocationError {
    fn from(e: StoreError) -> Self {
        Self::Store(e.to_string())
    }
}

/// The DER OCSP responses of `path`: the file itself, or the files of a directory (one level,
/// hidden files skipped, sorted), read with the bundle reader of `rims import` and
/// `collateral import`, each at most [`ocsp::MAX_RESPONSE_LEN`] bytes. An empty directory holds
/// no responses (each checked certificate then reports its own missing response). Returns
/// `(path, bytes)` pairs; nothing is decoded here.
///
/// # Errors
///
/// A message naming the file or directory.
pub fn read_responses(path: &std::path::Path) -> Result<Vec<(String, Vec<u8>)>, String> {
    let describe = |e: BundleError| match e {
        BundleError::Read { path, source } => format!("cannot read {}: {source}", path.display()),
        BundleError::Empty { path } => format!("{} holds no files", path.display()),
        BundleError::Nested { path } => {
            format!("{} is a directory; give it on its own", path.display())
        }
        BundleError::TooLarge { path, len } => format!(
            "{} has {len} bytes, more than an OCSP response's {} at most",
            path.display(),
            ocsp::MAX_RESPONSE_LEN
        ),
    };
    let files = match bundle::files(path) {
        Ok(files) => files,
        Err(BundleError::Empty { .. }) => return Ok(Vec::new()),
        Err(e) => return Err(describe(e)),
    };
    let max = u64::try_from(ocsp::MAX_RESPONSE_LEN).unwrap_or(u64::MAX);
    files
        .into_iter()
        .map(|file| {
            let body = bundle::read(&file, max).map_err(describe)?;
            Ok((file.display().to_string(), body))
        })
        .collect()
}

/// The OCSP cache in the verifier's database (`gpu_ocsp`).
#[derive(Clone)]
pub struct OcspCache {
    store: Arc<Store>,
}

impl std::fmt::Debug for OcspCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OcspCache").finish_non_exhaustive()
    }
}

/// What `ocsp import` did with one response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OcspImportEntry {
    /// The file or origin.
    pub source: String,
    /// Certificate serials it answers for.
    pub serials: Vec<String>,
    /// `added`, `replaced` or `kept_existing` (the stored response is at least as recent).
    pub outcome: &'static str,
}

impl OcspCache {
    /// The cache in `store`.
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }

    /// Stores `response` (DER) from `source` at `now`, one row per certificate it answers
    /// for; a stored response with a later `thisUpdate` is kept. The response is verified when
    /// used, against the certificate it is used for.
    ///
    /// # Errors
    ///
    /// [`RevocationError::Store`]; an undecodable or unsuccessful response is
    /// [`RevocationError::Refused`]-free: it is returned as `Err(OcspError)` inside `Ok`.
    pub fn import(
        &self,
        source: &str,
        response: &[u8],
        now: UnixTime,
    ) -> Result<Result<OcspImportEntry, OcspError>, RevocationError> {
        let entries = match ocsp::entries(response) {
            Ok(entries) if entries.is_empty() => {
                return Ok(Err(OcspError::Encoding(
                    "response answers for no certificate",
                )));
            }
            Ok(entries) => entries,
            Err(e) => return Ok(Err(e)),
        };
        let mut outcome = "kept_existing";
        let mut serials = Vec::new();
        for entry in entries {
            serials.push(entry.serial.clone());
            let row = OcspRow {
                serial: entry.serial,
                issuer_key_hash: entry.issuer_key_hash,
                body: response.to_vec(),
                this_update: entry.this_update,
                next_update: entry.next_update,
                source: source.to_owned(),
                stored_at: now,
            };
            match self.store.put_ocsp_if_newer(&row)? {
                Some(true) => outcome = "replaced",
                None if outcome == "kept_existing" => outcome = "added",
                _ => {}
            }
        }
        Ok(Ok(OcspImportEntry {
            source: source.to_owned(),
            serials,
            outcome,
        }))
    }

    /// Stored responses for a certificate serial (hex), most recent first.
    ///
    /// # Errors
    ///
    /// [`RevocationError::Store`].
    pub fn for_serial(&self, serial: &str) -> Result<Vec<OcspRow>, RevocationError> {
        Ok(self.store.ocsp_for_serial(serial)?)
    }

    /// Every stored row, for `ocsp list`.
    ///
    /// # Errors
    ///
    /// [`RevocationError::Store`].
    pub fn rows(&self) -> Result<Vec<OcspRow>, RevocationError> {
        Ok(self.store.ocsp_rows()?)
    }
}

/// The revocation checker of one verifier.
#[derive(Clone)]
pub struct Revocation {
    mode: RevocationMode,
    options: OcspOptions,
    cache: Option<OcspCache>,
    online: Option<OnlineOcsp>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for Revocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Revocation")
            .field("mode", &self.mode)
            .field("online", &self.online)
            .finish_non_exhaustive()
    }
}

fn http_agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .user_agent(concat!("warden-verifier/", env!("CARGO_PKG_VERSION")))
        .build()
        .into()
}

impl Revocation {
    fn new(mode: RevocationMode, cache: Option<OcspCache>, online: Option<OnlineOcsp>) -> Self {
        let timeout = online
            .as_ref()
            .map_or(Duration::from_secs(10), |o| o.timeout);
        Self {
            mode,
            options: OcspOptions::default(),
            cache,
            online,
            agent: http_agent(timeout),
        }
    }

    /// No checks (`off`).
    pub fn off() -> Self {
        Self::new(RevocationMode::Off, None, None)
    }

    /// `stapled`: responses from the evidence, then from `cache` when given.
    pub fn stapled(cache: Option<OcspCache>) -> Self {
        Self::new(RevocationMode::Stapled, cache, None)
    }

    /// `online`: every check asks `online`; good answers are saved to `cache` when given.
    pub fn online(online: OnlineOcsp, cache: Option<OcspCache>) -> Self {
        Self::new(RevocationMode::Online, cache, Some(online))
    }

    /// The mode.
    pub fn mode(&self) -> RevocationMode {
        self.mode
    }

    /// Checks certificates `indices` of `chain` (DER, leaf first, verified) at `now`.
    /// `stapled` are the responses carried with the evidence (ignored in `online` mode).
    /// Returns one entry per checked certificate; empty in `off` mode.
    ///
    /// # Errors
    ///
    /// [`RevocationError`].
    pub fn check_chain(
        &self,
        now: UnixTime,
        kind: ChainKind,
        chain: &[Vec<u8>],
        indices: std::ops::RangeInclusive<usize>,
        stapled: &[Vec<u8>],
    ) -> Result<Vec<CertRevocation>, RevocationError> {
        if self.mode == RevocationMode::Off {
            return Ok(Vec::new());
        }
        if chain.len() <= *indices.end() {
            return Err(RevocationError::ShortChain {
                chain: kind.name(),
                len: chain.len(),
            });
        }
        let mut out = Vec::new();
        for index in indices {
            let (Some(cert), Some(issuers)) = (
                chain.get(index),
                index.checked_add(1).and_then(|i| chain.get(i..)),
            ) else {
                continue;
            };
            out.push(self.check_one(now, kind, index, cert, issuers, stapled)?);
        }
        Ok(out)
    }

    fn check_one(
        &self,
        now: UnixTime,
        kind: ChainKind,
        index: usize,
        cert: &[u8],
        issuers: &[Vec<u8>],
        stapled: &[Vec<u8>],
    ) -> Result<CertRevocation, RevocationError> {
        let subject = certificate_subject(cert);
        let found = |status: OcspCertStatus, source, valid_until: UnixTime| CertRevocation {
            chain: kind,
            index,
            subject: subject.clone(),
            status,
            source,
            valid_until: valid_until.to_string(),
        };
        let refused = |error: OcspError| RevocationError::Refused {
            chain: kind.name(),
            index,
            subject: subject.clone(),
            error,
        };
        if let Some(online) = &self.online {
            let fetch_error = |reason| RevocationError::Fetch {
                chain: kind.name(),
                index,
                subject: subject.clone(),
                url: online.url.clone(),
                reason,
            };
            let nonce = if online.nonce {
                Some(fresh_nonce().map_err(fetch_error)?)
            } else {
                None
            };
            let body = fetch(
                &self.agent,
                online,
                cert,
                issuers,
                nonce.as_ref().map(<[u8; 32]>::as_slice),
            )
            .map_err(fetch_error)?;
            let outcome = ocsp::verify_response(
                &body,
                cert,
                issuers,
                now,
                &self.options,
                nonce.as_ref().map(<[u8; 32]>::as_slice),
            )
            .map_err(refused)?;
            if let Some(cache) = &self.cache {
                // A verified answer serves later `stapled` checks too; failing to save it only
                // costs a later fetch.
                if let Err(e) = cache.import("online", &body, now) {
                    tracing::warn!(error = %e, "could not save an OCSP response to the cache");
                }
            }
            return Ok(found(
                outcome.status,
                ResponseSource::Online,
                outcome.valid_until,
            ));
        }

        // Stapled: the evidence first, then the cache. A verified revoked/unknown answer from
        // either refuses at once; an unusable one (stale, another certificate) is skipped.
        let mut last = None;
        let cached = match &self.cache {
            Some(cache) => cache.for_serial(&certificate_serial(cert).map_err(refused)?)?,
            None => Vec::new(),
        };
        let candidates = stapled
            .iter()
            .map(|r| (ResponseSource::Evidence, r.as_slice()))
            .chain(
                cached
                    .iter()
                    .map(|r| (ResponseSource::Cache, r.body.as_slice())),
            );
        for (source, response) in candidates {
            match ocsp::verify_response(response, cert, issuers, now, &self.options, None) {
                Ok(outcome) => return Ok(found(outcome.status, source, outcome.valid_until)),
                Err(e @ (OcspError::Revoked { .. } | OcspError::Unknown)) => {
                    return Err(refused(e));
                }
                Err(OcspError::NoEntry { .. }) => {}
                Err(e) => last = Some(e),
            }
        }
        Err(RevocationError::Missing {
            chain: kind.name(),
            index,
            subject,
            last,
        })
    }
}

fn fresh_nonce() -> Result<[u8; 32], String> {
    use ring::rand::SecureRandom as _;
    let mut nonce = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| "the system random number generator failed".to_owned())?;
    Ok(nonce)
}

/// POSTs an OCSP request for `cert` and returns the response body.
fn fetch(
    agent: &ureq::Agent,
    online: &OnlineOcsp,
    cert: &[u8],
    issuers: &[Vec<u8>],
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, String> {
    let issuer = issuers.first().ok_or("no issuer")?;
    let request = ocsp::request_der(cert, issuer, nonce).map_err(|e| e.to_string())?;
    let mut response = agent
        .post(&online.url)
        .header("Content-Type", "application/ocsp-request")
        .header("Accept", "application/ocsp-response")
        .send(&request[..])
        .map_err(|e| e.to_string())?;
    let status = response.status();
    if status != 200 {
        return Err(format!("HTTP status {status}"));
    }
    let mut body = Vec::new();
    response
        .body_mut()
        .as_reader()
        .take(
            u64::try_from(ocsp::MAX_RESPONSE_LEN)
                .unwrap_or(u64::MAX)
                .saturating_add(1),
        )
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() > ocsp::MAX_RESPONSE_LEN {
        return Err("response larger than 64 KiB".to_owned());
    }
    Ok(body)
}
