//! `warden-agent`: the agent command.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use tracing_subscriber::EnvFilter;
use warden_agent::client;
use warden_agent::collect::nvidia::{GpuSource, MAX_GPUS};
use warden_agent::collect::sim::{SimulatedGpus, SimulatedSnp, SimulatedTdx};
use warden_agent::collect::{self, CpuSource, Interfaces, Tee};
use warden_agent::model;
use warden_agent::{BindingInputs, parse_hex32};
use warden_evidence::sim::tdx::QuoteVersion;
use warden_evidence::snp::Product;
use warden_proto::binding::{self, GpuDigest, ModelDigest, Nonce, TeePublicKey};
use warden_proto::seal::TeeKeyPair;

/// Warden agent: binds confidential-VM evidence to a verifier nonce, a TEE key and a model.
#[derive(Debug, Parser)]
#[command(name = "warden-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Attest to the verifier and fetch keys: Challenge, collect evidence bound to the nonce, a
    /// fresh TEE key and the model, Attest, open the released keys.
    Attest {
        /// The verifier, for example http://127.0.0.1:50051.
        #[arg(long, value_name = "URL")]
        verifier: String,
        /// Key id to ask for; repeat for several.
        #[arg(long = "key", value_name = "ID", required = true)]
        keys: Vec<String>,
        /// Write the released key here (mode 0600). With several keys, a directory that
        /// receives one file per key id.
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        #[command(flatten)]
        source: SourceArgs,
        /// The model this CVM will serve: a directory (or a single file), hashed into the
        /// manifest bound into the evidence.
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
        /// The model's OpenSSF Model Signing bundle (model-signing's `model.sig`), sent with
        /// the evidence for the verifier to check against the signers the key's policy pins.
        /// The model is then hashed as the signature says (method, hash, the signer's ignore
        /// paths; the bundle itself is left out when it lies inside --model), and must equal
        /// the signed manifest before a nonce is spent.
        #[arg(long, value_name = "FILE")]
        model_signature: Option<PathBuf>,
    },
    /// Print an evidence bundle for a nonce (JSON, byte strings in hex), for debugging. The TEE
    /// key pair is generated and thrown away.
    Evidence {
        /// The nonce, 32 bytes hex.
        #[arg(long, value_parser = hex32)]
        nonce: [u8; 32],
        #[command(flatten)]
        source: SourceArgs,
        /// The model directory.
        #[arg(long, value_name = "DIR")]
        model: PathBuf,
    },
    /// Compute the binding values of the warden.v1 protocol (docs/protocol.md).
    Binding {
        #[command(subcommand)]
        command: BindingCommand,
    },
    /// Model identity: OpenSSF Model Signing (model-signing 1.1.1) compatible hashing.
    Model {
        #[command(subcommand)]
        command: ModelCommand,
    },
}

#[derive(Debug, Subcommand)]
enum ModelCommand {
    /// Hash a model directory (or a single file) as model-signing 1.1.1 does: one line per
    /// resource (`DIGEST  NAME`, in OMS order), then the OMS subject digest and the manifest
    /// digest M bound into the evidence.
    Hash(ModelHashArgs),
    /// Open an age-encrypted model: attest with the manifest its OMS signature bundle signs
    /// (sent along for the verifier to check), receive the age identity of --key, and decrypt
    /// every `NAME.age` file of --in to --out/NAME (other files are copied) in one streaming
    /// pass that hashes the plaintext. The result is kept only if the plaintext manifest equals
    /// the attested one; on any failure, or SIGINT/SIGTERM, everything written is removed.
    Open(ModelOpenArgs),
}

/// `model open`.
#[derive(Debug, Args)]
struct ModelOpenArgs {
    /// The verifier, for example http://127.0.0.1:50051.
    #[arg(long, value_name = "URL")]
    verifier: String,
    /// The key id whose material is the model's age identity.
    #[arg(long = "key", value_name = "ID")]
    key: String,
    /// The encrypted model: a directory of `.age` files (and plaintext files), or one `.age`
    /// file.
    #[arg(long = "in", value_name = "DIR")]
    input: PathBuf,
    /// Where the plaintext goes (for example a tmpfs): an empty or new directory.
    #[arg(long = "out", value_name = "DIR")]
    output: PathBuf,
    /// The OMS signature bundle over the plaintext [default: --in/model.sig].
    #[arg(long, value_name = "FILE")]
    signature: Option<PathBuf>,
    /// Files decrypted in parallel [default: all cores].
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    #[command(flatten)]
    source: SourceArgs,
}

/// `model hash`.
#[derive(Debug, Args)]
struct ModelHashArgs {
    /// The model directory, or a single model file.
    #[arg(value_name = "DIR")]
    path: PathBuf,
    /// `files`: one resource per file; `shards`: one per --shard-size bytes of each file.
    #[arg(long, value_enum, default_value = "files")]
    method: MethodArg,
    /// The resource digest algorithm (`blake2` is model-signing's name for blake2b; blake3
    /// only with --method files).
    #[arg(long = "hash", value_enum, default_value = "sha256")]
    hash: HashArg,
    /// Shard size in bytes, with --method shards [default: 1000000000].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    shard_size: Option<u64>,
    /// A path to leave out, relative to the model root, with everything below it; repeat for
    /// several.
    #[arg(long = "ignore", value_name = "PATH")]
    ignore: Vec<String>,
    /// Hash `.git`, `.gitattributes`, `.github` and `.gitignore` at the root too.
    #[arg(long)]
    no_ignore_git: bool,
    /// Hash symbolic links to files with their target's content (links to directories stay
    /// an error).
    #[arg(long)]
    allow_symlinks: bool,
    /// Hashing threads [default: all cores].
    #[arg(long, value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Print `{manifest_digest, subject_digest, statement}` as JSON, the statement being the
    /// in-toto Statement model-signing would sign.
    #[arg(long)]
    json: bool,
}

/// `--method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum MethodArg {
    Files,
    Shards,
}

/// `--hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum HashArg {
    Sha256,
    #[value(alias = "blake2")]
    Blake2b,
    Blake3,
}

#[derive(Debug, Subcommand)]
enum BindingCommand {
    /// REPORT_DATA = SHA-512(JCS{v, nonce, tee_pubkey, model, gpus}), printed as hex.
    ReportData {
        /// The verifier nonce N, 32 bytes hex.
        #[arg(long, value_parser = hex32)]
        nonce: [u8; 32],
        /// The agent's X25519 public key, 32 bytes hex.
        #[arg(long, value_parser = hex32)]
        tee_pubkey: [u8; 32],
        /// The model manifest digest M, 32 bytes hex.
        #[arg(long, value_parser = hex32)]
        model_digest: [u8; 32],
        /// A GPU digest D_i, 32 bytes hex; repeat in evidence order.
        #[arg(long, value_parser = hex32)]
        gpu_digest: Vec<[u8; 32]>,
    },
    /// The GPU nonce SHA-256("warden/v1/gpu-nonce" || N || pk), printed as hex.
    GpuNonce {
        /// The verifier nonce N, 32 bytes hex.
        #[arg(long, value_parser = hex32)]
        nonce: [u8; 32],
        /// The agent's X25519 public key, 32 bytes hex.
        #[arg(long, value_parser = hex32)]
        tee_pubkey: [u8; 32],
    },
}

/// Where the CPU evidence comes from.
#[derive(Debug, Args)]
struct SourceArgs {
    /// The CPU TEE to collect evidence from: `snp` (AMD SEV-SNP) or `tdx` (Intel TDX).
    ///
    /// Without it the agent finds out: through configfs-tsm the kernel's provider says which
    /// TEE this guest is (`sev_guest` or `tdx_guest`); without configfs-tsm, --sev-guest means
    /// SEV-SNP, and --tdx-guest alone means a TDX guest whose kernel is too old to produce
    /// quotes (Linux 6.7 or later with configfs-tsm is needed), which is an error. Naming the
    /// TEE makes a guest of the other kind an error instead. With --simulate it picks the
    /// simulated TEE (default: snp).
    #[arg(long, value_enum, value_name = "TEE")]
    tee: Option<TeeArg>,
    /// Produce simulated evidence instead of asking the hardware, for testing without a TEE;
    /// never a fallback.
    ///
    /// SEV-SNP (the default, or --tee snp): reports signed by a generated ARK/ASK/VCEK
    /// hierarchy kept in --state-dir; a verifier accepts them only if its configuration names
    /// `<state-dir>/sim/<product>/cert_chain.pem` under `insecure_test_roots`.
    ///
    /// TDX (--tee tdx): byte-exact v4 (or v5) quotes signed through a generated Intel-like
    /// DCAP hierarchy (root CA, PCK CA, PCK, quoting enclave) kept in `<state-dir>/sim/tdx/`,
    /// with matching signed collateral (TCB info, QE identity, CRLs) in
    /// `<state-dir>/sim/tdx/collateral/`, refreshed when it is missing or expires within a
    /// day. A verifier accepts the quotes only if it trusts `<state-dir>/sim/tdx/root_ca.pem`
    /// as an insecure test root and has imported the collateral with
    /// `warden-verifier collateral import <state-dir>/sim/tdx/collateral`.
    ///
    /// GPUs are simulated only when --gpus N says so.
    #[arg(long)]
    simulate: bool,
    /// Which NVIDIA GPUs to attest: `none`, `nvml`, or a number 1 to 8 with --simulate.
    ///
    /// The choice is explicit; the agent never guesses that a node has no GPUs and never falls
    /// back from one source to another.
    ///
    /// `none` (the default): this node has no GPUs to attest; the evidence carries no GPU and
    /// REPORT_DATA binds an empty GPU list, so a verifier whose policy expects GPUs refuses it.
    ///
    /// `nvml`: every GPU NVML lists, through the NVIDIA driver's libnvidia-ml.so.1 (loaded at
    /// run time). Each must be in confidential-computing mode (not DevTools mode); each
    /// attestation report carries the GPU nonce SHA-256("warden/v1/gpu-nonce" || N || pk), and
    /// the GPU digests go into the CPU REPORT_DATA. Without the driver, with no GPU listed, or
    /// with CC off, the agent stops with an error naming the cause (and the GPU index).
    ///
    /// `N` (with --simulate): N simulated Hopper GPUs, byte-exact SPDM 1.1 evidence signed
    /// through a generated device hierarchy kept in `<state-dir>/sim/nvidia/`; a verifier
    /// accepts it only if it trusts `<state-dir>/sim/nvidia/device_root.pem` as an insecure
    /// test root.
    #[arg(long, value_name = "none|nvml|N", default_value = "none", value_parser = gpus_arg)]
    gpus: GpusArg,
    /// The simulated SEV-SNP product [default: milan].
    #[arg(long, value_enum, value_name = "PRODUCT", requires = "simulate")]
    sim_product: Option<SimProduct>,
    /// The simulated TDX quote format [default: 4]. `4`: quote v4 with a TD 1.0 report body;
    /// `5`: quote v5 with a TD 1.5 report body (TEE_TCB_SVN2, MRSERVICETD); `5-td10`: quote
    /// v5 with a TD 1.0 report body.
    #[arg(long, value_enum, value_name = "VERSION", requires = "simulate")]
    sim_quote_version: Option<SimQuoteVersion>,
    /// The agent's state directory (simulated hierarchies live in `<dir>/sim/`).
    #[arg(long, value_name = "DIR", default_value = "/var/lib/warden-agent")]
    state_dir: PathBuf,
    /// configfs-tsm report directory (Linux 6.7+; SEV-SNP and TDX).
    #[arg(
        long,
        value_name = "DIR",
        default_value = "/sys/kernel/config/tsm/report"
    )]
    configfs_tsm: PathBuf,
    /// SEV guest device, used for SEV-SNP when configfs-tsm is absent.
    #[arg(long, value_name = "PATH", default_value = "/dev/sev-guest")]
    sev_guest: PathBuf,
    /// TDX guest device. Only its presence is looked at: without configfs-tsm it explains
    /// that this TDX guest's kernel cannot produce quotes.
    #[arg(long, value_name = "PATH", default_value = "/dev/tdx_guest")]
    tdx_guest: PathBuf,
    /// How long to wait, in seconds, for the kernel to produce a report or quote through
    /// configfs-tsm.
    ///
    /// On TDX the kernel asks the host's quote generation service (QGS), which can be slow or
    /// hang. When the deadline passes the agent gives up with an error and removes its
    /// configfs-tsm entry if the kernel allows; the kernel request itself may still complete
    /// in the background. Not used with --simulate.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3600)
    )]
    quote_timeout: u64,
}

/// `--gpus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GpusArg {
    None,
    Nvml,
    Simulated(usize),
}

fn gpus_arg(s: &str) -> Result<GpusArg, String> {
    match s {
        "none" => Ok(GpusArg::None),
        "nvml" => Ok(GpusArg::Nvml),
        _ => match s.parse::<usize>() {
            Ok(0) => Err("0 simulated GPUs: say `none` for a node without GPUs".to_owned()),
            Ok(n) if n <= MAX_GPUS => Ok(GpusArg::Simulated(n)),
            Ok(n) => Err(format!("{n} GPUs: at most {MAX_GPUS} can be attested")),
            Err(_) => Err(format!(
                "expected `none`, `nvml` or a number of simulated GPUs (1 to {MAX_GPUS})"
            )),
        },
    }
}

/// `--tee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TeeArg {
    /// AMD SEV-SNP.
    Snp,
    /// Intel TDX.
    Tdx,
}

impl From<TeeArg> for Tee {
    fn from(tee: TeeArg) -> Self {
        match tee {
            TeeArg::Snp => Tee::SevSnp,
            TeeArg::Tdx => Tee::Tdx,
        }
    }
}

/// `--sim-product`.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum SimProduct {
    Milan,
    Genoa,
    Turin,
}

/// `--sim-quote-version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SimQuoteVersion {
    /// Quote v4, TD 1.0 report body.
    #[value(name = "4")]
    V4,
    /// Quote v5, TD 1.5 report body.
    #[value(name = "5")]
    V5,
    /// Quote v5, TD 1.0 report body.
    #[value(name = "5-td10")]
    V5Td10,
}

impl SourceArgs {
    fn open_gpus(&self) -> Result<GpuSource> {
        let source = match (self.gpus, self.simulate) {
            (GpusArg::None, _) => GpuSource::None,
            (GpusArg::Nvml, false) => GpuSource::nvml()?,
            (GpusArg::Nvml, true) => bail!(
                "--gpus nvml collects from real GPUs; it does not go with --simulate (use \
                 --gpus N for simulated GPUs)"
            ),
            (GpusArg::Simulated(_), false) => bail!(
                "--gpus N simulates N GPUs and needs --simulate; on a node with NVIDIA GPUs use \
                 --gpus nvml"
            ),
            (GpusArg::Simulated(count), true) => {
                let sim = SimulatedGpus::open_or_create(&self.state_dir, count)?;
                eprintln!(
                    "warning: {count} simulated NVIDIA GPU(s); not real GPUs\n  test device \
                     root: {} (trust it in the verifier as an insecure test root)",
                    sim.device_root_path().unwrap_or_default().display()
                );
                GpuSource::Simulated(Box::new(sim))
            }
        };
        tracing::debug!(%source, "GPU evidence source");
        Ok(source)
    }

    fn open(&self) -> Result<CpuSource> {
        let tee = self.tee.map(Tee::from);
        if !self.simulate {
            let interfaces = Interfaces {
                configfs_tsm: self.configfs_tsm.clone(),
                sev_guest: self.sev_guest.clone(),
                tdx_guest: self.tdx_guest.clone(),
                timeout: Duration::from_secs(self.quote_timeout),
            };
            let source = collect::detect(&interfaces, tee)?;
            tracing::debug!(%source, "evidence source");
            return Ok(source);
        }
        match self.tee {
            Some(TeeArg::Tdx) => {
                if self.sim_product.is_some() {
                    bail!("--sim-product names an SEV-SNP product; it does not go with --tee tdx");
                }
                let version = match self.sim_quote_version.unwrap_or(SimQuoteVersion::V4) {
                    SimQuoteVersion::V4 => QuoteVersion::V4,
                    SimQuoteVersion::V5 => QuoteVersion::V5Td15,
                    SimQuoteVersion::V5Td10 => QuoteVersion::V5Td10,
                };
                let sim =
                    SimulatedTdx::open_or_create(&self.state_dir)?.with_quote_version(version);
                let root = sim.root_ca_path().unwrap_or_default();
                let collateral = sim.collateral_dir().unwrap_or_default();
                let until = sim
                    .collateral_next_update()
                    .map_or_else(String::new, |t| format!(", valid until {t}"));
                eprintln!(
                    "warning: simulated TDX evidence (test hierarchy in {}); not a real TEE\n  \
                     test root CA: {} (trust it in the verifier as an insecure test root)\n  \
                     collateral:   {}{until} (load it with `warden-verifier collateral import \
                     {}`)",
                    root.parent().unwrap_or(&root).display(),
                    root.display(),
                    collateral.display(),
                    collateral.display(),
                );
                Ok(CpuSource::SimulatedTdx(Box::new(sim)))
            }
            Some(TeeArg::Snp) | None => {
                if self.sim_quote_version.is_some() {
                    bail!("--sim-quote-version is for simulated TDX; add --tee tdx");
                }
                let product = match self.sim_product.unwrap_or(SimProduct::Milan) {
                    SimProduct::Milan => Product::Milan,
                    SimProduct::Genoa => Product::Genoa,
                    SimProduct::Turin => Product::Turin,
                };
                let sim = SimulatedSnp::open_or_create(&self.state_dir, product)?;
                eprintln!(
                    "warning: simulated SEV-SNP evidence (test hierarchy {}); not a real TEE",
                    sim.cert_chain_path().unwrap_or_default().display()
                );
                Ok(CpuSource::Simulated(Box::new(sim)))
            }
        }
    }
}

fn hex32(s: &str) -> Result<[u8; 32], String> {
    parse_hex32(s).map_err(|e| e.to_string())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // Warnings only by default (for example a configfs-tsm entry that could not be removed);
    // RUST_LOG=debug shows which evidence source was picked.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Attest {
            verifier,
            keys,
            out,
            source,
            model,
            model_signature,
        } => attest(
            &verifier,
            &keys,
            out.as_deref(),
            &source,
            &model,
            model_signature.as_deref(),
        )?,
        Command::Evidence {
            nonce,
            source,
            model,
        } => {
            let gpus = source.open_gpus()?;
            let source = source.open()?;
            let manifest = hash_served_model(&model)?;
            let pair = TeeKeyPair::generate();
            let bundle = client::evidence_bundle_with_gpus(
                &source,
                &gpus,
                &Nonce::from_bytes(nonce),
                &pair,
                &manifest,
            )?;
            println!("{}", serde_json::to_string_pretty(&bundle_json(&bundle))?);
        }
        Command::Model {
            command: ModelCommand::Hash(args),
        } => model_hash(&args)?,
        Command::Model {
            command: ModelCommand::Open(args),
        } => model_open(&args)?,
        Command::Binding { command } => match command {
            BindingCommand::ReportData {
                nonce,
                tee_pubkey,
                model_digest,
                gpu_digest,
            } => {
                let inputs = BindingInputs {
                    nonce: Nonce::from_bytes(nonce),
                    tee_pubkey: TeePublicKey::from_bytes(tee_pubkey),
                    model: ModelDigest::from_bytes(model_digest),
                    gpus: gpu_digest.into_iter().map(GpuDigest::from_bytes).collect(),
                };
                println!("{}", hex::encode(inputs.report_data()));
            }
            BindingCommand::GpuNonce { nonce, tee_pubkey } => {
                let g = binding::gpu_nonce(
                    &Nonce::from_bytes(nonce),
                    &TeePublicKey::from_bytes(tee_pubkey),
                );
                println!("{}", g.to_hex());
            }
        },
    }
    Ok(())
}

fn attest(
    url: &str,
    keys: &[String],
    out: Option<&Path>,
    source: &SourceArgs,
    model_dir: &Path,
    model_signature: Option<&Path>,
) -> Result<()> {
    // Fail before a nonce is spent; `write_secret` still refuses a file created meanwhile.
    if let Some(path) = out.filter(|_| keys.len() == 1)
        && path.exists()
    {
        bail!(
            "{} already exists; refusing to overwrite a key file",
            path.display()
        );
    }
    let gpus = source.open_gpus()?;
    let source = source.open()?;
    let (manifest, signature) = match model_signature {
        None => (hash_served_model(model_dir)?, None),
        Some(path) => {
            let signed = SignedModel::read(path)?;
            let options = warden_model::signed::options_for_signed(
                &signed.statement.manifest,
                &signed.statement.ignore_paths,
                signed.statement.allow_symlinks,
            );
            let hashed = model::hash_model(model_dir, &options, &model::TerminalProgress::stderr())
                .with_context(|| format!("cannot hash the model {}", model_dir.display()))?;
            warden_evidence::model::compare_manifest(&signed.statement.manifest, &hashed.manifest)
                .with_context(|| {
                    format!(
                        "{} does not match its signature {}",
                        model_dir.display(),
                        path.display()
                    )
                })?;
            (hashed.manifest, Some(signed.bytes))
        }
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let released = runtime.block_on(async {
        let mut verifier = client::connect(url).await?;
        client::attest_signed_model(
            &mut verifier,
            &source,
            &gpus,
            &manifest,
            signature.as_deref(),
            keys,
        )
        .await
    })?;
    println!("correlation id {}", released.correlation_id);
    for key in &released.keys {
        println!("released key {} ({} bytes)", key.key_id, key.material.len());
    }
    let denied: Vec<&String> = keys
        .iter()
        .filter(|k| !released.keys.iter().any(|r| &&r.key_id == k))
        .collect();
    for key in &denied {
        println!("denied key {key} (reasons in the verifier's log under the correlation id)");
    }
    match (out, released.keys.as_slice()) {
        (None, _) => {
            eprintln!("no --out given: released keys were not written anywhere");
        }
        (Some(path), [key]) if keys.len() == 1 => write_secret(path, &key.material)?,
        (Some(dir), released_keys) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for key in released_keys {
                write_secret(&dir.join(&key.key_id), &key.material)?;
            }
        }
    }
    if !denied.is_empty() {
        bail!("{} of {} keys denied", denied.len(), keys.len());
    }
    Ok(())
}

/// A model's OMS signature bundle as read from its file, with the statement it carries (not
/// verified here: the verifier verifies it; the agent only needs to know what was signed).
struct SignedModel {
    bytes: Vec<u8>,
    statement: warden_evidence::model::Statement,
}

impl SignedModel {
    fn read(path: &Path) -> Result<Self> {
        let limit = warden_evidence::model::MAX_BUNDLE_LEN;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| {
                std::io::Read::read_to_end(
                    &mut std::io::Read::take(f, limit as u64 + 1),
                    &mut bytes,
                )
            })
            .with_context(|| format!("cannot read the model signature {}", path.display()))?;
        if bytes.len() > limit {
            bail!(
                "{} is larger than {limit} bytes: not a model signature bundle",
                path.display()
            );
        }
        let statement = warden_evidence::model::SignatureBundle::parse(&bytes)
            .and_then(|bundle| bundle.statement())
            .with_context(|| format!("{} is not a usable OMS signature bundle", path.display()))?;
        Ok(Self { bytes, statement })
    }
}

fn model_open(args: &ModelOpenArgs) -> Result<()> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    let signature_path = match &args.signature {
        Some(path) => path.clone(),
        None if args.input.is_dir() => args.input.join(warden_agent::open::DEFAULT_SIGNATURE_NAME),
        None => bail!(
            "{} is a single file: name its signature bundle with --signature",
            args.input.display()
        ),
    };
    let signed = SignedModel::read(&signature_path)?;
    let expected = &signed.statement.manifest;
    println!(
        "signed manifest: {} resources ({} {}), M = {}",
        expected.resources().len(),
        expected.serialization().method(),
        expected.hash_algorithm(),
        expected.digest().to_hex()
    );
    let gpus = args.source.open_gpus()?;
    let source = args.source.open()?;
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    // SIGINT/SIGTERM stop the decryption between chunks; open_model then removes what it
    // wrote. The handlers are installed now, before anything is attested or written, so that
    // no signal finds the default action (which would leave the staging directory behind).
    let cancel = Arc::new(AtomicBool::new(false));
    {
        use tokio::signal::unix::{SignalKind, signal};
        let _entered = runtime.enter();
        let mut term = signal(SignalKind::terminate()).context("installing a SIGTERM handler")?;
        let mut int = signal(SignalKind::interrupt()).context("installing a SIGINT handler")?;
        let flag = Arc::clone(&cancel);
        runtime.spawn(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            flag.store(true, Ordering::SeqCst);
        });
    }
    let keys = [args.key.clone()];
    let released = runtime.block_on(async {
        let mut verifier = client::connect(&args.verifier).await?;
        client::attest_signed_model(
            &mut verifier,
            &source,
            &gpus,
            expected,
            Some(&signed.bytes),
            &keys,
        )
        .await
    })?;
    println!("correlation id {}", released.correlation_id);
    let Some(key) = released.keys.iter().find(|k| k.key_id == args.key) else {
        bail!(
            "key {} denied (reasons in the verifier's log under correlation id {})",
            args.key,
            released.correlation_id
        );
    };
    let identity = warden_agent::open::parse_identity(&key.material).with_context(|| {
        format!(
            "key {} is not an age identity (add it with `warden-verifier keys add {} --generate \
             --age`)",
            args.key, args.key
        )
    })?;

    let options = warden_agent::open::OpenOptions {
        // The bundle is skipped when it lies at the root of --in (where model-signing puts it).
        signature_name: warden_model::signed::relative_inside(&args.input, &signature_path)
            .filter(|name| !name.contains('/')),
        threads: args.threads,
        cancel: Some(cancel),
    };
    let opened =
        warden_agent::open::open_model(&identity, &args.input, &args.output, expected, &options)
            .with_context(|| {
                format!(
                    "cannot open {} into {} (nothing was left behind)",
                    args.input.display(),
                    args.output.display()
                )
            })?;
    println!(
        "opened {} files ({} bytes) into {}; plaintext manifest M = {} equals the attested one",
        opened.files,
        opened.bytes,
        args.output.display(),
        opened.manifest.digest().to_hex()
    );
    Ok(())
}

/// The manifest of the model this CVM serves (default options), with a progress bar on a
/// terminal.
fn hash_served_model(path: &Path) -> Result<binding::ModelManifest> {
    let hashed = model::hash_model(
        path,
        &model::HashOptions::default(),
        &model::TerminalProgress::stderr(),
    )
    .with_context(|| format!("cannot hash the model {}", path.display()))?;
    Ok(hashed.manifest)
}

fn model_hash(args: &ModelHashArgs) -> Result<()> {
    let serialization = match (args.method, args.shard_size) {
        (MethodArg::Files, None) => binding::Serialization::Files,
        (MethodArg::Files, Some(_)) => bail!("--shard-size goes with --method shards"),
        (MethodArg::Shards, size) => binding::Serialization::Shards {
            shard_size: std::num::NonZeroU64::new(
                size.unwrap_or(warden_model::hash::DEFAULT_SHARD_SIZE),
            )
            .context("--shard-size must be at least 1")?,
        },
    };
    let algorithm = match args.hash {
        HashArg::Sha256 => binding::HashAlgorithm::Sha256,
        HashArg::Blake2b => binding::HashAlgorithm::Blake2b,
        HashArg::Blake3 => binding::HashAlgorithm::Blake3,
    };
    let opts = model::HashOptions {
        serialization,
        algorithm,
        ignore_paths: args.ignore.clone(),
        ignore_git_paths: !args.no_ignore_git,
        allow_symlinks: args.allow_symlinks,
        threads: args.threads,
    };
    let hashed = model::hash_model(&args.path, &opts, &model::TerminalProgress::stderr())
        .with_context(|| format!("cannot hash the model {}", args.path.display()))?;
    let manifest = &hashed.manifest;
    let subject = hex::encode(manifest.subject_digest());
    if args.json {
        let out = serde_json::json!({
            "manifest_digest": manifest.digest().to_hex(),
            "subject_digest": subject,
            "statement": warden_model::oms::statement(
                manifest,
                &hashed.subject_name,
                args.allow_symlinks,
            ),
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let mut stdout = std::io::stdout().lock();
        for resource in manifest.oms_resources() {
            writeln!(
                stdout,
                "{}  {}",
                hex::encode(resource.digest()),
                resource.name()
            )?;
        }
        writeln!(stdout, "subject sha256 {subject} {}", hashed.subject_name)?;
        writeln!(
            stdout,
            "manifest digest M {} ({} files, {} bytes)",
            manifest.digest().to_hex(),
            hashed.files,
            hashed.bytes
        )?;
    }
    Ok(())
}

/// Writes `bytes` to a new file `path` with mode 0600, replacing nothing silently: an existing
/// file is an error.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {} (mode 0600)", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))?;
    println!("wrote {} (mode 0600)", path.display());
    Ok(())
}

fn bundle_json(bundle: &warden_proto::v1::EvidenceBundle) -> serde_json::Value {
    let cpu = bundle.cpu.as_ref();
    serde_json::json!({
        "nonce": hex::encode(&bundle.nonce),
        "tee_pubkey": hex::encode(&bundle.tee_pubkey),
        "cpu": cpu.map(|c| serde_json::json!({
            "tee": c.tee().as_str_name(),
            "report": hex::encode(&c.report),
            "certificates": hex::encode(&c.certificates),
        })),
        "gpus": bundle.gpus.len(),
        "gpu_evidence": bundle.gpus.iter().map(|g| serde_json::json!({
            "arch": g.arch,
            "report": hex::encode(&g.report),
            "certificate_chain": hex::encode(&g.certificate_chain),
            "digest": binding::gpu_digest(&g.report, &g.certificate_chain).to_hex(),
        })).collect::<Vec<_>>(),
        "model": bundle.model.as_ref().map(|m| serde_json::json!({
            "serialization": m.serialization,
            "hash_algorithm": m.hash_algorithm,
            "resources": m.resources.iter().map(|r| serde_json::json!({
                "name": r.name,
                "digest": hex::encode(&r.digest),
            })).collect::<Vec<_>>(),
        })),
    })
}
