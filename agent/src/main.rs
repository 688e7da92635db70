//! `warden-agent`: the agent command.

use anyhow::Result;
use clap::{Parser, Subcommand};
use warden_agent::{BindingInputs, parse_hex32};
use warden_proto::binding::{self, GpuDigest, ModelDigest, Nonce, TeePublicKey};

/// Warden agent: binds confidential-VM evidence to a verifier nonce, a TEE key and a model.
#[derive(Debug, Parser)]
#[command(name = "warden-agent", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compute the binding values of the warden.v1 protocol (docs/protocol.md).
    Binding {
        #[command(subcommand)]
        command: BindingCommand,
    },
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

fn hex32(s: &str) -> Result<[u8; 32], String> {
    parse_hex32(s).map_err(|e| e.to_string())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
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
