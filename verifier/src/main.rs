//! `warden-verifier`: the operator command.

#[cfg(feature = "demo")]
mod demo;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use tracing::{info, warn};
use warden_evidence::UnixTime;
use warden_evidence::model::{ModelSigners, SigningRules};
use warden_evidence::tdx::{AddOutcome, Quote, TdxVerifier};
use warden_verifier::collateral::{self, CollateralCache, CollateralError};
use warden_verifier::config::{Config, RimFetchConfig};
use warden_verifier::keys::{KeyBroker, KeyId, KeyMaterial, MasterKey};
use warden_verifier::model_signing::{self, ModelTrust};
use warden_verifier::offline::{self, SnpFiles};
use warden_verifier::policy::{Policy, PolicySet};
use warden_verifier::rim_fetch::{self, RimClient};
use warden_verifier::rims::{self, ImportOutcome, RimStore};
use warden_verifier::service::{self, Clock, Limits, SystemClock, VerifierState};
use warden_verifier::store::Store;

/// Warden verifier: verifies confidential-computing evidence and releases model keys.
#[derive(Debug, Parser)]
#[command(name = "warden-verifier", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gRPC verifier and key broker until SIGINT or SIGTERM.
    Serve(ConfigArg),
    /// Manage the key broker's keys (in the state directory of the configuration).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Work with policies offline.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Manage the Intel TDX collateral cache (in the state directory of the configuration).
    Collateral {
        #[command(subcommand)]
        command: CollateralCommand,
    },
    /// Manage the NVIDIA RIM store (in the state directory of the configuration).
    Rims {
        #[command(subcommand)]
        command: RimsCommand,
    },
    /// Manage the OCSP cache for NVIDIA device and RIM certificates (used by
    /// `[gpu_revocation] mode = "stapled"`).
    Ocsp {
        #[command(subcommand)]
        command: OcspCommand,
    },
    /// Work with evidence offline.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
    },
    /// Run the whole flow on loopback with embedded defaults: a verifier with a fresh state
    /// directory, a key under the `dev` policy, a simulated SEV-SNP or TDX agent that attests,
    /// gets the key and decrypts a model, then a request the strict `default` policy denies.
    #[cfg(feature = "demo")]
    Demo {
        /// Keep the demo's state here instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The simulated TEE of the confidential VM.
        #[arg(long, value_enum, default_value = "snp")]
        tee: demo::DemoTee,
        /// Simulated NVIDIA Hopper GPUs in the confidential VM (0 to 8), each with its device
        /// certificate chain, and signed reference values (RIMs) in the verifier's store.
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=8))]
        gpus: u8,
    },
}

#[derive(Debug, Args)]
struct ConfigArg {
    /// Configuration file (TOML). Without it every documented default applies
    /// (docs/operations.md).
    #[arg(long, short, value_name = "FILE", env = "WARDEN_VERIFIER_CONFIG")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    fn load(&self) -> anyhow::Result<Config> {
        match &self.config {
            Some(path) => Ok(Config::load(path)?),
            None => Ok(Config::with_state_dir(
                warden_verifier::config::DEFAULT_STATE_DIR,
            )),
        }
    }
}

#[derive(Debug, Subcommand)]
enum CollateralCommand {
    /// Import DCAP collateral for offline verification: Intel PCS/PCCS response files (TCB
    /// info, QE identity), CRLs (DER or PEM), issuer chains (PEM), or dcap-qvl's JSON
    /// collateral. Each PATH is a file or a directory of such files (one level). A cached item is
    /// replaced only by one at least as new (TCB evaluation data number, then issue date). A
    /// running verifier picks the import up on its next TDX attestation.
    Import {
        /// Files or directories to import.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Print what was imported as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the cached collateral with its validity (nothing is verified here).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
enum OcspCommand {
    /// Import DER OCSP responses (from NVIDIA's responder, fetched without a nonce). Each PATH
    /// is a file or a directory of files (one level). A response is indexed by the
    /// certificates it answers for and verified (responder, signature, status, freshness) each
    /// time it is used; of two responses for one certificate the later thisUpdate is kept. A
    /// file that is not a successful OCSP response stops the import and nothing is stored.
    Import {
        /// Files or directories to import.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Print what was imported as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the cached responses (nothing is verified here).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
enum RimsCommand {
    /// Import NVIDIA RIMs (SWID XML). Each PATH is a file or a directory of files (one level).
    /// Every RIM is verified first (XML signature, chain to the pinned NVIDIA CoRIM signing
    /// root) at --at, or now; one that fails stops the import and nothing is stored. A RIM is
    /// verified again at each use, so --at only decides what may enter the store. A driver RIM's
    /// id comes from its signed content; a VBIOS RIM's from its file name
    /// (NV_GPU_VBIOS_<project>_<sku>_<chip>_<vbios>.xml or nvtrust's
    /// <project>_<sku>_<chip>_<vbios>_PROD.swidtag). Of two RIMs with one id, the one whose
    /// signing chain is valid longer is kept.
    Import {
        /// Files or directories to import.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Verify at this time (RFC 3339) instead of now, e.g. for RIMs whose signer expired.
        #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
        at: Option<UnixTime>,
        /// Print what was imported as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Fetch NVIDIA RIMs by id from the RIM service of `[gpu_rims] fetch_url` (or --url) into
    /// the store. Each is checked as `rims import` checks a file (XML signature, chain to the
    /// pinned NVIDIA CoRIM signing root at --at or now, the id that follows from its signed
    /// content) before it is stored; one that fails is reported and not stored, and the
    /// others are still fetched. Exit status 1 when any id failed.
    Fetch {
        /// RIM ids, e.g. NV_GPU_DRIVER_GH100_550.144.03 or
        /// NV_GPU_VBIOS_1010_0200_882_96005E0001.
        #[arg(required = true, value_name = "ID")]
        ids: Vec<String>,
        /// Fetch from this RIM service URL instead of the configured one, e.g.
        /// https://rim.attestation.nvidia.com/v1/rim/ (the id is appended).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Verify at this time (RFC 3339) instead of now, e.g. for RIMs whose signer expired.
        #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
        at: Option<UnixTime>,
        /// Print each id's outcome as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the stored RIMs with their validity (nothing is verified here).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a key released under policy NAME. The material is encrypted at rest under the
    /// master key and never printed.
    Add {
        /// Key id: letters, digits, '.', '_', '-', starting with a letter or digit, at most
        /// 128 characters, no "..".
        id: String,
        /// Name of the policy that decides its release (a NAME.rego of the policy directory,
        /// or a built-in: `default`, `dev`).
        #[arg(long, value_name = "NAME")]
        policy: String,
        /// Read the key material from this file (raw bytes, 1 to 65536). An age identity file
        /// (one `AGE-SECRET-KEY-1...` line, `#` comments allowed, as `age-keygen` writes) is
        /// stored as that identity alone, and its recipient is printed.
        #[arg(
            long,
            value_name = "FILE",
            conflicts_with = "generate",
            required_unless_present = "generate"
        )]
        from_file: Option<PathBuf>,
        /// Generate 32 random bytes (with --age: an age X25519 identity).
        #[arg(long)]
        generate: bool,
        /// With --generate: generate an age X25519 identity for a model encrypted with
        /// `age -r RECIPIENT`; prints the recipient (age1...) on stdout.
        #[arg(long, requires = "generate")]
        age: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Print the age recipient (age1...) of a stored age identity, to encrypt a model to.
    Recipient {
        /// Key id.
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List key ids, their policies and creation times (never material).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Remove a key.
    Remove {
        /// Key id.
        id: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Evaluate a policy over a claims document and print the decision and every reason.
    /// Exit 0: allowed; 1: denied; 2: usage or policy error.
    Eval {
        /// The Rego policy (package warden).
        #[arg(long, value_name = "FILE")]
        policy: PathBuf,
        /// Policy data (JSON), for example allow-lists. Default: NAME.data.json beside the
        /// policy, if it exists.
        #[arg(long, value_name = "FILE")]
        data: Option<PathBuf>,
        /// The claims document (JSON), as in docs/policy-input.md.
        #[arg(long, value_name = "FILE")]
        claims: PathBuf,
        /// Print the decision as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum EvidenceCommand {
    /// Verify evidence files. Exit 0: valid (claims printed); 1: invalid (one line naming the
    /// reason); 2: usage error.
    Verify {
        #[command(subcommand)]
        kind: VerifyKind,
    },
}

#[derive(Debug, Subcommand)]
enum VerifyKind {
    /// AMD SEV-SNP: an attestation report and its VCEK or VLEK, against the pinned AMD roots.
    Snp(SnpArgs),
    /// Intel TDX: a quote (v4 or v5) with its DCAP collateral, against the pinned Intel SGX
    /// Root CA, fully offline (dcap-qvl).
    Tdx(TdxArgs),
    /// NVIDIA GPU (Hopper, Blackwell): an SPDM attestation report and its device certificate
    /// chain against the pinned NVIDIA Device Identity CA, for a nonce, and optionally its
    /// measurements against driver and VBIOS RIMs verified to the pinned NVIDIA CoRIM root.
    /// A measurement mismatch is a claim (`measurements_match: false`, `mismatched_indices`),
    /// not an invalid report: policy judges it. Revocation: see --revocation.
    Nvidia(NvidiaArgs),
    /// A model directory against its OpenSSF Model Signing bundle (model-signing's Sigstore
    /// bundle v0.3, key or certificate method): the signature over the DSSE envelope with a
    /// pinned key or a chain to a given root, the signed statement, the hashing method and the
    /// signer's ignore paths against the rules, then the directory hashed as the statement
    /// says and compared entry by entry (missing, extra and changed files all fail).
    Model(ModelArgs),
}

#[derive(Debug, Args)]
struct ModelArgs {
    /// The model directory (or single file) the bundle signs.
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// The signature bundle (model-signing writes `model.sig`). When it lies inside --dir, its
    /// path must be among the paths the signer ignored (model-signing's CLI records it there).
    #[arg(long, value_name = "FILE")]
    bundle: PathBuf,
    /// A trusted signer's public key (SPKI PEM; ECDSA P-256, P-384 or P-521). Repeatable.
    #[arg(long, value_name = "PEM")]
    key: Vec<PathBuf>,
    /// A trusted root certificate (PEM) for bundles signed with the certificate method.
    /// Repeatable.
    #[arg(long, value_name = "PEM")]
    root: Vec<PathBuf>,
    /// Take the signers and rules from a policy data file's `model_signing` object instead
    /// (docs/policy-input.md), to check what a key's policy will accept.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["key", "root"])]
    policy_data: Option<PathBuf>,
    /// Verification time, RFC 3339; it matters for the certificate method only (the leaf must
    /// not be issued after it). Default: now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    at: Option<UnixTime>,
    /// Print the claims as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct NvidiaArgs {
    /// The attestation report: one line of hex (NVML attestationReport), or NVIDIA's
    /// serialized-evidence JSON (a list of {arch, nonce, evidence, certificate}).
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    /// The entry of a serialized-evidence JSON report to verify (0-based).
    #[arg(long, value_name = "N", default_value_t = 0)]
    index: usize,
    /// The device certificate chain (PEM, leaf first, 5 certificates; NVML
    /// attestationCertChain). Optional with a JSON report, which carries it.
    #[arg(long, value_name = "FILE")]
    certs: Option<PathBuf>,
    /// The verifier's 32-byte challenge (64 hex digits); the report's request nonce must equal it.
    #[arg(long, value_name = "HEX")]
    nonce: String,
    /// A driver or VBIOS RIM (SWID XML) to compare the measurements with; at most one of each,
    /// describing the report's signed driver or VBIOS version. Repeatable. With one RIM only,
    /// `rims_complete` is false and the match speaks for that RIM alone.
    #[arg(long, value_name = "FILE")]
    rim: Vec<PathBuf>,
    /// Also look the report's driver and VBIOS RIMs up in the RIM store (of --config) by the ids
    /// of its signed fields, for each kind no --rim gave; they are verified again at --at.
    #[arg(long)]
    rims_from_store: bool,
    #[command(flatten)]
    config: ConfigArg,
    /// Verification time, RFC 3339 (for example 2024-06-01T00:00:00Z). Never the clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    at: UnixTime,
    /// Certificate revocation: `off` (not checked; `revocation: "off"` in the claims), or
    /// `stapled DIR`: every file in DIR is a DER OCSP response, and certificates 1..=3 of the
    /// device chain and 0..=2 of each RIM's chain must each have a verified, fresh `good` (or
    /// `certificateHold`) response at --at.
    #[arg(long, num_args = 1..=2, value_names = ["MODE", "DIR"], default_value = "off")]
    revocation: Vec<String>,
    /// Print the claims as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct TdxArgs {
    /// The quote as the TD produced it (configfs-tsm outblob).
    #[arg(long, value_name = "FILE")]
    quote: PathBuf,
    /// The collateral: dcap-qvl's JSON collateral form, or a directory of Intel PCS response
    /// files (TCB info, QE identity, root CA and PCK CRLs, issuer chains).
    #[arg(long, value_name = "FILE|DIR")]
    collateral: PathBuf,
    /// Verification time, RFC 3339 (for example 2025-06-25T00:00:00Z). Never the clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    at: UnixTime,
    /// Print the claims as JSON.
    #[arg(long)]
    json: bool,
    /// Trust this root CA (PEM or DER) instead of Intel's SGX Root CA. For generated test
    /// hierarchies only.
    #[arg(long, value_name = "FILE")]
    dangerous_root: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct SnpArgs {
    /// The raw 1184-byte attestation report.
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    /// The VCEK or VLEK certificate, DER or PEM.
    #[arg(long, value_name = "FILE")]
    cert: PathBuf,
    /// A KDS cert_chain PEM (ASK or ASVK, then ARK) replacing the pinned intermediate. Its ARK
    /// must be the pinned ARK of the report's product.
    #[arg(long, value_name = "FILE")]
    chain: Option<PathBuf>,
    /// An AMD CRL signed by the product's ARK (DER or PEM; KDS /vcek/v1/<product>/crl or
    /// /vlek/v1/<product>/crl). Repeatable. Without it revocation is not checked, and the claims
    /// say `crl_checked: false`.
    #[arg(long, value_name = "FILE")]
    crl: Vec<PathBuf>,
    /// Verification time, RFC 3339 (for example 2025-06-01T00:00:00Z). Never the clock.
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    at: UnixTime,
    /// Print the claims as JSON.
    #[arg(long)]
    json: bool,
    /// Trust whatever ARK the --chain file carries. For test hierarchies only: this turns off
    /// root pinning.
    #[arg(long, requires = "chain")]
    dangerous_trust_chain_root: bool,
}

fn parse_time(s: &str) -> Result<UnixTime, String> {
    let fmt = time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::parse(s, &fmt)
        .map(|t| UnixTime(t.unix_timestamp()))
        .map_err(|e| format!("not an RFC 3339 time ({e})"))
}

/// Exit status for evidence that is not valid.
const INVALID: u8 = 1;
/// Exit status for usage errors (unreadable files included), as clap uses.
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    kind: VerifyKind::Snp(args),
                },
        } => return verify_snp(&args),
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    kind: VerifyKind::Tdx(args),
                },
        } => return verify_tdx(&args),
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    kind: VerifyKind::Nvidia(args),
                },
        } => return verify_nvidia(&args),
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    kind: VerifyKind::Model(args),
                },
        } => return verify_model(&args),
        Command::Rims {
            command:
                RimsCommand::Fetch {
                    ids,
                    url,
                    at,
                    json,
                    config,
                },
        } => return rims_fetch(&ids, url.as_deref(), at, json, &config),
        Command::Rims { command } => rims_command(command),
        Command::Ocsp { command } => ocsp_command(command),
        Command::Collateral { command } => collateral(command),
        Command::Policy {
            command:
                PolicyCommand::Eval {
                    policy,
                    data,
                    claims,
                    json,
                },
        } => return policy_eval(&policy, data.as_deref(), &claims, json),
        Command::Serve(config) => serve(&config),
        Command::Keys { command } => keys(command),
        #[cfg(feature = "demo")]
        Command::Demo { dir, tee, gpus } => demo::run(dir, tee, usize::from(gpus)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to stderr; `RUST_LOG` overrides the default `info`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn serve(config: &ConfigArg) -> anyhow::Result<()> {
    init_logging();
    let config = config.load()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let state = Arc::new(VerifierState::from_config(&config)?);
        let listener = service::bind(config.listen).await?;
        let addr = listener.local_addr().context("reading the bound address")?;
        info!(
            %addr,
            state_dir = %config.state_dir.display(),
            nonce_ttl_secs = config.nonce_ttl.as_secs(),
            "warden-verifier serving warden.v1.Verifier"
        );
        service::serve(
            state,
            Limits::from_config(&config),
            listener,
            shutdown_signal(),
        )
        .await?;
        info!("stopped");
        Ok(())
    })
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(e) => {
                    warn!(reason = %e, "cannot listen for SIGTERM; only SIGINT stops the server");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    info!("shutting down: finishing in-flight requests");
}

fn open_broker(config: &Config) -> anyhow::Result<KeyBroker> {
    let store = Arc::new(Store::open(&config.state_dir)?);
    let (master, created) = MasterKey::load_or_create(&config.master_key)?;
    if created {
        eprintln!(
            "created a new master key {} (mode 0600); back it up: keys cannot be decrypted without it",
            config.master_key.display()
        );
    }
    Ok(KeyBroker::new(store, master))
}

fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Add {
            id,
            policy,
            from_file,
            generate,
            age,
            config,
        } => {
            let config = config.load()?;
            let id = KeyId::parse(&id)?;
            let policies = match &config.policy_dir {
                Some(dir) => PolicySet::load_dir(dir)?,
                None => PolicySet::builtin()?,
            };
            if policies.get(&policy).is_none() {
                bail!(
                    "no policy named {policy:?}; loaded policies: {}",
                    policies.names().join(", ")
                );
            }
            let (material, is_age) = match (from_file, generate, age) {
                (Some(_), _, true) => bail!(
                    "--age needs --generate; an age identity file given with --from-file is \
                     recognised without --age"
                ),
                (Some(path), _, false) => KeyMaterial::from_file(&path)?.normalise_age()?,
                (None, true, true) => (KeyMaterial::generate_age(), true),
                (None, true, false) => (KeyMaterial::generate()?, false),
                (None, false, _) => bail!("give --from-file FILE or --generate"),
            };
            let len = material.expose().len();
            let recipient = material.age_recipient();
            open_broker(&config)?.add(&id, &policy, material, SystemClock.now())?;
            match recipient.filter(|_| is_age) {
                // The recipient alone on stdout, so `R=$(warden-verifier keys add ...)` works.
                Some(recipient) => {
                    println!("{recipient}");
                    eprintln!(
                        "added age identity {id} under policy {policy}; encrypt each model file \
                         with: age -r {recipient} -o FILE.age FILE"
                    );
                }
                None => println!("added key {id} ({len} bytes) under policy {policy}"),
            }
            Ok(())
        }
        KeysCommand::Recipient { id, config } => {
            let config = config.load()?;
            let id = KeyId::parse(&id)?;
            match open_broker(&config)?.recipient(&id)? {
                Some(recipient) => {
                    println!("{recipient}");
                    Ok(())
                }
                None => bail!("no key {id}"),
            }
        }
        KeysCommand::List { json, config } => {
            let config = config.load()?;
            let keys = open_broker(&config)?.list()?;
            if json {
                let list: Vec<_> = keys
                    .iter()
                    .map(|k| {
                        serde_json::json!({
                            "id": k.id.to_string(),
                            "policy": k.policy,
                            "created_at": k.created_at.0,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(list));
            } else if keys.is_empty() {
                println!("no keys");
            } else {
                for k in keys {
                    println!(
                        "{}\tpolicy={}\tcreated_at={}",
                        k.id,
                        k.policy,
                        format_time(k.created_at)
                    );
                }
            }
            Ok(())
        }
        KeysCommand::Remove { id, config } => {
            let config = config.load()?;
            let id = KeyId::parse(&id)?;
            if open_broker(&config)?.remove(&id)? {
                println!("removed key {id}");
                Ok(())
            } else {
                bail!("no key {id}")
            }
        }
    }
}

fn format_time(t: UnixTime) -> String {
    time::OffsetDateTime::from_unix_timestamp(t.0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.0.to_string())
}

fn policy_eval(policy: &Path, data: Option<&Path>, claims: &Path, json: bool) -> ExitCode {
    let data = data.map(Path::to_owned).or_else(|| {
        let beside = policy.with_extension("data.json");
        beside.is_file().then_some(beside)
    });
    let evaluated = (|| {
        let policy = Policy::from_files(policy, data.as_deref())?;
        let text = std::fs::read_to_string(claims)
            .with_context(|| format!("cannot read --claims {}", claims.display()))?;
        let input: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("--claims {} is not JSON", claims.display()))?;
        let decision = policy.evaluate(&input)?;
        Ok::<_, anyhow::Error>((policy, decision))
    })();
    let (policy, decision) = match evaluated {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(USAGE);
        }
    };
    if json {
        print_line(
            &serde_json::json!({
                "policy": policy.name(),
                "policy_digest": policy.digest_hex(),
                "allow": decision.allow,
                "reasons": decision.reasons,
            })
            .to_string(),
        );
    } else {
        let verdict = if decision.allow { "allow" } else { "deny" };
        let mut lines = vec![format!(
            "{verdict} (policy {} sha256:{})",
            policy.name(),
            policy.digest_hex()
        )];
        lines.extend(decision.reasons.iter().map(|r| format!("  - {r}")));
        print_line(&lines.join("\n"));
    }
    if decision.allow {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(INVALID)
    }
}

fn read(flag: &str, path: &Path) -> Result<Vec<u8>, ExitCode> {
    std::fs::read(path).map_err(|e| {
        eprintln!("error: cannot read {flag} {}: {e}", path.display());
        ExitCode::from(USAGE)
    })
}

fn verify_snp(args: &SnpArgs) -> ExitCode {
    let inputs = (|| {
        let report = read("--report", &args.report)?;
        let cert = read("--cert", &args.cert)?;
        let chain = args
            .chain
            .as_deref()
            .map(|p| read("--chain", p))
            .transpose()?;
        let crls = args.crl.iter().map(|p| read("--crl", p));
        let crls = crls.collect::<Result<Vec<_>, _>>()?;
        Ok::<_, ExitCode>((report, cert, chain, crls))
    })();
    let (report, cert, chain, crls) = match inputs {
        Ok(inputs) => inputs,
        Err(code) => return code,
    };
    if args.dangerous_trust_chain_root {
        eprintln!("warning: --dangerous-trust-chain-root: the ARK in --chain is trusted unpinned");
    }
    let files = SnpFiles {
        report: &report,
        cert: &cert,
        chain: chain.as_deref(),
        crls: &crls,
    };
    match offline::verify_snp(files, args.at, args.dangerous_trust_chain_root) {
        Ok(verified) => valid(
            &verified.claims,
            &format!(
                "valid: SEV-SNP report v{} from {} signed by {} at {}",
                verified.claims.version, verified.product, verified.signer, args.at
            ),
            args.json,
        ),
        Err(e) => invalid(&e),
    }
}

fn verify_model(args: &ModelArgs) -> ExitCode {
    let usage = |message: String| {
        eprintln!("error: {message}");
        ExitCode::from(USAGE)
    };
    let bundle = match read("--bundle", &args.bundle) {
        Ok(bundle) => bundle,
        Err(code) => return code,
    };
    let trust = if let Some(path) = &args.policy_data {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) => return usage(format!("cannot read --policy-data {}: {e}", path.display())),
        };
        let data: serde_json::Value = match serde_json::from_str(&text) {
            Ok(data) => data,
            Err(e) => return usage(format!("--policy-data {}: {e}", path.display())),
        };
        match ModelTrust::from_data(&data) {
            Ok(Some(trust)) => trust,
            Ok(None) => {
                return usage(format!(
                    "--policy-data {} has no model_signing object",
                    path.display()
                ));
            }
            Err(e) => return usage(format!("--policy-data {}: {e}", path.display())),
        }
    } else {
        if args.key.is_empty() && args.root.is_empty() {
            return usage("name a signer: --key PEM, --root PEM or --policy-data FILE".to_owned());
        }
        let mut signers = ModelSigners::new();
        for path in &args.key {
            let added = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|pem| signers.add_public_key_pem(&pem).map_err(|e| e.to_string()));
            if let Err(e) = added {
                return usage(format!("--key {}: {e}", path.display()));
            }
        }
        for path in &args.root {
            let added = std::fs::read_to_string(path)
                .map_err(|e| e.to_string())
                .and_then(|pem| signers.add_root_pem(&pem).map_err(|e| e.to_string()));
            if let Err(e) = added {
                return usage(format!("--root {}: {e}", path.display()));
            }
        }
        ModelTrust::new(signers, SigningRules::default())
    };
    let now = args.at.unwrap_or_else(|| SystemClock.now());
    match model_signing::verify_model_dir(&args.dir, &bundle, &trust, now) {
        Ok(claims) => {
            let headline = format!(
                "valid: {} signed by {}, {} matches",
                args.bundle.display(),
                claims
                    .pointer("/signature/signer")
                    .map_or_else(String::new, ToString::to_string),
                args.dir.display()
            );
            valid(&claims, &headline, args.json)
        }
        Err(e) => invalid(&e),
    }
}

/// Prints the verdict of valid evidence: `headline` and the flattened claims, or the claims as
/// JSON. Exit status 0.
fn valid(claims: &impl serde::Serialize, headline: &str, json: bool) -> ExitCode {
    let claims = match serde_json::to_value(claims) {
        Ok(claims) => claims,
        Err(e) => {
            eprintln!("error: cannot encode claims: {e}");
            return ExitCode::from(INVALID);
        }
    };
    let text = if json {
        serde_json::to_string_pretty(&claims).unwrap_or_else(|_| claims.to_string())
    } else {
        let mut lines = vec![headline.to_owned()];
        flatten("  ", &claims, &mut lines);
        lines.join("\n")
    };
    print_line(&text);
    ExitCode::SUCCESS
}

/// Prints why evidence is not valid. Exit status 1.
fn invalid(reason: &dyn std::fmt::Display) -> ExitCode {
    print_line(&format!("invalid: {reason}"));
    ExitCode::from(INVALID)
}

fn verify_tdx(args: &TdxArgs) -> ExitCode {
    let quote = match read("--quote", &args.quote) {
        Ok(quote) => quote,
        Err(code) => return code,
    };
    let root = match &args.dangerous_root {
        Some(path) => {
            let bytes = match read("--dangerous-root", path) {
                Ok(bytes) => bytes,
                Err(code) => return code,
            };
            eprintln!(
                "warning: --dangerous-root: trusting {} instead of Intel's root",
                path.display()
            );
            match warden_verifier::tdx::single_certificate(&bytes) {
                Ok(der) => der,
                Err(e) => {
                    eprintln!("error: --dangerous-root {}: {e}", path.display());
                    return ExitCode::from(USAGE);
                }
            }
        }
        None => warden_verifier::roots::intel_sgx_root_ca().to_vec(),
    };
    let set = match collateral::set_from_path(&args.collateral) {
        Ok(set) => set,
        Err(
            e @ (CollateralError::Read { .. }
            | CollateralError::Empty { .. }
            | CollateralError::Nested { .. }),
        ) => {
            eprintln!("error: --collateral: {e}");
            return ExitCode::from(USAGE);
        }
        Err(e) => return invalid(&format!("collateral {e}")),
    };
    let verified = Quote::parse_allow_zero_padding(&quote).and_then(|quote| {
        let collateral = set.select(&quote.pck()?, args.at)?;
        TdxVerifier::new(root).verify(args.at, &quote, &collateral)
    });
    match verified {
        Ok(verified) => valid(
            &verified.claims,
            &format!(
                "valid: TDX quote v{} with TCB status {} at {}",
                verified.quote.version(),
                verified.claims.tcb_status,
                args.at
            ),
            args.json,
        ),
        Err(e) => invalid(&e),
    }
}

fn collateral(command: CollateralCommand) -> anyhow::Result<()> {
    match command {
        CollateralCommand::Import {
            paths,
            json,
            config,
        } => {
            let config = config.load()?;
            let mut items = Vec::new();
            for path in &paths {
                items.extend(collateral::read_path(path)?);
            }
            let cache = open_collateral(&config)?;
            let entries = cache.import(items, SystemClock.now())?;
            if json {
                let doc: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "source": e.source,
                            "kind": e.kind,
                            "key": e.key,
                            "outcome": match e.outcome {
                                AddOutcome::Added => "added",
                                AddOutcome::Replaced => "replaced",
                                _ => "kept-existing",
                            },
                            "next_update": e.next_update.map(|t| t.to_string()),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                for e in &entries {
                    let outcome = match e.outcome {
                        AddOutcome::Added => "added",
                        AddOutcome::Replaced => "replaced an older item",
                        _ => "kept the cached item, which is newer",
                    };
                    let next = e
                        .next_update
                        .map_or_else(String::new, |t| format!(", next update {t}"));
                    println!("{} {}: {outcome}{next} ({})", e.kind, e.key, e.source);
                }
            }
            Ok(())
        }
        CollateralCommand::List { json, config } => {
            let config = config.load()?;
            let rows = open_collateral(&config)?.rows()?;
            let now = SystemClock.now();
            if json {
                let doc: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "kind": r.kind,
                            "key": r.key,
                            "issue_date": r.issue_date.map(|t| t.to_string()),
                            "next_update": r.next_update.map(|t| t.to_string()),
                            "expired": r.next_update.is_some_and(|t| t < now),
                            "source": r.source,
                            "stored_at": r.stored_at.to_string(),
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else if rows.is_empty() {
                println!(
                    "no collateral cached; import some with `warden-verifier collateral import`"
                );
            } else {
                for r in &rows {
                    let validity = match r.next_update {
                        Some(t) if t < now => format!("EXPIRED at {t}"),
                        Some(t) => format!("valid until {t}"),
                        None => "no expiry".to_owned(),
                    };
                    println!("{} {}: {validity} ({})", r.kind, r.key, r.source);
                }
            }
            Ok(())
        }
    }
}

/// A GPU report and chain from the `--report` (and `--certs`) files.
fn nvidia_inputs(args: &NvidiaArgs) -> Result<(Vec<u8>, Vec<u8>), ExitCode> {
    let usage = |msg: String| {
        eprintln!("error: {msg}");
        ExitCode::from(USAGE)
    };
    let raw = read("--report", &args.report)?;
    let text = std::str::from_utf8(&raw).map(str::trim).unwrap_or_default();
    let (report, chain) = if text.starts_with('[') || text.starts_with('{') {
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            usage(format!(
                "--report {} is not JSON: {e}",
                args.report.display()
            ))
        })?;
        let entry = match &doc {
            serde_json::Value::Array(list) => list.get(args.index),
            other if args.index == 0 => Some(other),
            _ => None,
        }
        .ok_or_else(|| {
            usage(format!(
                "--report {} has no entry {}",
                args.report.display(),
                args.index
            ))
        })?;
        let field = |name: &str| {
            use base64::Engine as _;
            let value = entry.get(name).and_then(serde_json::Value::as_str);
            value
                .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
                .ok_or_else(|| {
                    usage(format!(
                        "--report {} entry {}: no base64 {name:?}",
                        args.report.display(),
                        args.index
                    ))
                })
        };
        (field("evidence")?, Some(field("certificate")?))
    } else {
        if args.index != 0 {
            return Err(usage("--index applies to a JSON --report only".to_owned()));
        }
        let report = hex::decode(text).map_err(|e| {
            usage(format!(
                "--report {} is neither hex nor JSON: {e}",
                args.report.display()
            ))
        })?;
        (report, None)
    };
    let chain = match (&args.certs, chain) {
        (Some(path), _) => read("--certs", path)?,
        (None, Some(chain)) => chain,
        (None, None) => return Err(usage("--certs is required with a hex --report".to_owned())),
    };
    Ok((report, chain))
}

/// The claims `evidence verify nvidia` prints.
#[derive(serde::Serialize)]
struct NvidiaClaims<'a> {
    #[serde(flatten)]
    gpu: &'a warden_evidence::nvidia::GpuClaims,
    #[serde(flatten)]
    rims: &'a rims::RimMatch,
    revocation: &'static str,
    revocation_status: &'static str,
    revocation_checked: &'a [warden_verifier::revocation::CertRevocation],
}

/// `--revocation off` or `--revocation stapled DIR`: the responses of DIR, or `None` for off.
fn revocation_arg(values: &[String]) -> Result<Option<Vec<Vec<u8>>>, ExitCode> {
    let usage = |message: &str| {
        eprintln!("error: --revocation: {message}");
        ExitCode::from(USAGE)
    };
    match values {
        [mode] if mode == "off" => Ok(None),
        [mode, dir] if mode == "stapled" => {
            let responses = warden_verifier::revocation::read_responses(Path::new(dir))
                .map_err(|e| usage(&e))?;
            Ok(Some(responses.into_iter().map(|(_, body)| body).collect()))
        }
        [mode] if mode == "stapled" => Err(usage("stapled needs a directory of OCSP responses")),
        _ => Err(usage("expected `off` or `stapled DIR`")),
    }
}

fn verify_nvidia(args: &NvidiaArgs) -> ExitCode {
    let (report, chain) = match nvidia_inputs(args) {
        Ok(inputs) => inputs,
        Err(code) => return code,
    };
    let nonce: [u8; 32] = match hex::decode(args.nonce.trim())
        .ok()
        .and_then(|n| n.try_into().ok())
    {
        Some(nonce) => nonce,
        None => {
            eprintln!("error: --nonce must be 64 hex digits (32 bytes)");
            return ExitCode::from(USAGE);
        }
    };
    let mut rim_files = Vec::new();
    for path in &args.rim {
        match read("--rim", path) {
            Ok(body) => rim_files.push((path, body)),
            Err(code) => return code,
        }
    }
    let stapled = match revocation_arg(&args.revocation) {
        Ok(stapled) => stapled,
        Err(code) => return code,
    };
    let gpu = warden_evidence::nvidia::GpuVerifier::new(
        warden_verifier::roots::nvidia_device_identity_ca().to_vec(),
    );
    let verified = match gpu.verify(args.at, &report, &chain, &nonce) {
        Ok(verified) => verified,
        Err(e) => return invalid(&e),
    };
    let (driver_id, vbios_id) = rims::report_rim_ids(&verified.claims);
    let verifier = rims::pinned_verifier();
    let mut given = Vec::new();
    for (path, body) in rim_files {
        let label = path.display().to_string();
        let rim = match verifier.verify(args.at, &body) {
            Ok(rim) => rim,
            Err(e) => return invalid(&format!("RIM {label}: {e}")),
        };
        let id = match rim.kind {
            warden_evidence::nvidia::rim::RimKind::Driver => driver_id.clone(),
            _ => vbios_id.clone(),
        };
        given.push((label.clone(), id.unwrap_or(label), rim));
    }
    if args.rims_from_store {
        let store = match args.config.load().and_then(|config| open_rims(&config)) {
            Ok(store) => store,
            Err(e) => {
                eprintln!("error: --rims-from-store: {e:#}");
                return ExitCode::from(USAGE);
            }
        };
        for (kind, id) in [
            (warden_evidence::nvidia::rim::RimKind::Driver, driver_id),
            (warden_evidence::nvidia::rim::RimKind::Vbios, vbios_id),
        ] {
            let Some(id) = id else { continue };
            if given.iter().any(|(_, _, rim)| rim.kind == kind) {
                continue;
            }
            match store.get(&id, &verifier, args.at) {
                Ok(Some(rim)) => given.push((format!("store:{id}"), id, rim)),
                Ok(None) => {}
                Err(e) => return invalid(&e),
            }
        }
    }
    let matched = match rims::match_report(&verified.report, &given) {
        Ok(matched) => matched,
        Err(e) => return invalid(&e),
    };
    let mut checked = Vec::new();
    let revocation_status = match &stapled {
        None => "unchecked",
        Some(responses) => {
            use warden_evidence::nvidia::ocsp::{
                DEVICE_CHAIN_OCSP, OcspCertStatus, RIM_CHAIN_OCSP,
            };
            use warden_verifier::revocation::{ChainKind, Revocation as Checker};
            let checker = Checker::stapled(None);
            let ders = match warden_evidence::nvidia::decode_chain(&chain) {
                Ok(ders) => ders,
                Err(e) => return invalid(&e),
            };
            let mut chains = vec![(ChainKind::Device, ders, DEVICE_CHAIN_OCSP)];
            for (_, _, rim) in &given {
                let kind = match rim.kind {
                    warden_evidence::nvidia::rim::RimKind::Driver => ChainKind::DriverRim,
                    _ => ChainKind::VbiosRim,
                };
                chains.push((kind, rim.chain.clone(), RIM_CHAIN_OCSP));
            }
            for (kind, ders, range) in chains {
                match checker.check_chain(args.at, kind, &ders, range, responses) {
                    Ok(found) => checked.extend(found),
                    Err(e) => return invalid(&e),
                }
            }
            if checked.iter().any(|c| c.status == OcspCertStatus::Hold) {
                "hold"
            } else {
                "good"
            }
        }
    };
    let revocation = if stapled.is_some() { "stapled" } else { "off" };
    let c = &verified.claims;
    let rim_note = if given.is_empty() {
        "no RIMs given".to_owned()
    } else if matched.measurements_match {
        format!(
            "measurements match {} at {} indices",
            matched.rim_ids.join(" + "),
            matched.compared_indices.len()
        )
    } else {
        format!(
            "MEASUREMENTS DO NOT MATCH at RIM indices {:?}",
            matched.mismatched_indices
        )
    };
    valid(
        &NvidiaClaims {
            gpu: c,
            rims: &matched,
            revocation,
            revocation_status,
            revocation_checked: &checked,
        },
        &format!(
            "valid: {} GPU report, driver {}, VBIOS {}, at {}; {rim_note}; revocation \
             {revocation} ({revocation_status}, {} certificates checked)",
            c.hwmodel,
            c.driver_version.as_deref().unwrap_or("unknown"),
            c.vbios_version.as_deref().unwrap_or("unknown"),
            args.at,
            checked.len()
        ),
        args.json,
    )
}

fn ocsp_command(command: OcspCommand) -> anyhow::Result<()> {
    match command {
        OcspCommand::Import {
            paths,
            json,
            config,
        } => {
            let config = config.load()?;
            let now = SystemClock.now();
            // Check every file before storing any.
            let mut bodies = Vec::new();
            for path in &paths {
                for (source, body) in warden_verifier::revocation::read_responses(path)
                    .map_err(|e| anyhow::anyhow!(e))?
                {
                    if let Err(e) = warden_evidence::nvidia::ocsp::entries(&body) {
                        bail!("{source}: {e}; nothing imported");
                    }
                    bodies.push((source, body));
                }
            }
            let cache = open_ocsp(&config)?;
            let mut entries = Vec::new();
            for (source, body) in bodies {
                match cache.import(&source, &body, now)? {
                    Ok(entry) => entries.push(entry),
                    Err(e) => bail!("{source}: {e}"),
                }
            }
            if json {
                print_line(&serde_json::to_string_pretty(&entries)?);
            } else {
                for e in &entries {
                    print_line(&format!(
                        "{}: {} (serial {})",
                        e.source,
                        e.outcome.replace('_', " "),
                        e.serials.join(", ")
                    ));
                }
            }
            Ok(())
        }
        OcspCommand::List { json, config } => {
            let config = config.load()?;
            let rows = open_ocsp(&config)?.rows()?;
            let doc: Vec<_> = rows
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "serial": r.serial,
                        "issuer_key_hash": r.issuer_key_hash,
                        "this_update": r.this_update.to_string(),
                        "next_update": r.next_update.map(|t| t.to_string()),
                        "source": r.source,
                        "stored_at": r.stored_at.to_string(),
                    })
                })
                .collect();
            if json {
                print_line(&serde_json::to_string_pretty(&doc)?);
            } else if rows.is_empty() {
                print_line(
                    "no OCSP responses cached; import some with `warden-verifier ocsp import`",
                );
            } else {
                for r in &rows {
                    let next = r.next_update.map_or_else(
                        || "no nextUpdate".to_owned(),
                        |t| format!("next update {t}"),
                    );
                    print_line(&format!(
                        "serial {}: this update {}, {next} ({})",
                        r.serial, r.this_update, r.source
                    ));
                }
            }
            Ok(())
        }
    }
}

fn open_ocsp(config: &Config) -> anyhow::Result<warden_verifier::revocation::OcspCache> {
    let store = Arc::new(Store::open(&config.state_dir)?);
    Ok(warden_verifier::revocation::OcspCache::new(store))
}

fn rims_command(command: RimsCommand) -> anyhow::Result<()> {
    match command {
        RimsCommand::Import {
            paths,
            at,
            json,
            config,
        } => {
            let config = config.load()?;
            let now = SystemClock.now();
            let at = at.unwrap_or(now);
            let verifier = rims::pinned_verifier();
            let mut files = Vec::new();
            for path in &paths {
                files.extend(rims::read_path(path, &verifier, at)?);
            }
            let entries = open_rims(&config)?.import(files, now)?;
            if json {
                print_line(&serde_json::to_string_pretty(&entries)?);
            } else {
                for e in &entries {
                    let outcome = match e.outcome {
                        ImportOutcome::Added => "added",
                        ImportOutcome::Replaced => "replaced an older RIM",
                        ImportOutcome::KeptExisting => {
                            "kept the stored RIM, valid as long or longer"
                        }
                    };
                    print_line(&format!(
                        "{} ({} {}, valid until {}): {outcome} ({})",
                        e.id, e.kind, e.version, e.valid_until, e.source
                    ));
                }
            }
            Ok(())
        }
        RimsCommand::Fetch { .. } => bail!("rims fetch is handled by rims_fetch"),
        RimsCommand::List { json, config } => {
            let config = config.load()?;
            let rows = open_rims(&config)?.rows()?;
            let now = SystemClock.now();
            if json {
                let doc: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id,
                            "kind": r.kind,
                            "version": r.version,
                            "valid_until": r.valid_until.to_string(),
                            "expired": r.valid_until < now,
                            "source": r.source,
                            "stored_at": r.stored_at.to_string(),
                        })
                    })
                    .collect();
                print_line(&serde_json::to_string_pretty(&doc)?);
            } else if rows.is_empty() {
                print_line("no RIMs stored; import some with `warden-verifier rims import`");
            } else {
                for r in &rows {
                    let validity = if r.valid_until < now {
                        format!("signer EXPIRED at {}", r.valid_until)
                    } else {
                        format!("valid until {}", r.valid_until)
                    };
                    print_line(&format!(
                        "{} {} {}: {validity} ({})",
                        r.id, r.kind, r.version, r.source
                    ));
                }
            }
            Ok(())
        }
    }
}

/// `rims fetch`: 0 when every id was fetched and stored (or the stored RIM kept), 1 when any
/// failed, 2 for usage errors (no URL, bad URL or configuration, unreadable service key).
fn rims_fetch(
    ids: &[String],
    url: Option<&str>,
    at: Option<UnixTime>,
    json: bool,
    config: &ConfigArg,
) -> ExitCode {
    let usage = |msg: &dyn std::fmt::Display| {
        eprintln!("error: {msg}");
        ExitCode::from(USAGE)
    };
    let config = match config.load() {
        Ok(c) => c,
        Err(e) => return usage(&format_args!("{e:#}")),
    };
    let fetch = match (url, &config.rim_fetch) {
        (Some(url), configured) => match RimFetchConfig::new(url) {
            Ok(mut fetch) => {
                if let Some(configured) = configured {
                    fetch.timeout = configured.timeout;
                    fetch.service_key_file = configured.service_key_file.clone();
                }
                fetch
            }
            Err(e) => return usage(&format_args!("--url {e}")),
        },
        (None, Some(configured)) => configured.clone(),
        (None, None) => {
            return usage(&format_args!(
                "no RIM service: set [gpu_rims] fetch_url in the configuration or pass --url \
                 (NVIDIA's is {})",
                warden_verifier::config::DEFAULT_RIM_FETCH_URL
            ));
        }
    };
    let client = match RimClient::new(&fetch) {
        Ok(c) => c,
        Err(e) => return usage(&e),
    };
    let store = match open_rims(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let verifier = rims::pinned_verifier();
    let now = SystemClock.now();
    let at = at.unwrap_or(now);
    let mut failed = 0_usize;
    let mut doc = Vec::with_capacity(ids.len());
    for id in ids {
        match rim_fetch::fetch_into_at(&client, &store, &[&verifier], id, at, now) {
            Ok((e, _)) => {
                if json {
                    doc.push(serde_json::to_value(&e).unwrap_or_default());
                } else {
                    let outcome = match e.outcome {
                        ImportOutcome::Added => "added",
                        ImportOutcome::Replaced => "replaced an older RIM",
                        ImportOutcome::KeptExisting => {
                            "kept the stored RIM, valid as long or longer"
                        }
                    };
                    print_line(&format!(
                        "{} ({} {}, valid until {}): {outcome} ({})",
                        e.id, e.kind, e.version, e.valid_until, e.source
                    ));
                }
            }
            Err(e) => {
                failed += 1;
                if json {
                    doc.push(serde_json::json!({
                        "id": id,
                        "outcome": "failed",
                        "error": e.to_string(),
                    }));
                } else {
                    print_line(&format!("FAILED: {e}"));
                }
            }
        }
    }
    if json {
        match serde_json::to_string_pretty(&doc) {
            Ok(text) => print_line(&text),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: {failed} of {} RIMs not fetched", ids.len());
        ExitCode::FAILURE
    }
}

fn open_rims(config: &Config) -> anyhow::Result<RimStore> {
    let store = Arc::new(Store::open(&config.state_dir)?);
    Ok(RimStore::new(store))
}

fn open_collateral(config: &Config) -> anyhow::Result<CollateralCache> {
    let store = Arc::new(Store::open(&config.state_dir)?);
    Ok(CollateralCache::open(store)?)
}

/// Writes one line to stdout. A closed pipe (`| head`) is not worth a panic or a changed exit
/// status: the verdict is the exit status.
fn print_line(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// `key.sub: value` lines from a JSON document, for the human-readable output.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                let path = if prefix.ends_with(' ') {
                    format!("{prefix}{key}")
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&path, value, out);
            }
        }
        serde_json::Value::String(s) => out.push(format!("{prefix}: {s}")),
        other => out.push(format!("{prefix}: {other}")),
    }
}
