//! X.509 encoding of the simulated NVIDIA device certificate chain, in the shapes of NVIDIA's
//! real `attestationCertChain` (ECDSA P-384 with SHA-384 throughout).
//!
//! The shapes were read with `openssl asn1parse` from `shared/vectors/nvidia/gpu/
//! hopper_580.159.03_certchain.pem` and `blackwell_575.32_certchain.pem`:
//!
//! ```text
//! Certificate (v3, ecdsa-with-SHA384 without parameters, validity to 9999-12-31T23:59:59Z)
//!   root      CN, O                    BC cA (crit), KU keyCertSign|cRLSign (crit), SKI, AKI
//!   Identity  CN, O                    BC, KU keyCertSign|cRLSign, CRL DP, AIA OCSP, SKI, AKI
//!   ICA       CN, O, C                 BC, KU keyCertSign|cRLSign, CRL DP, AIA OCSP, SKI, AKI
//!   BROM      serialNumber, C, O, CN   BC, KU keyCertSign, (GB100: AIA OCSP), SKI, AKI
//!   FMC LF    serialNumber, C, O, CN   KU digitalSignature (crit), SKI, AKI, SAN otherName,
//!                                      FWID extension (Hopper 2.23.133.5.4.1, Blackwell
//!                                      DICE TcbInfo 2.23.133.5.4.1.1), non-critical
//! ```
//! C and serialNumber are PrintableString, the other attributes UTF8String.

use std::time::Duration;

use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, SigningKey};
use p384::pkcs8::EncodePublicKey;
use x509_cert::der::asn1::{
    BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
};
use x509_cert::der::referenced::OwnedToRef;
use x509_cert::der::{Any, Decode, Encode, ErrorKind, Tag};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{
    AccessDescription, AuthorityInfoAccessSyntax, AuthorityKeyIdentifier, CrlDistributionPoints,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use super::Arch;
use crate::UnixTime;
use crate::sim::snp::SimError;

/// ecdsa-with-SHA384 (RFC 5758), written without parameters as NVIDIA does.
const OID_ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
/// id-sha384 (NIST), the hash algorithm of the FWID digests.
const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");

const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const OID_AIA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");
const OID_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");

/// NVIDIA's otherName type in the leaf's subjectAltName (value `NVIDIA:<chip>:<16 hex>`).
const OID_NVIDIA_SAN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.412.274.1");
/// TCG DICE (Hopper): `SEQUENCE { INTEGER 1, SubjectPublicKeyInfo, SEQUENCE { OID, digest } }`;
/// verifiers take its last 48 bytes as the FWID.
pub(super) const OID_TCG_DICE_FWID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.23.133.5.4.1");
/// TCG DICE TcbInfo (Blackwell); verifiers take `fwids[0].digest` as the FWID.
pub(super) const OID_TCG_DICE_TCB_INFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.23.133.5.4.1.1");

/// basicConstraints cA TRUE, no pathLenConstraint, in every CA certificate.
const BASIC_CONSTRAINTS_CA: [u8; 5] = [0x30, 0x03, 0x01, 0x01, 0xFF];
/// keyUsage keyCertSign | cRLSign: root, Identity, Provisioner ICA.
const KEY_USAGE_CA: [u8; 4] = [0x03, 0x02, 0x01, 0x06];
/// keyUsage keyCertSign: GSP BROM.
const KEY_USAGE_BROM: [u8; 4] = [0x03, 0x02, 0x02, 0x04];
/// keyUsage digitalSignature: GSP FMC LF (the attestation key).
const KEY_USAGE_LEAF: [u8; 4] = [0x03, 0x02, 0x07, 0x80];

/// First instant that RFC 5280 section 4.1.2.5 requires in GeneralizedTime (2050-01-01).
const GENERALIZED_TIME_FROM: u64 = 2_524_608_000;

/// Simulated OCSP responder (NVIDIA's is `http://ocsp.ndis.nvidia.com`); `.invalid` so that
/// nothing ever reaches NVIDIA with a simulated certificate.
pub(super) const OCSP_URL: &str = "http://ocsp.warden-sim.invalid";

/// A certificate's position in the chain, root first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Root,
    Identity,
    ProvisionerIca,
    Brom,
    Leaf,
}

/// The key and name of an issuing certificate.
pub(super) struct Issuer<'a> {
    pub(super) name: &'a RdnSequence,
    pub(super) key: &'a SigningKey,
}

/// Everything in a certificate but issuer, signature and extensions derived from the keys.
pub(super) struct CertFields {
    pub(super) role: Role,
    pub(super) serial: Vec<u8>,
    pub(super) subject: RdnSequence,
    pub(super) not_before: UnixTime,
    pub(super) not_after: UnixTime,
    /// Extensions that follow the standard ones (leaf: subjectAltName and FWID).
    pub(super) extra_extensions: Vec<Extension>,
}

/// A name of one attribute per RDN, in the given order; C and serialNumber as
/// PrintableString, the others as UTF8String (as NVIDIA writes them).
pub(super) fn name(attributes: &[(ObjectIdentifier, &str)]) -> Result<RdnSequence, SimError> {
    let mut rdns = Vec::with_capacity(attributes.len());
    for &(oid, value) in attributes {
        let tag = if oid == OID_C || oid == OID_SERIAL_NUMBER {
            Tag::PrintableString
        } else {
            Tag::Utf8String
        };
        let atv = x509_cert::attr::AttributeTypeAndValue {
            oid,
            value: Any::new(tag, value.as_bytes())?,
        };
        rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?));
    }
    Ok(RdnSequence(rdns))
}

/// `CN, O` (root and Identity).
pub(super) fn name_cn_o(cn: &str, o: &str) -> Result<RdnSequence, SimError> {
    name(&[(OID_CN, cn), (OID_O, o)])
}

/// `CN, O=NVIDIA Corporation, C=US` (Provisioner ICA).
pub(super) fn name_cn_o_c(cn: &str) -> Result<RdnSequence, SimError> {
    name(&[(OID_CN, cn), (OID_O, "NVIDIA Corporation"), (OID_C, "US")])
}

/// `serialNumber, C=US, O=NVIDIA Corporation, CN` (GSP BROM and FMC LF).
pub(super) fn name_device(serial_hex: &str, cn: &str) -> Result<RdnSequence, SimError> {
    name(&[
        (OID_SERIAL_NUMBER, serial_hex),
        (OID_C, "US"),
        (OID_O, "NVIDIA Corporation"),
        (OID_CN, cn),
    ])
}

/// The SubjectPublicKeyInfo of a P-384 key (id-ecPublicKey, secp384r1, uncompressed point).
pub(super) fn spki(key: &SigningKey) -> Result<SubjectPublicKeyInfoOwned, SimError> {
    let der = key
        .verifying_key()
        .to_public_key_der()
        .map_err(|_| SimError::Der(ErrorKind::Failed.into()))?;
    Ok(SubjectPublicKeyInfoOwned::from_der(der.as_bytes())?)
}

/// The SHA-1 key identifier of a public key (RFC 5280 section 4.2.1.2, method 1).
pub(super) fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Result<OctetString, SimError> {
    Ok(SubjectKeyIdentifier::try_from(spki.owned_to_ref())?.0)
}

/// The leaf's serial number: its subjectKeyIdentifier with the top two bits set to `01`, as
/// NVIDIA's FMC LF certificates have it (SKI `992CA9…` gives serial `592CA9…`).
pub(super) fn leaf_serial(key: &SigningKey) -> Result<Vec<u8>, SimError> {
    let mut serial = key_identifier(&spki(key)?)?.as_bytes().to_vec();
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x3F) | 0x40;
    }
    Ok(serial)
}

/// An X.509 Time: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5).
pub(super) fn x509_time(t: UnixTime) -> Result<Time, SimError> {
    let secs = u64::try_from(t.0).map_err(|_| SimError::Time(t))?;
    let since_epoch = Duration::from_secs(secs);
    let time = if secs < GENERALIZED_TIME_FROM {
        UtcTime::from_unix_duration(since_epoch).map(Time::UtcTime)
    } else {
        GeneralizedTime::from_unix_duration(since_epoch).map(Time::GeneralTime)
    };
    time.map_err(|_| SimError::Time(t))
}

/// An extension; `value` is the DER inside extnValue.
pub(super) fn extension(
    oid: ObjectIdentifier,
    critical: bool,
    value: Vec<u8>,
) -> Result<Extension, SimError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value)?,
    })
}

pub(super) fn ecdsa_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: OID_ECDSA_SHA384,
        parameters: None,
    }
}

/// cRLDistributionPoints with one full-name URI.
pub(super) fn crl_dp(url: &str) -> Result<Extension, SimError> {
    let dp = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(Ia5String::new(url)?),
        ])),
        reasons: None,
        crl_issuer: None,
    }]);
    extension(OID_CRL_DP, false, dp.to_der()?)
}

/// authorityInfoAccess with the OCSP responder only.
pub(super) fn aia() -> Result<Extension, SimError> {
    let aia = AuthorityInfoAccessSyntax(vec![AccessDescription {
        access_method: OID_OCSP,
        access_location: GeneralName::UniformResourceIdentifier(Ia5String::new(OCSP_URL)?),
    }]);
    extension(OID_AIA, false, aia.to_der()?)
}

/// The leaf's subjectAltName: otherName 1.3.6.1.4.1.412.274.1 = UTF8String `value`.
pub(super) fn leaf_san(value: &str) -> Result<Extension, SimError> {
    let san = SubjectAltName(vec![GeneralName::OtherName(OtherName {
        type_id: OID_NVIDIA_SAN,
        value: Any::new(Tag::Utf8String, value.as_bytes())?,
    })]);
    extension(OID_SAN, false, san.to_der()?)
}

/// A DER TLV with a one-byte tag (short or long definite length).
pub(super) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = Vec::with_capacity(content.len() + 6);
    out.push(tag);
    if let Ok(short @ 0..0x80) = u8::try_from(len) {
        out.push(short);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        // At most size_of::<usize>() bytes, so the count fits the 7 bits.
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0x7F));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// `SEQUENCE { OID sha384, OCTET STRING digest }`, one FWID.
fn fwid_entry(digest: &[u8; 48]) -> Result<Vec<u8>, SimError> {
    let mut content = OID_SHA384.to_der()?;
    content.extend(tlv(0x04, digest));
    Ok(tlv(0x30, &content))
}

/// The leaf's FWID extension for `arch`.
///
/// Hopper: 2.23.133.5.4.1 = `SEQUENCE { INTEGER 1, SubjectPublicKeyInfo (the FMC's key),
/// SEQUENCE { OID sha384, OCTET STRING fwid } }`, so the FWID is its last 48 bytes.
///
/// Blackwell: 2.23.133.5.4.1.1 = TcbInfo `SEQUENCE { [0] "NVIDIA", [1] "<chip> A01 GSP",
/// [2] "01", [3] svn 1, [4] layer 0, [5] index 0, [6] fwids { fwid, zeros }, [7] flags,
/// [8] C0, [9] 00 }`, byte for byte the real GB100 leaf's apart from the digest.
pub(super) fn fwid_extension(
    arch: Arch,
    fwid: &[u8; 48],
    fmc_key: &SigningKey,
) -> Result<Extension, SimError> {
    match arch {
        Arch::Hopper => {
            let mut content = vec![0x02, 0x01, 0x01];
            content.extend(spki(fmc_key)?.to_der()?);
            content.extend(fwid_entry(fwid)?);
            extension(OID_TCG_DICE_FWID, false, tlv(0x30, &content))
        }
        Arch::Blackwell => {
            let mut fwids = fwid_entry(fwid)?;
            fwids.extend(fwid_entry(&[0; 48])?);
            let model = format!("{} A01 GSP", arch.chip());
            let mut content = tlv(0x80, b"NVIDIA");
            content.extend(tlv(0x81, model.as_bytes()));
            content.extend(tlv(0x82, b"01"));
            content.extend(tlv(0x83, &[0x01]));
            content.extend(tlv(0x84, &[0x00]));
            content.extend(tlv(0x85, &[0x00]));
            content.extend(tlv(0xA6, &fwids));
            content.extend(tlv(0x87, &[0x00, 0x80, 0x00, 0x00, 0x01]));
            content.extend(tlv(0x88, &[0xC0]));
            content.extend(tlv(0x89, &[0x00]));
            extension(OID_TCG_DICE_TCB_INFO, false, tlv(0x30, &content))
        }
    }
}

/// The extensions of `role` in NVIDIA's order, before `extra`.
fn extensions(
    role: Role,
    arch: Arch,
    ski: &OctetString,
    aki: &OctetString,
) -> Result<Vec<Extension>, SimError> {
    let bc = || extension(OID_BASIC_CONSTRAINTS, true, BASIC_CONSTRAINTS_CA.to_vec());
    let ski = extension(OID_SKI, false, SubjectKeyIdentifier(ski.clone()).to_der()?)?;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(aki.clone()),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let aki = extension(OID_AKI, false, aki.to_der()?)?;
    let chip = arch.chip().to_ascii_lowercase();
    Ok(match role {
        Role::Root => vec![
            bc()?,
            extension(OID_KEY_USAGE, true, KEY_USAGE_CA.to_vec())?,
            ski,
            aki,
        ],
        Role::Identity | Role::ProvisionerIca => {
            let crl = if role == Role::Identity {
                "http://crl.warden-sim.invalid/crl/l1-root.crl".to_owned()
            } else {
                format!("http://crl.warden-sim.invalid/crl/l2-{chip}.crl")
            };
            vec![
                bc()?,
                extension(OID_KEY_USAGE, true, KEY_USAGE_CA.to_vec())?,
                crl_dp(&crl)?,
                aia()?,
                ski,
                aki,
            ]
        }
        // GB100 BROMs also name the OCSP responder; GH100 BROMs do not.
        Role::Brom if arch == Arch::Blackwell => vec![
            bc()?,
            extension(OID_KEY_USAGE, true, KEY_USAGE_BROM.to_vec())?,
            aia()?,
            ski,
            aki,
        ],
        Role::Brom => vec![
            bc()?,
            extension(OID_KEY_USAGE, true, KEY_USAGE_BROM.to_vec())?,
            ski,
            aki,
        ],
        Role::Leaf => vec![
            extension(OID_KEY_USAGE, true, KEY_USAGE_LEAF.to_vec())?,
            ski,
            aki,
        ],
    })
}

/// Issues the certificate of `key` described by `fields`, signed by `issuer` (ECDSA P-384,
/// SHA-384, RFC 6979) or self-signed when `issuer` is `None`; returns the DER.
pub(super) fn issue(
    arch: Arch,
    fields: CertFields,
    key: &SigningKey,
    issuer: Option<&Issuer<'_>>,
) -> Result<Vec<u8>, SimError> {
    let spki = spki(key)?;
    let ski = key_identifier(&spki)?;
    let (issuer_name, issuer_key) = match issuer {
        Some(issuer) => (issuer.name.clone(), issuer.key),
        None => (fields.subject.clone(), key),
    };
    let aki = key_identifier(&self::spki(issuer_key)?)?;
    let mut exts = extensions(fields.role, arch, &ski, &aki)?;
    exts.extend(fields.extra_extensions);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&fields.serial)?,
        signature: ecdsa_algorithm(),
        issuer: issuer_name,
        validity: Validity {
            not_before: x509_time(fields.not_before)?,
            not_after: x509_time(fields.not_after)?,
        },
        subject: fields.subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(exts),
    };
    let signature: DerSignature = issuer_key.sign(&tbs.to_der()?);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_algorithm(),
        signature: BitString::from_bytes(signature.as_bytes())?,
    };
    Ok(cert.to_der()?)
}

/// The subject of a DER certificate.
pub(super) fn subject_of(der: &[u8]) -> Result<RdnSequence, SimError> {
    Ok(Certificate::from_der(der)?.tbs_certificate.subject)
}

/// Whether a DER certificate's public key is `key`'s.
pub(super) fn has_key(der: &[u8], key: &SigningKey) -> Result<bool, SimError> {
    let cert = Certificate::from_der(der)?;
    Ok(cert.tbs_certificate.subject_public_key_info == spki(key)?)
}
