//! X.509 encoding of the simulated AMD certificates, byte for byte in the shapes AMD's Key
//! Distribution Service (KDS) issues.
//!
//! The shapes were read with `openssl asn1parse` from the real certificates in
//! `shared/vectors/snp/` (ARK/ASK/ASVK for Milan, Genoa and Turin; VCEKs and a VLEK) and are
//! pinned by the byte-comparison tests in the parent module.

use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rsa::pss::SigningKey as PssSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::Sha384;
use x509_cert::der::asn1::{
    BitString, GeneralizedTime, Ia5String, ObjectIdentifier, OctetString, SetOfVec, UtcTime,
};
use x509_cert::der::referenced::OwnedToRef;
use x509_cert::der::{Any, Decode, Encode, Tag};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlDistributionPoints, SubjectKeyIdentifier};
use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

use super::SimError;
use crate::UnixTime;
use crate::snp::Product;

/// id-RSASSA-PSS (RFC 4055).
const OID_RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");

/// RSASSA-PSS-params as AMD writes them: hashAlgorithm sha384 (NULL parameters),
/// maskGenAlgorithm MGF1 with sha384, saltLength 48 and trailerField 1.
///
/// The ARK/ASK/ASVK and the Milan VCEKs issued until 2023 carry `trailerField [3] INTEGER 1`
/// although it is the DEFAULT (strict DER would omit it); the VLEK and the Turin VCEK issued in
/// late 2024 omit it. [`PSS_PARAMS_IMPLICIT_TRAILER`] is the same encoding without its last five
/// bytes.
const PSS_PARAMS_EXPLICIT_TRAILER: [u8; 59] = [
    0x30, 0x39, // SEQUENCE
    0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, // [0] sha384, NULL
    0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08, 0x30,
    0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, // [1] mgf1(sha384, NULL)
    0xA2, 0x03, 0x02, 0x01, 0x30, // [2] saltLength 48
    0xA3, 0x03, 0x02, 0x01, 0x01, // [3] trailerField 1
];

/// [`PSS_PARAMS_EXPLICIT_TRAILER`] without the trailerField (strict DER).
const PSS_PARAMS_IMPLICIT_TRAILER: [u8; 54] = [
    0x30, 0x34, // SEQUENCE
    0xA0, 0x0F, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, // [0] sha384, NULL
    0xA1, 0x1C, 0x30, 0x1A, 0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08, 0x30,
    0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, // [1] mgf1(sha384, NULL)
    0xA2, 0x03, 0x02, 0x01, 0x30, // [2] saltLength 48
];

/// RSASSA-PSS salt length: the SHA-384 output size, as AMD uses.
pub(super) const PSS_SALT_LEN: usize = 48;

const OID_OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");
const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_L: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
const OID_ST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_CRL_DP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.31");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");

/// VCEK/VLEK extensions (AMD spec 57230, "VCEK Certificate and KDS Interface Specification").
pub(super) const OID_STRUCT_VERSION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.1");
pub(super) const OID_PRODUCT_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.2");
pub(super) const OID_BL_SPL: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.1");
pub(super) const OID_TEE_SPL: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.2");
pub(super) const OID_SNP_SPL: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.3");
pub(super) const OID_SPL_4: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.4");
pub(super) const OID_SPL_5: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.5");
pub(super) const OID_SPL_6: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.6");
pub(super) const OID_SPL_7: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.7");
pub(super) const OID_UCODE_SPL: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.8");
pub(super) const OID_FMC_SPL: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.3.9");
pub(super) const OID_HW_ID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.4");
pub(super) const OID_CSP_ID: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.3704.1.5");

/// keyUsage of the ARK: keyCertSign | cRLSign (`03 02 01 06`).
const KEY_USAGE_ARK: [u8; 4] = [0x03, 0x02, 0x01, 0x06];
/// keyUsage of the ASK and ASVK: keyCertSign. AMD writes it as `03 02 01 04` (7 bits, one
/// unused) where strict DER would drop the trailing zero bit (`03 02 02 04`); kept as AMD has it.
const KEY_USAGE_ASK: [u8; 4] = [0x03, 0x02, 0x01, 0x04];
/// basicConstraints of the ARK: cA TRUE, no pathLenConstraint.
const BASIC_CONSTRAINTS_ARK: [u8; 5] = [0x30, 0x03, 0x01, 0x01, 0xFF];
/// basicConstraints of the ASK and ASVK: cA TRUE, pathLenConstraint 0.
const BASIC_CONSTRAINTS_ASK: [u8; 8] = [0x30, 0x06, 0x01, 0x01, 0xFF, 0x02, 0x01, 0x00];

/// First instant that RFC 5280 section 4.1.2.5 requires in GeneralizedTime (2050-01-01).
const GENERALIZED_TIME_FROM: u64 = 2_524_608_000;

/// The role of an AMD CA certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CaRole {
    /// AMD Root Key, self-signed.
    Ark,
    /// AMD SEV Key, issuer of VCEKs.
    Ask,
    /// AMD SEV VLEK Key, issuer of VLEKs.
    Asvk,
}

/// What AMD's KDS publishes for one CA certificate of one product.
#[derive(Debug, Clone, Copy)]
pub(super) struct CaShape {
    pub(super) serial: [u8; 3],
    pub(super) not_before: UnixTime,
    pub(super) not_after: UnixTime,
}

/// Serial numbers and validity of AMD's real CA certificates, so that the simulated chain has
/// the same shape (`gosev_*_ask_ark.pem`, `gosev_milan_asvk_ark.pem` and go-sev-guest's
/// `verify/trust/ask_ark_{genoa,turin}_vlek.pem`). AMD numbers them 0xPP0000 (ARK), 0xPP0001
/// or 0xPP0002 (ASK) and 0xPP0101 (ASVK), PP being the product generation.
pub(super) fn ca_shape(product: Product, role: CaRole) -> CaShape {
    let (serial, not_before, not_after) = match (product, role) {
        (Product::Milan, CaRole::Ark) => ([1, 0, 0], 1_603_387_385, 2_392_305_785),
        (Product::Milan, CaRole::Ask) => ([1, 0, 1], 1_603_391_060, 2_392_309_460),
        (Product::Milan, CaRole::Asvk) => ([1, 1, 1], 1_668_638_724, 2_457_557_124),
        (Product::Genoa, CaRole::Ark) => ([2, 0, 0], 1_643_211_277, 2_432_129_677),
        (Product::Genoa, CaRole::Ask) => ([2, 0, 2], 1_667_223_228, 2_456_141_628),
        (Product::Genoa, CaRole::Asvk) => ([2, 1, 1], 1_668_804_514, 2_457_722_914),
        (Product::Turin, CaRole::Ark) => ([3, 0, 0], 1_684_180_992, 2_473_185_792),
        (Product::Turin, CaRole::Ask) => ([3, 0, 1], 1_684_182_321, 2_473_187_121),
        (Product::Turin, CaRole::Asvk) => ([3, 1, 1], 1_684_184_981, 2_473_189_781),
    };
    CaShape {
        serial,
        not_before: UnixTime(not_before),
        not_after: UnixTime(not_after),
    }
}

/// The subject CN AMD gives a CA certificate: `ARK-Milan`, `SEV-Milan`, `SEV-VLEK-Milan`.
pub(super) fn ca_common_name(product: Product, role: CaRole) -> String {
    match role {
        CaRole::Ark => format!("ARK-{product}"),
        CaRole::Ask => format!("SEV-{product}"),
        CaRole::Asvk => format!("SEV-VLEK-{product}"),
    }
}

/// The RSASSA-PSS AlgorithmIdentifier, with or without the explicit DEFAULT trailerField.
pub(super) fn pss_algorithm(explicit_trailer: bool) -> Result<AlgorithmIdentifierOwned, SimError> {
    let params: &[u8] = if explicit_trailer {
        &PSS_PARAMS_EXPLICIT_TRAILER
    } else {
        &PSS_PARAMS_IMPLICIT_TRAILER
    };
    Ok(AlgorithmIdentifierOwned {
        oid: OID_RSASSA_PSS,
        parameters: Some(Any::from_der(params)?),
    })
}

/// AMD's distinguished name: one attribute per RDN in the order OU, C, L, ST, O, CN; C as
/// PrintableString, the others as UTF8String.
pub(super) fn amd_name(common_name: &str) -> Result<RdnSequence, SimError> {
    let attributes = [
        (OID_OU, Tag::Utf8String, "Engineering"),
        (OID_C, Tag::PrintableString, "US"),
        (OID_L, Tag::Utf8String, "Santa Clara"),
        (OID_ST, Tag::Utf8String, "CA"),
        (OID_O, Tag::Utf8String, "Advanced Micro Devices"),
        (OID_CN, Tag::Utf8String, common_name),
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

/// A validity period from two instants.
pub(super) fn validity(not_before: UnixTime, not_after: UnixTime) -> Result<Validity, SimError> {
    Ok(Validity {
        not_before: x509_time(not_before)?,
        not_after: x509_time(not_after)?,
    })
}

/// An extension; the value is the DER that goes inside extnValue.
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

/// The SHA-1 key identifier of a public key (RFC 5280 4.2.1.2 method 1), as AMD computes it.
pub(super) fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Result<OctetString, SimError> {
    Ok(SubjectKeyIdentifier::try_from(spki.owned_to_ref())?.0)
}

/// The extensions AMD puts in a CA certificate, in AMD's order.
///
/// ARK: keyUsage (critical), subjectKeyIdentifier, basicConstraints (critical), CRL DP.
/// ASK/ASVK: subjectKeyIdentifier, authorityKeyIdentifier, basicConstraints (critical),
/// keyUsage (critical), CRL DP.
pub(super) fn ca_extensions(
    product: Product,
    role: CaRole,
    subject_key_id: &OctetString,
    issuer_key_id: &OctetString,
) -> Result<Vec<Extension>, SimError> {
    let ski = extension(
        OID_SKI,
        false,
        SubjectKeyIdentifier(subject_key_id.clone()).to_der()?,
    )?;
    // The ARK and ASK CRLs are under /vcek/, the ASVK's under /vlek/.
    let kds_path = if role == CaRole::Asvk { "vlek" } else { "vcek" };
    let crl_url = format!("https://kdsintf.amd.com/{kds_path}/v1/{product}/crl");
    let crl_dp = CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            GeneralName::UniformResourceIdentifier(Ia5String::new(&crl_url)?),
        ])),
        reasons: None,
        crl_issuer: None,
    }]);
    let crl_dp = extension(OID_CRL_DP, false, crl_dp.to_der()?)?;
    Ok(match role {
        CaRole::Ark => vec![
            extension(OID_KEY_USAGE, true, KEY_USAGE_ARK.to_vec())?,
            ski,
            extension(OID_BASIC_CONSTRAINTS, true, BASIC_CONSTRAINTS_ARK.to_vec())?,
            crl_dp,
        ],
        CaRole::Ask | CaRole::Asvk => {
            let aki = AuthorityKeyIdentifier {
                key_identifier: Some(issuer_key_id.clone()),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            vec![
                ski,
                extension(OID_AKI, false, aki.to_der()?)?,
                extension(OID_BASIC_CONSTRAINTS, true, BASIC_CONSTRAINTS_ASK.to_vec())?,
                extension(OID_KEY_USAGE, true, KEY_USAGE_ASK.to_vec())?,
                crl_dp,
            ]
        }
    })
}

/// Everything in a certificate but the signature.
pub(super) struct CertFields {
    pub(super) serial: Vec<u8>,
    pub(super) explicit_trailer: bool,
    pub(super) issuer: RdnSequence,
    pub(super) validity: Validity,
    pub(super) subject: RdnSequence,
    pub(super) spki: SubjectPublicKeyInfoOwned,
    pub(super) extensions: Vec<Extension>,
}

/// Builds the TBSCertificate, signs it with RSASSA-PSS/SHA-384 (salt 48, salt bytes from
/// `rng`) and returns the certificate DER.
pub(super) fn sign_certificate(
    fields: CertFields,
    issuer_key: &PssSigningKey<Sha384>,
    rng: &mut ChaCha20Rng,
) -> Result<Vec<u8>, SimError> {
    let algorithm = pss_algorithm(fields.explicit_trailer)?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&fields.serial)?,
        signature: algorithm.clone(),
        issuer: fields.issuer,
        validity: fields.validity,
        subject: fields.subject,
        subject_public_key_info: fields.spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(fields.extensions),
    };
    let tbs_der = tbs.to_der()?;
    let signature = issuer_key
        .try_sign_with_rng(rng, &tbs_der)
        .map_err(|_| SimError::Signature)?;
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: algorithm,
        signature: BitString::from_bytes(&signature.to_bytes())?,
    };
    Ok(cert.to_der()?)
}
