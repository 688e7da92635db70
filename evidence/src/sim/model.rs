//! Simulated OpenSSF Model Signing (OMS) bundles: the key method (model-signing
//! `sign key`) and the certificate method (`sign certificate`), over payloads the caller
//! builds.
//!
//! [`sign_key_bundle`] writes the structure model-signing 1.x writes: a Sigstore bundle v0.3
//! with `verificationMaterial {publicKey {hint}, tlogEntries []}` and a DSSE envelope with one
//! signature whose `keyid` is `""`. [`ModelSigningCa`] is a generated root, an optional
//! intermediate and a code-signing leaf, with [`ModelCaOptions`] knobs for the negative
//! cases; [`sign_certificate_bundle`] writes `verificationMaterial {x509CertificateChain}`.
//! Everything is deterministic from a seed (keys from ChaCha20; ECDSA signatures are
//! RFC 6979).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine as _;
use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::{CryptoRngCore, SeedableRng};
use x509_cert::der::asn1::{BitString, GeneralizedTime, ObjectIdentifier, OctetString, UtcTime};
use x509_cert::der::{Decode, Encode};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use crate::UnixTime;
use crate::model::{Curve, MEDIA_TYPE_V03, PAYLOAD_TYPE, key_hint, pae, public_key_pem};

const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const OID_RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// basicConstraints cA TRUE.
const BASIC_CONSTRAINTS_CA: [u8; 5] = [0x30, 0x03, 0x01, 0x01, 0xFF];
/// keyUsage keyCertSign | cRLSign.
const KEY_USAGE_CA: [u8; 4] = [0x03, 0x02, 0x01, 0x06];
/// keyUsage digitalSignature.
const KEY_USAGE_LEAF: [u8; 4] = [0x03, 0x02, 0x07, 0x80];
/// extendedKeyUsage id-kp-codeSigning (1.3.6.1.5.5.7.3.3).
const EKU_CODE_SIGNING: [u8; 12] = [
    0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03,
];
/// extendedKeyUsage id-kp-serverAuth (1.3.6.1.5.5.7.3.1): a TLS certificate.
const EKU_SERVER_AUTH: [u8; 12] = [
    0x30, 0x0A, 0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01,
];

/// First instant that RFC 5280 section 4.1.2.5 requires in GeneralizedTime (2050-01-01).
const GENERALIZED_TIME_FROM: u64 = 2_524_608_000;
/// 2024-01-01: notBefore of the simulated CAs.
pub const CA_NOT_BEFORE: UnixTime = UnixTime(1_704_067_200);
/// 2034-01-01: notAfter of the simulated CAs.
pub const CA_NOT_AFTER: UnixTime = UnixTime(2_019_686_400);
/// 2025-01-01: default notBefore of the leaf, the signing time of its bundles.
pub const LEAF_NOT_BEFORE: UnixTime = UnixTime(1_735_689_600);

/// Why a simulated key or certificate could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelSimError {
    /// DER encoding failed.
    #[error("DER encoding failed: {0}")]
    Der(x509_cert::der::Error),
    /// A time outside 1970..=9999 cannot be written in a certificate.
    #[error("time {0} cannot be written in an X.509 certificate")]
    Time(UnixTime),
    /// A private key PEM is not PKCS#8 P-256, P-384 or P-521.
    #[error("private key is not a PKCS#8 PEM P-256, P-384 or P-521 key")]
    Key,
    /// RSA key generation or signing failed.
    #[error("RSA failed: {0}")]
    Rsa(String),
    /// A subject name does not parse.
    #[error("invalid name {0:?}")]
    Name(String),
}

impl From<x509_cert::der::Error> for ModelSimError {
    fn from(e: x509_cert::der::Error) -> Self {
        Self::Der(e)
    }
}

#[derive(Clone)]
enum KeyInner {
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    P521(p521::ecdsa::SigningKey),
}

/// An ECDSA model signing key (P-256, P-384 or P-521). Its `Debug` shows the curve and hint,
/// never the private key.
#[derive(Clone)]
pub struct ModelSigningKey(KeyInner);

impl fmt::Debug for ModelSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModelSigningKey")
            .field("curve", &self.curve())
            .field("hint", &self.hint())
            .finish_non_exhaustive()
    }
}

impl ModelSigningKey {
    /// A fresh key on `curve` from `rng`.
    pub fn generate(curve: Curve, rng: &mut impl CryptoRngCore) -> Self {
        Self(match curve {
            Curve::P384 => KeyInner::P384(p384::ecdsa::SigningKey::random(rng)),
            Curve::P521 => KeyInner::P521(p521::ecdsa::SigningKey::random(rng)),
            _ => KeyInner::P256(p256::ecdsa::SigningKey::random(rng)),
        })
    }

    /// A key on `curve` derived from `seed` (ChaCha20).
    pub fn from_seed(curve: Curve, seed: u64) -> Self {
        Self::generate(curve, &mut ChaCha20Rng::seed_from_u64(seed))
    }

    /// A key from a PKCS#8 `PRIVATE KEY` PEM (unencrypted), as `openssl genpkey` writes it.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, ModelSimError> {
        if let Ok(key) = p256::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self(KeyInner::P256(key)));
        }
        if let Ok(key) = p384::ecdsa::SigningKey::from_pkcs8_pem(pem) {
            return Ok(Self(KeyInner::P384(key)));
        }
        let secret = p521::SecretKey::from_pkcs8_pem(pem).map_err(|_| ModelSimError::Key)?;
        p521::ecdsa::SigningKey::from_bytes(&secret.to_bytes())
            .map(|key| Self(KeyInner::P521(key)))
            .map_err(|_| ModelSimError::Key)
    }

    /// The key's curve.
    pub fn curve(&self) -> Curve {
        match &self.0 {
            KeyInner::P256(_) => Curve::P256,
            KeyInner::P384(_) => Curve::P384,
            KeyInner::P521(_) => Curve::P521,
        }
    }

    /// The public key as SubjectPublicKeyInfo DER.
    pub fn public_key_der(&self) -> Vec<u8> {
        let der = match &self.0 {
            KeyInner::P256(k) => k.verifying_key().to_public_key_der(),
            KeyInner::P384(k) => k.verifying_key().to_public_key_der(),
            KeyInner::P521(k) => {
                p521::PublicKey::from_secret_scalar(k.as_nonzero_scalar()).to_public_key_der()
            }
        };
        der.map(|d| d.as_bytes().to_vec()).unwrap_or_default()
    }

    /// The public key in canonical PEM, as model-signing users distribute it.
    pub fn public_key_pem(&self) -> String {
        public_key_pem(&self.public_key_der())
    }

    /// The OMS hint of the public key.
    pub fn hint(&self) -> String {
        key_hint(&self.public_key_der())
    }

    /// ASN.1 DER ECDSA signature of `message` with the curve's hash (SHA-256/384/512).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        match &self.0 {
            KeyInner::P256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            KeyInner::P384(k) => {
                let sig: p384::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
            KeyInner::P521(k) => {
                let sig: p521::ecdsa::Signature = k.sign(message);
                sig.to_der().as_bytes().to_vec()
            }
        }
    }

    fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, ModelSimError> {
        Ok(SubjectPublicKeyInfoOwned::from_der(&self.public_key_der())?)
    }

    /// The certificate signature algorithm this key signs with.
    fn algorithm(&self) -> AlgorithmIdentifierOwned {
        let oid = match self.curve() {
            Curve::P384 => OID_ECDSA_SHA384,
            Curve::P521 => OID_ECDSA_SHA512,
            _ => OID_ECDSA_SHA256,
        };
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn envelope(payload: &[u8], signature: &[u8]) -> serde_json::Value {
    serde_json::json!({
        "payload": b64(payload),
        "payloadType": PAYLOAD_TYPE,
        "signatures": [{"sig": b64(signature), "keyid": ""}],
    })
}

/// A key-method bundle over `payload` (the statement JSON), signed by `key`, in
/// model-signing's structure.
pub fn sign_key_bundle(payload: &[u8], key: &ModelSigningKey) -> Vec<u8> {
    let bundle = serde_json::json!({
        "mediaType": MEDIA_TYPE_V03,
        "verificationMaterial": {"publicKey": {"hint": key.hint()}, "tlogEntries": []},
        "dsseEnvelope": envelope(payload, &key.sign(&pae(payload))),
    });
    format!("{bundle:#}").into_bytes()
}

/// A certificate-method bundle over `payload`, signed by `leaf`; `chain` is the DER
/// certificates written into the bundle, leaf first.
pub fn sign_certificate_bundle(
    payload: &[u8],
    leaf: &ModelSigningKey,
    chain: &[Vec<u8>],
) -> Vec<u8> {
    let certificates: Vec<_> = chain
        .iter()
        .map(|der| serde_json::json!({"rawBytes": b64(der)}))
        .collect();
    let bundle = serde_json::json!({
        "mediaType": MEDIA_TYPE_V03,
        "verificationMaterial": {
            "x509CertificateChain": {"certificates": certificates},
            "tlogEntries": [],
        },
        "dsseEnvelope": envelope(payload, &leaf.sign(&pae(payload))),
    });
    format!("{bundle:#}").into_bytes()
}

/// Knobs of a [`ModelSigningCa`]; `Default` is a valid root → intermediate → leaf chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCaOptions {
    /// Seed of every key.
    pub seed: u64,
    /// Whether an intermediate CA sits between root and leaf.
    pub intermediate: bool,
    /// Curve of the leaf key (the DSSE signing key).
    pub leaf_curve: Curve,
    /// The leaf's notBefore, the signing time.
    pub leaf_not_before: UnixTime,
    /// Negative case: the leaf's extendedKeyUsage is serverAuth, not codeSigning.
    pub leaf_not_code_signing: bool,
    /// Negative case: the leaf's issuer expired one second before the leaf's notBefore.
    pub issuer_expired_at_signing: bool,
    /// Negative case: the leaf is signed by a key other than its issuer's.
    pub leaf_signed_by_wrong_key: bool,
    /// The root is RSA-2048 signing with PKCS#1 v1.5 and SHA-256 instead of ECDSA P-384.
    pub rsa_root: bool,
    /// Negative case: the intermediate's extendedKeyUsage restricts it to serverAuth (a TLS
    /// CA), under which the code-signing leaf is issued.
    pub intermediate_tls_only: bool,
}

impl Default for ModelCaOptions {
    fn default() -> Self {
        Self {
            seed: 1,
            intermediate: true,
            leaf_curve: Curve::P256,
            leaf_not_before: LEAF_NOT_BEFORE,
            leaf_not_code_signing: false,
            issuer_expired_at_signing: false,
            leaf_signed_by_wrong_key: false,
            rsa_root: false,
            intermediate_tls_only: false,
        }
    }
}

/// A generated model-signing PKI: a P-384 (or RSA-2048) root, an optional P-256 intermediate
/// and a leaf.
#[derive(Debug, Clone)]
pub struct ModelSigningCa {
    root_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
    leaf: ModelSigningKey,
}

/// An X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
fn x509_time(t: UnixTime) -> Result<Time, ModelSimError> {
    let secs = u64::try_from(t.0).map_err(|_| ModelSimError::Time(t))?;
    let since_epoch = Duration::from_secs(secs);
    let time = if secs < GENERALIZED_TIME_FROM {
        UtcTime::from_unix_duration(since_epoch).map(Time::UtcTime)
    } else {
        GeneralizedTime::from_unix_duration(since_epoch).map(Time::GeneralTime)
    };
    time.map_err(|_| ModelSimError::Time(t))
}

fn name(text: &str) -> Result<Name, ModelSimError> {
    Name::from_str(text).map_err(|_| ModelSimError::Name(text.to_owned()))
}

fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: &[u8],
) -> Result<Extension, ModelSimError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value)?,
    })
}

/// The key of an issuing CA.
enum CaKey {
    Ec(ModelSigningKey),
    Rsa(rsa::RsaPrivateKey),
}

impl CaKey {
    fn spki(&self) -> Result<SubjectPublicKeyInfoOwned, ModelSimError> {
        match self {
            Self::Ec(key) => key.spki(),
            Self::Rsa(key) => {
                let der = EncodePublicKey::to_public_key_der(&key.to_public_key())
                    .map_err(|e| ModelSimError::Rsa(e.to_string()))?;
                Ok(SubjectPublicKeyInfoOwned::from_der(der.as_bytes())?)
            }
        }
    }

    fn algorithm(&self) -> AlgorithmIdentifierOwned {
        match self {
            Self::Ec(key) => key.algorithm(),
            // RFC 4055: sha256WithRSAEncryption with NULL parameters.
            Self::Rsa(_) => AlgorithmIdentifierOwned {
                oid: OID_RSA_SHA256,
                parameters: Some(x509_cert::der::Any::null()),
            },
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        use rsa::signature::{SignatureEncoding, Signer};
        match self {
            Self::Ec(key) => key.sign(message),
            Self::Rsa(key) => rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone())
                .sign(message)
                .to_vec(),
        }
    }
}

/// One certificate to issue.
struct Issue<'a> {
    serial: u8,
    subject: &'a Name,
    key: &'a CaKey,
    not_before: UnixTime,
    not_after: UnixTime,
    extensions: Vec<Extension>,
}

fn issue(
    cert: Issue<'_>,
    issuer_name: &Name,
    issuer_key: &CaKey,
) -> Result<Vec<u8>, ModelSimError> {
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[cert.serial])?,
        signature: issuer_key.algorithm(),
        issuer: issuer_name.clone(),
        validity: Validity {
            not_before: x509_time(cert.not_before)?,
            not_after: x509_time(cert.not_after)?,
        },
        subject: cert.subject.clone(),
        subject_public_key_info: cert.key.spki()?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(cert.extensions),
    };
    let signature = issuer_key.sign(&tbs.to_der()?);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: issuer_key.algorithm(),
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(cert.to_der()?)
}

impl ModelSigningCa {
    /// Generates the hierarchy described by `options`.
    pub fn generate(options: &ModelCaOptions) -> Result<Self, ModelSimError> {
        let mut rng = ChaCha20Rng::seed_from_u64(options.seed);
        let root_key = CaKey::Ec(ModelSigningKey::generate(Curve::P384, &mut rng));
        let ca_key = CaKey::Ec(ModelSigningKey::generate(Curve::P256, &mut rng));
        let leaf = ModelSigningKey::generate(options.leaf_curve, &mut rng);
        let wrong_key = CaKey::Ec(ModelSigningKey::generate(Curve::P256, &mut rng));
        let root_key = if options.rsa_root {
            let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
                .map_err(|e| ModelSimError::Rsa(e.to_string()))?;
            CaKey::Rsa(key)
        } else {
            root_key
        };
        let leaf_cert_key = CaKey::Ec(leaf.clone());
        let root_name = name("CN=Warden Simulated Model Signing Root,O=Warden Simulation")?;
        let ca_name = name("CN=Warden Simulated Model Signing CA,O=Warden Simulation")?;
        let leaf_name = name("CN=model-publisher@warden-sim.invalid,O=Warden Simulated Publisher")?;
        let ca_exts = || -> Result<Vec<Extension>, ModelSimError> {
            Ok(vec![
                extension(OID_BASIC_CONSTRAINTS, true, &BASIC_CONSTRAINTS_CA)?,
                extension(OID_KEY_USAGE, true, &KEY_USAGE_CA)?,
            ])
        };
        let issuer_not_after = if options.issuer_expired_at_signing {
            UnixTime(options.leaf_not_before.0.saturating_sub(1))
        } else {
            CA_NOT_AFTER
        };
        let root_der = issue(
            Issue {
                serial: 1,
                subject: &root_name,
                key: &root_key,
                not_before: CA_NOT_BEFORE,
                not_after: if options.intermediate {
                    CA_NOT_AFTER
                } else {
                    issuer_not_after
                },
                extensions: ca_exts()?,
            },
            &root_name,
            &root_key,
        )?;
        let mut chain = Vec::new();
        let (leaf_issuer_name, leaf_issuer_key) = if options.intermediate {
            chain.push(issue(
                Issue {
                    serial: 2,
                    subject: &ca_name,
                    key: &ca_key,
                    not_before: CA_NOT_BEFORE,
                    not_after: issuer_not_after,
                    extensions: {
                        let mut exts = ca_exts()?;
                        if options.intermediate_tls_only {
                            exts.push(extension(OID_EKU, false, &EKU_SERVER_AUTH)?);
                        }
                        exts
                    },
                },
                &root_name,
                &root_key,
            )?);
            (&ca_name, &ca_key)
        } else {
            (&root_name, &root_key)
        };
        let eku: &[u8] = if options.leaf_not_code_signing {
            &EKU_SERVER_AUTH
        } else {
            &EKU_CODE_SIGNING
        };
        let leaf_der = issue(
            Issue {
                serial: 3,
                subject: &leaf_name,
                key: &leaf_cert_key,
                not_before: options.leaf_not_before,
                not_after: UnixTime(options.leaf_not_before.0.saturating_add(365 * 86_400)),
                extensions: vec![
                    extension(OID_KEY_USAGE, true, &KEY_USAGE_LEAF)?,
                    extension(OID_EKU, false, eku)?,
                ],
            },
            leaf_issuer_name,
            if options.leaf_signed_by_wrong_key {
                &wrong_key
            } else {
                leaf_issuer_key
            },
        )?;
        chain.insert(0, leaf_der);
        Ok(Self {
            root_der,
            chain,
            leaf,
        })
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// The root certificate, PEM.
    pub fn root_pem(&self) -> String {
        let b64 = b64(&self.root_der);
        let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
        out
    }

    /// The chain a bundle carries: leaf, then the intermediate if any (not the root).
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The leaf's key, which signs bundles.
    pub fn leaf(&self) -> &ModelSigningKey {
        &self.leaf
    }

    /// A certificate-method bundle over `payload` with this hierarchy's leaf and chain.
    pub fn sign_bundle(&self, payload: &[u8]) -> Vec<u8> {
        sign_certificate_bundle(payload, &self.leaf, &self.chain)
    }
}
