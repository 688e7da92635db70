//! `warden-verifier demo` (part of the binary, feature `demo`): the whole flow in one process
//! over real gRPC on loopback, with embedded defaults.
//!
//! 1. A model owner hashes a small model (OpenSSF Model Signing manifest), signs it (key
//!    method, as `model_signing sign key` does), and the operator generates an age identity
//!    to which the owner encrypts every file (as `age -r` does).
//! 2. A verifier starts on 127.0.0.1 with a fresh state directory, the built-in policies and
//!    the simulated agent's test hierarchy as `insecure_test_roots` (SEV-SNP) or
//!    `insecure_tdx_test_roots` plus its imported DCAP collateral (TDX); the key is added under
//!    the `dev` policy, a second key under the strict `default` policy.
//! 3. A simulated SEV-SNP or TDX agent attests with the signed manifest and its signature (the
//!    `dev` policy's data pins the owner's key), receives the age identity sealed to its TEE
//!    key, and decrypts the model into place in one pass that hashes the plaintext, keeping it
//!    only because it equals the attested manifest; a swapped ciphertext is refused and
//!    nothing is left.
//! 4. The same agent asks for the second key: the strict policy denies it, and the reasons are
//!    shown as the operator sees them (the agent sees only a coarse status).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail, ensure};
use ring::rand::{SecureRandom, SystemRandom};
use warden_agent::client;
use warden_agent::collect::CpuSource;
use warden_agent::collect::nvidia::GpuSource;
use warden_agent::collect::sim::nvidia::SimulatedGpus;
use warden_agent::collect::sim::{SimulatedSnp, SimulatedTdx};
use warden_agent::open::{OpenOptions, open_model};
use warden_evidence::model::{Curve, SignatureBundle};
use warden_evidence::nvidia::rim::RimVerifier;
use warden_evidence::sim::model::{ModelSigningKey, sign_key_bundle};
use warden_evidence::sim::nvidia::{GpuProfile, RimHierarchy};
use warden_evidence::snp::Product;
use warden_verifier::collateral;
use warden_verifier::config::{Config, TestRoot};
use warden_verifier::keys::{KeyId, KeyMaterial};
use warden_verifier::rims::{RimFile, RimStore};
use warden_verifier::service::{self, DecisionRecord, Limits, VerifierState};

const ALLOWED_KEY: &str = "demo-model";
const DENIED_KEY: &str = "demo-model-strict";

/// Which simulated TEE the demo's confidential VM uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DemoTee {
    /// AMD SEV-SNP.
    Snp,
    /// Intel TDX.
    Tdx,
}

/// Runs the demo; state goes to `dir` or a temporary directory removed afterwards.
pub(crate) fn run(dir: Option<PathBuf>, tee: DemoTee, gpus: usize) -> anyhow::Result<()> {
    let temp;
    let root = match dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir
        }
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().to_owned()
        }
    };
    // Warnings only (the insecure_test_roots warning, denied keys): the demo narrates the rest.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(demo(&root, tee, gpus))
}

fn step(text: &str) {
    println!("\n== {text}");
}

async fn demo(root: &Path, tee: DemoTee, gpus: usize) -> anyhow::Result<()> {
    let (tee_name, sub) = match tee {
        DemoTee::Snp => ("SEV-SNP", "snp"),
        DemoTee::Tdx => ("TDX", "tdx"),
    };
    // One subdirectory per TEE, so that both runs of scripts/demo.sh can share --dir; a second
    // run into the same one would find its keys already there.
    let root = &root.join(sub);
    if root.exists() {
        bail!(
            "{} already holds a demo run; give another --dir or remove it",
            root.display()
        );
    }
    let gpu_note = if gpus == 0 {
        String::new()
    } else {
        format!(" with {gpus} GPU(s)")
    };
    println!(
        "Warden demo ({tee_name}{gpu_note}): state in {}",
        root.display()
    );

    step("1. The model owner signs a model; the operator's age identity encrypts it");
    let plain = root.join("owner/model");
    write_demo_model(&plain)?;
    let hashed = warden_model::hash_model(
        &plain,
        &warden_model::HashOptions::default(),
        &warden_model::NoProgress,
    )?;
    let mut seed = [0u8; 8];
    SystemRandom::new()
        .fill(&mut seed)
        .map_err(|_| anyhow::anyhow!("CSPRNG failed"))?;
    let owner = ModelSigningKey::from_seed(Curve::P256, u64::from_le_bytes(seed));
    let statement = warden_model::oms::statement(&hashed.manifest, &hashed.subject_name, false);
    let signature = sign_key_bundle(&serde_json::to_vec(&statement)?, &owner);
    println!(
        "   {} files hashed (OMS files/sha256), subject {}; manifest digest M = {}",
        hashed.manifest.resources().len(),
        hex::encode(hashed.manifest.subject_digest()),
        hashed.manifest.digest().to_hex()
    );
    println!(
        "   signed with the owner's P-256 key {} (Sigstore bundle v0.3, DSSE, in-toto)",
        owner.hint()
    );
    let model_key = KeyMaterial::generate_age();
    let recipient = model_key
        .age_recipient()
        .context("the generated key is not an age identity")?;
    let encrypted = root.join("cvm/model.enc");
    age_encrypt_dir(&plain, &encrypted, &recipient)?;
    std::fs::write(encrypted.join("model.sig"), &signature)?;
    println!(
        "   encrypted every file to the key broker's age recipient {recipient} into {}",
        encrypted.display()
    );

    let mut config = Config::with_state_dir(root.join("verifier"));
    config.listen = ([127, 0, 0, 1], 0).into();
    config.policy_dir = Some(write_policies(&root.join("verifier/policies"), &owner)?);
    let mut tdx_collateral = None;
    let source = match tee {
        DemoTee::Snp => {
            step("2. The simulated confidential VM creates its SEV-SNP test hierarchy");
            let started = Instant::now();
            let sim = SimulatedSnp::open_or_create(&root.join("agent"), Product::Milan)?;
            let chain = sim
                .cert_chain_path()
                .context("the simulated hierarchy has no chain file")?;
            println!(
                "   generated ARK/ASK (RSA-4096, PSS) and a VCEK (P-384) in {:.1} s; chain at {}",
                started.elapsed().as_secs_f64(),
                chain.display()
            );
            config.insecure_test_roots = vec![TestRoot {
                product: Product::Milan,
                cert_chain: chain,
            }];
            CpuSource::Simulated(Box::new(sim))
        }
        DemoTee::Tdx => {
            step("2. The simulated confidential VM creates its TDX test hierarchy");
            let started = Instant::now();
            let sim = SimulatedTdx::open_or_create(&root.join("agent"))?;
            let root_ca = sim
                .root_ca_path()
                .context("the simulated hierarchy has no root CA file")?;
            let dir = sim
                .collateral_dir()
                .context("the simulated hierarchy has no collateral directory")?;
            println!(
                "   generated a DCAP hierarchy (P-256 root CA, PCK Platform CA, PCK certificate \
                 with SGX extensions, TCB Signing, QE) in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            println!("   root CA at {}", root_ca.display());
            println!(
                "   signed collateral (PCS response files) in {}",
                dir.display()
            );
            config.insecure_tdx_test_roots = vec![root_ca];
            tdx_collateral = Some(dir);
            CpuSource::SimulatedTdx(Box::new(sim))
        }
    };

    let gpu_source = if gpus == 0 {
        GpuSource::None
    } else {
        let sim = SimulatedGpus::open_or_create(&root.join("agent"), gpus)?;
        let device_root = sim
            .device_root_path()
            .context("the simulated GPUs have no device root file")?;
        println!(
            "   and {gpus} simulated Hopper GPU(s): a generated 5-certificate device chain each \
             (P-384, FWID extension); device root at {}",
            device_root.display()
        );
        config.insecure_gpu_test_roots = vec![device_root];
        let rim_root = root.join("rims/rim_root.der");
        std::fs::create_dir_all(root.join("rims"))?;
        std::fs::write(&rim_root, RimHierarchy::shared().root_der())?;
        config.insecure_rim_test_roots = vec![rim_root];
        GpuSource::Simulated(Box::new(sim))
    };

    step("3. The verifier starts on loopback and the operator adds two keys");
    let records: Arc<Mutex<Vec<DecisionRecord>>> = Arc::default();
    let sink = Arc::clone(&records);
    let state = VerifierState::from_config(&config)?.with_observer(Arc::new(move |r| {
        if let Ok(mut records) = sink.lock() {
            records.push(r.clone());
        }
    }));
    let now = service::SystemClock;
    use warden_verifier::service::Clock as _;
    if gpus > 0 {
        // The GPU vendor's signed reference values (RIMs) for the simulated driver and VBIOS,
        // signed by a generated CoRIM hierarchy, go into the verifier's RIM store.
        let sim = RimHierarchy::shared().rims_for(&GpuProfile::hopper())?;
        let verifier = RimVerifier::new(RimHierarchy::shared().root_der().to_vec());
        let mut files = Vec::new();
        let stapled = [sim.driver.clone(), sim.vbios.clone()];
        for (id, body) in [(sim.driver_id, sim.driver), (sim.vbios_id, sim.vbios)] {
            let rim = verifier.verify(now.now(), &body)?;
            files.push(RimFile {
                source: format!("demo:{id}"),
                id,
                body,
                rim,
            });
        }
        for e in RimStore::new(Arc::clone(state.store())).import(files, now.now())? {
            println!("   RIM import: {} {:?}", e.id, e.outcome);
        }
        // Revocation is checked in `stapled` mode (the default): the agent staples OCSP
        // responses for each GPU's chain; those for the RIM signing chains come from the
        // verifier's OCSP cache, here answered by the generated CoRIM hierarchy's responder.
        let cache = warden_verifier::revocation::OcspCache::new(Arc::clone(state.store()));
        let spec = warden_evidence::sim::nvidia::OcspSpec::good_at(now.now());
        let mut imported = 0;
        for rim in &stapled {
            for response in RimHierarchy::shared().staple(rim, &spec)? {
                if let Err(e) = cache.import("demo:rim-ocsp", &response, now.now())? {
                    anyhow::bail!("simulated RIM OCSP response: {e}");
                }
                imported += 1;
            }
        }
        println!(
            "   OCSP cache: {imported} responses for the RIM signing chains; GPU revocation mode {}",
            config.gpu_revocation.mode.name()
        );
    }
    if let Some(dir) = &tdx_collateral {
        let items = collateral::read_path(dir)?;
        let judge = state.tdx().context("the verifier has no TDX judge")?;
        for e in judge.cache().import(items, now.now())? {
            println!(
                "   collateral import: {} {} {:?}{}",
                e.kind,
                e.key,
                e.outcome,
                e.next_update
                    .map(|t| format!(", valid until {t}"))
                    .unwrap_or_default()
            );
        }
    }
    state
        .broker()
        .add(&KeyId::parse(ALLOWED_KEY)?, "dev", model_key, now.now())?;
    state.broker().add(
        &KeyId::parse(DENIED_KEY)?,
        "default",
        KeyMaterial::generate()?,
        now.now(),
    )?;
    println!(
        "   key {ALLOWED_KEY:?} (the age identity) under policy \"dev\" (admits simulated \
         evidence; its data pins the owner's model-signing key)"
    );
    println!(
        "   key {DENIED_KEY:?} under policy \"default\" (strict: vendor roots and pinned measurements only)"
    );
    let state = Arc::new(state);
    let listener = service::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(service::serve(
        Arc::clone(&state),
        Limits::from_config(&config),
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    println!("   listening on {addr}");

    step("4. The agent attests with the signed manifest and asks for the model key");
    // What the agent reads beside the ciphertext: the signature bundle, whose statement is the
    // manifest it will accept after decryption; that manifest is bound into REPORT_DATA.
    let shipped = std::fs::read(encrypted.join("model.sig"))?;
    let manifest = SignatureBundle::parse(&shipped)?.statement()?.manifest;
    let url = format!("http://{addr}");
    let mut verifier = client::connect(&url).await?;
    let released = client::attest_signed_model(
        &mut verifier,
        &source,
        &gpu_source,
        &manifest,
        Some(&shipped),
        &[ALLOWED_KEY.to_owned()],
    )
    .await?;
    let record = last_record(&records)?;
    let claims = record.claims.clone().unwrap_or_default();
    println!("   decision {}: allow", released.correlation_id);
    for d in &record.decisions {
        println!(
            "   key {:?}: policy {:?} sha256:{} -> {}",
            d.key_id,
            d.policy.as_deref().unwrap_or("-"),
            d.policy_digest.as_deref().unwrap_or("-"),
            if d.allow { "allow" } else { "deny" }
        );
        if let Some(signature) = &d.model_signature {
            println!("   model.signature under that policy: {signature}");
        }
    }
    println!("   claims the policy saw:");
    let mut shown = claims.clone();
    // 64 measurement digests per GPU would drown the rest; the policy sees them all.
    if let Some(gpus) = shown
        .get_mut("gpus")
        .and_then(serde_json::Value::as_array_mut)
    {
        for gpu in gpus.iter_mut().filter_map(serde_json::Value::as_object_mut) {
            for field in ["measurements", "measurement_indices"] {
                if let Some(list) = gpu.get(field).and_then(serde_json::Value::as_array) {
                    let note = format!("({} entries, not shown)", list.len());
                    gpu.insert(field.to_owned(), serde_json::Value::String(note));
                }
            }
        }
    }
    for line in serde_json::to_string_pretty(&shown)?.lines() {
        println!("     {line}");
    }
    let Some(key) = released.keys.iter().find(|k| k.key_id == ALLOWED_KEY) else {
        bail!("the verifier allowed the request but released no {ALLOWED_KEY:?}");
    };
    println!(
        "   released key {:?} ({} bytes), opened with the TEE private key",
        key.key_id,
        key.material.len()
    );

    step("5. The agent decrypts the model into place, hashing the plaintext on the way");
    let identity = warden_agent::open::parse_identity(&key.material)?;
    let served = root.join("cvm/model");
    let opened = open_model(
        &identity,
        &encrypted,
        &served,
        &manifest,
        &OpenOptions::default(),
    )?;
    println!(
        "   decrypted {} files ({} bytes) into {}; plaintext digest {} equals the attested M",
        opened.files,
        opened.bytes,
        served.display(),
        opened.manifest.digest().to_hex()
    );
    // A ciphertext swapped for another plaintext, encrypted to the same recipient: decrypts,
    // but its plaintext is not what was signed and attested.
    let swapped = root.join("cvm/model.swapped");
    age_encrypt_dir(&plain, &swapped, &recipient)?;
    std::fs::write(swapped.join("model.sig"), &shipped)?;
    age_encrypt_file(
        b"{\"architecture\": \"other\"}",
        &swapped.join("config.json.age"),
        &recipient,
    )?;
    let refused_dir = root.join("cvm/model.refused");
    match open_model(
        &identity,
        &swapped,
        &refused_dir,
        &manifest,
        &OpenOptions::default(),
    ) {
        Ok(_) => bail!("a swapped ciphertext opened"),
        Err(e) => {
            ensure!(
                !refused_dir.exists(),
                "plaintext of the refused model was left in {}",
                refused_dir.display()
            );
            println!("   a swapped config.json.age is refused, nothing left behind: {e}");
        }
    }

    step("6. The agent asks for a key whose strict policy does not admit simulated evidence");
    match client::attest_with_gpus(
        &mut verifier,
        &source,
        &gpu_source,
        &manifest,
        &[DENIED_KEY.to_owned()],
    )
    .await
    {
        Ok(_) => bail!("the strict default policy released a key to simulated evidence"),
        Err(client::AgentError::Refused {
            code,
            message,
            correlation_id,
        }) => {
            println!("   the agent sees only: {code:?}: {message}");
            let record = last_record(&records)?;
            ensure!(
                Some(&record.correlation_id) == correlation_id.as_ref(),
                "the denial's correlation id does not match the verifier's record"
            );
            println!(
                "   the operator's log under {} gives the reasons:",
                record.correlation_id
            );
            for d in &record.decisions {
                for reason in &d.reasons {
                    println!("     - {}: {reason}", d.key_id);
                }
            }
        }
        Err(e) => return Err(e.into()),
    }

    let _ = stop.send(());
    server.await??;
    println!(
        "\nDemo complete: a signed, encrypted model opened in an attested CVM; a swapped \
         ciphertext refused; a key denied by policy."
    );
    Ok(())
}

fn last_record(records: &Mutex<Vec<DecisionRecord>>) -> anyhow::Result<DecisionRecord> {
    records
        .lock()
        .ok()
        .and_then(|r| r.last().cloned())
        .context("the verifier recorded no decision")
}

/// A small model: a config file, 1 MiB of deterministic "weights" and a tokenizer.
fn write_demo_model(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("config.json"),
        br#"{"architecture": "demo", "layers": 2}"#,
    )?;
    let weights: Vec<u8> = (0u32..1 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(dir.join("weights.bin"), weights)?;
    std::fs::create_dir_all(dir.join("tokenizer"))?;
    std::fs::write(
        dir.join("tokenizer/vocab.txt"),
        b"<pad>\n<s>\nhello\nworld\n",
    )?;
    Ok(())
}

/// The built-in policies, written to `dir` so that the `dev` policy's data can pin the
/// model owner's signing key (`model_signing`, docs/policy-input.md).
fn write_policies(dir: &Path, owner: &ModelSigningKey) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(
        dir.join("default.rego"),
        include_str!("../../policies/default.rego"),
    )?;
    std::fs::write(
        dir.join("default.data.json"),
        include_str!("../../policies/default.data.json"),
    )?;
    std::fs::write(
        dir.join("dev.rego"),
        include_str!("../../policies/dev.rego"),
    )?;
    let mut data: serde_json::Value =
        serde_json::from_str(include_str!("../../policies/dev.data.json"))?;
    data.as_object_mut()
        .context("dev.data.json is not an object")?
        .insert(
            "model_signing".to_owned(),
            serde_json::json!({ "public_keys": [owner.public_key_pem()] }),
        );
    std::fs::write(
        dir.join("dev.data.json"),
        serde_json::to_string_pretty(&data)?,
    )?;
    Ok(dir.to_owned())
}

/// Encrypts every file under `from` to `to/NAME.age` for `recipient`, as `age -r` does.
fn age_encrypt_dir(from: &Path, to: &Path, recipient: &str) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let mut name = entry.file_name();
        if entry.file_type()?.is_dir() {
            age_encrypt_dir(&entry.path(), &to.join(&name), recipient)?;
        } else {
            name.push(".age");
            age_encrypt_file(&std::fs::read(entry.path())?, &to.join(name), recipient)?;
        }
    }
    Ok(())
}

fn age_encrypt_file(plain: &[u8], to: &Path, recipient: &str) -> anyhow::Result<()> {
    let recipient: age::x25519::Recipient = recipient
        .parse()
        .map_err(|e| anyhow::anyhow!("age recipient: {e}"))?;
    let encryptor =
        age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))?;
    let mut writer = encryptor.wrap_output(std::fs::File::create(to)?)?;
    std::io::Write::write_all(&mut writer, plain)?;
    writer.finish()?;
    Ok(())
}
