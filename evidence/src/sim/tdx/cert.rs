//! X.509 encoding of the simulated Intel SGX PKI: certificates and CRLs in the shapes Intel's
//! Provisioning Certification Service (PCS) issues, signed with ECDSA P-256 and SHA-256.
//!
//! The shapes were read with `openssl asn1parse` from the real chains and CRLs in
//! `shared/vectors/tdx/` (`phala_tdx_quote.pck_chain.pem`, `*.tcb_signing_chain.pem`,
//! `*.pck_crl.der`, `*.root_ca_crl.der`) and are pinned by the tests in the parent module:
//!
//! ```text
//! Certificate (v3, ecdsa-with-SHA256 without parameters)
//!   subject/issuer   CN, O, L, ST, C: one attribute per RDN, C a PrintableString, the others
//!                    UTF8String
//!   extensions       authorityKeyIdentifier (keyIdentifier only), cRLDistributionPoints,
//!                    subjectKeyIdentifier, keyUsage (critical), basicConstraints (critical),
//!                    and in PCK certificates the SGX extension (1.2.840.113741.1.13.1)
//!   CA certificates  serial number == subjectKeyIdentifier (20 bytes, DER-prefixed with 00
//!                    when the top bit is set); keyUsage keyCertSign | cRLSign; the root has
//!                    pathLen 1, the PCK CAs pathLen 0; the root carries an AKI naming itself
//! CertificateList (v2, ecdsa-with-SHA256)
//!   entries          serial, revocationDate, reasonCode keyCompromise
//!   crlExtensions    cRLNumber, authorityKeyIdentifier, both non-critical, in that order
//! ```

use std::time::Duration;

use p256::ecdsa::signature::Signer;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::EncodePublicKey;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::der::asn1::{
    BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
};
use x509_cert::der::referenced::OwnedToRef;
use x509_cert::der::{Any, Decode, Encode, ErrorKind, Tag};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlDistributionPoints, SubjectKeyIdentifier};
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use super::{PckCaKind, PlatformProfile};
use crate::UnixTime;
use crate::sim::snp::SimError;

/// ecdsa-with-SHA256 (RFC 5758), written without parameters as Intel does.
const OID_ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_L: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
const OID_ST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");

const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const OID_CRL_REASON: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
const OID_CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");

/// The SGX extension of PCK certificates and its parts (Intel SGX PCK Certificate and CRL
/// Profile Specification, section 1.5).
pub(super) const OID_SGX_EXTENSION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1");
const OID_SGX_PPID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.1");
const OID_SGX_TCB: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.2");
const OID_SGX_PCEID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.3");
const OID_SGX_FMSPC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.4");
const OID_SGX_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.5");
const OID_SGX_PLATFORM_INSTANCE_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.6");
const OID_SGX_CONFIGURATION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113741.1.13.1.7");

/// keyUsage keyCertSign | cRLSign (`03 02 01 06`), Intel's CA certificates.
const KEY_USAGE_CA: [u8; 4] = [0x03, 0x02, 0x01, 0x06];
/// keyUsage digitalSignature | nonRepudiation (`03 02 06 C0`), PCK and TCB Signing certificates.
const KEY_USAGE_SIGNER: [u8; 4] = [0x03, 0x02, 0x06, 0xC0];
/// basicConstraints cA FALSE, written as an empty SEQUENCE (the DEFAULT), as Intel does.
const BASIC_CONSTRAINTS_END_ENTITY: [u8; 2] = [0x30, 0x00];

/// reasonCode keyCompromise (ENUMERATED 1), as in Intel's PCK CRL entries.
const REASON_KEY_COMPROMISE: [u8; 3] = [0x0A, 0x01, 0x01];

/// First instant that RFC 5280 section 4.1.2.5 requires in GeneralizedTime (2050-01-01).
const GENERALIZED_TIME_FROM: u64 = 2_524_608_000;

/// Host of the simulated PCS URLs in cRLDistributionPoints; `.invalid` marks them simulated.
const SIM_PCS_HOST: &str = "warden-sim.invalid";

/// The role of a certificate of the simulated hierarchy, which fixes its extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    /// The self-signed root CA (pathLen 1).
    Root,
    /// A PCK Platform or Processor CA (pathLen 0).
    PckCa,
    /// The TCB Signing certificate (end entity, signs TCB info and QE identity).
    TcbSigning,
    /// A PCK leaf (end entity); `ca` writes basicConstraints cA TRUE instead, for THREATS D8.
    Pck {
        /// Whether the leaf claims to be a CA.
        ca: bool,
    },
}

/// A key with the name and key identifier it issues under.
pub(super) struct Issuer<'a> {
    pub(super) name: &'a RdnSequence,
    pub(super) key_id: &'a OctetString,
    pub(super) key: &'a SigningKey,
}

/// Intel's distinguished name with `common_name`: CN, O, L, ST, C, one attribute per RDN.
pub(super) fn intel_name(common_name: &str) -> Result<RdnSequence, SimError> {
    let attributes = [
        (OID_CN, Tag::Utf8String, common_name),
        (OID_O, Tag::Utf8String, "Intel Corporation"),
        (OID_L, Tag::Utf8String, "Santa Clara"),
        (OID_ST, Tag::Utf8String, "CA"),
        (OID_C, Tag::PrintableString, "US"),
    ];
    let mut rdns = Vec::with_capacity(attributes.len());
    for (oid, tag, value) in attributes {
        let atv = x509_cert::attr::AttributeTypeAndValue {
            oid,
            value: Any::new(tag, value.as_bytes())?,
        };
        rdns.push(RelativeDistinguishedName(SetOfVec::try_from(vec![atv])?));
    }
    Ok(RdnSequence(rdns))
}

/// The SubjectPublicKeyInfo of a P-256 key (id-ecPublicKey, prime256v1, uncompressed point).
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

/// A serial number holding `unsigned` (big-endian, leading zeros ignored) as a positive DER
/// INTEGER, `00`-prefixed when its top bit is set, as Intel writes its 20-byte serials.
pub(super) fn serial_number(unsigned: &[u8]) -> Result<SerialNumber, SimError> {
    let trimmed = match unsigned.iter().position(|&b| b != 0) {
        Some(first) => unsigned.get(first..).unwrap_or_default(),
        None => &[0][..],
    };
    let mut content = Vec::with_capacity(trimmed.len() + 1);
    if trimmed.first().is_some_and(|&b| b & 0x80 != 0) {
        content.push(0);
    }
    content.extend_from_slice(trimmed);
    // Decoding (rather than `SerialNumber::new`, which caps encodings at 20 bytes) accepts the
    // 21-byte encoding of a 20-byte serial with its top bit set, as Intel issues them.
    let der = Any::new(Tag::Integer, content)?.to_der()?;
    Ok(SerialNumber::from_der(&der)?)
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
fn extension(oid: ObjectIdentifier, critical: bool, value: Vec<u8>) -> Result<Extension, SimError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value)?,
    })
}

fn ecdsa_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: OID_ECDSA_SHA256,
        parameters: None,
    }
}

/// The cRLDistributionPoints URL Intel writes for a certificate issued by `issuer_role`, on the
/// simulated host.
fn crl_url(issuer: Role, pck_ca: PckCaKind) -> String {
    match issuer {
        Role::Root => format!("https://certificates.{SIM_PCS_HOST}/IntelSGXRootCA.der"),
        _ => format!(
            "https://api.{SIM_PCS_HOST}/sgx/certification/v4/pckcrl?ca={}&encoding=der",
            pck_ca.pcs_name()
        ),
    }
}

/// Intel's extensions for a certificate of `role` issued by `issuer_role`, in Intel's order:
/// AKI, CRL DP, SKI, keyUsage (critical), basicConstraints (critical), then `extra`.
fn standard_extensions(
    role: Role,
    issuer_role: Role,
    pck_ca: PckCaKind,
    subject_key_id: &OctetString,
    issuer_key_id: &OctetString,
) -> Result<Vec<Extension>, SimError> {
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(issuer_key_id.clone()),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let crl_dp = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(Ia5String::new(&crl_url(issuer_role, pck_ca))?),
        ])),
        reasons: None,
        crl_issuer: None,
    }]);
    let ski = SubjectKeyIdentifier(subject_key_id.clone());
    let (key_usage, basic_constraints): (&[u8], Vec<u8>) = match role {
        // cA TRUE, pathLenConstraint 1 / 0.
        Role::Root => (
            &KEY_USAGE_CA,
            vec![0x30, 0x06, 0x01, 0x01, 0xFF, 0x02, 0x01, 0x01],
        ),
        Role::PckCa | Role::Pck { ca: true } => (
            &KEY_USAGE_CA,
            vec![0x30, 0x06, 0x01, 0x01, 0xFF, 0x02, 0x01, 0x00],
        ),
        Role::TcbSigning | Role::Pck { ca: false } => {
            (&KEY_USAGE_SIGNER, BASIC_CONSTRAINTS_END_ENTITY.to_vec())
        }
    };
    Ok(vec![
        extension(OID_AKI, false, aki.to_der()?)?,
        extension(OID_CRL_DP, false, crl_dp.to_der()?)?,
        extension(OID_SKI, false, ski.to_der()?)?,
        extension(OID_KEY_USAGE, true, key_usage.to_vec())?,
        extension(OID_BASIC_CONSTRAINTS, true, basic_constraints)?,
    ])
}

/// What goes into a certificate besides the issuer and the signature.
pub(super) struct CertFields<'a> {
    pub(super) role: Role,
    pub(super) serial: &'a [u8],
    pub(super) subject: RdnSequence,
    pub(super) spki: SubjectPublicKeyInfoOwned,
    pub(super) not_before: UnixTime,
    pub(super) not_after: UnixTime,
    /// Which PCK CA the CRL DP of a PCK leaf names.
    pub(super) pck_ca: PckCaKind,
    /// Extensions after the standard ones (the SGX extension of PCK certificates).
    pub(super) extra: Vec<Extension>,
}

/// Issues and signs a certificate; returns its DER.
pub(super) fn issue(
    fields: CertFields<'_>,
    issuer: &Issuer<'_>,
    issuer_role: Role,
) -> Result<Vec<u8>, SimError> {
    let subject_key_id = key_identifier(&fields.spki)?;
    let mut extensions = standard_extensions(
        fields.role,
        issuer_role,
        fields.pck_ca,
        &subject_key_id,
        issuer.key_id,
    )?;
    extensions.extend(fields.extra);
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: serial_number(fields.serial)?,
        signature: ecdsa_algorithm(),
        issuer: issuer.name.clone(),
        validity: Validity {
            not_before: x509_time(fields.not_before)?,
            not_after: x509_time(fields.not_after)?,
        },
        subject: fields.subject,
        subject_public_key_info: fields.spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = sign_der(issuer.key, &tbs.to_der()?)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_algorithm(),
        signature,
    };
    Ok(cert.to_der()?)
}

/// ECDSA P-256/SHA-256 over `message`, deterministic (RFC 6979), as a DER Ecdsa-Sig-Value in a
/// BIT STRING.
fn sign_der(key: &SigningKey, message: &[u8]) -> Result<BitString, SimError> {
    let signature: Signature = key.sign(message);
    Ok(BitString::from_bytes(signature.to_der().as_bytes())?)
}

/// ECDSA P-256/SHA-256 over `message`, deterministic (RFC 6979), as raw `r || s` (32 bytes
/// each, big-endian): the form of DCAP quotes and of Intel's TCB info / QE identity signatures.
pub(super) fn sign_raw(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    let signature: Signature = key.sign(message);
    signature.to_bytes().into()
}

/// A DER X.509 v2 CRL in Intel's shape, issued by `issuer`; each revoked serial (unsigned
/// big-endian, see [`serial_number`]) is dated `this_update` with reasonCode keyCompromise.
pub(super) fn issue_crl(
    issuer: &Issuer<'_>,
    revoked: &[Vec<u8>],
    this_update: UnixTime,
    next_update: UnixTime,
    number: u32,
) -> Result<Vec<u8>, SimError> {
    let entries = revoked
        .iter()
        .map(|serial| {
            Ok(RevokedCert {
                serial_number: serial_number(serial)?,
                revocation_date: x509_time(this_update)?,
                crl_entry_extensions: Some(vec![extension(
                    OID_CRL_REASON,
                    false,
                    REASON_KEY_COMPROMISE.to_vec(),
                )?]),
            })
        })
        .collect::<Result<Vec<_>, SimError>>()?;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(issuer.key_id.clone()),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let tbs = TbsCertList {
        version: Version::V2,
        signature: ecdsa_algorithm(),
        issuer: issuer.name.clone(),
        this_update: x509_time(this_update)?,
        next_update: Some(x509_time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            extension(OID_CRL_NUMBER, false, number.to_der()?)?,
            extension(OID_AKI, false, aki.to_der()?)?,
        ]),
    };
    let signature = sign_der(issuer.key, &tbs.to_der()?)?;
    let crl = CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: ecdsa_algorithm(),
        signature,
    };
    Ok(crl.to_der()?)
}

/// A DER TLV.
fn tlv(tag: Tag, content: &[u8]) -> Result<Vec<u8>, SimError> {
    Ok(Any::new(tag, content)?.to_der()?)
}

/// `SEQUENCE { oid, value }`, the shape of every entry of the SGX extension.
fn sgx_entry(oid: ObjectIdentifier, value_der: &[u8]) -> Result<Vec<u8>, SimError> {
    let mut content = oid.to_der()?;
    content.extend_from_slice(value_der);
    tlv(Tag::Sequence, &content)
}

/// `oid` with one more arc.
fn child(oid: ObjectIdentifier, arc: u32) -> Result<ObjectIdentifier, SimError> {
    ObjectIdentifier::from_arcs(oid.arcs().chain([arc]))
        .map_err(|e| SimError::Der(x509_cert::der::Error::from(e)))
}

/// The SGX extension (1.2.840.113741.1.13.1) of a PCK certificate for `p`, byte for byte in
/// Intel's encoding (Intel SGX PCK Certificate and CRL Profile Specification 1.5, checked
/// against the real leaves in `shared/vectors/tdx`):
///
/// ```text
/// SEQUENCE {
///   { .1 PPID           OCTET STRING (16) }
///   { .2 TCB            SEQUENCE { {.2.1 INTEGER} .. {.2.16 INTEGER}   SGX TCB comp SVNs
///                                  {.2.17 INTEGER}                     PCESVN
///                                  {.2.18 OCTET STRING (16)} } }       CPUSVN
///   { .3 PCE-ID         OCTET STRING (2) }
///   { .4 FMSPC          OCTET STRING (6) }
///   { .5 SGX Type       ENUMERATED }
///   { .6 PlatformInstanceID OCTET STRING (16) }          Platform CA leaves only
///   { .7 Configuration  SEQUENCE { {.7.1 BOOLEAN dynamicPlatform}
///                                  {.7.2 BOOLEAN cachedKeys}
///                                  {.7.3 BOOLEAN SMTEnabled} } }  Platform CA leaves only
/// }
/// ```
///
/// The SGX TCB component SVNs and CPUSVN are both written from `p.cpu_svn` (component `i` is
/// byte `i`), so that the two agree as on real platforms.
pub(super) fn sgx_extension(p: &PlatformProfile) -> Result<Extension, SimError> {
    let octets = |bytes: &[u8]| tlv(Tag::OctetString, bytes);
    let mut tcb = Vec::new();
    for (arc, svn) in (1u32..).zip(p.cpu_svn) {
        tcb.extend(sgx_entry(child(OID_SGX_TCB, arc)?, &svn.to_der()?)?);
    }
    tcb.extend(sgx_entry(child(OID_SGX_TCB, 17)?, &p.pce_svn.to_der()?)?);
    tcb.extend(sgx_entry(child(OID_SGX_TCB, 18)?, &octets(&p.cpu_svn)?)?);

    let mut content = sgx_entry(OID_SGX_PPID, &octets(&p.ppid)?)?;
    content.extend(sgx_entry(OID_SGX_TCB, &tlv(Tag::Sequence, &tcb)?)?);
    content.extend(sgx_entry(OID_SGX_PCEID, &octets(&p.pce_id)?)?);
    content.extend(sgx_entry(OID_SGX_FMSPC, &octets(&p.fmspc)?)?);
    content.extend(sgx_entry(
        OID_SGX_TYPE,
        &tlv(Tag::Enumerated, &[p.sgx_type])?,
    )?);
    if p.ca == PckCaKind::Platform {
        content.extend(sgx_entry(
            OID_SGX_PLATFORM_INSTANCE_ID,
            &octets(&p.platform_instance_id)?,
        )?);
        let mut configuration = Vec::new();
        for (arc, flag) in [
            (1, p.dynamic_platform),
            (2, p.cached_keys),
            (3, p.smt_enabled),
        ] {
            configuration.extend(sgx_entry(
                child(OID_SGX_CONFIGURATION, arc)?,
                &flag.to_der()?,
            )?);
        }
        content.extend(sgx_entry(
            OID_SGX_CONFIGURATION,
            &tlv(Tag::Sequence, &configuration)?,
        )?);
    }
    extension(OID_SGX_EXTENSION, false, tlv(Tag::Sequence, &content)?)
}
