//! The verifier's configuration file (TOML), with documented defaults.
//!
//! Every field is optional; `docs/operations.md` lists them. Relative paths are resolved
//! against the directory of the configuration file, so a configuration and its policies can
//! travel together. Unknown fields are errors: a misspelt `insecure_test_roots` must not be
//! silently ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use warden_evidence::snp::Product;

/// Default listen address: loopback only, so a fresh install exposes nothing.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default state directory (SQLite database and master key).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/warden-verifier";
/// Default nonce lifetime in seconds (THREATS.md P2).
pub const DEFAULT_NONCE_TTL_SECS: u64 = 120;
/// Default largest gRPC message accepted, in bytes. An SNP bundle is about 6 KiB; eight GPUs'
/// evidence adds about 8 x 10 KiB. 4 MiB leaves room without inviting memory exhaustion.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Default deadline for one request, in seconds.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 30;
/// Default number of requests served at once per connection.
pub const DEFAULT_CONCURRENCY_PER_CONNECTION: usize = 256;
/// Default Intel SGX Root CA CRL location for the collateral fetcher.
pub const DEFAULT_ROOT_CA_CRL_URL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";
/// Default timeout of one collateral request, in seconds.
pub const DEFAULT_FETCH_TIMEOUT_SECS: u64 = 30;
/// Default interval between collateral freshness checks, in seconds.
pub const DEFAULT_CHECK_INTERVAL_SECS: u64 = 3600;
/// Default margin before `nextUpdate` at which cached collateral is fetched again, in seconds
/// (Intel's TCB info and QE identity live 30 days).
pub const DEFAULT_REFRESH_BEFORE_SECS: u64 = 7 * 24 * 3600;
/// NVIDIA's RIM service, the usual `[gpu_rims] fetch_url` (documented, never applied by
/// default: fetching is off unless configured).
pub const DEFAULT_RIM_FETCH_URL: &str = "https://rim.attestation.nvidia.com/v1/rim/";
/// Default timeout of one RIM request, in seconds.
pub const DEFAULT_RIM_FETCH_TIMEOUT_SECS: u64 = 10;
/// Most keys one Attest may ask for.
pub const MAX_KEYS_PER_REQUEST: usize = 64;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this schema.
    #[error("invalid configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration {path}: {message}")]
    Value {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The verifier's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Address the gRPC service listens on.
    pub listen: SocketAddr,
    /// Directory of the SQLite database (`warden.db`) and, by default, the master key.
    pub state_dir: PathBuf,
    /// Master key file; created with mode 0600 on first start. Default `<state_dir>/master.key`.
    pub master_key: PathBuf,
    /// Directory of `NAME.rego` policies (with optional `NAME.data.json`). `None`: the
    /// policies built into the binary (`default` and `dev`).
    pub policy_dir: Option<PathBuf>,
    /// Nonce lifetime.
    pub nonce_ttl: Duration,
    /// Largest gRPC message accepted or sent.
    pub max_message_bytes: usize,
    /// Deadline of one request.
    pub request_timeout: Duration,
    /// Requests served at once per connection.
    pub concurrency_per_connection: usize,
    /// AMD CRLs (PEM or DER, from KDS `/vcek/v1/<product>/crl`), checked on every chain.
    pub amd_crls: Vec<AmdCrl>,
    /// Generated test hierarchies to trust besides AMD's roots. Evidence verified through one of
    /// them is marked `tee.simulated = true` for policy. Never set in production.
    pub insecure_test_roots: Vec<TestRoot>,
    /// Generated Intel DCAP test root CAs (PEM or DER) to trust besides Intel's SGX Root CA, as
    /// `warden-agent --simulate --tee tdx` writes to `<state_dir>/sim/tdx/root_ca.pem`. Quotes
    /// verified through one are marked `tee.simulated = true`. Never set in production.
    pub insecure_tdx_test_roots: Vec<PathBuf>,
    /// Generated NVIDIA device identity test root CAs (PEM or DER) to trust besides NVIDIA's
    /// Device Identity CA. GPU reports verified through one are marked `simulated`. Never set in
    /// production.
    pub insecure_gpu_test_roots: Vec<PathBuf>,
    /// Generated CoRIM signing test root CAs (PEM or DER) to trust besides NVIDIA's, for RIMs
    /// in the store. Never set in production.
    pub insecure_rim_test_roots: Vec<PathBuf>,
    /// The online collateral fetcher (`[tdx_collateral]`); `None` (the default): offline only,
    /// collateral comes from `warden-verifier collateral import`.
    pub collateral_fetch: Option<CollateralFetch>,
    /// Revocation checks of NVIDIA GPU and RIM certificates (`[gpu_revocation]`).
    pub gpu_revocation: GpuRevocation,
    /// The online RIM fetcher (`[gpu_rims]`); `None` (the default): offline only, RIMs come
    /// from `warden-verifier rims import`.
    pub rim_fetch: Option<RimFetchConfig>,
}

/// Where to fetch NVIDIA RIMs the store lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RimFetchConfig {
    /// The RIM service URL, ending in `/`; a RIM id is appended to it.
    pub url: String,
    /// Timeout of one request (connection, answer and body together).
    pub timeout: Duration,
    /// A file whose content (surrounding whitespace dropped) is sent as
    /// `Authorization: Bearer <content>`.
    pub service_key_file: Option<PathBuf>,
}

impl RimFetchConfig {
    /// Fetching from `url` (checked as [`rim_fetch_url`] does) with the default timeout and no
    /// service key.
    ///
    /// # Errors
    ///
    /// A message when `url` is not usable.
    pub fn new(url: &str) -> Result<Self, String> {
        Ok(Self {
            url: rim_fetch_url(url)?,
            timeout: Duration::from_secs(DEFAULT_RIM_FETCH_TIMEOUT_SECS),
            service_key_file: None,
        })
    }
}

/// A RIM service URL as the fetcher uses it: `http://` or `https://`, no query or fragment
/// (the id is appended to the path), ending in `/` (one is added when missing, so
/// `https://rim.attestation.nvidia.com/v1/rim` works as NVIDIA's tools' `NV_RIM_URL` does
/// with the slash).
///
/// # Errors
///
/// A message saying what is wrong.
pub fn rim_fetch_url(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{url:?} is not an http:// or https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(format!("{url:?} has no host"));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "{url:?} has a query, fragment or space; the RIM id is appended to its path"
        ));
    }
    if url.ends_with('/') {
        Ok(url.to_owned())
    } else {
        Ok(format!("{url}/"))
    }
}

/// `[gpu_revocation]`: how NVIDIA certificates are checked for revocation (see
/// [`crate::revocation`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRevocation {
    /// `stapled` (the default), `online` or `off`.
    pub mode: crate::revocation::RevocationMode,
    /// The OCSP responder for `online` (required there, refused elsewhere).
    pub ocsp_url: Option<String>,
    /// Timeout of one OCSP request.
    pub timeout: Duration,
    /// Send a nonce in `online` requests and require it echoed (default true).
    pub online_nonce: bool,
}

impl Default for GpuRevocation {
    fn default() -> Self {
        Self {
            mode: crate::revocation::RevocationMode::Stapled,
            ocsp_url: None,
            timeout: Duration::from_secs(10),
            online_nonce: true,
        }
    }
}

/// Where and how often to fetch Intel DCAP collateral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollateralFetch {
    /// Base URL of Intel PCS (`https://api.trustedservices.intel.com`) or a PCCS.
    pub url: String,
    /// Where the Intel SGX Root CA CRL is fetched from.
    pub root_ca_crl_url: String,
    /// Ask for the early TCB evaluation data (`update=early`) rather than the standard one.
    pub early_updates: bool,
    /// Timeout of one request.
    pub timeout: Duration,
    /// How often the refresher looks for collateral close to its `nextUpdate`.
    pub check_interval: Duration,
    /// How long before `nextUpdate` an item is fetched again.
    pub refresh_before: Duration,
}

/// One AMD CRL file for a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmdCrl {
    /// The product whose ARK signed it.
    pub product: Product,
    /// The file.
    pub path: PathBuf,
}

/// A generated SEV-SNP test hierarchy: a KDS-style `cert_chain` file (ASK, then ARK, PEM), as
/// `warden-agent --simulate` writes to `<state_dir>/sim/<product>/cert_chain.pem`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestRoot {
    /// The product the hierarchy mimics.
    pub product: Product,
    /// The chain file.
    pub cert_chain: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    state_dir: Option<PathBuf>,
    master_key: Option<PathBuf>,
    policy_dir: Option<PathBuf>,
    nonce_ttl_secs: Option<u64>,
    max_message_bytes: Option<usize>,
    request_timeout_secs: Option<u64>,
    concurrency_per_connection: Option<usize>,
    #[serde(default)]
    amd_crls: Vec<RawProductFile>,
    #[serde(default)]
    insecure_test_roots: Vec<RawTestRoot>,
    #[serde(default)]
    insecure_tdx_test_roots: Vec<PathBuf>,
    #[serde(default)]
    insecure_gpu_test_roots: Vec<PathBuf>,
    #[serde(default)]
    insecure_rim_test_roots: Vec<PathBuf>,
    tdx_collateral: Option<RawCollateralFetch>,
    gpu_revocation: Option<RawGpuRevocation>,
    gpu_rims: Option<RawRimFetch>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGpuRevocation {
    mode: Option<String>,
    ocsp_url: Option<String>,
    timeout_secs: Option<u64>,
    online_nonce: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRimFetch {
    fetch_url: Option<String>,
    fetch_timeout_secs: Option<u64>,
    service_key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollateralFetch {
    fetch_url: Option<String>,
    root_ca_crl_url: Option<String>,
    update: Option<String>,
    fetch_timeout_secs: Option<u64>,
    check_interval_secs: Option<u64>,
    refresh_before_secs: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProductFile {
    product: String,
    path: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestRoot {
    product: String,
    cert_chain: PathBuf,
}

impl Config {
    /// The configuration with every default, state in `state_dir`.
    pub fn with_state_dir(state_dir: impl Into<PathBuf>) -> Self {
        let state_dir = state_dir.into();
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            master_key: state_dir.join("master.key"),
            state_dir,
            policy_dir: None,
            nonce_ttl: Duration::from_secs(DEFAULT_NONCE_TTL_SECS),
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            request_timeout: Duration::from_secs(DEFAULT_REQUEST_TIMEOUT_SECS),
            concurrency_per_connection: DEFAULT_CONCURRENCY_PER_CONNECTION,
            amd_crls: Vec::new(),
            insecure_test_roots: Vec::new(),
            insecure_tdx_test_roots: Vec::new(),
            insecure_gpu_test_roots: Vec::new(),
            insecure_rim_test_roots: Vec::new(),
            collateral_fetch: None,
            gpu_revocation: GpuRevocation::default(),
            rim_fetch: None,
        }
    }

    /// Reads and validates a configuration file.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the file and what is wrong.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        Self::parse(&text, base).map_err(|e| match e {
            ParseError::Toml(message) => ConfigError::Parse {
                path: path.to_owned(),
                message,
            },
            ParseError::Value(message) => ConfigError::Value {
                path: path.to_owned(),
                message,
            },
        })
    }

    fn parse(text: &str, base: &Path) -> Result<Self, ParseError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ParseError::Toml(e.to_string()))?;
        let resolve = |p: PathBuf| if p.is_relative() { base.join(p) } else { p };
        let state_dir = resolve(
            raw.state_dir
                .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE_DIR)),
        );
        let mut config = Self::with_state_dir(state_dir);
        if let Some(listen) = raw.listen {
            config.listen = listen.parse().map_err(|_| {
                ParseError::Value(format!(
                    "listen = {listen:?} is not an IP address and port such as {DEFAULT_LISTEN:?}"
                ))
            })?;
        }
        if let Some(master_key) = raw.master_key {
            config.master_key = resolve(master_key);
        }
        config.policy_dir = raw.policy_dir.map(resolve);
        if let Some(ttl) = raw.nonce_ttl_secs {
            if !(1..=3600).contains(&ttl) {
                return Err(ParseError::Value(format!(
                    "nonce_ttl_secs = {ttl} is outside 1..=3600"
                )));
            }
            config.nonce_ttl = Duration::from_secs(ttl);
        }
        if let Some(bytes) = raw.max_message_bytes {
            if !(64 * 1024..=64 * 1024 * 1024).contains(&bytes) {
                return Err(ParseError::Value(format!(
                    "max_message_bytes = {bytes} is outside 65536..=67108864"
                )));
            }
            config.max_message_bytes = bytes;
        }
        if let Some(secs) = raw.request_timeout_secs {
            if !(1..=600).contains(&secs) {
                return Err(ParseError::Value(format!(
                    "request_timeout_secs = {secs} is outside 1..=600"
                )));
            }
            config.request_timeout = Duration::from_secs(secs);
        }
        if let Some(n) = raw.concurrency_per_connection {
            if !(1..=65536).contains(&n) {
                return Err(ParseError::Value(format!(
                    "concurrency_per_connection = {n} is outside 1..=65536"
                )));
            }
            config.concurrency_per_connection = n;
        }
        for crl in raw.amd_crls {
            config.amd_crls.push(AmdCrl {
                product: parse_product(&crl.product)?,
                path: resolve(crl.path),
            });
        }
        for root in raw.insecure_test_roots {
            config.insecure_test_roots.push(TestRoot {
                product: parse_product(&root.product)?,
                cert_chain: resolve(root.cert_chain),
            });
        }
        config.insecure_tdx_test_roots = raw
            .insecure_tdx_test_roots
            .into_iter()
            .map(resolve)
            .collect();
        config.insecure_gpu_test_roots = raw
            .insecure_gpu_test_roots
            .into_iter()
            .map(resolve)
            .collect();
        config.insecure_rim_test_roots = raw
            .insecure_rim_test_roots
            .into_iter()
            .map(resolve)
            .collect();
        if let Some(fetch) = raw.tdx_collateral {
            config.collateral_fetch = parse_fetch(fetch)?;
        }
        if let Some(revocation) = raw.gpu_revocation {
            config.gpu_revocation = parse_revocation(revocation)?;
        }
        if let Some(raw) = raw.gpu_rims {
            config.rim_fetch = parse_rim_fetch(raw, &resolve)?;
        }
        Ok(config)
    }
}

fn parse_revocation(raw: RawGpuRevocation) -> Result<GpuRevocation, ParseError> {
    use crate::revocation::RevocationMode;
    let mut out = GpuRevocation::default();
    if let Some(mode) = raw.mode {
        out.mode = RevocationMode::parse(&mode).ok_or_else(|| {
            ParseError::Value(format!(
                "gpu_revocation.mode = {mode:?} is not one of \"stapled\", \"online\", \"off\""
            ))
        })?;
    }
    match (&raw.ocsp_url, out.mode) {
        (None, RevocationMode::Online) => {
            return Err(ParseError::Value(
                "gpu_revocation.mode = \"online\" needs ocsp_url (NVIDIA's is \
                 \"https://ocsp.ndis.nvidia.com/\")"
                    .to_owned(),
            ));
        }
        (Some(url), RevocationMode::Online) => {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ParseError::Value(format!(
                    "gpu_revocation.ocsp_url = {url:?} is not an http(s) URL"
                )));
            }
            out.ocsp_url = Some(url.clone());
        }
        (Some(_), mode) => {
            return Err(ParseError::Value(format!(
                "gpu_revocation.ocsp_url is only used with mode = \"online\" (mode is {:?})",
                mode.name()
            )));
        }
        (None, _) => {}
    }
    if let Some(secs) = raw.timeout_secs {
        if !(1..=120).contains(&secs) {
            return Err(ParseError::Value(format!(
                "gpu_revocation.timeout_secs = {secs} is outside 1..=120"
            )));
        }
        out.timeout = Duration::from_secs(secs);
    }
    if let Some(nonce) = raw.online_nonce {
        out.online_nonce = nonce;
    }
    Ok(out)
}

fn parse_fetch(raw: RawCollateralFetch) -> Result<Option<CollateralFetch>, ParseError> {
    let secs =
        |name: &str, value: Option<u64>, default: u64, range: std::ops::RangeInclusive<u64>| {
            let value = value.unwrap_or(default);
            if range.contains(&value) {
                Ok(Duration::from_secs(value))
            } else {
                Err(ParseError::Value(format!(
                    "tdx_collateral.{name} = {value} is outside {}..={}",
                    range.start(),
                    range.end()
                )))
            }
        };
    let timeout = secs(
        "fetch_timeout_secs",
        raw.fetch_timeout_secs,
        DEFAULT_FETCH_TIMEOUT_SECS,
        1..=600,
    )?;
    let check_interval = secs(
        "check_interval_secs",
        raw.check_interval_secs,
        DEFAULT_CHECK_INTERVAL_SECS,
        10..=7 * 24 * 3600,
    )?;
    let refresh_before = secs(
        "refresh_before_secs",
        raw.refresh_before_secs,
        DEFAULT_REFRESH_BEFORE_SECS,
        0..=60 * 24 * 3600,
    )?;
    let early_updates = match raw.update.as_deref() {
        None | Some("standard") => false,
        Some("early") => true,
        Some(other) => {
            return Err(ParseError::Value(format!(
                "tdx_collateral.update = {other:?} is not \"standard\" or \"early\""
            )));
        }
    };
    let Some(url) = raw.fetch_url else {
        return Ok(None);
    };
    for (name, value) in [
        ("fetch_url", Some(&url)),
        ("root_ca_crl_url", raw.root_ca_crl_url.as_ref()),
    ] {
        if let Some(value) = value
            && !(value.starts_with("https://") || value.starts_with("http://"))
        {
            return Err(ParseError::Value(format!(
                "tdx_collateral.{name} = {value:?} is not an http:// or https:// URL"
            )));
        }
    }
    Ok(Some(CollateralFetch {
        url,
        root_ca_crl_url: raw
            .root_ca_crl_url
            .unwrap_or_else(|| DEFAULT_ROOT_CA_CRL_URL.to_owned()),
        early_updates,
        timeout,
        check_interval,
        refresh_before,
    }))
}

fn parse_rim_fetch(
    raw: RawRimFetch,
    resolve: &dyn Fn(PathBuf) -> PathBuf,
) -> Result<Option<RimFetchConfig>, ParseError> {
    let secs = raw
        .fetch_timeout_secs
        .unwrap_or(DEFAULT_RIM_FETCH_TIMEOUT_SECS);
    if !(1..=600).contains(&secs) {
        return Err(ParseError::Value(format!(
            "gpu_rims.fetch_timeout_secs = {secs} is outside 1..=600"
        )));
    }
    // Checked even without fetch_url, like [tdx_collateral]: a half-written section is a mistake.
    let service_key_file = raw.service_key_file.map(resolve);
    let Some(url) = raw.fetch_url else {
        return Ok(None);
    };
    let url =
        rim_fetch_url(&url).map_err(|m| ParseError::Value(format!("gpu_rims.fetch_url = {m}")))?;
    Ok(Some(RimFetchConfig {
        url,
        timeout: Duration::from_secs(secs),
        service_key_file,
    }))
}

enum ParseError {
    Toml(String),
    Value(String),
}

fn parse_product(name: &str) -> Result<Product, ParseError> {
    Product::ALL
        .into_iter()
        .find(|p| p.name().eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            ParseError::Value(format!(
                "product = {name:?} is not one of \"milan\", \"genoa\", \"turin\""
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, Path::new("/etc/warden")).map_err(|e| match e {
            ParseError::Toml(m) | ParseError::Value(m) => m,
        })
    }

    #[test]
    fn empty_file_gives_the_documented_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c, Config::with_state_dir(DEFAULT_STATE_DIR));
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.nonce_ttl, Duration::from_secs(120));
        assert_eq!(
            c.master_key,
            PathBuf::from("/var/lib/warden-verifier/master.key")
        );
        assert_eq!(c.policy_dir, None);
    }

    #[test]
    fn relative_paths_resolve_against_the_config_directory() {
        let c = parse(
            r#"
            listen = "0.0.0.0:7000"
            state_dir = "state"
            policy_dir = "policies"
            nonce_ttl_secs = 60
            [[insecure_test_roots]]
            product = "Milan"
            cert_chain = "/var/lib/warden-agent/sim/milan/cert_chain.pem"
            [[amd_crls]]
            product = "genoa"
            path = "crl/genoa.crl"
            "#,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.state_dir, PathBuf::from("/etc/warden/state"));
        assert_eq!(c.master_key, PathBuf::from("/etc/warden/state/master.key"));
        assert_eq!(c.policy_dir, Some(PathBuf::from("/etc/warden/policies")));
        assert_eq!(c.nonce_ttl, Duration::from_secs(60));
        assert_eq!(c.insecure_test_roots.len(), 1);
        assert_eq!(c.insecure_test_roots[0].product, Product::Milan);
        assert_eq!(
            c.amd_crls[0].path,
            PathBuf::from("/etc/warden/crl/genoa.crl")
        );
    }

    #[test]
    fn gpu_test_roots() {
        let c = parse(
            r#"
            insecure_gpu_test_roots = ["sim/nvidia/device_root.pem"]
            insecure_rim_test_roots = ["/abs/rim_root.pem"]
            "#,
        )
        .unwrap();
        assert_eq!(
            c.insecure_gpu_test_roots,
            vec![PathBuf::from("/etc/warden/sim/nvidia/device_root.pem")]
        );
        assert_eq!(
            c.insecure_rim_test_roots,
            vec![PathBuf::from("/abs/rim_root.pem")]
        );
    }

    #[test]
    fn tdx_settings() {
        let c = parse(
            r#"
            insecure_tdx_test_roots = ["sim/root_ca.pem"]
            [tdx_collateral]
            fetch_url = "https://api.trustedservices.intel.com"
            update = "early"
            refresh_before_secs = 3600
            "#,
        )
        .unwrap();
        assert_eq!(
            c.insecure_tdx_test_roots,
            vec![PathBuf::from("/etc/warden/sim/root_ca.pem")]
        );
        let fetch = c.collateral_fetch.unwrap();
        assert_eq!(fetch.url, "https://api.trustedservices.intel.com");
        assert_eq!(fetch.root_ca_crl_url, DEFAULT_ROOT_CA_CRL_URL);
        assert!(fetch.early_updates);
        assert_eq!(fetch.refresh_before, Duration::from_secs(3600));
        assert_eq!(
            fetch.timeout,
            Duration::from_secs(DEFAULT_FETCH_TIMEOUT_SECS)
        );
        // A section without fetch_url leaves the fetcher off, but its values are still checked.
        assert_eq!(
            parse("[tdx_collateral]\nupdate = \"standard\"")
                .unwrap()
                .collateral_fetch,
            None
        );
        let e = parse("[tdx_collateral]\nupdate = \"latest\"").unwrap_err();
        assert!(e.contains("tdx_collateral.update"), "{e}");
        let e = parse("[tdx_collateral]\nfetch_url = \"ftp://x\"").unwrap_err();
        assert!(e.contains("fetch_url"), "{e}");
        let e = parse("[tdx_collateral]\nfetch_timeout_secs = 0").unwrap_err();
        assert!(e.contains("fetch_timeout_secs"), "{e}");
    }

    #[test]
    fn gpu_revocation_modes() {
        use crate::revocation::RevocationMode;
        // Stapled by default: no network, responses from the evidence or the OCSP cache.
        let c = parse("").unwrap().gpu_revocation;
        assert_eq!(c.mode, RevocationMode::Stapled);
        assert_eq!(c.ocsp_url, None);
        assert!(c.online_nonce);
        let c = parse(
            "[gpu_revocation]\nmode = \"online\"\nocsp_url = \"https://ocsp.ndis.nvidia.com/\"\n\
             timeout_secs = 5\nonline_nonce = false",
        )
        .unwrap()
        .gpu_revocation;
        assert_eq!(c.mode, RevocationMode::Online);
        assert_eq!(c.ocsp_url.as_deref(), Some("https://ocsp.ndis.nvidia.com/"));
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert!(!c.online_nonce);
        assert_eq!(
            parse("[gpu_revocation]\nmode = \"off\"")
                .unwrap()
                .gpu_revocation
                .mode,
            RevocationMode::Off
        );
        for (text, message) in [
            ("mode = \"skip\"", "is not one of"),
            ("mode = \"online\"", "needs ocsp_url"),
            (
                "mode = \"online\"\nocsp_url = \"ftp://x/\"",
                "is not an http(s) URL",
            ),
            (
                "ocsp_url = \"https://ocsp.ndis.nvidia.com/\"",
                "only used with mode",
            ),
            ("timeout_secs = 0", "outside 1..=120"),
            ("nonce = true", "unknown field"),
        ] {
            let text = parse(&format!("[gpu_revocation]\n{text}")).unwrap_err();
            assert!(text.contains(message), "{text}");
        }
    }

    #[test]
    fn gpu_rim_fetching() {
        assert_eq!(parse("").unwrap().rim_fetch, None);
        let c = parse(
            r#"
            [gpu_rims]
            fetch_url = "https://rim.attestation.nvidia.com/v1/rim/"
            service_key_file = "keys/nvidia.key"
            "#,
        )
        .unwrap();
        let fetch = c.rim_fetch.unwrap();
        assert_eq!(fetch.url, DEFAULT_RIM_FETCH_URL);
        assert_eq!(
            fetch.timeout,
            Duration::from_secs(DEFAULT_RIM_FETCH_TIMEOUT_SECS)
        );
        assert_eq!(
            fetch.service_key_file,
            Some(PathBuf::from("/etc/warden/keys/nvidia.key"))
        );
        // The slash is added; the timeout is taken.
        let c = parse(
            "[gpu_rims]\nfetch_url = \"http://mirror.internal:8080/v1/rim\"\nfetch_timeout_secs = 3",
        )
        .unwrap();
        let fetch = c.rim_fetch.unwrap();
        assert_eq!(fetch.url, "http://mirror.internal:8080/v1/rim/");
        assert_eq!(fetch.timeout, Duration::from_secs(3));
        assert_eq!(fetch.service_key_file, None);
        // A section without fetch_url leaves fetching off, but its values are still checked.
        assert_eq!(
            parse("[gpu_rims]\nfetch_timeout_secs = 5")
                .unwrap()
                .rim_fetch,
            None
        );
        for (text, named) in [
            ("[gpu_rims]\nfetch_timeout_secs = 0", "fetch_timeout_secs"),
            ("[gpu_rims]\nfetch_timeout_secs = 601", "fetch_timeout_secs"),
            ("[gpu_rims]\nfetch_url = \"ftp://x/\"", "not an http"),
            ("[gpu_rims]\nfetch_url = \"https:///v1/rim/\"", "no host"),
            ("[gpu_rims]\nfetch_url = \"https://x/rim?id=\"", "query"),
            (
                "[gpu_rims]\nfetch_url = \"https://x/\"\nurl = \"y\"",
                "unknown field",
            ),
        ] {
            let e = parse(text).unwrap_err();
            assert!(e.contains(named), "{text}: {e}");
        }
    }

    #[test]
    fn mistakes_are_named() {
        assert!(
            parse("insecure_test_root = []")
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(
            parse("listen = \"localhost\"")
                .unwrap_err()
                .contains("listen")
        );
        assert!(
            parse("nonce_ttl_secs = 0")
                .unwrap_err()
                .contains("nonce_ttl_secs")
        );
        let e =
            parse("[[insecure_test_roots]]\nproduct = \"venice\"\ncert_chain = \"x\"").unwrap_err();
        assert!(e.contains("venice"), "{e}");
    }
}
