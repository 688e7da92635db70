//! The Sigstore bundle v0.3 that carries an OMS signature: parsing only, no verification.
//!
//! Wire format: Sigstore `protobuf-specs` `dev.sigstore.bundle.v1.Bundle` (media type
//! `application/vnd.dev.sigstore.bundle.v0.3+json`) in protobuf JSON, as model-signing 1.x
//! writes it (`_signing/sign_sigstore_pb.py`). Unknown members are tolerated, because Sigstore
//! adds fields between minor versions; a known member given twice is refused (serde rejects
//! duplicate fields), so no member can mean two things.

use base64::Engine as _;
use serde::Deserialize;

use super::statement::Statement;
use super::{MAX_BUNDLE_LEN, ModelSignatureError, PAYLOAD_TYPE};

/// Media type of a Sigstore bundle v0.3, as model-signing writes it.
pub const MEDIA_TYPE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// The older spelling of the same media type, still accepted by Sigstore clients.
pub const MEDIA_TYPE_V03_PARAM: &str = "application/vnd.dev.sigstore.bundle+json;version=0.3";

/// `dev.sigstore.bundle.v1.Bundle` (protobuf-specs, bundle v0.3), protobuf JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: Option<RawMaterial>,
    dsse_envelope: Option<RawEnvelope>,
}

/// `dev.sigstore.bundle.v1.VerificationMaterial`: the `content` oneof (`tlogEntries` and
/// `timestampVerificationData` are ignored: neither method here uses them).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    public_key: Option<RawPublicKey>,
    x509_certificate_chain: Option<RawChain>,
    certificate: Option<RawCertificate>,
}

/// `dev.sigstore.common.v1.PublicKeyIdentifier`.
#[derive(Deserialize)]
struct RawPublicKey {
    hint: Option<String>,
}

/// `dev.sigstore.common.v1.X509CertificateChain`.
#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCertificate>,
}

/// `dev.sigstore.common.v1.X509Certificate`: base64 DER.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCertificate {
    raw_bytes: String,
}

/// `io.intoto.Envelope` (DSSE v1.0).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload: String,
    payload_type: String,
    signatures: Vec<RawSignature>,
}

/// `io.intoto.Signature` (DSSE v1.0).
#[derive(Deserialize)]
struct RawSignature {
    sig: String,
    // `keyid` is tolerated and ignored: model-signing writes "" and the key is chosen by the
    // bundle's hint or the configured keys, never by this unsigned field.
}

/// How the bundle says its signature is to be checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerificationMaterial {
    /// The key method: a configured public key, named by the SHA-256 of its PEM text.
    PublicKey {
        /// Lowercase hex hint, or `None` for pre-1.1 bundles without one (an empty hint
        /// counts as none).
        hint: Option<String>,
    },
    /// The certificate method: DER certificates, leaf first, then its issuers.
    CertificateChain {
        /// The certificates, leaf first.
        certificates: Vec<Vec<u8>>,
    },
}

/// A parsed, unverified OMS signature bundle: the DSSE payload, its one signature and the
/// verification material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureBundle {
    payload: Vec<u8>,
    signature: Vec<u8>,
    material: VerificationMaterial,
}

fn b64(field: &'static str, text: &str) -> Result<Vec<u8>, ModelSignatureError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ModelSignatureError::Base64 { field })
}

impl SignatureBundle {
    /// Parses a bundle (the `model.sig` file) of at most [`MAX_BUNDLE_LEN`] bytes.
    ///
    /// Checks, in order: size, JSON shape, media type, the DSSE envelope (present, in-toto
    /// payload type, exactly one signature, base64), then the verification material: exactly
    /// one of `publicKey`, `x509CertificateChain` (non-empty) and `certificate`, the last one
    /// refused as [`ModelSignatureError::KeylessUnsupported`].
    pub fn parse(bytes: &[u8]) -> Result<Self, ModelSignatureError> {
        if bytes.len() > MAX_BUNDLE_LEN {
            return Err(ModelSignatureError::TooLarge {
                len: bytes.len(),
                max: MAX_BUNDLE_LEN,
            });
        }
        let raw: RawBundle =
            serde_json::from_slice(bytes).map_err(|e| ModelSignatureError::Json {
                what: "bundle",
                reason: e.to_string(),
            })?;
        if raw.media_type != MEDIA_TYPE_V03 && raw.media_type != MEDIA_TYPE_V03_PARAM {
            return Err(ModelSignatureError::MediaType {
                value: raw.media_type,
            });
        }
        let envelope = raw.dsse_envelope.ok_or(ModelSignatureError::NoEnvelope)?;
        if envelope.payload_type != PAYLOAD_TYPE {
            return Err(ModelSignatureError::PayloadType {
                value: envelope.payload_type,
            });
        }
        let [signature] = envelope.signatures.as_slice() else {
            return Err(ModelSignatureError::SignatureCount {
                count: envelope.signatures.len(),
            });
        };
        let payload = b64("dsseEnvelope.payload", &envelope.payload)?;
        let signature = b64("dsseEnvelope.signatures[0].sig", &signature.sig)?;
        let material = raw
            .verification_material
            .ok_or(ModelSignatureError::VerificationMaterial)?;
        let material = match (
            material.public_key,
            material.x509_certificate_chain,
            material.certificate,
        ) {
            (Some(key), None, None) => VerificationMaterial::PublicKey {
                hint: key.hint.filter(|h| !h.is_empty()),
            },
            (None, Some(chain), None) => {
                if chain.certificates.is_empty() {
                    return Err(ModelSignatureError::VerificationMaterial);
                }
                let certificates = chain
                    .certificates
                    .iter()
                    .map(|c| b64("x509CertificateChain.certificates[].rawBytes", &c.raw_bytes))
                    .collect::<Result<_, _>>()?;
                VerificationMaterial::CertificateChain { certificates }
            }
            (None, None, Some(_)) => return Err(ModelSignatureError::KeylessUnsupported),
            _ => return Err(ModelSignatureError::VerificationMaterial),
        };
        Ok(Self {
            payload,
            signature,
            material,
        })
    }

    /// The DSSE payload bytes (the in-toto statement JSON) exactly as signed.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The DSSE signature (ASN.1 DER ECDSA).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The verification material.
    pub fn material(&self) -> &VerificationMaterial {
        &self.material
    }

    /// The statement, parsed and checked (see [`Statement`]) but NOT authenticated: use it to
    /// learn what a bundle claims (the agent's expected manifest); trust it only through
    /// [`super::verify`].
    pub fn statement(&self) -> Result<Statement, ModelSignatureError> {
        Statement::parse(&self.payload)
    }
}

/// DSSE v1 pre-authentication encoding of an in-toto payload:
/// `DSSEv1 <len(type)> <type> <len(payload)> <payload>`, lengths in ASCII decimal.
///
/// model-signing retries a failing signature over `pae_compat`, the Python bytes repr of the
/// payload that v0.2 signed by mistake; that path is deliberately not implemented, so bundles
/// from model-signing before 1.0 do not verify.
pub fn pae(payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        PAYLOAD_TYPE.len(),
        PAYLOAD_TYPE,
        payload.len()
    );
    let mut out = Vec::with_capacity(header.len().saturating_add(payload.len()));
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_layout() {
        assert_eq!(
            pae(b"{}"),
            b"DSSEv1 28 application/vnd.in-toto+json 2 {}".to_vec()
        );
        assert_eq!(
            pae(b""),
            b"DSSEv1 28 application/vnd.in-toto+json 0 ".to_vec()
        );
    }
}
