//! Trusted model signers: public keys for the key method, certificate roots for the
//! certificate method.

use base64::Engine as _;
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::ModelSignatureError;

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_P384: &str = "1.3.132.0.34";
const OID_P521: &str = "1.3.132.0.35";

/// An ECDSA curve OMS signs with; the DSSE signature hash follows the curve
/// (model-signing `_signing/sign_ec_key.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Curve {
    /// secp256r1, signing with SHA-256.
    P256,
    /// secp384r1, signing with SHA-384.
    P384,
    /// secp521r1, signing with SHA-512.
    P521,
}

impl Curve {
    /// The curve's usual name, `P-256`, `P-384` or `P-521`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::P256 => "P-256",
            Self::P384 => "P-384",
            Self::P521 => "P-521",
        }
    }

    /// Length of an uncompressed SEC1 point.
    const fn point_len(self) -> usize {
        match self {
            Self::P256 => 65,
            Self::P384 => 97,
            Self::P521 => 133,
        }
    }

    /// Verifies an ASN.1 DER ECDSA signature over `message`, hashed with the curve's hash.
    pub(crate) fn verify(self, point: &[u8], message: &[u8], der_sig: &[u8]) -> bool {
        use ring::signature::{ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, UnparsedPublicKey};
        match self {
            Self::P256 => UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, point)
                .verify(message, der_sig)
                .is_ok(),
            Self::P384 => UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, point)
                .verify(message, der_sig)
                .is_ok(),
            Self::P521 => {
                use p521::ecdsa::signature::Verifier;
                let Ok(key) = p521::ecdsa::VerifyingKey::from_sec1_bytes(point) else {
                    return false;
                };
                let Ok(sig) = p521::ecdsa::Signature::from_der(der_sig) else {
                    return false;
                };
                key.verify(message, &sig).is_ok()
            }
        }
    }
}

/// The curve and uncompressed point of an ECDSA SubjectPublicKeyInfo (P-256/384/521).
pub(crate) fn ec_key(
    spki: &SubjectPublicKeyInfo<'_>,
) -> Result<(Curve, Vec<u8>), ModelSignatureError> {
    let unsupported = |reason| ModelSignatureError::UnsupportedKey { reason };
    if spki.algorithm.algorithm.to_id_string() != OID_EC_PUBLIC_KEY {
        return Err(unsupported("not an elliptic-curve key"));
    }
    let curve = crate::x509::ec_curve_oid(spki);
    let curve = match curve.as_deref() {
        Some(OID_P256) => Curve::P256,
        Some(OID_P384) => Curve::P384,
        Some(OID_P521) => Curve::P521,
        _ => return Err(unsupported("curve is not P-256, P-384 or P-521")),
    };
    let point = spki.subject_public_key.data.to_vec();
    if point.len() != curve.point_len() || point.first() != Some(&0x04) {
        return Err(unsupported("public key is not an uncompressed point"));
    }
    Ok((curve, point))
}

/// The bodies of the PEM blocks labelled `label` in `text` (RFC 7468 strict: nothing but
/// whitespace outside the blocks, padded standard base64 inside).
pub(crate) fn pem_blocks(text: &str, label: &str) -> Option<Vec<Vec<u8>>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        match body.as_mut() {
            None if line.is_empty() => {}
            None if line == begin => body = Some(String::new()),
            None => return None,
            Some(b64) if line == end => {
                out.push(
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.as_bytes())
                        .ok()?,
                );
                body = None;
            }
            Some(_) if line.starts_with("-----") => return None,
            Some(b64) => b64.push_str(line),
        }
    }
    (body.is_none() && !out.is_empty()).then_some(out)
}

/// The canonical PEM text of a SubjectPublicKeyInfo, as model-signing (Python
/// `cryptography`, OpenSSL) writes it: `-----BEGIN PUBLIC KEY-----\n`, base64 of the DER in
/// 64-column lines, `-----END PUBLIC KEY-----\n`.
pub fn public_key_pem(spki_der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(spki_der);
    let mut out = String::from("-----BEGIN PUBLIC KEY-----\n");
    let mut rest = b64.as_str();
    while !rest.is_empty() {
        // base64 is ASCII, so every index is a char boundary.
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out.push_str("-----END PUBLIC KEY-----\n");
    out
}

/// The OMS key hint of a public key: lowercase hex SHA-256 of its canonical PEM text
/// ([`public_key_pem`]).
pub fn key_hint(spki_der: &[u8]) -> String {
    hex::encode(Sha256::digest(public_key_pem(spki_der).as_bytes()))
}

/// A configured signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TrustedKey {
    pub(crate) hint: String,
    pub(crate) curve: Curve,
    pub(crate) point: Vec<u8>,
}

/// The signers a verifier trusts: public keys (key method) and certificate roots
/// (certificate method). Keyless Sigstore signing is not supported.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSigners {
    pub(crate) keys: Vec<TrustedKey>,
    pub(crate) roots: Vec<Vec<u8>>,
}

impl ModelSigners {
    /// No trusted signer: every bundle is refused until one is added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts an ECDSA P-256, P-384 or P-521 public key given as a `PUBLIC KEY` PEM block
    /// (SubjectPublicKeyInfo). Returns its OMS hint.
    pub fn add_public_key_pem(&mut self, pem: &str) -> Result<String, ModelSignatureError> {
        let der = match pem_blocks(pem, "PUBLIC KEY").as_deref() {
            Some([der]) => der.clone(),
            _ => {
                return Err(ModelSignatureError::UnsupportedKey {
                    reason: "not exactly one PUBLIC KEY PEM block",
                });
            }
        };
        self.add_public_key_der(&der)
    }

    /// Trusts an ECDSA P-256, P-384 or P-521 public key given as SubjectPublicKeyInfo DER.
    /// Returns its OMS hint.
    pub fn add_public_key_der(&mut self, spki_der: &[u8]) -> Result<String, ModelSignatureError> {
        let Ok(([], spki)) = SubjectPublicKeyInfo::from_der(spki_der) else {
            return Err(ModelSignatureError::UnsupportedKey {
                reason: "not a DER SubjectPublicKeyInfo",
            });
        };
        let (curve, point) = ec_key(&spki)?;
        let hint = key_hint(spki_der);
        if !self.keys.iter().any(|k| k.hint == hint) {
            self.keys.push(TrustedKey {
                hint: hint.clone(),
                curve,
                point,
            });
        }
        Ok(hint)
    }

    /// Trusts a root certificate (one `CERTIFICATE` PEM block) for the certificate method.
    pub fn add_root_pem(&mut self, pem: &str) -> Result<(), ModelSignatureError> {
        match pem_blocks(pem, "CERTIFICATE").as_deref() {
            Some([der]) => self.add_root_der(der),
            _ => Err(ModelSignatureError::InvalidRoot {
                reason: "not exactly one CERTIFICATE PEM block",
            }),
        }
    }

    /// Trusts a DER root certificate for the certificate method. Roots are trust anchors:
    /// their own validity and CA flags are checked at verification, their signature is not.
    pub fn add_root_der(&mut self, der: &[u8]) -> Result<(), ModelSignatureError> {
        match X509Certificate::from_der(der) {
            Ok(([], _)) => {
                if !self.roots.iter().any(|r| r == der) {
                    self.roots.push(der.to_vec());
                }
                Ok(())
            }
            _ => Err(ModelSignatureError::InvalidRoot {
                reason: "not a DER X.509 certificate",
            }),
        }
    }

    /// The hints of the configured keys, in the order added.
    pub fn key_hints(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.hint.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn canonical_pem_wraps_at_64_columns() {
        let pem = public_key_pem(&[0xAB; 100]);
        let lines: Vec<&str> = pem.lines().collect();
        assert_eq!(lines.first(), Some(&"-----BEGIN PUBLIC KEY-----"));
        assert_eq!(lines.last(), Some(&"-----END PUBLIC KEY-----"));
        assert_eq!(lines.len(), 5);
        assert_eq!(lines.get(1).map(|l| l.len()), Some(64));
        assert_eq!(lines.get(3).map(|l| l.len()), Some(8));
        assert!(pem.ends_with("-----\n"));
        assert_eq!(pem_blocks(&pem, "PUBLIC KEY"), Some(vec![vec![0xAB; 100]]));
        assert_eq!(
            key_hint(&[0xAB; 100]),
            hex::encode(Sha256::digest(pem.as_bytes()))
        );
    }

    #[test]
    fn pem_blocks_are_strict() {
        let pem = public_key_pem(&[1, 2, 3]);
        assert_eq!(
            pem_blocks(&pem.replace('\n', "\r\n"), "PUBLIC KEY"),
            Some(vec![vec![1, 2, 3]])
        );
        assert_eq!(pem_blocks(&format!("junk\n{pem}"), "PUBLIC KEY"), None);
        assert_eq!(pem_blocks(&pem, "CERTIFICATE"), None);
        assert_eq!(
            pem_blocks(
                pem.trim_end_matches("-----END PUBLIC KEY-----\n"),
                "PUBLIC KEY"
            ),
            None
        );
        assert_eq!(pem_blocks(&pem.replace("AQID", "AQI!"), "PUBLIC KEY"), None);
        assert_eq!(pem_blocks("", "PUBLIC KEY"), None);
    }
}
