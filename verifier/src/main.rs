//! `warden-verifier`: the operator command.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use warden_evidence::UnixTime;
use warden_verifier::offline::{self, SnpFiles};

/// Warden verifier: verifies confidential-computing evidence and releases model keys.
#[derive(Debug, Parser)]
#[command(name = "warden-verifier", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Work with evidence offline.
    Evidence {
        #[command(subcommand)]
        command: EvidenceCommand,
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
    match cli.command {
        Command::Evidence {
            command:
                EvidenceCommand::Verify {
                    kind: VerifyKind::Snp(args),
                },
        } => verify_snp(&args),
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
        Ok(verified) => {
            let claims = match serde_json::to_value(&verified.claims) {
                Ok(claims) => claims,
                Err(e) => {
                    eprintln!("error: cannot encode claims: {e}");
                    return ExitCode::from(INVALID);
                }
            };
            let text = if args.json {
                serde_json::to_string_pretty(&claims).unwrap_or_else(|_| claims.to_string())
            } else {
                let mut lines = vec![format!(
                    "valid: SEV-SNP report v{} from {} signed by {} at {}",
                    verified.claims.version, verified.product, verified.signer, args.at
                )];
                flatten("  ", &claims, &mut lines);
                lines.join("\n")
            };
            print_line(&text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_line(&format!("invalid: {e}"));
            ExitCode::from(INVALID)
        }
    }
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
