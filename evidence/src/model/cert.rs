//! The certificate method (model-signing `sign certificate`): an X.509 chain in the bundle,
//! leaf first, validated to a configured root.
//!
//! Differences from model-signing 1.1.1, which hands the chain to a pyOpenSSL `X509Store`:
//! * Validity. There is no timestamp in the bundle, so 1.1.1 validates every certificate at
//!   the leaf's notBefore, the only signing time the bundle offers. This does the same, and
//!   also refuses a leaf whose notBefore is after the verification time `now`. Expiry
//!   relative to `now` is therefore not checked: a signature stays valid after its
//!   certificate expires, as with code signing.
//! * Leaf profile. 1.1.1 accepts a leaf with keyUsage digitalSignature OR extendedKeyUsage
//!   codeSigning. This requires extendedKeyUsage codeSigning (anyExtendedKeyUsage does not
//!   count), and digitalSignature when keyUsage is present: a TLS or e-mail certificate from
//!   the same CA cannot sign models.
//! * Path building. The bundle's certificates must be in issuing order (leaf, then its
//!   issuer, ...); the last one is either a configured root (byte for byte) or issued by
//!   one. No other path is searched.
//! * Algorithms: ECDSA P-256/P-384 with SHA-256/384 (and P-521 with SHA-512) and RSA
//!   PKCS#1 v1.5 (2048 to 8192 bits) with SHA-256/384/512. RSA-PSS is not supported. The leaf
//!   key signs the DSSE payload and must be ECDSA P-256, P-384 or P-521.

use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::SubjectPublicKeyInfo;

use super::ModelSignatureError;
use super::keys::{Curve, ec_key};
use crate::UnixTime;

/// Most certificates a bundle's chain may hold.
pub const MAX_CHAIN_LEN: usize = 8;

const OID_RSA: &str = "1.2.840.113549.1.1.1";
const OID_ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
const OID_RSA_SHA256: &str = "1.2.840.113549.1.1.11";
const OID_RSA_SHA384: &str = "1.2.840.113549.1.1.12";
const OID_RSA_SHA512: &str = "1.2.840.113549.1.1.13";

/// Extensions that may be critical: the ones checked here, and subjectAltName (informational).
const KNOWN_CRITICAL: [&str; 4] = ["2.5.29.15", "2.5.29.19", "2.5.29.37", "2.5.29.17"];

/// What the certificate method keeps of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedLeaf {
    pub(crate) curve: Curve,
    pub(crate) point: Vec<u8>,
    pub(crate) subject: String,
    pub(crate) issuer: String,
    pub(crate) serial: String,
    pub(crate) not_before: UnixTime,
    pub(crate) root_sha256: String,
}

fn parse(index: usize, der: &[u8]) -> Result<X509Certificate<'_>, ModelSignatureError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        _ => Err(ModelSignatureError::Certificate {
            index,
            reason: "not a DER X.509 certificate",
        }),
    }
}

/// Whether `cert`'s signature verifies with `issuer`'s key. `Err` for an algorithm or key
/// outside the profile.
fn signed_by(
    index: usize,
    cert: &X509Certificate<'_>,
    issuer: &SubjectPublicKeyInfo<'_>,
) -> Result<bool, ModelSignatureError> {
    use ring::signature as rs;
    let bad = |reason| ModelSignatureError::Certificate { index, reason };
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return Err(bad("outer and inner signature algorithms differ"));
    }
    let message = cert.tbs_certificate.as_ref();
    let signature = cert.signature_value.data.as_ref();
    let algorithm = cert.signature_algorithm.algorithm.to_id_string();
    let key = issuer.subject_public_key.data.as_ref();
    if issuer.algorithm.algorithm.to_id_string() == OID_RSA {
        let alg: &dyn rs::VerificationAlgorithm = match algorithm.as_str() {
            OID_RSA_SHA256 => &rs::RSA_PKCS1_2048_8192_SHA256,
            OID_RSA_SHA384 => &rs::RSA_PKCS1_2048_8192_SHA384,
            OID_RSA_SHA512 => &rs::RSA_PKCS1_2048_8192_SHA512,
            _ => {
                return Err(bad(
                    "signature algorithm does not match the issuer's RSA key",
                ));
            }
        };
        return Ok(rs::UnparsedPublicKey::new(alg, key)
            .verify(message, signature)
            .is_ok());
    }
    let (curve, point) = ec_key(issuer).map_err(|_| bad("issuer key is not ECDSA or RSA"))?;
    let alg: &dyn rs::VerificationAlgorithm = match (curve, algorithm.as_str()) {
        (Curve::P256, OID_ECDSA_SHA256) => &rs::ECDSA_P256_SHA256_ASN1,
        (Curve::P256, OID_ECDSA_SHA384) => &rs::ECDSA_P256_SHA384_ASN1,
        (Curve::P384, OID_ECDSA_SHA256) => &rs::ECDSA_P384_SHA256_ASN1,
        (Curve::P384, OID_ECDSA_SHA384) => &rs::ECDSA_P384_SHA384_ASN1,
        (Curve::P521, OID_ECDSA_SHA512) => {
            return Ok(Curve::P521.verify(&point, message, signature));
        }
        _ => {
            return Err(bad(
                "signature algorithm does not match the issuer's EC key",
            ));
        }
    };
    Ok(rs::UnparsedPublicKey::new(alg, &point)
        .verify(message, signature)
        .is_ok())
}

/// Profile checks: critical extensions, CA flags on issuers, code signing on the leaf.
fn check_profile(index: usize, cert: &X509Certificate<'_>) -> Result<(), ModelSignatureError> {
    let bad = |reason| ModelSignatureError::Certificate { index, reason };
    for ext in cert.extensions() {
        if ext.critical && !KNOWN_CRITICAL.contains(&ext.oid.to_id_string().as_str()) {
            return Err(bad("unknown critical extension"));
        }
    }
    let key_usage = cert
        .key_usage()
        .map_err(|_| bad("malformed or duplicated keyUsage"))?;
    let basic = cert
        .basic_constraints()
        .map_err(|_| bad("malformed or duplicated basicConstraints"))?;
    if index == 0 {
        let eku = cert
            .extended_key_usage()
            .map_err(|_| bad("malformed or duplicated extendedKeyUsage"))?;
        if !eku.is_some_and(|e| e.value.code_signing) {
            return Err(ModelSignatureError::NotCodeSigning {
                reason: "no extendedKeyUsage codeSigning",
            });
        }
        if key_usage.is_some_and(|ku| !ku.value.digital_signature()) {
            return Err(ModelSignatureError::NotCodeSigning {
                reason: "keyUsage lacks digitalSignature",
            });
        }
        return Ok(());
    }
    if !basic.as_ref().is_some_and(|bc| bc.value.ca) {
        return Err(bad("issuer is not a CA (basicConstraints)"));
    }
    if key_usage.is_some_and(|ku| !ku.value.key_cert_sign()) {
        return Err(bad("issuer keyUsage lacks keyCertSign"));
    }
    // An issuer restricted by extendedKeyUsage (to TLS, say) does not vouch for code signing.
    let issuer_eku = cert
        .extended_key_usage()
        .map_err(|_| bad("malformed or duplicated extendedKeyUsage"))?;
    if issuer_eku.is_some_and(|e| !e.value.code_signing && !e.value.any) {
        return Err(ModelSignatureError::NotCodeSigning {
            reason: "an issuer's extendedKeyUsage excludes codeSigning",
        });
    }
    // pathLenConstraint counts the CA certificates below this one, the leaf excluded.
    let below = index.saturating_sub(1);
    if let Some(limit) = basic.and_then(|bc| bc.value.path_len_constraint)
        && usize::try_from(limit).is_ok_and(|limit| below > limit)
    {
        return Err(bad("pathLenConstraint exceeded"));
    }
    Ok(())
}

fn valid_at(cert: &X509Certificate<'_>, at: UnixTime) -> bool {
    let v = cert.validity();
    v.not_before.timestamp() <= at.0 && at.0 <= v.not_after.timestamp()
}

/// Verifies `chain` (leaf first) to one of `roots`, at the leaf's notBefore, which must not be
/// after `now`. Certificate indexes in errors count from the leaf; the configured root, when
/// not in the bundle, has index `chain.len()`.
pub(crate) fn verify_chain(
    chain: &[Vec<u8>],
    roots: &[Vec<u8>],
    now: UnixTime,
) -> Result<VerifiedLeaf, ModelSignatureError> {
    if chain.len() > MAX_CHAIN_LEN {
        return Err(ModelSignatureError::Certificate {
            index: MAX_CHAIN_LEN,
            reason: "certificate chain is too long",
        });
    }
    let mut path = chain
        .iter()
        .enumerate()
        .map(|(index, der)| parse(index, der))
        .collect::<Result<Vec<_>, _>>()?;
    let (Some(leaf), Some(last)) = (path.first(), path.last()) else {
        return Err(ModelSignatureError::VerificationMaterial);
    };
    let signing_time = UnixTime(leaf.validity().not_before.timestamp());
    if signing_time > now {
        return Err(ModelSignatureError::SignedInFuture {
            not_before: signing_time,
            now,
        });
    }
    let last_index = path.len().saturating_sub(1);
    // The anchor: the last bundle certificate itself when it is a configured root, else the
    // configured root that issued it.
    let root_der = match chain.last().filter(|der| roots.contains(der)) {
        Some(der) => der.clone(),
        None => {
            let mut anchor = None;
            for der in roots {
                let Ok(([], root)) = X509Certificate::from_der(der) else {
                    continue;
                };
                if root.subject().as_raw() == last.issuer().as_raw()
                    && signed_by(last_index, last, root.public_key()).unwrap_or(false)
                {
                    anchor = Some(der.clone());
                    break;
                }
            }
            anchor.ok_or(ModelSignatureError::ChainUntrusted)?
        }
    };
    let root_sha256 = hex::encode(Sha256::digest(&root_der));
    if chain.last() != Some(&root_der) {
        path.push(parse(path.len(), &root_der)?);
    }

    for (index, cert) in path.iter().enumerate() {
        if !valid_at(cert, signing_time) {
            return Err(ModelSignatureError::CertificateValidity {
                index,
                at: signing_time,
            });
        }
        check_profile(index, cert)?;
        // The root is a trust anchor: its own signature is not checked.
        let Some(issuer) = path.get(index.saturating_add(1)) else {
            continue;
        };
        if cert.issuer().as_raw() != issuer.subject().as_raw() {
            return Err(ModelSignatureError::Certificate {
                index,
                reason: "issuer name is not the next certificate's subject",
            });
        }
        if !signed_by(index, cert, issuer.public_key())? {
            return Err(ModelSignatureError::ChainSignature { index });
        }
    }

    let leaf = path
        .first()
        .ok_or(ModelSignatureError::VerificationMaterial)?;
    let (curve, point) = ec_key(leaf.public_key())?;
    Ok(VerifiedLeaf {
        curve,
        point,
        subject: leaf.subject().to_string(),
        issuer: leaf.issuer().to_string(),
        serial: hex::encode(leaf.raw_serial()),
        not_before: signing_time,
        root_sha256,
    })
}
