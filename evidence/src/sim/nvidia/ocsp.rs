//! A simulated NVIDIA OCSP responder: a delegated responder certificate (`id-kp-OCSPSigning`)
//! issued by a generated root, and DER `OCSPResponse`s for any certificate of that hierarchy,
//! with deliberate defects for negative tests (THREATS G5: a fake responder).

use std::time::Duration;

use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, SigningKey};
use rand_chacha::rand_core::RngCore;
use x509_cert::der::asn1::{BitString, GeneralizedTime, Null, ObjectIdentifier, OctetString};
use x509_cert::der::{Any, Decode, Encode};
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, ExtendedKeyUsage, SubjectKeyIdentifier};
use x509_cert::name::RdnSequence;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_cert::time::Validity;
use x509_cert::{Certificate, TbsCertificate, Version};
use x509_ocsp::{
    BasicOcspResponse, CertId, CertStatus, OcspGeneralizedTime, OcspResponse, OcspResponseStatus,
    ResponderId, ResponseBytes, ResponseData, RevokedInfo, SingleResponse,
};

use super::cert;
use super::{derive_rng, positive};
use crate::UnixTime;
use crate::nvidia::ocsp::nonce_extension;
use crate::sim::snp::SimError;

const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");
const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_OCSP_NOCHECK: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.5");
const OID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");
const OID_KP_SERVER_AUTH: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.1");
const OID_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
/// keyUsage digitalSignature.
const KEY_USAGE_SIGN: [u8; 4] = [0x03, 0x02, 0x07, 0x80];
/// The responder certificate's validity (wide, so that simulated evidence verifies at any
/// pinned time a test picks).
const RESPONDER_NOT_BEFORE: UnixTime = UnixTime(1_672_531_200); // 2023-01-01
const RESPONDER_NOT_AFTER: UnixTime = UnixTime(2_524_607_999); // 2049-12-31T23:59:59Z

/// The status a simulated response gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SimCertStatus {
    /// `good`.
    Good,
    /// `revoked`, reason keyCompromise, revoked a day before `this_update`.
    Revoked,
    /// `revoked`, reason certificateHold.
    Hold,
    /// `unknown`.
    Unknown,
}

/// What a simulated response says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcspSpec {
    /// The status.
    pub status: SimCertStatus,
    /// `thisUpdate` and `producedAt`.
    pub this_update: UnixTime,
    /// `nextUpdate`; `None` leaves it out.
    pub next_update: Option<UnixTime>,
    /// The nonce to echo; `None` leaves the extension out.
    pub nonce: Option<Vec<u8>>,
}

impl OcspSpec {
    /// `good`, this update at `now` minus one hour, next update seven days later, no nonce:
    /// what a stapling agent fetches.
    pub fn good_at(now: UnixTime) -> Self {
        Self {
            status: SimCertStatus::Good,
            this_update: UnixTime(now.0.saturating_sub(3600)),
            next_update: Some(UnixTime(now.0.saturating_add(7 * 24 * 3600))),
            nonce: None,
        }
    }
}

/// Deliberate defects, all off by default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OcspFaults {
    /// Sign with an unrelated key (the signature does not verify).
    pub wrong_key: bool,
    /// Leave the responder certificate out of `certs`.
    pub omit_responder_cert: bool,
    /// Carry a responder certificate without `id-kp-OCSPSigning` (serverAuth instead).
    pub responder_without_ocsp_eku: bool,
    /// Carry a responder certificate issued by an unrelated, self-signed CA.
    pub foreign_responder: bool,
    /// Answer with this non-successful `responseStatus` (no body).
    pub response_status: Option<OcspResponseStatus>,
    /// Name a different serial number in the single response.
    pub wrong_serial: bool,
    /// Two single responses for the certificate.
    pub duplicate_entry: bool,
    /// Change the signed `tbsResponseData` (its `producedAt`) after signing.
    pub tamper: bool,
}

/// A simulated delegated OCSP responder of one hierarchy.
pub struct SimOcspResponder {
    cert_der: Vec<u8>,
    name: RdnSequence,
    key: SigningKey,
    /// Same name and key, but without `id-kp-OCSPSigning`.
    cert_without_eku: Vec<u8>,
    /// Same name and key, issued by an unrelated self-signed CA.
    cert_foreign: Vec<u8>,
}

impl std::fmt::Debug for SimOcspResponder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No key material.
        f.debug_struct("SimOcspResponder").finish_non_exhaustive()
    }
}

impl SimOcspResponder {
    /// A responder certificate for a key derived from `label` and `issuer_der`, issued by
    /// `issuer_name` with `issuer_key`.
    pub(super) fn new(
        label: &str,
        issuer_der: &[u8],
        issuer_name: &RdnSequence,
        issuer_key: &SigningKey,
    ) -> Result<Self, SimError> {
        let mut rng = derive_rng("ocsp-responder", &[label.as_bytes(), issuer_der]);
        let key = SigningKey::random(&mut rng);
        let mut serial = [0u8; 16];
        rng.fill_bytes(&mut serial);
        positive(&mut serial);
        let name = cert::name_cn_o(&format!("{label} OCSP Responder (simulated)"), "NVIDIA")?;
        let cert_der = responder_cert(&name, &key, issuer_name, issuer_key, &serial, true)?;
        let cert_without_eku =
            responder_cert(&name, &key, issuer_name, issuer_key, &serial, false)?;
        let foreign_key = SigningKey::random(&mut rng);
        let foreign_name = cert::name_cn_o("Foreign OCSP CA (simulated)", "Not NVIDIA")?;
        let cert_foreign = responder_cert(&name, &key, &foreign_name, &foreign_key, &serial, true)?;
        Ok(Self {
            cert_der,
            name,
            key,
            cert_without_eku,
            cert_foreign,
        })
    }

    /// The responder certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// A DER `OCSPResponse` for `cert_der` issued by `issuer_der` as `spec` says.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] if a certificate does not decode; [`SimError::Time`] for a time
    /// GeneralizedTime cannot hold.
    pub fn respond(
        &self,
        cert_der: &[u8],
        issuer_der: &[u8],
        spec: &OcspSpec,
    ) -> Result<Vec<u8>, SimError> {
        self.respond_with(cert_der, issuer_der, spec, &OcspFaults::default())
    }

    /// [`SimOcspResponder::respond`] with deliberate defects.
    ///
    /// # Errors
    ///
    /// As [`SimOcspResponder::respond`].
    pub fn respond_with(
        &self,
        cert_der: &[u8],
        issuer_der: &[u8],
        spec: &OcspSpec,
        faults: &OcspFaults,
    ) -> Result<Vec<u8>, SimError> {
        if let Some(status) = faults.response_status {
            return Ok(OcspResponse {
                response_status: status,
                response_bytes: None,
            }
            .to_der()?);
        }
        let cert = Certificate::from_der(cert_der)?;
        let issuer = Certificate::from_der(issuer_der)?;
        let mut serial = cert.tbs_certificate.serial_number;
        if faults.wrong_serial {
            let mut bytes = serial.as_bytes().to_vec();
            if let Some(last) = bytes.last_mut() {
                *last ^= 1;
            }
            serial = SerialNumber::new(&bytes)?;
        }
        let hash = |data: &[u8]| -> Result<OctetString, SimError> {
            use sha2::Digest as _;
            Ok(OctetString::new(sha2::Sha384::digest(data).to_vec())?)
        };
        let cert_id = CertId {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: OID_SHA384,
                parameters: Some(Any::from(Null)),
            },
            issuer_name_hash: hash(&issuer.tbs_certificate.subject.to_der()?)?,
            issuer_key_hash: hash(
                issuer
                    .tbs_certificate
                    .subject_public_key_info
                    .subject_public_key
                    .raw_bytes(),
            )?,
            serial_number: serial,
        };
        let this_update = generalized(spec.this_update)?;
        let cert_status = match spec.status {
            SimCertStatus::Good => CertStatus::Good(Null),
            SimCertStatus::Unknown => CertStatus::Unknown(Null),
            SimCertStatus::Revoked | SimCertStatus::Hold => CertStatus::Revoked(RevokedInfo {
                revocation_time: generalized(UnixTime(spec.this_update.0.saturating_sub(86_400)))?,
                revocation_reason: Some(if spec.status == SimCertStatus::Hold {
                    CrlReason::CertificateHold
                } else {
                    CrlReason::KeyCompromise
                }),
            }),
        };
        let single = SingleResponse {
            cert_id,
            cert_status,
            this_update,
            next_update: spec.next_update.map(generalized).transpose()?,
            single_extensions: None,
        };
        let mut responses = vec![single.clone()];
        if faults.duplicate_entry {
            responses.push(single);
        }
        let response_extensions = match &spec.nonce {
            Some(nonce) => Some(vec![
                nonce_extension(nonce).map_err(|_| SimError::Der(der_failed()))?,
            ]),
            None => None,
        };
        let tbs = ResponseData {
            version: x509_ocsp::Version::V1,
            responder_id: ResponderId::ByName(self.name.clone()),
            produced_at: this_update,
            responses,
            response_extensions,
        };
        let tbs_der = tbs.to_der()?;
        let signature: DerSignature = if faults.wrong_key {
            let mut rng = derive_rng("ocsp-wrong-key", &[&tbs_der]);
            SigningKey::random(&mut rng).sign(&tbs_der)
        } else {
            self.key.sign(&tbs_der)
        };
        let mut tbs = tbs;
        if faults.tamper {
            // Move producedAt by a second after signing: still DER, no longer signed.
            tbs.produced_at = generalized(UnixTime(spec.this_update.0.saturating_add(1)))?;
        }
        let carried = if faults.omit_responder_cert {
            None
        } else if faults.responder_without_ocsp_eku {
            Some(vec![Certificate::from_der(&self.cert_without_eku)?])
        } else if faults.foreign_responder {
            Some(vec![Certificate::from_der(&self.cert_foreign)?])
        } else {
            Some(vec![Certificate::from_der(&self.cert_der)?])
        };
        let basic = BasicOcspResponse {
            tbs_response_data: tbs,
            signature_algorithm: cert::ecdsa_algorithm(),
            signature: BitString::from_bytes(signature.as_bytes())?,
            certs: carried,
        };
        Ok(OcspResponse {
            response_status: OcspResponseStatus::Successful,
            response_bytes: Some(ResponseBytes {
                response_type: OID_OCSP_BASIC,
                response: OctetString::new(basic.to_der()?)?,
            }),
        }
        .to_der()?)
    }
}

fn der_failed() -> x509_cert::der::Error {
    x509_cert::der::ErrorKind::Failed.into()
}

fn generalized(t: UnixTime) -> Result<OcspGeneralizedTime, SimError> {
    let secs = u64::try_from(t.0).map_err(|_| SimError::Time(t))?;
    GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
        .map(OcspGeneralizedTime)
        .map_err(|_| SimError::Time(t))
}

/// A delegated responder certificate: KU digitalSignature, EKU OCSPSigning (or serverAuth when
/// `ocsp_eku` is false), id-pkix-ocsp-nocheck, SKI, AKI.
fn responder_cert(
    subject: &RdnSequence,
    key: &SigningKey,
    issuer_name: &RdnSequence,
    issuer_key: &SigningKey,
    serial: &[u8],
    ocsp_eku: bool,
) -> Result<Vec<u8>, SimError> {
    let spki = cert::spki(key)?;
    let ski = cert::key_identifier(&spki)?;
    let aki = cert::key_identifier(&cert::spki(issuer_key)?)?;
    let eku = ExtendedKeyUsage(vec![if ocsp_eku {
        OID_KP_OCSP_SIGNING
    } else {
        OID_KP_SERVER_AUTH
    }]);
    let extensions = vec![
        cert::extension(OID_KEY_USAGE, true, KEY_USAGE_SIGN.to_vec())?,
        cert::extension(OID_EXT_KEY_USAGE, false, eku.to_der()?)?,
        cert::extension(OID_OCSP_NOCHECK, false, Null.to_der()?)?,
        cert::extension(OID_SKI, false, SubjectKeyIdentifier(ski).to_der()?)?,
        cert::extension(
            OID_AKI,
            false,
            AuthorityKeyIdentifier {
                key_identifier: Some(aki),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            }
            .to_der()?,
        )?,
    ];
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(serial)?,
        signature: cert::ecdsa_algorithm(),
        issuer: issuer_name.clone(),
        validity: Validity {
            not_before: cert::x509_time(RESPONDER_NOT_BEFORE)?,
            not_after: cert::x509_time(RESPONDER_NOT_AFTER)?,
        },
        subject: subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature: DerSignature = issuer_key.sign(&tbs.to_der()?);
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: cert::ecdsa_algorithm(),
        signature: BitString::from_bytes(signature.as_bytes())?,
    }
    .to_der()?)
}
