//! Key release: HPKE (RFC 9180) base mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and
//! AES-256-GCM, the one suite of `warden.v1`.
//!
//! The key broker seals each released key to the agent's TEE key `pk` with
//! `info = binding::key_release_info(N, key_id)` and an empty AAD; the agent opens it with the
//! private half it generated inside the TEE. A sealed key therefore opens only for that key
//! pair, in the session of nonce `N`, for that key id (docs/protocol.md, "Key release").

use std::fmt;

use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as KemTrait, OpModeR, OpModeS, Serializable};
use rand_core::{CryptoRng, OsRng, RngCore, UnwrapErr};
use zeroize::Zeroizing;

use crate::binding::{Nonce, TeePublicKey, key_release_info};

type Kem = X25519HkdfSha256;
type Kdf = HkdfSha256;
type Aead = AesGcm256;

/// Length of the HPKE encapsulated key `enc` for DHKEM(X25519, HKDF-SHA256).
pub const ENCAPSULATED_KEY_LEN: usize = 32;

/// Length of the AES-256-GCM tag that every ciphertext carries.
pub const TAG_LEN: usize = 16;

/// Why a key could not be sealed or opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SealError {
    /// The TEE public key is not usable for X25519: a low-order point, for which the
    /// Diffie-Hellman output is all zero (RFC 9180 section 7.1.4). THREATS.md P6.
    #[error("the TEE public key is invalid: X25519 with it yields the all-zero shared secret")]
    TeeKeyInvalid,
    /// The encapsulated key is not 32 bytes.
    #[error("the encapsulated key must be {ENCAPSULATED_KEY_LEN} bytes, got {0}")]
    EncapsulatedKeyLength(usize),
    /// Opening failed: the ciphertext, the encapsulated key, the nonce or the key id differs
    /// from what was sealed, or the key pair is not the one sealed to.
    #[error("the sealed key does not open with this TEE key, nonce and key id")]
    Open,
}

/// One key sealed to a TEE key.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedKey {
    /// HPKE `enc`.
    pub encapsulated_key: [u8; ENCAPSULATED_KEY_LEN],
    /// AES-256-GCM ciphertext of the key with its tag.
    pub ciphertext: Vec<u8>,
}

impl fmt::Debug for SealedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedKey")
            .field("encapsulated_key", &hex::encode(self.encapsulated_key))
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

/// Seals `plaintext` (a key's material) to `pk` for key `key_id` in the session of `nonce`,
/// with randomness from the operating system.
///
/// # Errors
///
/// [`SealError::TeeKeyInvalid`] when `pk` is a low-order X25519 point.
pub fn seal(
    pk: &TeePublicKey,
    nonce: &Nonce,
    key_id: &str,
    plaintext: &[u8],
) -> Result<SealedKey, SealError> {
    seal_with_rng(pk, nonce, key_id, plaintext, &mut UnwrapErr(OsRng))
}

/// [`seal`] with the caller's CSPRNG (deterministic tests).
///
/// # Errors
///
/// As [`seal`].
pub fn seal_with_rng<R: CryptoRng + RngCore>(
    pk: &TeePublicKey,
    nonce: &Nonce,
    key_id: &str,
    plaintext: &[u8],
    rng: &mut R,
) -> Result<SealedKey, SealError> {
    // Every 32-byte string decodes as an X25519 public key; bad points surface at encapsulation.
    let recipient = <Kem as KemTrait>::PublicKey::from_bytes(pk.as_bytes())
        .map_err(|_| SealError::TeeKeyInvalid)?;
    let info = key_release_info(nonce, key_id);
    let (enc, ciphertext) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
        &OpModeS::Base,
        &recipient,
        &info,
        plaintext,
        &[],
        rng,
    )
    .map_err(|_| SealError::TeeKeyInvalid)?;
    let mut encapsulated_key = [0; ENCAPSULATED_KEY_LEN];
    encapsulated_key.copy_from_slice(&enc.to_bytes());
    Ok(SealedKey {
        encapsulated_key,
        ciphertext,
    })
}

/// The agent's HPKE key pair, generated inside the TEE for one attestation. The private key is
/// zeroised when the pair is dropped and never leaves this value.
pub struct TeeKeyPair {
    private: <Kem as KemTrait>::PrivateKey,
    public: TeePublicKey,
}

impl fmt::Debug for TeeKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TeeKeyPair")
            .field("public", &self.public.to_hex())
            .finish_non_exhaustive()
    }
}

impl TeeKeyPair {
    /// A fresh key pair from the operating system's CSPRNG.
    pub fn generate() -> Self {
        Self::generate_with_rng(&mut UnwrapErr(OsRng))
    }

    /// A fresh key pair from the caller's CSPRNG.
    pub fn generate_with_rng<R: CryptoRng + RngCore>(rng: &mut R) -> Self {
        let (private, public) = Kem::gen_keypair(rng);
        let mut bytes = [0; TeePublicKey::LEN];
        bytes.copy_from_slice(&public.to_bytes());
        Self {
            private,
            public: TeePublicKey::from_bytes(bytes),
        }
    }

    /// The public key `pk` that goes into the evidence bundle and REPORT_DATA.
    pub fn public_key(&self) -> &TeePublicKey {
        &self.public
    }

    /// Opens a key sealed by [`seal`] for `key_id` in the session of `nonce`.
    ///
    /// # Errors
    ///
    /// [`SealError::EncapsulatedKeyLength`] for an `enc` that is not 32 bytes,
    /// [`SealError::Open`] when anything differs from what was sealed.
    pub fn open(
        &self,
        nonce: &Nonce,
        key_id: &str,
        encapsulated_key: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        if encapsulated_key.len() != ENCAPSULATED_KEY_LEN {
            return Err(SealError::EncapsulatedKeyLength(encapsulated_key.len()));
        }
        let enc = <Kem as KemTrait>::EncappedKey::from_bytes(encapsulated_key)
            .map_err(|_| SealError::Open)?;
        let info = key_release_info(nonce, key_id);
        hpke::single_shot_open::<Aead, Kdf, Kem>(
            &OpModeR::Base,
            &self.private,
            &enc,
            &info,
            ciphertext,
            &[],
        )
        .map(Zeroizing::new)
        .map_err(|_| SealError::Open)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce(b: u8) -> Nonce {
        Nonce::from_bytes([b; 32])
    }

    #[test]
    fn sealed_key_opens_only_in_its_session_for_its_key_id_and_pair() {
        let pair = TeeKeyPair::generate();
        let sealed = seal(pair.public_key(), &nonce(1), "model-a", b"secret key").unwrap();
        assert_eq!(sealed.ciphertext.len(), b"secret key".len() + TAG_LEN);
        let opened = pair
            .open(
                &nonce(1),
                "model-a",
                &sealed.encapsulated_key,
                &sealed.ciphertext,
            )
            .unwrap();
        assert_eq!(opened.as_slice(), b"secret key");
        assert!(!format!("{pair:?}").contains("private"));

        // Another session, another key id, another key pair, a flipped bit: all refused.
        let e = &sealed.encapsulated_key;
        let c = &sealed.ciphertext;
        assert_eq!(pair.open(&nonce(2), "model-a", e, c), Err(SealError::Open));
        assert_eq!(pair.open(&nonce(1), "model-b", e, c), Err(SealError::Open));
        let other = TeeKeyPair::generate();
        assert_eq!(other.open(&nonce(1), "model-a", e, c), Err(SealError::Open));
        let mut flipped = c.clone();
        flipped[0] ^= 1;
        assert_eq!(
            pair.open(&nonce(1), "model-a", e, &flipped),
            Err(SealError::Open)
        );
        assert_eq!(
            pair.open(&nonce(1), "model-a", &e[..31], c),
            Err(SealError::EncapsulatedKeyLength(31))
        );
    }

    #[test]
    fn low_order_tee_keys_are_refused() {
        // The all-zero point and the point of order 8 from RFC 7748 / Wycheproof x25519 tests.
        let zero = TeePublicKey::from_bytes([0; 32]);
        assert_eq!(
            seal(&zero, &nonce(1), "k", b"x").unwrap_err(),
            SealError::TeeKeyInvalid
        );
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!(
            seal(&TeePublicKey::from_bytes(one), &nonce(1), "k", b"x").unwrap_err(),
            SealError::TeeKeyInvalid
        );
    }
}
