//! The GPU device certificate chain (NVML `attestationCertChain`): decoding, path validation to
//! the pinned NVIDIA Device Identity CA, and the leaf's FWID extension.
//!
//! Profile (nvtrust `cc_admin_utils.py` `verify_certificate_chain`, which runs OpenSSL path
//! validation): exactly 5 certificates, leaf first; ECDSA P-384 keys signing with
//! ecdsa-with-SHA384; issuers marked CA with keyCertSign; the leaf may sign (digitalSignature).

use base64::Engine;
use ring::signature::{self, UnparsedPublicKey};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::X509Name;

use crate::UnixTime;
use crate::nvidia::GpuError;
use crate::nvidia::spdm::DIGEST_LEN;

/// Number of certificates NVML returns and NVIDIA's verifiers require.
pub const CHAIN_LEN: usize = 5;

const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_SECP384R1: &str = "1.3.132.0.34";
const OID_KEY_USAGE: &str = "2.5.29.15";
const OID_BASIC_CONSTRAINTS: &str = "2.5.29.19";
/// TCG DICE "ueid/FWID" extension NVIDIA uses on Hopper leaves.
pub(crate) const OID_HOPPER_FWID: &str = "2.23.133.5.4.1";
/// TCG DICE TcbInfo, used on Blackwell leaves.
pub(crate) const OID_DICE_TCB_INFO: &str = "2.23.133.5.4.1.1";
/// DER of OID 2.16.840.1.101.3.4.2.2 (SHA-384), content octets only.
const OID_SHA384_DER: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];

/// The GPU architecture, read from the verified chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum GpuArch {
    /// GH100 (H100, H200, H800).
    Hopper,
    /// GB100 (B100, B200).
    Blackwell,
}

/// Splits a certificate chain given as PEM `CERTIFICATE` blocks or as concatenated DER
/// certificates into DER certificates. It does not check the count.
pub fn decode_chain(input: &[u8]) -> Result<Vec<Vec<u8>>, GpuError> {
    if input.trim_ascii_start().starts_with(b"-----BEGIN") {
        return decode_pem(input);
    }
    let mut ders = Vec::new();
    let mut rest = input;
    while !rest.is_empty() {
        let (tag, _, tail) = der_tlv(rest).ok_or(GpuError::ChainEncoding(
            "neither PEM nor concatenated DER certificates",
        ))?;
        if tag != TAG_SEQUENCE {
            return Err(GpuError::ChainEncoding("DER element is not a SEQUENCE"));
        }
        let len = rest.len().saturating_sub(tail.len());
        let (der, _) = rest
            .split_at_checked(len)
            .ok_or(GpuError::ChainEncoding("DER element overruns the input"))?;
        ders.push(der.to_vec());
        rest = tail;
    }
    if ders.is_empty() {
        return Err(GpuError::ChainEncoding("empty certificate chain"));
    }
    Ok(ders)
}

/// Strict PEM (RFC 7468): only CERTIFICATE blocks, whitespace between them, padded base64.
fn decode_pem(input: &[u8]) -> Result<Vec<Vec<u8>>, GpuError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text =
        std::str::from_utf8(input).map_err(|_| GpuError::ChainEncoding("PEM is not UTF-8"))?;
    let mut ders = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        match body.as_mut() {
            None if line.is_empty() => {}
            None if line == BEGIN => body = Some(String::new()),
            None if line.starts_with("-----BEGIN ") => {
                return Err(GpuError::ChainEncoding("PEM block is not a CERTIFICATE"));
            }
            None => return Err(GpuError::ChainEncoding("text outside PEM blocks")),
            Some(b64) if line == END => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|_| GpuError::ChainEncoding("PEM body is not valid base64"))?;
                ders.push(der);
                body = None;
            }
            Some(_) if line.starts_with("-----") => {
                return Err(GpuError::ChainEncoding("mismatched PEM END line"));
            }
            Some(b64) => b64.push_str(line),
        }
    }
    if body.is_some() {
        return Err(GpuError::ChainEncoding("PEM block without END line"));
    }
    if ders.is_empty() {
        return Err(GpuError::ChainEncoding("no PEM block"));
    }
    Ok(ders)
}

/// Parses one DER certificate strictly: no trailing bytes.
fn parse(index: usize, der: &[u8]) -> Result<X509Certificate<'_>, GpuError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(GpuError::CertEncoding {
            index,
            reason: "trailing bytes after the certificate",
        }),
        Err(_) => Err(GpuError::CertEncoding {
            index,
            reason: "not a DER X.509 certificate",
        }),
    }
}

/// What verification keeps of a verified chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedChain {
    pub(crate) arch: GpuArch,
    /// Uncompressed SEC1 point of the leaf's P-384 key.
    pub(crate) leaf_key: Vec<u8>,
    /// FWID from the leaf's extension for `arch`.
    pub(crate) leaf_fwid: [u8; DIGEST_LEN],
    /// Leaf serial number (DER INTEGER content).
    pub(crate) leaf_serial: Vec<u8>,
    /// CN of the leaf's issuer, e.g. `GH100 A01 GSP BROM`.
    pub(crate) hwmodel: String,
}

/// Verifies `ders` (leaf first) to `root_der`: count, pinned root, names, profile, signatures,
/// validity at `now`; then reads the arch, leaf key and leaf FWID.
pub(crate) fn verify_chain(
    ders: &[Vec<u8>],
    root_der: &[u8],
    now: UnixTime,
) -> Result<VerifiedChain, GpuError> {
    if ders.len() != CHAIN_LEN {
        return Err(GpuError::ChainLength(ders.len()));
    }
    // The chain's own root is only accepted when it is byte-identical to the pinned one.
    if ders.last().map(Vec::as_slice) != Some(root_der) {
        return Err(GpuError::UntrustedRoot);
    }
    let certs = ders
        .iter()
        .enumerate()
        .map(|(index, der)| parse(index, der))
        .collect::<Result<Vec<_>, _>>()?;
    for (index, cert) in certs.iter().enumerate() {
        check_profile(index, cert)?;
        check_validity(index, cert, now)?;
        // The issuer of the last certificate (the pinned root) is itself.
        let issuer = certs.get(index.saturating_add(1)).unwrap_or(cert);
        if cert.issuer().as_raw() != issuer.subject().as_raw() {
            return Err(GpuError::BadCert {
                index,
                reason: "issuer name is not the next certificate's subject",
            });
        }
        UnparsedPublicKey::new(
            &signature::ECDSA_P384_SHA384_ASN1,
            &issuer.public_key().subject_public_key.data,
        )
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| GpuError::ChainSignature { index })?;
    }

    let leaf = certs.first().ok_or(GpuError::ChainLength(0))?;
    let hwmodel = common_name(leaf.issuer()).unwrap_or_default();
    let arch = if hwmodel.starts_with("GH100 ") {
        GpuArch::Hopper
    } else if hwmodel.starts_with("GB100 ") {
        GpuArch::Blackwell
    } else {
        return Err(GpuError::UnsupportedArch(hwmodel));
    };
    let leaf_fwid = leaf_fwid(leaf, arch)?;
    Ok(VerifiedChain {
        arch,
        leaf_key: leaf.public_key().subject_public_key.data.to_vec(),
        leaf_fwid,
        leaf_serial: leaf.raw_serial().to_vec(),
        hwmodel,
    })
}

fn common_name(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// ecdsa-with-SHA384, a P-384 key, CA flags on issuers, no critical extension we do not know.
fn check_profile(index: usize, cert: &X509Certificate<'_>) -> Result<(), GpuError> {
    let bad = |reason| GpuError::BadCert { index, reason };
    if cert.signature_algorithm.algorithm.to_id_string() != OID_ECDSA_SHA384
        || cert.signature_algorithm != cert.tbs_certificate.signature
    {
        return Err(bad("signature algorithm is not ecdsa-with-SHA384"));
    }
    let spki = cert.public_key();
    let curve = crate::x509::ec_curve_oid(spki);
    if spki.algorithm.algorithm.to_id_string() != OID_EC_PUBLIC_KEY
        || curve.as_deref() != Some(OID_SECP384R1)
    {
        return Err(bad("public key is not ECDSA P-384"));
    }
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if ext.critical && oid != OID_KEY_USAGE && oid != OID_BASIC_CONSTRAINTS {
            return Err(bad("unknown critical extension"));
        }
    }
    let key_usage = cert
        .key_usage()
        .map_err(|_| bad("malformed or duplicated key usage"))?;
    let basic = cert
        .basic_constraints()
        .map_err(|_| bad("malformed or duplicated basic constraints"))?;
    if index == 0 {
        if key_usage.is_some_and(|ku| !ku.value.digital_signature()) {
            return Err(bad("leaf key usage lacks digitalSignature"));
        }
    } else {
        if !basic.as_ref().is_some_and(|bc| bc.value.ca) {
            return Err(bad("issuer is not a CA (basicConstraints)"));
        }
        if key_usage.is_some_and(|ku| !ku.value.key_cert_sign()) {
            return Err(bad("issuer key usage lacks keyCertSign"));
        }
        // pathLenConstraint counts the CA certificates below this one, the leaf excluded.
        let below = index.saturating_sub(1);
        if let Some(limit) = basic.and_then(|bc| bc.value.path_len_constraint)
            && usize::try_from(limit).is_ok_and(|limit| below > limit)
        {
            return Err(bad("pathLenConstraint exceeded"));
        }
    }
    Ok(())
}

fn check_validity(index: usize, cert: &X509Certificate<'_>, now: UnixTime) -> Result<(), GpuError> {
    let v = cert.validity();
    let not_before = UnixTime(v.not_before.timestamp());
    let not_after = UnixTime(v.not_after.timestamp());
    if now < not_before {
        return Err(GpuError::CertNotYetValid {
            index,
            not_before,
            now,
        });
    }
    if now > not_after {
        return Err(GpuError::CertExpired {
            index,
            not_after,
            now,
        });
    }
    Ok(())
}

/// The FWID the leaf certifies, from the extension of its architecture.
fn leaf_fwid(leaf: &X509Certificate<'_>, arch: GpuArch) -> Result<[u8; DIGEST_LEN], GpuError> {
    let oid = match arch {
        GpuArch::Hopper => OID_HOPPER_FWID,
        GpuArch::Blackwell => OID_DICE_TCB_INFO,
    };
    let mut found = leaf
        .extensions()
        .iter()
        .filter(|e| e.oid.to_id_string() == oid);
    let ext = found
        .next()
        .ok_or(GpuError::FwidExtension("leaf has no FWID extension"))?;
    if found.next().is_some() {
        return Err(GpuError::FwidExtension("FWID extension appears twice"));
    }
    match arch {
        GpuArch::Hopper => hopper_fwid(ext.value),
        GpuArch::Blackwell => dice_tcb_info_fwid(ext.value),
    }
    .ok_or(GpuError::FwidExtension("FWID extension does not decode"))
}

/// Hopper, 2.23.133.5.4.1: `SEQUENCE { INTEGER, SubjectPublicKeyInfo, SEQUENCE { OID sha384,
/// OCTET STRING (48) } }`. nvtrust takes the last 48 bytes of the value; this is the same digest
/// with the structure checked.
pub(crate) fn hopper_fwid(value: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    let (tag, body, rest) = der_tlv(value)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    let (tag, _, body) = der_tlv(body)?;
    if tag != TAG_INTEGER {
        return None;
    }
    let (tag, _, body) = der_tlv(body)?;
    if tag != TAG_SEQUENCE {
        return None;
    }
    let (tag, fwid, body) = der_tlv(body)?;
    if tag != TAG_SEQUENCE || !body.is_empty() {
        return None;
    }
    sha384_fwid(fwid)
}

/// Blackwell, 2.23.133.5.4.1.1, TCG DICE TcbInfo: `SEQUENCE { [0] vendor OPTIONAL, ...,
/// [6] IMPLICIT fwids SEQUENCE OF FWID OPTIONAL, ... }`; the digest of `fwids[0]`.
pub(crate) fn dice_tcb_info_fwid(value: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    const TAG_FWIDS: u8 = 0xA6;
    let (tag, body, rest) = der_tlv(value)?;
    if tag != TAG_SEQUENCE || !rest.is_empty() {
        return None;
    }
    let mut fields = body;
    while !fields.is_empty() {
        let (tag, content, next) = der_tlv(fields)?;
        if tag == TAG_FWIDS {
            let (tag, fwid, _) = der_tlv(content)?;
            if tag != TAG_SEQUENCE {
                return None;
            }
            return sha384_fwid(fwid);
        }
        fields = next;
    }
    None
}

/// FWID ::= SEQUENCE { hashAlg OID (must be SHA-384), digest OCTET STRING (48) }, content only.
fn sha384_fwid(body: &[u8]) -> Option<[u8; DIGEST_LEN]> {
    let (tag, oid, body) = der_tlv(body)?;
    if tag != TAG_OID || oid != OID_SHA384_DER {
        return None;
    }
    let (tag, digest, body) = der_tlv(body)?;
    if tag != TAG_OCTET_STRING || !body.is_empty() {
        return None;
    }
    digest.try_into().ok()
}

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;

/// One DER TLV with a single-byte tag: `(tag, content, rest)`. Definite lengths only, minimal
/// long form up to 4 length bytes.
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1F == 0x1F {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, tail) = rest.split_at_checked(n)?;
        rest = tail;
        if bytes.first() == Some(&0) {
            return None;
        }
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        if len < 0x80 {
            return None;
        }
        len
    };
    let (content, rest) = rest.split_at_checked(len)?;
    Some((tag, content, rest))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn der_tlv_rejects_non_minimal_and_overruns() {
        assert_eq!(
            der_tlv(&[0x04, 0x01, 0xAA]),
            Some((0x04, &[0xAA][..], &[][..]))
        );
        assert_eq!(der_tlv(&[0x04, 0x81, 0x01, 0xAA]), None);
        assert_eq!(der_tlv(&[0x04, 0x02, 0xAA]), None);
        assert_eq!(der_tlv(&[0x04, 0x80]), None);
        assert_eq!(der_tlv(&[0x1F, 0x01, 0x00]), None);
    }

    #[test]
    fn fwid_needs_sha384_and_48_bytes() {
        let mut fwid = vec![0x06, 0x09];
        fwid.extend_from_slice(OID_SHA384_DER);
        fwid.extend_from_slice(&[0x04, 0x30]);
        fwid.extend_from_slice(&[7u8; 48]);
        assert_eq!(sha384_fwid(&fwid), Some([7u8; 48]));
        let mut short = fwid.clone();
        short[12] = 0x2F;
        short.pop();
        assert_eq!(sha384_fwid(&short), None);
        let mut other = fwid;
        other[10] = 0x01;
        assert_eq!(sha384_fwid(&other), None);
    }
}
