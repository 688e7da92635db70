//! Strict PEM (RFC 7468) for Intel's certificate chains and CRLs, and the few certificate fields
//! Warden reads before dcap-qvl verifies anything.

use base64::Engine;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use crate::UnixTime;

const CERTIFICATE: &str = "CERTIFICATE";
pub(crate) const X509_CRL: &str = "X509 CRL";

/// Decodes PEM blocks labelled `label`. Strict: only such blocks, nothing but whitespace between
/// them, standard base64 with padding, at least one block.
pub(crate) fn decode(input: &[u8], label: &str) -> Result<Vec<Vec<u8>>, &'static str> {
    let text = std::str::from_utf8(input).map_err(|_| "PEM is not UTF-8")?;
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut ders = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        match body.as_mut() {
            None if line.is_empty() => {}
            None if line == begin => body = Some(String::new()),
            None if line.starts_with("-----BEGIN ") => return Err("PEM block of another type"),
            None => return Err("text outside PEM blocks"),
            Some(b64) if line == end => {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b64.as_bytes())
                    .map_err(|_| "PEM body is not valid base64")?;
                ders.push(der);
                body = None;
            }
            Some(_) if line.starts_with("-----") => return Err("mismatched PEM END line"),
            Some(b64) => b64.push_str(line),
        }
    }
    if body.is_some() {
        return Err("PEM block without END line");
    }
    if ders.is_empty() {
        return Err("no PEM block");
    }
    Ok(ders)
}

/// Decodes PEM certificates and checks each is one DER X.509 certificate with nothing after it.
pub(crate) fn decode_certificates(input: &[u8]) -> Result<Vec<Vec<u8>>, &'static str> {
    let ders = decode(input, CERTIFICATE)?;
    for der in &ders {
        parse_certificate(der)?;
    }
    Ok(ders)
}

/// The canonical PEM form: 64-column base64 lines, `\n` line ends.
pub(crate) fn encode(ders: &[Vec<u8>], label: &str) -> String {
    let mut out = String::new();
    for der in ders {
        out.push_str(&format!("-----BEGIN {label}-----\n"));
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        // Base64 output is ASCII, so splitting its bytes keeps valid UTF-8.
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(&format!("-----END {label}-----\n"));
    }
    out
}

/// Canonical PEM of certificates.
pub(crate) fn encode_certificates(ders: &[Vec<u8>]) -> String {
    encode(ders, CERTIFICATE)
}

/// One DER certificate, with no trailing bytes.
pub(crate) fn parse_certificate(der: &[u8]) -> Result<X509Certificate<'_>, &'static str> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err("trailing bytes after a certificate"),
        Err(_) => Err("not a DER X.509 certificate"),
    }
}

/// One DER CRL, with no trailing bytes.
pub(crate) fn parse_crl(der: &[u8]) -> Result<CertificateRevocationList<'_>, &'static str> {
    match CertificateRevocationList::from_der(der) {
        Ok(([], crl)) => Ok(crl),
        Ok(_) => Err("trailing bytes after the CRL"),
        Err(_) => Err("not a DER X.509 CRL"),
    }
}

/// The first common name of a distinguished name.
pub(crate) fn common_name(name: &x509_parser::x509::X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

/// Subject CN of a DER certificate.
pub(crate) fn subject_cn(der: &[u8]) -> Option<String> {
    parse_certificate(der)
        .ok()
        .and_then(|c| common_name(c.subject()))
}

/// notBefore of a DER certificate.
pub(crate) fn not_before(der: &[u8]) -> Option<UnixTime> {
    parse_certificate(der)
        .ok()
        .map(|c| UnixTime(c.validity().not_before.timestamp()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn decode_is_strict() {
        let ok = "-----BEGIN X-----\nAAEC\n-----END X-----\n";
        assert_eq!(decode(ok.as_bytes(), "X").unwrap(), vec![vec![0, 1, 2]]);
        assert_eq!(
            decode(b"junk\n-----BEGIN X-----\nAAEC\n-----END X-----\n", "X"),
            Err("text outside PEM blocks")
        );
        assert_eq!(
            decode(b"-----BEGIN Y-----\nAAEC\n-----END Y-----\n", "X"),
            Err("PEM block of another type")
        );
        assert_eq!(
            decode(b"-----BEGIN X-----\nAAEC\n", "X"),
            Err("PEM block without END line")
        );
        assert_eq!(
            decode(b"-----BEGIN X-----\nAA!C\n-----END X-----\n", "X"),
            Err("PEM body is not valid base64")
        );
        assert_eq!(decode(b"", "X"), Err("no PEM block"));
        assert_eq!(decode(&[0xff], "X"), Err("PEM is not UTF-8"));
    }

    #[test]
    fn encode_round_trips() {
        let ders = vec![vec![7u8; 100], vec![1, 2, 3]];
        let pem = encode(&ders, "X");
        assert!(pem.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        assert_eq!(decode(pem.as_bytes(), "X").unwrap(), ders);
    }
}
