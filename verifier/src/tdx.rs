//! Intel TDX judging for the service: the pinned Intel root, optional generated test roots, the
//! collateral cache and the optional fetcher.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::{info, warn};
use warden_evidence::UnixTime;
use warden_evidence::tdx::{PckCa, PckInfo, Quote, TdxError, TdxVerifier, VerifiedQuote};

use crate::collateral::{CollateralCache, CollateralError};
use crate::pcs::{self, PcsClient};

/// Why a TDX quote was not judged genuine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TdxRefusal {
    /// The quote or its verification failed.
    #[error("{0}")]
    Quote(TdxError),
    /// No fresh collateral for the quote's platform: the verifier's problem, not the agent's.
    #[error("{0}")]
    Collateral(TdxError),
    /// The collateral cache could not be read.
    #[error("collateral cache: {0}")]
    Cache(String),
}

/// After a failed fetch for a platform, how long attestations of that platform are refused
/// without asking PCS again (the background refresher is not affected).
pub const FETCH_RETRY_AFTER_SECS: i64 = 60;

/// TDX verification: Intel's pinned SGX Root CA, and optionally generated test roots.
#[derive(Debug)]
pub struct TdxJudge {
    intel: TdxVerifier,
    test: Vec<TdxVerifier>,
    cache: Arc<CollateralCache>,
    fetcher: Option<PcsClient>,
    /// One fetch at a time; the time of the last failed fetch per platform, so that a burst of
    /// attestations from a platform PCS does not know costs one request, not one each.
    fetches: Mutex<HashMap<([u8; 6], PckCa), UnixTime>>,
}

impl TdxJudge {
    /// Verification against `intel_root` (DER) with collateral from `cache`.
    pub fn new(intel_root: &[u8], cache: Arc<CollateralCache>) -> Self {
        Self {
            intel: TdxVerifier::new(intel_root.to_vec()),
            test: Vec::new(),
            cache,
            fetcher: None,
            fetches: Mutex::new(HashMap::new()),
        }
    }

    /// Also accepts quotes whose PCK chain ends in one of `roots` (DER), marking their claims
    /// `simulated`. For `insecure_tdx_test_roots` only.
    #[must_use]
    pub fn with_insecure_test_roots(mut self, roots: Vec<Vec<u8>>) -> Self {
        self.test = roots.into_iter().map(TdxVerifier::new).collect();
        self
    }

    /// Fetches missing or stale collateral with `client` before refusing.
    #[must_use]
    pub fn with_fetcher(mut self, client: PcsClient) -> Self {
        self.fetcher = Some(client);
        self
    }

    /// The collateral cache.
    pub fn cache(&self) -> &Arc<CollateralCache> {
        &self.cache
    }

    /// Whether test roots are trusted.
    pub fn trusts_test_roots(&self) -> bool {
        !self.test.is_empty()
    }

    /// Verifies `quote` at `now`; returns it and whether it verified through a test root.
    ///
    /// The root is chosen by the last certificate of the quote's PCK chain: a configured test
    /// root selects that root, anything else is verified against Intel's (and fails there if it
    /// does not chain to it).
    ///
    /// # Errors
    ///
    /// [`TdxRefusal`].
    pub fn verify(&self, now: UnixTime, quote: &[u8]) -> Result<(VerifiedQuote, bool), TdxRefusal> {
        // Zero padding after the signature data is tolerated (real quotes carry it; it is outside
        // everything signed and is dropped); any other trailing byte is an error.
        let quote = Quote::parse_allow_zero_padding(quote).map_err(TdxRefusal::Quote)?;
        let pck = quote.pck().map_err(TdxRefusal::Quote)?;
        let root = last_pem_certificate(quote.pck_chain_pem());
        let test = root
            .as_deref()
            .and_then(|root| self.test.iter().find(|v| v.root_ca_der() == root));
        let verifier = test.unwrap_or(&self.intel);
        let cache_err = |e: CollateralError| TdxRefusal::Cache(e.to_string());
        let set = self.cache.current().map_err(cache_err)?;
        let collateral = match set.select(&pck, now) {
            Ok(c) => c,
            Err(e) if is_collateral_gap(&e) => match &self.fetcher {
                Some(fetcher) => self.fetch_and_select(fetcher, &pck, now, e)?,
                None => return Err(TdxRefusal::Collateral(e)),
            },
            Err(e) => return Err(TdxRefusal::Quote(e)),
        };
        let verified = verifier
            .verify(now, &quote, &collateral)
            .map_err(TdxRefusal::Quote)?;
        Ok((verified, test.is_some()))
    }
}

impl TdxJudge {
    /// Fetches collateral for `pck`'s platform (one fetch at a time, and not again within
    /// [`FETCH_RETRY_AFTER_SECS`] of a failure), then selects again. `gap` is the selection error
    /// reported when nothing better comes of it.
    fn fetch_and_select(
        &self,
        fetcher: &PcsClient,
        pck: &PckInfo,
        now: UnixTime,
        gap: TdxError,
    ) -> Result<warden_evidence::tdx::Collateral, TdxRefusal> {
        let cache_err = |e: CollateralError| TdxRefusal::Cache(e.to_string());
        let mut fetches = self
            .fetches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Another attestation may have fetched while this one waited for the lock.
        if let Ok(c) = self.cache.current().map_err(cache_err)?.select(pck, now) {
            return Ok(c);
        }
        let platform = (pck.fmspc, pck.ca);
        if fetches
            .get(&platform)
            .is_some_and(|failed| now.0.saturating_sub(failed.0) < FETCH_RETRY_AFTER_SECS)
        {
            return Err(TdxRefusal::Collateral(gap));
        }
        let fmspc = hex::encode(pck.fmspc);
        info!(%fmspc, ca = pck.ca.as_str(), reason = %gap, "fetching TDX collateral");
        if let Err(e) = pcs::fetch_into(fetcher, &self.cache, pck.fmspc, pck.ca, now) {
            warn!(%fmspc, error = %e, "TDX collateral fetch failed");
            fetches.insert(platform, now);
            return Err(TdxRefusal::Collateral(gap));
        }
        fetches.remove(&platform);
        self.cache
            .current()
            .map_err(cache_err)?
            .select(pck, now)
            .map_err(TdxRefusal::Collateral)
    }
}

/// Whether `e` means "the cache lacks fresh collateral" (as opposed to a bad quote).
pub fn is_collateral_gap(e: &TdxError) -> bool {
    matches!(
        e,
        TdxError::MissingCollateral { .. }
            | TdxError::StaleCollateral { .. }
            | TdxError::CollateralNotYetValid { .. }
    )
}

const PEM_BEGIN: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END: &str = "-----END CERTIFICATE-----";

/// The DER of the last `CERTIFICATE` block of a PEM chain, if it decodes.
fn last_pem_certificate(pem: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(pem).ok()?;
    let start = text.rfind(PEM_BEGIN)? + PEM_BEGIN.len();
    pem_body(text.get(start..)?)
}

fn pem_body(after_begin: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let end = after_begin.find(PEM_END)?;
    let b64: String = after_begin
        .get(..end)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

/// The DER of a file holding exactly one certificate, PEM or DER (a test root CA).
///
/// # Errors
///
/// A message saying what the file holds instead.
pub fn single_certificate(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.first() == Some(&0x30) {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).map_err(|_| "neither DER nor PEM".to_owned())?;
    let blocks = text.matches(PEM_BEGIN).count();
    if blocks != 1 {
        return Err(format!(
            "expected exactly one PEM CERTIFICATE (the root CA), found {blocks}"
        ));
    }
    let start = text.find(PEM_BEGIN).map_or(0, |i| i + PEM_BEGIN.len());
    text.get(start..)
        .and_then(pem_body)
        .ok_or_else(|| "the PEM CERTIFICATE block does not decode".to_owned())
}
