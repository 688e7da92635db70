//! The Warden agent: runs inside a confidential VM, binds its evidence to the verifier's nonce,
//! its TEE key and the model it serves (`warden_proto::binding`), and asks for keys.
//!
//! - [`collect`]: SEV-SNP reports and TDX quotes from configfs-tsm, SEV-SNP reports from
//!   `/dev/sev-guest`, or either from a simulated CVM; NVIDIA GPU evidence through NVML or from
//!   simulated GPUs ([`collect::nvidia`]).
//! - [`model`]: the model manifest of a directory.
//! - [`open`]: decrypting an age-encrypted model into place, kept only if its plaintext matches
//!   the expected manifest.
//! - [`client`]: one attestation against the verifier, and opening the released keys.
//!
//! `warden-agent binding ...` computes the binding values from the command line, so operators
//! can check what a CVM should have put into REPORT_DATA.

pub mod client;
pub mod collect;
pub mod model;
pub mod open;

use warden_proto::binding::{GpuDigest, ModelDigest, Nonce, TeePublicKey};

/// A command-line value that is not the hex of the expected number of bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HexArgError {
    /// Not hexadecimal.
    #[error("not hexadecimal")]
    NotHex,
    /// Hexadecimal of the wrong length.
    #[error("expected {expected} bytes ({} hex digits), got {got} bytes", expected * 2)]
    Length {
        /// Bytes expected.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
}

/// Parses exactly 32 bytes of hex (upper or lower case).
pub fn parse_hex32(s: &str) -> Result<[u8; 32], HexArgError> {
    let bytes = hex::decode(s.trim()).map_err(|_| HexArgError::NotHex)?;
    let got = bytes.len();
    bytes
        .try_into()
        .map_err(|_| HexArgError::Length { expected: 32, got })
}

/// The values REPORT_DATA binds, parsed from hex.
#[derive(Debug, Clone)]
pub struct BindingInputs {
    /// The verifier's nonce `N`.
    pub nonce: Nonce,
    /// The agent's HPKE X25519 public key `pk`.
    pub tee_pubkey: TeePublicKey,
    /// The model manifest digest `M`.
    pub model: ModelDigest,
    /// GPU digests `D_i`, in evidence order.
    pub gpus: Vec<GpuDigest>,
}

impl BindingInputs {
    /// REPORT_DATA for these inputs (`warden_proto::binding::report_data`).
    pub fn report_data(&self) -> [u8; 64] {
        warden_proto::binding::report_data(&self.nonce, &self.tee_pubkey, &self.model, &self.gpus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_arguments_are_exact() {
        assert_eq!(parse_hex32(&"ab".repeat(32)), Ok([0xab; 32]));
        assert_eq!(parse_hex32(&"AB".repeat(32)), Ok([0xab; 32]));
        assert_eq!(parse_hex32("zz"), Err(HexArgError::NotHex));
        assert_eq!(
            parse_hex32(&"ab".repeat(31)),
            Err(HexArgError::Length {
                expected: 32,
                got: 31
            })
        );
        assert_eq!(
            parse_hex32(&"ab".repeat(33)),
            Err(HexArgError::Length {
                expected: 32,
                got: 33
            })
        );
    }
}
