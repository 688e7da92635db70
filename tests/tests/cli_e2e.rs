//! End to end through the two real binaries, as an operator runs them: `warden-agent` produces
//! simulated SEV-SNP evidence, `warden-verifier` manages keys, serves over loopback and stops on
//! SIGTERM, and `warden-verifier policy eval` judges a claims document offline.
//!
//! The binaries belong to other packages, so Cargo does not hand this test their paths
//! (`CARGO_BIN_EXE_*`): they are built once with the test's own Cargo and profile and found in
//! the target directory beside this test executable. Every process runs under a deadline and
//! its output goes to files, so a hung or chatty child fails the test instead of hanging it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::File;
use std::io::{Read, Seek};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// How long one short-lived command may run (the first simulated agent run generates three
/// RSA-4096 keys).
const COMMAND_DEADLINE: Duration = Duration::from_secs(120);

/// The workspace root.
fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory holding `warden-verifier` and `warden-agent`, built on first use with the
/// profile this test was built with.
fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // …/target/<profile>/deps/cli_e2e-<hash> → …/target/<profile>/
        let exe = std::env::current_exe().expect("current_exe");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .unwrap_or_else(|| panic!("no profile directory above {}", exe.display()))
            .to_path_buf();
        let mut cargo = Command::new(env!("CARGO"));
        cargo.current_dir(repo_root()).args([
            "build",
            "-q",
            "-p",
            "warden-verifier",
            "-p",
            "warden-agent",
        ]);
        // Variables Cargo set for this test process only. Left in, CARGO_MANIFEST_DIR and
        // friends change a build script's fingerprint (ring's) and each run rebuilds half the
        // tree.
        for (name, _) in std::env::vars_os() {
            let text = name.to_string_lossy();
            let set_for_this_test = text == "OUT_DIR"
                || [
                    "CARGO_PKG_",
                    "CARGO_MANIFEST_",
                    "CARGO_CRATE_",
                    "CARGO_BIN_",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                    "CARGO_RUSTC_CURRENT_DIR",
                ]
                .iter()
                .any(|prefix| text.starts_with(prefix));
            if set_for_this_test {
                cargo.env_remove(&name);
            }
        }
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                cargo.arg("--release");
            }
            Some(profile) => {
                cargo.args(["--profile", profile]);
            }
        }
        let out = cargo.output().expect("running cargo build");
        assert!(
            out.status.success(),
            "cargo build of the binaries failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for name in ["warden-verifier", "warden-agent"] {
            assert!(
                dir.join(name).is_file(),
                "{name} not found in {}",
                dir.display()
            );
        }
        dir
    })
}

fn verifier() -> Command {
    let mut cmd = Command::new(bin_dir().join("warden-verifier"));
    cmd.env_remove("WARDEN_VERIFIER_CONFIG")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1");
    cmd
}

fn agent() -> Command {
    Command::new(bin_dir().join("warden-agent"))
}

/// A finished command: exit status and output.
#[derive(Debug)]
struct Run {
    what: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// Panics with the whole output unless the command exited 0.
    fn success(self) -> Self {
        assert!(self.status.success(), "{self}");
        self
    }

    /// Panics with the whole output unless the command exited with a non-zero status.
    fn failure(self) -> Self {
        assert!(
            !self.status.success() && self.status.code().is_some(),
            "expected a failing exit status: {self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}\n  exited {}\n  stdout:\n{}\n  stderr:\n{}",
            self.what, self.status, self.stdout, self.stderr
        )
    }
}

/// Runs `cmd` to completion within [`COMMAND_DEADLINE`], killing it past that.
fn run(cmd: &mut Command) -> Run {
    let what = format!("{cmd:?}");
    let mut stdout = tempfile::tempfile().unwrap();
    let mut stderr = tempfile::tempfile().unwrap();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(stdout.try_clone().unwrap())
        .stderr(stderr.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let status = wait_for(&mut child, COMMAND_DEADLINE).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{what} still running after {COMMAND_DEADLINE:?}; stderr:\n{}",
            read_all(&mut stderr)
        )
    });
    Run {
        what,
        status,
        stdout: read_all(&mut stdout),
        stderr: read_all(&mut stderr),
    }
}

fn read_all(file: &mut File) -> String {
    let mut text = String::new();
    file.rewind().unwrap();
    file.read_to_string(&mut text).unwrap();
    text
}

/// Waits up to `deadline` for `child` to exit.
fn wait_for(child: &mut Child, deadline: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if start.elapsed() > deadline {
            return None;
        }
        sleep(Duration::from_millis(50));
    }
}

/// A running `warden-verifier serve`, killed on drop so that a failing assertion never leaves
/// it behind.
struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    fn start(config: &Path, log: PathBuf) -> Self {
        let child = verifier()
            .args(["serve", "--config"])
            .arg(config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).unwrap())
            .spawn()
            .expect("starting warden-verifier serve");
        Self { child, log }
    }

    /// The log so far, without terminal colour codes.
    fn log(&self) -> String {
        strip_ansi(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// Polls until `addr` accepts TCP connections; panics with the log if the server exits or
    /// 30 s pass.
    fn wait_until_listening(&mut self, port: u16) {
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the verifier exited early ({status}); log:\n{}", self.log());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the verifier does not listen on port {port} after 30 s; log:\n{}",
                self.log()
            );
            sleep(Duration::from_millis(100));
        }
    }

    /// Polls up to 5 s for a log line containing every one of `needles`; returns it.
    fn log_line(&self, needles: &[&str]) -> String {
        let start = Instant::now();
        loop {
            let log = self.log();
            if let Some(line) = log
                .lines()
                .find(|line| needles.iter().all(|n| line.contains(n)))
            {
                return line.to_owned();
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "no log line with {needles:?}; log:\n{log}"
            );
            sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Removes `ESC [ … letter` sequences (in case the log is coloured despite `NO_COLOR`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A port that was free a moment ago on loopback.
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// A small model directory.
fn model_dir(root: &Path) -> PathBuf {
    let model = root.join("model");
    std::fs::create_dir_all(model.join("shards")).unwrap();
    std::fs::write(model.join("config.json"), br#"{"layers": 2}"#).unwrap();
    std::fs::write(model.join("shards/0.bin"), [7u8; 4096]).unwrap();
    model
}

/// The 32-hex-digit correlation id that follows "correlation id " in `text`.
fn correlation_id(text: &str) -> String {
    let (_, rest) = text
        .split_once("correlation id ")
        .unwrap_or_else(|| panic!("no correlation id in:\n{text}"));
    let id: String = rest.chars().take_while(char::is_ascii_hexdigit).collect();
    assert_eq!(id.len(), 32, "correlation id {id:?} in:\n{text}");
    id
}

#[test]
fn serve_and_simulated_agent_over_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let agent_state = root.join("agent");
    let model = model_dir(root);

    // 1. The agent's debugging view of simulated evidence; creates the test hierarchy.
    let nonce = "5a".repeat(32);
    let out = run(agent()
        .args(["evidence", "--simulate", "--state-dir"])
        .arg(&agent_state)
        .arg("--model")
        .arg(&model)
        .args(["--nonce", &nonce]))
    .success();
    let bundle: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("evidence output is not JSON ({e}): {out}"));
    assert_eq!(bundle["nonce"], json!(nonce), "{out}");
    assert_eq!(bundle["cpu"]["tee"], json!("TEE_SEV_SNP"), "{out}");
    assert_eq!(
        bundle["cpu"]["report"].as_str().map(str::len),
        Some(2 * 1184),
        "{out}"
    );
    assert_eq!(bundle["tee_pubkey"].as_str().map(str::len), Some(64));
    assert_eq!(bundle["gpus"], json!(0));
    assert_eq!(
        bundle["model"]["resources"].as_array().map(Vec::len),
        Some(2),
        "{out}"
    );
    assert!(
        out.stderr.contains("simulated SEV-SNP evidence"),
        "{}",
        out.stderr
    );
    let cert_chain = agent_state.join("sim/milan/cert_chain.pem");
    assert!(cert_chain.is_file(), "{} missing", cert_chain.display());

    // 2. The verifier's configuration: loopback port, relative state dir, the agent's roots.
    let port = free_port();
    let config = root.join("verifier.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate_dir = \"state\"\n\n\
             [[insecure_test_roots]]\nproduct = \"milan\"\ncert_chain = {}\n",
            toml_string(&cert_chain)
        ),
    )
    .unwrap();

    // 3. Keys.
    let keys = |args: &[&str]| {
        run(verifier()
            .arg("keys")
            .args(args)
            .arg("--config")
            .arg(&config))
    };
    let out = keys(&["add", "demo", "--policy", "dev", "--generate"]).success();
    assert!(
        out.stdout
            .contains("added key demo (32 bytes) under policy dev"),
        "{out}"
    );
    assert!(out.stderr.contains("created a new master key"), "{out}");
    let out = keys(&["add", "strict", "--policy", "default", "--generate"]).success();
    assert!(
        out.stdout
            .contains("added key strict (32 bytes) under policy default"),
        "{out}"
    );
    assert!(!out.stderr.contains("created a new master key"), "{out}");
    let out = keys(&["add", "bad", "--policy", "nosuch", "--generate"]).failure();
    assert!(out.stderr.contains("no policy named \"nosuch\""), "{out}");
    assert!(
        out.stderr.contains("loaded policies: default, dev"),
        "{out}"
    );
    let out = keys(&["list", "--json"]).success();
    let list: Value = serde_json::from_str(&out.stdout).unwrap();
    let mut listed: Vec<(String, String)> = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {out}"))
        .iter()
        .map(|k| {
            assert!(k["created_at"].as_i64().is_some_and(|t| t > 0), "{k}");
            (
                k["id"].as_str().unwrap().to_owned(),
                k["policy"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed.sort();
    assert_eq!(
        listed,
        [
            ("demo".to_owned(), "dev".to_owned()),
            ("strict".to_owned(), "default".to_owned())
        ]
    );
    assert!(!out.stdout.contains("material"), "{out}");
    assert_eq!(mode(&root.join("state/master.key")), 0o600);

    // 4. Serve.
    let mut server = Server::start(&config, root.join("verifier.log"));
    server.wait_until_listening(port);
    let line = server.log_line(&["insecure_test_roots", "Never use this in production"]);
    assert!(line.contains("WARN"), "{line}");
    let url = format!("http://127.0.0.1:{port}");
    let attest = |key: &str, out: &Path| {
        run(agent()
            .args(["attest", "--verifier", &url, "--key", key, "--out"])
            .arg(out)
            .args(["--simulate", "--state-dir"])
            .arg(&agent_state)
            .arg("--model")
            .arg(&model))
    };

    // 5. The dev key is released, sealed to the agent, and written 0600.
    let key_file = root.join("demo.key");
    let out = attest("demo", &key_file).success();
    assert!(out.stdout.contains("released key demo (32 bytes)"), "{out}");
    assert!(out.stdout.contains("(mode 0600)"), "{out}");
    let key = std::fs::read(&key_file).unwrap();
    assert_eq!(key.len(), 32);
    assert_ne!(key, [0u8; 32]);
    assert_eq!(mode(&key_file), 0o600);
    let id = correlation_id(&out.stdout);
    let line = server.log_line(&[&id, "attestation allowed"]);
    assert!(line.contains("demo"), "{line}");

    // 6. The strict default policy never accepts simulated evidence: a coarse refusal for the
    // agent, the reasons in the verifier's log under the same correlation id.
    let strict_file = root.join("strict.key");
    let out = attest("strict", &strict_file).failure();
    assert!(out.stderr.contains("attestation refused"), "{out}");
    assert!(out.stderr.contains("PermissionDenied"), "{out}");
    assert!(
        !out.stderr.contains("tee.simulated"),
        "reasons leaked: {out}"
    );
    assert!(!strict_file.exists());
    let id = correlation_id(&out.stderr);
    let line = server.log_line(&[&id, "key denied"]);
    assert!(line.contains("key_id=strict"), "{line}");
    assert!(
        ["policy=default", "policy=\"default\""]
            .iter()
            .any(|p| line.contains(p)),
        "{line}"
    );
    assert!(
        line.contains("tee.simulated is true: simulated evidence"),
        "{line}"
    );

    // 7. A released key never overwrites an existing file; the agent refuses before it spends
    // a nonce.
    let out = attest("demo", &key_file).failure();
    assert!(
        out.stderr
            .contains("already exists; refusing to overwrite a key file"),
        "{out}"
    );
    assert!(
        out.stderr.contains(&key_file.display().to_string()),
        "{out}"
    );
    assert_eq!(std::fs::read(&key_file).unwrap(), key, "key file changed");

    // 8. A removed key is no longer released, whatever the evidence.
    let out = keys(&["remove", "demo"]).success();
    assert!(out.stdout.contains("removed key demo"), "{out}");
    let out = keys(&["remove", "demo"]).failure();
    assert!(out.stderr.contains("no key demo"), "{out}");
    let gone_file = root.join("gone.key");
    let out = attest("demo", &gone_file).failure();
    assert!(out.stderr.contains("PermissionDenied"), "{out}");
    assert!(!gone_file.exists());
    let id = correlation_id(&out.stderr);
    let line = server.log_line(&[&id, "key denied"]);
    assert!(line.contains("unknown key id"), "{line}");

    // 9. SIGTERM: a clean stop, exit status 0.
    let pid = server.child.id();
    let kill = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(kill.success(), "kill -TERM {pid}: {kill}");
    let status = wait_for(&mut server.child, Duration::from_secs(10)).unwrap_or_else(|| {
        panic!(
            "the verifier still runs 10 s after SIGTERM; log:\n{}",
            server.log()
        )
    });
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("shutting down"), "{log}");
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn tdx_agent_collateral_import_and_serve_over_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let agent_state = root.join("agent");
    let model = model_dir(root);

    // 1. The simulated TDX CVM: a v4 quote, and the test root and collateral for the operator.
    let out = run(agent()
        .args(["evidence", "--simulate", "--tee", "tdx", "--state-dir"])
        .arg(&agent_state)
        .arg("--model")
        .arg(&model)
        .args(["--nonce", &"6b".repeat(32)]))
    .success();
    let bundle: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("evidence output is not JSON ({e}): {out}"));
    assert_eq!(bundle["cpu"]["tee"], json!("TEE_TDX"), "{out}");
    let root_ca = agent_state.join("sim/tdx/root_ca.pem");
    let collateral = agent_state.join("sim/tdx/collateral");
    assert!(root_ca.is_file() && collateral.is_dir(), "{out}");
    assert!(
        out.stderr.contains("warden-verifier collateral import"),
        "{out}"
    );

    // 2. A verifier trusting the test root, with the collateral imported before it starts.
    let port = free_port();
    let config = root.join("verifier.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate_dir = \"state\"\n\
             insecure_tdx_test_roots = [{}]\n",
            toml_string(&root_ca)
        ),
    )
    .unwrap();
    let out = run(verifier()
        .args(["collateral", "import"])
        .arg(&collateral)
        .arg("--config")
        .arg(&config))
    .success();
    assert!(out.stdout.contains("tcb-info 90c06f000000: added"), "{out}");
    run(verifier()
        .args([
            "keys",
            "add",
            "demo",
            "--policy",
            "dev",
            "--generate",
            "--config",
        ])
        .arg(&config))
    .success();
    let mut server = Server::start(&config, root.join("verifier.log"));
    server.wait_until_listening(port);
    let line = server.log_line(&["insecure_tdx_test_roots", "Never use this in production"]);
    assert!(line.contains("WARN"), "{line}");

    // 3. The agent attests with a v5 (TD 1.5) quote and gets the key.
    let key_file = root.join("demo.key");
    let out = run(agent()
        .args(["attest", "--verifier", &format!("http://127.0.0.1:{port}")])
        .args(["--key", "demo", "--out"])
        .arg(&key_file)
        .args([
            "--simulate",
            "--tee",
            "tdx",
            "--sim-quote-version",
            "5",
            "--state-dir",
        ])
        .arg(&agent_state)
        .arg("--model")
        .arg(&model))
    .success();
    assert!(out.stdout.contains("released key demo (32 bytes)"), "{out}");
    assert_eq!(std::fs::read(&key_file).unwrap().len(), 32);
    let id = correlation_id(&out.stdout);
    let line = server.log_line(&[&id, "attestation allowed"]);
    assert!(line.contains("demo"), "{line}");
}

/// `path` as a TOML basic string.
fn toml_string(path: &Path) -> String {
    // A JSON string is a valid TOML basic string for any path without control characters.
    json!(path.to_str().expect("UTF-8 temporary path")).to_string()
}

/// A claims document (docs/policy-input.md) that the dev policy admits: simulated SEV-SNP
/// evidence of a guest without debug, migration agent or lower VMPL.
fn dev_claims() -> Value {
    json!({
        "tee": {
            "type": "sev-snp",
            "simulated": true,
            "version": 5,
            "vmpl": 0,
            "policy": {"debug": false, "migrate_ma": false, "smt": true},
            "report_id_ma": "ff".repeat(32),
            "measurement": "4d".repeat(48),
        },
        "gpus": [],
        "model": {
            "manifest_digest": "a1".repeat(32),
            "serialization": "files",
            "hash_algorithm": "sha256",
            "resources": [{"name": "model.safetensors", "digest": "00".repeat(32)}],
            "ignore_paths": []
        },
        "request": {
            "key_id": "model-key",
            "key_ids": ["model-key"],
            "tee_pubkey": "22".repeat(32),
            "nonce": "33".repeat(32)
        },
        "time": {"rfc3339": "2026-11-25T00:00:00Z", "unix": 1_764_028_800}
    })
}

#[test]
fn policy_eval_prints_decision_and_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let policy = repo_root().join("policies/dev.rego");
    let claims = dir.path().join("claims.json");
    let eval = |policy: &Path, extra: &[&str]| {
        run(verifier()
            .args(["policy", "eval", "--policy"])
            .arg(policy)
            .arg("--claims")
            .arg(&claims)
            .args(extra))
    };

    let mut doc = dev_claims();
    std::fs::write(&claims, doc.to_string()).unwrap();
    let out = eval(&policy, &[]);
    assert_eq!(out.code(), Some(0), "{out}");
    assert!(out.stdout.starts_with("allow (policy dev sha256:"), "{out}");
    let digest: String = out
        .stdout
        .trim_start_matches("allow (policy dev sha256:")
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(digest.len(), 64, "{out}");

    doc["tee"]["policy"]["debug"] = json!(true);
    std::fs::write(&claims, doc.to_string()).unwrap();
    let out = eval(&policy, &[]);
    assert_eq!(out.code(), Some(1), "{out}");
    assert!(out.stdout.starts_with("deny (policy dev sha256:"), "{out}");
    assert!(
        out.stdout.contains(
            "  - policy.debug is true: the host may read and write guest memory; debug must be \
             false"
        ),
        "{out}"
    );

    let out = eval(&policy, &["--json"]);
    assert_eq!(out.code(), Some(1), "{out}");
    let decision: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(decision["allow"], json!(false), "{out}");
    assert_eq!(decision["policy"], json!("dev"), "{out}");
    assert_eq!(decision["policy_digest"], json!(digest), "{out}");
    assert_eq!(
        decision["reasons"],
        json!([
            "policy.debug is true: the host may read and write guest memory; debug must be false"
        ]),
        "{out}"
    );

    let broken = dir.path().join("broken.rego");
    std::fs::write(&broken, "package warden\n\nallow if {\n").unwrap();
    let out = eval(&broken, &[]);
    assert_eq!(out.code(), Some(2), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert!(out.stderr.contains(&broken.display().to_string()), "{out}");
}

#[test]
fn agent_without_a_tee_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let model = model_dir(dir.path());
    let out = run(agent()
        .args([
            "attest",
            "--verifier",
            "http://127.0.0.1:1",
            "--key",
            "k",
            "--model",
        ])
        .arg(&model)
        .args([
            "--configfs-tsm",
            "/nonexistent/tsm",
            "--sev-guest",
            "/nonexistent/sev-guest",
        ]))
    .failure();
    assert!(out.stderr.contains("no SEV-SNP interface found"), "{out}");
    assert!(
        out.stderr.contains("/nonexistent/tsm (configfs-tsm)"),
        "{out}"
    );
    assert!(out.stderr.contains("/nonexistent/sev-guest"), "{out}");
    assert!(out.stderr.contains("--simulate"), "{out}");
    // Detection fails before any connection is attempted.
    assert!(!out.stderr.contains("cannot connect"), "{out}");
    assert!(out.stdout.is_empty(), "{out}");
}

/// Encrypts `plain` (a directory) into `enc`: each file to `NAME.age` for `recipient`, as
/// `age -r RECIPIENT -o NAME.age NAME` does.
fn age_encrypt_dir(plain: &Path, enc: &Path, recipient: &str) {
    let recipient: age::x25519::Recipient = recipient.parse().unwrap();
    for entry in std::fs::read_dir(plain).unwrap() {
        let entry = entry.unwrap();
        let target = enc.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            age_encrypt_dir(&entry.path(), &target, &recipient.to_string());
            continue;
        }
        let mut name = target.into_os_string();
        name.push(".age");
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .unwrap();
        let mut writer = encryptor
            .wrap_output(File::create(PathBuf::from(name)).unwrap())
            .unwrap();
        std::io::Write::write_all(&mut writer, &std::fs::read(entry.path()).unwrap()).unwrap();
        writer.finish().unwrap();
    }
}

#[test]
fn encrypted_signed_model_opens_through_the_cli() {
    // Issue 6's loop as operators run it: the owner hashes and signs a model (key method),
    // the operator adds an age identity under a policy pinning the owner's key, the owner
    // encrypts to its recipient, and `warden-agent model open` attests, receives the identity
    // and decrypts into place, or leaves nothing behind.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let agent_state = root.join("agent");
    let plain = model_dir(root);

    // The owner: the OMS statement of the plaintext, signed.
    let out = run(agent().args(["model", "hash", "--json"]).arg(&plain)).success();
    let hashed: Value = serde_json::from_str(&out.stdout).unwrap();
    let owner = warden_evidence::sim::model::ModelSigningKey::from_seed(
        warden_evidence::model::Curve::P256,
        6,
    );
    let bundle = warden_evidence::sim::model::sign_key_bundle(
        &serde_json::to_vec(&hashed["statement"]).unwrap(),
        &owner,
    );

    // The operator: a policy pinning the owner's key, and an age identity under it.
    let policies = root.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join("signed.rego"),
        std::fs::read_to_string(repo_root().join("policies/dev.rego")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        policies.join("signed.data.json"),
        json!({ "model_signing": { "public_keys": [owner.public_key_pem()] } }).to_string(),
    )
    .unwrap();
    // The simulated hierarchy, created by a first (debugging) run of the agent.
    run(agent()
        .args(["evidence", "--simulate", "--state-dir"])
        .arg(&agent_state)
        .arg("--model")
        .arg(&plain)
        .args(["--nonce", &"11".repeat(32)]))
    .success();
    let port = free_port();
    let config = root.join("verifier.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate_dir = \"state\"\npolicy_dir = \"policies\"\n\n\
             [[insecure_test_roots]]\nproduct = \"milan\"\ncert_chain = {}\n",
            toml_string(&agent_state.join("sim/milan/cert_chain.pem"))
        ),
    )
    .unwrap();
    let out = run(verifier()
        .args([
            "keys",
            "add",
            "weights",
            "--policy",
            "signed",
            "--generate",
            "--age",
        ])
        .arg("--config")
        .arg(&config))
    .success();
    let recipient = out.stdout.trim().to_owned();
    assert!(recipient.starts_with("age1"), "{out}");

    // The owner encrypts to the recipient; the bundle ships beside the ciphertext.
    let enc = root.join("encrypted");
    std::fs::create_dir_all(&enc).unwrap();
    age_encrypt_dir(&plain, &enc, &recipient);
    std::fs::write(enc.join("model.sig"), &bundle).unwrap();

    let mut server = Server::start(&config, root.join("verifier.log"));
    server.wait_until_listening(port);
    let open = |input: &Path, output: &Path| {
        run(agent()
            .args([
                "model",
                "open",
                "--verifier",
                &format!("http://127.0.0.1:{port}"),
            ])
            .args(["--key", "weights", "--in"])
            .arg(input)
            .arg("--out")
            .arg(output)
            .args(["--simulate", "--state-dir"])
            .arg(&agent_state))
    };
    // A plaintext model with its signature: `attest --model-signature` hashes it as signed.
    let sig_path = root.join("model.sig");
    std::fs::write(&sig_path, &bundle).unwrap();
    let attest_signed = |model: &Path, signature: &Path| {
        run(agent()
            .args(["attest", "--verifier", &format!("http://127.0.0.1:{port}")])
            .args(["--key", "weights", "--model"])
            .arg(model)
            .arg("--model-signature")
            .arg(signature)
            .args(["--simulate", "--state-dir"])
            .arg(&agent_state))
    };
    let out = attest_signed(&plain, &sig_path).success();
    assert!(out.stdout.contains("released key weights"), "{out}");
    // The same bundle inside the model is an unsigned file there: refused before any nonce.
    let inside = plain.join("model.sig");
    std::fs::write(&inside, &bundle).unwrap();
    let out = attest_signed(&plain, &inside).failure();
    assert!(
        out.stderr.contains("does not match its signature") && out.stderr.contains("model.sig"),
        "{out}"
    );
    std::fs::remove_file(&inside).unwrap();

    let served = root.join("served");
    let out = open(&enc, &served).success();
    assert!(out.stdout.contains("equals the attested one"), "{out}");
    for name in ["config.json", "shards/0.bin"] {
        assert_eq!(
            std::fs::read(served.join(name)).unwrap(),
            std::fs::read(plain.join(name)).unwrap(),
            "{name}"
        );
    }
    assert!(!served.join("model.sig").exists());
    assert!(!served.join("config.json.age").exists());

    // A ciphertext of other plaintext, under the same signature: refused, nothing left.
    let other_plain = root.join("other");
    std::fs::create_dir_all(other_plain.join("shards")).unwrap();
    std::fs::write(other_plain.join("config.json"), br#"{"layers": 2}"#).unwrap();
    std::fs::write(other_plain.join("shards/0.bin"), [8u8; 4096]).unwrap();
    let swapped = root.join("swapped");
    std::fs::create_dir_all(&swapped).unwrap();
    age_encrypt_dir(&other_plain, &swapped, &recipient);
    std::fs::write(swapped.join("model.sig"), &bundle).unwrap();
    let refused = root.join("refused");
    let out = open(&swapped, &refused).failure();
    assert!(out.stderr.contains("shards/0.bin"), "{out}");
    assert!(
        !refused.exists() || std::fs::read_dir(&refused).unwrap().next().is_none(),
        "plaintext left behind in {}",
        refused.display()
    );

    // A signature by another key: the policy denies the key, nothing is decrypted.
    let forger = warden_evidence::sim::model::ModelSigningKey::from_seed(
        warden_evidence::model::Curve::P256,
        7,
    );
    std::fs::write(
        enc.join("model.sig"),
        warden_evidence::sim::model::sign_key_bundle(
            &serde_json::to_vec(&hashed["statement"]).unwrap(),
            &forger,
        ),
    )
    .unwrap();
    let denied = root.join("denied");
    let out = open(&enc, &denied).failure();
    assert!(
        out.stderr.contains("no requested key was released"),
        "{out}"
    );
    assert!(!denied.exists(), "{}", denied.display());
    let line = server.log_line(&["key denied", "model.signature is not verified"]);
    assert!(line.contains(&forger.hint()), "{line}");
}
