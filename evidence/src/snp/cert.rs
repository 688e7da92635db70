//! AMD certificates: strict decoding, the checks AMD's profile allows, chain signatures and the
//! VCEK/VLEK extensions.
//!
//! Profile (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface
//! Specification", publication 57230, rev 1.00, sections 2 and 3): ARK, ASK and ASVK are RSA-4096
//! keys signing with RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48); the VCEK and VLEK are ECDSA
//! P-384 keys whose certificates carry the TCB they were derived for in private extensions under
//! 1.3.6.1.4.1.3704.1.

use base64::Engine;
use ring::signature::{self, UnparsedPublicKey};
use sha2::{Digest, Sha256};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::signature_algorithm::SignatureAlgorithm;
use x509_parser::x509::AlgorithmIdentifier;

use crate::UnixTime;
use crate::snp::{CertRole, SnpError, VekKind};

const OID_SHA384: &str = "2.16.840.1.101.3.4.2.2";
const OID_MGF1: &str = "1.2.840.113549.1.1.8";
const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_SECP384R1: &str = "1.3.132.0.34";
const OID_PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
const OID_HW_ID: &str = "1.3.6.1.4.1.3704.1.4";
const OID_CSP_ID: &str = "1.3.6.1.4.1.3704.1.5";
const OID_DELTA_CRL_INDICATOR: &str = "2.5.29.27";
const OID_ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";

/// Decodes certificate input that is either one DER certificate or PEM `CERTIFICATE` blocks.
///
/// PEM is strict: only `CERTIFICATE` blocks, nothing but whitespace outside them, standard
/// base64 with padding. `expected` is the exact number of certificates required; `roles` names
/// them in order for error messages.
pub fn decode_certificates(input: &[u8], roles: &[CertRole]) -> Result<Vec<Vec<u8>>, SnpError> {
    let first = roles.first().copied().unwrap_or(CertRole::Vcek);
    let trimmed = input.trim_ascii_start();
    let ders = if trimmed.starts_with(b"-----BEGIN") {
        decode_pem(input, "CERTIFICATE", first)?
    } else {
        vec![input.to_vec()]
    };
    if ders.len() != roles.len() {
        return Err(SnpError::CertEncoding {
            role: first,
            reason: if ders.len() < roles.len() {
                "fewer certificates than expected"
            } else {
                "more certificates than expected"
            },
        });
    }
    for (der, role) in ders.iter().zip(roles) {
        parse(*role, der)?;
    }
    Ok(ders)
}

fn decode_pem(input: &[u8], label: &str, role: CertRole) -> Result<Vec<Vec<u8>>, SnpError> {
    let bad = |reason| SnpError::CertEncoding { role, reason };
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let text = std::str::from_utf8(input).map_err(|_| bad("PEM is not UTF-8"))?;
    let mut ders = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        match body.as_mut() {
            None if line.is_empty() => {}
            None if line == begin => body = Some(String::new()),
            None if line.starts_with("-----BEGIN ") => {
                return Err(bad(if label == "CERTIFICATE" {
                    "PEM block is not a CERTIFICATE"
                } else {
                    "PEM block is not an X509 CRL"
                }));
            }
            None => return Err(bad("text outside PEM blocks")),
            Some(b64) if line == end => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|_| bad("PEM body is not valid base64"))?;
                ders.push(der);
                body = None;
            }
            Some(_) if line.starts_with("-----") => return Err(bad("mismatched PEM END line")),
            Some(b64) => b64.push_str(line),
        }
    }
    if body.is_some() {
        return Err(bad("PEM block without END line"));
    }
    if ders.is_empty() {
        return Err(bad("no PEM block"));
    }
    Ok(ders)
}

/// Parses one DER certificate strictly: no trailing bytes.
pub(crate) fn parse(role: CertRole, der: &[u8]) -> Result<X509Certificate<'_>, SnpError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(SnpError::CertEncoding {
            role,
            reason: "trailing bytes after the certificate",
        }),
        Err(_) => Err(SnpError::CertEncoding {
            role,
            reason: "not a DER X.509 certificate",
        }),
    }
}

/// A certificate's validity window, `(not_before, not_after)`.
pub(crate) type Window = (UnixTime, UnixTime);

/// Validity of a certificate as `(not_before, not_after)`.
pub(crate) fn validity(cert: &X509Certificate<'_>) -> Window {
    let v = cert.validity();
    (
        UnixTime(v.not_before.timestamp()),
        UnixTime(v.not_after.timestamp()),
    )
}

/// Checks a certificate's validity window at `now`.
pub(crate) fn check_validity(
    role: CertRole,
    (not_before, not_after): Window,
    now: UnixTime,
) -> Result<(), SnpError> {
    if now < not_before {
        return Err(SnpError::NotYetValid {
            role,
            not_before,
            now,
        });
    }
    if now > not_after {
        return Err(SnpError::Expired {
            role,
            not_after,
            now,
        });
    }
    Ok(())
}

/// The certificate is signed with RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48, trailer 1.
fn check_pss_sha384(role: CertRole, cert: &X509Certificate<'_>) -> Result<(), SnpError> {
    check_pss_params(&cert.signature_algorithm, &cert.tbs_certificate.signature)
        .map_err(|reason| SnpError::BadCert { role, reason })
}

/// Both algorithm identifiers (outer and signed) are AMD's RSASSA-PSS: SHA-384, MGF1-SHA-384,
/// salt 48, trailer 1.
fn check_pss_params(
    outer: &AlgorithmIdentifier<'_>,
    signed: &AlgorithmIdentifier<'_>,
) -> Result<(), &'static str> {
    if outer != signed {
        return Err("outer and TBS signature algorithms differ");
    }
    let Ok(SignatureAlgorithm::RSASSA_PSS(params)) = SignatureAlgorithm::try_from(outer) else {
        return Err("signature algorithm is not RSASSA-PSS");
    };
    if params.hash_algorithm_oid().to_id_string() != OID_SHA384 {
        return Err("RSASSA-PSS hash is not SHA-384");
    }
    match params.mask_gen_algorithm() {
        Ok(mgf) if mgf.mgf.to_id_string() == OID_MGF1 && mgf.hash.to_id_string() == OID_SHA384 => {}
        _ => return Err("RSASSA-PSS mask generation is not MGF1 with SHA-384"),
    }
    if params.salt_length() != 48 {
        return Err("RSASSA-PSS salt length is not 48");
    }
    if params.trailer_field() != 1 {
        return Err("RSASSA-PSS trailer field is not 1");
    }
    Ok(())
}

/// The PKCS#1 RSAPublicKey of an RSA-4096 CA certificate (ARK, ASK, ASVK).
fn rsa4096_key<'a>(role: CertRole, cert: &'a X509Certificate<'a>) -> Result<&'a [u8], SnpError> {
    let spki = cert.public_key();
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) if rsa.key_size() == 4096 => Ok(&spki.subject_public_key.data),
        Ok(PublicKey::RSA(_)) => Err(SnpError::BadCert {
            role,
            reason: "RSA key is not 4096 bits",
        }),
        _ => Err(SnpError::BadCert {
            role,
            reason: "public key is not RSA",
        }),
    }
}

/// Checks that `cert` names `issuer` as its issuer and carries a valid RSASSA-PSS signature made
/// with the issuer's RSA-4096 key.
fn verify_issued_by(
    role: CertRole,
    cert: &X509Certificate<'_>,
    issuer_role: CertRole,
    issuer: &X509Certificate<'_>,
) -> Result<(), SnpError> {
    check_pss_sha384(role, cert)?;
    if cert.issuer().as_raw() != issuer.subject().as_raw() {
        return Err(SnpError::BadCert {
            role,
            reason: "issuer name is not the issuer's subject",
        });
    }
    let key = rsa4096_key(issuer_role, issuer)?;
    UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA384, key)
        .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
        .map_err(|_| SnpError::CertSignature {
            role,
            issuer: issuer_role,
        })
}

/// A verified CA pair: the ARK (self-signed) and an intermediate it issued (ASK or ASVK).
pub(crate) fn verify_ca(
    ark_der: &[u8],
    intermediate_role: CertRole,
    intermediate_der: &[u8],
) -> Result<VerifiedCa, SnpError> {
    let ark = parse(CertRole::Ark, ark_der)?;
    let intermediate = parse(intermediate_role, intermediate_der)?;
    verify_issued_by(CertRole::Ark, &ark, CertRole::Ark, &ark)?;
    verify_issued_by(intermediate_role, &intermediate, CertRole::Ark, &ark)?;
    // The intermediate must itself be an RSA-4096 key: it verifies the VEK next.
    rsa4096_key(intermediate_role, &intermediate)?;
    Ok(VerifiedCa {
        validity: [
            (CertRole::Ark, validity(&ark)),
            (intermediate_role, validity(&intermediate)),
        ],
        intermediate_serial: intermediate.raw_serial().to_vec(),
    })
}

/// What verification keeps of a verified ARK and intermediate.
pub(crate) struct VerifiedCa {
    pub(crate) validity: [(CertRole, Window); 2],
    /// Serial of the ASK or ASVK (DER INTEGER content), looked up in the ARK's CRLs.
    pub(crate) intermediate_serial: Vec<u8>,
}

/// A CRL verified as issued and signed by the ARK.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedCrl {
    pub(crate) this_update: UnixTime,
    pub(crate) next_update: UnixTime,
    /// Revoked serials (DER INTEGER content) with their revocation dates.
    pub(crate) revoked: Vec<(Vec<u8>, UnixTime)>,
}

/// Verifies an AMD CRL (KDS `/vcek/v1/{product}/crl` or `/vlek/v1/{product}/crl`): strict DER
/// CRL, issuer the ARK, RSASSA-PSS as for the certificates, signature by the ARK key, a
/// nextUpdate present. Freshness is checked at every verification.
pub(crate) fn verify_crl(crl_der: &[u8], ark_der: &[u8]) -> Result<VerifiedCrl, SnpError> {
    let ark = parse(CertRole::Ark, ark_der)?;
    let crl = match CertificateRevocationList::from_der(crl_der) {
        Ok(([], crl)) => crl,
        Ok(_) => return Err(SnpError::BadCrl("trailing bytes after the CRL")),
        Err(_) => return Err(SnpError::BadCrl("not a DER X.509 CRL")),
    };
    check_pss_params(&crl.signature_algorithm, &crl.tbs_cert_list.signature)
        .map_err(SnpError::BadCrl)?;
    if crl.issuer().as_raw() != ark.subject().as_raw() {
        return Err(SnpError::BadCrl("issuer is not the ARK"));
    }
    let key = rsa4096_key(CertRole::Ark, &ark)?;
    UnparsedPublicKey::new(&signature::RSA_PSS_2048_8192_SHA384, key)
        .verify(crl.tbs_cert_list.as_ref(), &crl.signature_value.data)
        .map_err(|_| SnpError::CrlSignature)?;
    // A complete CRL of the ARK covers every certificate the ARK issued (ASK and ASVK). Delta
    // and partitioned CRLs cover less: refuse them, and anything critical we do not understand.
    for ext in crl.extensions() {
        match ext.oid.to_id_string().as_str() {
            OID_DELTA_CRL_INDICATOR | OID_ISSUING_DISTRIBUTION_POINT => {
                return Err(SnpError::BadCrl(
                    "delta or partitioned CRLs are not supported",
                ));
            }
            _ if ext.critical => return Err(SnpError::BadCrl("unknown critical CRL extension")),
            _ => {}
        }
    }
    if crl
        .iter_revoked_certificates()
        .any(|r| r.extensions().iter().any(|e| e.critical))
    {
        return Err(SnpError::BadCrl(
            "critical CRL entry extension (indirect CRL)",
        ));
    }
    let next_update = crl.next_update().ok_or(SnpError::BadCrl("no nextUpdate"))?;
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| {
            (
                r.raw_serial().to_vec(),
                UnixTime(r.revocation_date.timestamp()),
            )
        })
        .collect();
    Ok(VerifiedCrl {
        this_update: UnixTime(crl.last_update().timestamp()),
        next_update: UnixTime(next_update.timestamp()),
        revoked,
    })
}

/// Decodes CRL input: DER, or exactly one PEM `X509 CRL` block.
pub fn decode_crl(input: &[u8]) -> Result<Vec<u8>, SnpError> {
    if !input.trim_ascii_start().starts_with(b"-----BEGIN") {
        return Ok(input.to_vec());
    }
    let mut ders = decode_pem(input, "X509 CRL", CertRole::Ark)
        .map_err(|_| SnpError::BadCrl("not a PEM X509 CRL block"))?;
    match (ders.pop(), ders.is_empty()) {
        (Some(der), true) => Ok(der),
        _ => Err(SnpError::BadCrl("more than one PEM block")),
    }
}

/// The SPL values from a VCEK/VLEK (1.3.6.1.4.1.3704.1.3.*), `None` where absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct SplExtensions {
    pub(crate) fmc: Option<u8>,
    pub(crate) bootloader: Option<u8>,
    pub(crate) tee: Option<u8>,
    pub(crate) snp: Option<u8>,
    pub(crate) microcode: Option<u8>,
}

/// What Warden keeps of a VCEK or VLEK after verifying its chain.
#[derive(Debug, Clone)]
pub(crate) struct VekInfo {
    pub(crate) kind: VekKind,
    pub(crate) product_name: Option<String>,
    pub(crate) spl: SplExtensions,
    pub(crate) hw_id: Option<Vec<u8>>,
    pub(crate) csp_id: Option<String>,
    /// Uncompressed SEC1 P-384 point.
    pub(crate) public_key: Vec<u8>,
    pub(crate) sha256: [u8; 32],
    pub(crate) validity: Window,
}

/// The parts of a VCEK/VLEK that can be read before its chain is chosen: its kind (from the
/// subject CN) and its productName.
pub(crate) fn vek_identity(der: &[u8]) -> Result<(VekKind, Option<String>), SnpError> {
    let cert = parse(CertRole::Vcek, der)?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or(SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "subject has no common name",
        })?;
    let kind = match cn {
        "SEV-VCEK" => VekKind::Vcek,
        "SEV-VLEK" => VekKind::Vlek,
        _ => {
            return Err(SnpError::BadCert {
                role: CertRole::Vcek,
                reason: "subject CN is neither SEV-VCEK nor SEV-VLEK",
            });
        }
    };
    let role = CertRole::of_vek(kind);
    let mut product_name = None;
    for ext in cert.extensions() {
        if ext.oid.to_id_string() == OID_PRODUCT_NAME {
            product_name = Some(ia5_string(role, ext.value)?);
        }
    }
    Ok((kind, product_name))
}

/// Verifies a VCEK/VLEK under its issuer and extracts what verification needs.
pub(crate) fn verify_vek(
    kind: VekKind,
    der: &[u8],
    issuer_role: CertRole,
    issuer_der: &[u8],
) -> Result<VekInfo, SnpError> {
    let role = CertRole::of_vek(kind);
    let cert = parse(role, der)?;
    let issuer = parse(issuer_role, issuer_der)?;
    verify_issued_by(role, &cert, issuer_role, &issuer)?;

    let spki = cert.public_key();
    if spki.algorithm.algorithm.to_id_string() != OID_EC_PUBLIC_KEY {
        return Err(SnpError::BadCert {
            role,
            reason: "public key is not an EC key",
        });
    }
    let curve = crate::x509::ec_curve_oid(spki);
    if curve.as_deref() != Some(OID_SECP384R1) {
        return Err(SnpError::BadCert {
            role,
            reason: "EC key is not on P-384",
        });
    }
    let public_key = spki.subject_public_key.data.to_vec();
    if public_key.len() != 97 || public_key.first() != Some(&0x04) {
        return Err(SnpError::BadCert {
            role,
            reason: "P-384 key is not an uncompressed point",
        });
    }

    let mut spl = SplExtensions::default();
    let mut hw_id = None;
    let mut csp_id = None;
    let mut product_name = None;
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        let slot = match oid.as_str() {
            OID_BL_SPL => &mut spl.bootloader,
            OID_TEE_SPL => &mut spl.tee,
            OID_SNP_SPL => &mut spl.snp,
            OID_UCODE_SPL => &mut spl.microcode,
            OID_FMC_SPL => &mut spl.fmc,
            OID_HW_ID => {
                hw_id = Some(ext.value.to_vec());
                continue;
            }
            OID_CSP_ID => {
                csp_id = Some(ia5_string(role, ext.value)?);
                continue;
            }
            OID_PRODUCT_NAME => {
                product_name = Some(ia5_string(role, ext.value)?);
                continue;
            }
            _ => continue,
        };
        *slot = Some(spl_integer(role, ext.value)?);
    }
    Ok(VekInfo {
        kind,
        product_name,
        spl,
        hw_id,
        csp_id,
        public_key,
        sha256: Sha256::digest(der).into(),
        validity: validity(&cert),
    })
}

/// An SPL extension value: a DER INTEGER in 0..=255, minimally encoded.
fn spl_integer(role: CertRole, value: &[u8]) -> Result<u8, SnpError> {
    match value {
        [0x02, 0x01, v] if *v < 0x80 => Ok(*v),
        [0x02, 0x02, 0x00, v] if *v >= 0x80 => Ok(*v),
        _ => Err(SnpError::BadCert {
            role,
            reason: "SPL extension is not a DER INTEGER in 0..=255",
        }),
    }
}

/// An IA5String extension value (productName, csp_id).
fn ia5_string(role: CertRole, value: &[u8]) -> Result<String, SnpError> {
    let bad = SnpError::BadCert {
        role,
        reason: "extension is not a DER IA5String",
    };
    let Some((&0x16, rest)) = value.split_first() else {
        return Err(bad);
    };
    let Some((&len, body)) = rest.split_first() else {
        return Err(bad);
    };
    if len >= 0x80 || usize::from(len) != body.len() || !body.is_ascii() {
        return Err(bad);
    }
    String::from_utf8(body.to_vec()).map_err(|_| bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spl_integer_encodings() {
        let r = CertRole::Vcek;
        assert_eq!(spl_integer(r, &[0x02, 0x01, 0x08]), Ok(8));
        assert_eq!(spl_integer(r, &[0x02, 0x02, 0x00, 0xD9]), Ok(0xD9));
        // Negative, non-minimal, too large, wrong tag, trailing byte.
        for bad in [
            &[0x02, 0x01, 0x80][..],
            &[0x02, 0x02, 0x00, 0x08],
            &[0x02, 0x02, 0x01, 0x00],
            &[0x04, 0x01, 0x08],
            &[0x02, 0x01, 0x08, 0x00],
            &[],
        ] {
            assert!(
                matches!(spl_integer(r, bad), Err(SnpError::BadCert { .. })),
                "{bad:02x?}"
            );
        }
    }

    #[test]
    fn ia5_strings() {
        let r = CertRole::Vcek;
        assert_eq!(ia5_string(r, b"\x16\x05Milan").as_deref(), Ok("Milan"));
        assert!(ia5_string(r, b"\x16\x06Milan").is_err());
        assert!(ia5_string(r, b"\x0c\x05Milan").is_err());
        assert!(ia5_string(r, b"\x16").is_err());
    }

    #[test]
    fn pem_is_strict() {
        let roles = [CertRole::Vcek];
        let err = |input: &str| decode_certificates(input.as_bytes(), &roles).unwrap_err();
        assert_eq!(
            err("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            SnpError::CertEncoding {
                role: CertRole::Vcek,
                reason: "PEM block is not a CERTIFICATE"
            }
        );
        assert_eq!(
            err("-----BEGIN CERTIFICATE-----\nAAAA\n"),
            SnpError::CertEncoding {
                role: CertRole::Vcek,
                reason: "PEM block without END line"
            }
        );
        assert_eq!(
            err("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"),
            SnpError::CertEncoding {
                role: CertRole::Vcek,
                reason: "PEM body is not valid base64"
            }
        );
        assert_eq!(
            err("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\ntrailing\n"),
            SnpError::CertEncoding {
                role: CertRole::Vcek,
                reason: "text outside PEM blocks"
            }
        );
        assert_eq!(
            err("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            SnpError::CertEncoding {
                role: CertRole::Vcek,
                reason: "not a DER X.509 certificate"
            }
        );
    }
}
