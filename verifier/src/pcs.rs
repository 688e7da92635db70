//! The optional online source of DCAP collateral: Intel's Provisioning Certification Service
//! (PCS) or a PCCS caching service, API v4. Off unless `[tdx_collateral] fetch_url` is set.
//!
//! Nothing here is on the verification path: fetched items go through the same
//! [`CollateralCache::import`] as offline bundles (so an older response never replaces a newer
//! cached item), and attestation reads only the cache. The fetcher runs
//! - in a background thread that refreshes every cached item whose `nextUpdate` is within the
//!   configured margin ([`spawn_refresher`]), and
//! - once, with a bounded timeout, when an attestation finds no fresh collateral for its FMSPC
//!   (then the attestation is judged on what the fetch stored, or refused naming the FMSPC).
//!
//! Requests (Intel PCS API v4):
//! - `GET {url}/tdx/certification/v4/tcb?fmspc={fmspc}&update={early|standard}`: TCB info;
//!   issuer chain in the `TCB-Info-Issuer-Chain` header (URL-encoded PEM).
//! - `GET {url}/tdx/certification/v4/qe/identity?update=…`: the TD QE identity; issuer chain in
//!   `SGX-Enclave-Identity-Issuer-Chain`.
//! - `GET {url}/sgx/certification/v4/pckcrl?ca={platform|processor}&encoding=der`: the PCK CRL;
//!   issuer chain in `SGX-PCK-CRL-Issuer-Chain`.
//! - `GET {root_ca_crl_url}`: the Intel SGX Root CA CRL (DER, or hex as PCCS serves it).

use std::io::Read;
use std::sync::Arc;

use tracing::{info, warn};
use warden_evidence::UnixTime;
use warden_evidence::tdx::{CollateralItem, PckCa, TdxError};

use crate::collateral::{CollateralCache, CollateralError, ImportEntry};
use crate::config::CollateralFetch;
use crate::service::Clock;

/// Largest response body accepted.
const MAX_BODY_BYTES: u64 = 8 * 1024 * 1024;

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The request failed (connection, TLS, timeout, HTTP error status).
    #[error("GET {url}: {reason}")]
    Http {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A required response header is missing or not URL-encoded UTF-8.
    #[error("GET {url}: response has no usable {header} header")]
    Header {
        /// The URL.
        url: String,
        /// The header.
        header: &'static str,
    },
    /// The response is not the collateral asked for.
    #[error("GET {url}: {source}")]
    Parse {
        /// The URL.
        url: String,
        /// Why.
        source: Box<TdxError>,
    },
    /// The response parsed but is not the kind of item requested.
    #[error("GET {url}: expected {expected}, got {got}")]
    Unexpected {
        /// The URL.
        url: String,
        /// The kind asked for.
        expected: &'static str,
        /// The kinds received.
        got: String,
    },
    /// The fetched items could not be stored.
    #[error(transparent)]
    Cache(Box<CollateralError>),
}

impl From<CollateralError> for FetchError {
    fn from(e: CollateralError) -> Self {
        Self::Cache(Box::new(e))
    }
}

/// A PCS/PCCS client.
#[derive(Debug, Clone)]
pub struct PcsClient {
    base: String,
    root_ca_crl_url: String,
    update: &'static str,
    agent: ureq::Agent,
}

impl PcsClient {
    /// A client for `config`.
    pub fn new(config: &CollateralFetch) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(config.timeout))
            .user_agent(concat!("warden-verifier/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Self {
            base: config.url.trim_end_matches('/').to_owned(),
            root_ca_crl_url: config.root_ca_crl_url.clone(),
            update: if config.early_updates {
                "early"
            } else {
                "standard"
            },
            agent,
        }
    }

    /// Everything needed to verify quotes of a platform with `fmspc` whose PCK was issued by
    /// `ca`: TCB info, QE identity, both CRLs and the issuer chains, each with its source URL.
    ///
    /// # Errors
    ///
    /// The first [`FetchError`].
    pub fn fetch_all(
        &self,
        fmspc: [u8; 6],
        ca: PckCa,
    ) -> Result<Vec<(String, CollateralItem)>, FetchError> {
        let mut items = self.tcb_info(fmspc)?;
        items.extend(self.qe_identity()?);
        items.extend(self.pck_crl(ca)?);
        items.extend(self.root_ca_crl()?);
        Ok(items)
    }

    /// The TDX TCB info for `fmspc` and its issuer chain.
    ///
    /// # Errors
    ///
    /// [`FetchError`].
    pub fn tcb_info(&self, fmspc: [u8; 6]) -> Result<Vec<(String, CollateralItem)>, FetchError> {
        let url = format!(
            "{}/tdx/certification/v4/tcb?fmspc={}&update={}",
            self.base,
            hex::encode(fmspc),
            self.update
        );
        self.item_with_chain(
            &url,
            "tcb-info",
            &["TCB-Info-Issuer-Chain", "SGX-TCB-Info-Issuer-Chain"],
        )
    }

    /// The TD QE identity and its issuer chain.
    ///
    /// # Errors
    ///
    /// [`FetchError`].
    pub fn qe_identity(&self) -> Result<Vec<(String, CollateralItem)>, FetchError> {
        let url = format!(
            "{}/tdx/certification/v4/qe/identity?update={}",
            self.base, self.update
        );
        self.item_with_chain(&url, "qe-identity", &["SGX-Enclave-Identity-Issuer-Chain"])
    }

    /// The PCK CRL of `ca` and its issuer chain.
    ///
    /// # Errors
    ///
    /// [`FetchError`].
    pub fn pck_crl(&self, ca: PckCa) -> Result<Vec<(String, CollateralItem)>, FetchError> {
        let url = format!(
            "{}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
            self.base,
            ca.as_str()
        );
        self.item_with_chain(&url, "pck-crl", &["SGX-PCK-CRL-Issuer-Chain"])
    }

    /// The Intel SGX Root CA CRL.
    ///
    /// # Errors
    ///
    /// [`FetchError`].
    pub fn root_ca_crl(&self) -> Result<Vec<(String, CollateralItem)>, FetchError> {
        let url = self.root_ca_crl_url.clone();
        let (body, _) = self.get(&url, &[])?;
        // PCCS serves the root CA CRL hex-encoded; Intel's distribution point serves DER.
        let body = match std::str::from_utf8(&body) {
            Ok(text)
                if !text.trim().is_empty()
                    && text.trim().bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                hex::decode(text.trim()).map_err(|e| FetchError::Http {
                    url: url.clone(),
                    reason: format!("hex body does not decode: {e}"),
                })?
            }
            _ => body,
        };
        let items = parse(&url, &body)?;
        expect_kind(&url, &items, "root-ca-crl")?;
        Ok(items
            .into_iter()
            .map(|i| (format!("fetch:{url}"), i))
            .collect())
    }

    fn item_with_chain(
        &self,
        url: &str,
        kind: &'static str,
        headers: &[&'static str],
    ) -> Result<Vec<(String, CollateralItem)>, FetchError> {
        let (body, chain) = self.get(url, headers)?;
        let mut items = parse(url, &body)?;
        expect_kind(url, &items, kind)?;
        let chain = chain.ok_or(FetchError::Header {
            url: url.to_owned(),
            header: headers.first().copied().unwrap_or("issuer chain"),
        })?;
        items.extend(parse(url, chain.as_bytes())?);
        Ok(items
            .into_iter()
            .map(|i| (format!("fetch:{url}"), i))
            .collect())
    }

    /// GETs `url`; returns the body and the first of `headers` present, URL-decoded.
    fn get(
        &self,
        url: &str,
        headers: &[&'static str],
    ) -> Result<(Vec<u8>, Option<String>), FetchError> {
        let http = |reason: String| FetchError::Http {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| http(e.to_string()))?;
        let mut header = None;
        for name in headers {
            if let Some(value) = response.headers().get(*name) {
                let decoded =
                    value
                        .to_str()
                        .ok()
                        .and_then(percent_decode)
                        .ok_or(FetchError::Header {
                            url: url.to_owned(),
                            header: name,
                        })?;
                header = Some(decoded);
                break;
            }
        }
        let mut body = Vec::new();
        response
            .body_mut()
            .as_reader()
            .take(MAX_BODY_BYTES + 1)
            .read_to_end(&mut body)
            .map_err(|e| http(format!("reading the body: {e}")))?;
        if body.len() as u64 > MAX_BODY_BYTES {
            return Err(http(format!("body larger than {MAX_BODY_BYTES} bytes")));
        }
        Ok((body, header))
    }
}

fn parse(url: &str, bytes: &[u8]) -> Result<Vec<CollateralItem>, FetchError> {
    CollateralItem::parse_file(bytes).map_err(|source| FetchError::Parse {
        url: url.to_owned(),
        source: Box::new(source),
    })
}

fn expect_kind(url: &str, items: &[CollateralItem], kind: &'static str) -> Result<(), FetchError> {
    if items.len() == 1 && items.iter().all(|i| i.kind() == kind) {
        return Ok(());
    }
    Err(FetchError::Unexpected {
        url: url.to_owned(),
        expected: kind,
        got: items
            .iter()
            .map(CollateralItem::kind)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Decodes `%XX` escapes (PCS URL-encodes the PEM issuer chains in headers). `None` on a bad
/// escape or non-UTF-8 result.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Fetches collateral for (`fmspc`, `ca`) and imports it.
///
/// # Errors
///
/// [`FetchError`].
pub fn fetch_into(
    client: &PcsClient,
    cache: &CollateralCache,
    fmspc: [u8; 6],
    ca: PckCa,
    now: UnixTime,
) -> Result<Vec<ImportEntry>, FetchError> {
    let items = client.fetch_all(fmspc, ca)?;
    Ok(cache.import(items, now)?)
}

/// Starts the background refresher: every `config.check_interval`, each cached TCB info, QE
/// identity and CRL whose `nextUpdate` is less than `config.refresh_before` away is fetched
/// again. Failures are logged and retried at the next check; the cache keeps what it has.
pub fn spawn_refresher(
    client: PcsClient,
    cache: Arc<CollateralCache>,
    clock: Arc<dyn Clock>,
    config: &CollateralFetch,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let interval = config.check_interval;
    let margin = i64::try_from(config.refresh_before.as_secs()).unwrap_or(i64::MAX);
    std::thread::Builder::new()
        .name("warden-pcs-refresh".to_owned())
        .spawn(move || {
            loop {
                refresh_once(&client, &cache, clock.now(), margin);
                std::thread::sleep(interval);
            }
        })
}

/// One refresher pass; returns how many items were fetched.
pub fn refresh_once(
    client: &PcsClient,
    cache: &CollateralCache,
    now: UnixTime,
    margin_secs: i64,
) -> usize {
    let rows = match cache.rows() {
        Ok(rows) => rows,
        Err(e) => {
            warn!(error = %e, "collateral refresh: cannot read the cache");
            return 0;
        }
    };
    let mut fetched = 0;
    for row in rows {
        let Some(next_update) = row.next_update else {
            continue;
        };
        if next_update.0.saturating_sub(now.0) > margin_secs {
            continue;
        }
        let result = match row.kind.as_str() {
            "tcb-info" => match hex::decode(&row.key)
                .ok()
                .and_then(|f| <[u8; 6]>::try_from(f).ok())
            {
                Some(fmspc) => client.tcb_info(fmspc),
                None => continue,
            },
            "qe-identity" => client.qe_identity(),
            "pck-crl" => match row.key.parse::<PckCa>() {
                Ok(ca) => client.pck_crl(ca),
                Err(_) => continue,
            },
            "root-ca-crl" => client.root_ca_crl(),
            _ => continue,
        };
        match result.and_then(|items| Ok(cache.import(items, now)?)) {
            Ok(entries) => {
                fetched += 1;
                for e in entries {
                    info!(kind = e.kind, key = %e.key, outcome = ?e.outcome, next_update = ?e.next_update.map(|t| t.to_string()), "collateral refreshed");
                }
            }
            Err(e) => {
                warn!(kind = %row.kind, key = %row.key, next_update = %next_update, error = %e, "collateral refresh failed; keeping the cached item")
            }
        }
    }
    fetched
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(
            percent_decode("-----BEGIN%20CERTIFICATE-----%0AMII%2Fx").as_deref(),
            Some("-----BEGIN CERTIFICATE-----\nMII/x")
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
