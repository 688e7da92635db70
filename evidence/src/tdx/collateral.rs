//! DCAP collateral as separate items, and their selection for a quote. No I/O: callers read files
//! or HTTP responses and hand the bytes to [`CollateralItem::parse_file`].
//!
//! Intel PCS (API v4) serves each item on its own: the TCB info and QE identity as JSON
//! responses `{"tcbInfo":{..},"signature":"<hex>"}` and `{"enclaveIdentity":{..},"signature":..}`
//! whose signature covers the exact bytes of the inner object, the CRLs as DER, and the issuer
//! chains as PEM (HTTP headers `TCB-Info-Issuer-Chain`, `SGX-PCK-CRL-Issuer-Chain`). Warden keeps
//! the signed inner objects byte for byte (cut from the response, never re-serialised), so the
//! signatures still verify after a round trip through [`CollateralItem::to_file_bytes`].
//!
//! What is checked here is form only: signatures, chains and CRL contents are verified by
//! dcap-qvl in [`crate::tdx::TdxVerifier::verify`].

use std::collections::BTreeMap;

use dcap_qvl::QuoteCollateralV3;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::UnixTime;
use crate::tdx::{PckCa, PckInfo, TdxError, pem};

const KIND_TCB_INFO: &str = "tcb-info";
const KIND_QE_IDENTITY: &str = "qe-identity";
const KIND_ROOT_CA_CRL: &str = "root-ca-crl";
const KIND_PCK_CRL: &str = "pck-crl";
const KIND_TCB_SIGNING_CHAIN: &str = "tcb-signing-chain";
const KIND_PCK_CRL_ISSUER_CHAIN: &str = "pck-crl-issuer-chain";
const KIND_DCAP_JSON: &str = "quote-collateral-v3";

/// The QE identity a TD quote needs.
const TD_QE: &str = "TD_QE";
/// The TCB info id a TD quote needs.
const TDX: &str = "TDX";

fn format_error(what: &'static str, reason: impl Into<String>) -> TdxError {
    TdxError::CollateralFormat {
        what,
        reason: reason.into(),
    }
}

fn rfc3339(what: &'static str, field: &str, value: &str) -> Result<UnixTime, TdxError> {
    time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map(|t| UnixTime(t.unix_timestamp()))
        .map_err(|_| format_error(what, format!("{field} {value:?} is not an RFC 3339 time")))
}

/// A raw ECDSA P-256 signature `r || s`, hex in PCS responses.
fn signature_bytes(what: &'static str, signature: Vec<u8>) -> Result<Vec<u8>, TdxError> {
    if signature.len() == 64 {
        Ok(signature)
    } else {
        Err(format_error(
            what,
            format!("signature is {} bytes, expected 64", signature.len()),
        ))
    }
}

fn decode_hex_signature(what: &'static str, hex_sig: &str) -> Result<Vec<u8>, TdxError> {
    let sig = hex::decode(hex_sig).map_err(|_| format_error(what, "signature is not hex"))?;
    signature_bytes(what, sig)
}

/// A signed TCB info: the exact bytes of the `tcbInfo` object and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbInfo {
    json: String,
    signature: Vec<u8>,
    id: String,
    version: u8,
    fmspc: [u8; 6],
    pce_id: String,
    issue_date: UnixTime,
    next_update: UnixTime,
    tcb_evaluation_data_number: u32,
}

impl TcbInfo {
    /// From the exact signed `tcbInfo` object text and its 64-byte signature. The object must
    /// parse as dcap-qvl parses it, with RFC 3339 dates and a 6-byte hex FMSPC.
    pub fn from_parts(json: String, signature: Vec<u8>) -> Result<Self, TdxError> {
        let what = KIND_TCB_INFO;
        let signature = signature_bytes(what, signature)?;
        let parsed: dcap_qvl::TcbInfo =
            serde_json::from_str(&json).map_err(|e| format_error(what, e.to_string()))?;
        let fmspc = hex::decode(&parsed.fmspc)
            .ok()
            .and_then(|f| <[u8; 6]>::try_from(f).ok())
            .ok_or_else(|| {
                format_error(what, format!("fmspc {:?} is not 6 hex bytes", parsed.fmspc))
            })?;
        Ok(Self {
            issue_date: rfc3339(what, "issueDate", &parsed.issue_date)?,
            next_update: rfc3339(what, "nextUpdate", &parsed.next_update)?,
            id: parsed.id,
            version: parsed.version,
            fmspc,
            pce_id: parsed.pce_id,
            tcb_evaluation_data_number: parsed.tcb_evaluation_data_number,
            json,
            signature,
        })
    }

    /// The exact signed bytes of the `tcbInfo` object.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The signature over [`TcbInfo::json`] (raw `r || s`).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// `id`: `"TDX"` or `"SGX"`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `version`.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// `fmspc`.
    pub fn fmspc(&self) -> [u8; 6] {
        self.fmspc
    }

    /// `pceId`, as written (hex).
    pub fn pce_id(&self) -> &str {
        &self.pce_id
    }

    /// `issueDate`.
    pub fn issue_date(&self) -> UnixTime {
        self.issue_date
    }

    /// `nextUpdate`.
    pub fn next_update(&self) -> UnixTime {
        self.next_update
    }

    /// `tcbEvaluationDataNumber`.
    pub fn tcb_evaluation_data_number(&self) -> u32 {
        self.tcb_evaluation_data_number
    }
}

/// A signed QE identity: the exact bytes of the `enclaveIdentity` object and its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeIdentity {
    json: String,
    signature: Vec<u8>,
    id: String,
    version: u8,
    issue_date: UnixTime,
    next_update: UnixTime,
    tcb_evaluation_data_number: u32,
}

impl QeIdentity {
    /// From the exact signed `enclaveIdentity` object text and its 64-byte signature.
    pub fn from_parts(json: String, signature: Vec<u8>) -> Result<Self, TdxError> {
        let what = KIND_QE_IDENTITY;
        let signature = signature_bytes(what, signature)?;
        let parsed: dcap_qvl::QeIdentity =
            serde_json::from_str(&json).map_err(|e| format_error(what, e.to_string()))?;
        Ok(Self {
            issue_date: rfc3339(what, "issueDate", &parsed.issue_date)?,
            next_update: rfc3339(what, "nextUpdate", &parsed.next_update)?,
            id: parsed.id,
            version: parsed.version,
            tcb_evaluation_data_number: parsed.tcb_evaluation_data_number,
            json,
            signature,
        })
    }

    /// The exact signed bytes of the `enclaveIdentity` object.
    pub fn json(&self) -> &str {
        &self.json
    }

    /// The signature over [`QeIdentity::json`] (raw `r || s`).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// `id`: `"TD_QE"`, `"QE"` or `"QVE"`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `version`.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// `issueDate`.
    pub fn issue_date(&self) -> UnixTime {
        self.issue_date
    }

    /// `nextUpdate`.
    pub fn next_update(&self) -> UnixTime {
        self.next_update
    }

    /// `tcbEvaluationDataNumber`.
    pub fn tcb_evaluation_data_number(&self) -> u32 {
        self.tcb_evaluation_data_number
    }
}

/// A CRL (DER), with the fields selection needs. Its signature is verified by dcap-qvl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crl {
    der: Vec<u8>,
    issuer_cn: String,
    this_update: UnixTime,
    next_update: UnixTime,
}

impl Crl {
    /// From one DER CRL with nothing after it, whose issuer has a common name and which has a
    /// nextUpdate (Intel's always do; without one its freshness is unknown).
    pub fn from_der(der: Vec<u8>) -> Result<Self, TdxError> {
        let what = "crl";
        let (issuer_cn, this_update, next_update) = {
            let crl = pem::parse_crl(&der).map_err(|r| format_error(what, r))?;
            let issuer_cn = pem::common_name(crl.issuer())
                .ok_or_else(|| format_error(what, "issuer has no common name"))?;
            let next_update = crl
                .next_update()
                .map(|t| UnixTime(t.timestamp()))
                .ok_or_else(|| format_error(what, "no nextUpdate"))?;
            (
                issuer_cn,
                UnixTime(crl.last_update().timestamp()),
                next_update,
            )
        };
        Ok(Self {
            der,
            issuer_cn,
            this_update,
            next_update,
        })
    }

    /// The DER bytes.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// The issuer's common name.
    pub fn issuer_cn(&self) -> &str {
        &self.issuer_cn
    }

    /// Whether the issuer is a root CA (CN ending in "Root CA").
    pub fn is_root_ca(&self) -> bool {
        self.issuer_cn.ends_with("Root CA")
    }

    /// The PCK CA that issued it, if it is a PCK CRL.
    pub fn pck_ca(&self) -> Option<PckCa> {
        PckCa::from_common_name(&self.issuer_cn)
    }

    /// thisUpdate.
    pub fn this_update(&self) -> UnixTime {
        self.this_update
    }

    /// nextUpdate.
    pub fn next_update(&self) -> UnixTime {
        self.next_update
    }
}

/// One piece of DCAP collateral.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollateralItem {
    /// A signed TCB info (PCS `/tdx/certification/v4/tcb`).
    TcbInfo(TcbInfo),
    /// A signed QE identity (PCS `/tdx/certification/v4/qe/identity`).
    QeIdentity(QeIdentity),
    /// The CRL of the root CA (issuer CN ending in "Root CA").
    RootCaCrl(Crl),
    /// The CRL of a PCK Platform or Processor CA.
    PckCrl(PckCa, Crl),
    /// The chain of the TCB Signing certificate, which signs TCB infos and QE identities: the
    /// TCB Signing certificate, then the root, as canonical PEM.
    TcbSigningChain(String),
    /// The chain of a PCK CA, the issuer of its CRL: the PCK CA, then the root, as canonical
    /// PEM.
    PckCrlIssuerChain(PckCa, String),
}

/// `{"tcbInfo":{..},"signature":"<hex>"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PcsTcbInfo<'a> {
    #[serde(rename = "tcbInfo", borrow)]
    tcb_info: &'a RawValue,
    signature: String,
}

/// `{"enclaveIdentity":{..},"signature":"<hex>"}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PcsQeIdentity<'a> {
    #[serde(rename = "enclaveIdentity", borrow)]
    enclave_identity: &'a RawValue,
    signature: String,
}

/// The signed inner object of a PCS response: its exact text, which must be an object.
fn inner_object(what: &'static str, raw: &RawValue) -> Result<String, TdxError> {
    let text = raw.get();
    if text.starts_with('{') {
        Ok(text.to_owned())
    } else {
        Err(format_error(what, "the signed value is not a JSON object"))
    }
}

fn parse_json(text: &str) -> Result<Vec<CollateralItem>, TdxError> {
    // A first, lenient look only to classify; each form is then parsed strictly (unknown and
    // duplicate keys rejected).
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format_error("json", e.to_string()))?;
    let Some(top) = value.as_object() else {
        return Err(TdxError::UnrecognizedCollateral {
            found: "JSON that is not an object",
        });
    };
    if top.contains_key("tcbInfo") {
        let what = KIND_TCB_INFO;
        let r: PcsTcbInfo<'_> =
            serde_json::from_str(text).map_err(|e| format_error(what, e.to_string()))?;
        let sig = decode_hex_signature(what, &r.signature)?;
        Ok(vec![CollateralItem::TcbInfo(TcbInfo::from_parts(
            inner_object(what, r.tcb_info)?,
            sig,
        )?)])
    } else if top.contains_key("enclaveIdentity") {
        let what = KIND_QE_IDENTITY;
        let r: PcsQeIdentity<'_> =
            serde_json::from_str(text).map_err(|e| format_error(what, e.to_string()))?;
        let sig = decode_hex_signature(what, &r.signature)?;
        Ok(vec![CollateralItem::QeIdentity(QeIdentity::from_parts(
            inner_object(what, r.enclave_identity)?,
            sig,
        )?)])
    } else if top.contains_key("tcb_info") {
        let c: QuoteCollateralV3 =
            serde_json::from_str(text).map_err(|e| format_error(KIND_DCAP_JSON, e.to_string()))?;
        Ok(items_from_dcap(&c)?.to_vec())
    } else if top.contains_key("id") && top.contains_key("tcbLevels") {
        Err(TdxError::UnrecognizedCollateral {
            found: "a bare TCB info or QE identity object without its signature",
        })
    } else {
        Err(TdxError::UnrecognizedCollateral {
            found: "JSON with neither tcbInfo, enclaveIdentity nor tcb_info",
        })
    }
}

/// The six items of a dcap-qvl collateral. `pck_certificate_chain` is ignored: the chain
/// verified is always the one in the quote.
fn items_from_dcap(c: &QuoteCollateralV3) -> Result<[CollateralItem; 6], TdxError> {
    let tcb_info = TcbInfo::from_parts(c.tcb_info.clone(), c.tcb_info_signature.clone())?;
    let qe_identity =
        QeIdentity::from_parts(c.qe_identity.clone(), c.qe_identity_signature.clone())?;
    let root_ca_crl @ CollateralItem::RootCaCrl(_) = parse_crl(c.root_ca_crl.clone())? else {
        return Err(format_error(KIND_ROOT_CA_CRL, "not issued by a root CA"));
    };
    let (ca, pck_crl) = match parse_crl(c.pck_crl.clone())? {
        CollateralItem::PckCrl(ca, crl) => (ca, CollateralItem::PckCrl(ca, crl)),
        _ => return Err(format_error(KIND_PCK_CRL, "not issued by a PCK CA")),
    };
    let chain @ CollateralItem::TcbSigningChain(_) =
        parse_chain(c.tcb_info_issuer_chain.as_bytes())?
    else {
        return Err(format_error(
            KIND_TCB_SIGNING_CHAIN,
            "tcb_info_issuer_chain is not a TCB Signing chain",
        ));
    };
    if parse_chain(c.qe_identity_issuer_chain.as_bytes())? != chain {
        return Err(format_error(
            KIND_DCAP_JSON,
            "qe_identity_issuer_chain differs from tcb_info_issuer_chain",
        ));
    }
    let issuer_chain = match parse_chain(c.pck_crl_issuer_chain.as_bytes())? {
        item @ CollateralItem::PckCrlIssuerChain(chain_ca, _) if chain_ca == ca => item,
        _ => {
            return Err(format_error(
                KIND_PCK_CRL_ISSUER_CHAIN,
                "pck_crl_issuer_chain is not the chain of the PCK CRL's issuer",
            ));
        }
    };
    Ok([
        CollateralItem::TcbInfo(tcb_info),
        CollateralItem::QeIdentity(qe_identity),
        root_ca_crl,
        pck_crl,
        chain,
        issuer_chain,
    ])
}

fn parse_crl(der: Vec<u8>) -> Result<CollateralItem, TdxError> {
    let crl = Crl::from_der(der)?;
    if crl.is_root_ca() {
        Ok(CollateralItem::RootCaCrl(crl))
    } else if let Some(ca) = crl.pck_ca() {
        Ok(CollateralItem::PckCrl(ca, crl))
    } else {
        Err(format_error(
            "crl",
            format!(
                "issuer {:?} is neither a Root CA nor a PCK CA",
                crl.issuer_cn()
            ),
        ))
    }
}

fn parse_chain(bytes: &[u8]) -> Result<CollateralItem, TdxError> {
    let ders = pem::decode_certificates(bytes).map_err(|r| format_error("certificate chain", r))?;
    let first_cn = ders
        .first()
        .and_then(|d| pem::subject_cn(d))
        .unwrap_or_default();
    let (kind, item): (&'static str, fn(String) -> CollateralItem) =
        if first_cn.ends_with("TCB Signing") {
            (KIND_TCB_SIGNING_CHAIN, CollateralItem::TcbSigningChain)
        } else if let Some(ca) = PckCa::from_common_name(&first_cn) {
            match ca {
                PckCa::Platform => (KIND_PCK_CRL_ISSUER_CHAIN, |p| {
                    CollateralItem::PckCrlIssuerChain(PckCa::Platform, p)
                }),
                PckCa::Processor => (KIND_PCK_CRL_ISSUER_CHAIN, |p| {
                    CollateralItem::PckCrlIssuerChain(PckCa::Processor, p)
                }),
            }
        } else if first_cn.ends_with("PCK Certificate") {
            return Err(TdxError::UnrecognizedCollateral {
                found: "a PCK certificate chain, which belongs in the quote",
            });
        } else {
            return Err(TdxError::UnrecognizedCollateral {
                found: "a certificate chain that is neither a TCB Signing nor a PCK CA chain",
            });
        };
    if ders.len() != 2 {
        return Err(format_error(
            kind,
            format!(
                "{} certificates, expected 2 (issuer, then the root)",
                ders.len()
            ),
        ));
    }
    let root_cn = ders
        .last()
        .and_then(|d| pem::subject_cn(d))
        .unwrap_or_default();
    if !root_cn.ends_with("Root CA") {
        return Err(format_error(
            kind,
            "the second certificate is not a Root CA",
        ));
    }
    Ok(item(pem::encode_certificates(&ders)))
}

/// Whether `bytes` start like a TD quote (version 4 or 5, attestation key 2, TEE type 0x81).
fn looks_like_quote(bytes: &[u8]) -> bool {
    matches!(
        bytes.get(..8),
        Some([4 | 5, 0, 2, 0, 0x81, 0, 0, 0]) | Some([3, 0, 2, 0, _, _, _, _])
    )
}

impl CollateralItem {
    /// Classifies one file by its content, not its name: a PCS TCB info response, a PCS QE
    /// identity response, a CRL (DER, or PEM `X509 CRL`), a PEM issuer chain (TCB Signing or
    /// PCK CA certificate, then the root), or dcap-qvl's `QuoteCollateralV3` JSON (byte fields
    /// hex), which gives six items. Anything else (a quote, a PCK leaf chain, other JSON) is
    /// [`TdxError::UnrecognizedCollateral`] saying what was found; a recognised but malformed
    /// file is [`TdxError::CollateralFormat`].
    pub fn parse_file(bytes: &[u8]) -> Result<Vec<CollateralItem>, TdxError> {
        let trimmed = bytes.trim_ascii();
        if trimmed.starts_with(b"{") {
            let text =
                std::str::from_utf8(bytes).map_err(|_| TdxError::UnrecognizedCollateral {
                    found: "JSON that is not UTF-8",
                })?;
            return parse_json(text);
        }
        if trimmed.starts_with(b"-----BEGIN X509 CRL-----") {
            let mut ders = pem::decode(bytes, pem::X509_CRL).map_err(|r| format_error("crl", r))?;
            let der = ders
                .pop()
                .ok_or_else(|| format_error("crl", "no PEM block"))?;
            if !ders.is_empty() {
                return Err(format_error("crl", "more than one PEM block"));
            }
            return Ok(vec![parse_crl(der)?]);
        }
        if trimmed.starts_with(b"-----BEGIN CERTIFICATE-----") {
            // One terminating NUL, as in chains copied out of a quote, is not content.
            return Ok(vec![parse_chain(
                bytes.strip_suffix(&[0]).unwrap_or(bytes),
            )?]);
        }
        if trimmed.starts_with(b"-----BEGIN") {
            return Err(TdxError::UnrecognizedCollateral {
                found: "a PEM file that is neither certificates nor an X509 CRL",
            });
        }
        if looks_like_quote(bytes) {
            return Err(TdxError::UnrecognizedCollateral { found: "a quote" });
        }
        if bytes.first() == Some(&0x30) {
            if pem::parse_crl(bytes).is_ok() {
                return Ok(vec![parse_crl(bytes.to_vec())?]);
            }
            if pem::parse_certificate(bytes).is_ok() {
                return Err(TdxError::UnrecognizedCollateral {
                    found: "a DER certificate",
                });
            }
            return Err(TdxError::UnrecognizedCollateral {
                found: "DER that is not a CRL",
            });
        }
        Err(TdxError::UnrecognizedCollateral {
            found: "unknown bytes",
        })
    }

    /// `tcb-info`, `qe-identity`, `root-ca-crl`, `pck-crl`, `tcb-signing-chain` or
    /// `pck-crl-issuer-chain`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::TcbInfo(_) => KIND_TCB_INFO,
            Self::QeIdentity(_) => KIND_QE_IDENTITY,
            Self::RootCaCrl(_) => KIND_ROOT_CA_CRL,
            Self::PckCrl(..) => KIND_PCK_CRL,
            Self::TcbSigningChain(_) => KIND_TCB_SIGNING_CHAIN,
            Self::PckCrlIssuerChain(..) => KIND_PCK_CRL_ISSUER_CHAIN,
        }
    }

    /// What distinguishes items of one kind: a TDX TCB info's FMSPC in lowercase hex (a TCB
    /// info with another id, such as SGX's for the same FMSPC, gets the id as prefix, `sgx-…`,
    /// so the two never displace each other); a QE identity's id in lowercase (`td_qe`);
    /// `platform` or `processor` for PCK CRLs and their chains; `root` for the root CA CRL and
    /// `intel` for the TCB Signing chain.
    pub fn key(&self) -> String {
        match self {
            Self::TcbInfo(t) if t.id == TDX => hex::encode(t.fmspc),
            Self::TcbInfo(t) => format!("{}-{}", t.id.to_lowercase(), hex::encode(t.fmspc)),
            Self::QeIdentity(q) => q.id.to_lowercase(),
            Self::RootCaCrl(_) => "root".to_owned(),
            Self::PckCrl(ca, _) | Self::PckCrlIssuerChain(ca, _) => ca.as_str().to_owned(),
            Self::TcbSigningChain(_) => "intel".to_owned(),
        }
    }

    /// The canonical file form: the PCS response JSON (built around the exact signed bytes), DER
    /// for CRLs, PEM for chains. [`CollateralItem::parse_file`] gives the same item back.
    pub fn to_file_bytes(&self) -> Vec<u8> {
        match self {
            Self::TcbInfo(t) => format!(
                "{{\"tcbInfo\":{},\"signature\":\"{}\"}}",
                t.json,
                hex::encode(&t.signature)
            )
            .into_bytes(),
            Self::QeIdentity(q) => format!(
                "{{\"enclaveIdentity\":{},\"signature\":\"{}\"}}",
                q.json,
                hex::encode(&q.signature)
            )
            .into_bytes(),
            Self::RootCaCrl(c) | Self::PckCrl(_, c) => c.der.clone(),
            Self::TcbSigningChain(p) | Self::PckCrlIssuerChain(_, p) => p.clone().into_bytes(),
        }
    }

    /// issueDate (TCB info, QE identity) or thisUpdate (CRLs); `None` for chains.
    pub fn issue_date(&self) -> Option<UnixTime> {
        match self {
            Self::TcbInfo(t) => Some(t.issue_date),
            Self::QeIdentity(q) => Some(q.issue_date),
            Self::RootCaCrl(c) | Self::PckCrl(_, c) => Some(c.this_update),
            Self::TcbSigningChain(_) | Self::PckCrlIssuerChain(..) => None,
        }
    }

    /// nextUpdate (TCB info, QE identity, CRLs); `None` for chains.
    pub fn next_update(&self) -> Option<UnixTime> {
        match self {
            Self::TcbInfo(t) => Some(t.next_update),
            Self::QeIdentity(q) => Some(q.next_update),
            Self::RootCaCrl(c) | Self::PckCrl(_, c) => Some(c.next_update),
            Self::TcbSigningChain(_) | Self::PckCrlIssuerChain(..) => None,
        }
    }

    /// tcbEvaluationDataNumber (TCB info, QE identity); `None` otherwise.
    pub fn tcb_evaluation_data_number(&self) -> Option<u32> {
        match self {
            Self::TcbInfo(t) => Some(t.tcb_evaluation_data_number),
            Self::QeIdentity(q) => Some(q.tcb_evaluation_data_number),
            _ => None,
        }
    }

    /// How new an item is, for items of the same kind and key: tcbEvaluationDataNumber first,
    /// then issueDate/thisUpdate, or a chain's first notBefore.
    fn freshness(&self) -> (u32, Option<UnixTime>) {
        let date = match self {
            Self::TcbSigningChain(p) | Self::PckCrlIssuerChain(_, p) => {
                pem::decode(p.as_bytes(), "CERTIFICATE")
                    .ok()
                    .and_then(|ders| ders.first().and_then(|d| pem::not_before(d)))
            }
            _ => self.issue_date(),
        };
        (self.tcb_evaluation_data_number().unwrap_or(0), date)
    }
}

/// What [`CollateralSet::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddOutcome {
    /// No item of this kind and key was held.
    Added,
    /// The item is newer than the one held, which it replaced.
    Replaced,
    /// The item held is newer or as new, and was kept (THREATS D7: an older signed item never
    /// replaces a newer one).
    KeptExisting,
}

/// Collateral held in memory: TCB infos by FMSPC, one QE identity per id, the root CA CRL, one
/// PCK CRL per CA, and the issuer chains.
#[derive(Debug, Clone, Default)]
pub struct CollateralSet {
    items: BTreeMap<(&'static str, String), CollateralItem>,
}

impl CollateralSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an item, keeping whichever of it and the held item of the same kind and key is
    /// newer: higher tcbEvaluationDataNumber, or the same number and a later issueDate (or
    /// thisUpdate, or for chains a later notBefore of the first certificate). On a tie the held
    /// item stays.
    pub fn add(&mut self, item: CollateralItem) -> AddOutcome {
        let key = (item.kind(), item.key());
        match self.items.get(&key) {
            None => {
                self.items.insert(key, item);
                AddOutcome::Added
            }
            Some(held) if item.freshness() > held.freshness() => {
                self.items.insert(key, item);
                AddOutcome::Replaced
            }
            Some(_) => AddOutcome::KeptExisting,
        }
    }

    /// The items held, ordered by kind and key.
    pub fn items(&self) -> impl Iterator<Item = &CollateralItem> {
        self.items.values()
    }

    fn get(&self, kind: &'static str, key: &str) -> Option<&CollateralItem> {
        self.items.get(&(kind, key.to_owned()))
    }

    /// The collateral for a quote whose PCK certificate is `pck`, at `now`: the TDX TCB info
    /// for `pck.fmspc`, the TD_QE identity, the root CA CRL, the PCK CRL of `pck.ca`, the TCB
    /// Signing chain and the chain of `pck.ca`.
    ///
    /// A missing piece is [`TdxError::MissingCollateral`]; a dated piece with `now` after its
    /// nextUpdate is [`TdxError::StaleCollateral`], before its issueDate/thisUpdate
    /// [`TdxError::CollateralNotYetValid`] (the same bounds dcap-qvl applies).
    pub fn select(&self, pck: &PckInfo, now: UnixTime) -> Result<Collateral, TdxError> {
        let fmspc = hex::encode(pck.fmspc);
        let missing = |item: &'static str| TdxError::MissingCollateral {
            fmspc: fmspc.clone(),
            item,
        };
        let Some(CollateralItem::TcbInfo(tcb_info)) = self.get(KIND_TCB_INFO, &fmspc) else {
            return Err(missing(KIND_TCB_INFO));
        };
        let Some(CollateralItem::QeIdentity(qe_identity)) =
            self.get(KIND_QE_IDENTITY, &TD_QE.to_lowercase())
        else {
            return Err(missing(KIND_QE_IDENTITY));
        };
        let Some(CollateralItem::RootCaCrl(root_ca_crl)) = self.get(KIND_ROOT_CA_CRL, "root")
        else {
            return Err(missing(KIND_ROOT_CA_CRL));
        };
        let Some(CollateralItem::PckCrl(_, pck_crl)) = self.get(KIND_PCK_CRL, pck.ca.as_str())
        else {
            return Err(missing(KIND_PCK_CRL));
        };
        let Some(CollateralItem::TcbSigningChain(tcb_signing_chain)) =
            self.get(KIND_TCB_SIGNING_CHAIN, "intel")
        else {
            return Err(missing(KIND_TCB_SIGNING_CHAIN));
        };
        let Some(CollateralItem::PckCrlIssuerChain(_, pck_crl_issuer_chain)) =
            self.get(KIND_PCK_CRL_ISSUER_CHAIN, pck.ca.as_str())
        else {
            return Err(missing(KIND_PCK_CRL_ISSUER_CHAIN));
        };
        let dated = [
            (KIND_TCB_INFO, tcb_info.issue_date, tcb_info.next_update),
            (
                KIND_QE_IDENTITY,
                qe_identity.issue_date,
                qe_identity.next_update,
            ),
            (
                KIND_ROOT_CA_CRL,
                root_ca_crl.this_update,
                root_ca_crl.next_update,
            ),
            (KIND_PCK_CRL, pck_crl.this_update, pck_crl.next_update),
        ];
        for (item, issue_date, next_update) in dated {
            if now < issue_date {
                return Err(TdxError::CollateralNotYetValid {
                    fmspc,
                    item,
                    issue_date,
                });
            }
            if now > next_update {
                return Err(TdxError::StaleCollateral {
                    fmspc,
                    item,
                    next_update,
                });
            }
        }
        Ok(Collateral::from_items(
            tcb_info.clone(),
            qe_identity.clone(),
            root_ca_crl.clone(),
            pck_crl.clone(),
            tcb_signing_chain.clone(),
            pck_crl_issuer_chain.clone(),
        ))
    }
}

/// The collateral for one quote, in dcap-qvl's form.
#[derive(Debug, Clone)]
pub struct Collateral {
    dcap: QuoteCollateralV3,
    tcb_info: TcbInfo,
    qe_identity: QeIdentity,
    root_ca_crl: Crl,
    pck_crl: Crl,
}

impl Collateral {
    /// Assembles collateral from its pieces as given, without checking that they belong
    /// together ([`CollateralSet::select`] does that). Everything is verified by dcap-qvl.
    pub fn from_items(
        tcb_info: TcbInfo,
        qe_identity: QeIdentity,
        root_ca_crl: Crl,
        pck_crl: Crl,
        tcb_signing_chain: String,
        pck_crl_issuer_chain: String,
    ) -> Self {
        let dcap = QuoteCollateralV3 {
            pck_crl_issuer_chain,
            root_ca_crl: root_ca_crl.der.clone(),
            pck_crl: pck_crl.der.clone(),
            tcb_info_issuer_chain: tcb_signing_chain.clone(),
            tcb_info: tcb_info.json.clone(),
            tcb_info_signature: tcb_info.signature.clone(),
            qe_identity_issuer_chain: tcb_signing_chain,
            qe_identity: qe_identity.json.clone(),
            qe_identity_signature: qe_identity.signature.clone(),
            // The PCK chain verified is always the one in the quote.
            pck_certificate_chain: None,
        };
        Self {
            dcap,
            tcb_info,
            qe_identity,
            root_ca_crl,
            pck_crl,
        }
    }

    /// From dcap-qvl's collateral, checked as [`CollateralItem::parse_file`] checks its JSON
    /// form. `pck_certificate_chain` is dropped.
    pub fn from_dcap(collateral: &QuoteCollateralV3) -> Result<Self, TdxError> {
        match items_from_dcap(collateral)? {
            [
                CollateralItem::TcbInfo(t),
                CollateralItem::QeIdentity(q),
                CollateralItem::RootCaCrl(r),
                CollateralItem::PckCrl(_, p),
                CollateralItem::TcbSigningChain(s),
                CollateralItem::PckCrlIssuerChain(_, i),
            ] => Ok(Self::from_items(t, q, r, p, s, i)),
            _ => Err(format_error(KIND_DCAP_JSON, "unexpected items")),
        }
    }

    /// The collateral as dcap-qvl takes it.
    pub fn as_dcap(&self) -> &QuoteCollateralV3 {
        &self.dcap
    }

    /// The FMSPC of the TCB info.
    pub fn fmspc(&self) -> [u8; 6] {
        self.tcb_info.fmspc
    }

    /// The TCB info.
    pub fn tcb_info(&self) -> &TcbInfo {
        &self.tcb_info
    }

    /// The QE identity.
    pub fn qe_identity(&self) -> &QeIdentity {
        &self.qe_identity
    }

    /// The root CA CRL.
    pub fn root_ca_crl(&self) -> &Crl {
        &self.root_ca_crl
    }

    /// The PCK CRL.
    pub fn pck_crl(&self) -> &Crl {
        &self.pck_crl
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;

    const SIG: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\
                       00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn tcb_info_json(fmspc: &str, eval: u32, issue: &str) -> String {
        format!(
            "{{\"id\":\"TDX\",\"version\":3,\"issueDate\":\"{issue}\",\
             \"nextUpdate\":\"2030-01-01T00:00:00Z\",\"fmspc\":\"{fmspc}\",\"pceId\":\"0000\",\
             \"tcbType\":0,\"tcbEvaluationDataNumber\":{eval},\"tcbLevels\":[]}}"
        )
    }

    fn tcb_info_file(fmspc: &str, eval: u32, issue: &str) -> Vec<u8> {
        format!(
            "{{\"tcbInfo\":{},\"signature\":\"{SIG}\"}}",
            tcb_info_json(fmspc, eval, issue)
        )
        .into_bytes()
    }

    fn one(bytes: &[u8]) -> CollateralItem {
        let mut items = CollateralItem::parse_file(bytes).unwrap();
        assert_eq!(items.len(), 1);
        items.pop().unwrap()
    }

    #[test]
    fn tcb_info_keeps_the_exact_signed_bytes() {
        // Whitespace and key order inside the signed object survive untouched.
        let inner = "{ \"id\":\"TDX\", \"version\":3,\"issueDate\":\"2025-01-01T00:00:00Z\",\
                     \"nextUpdate\":\"2025-02-01T00:00:00Z\",\"fmspc\":\"B0C06F000000\",\
                     \"pceId\":\"0000\",\"tcbType\":0,\"tcbEvaluationDataNumber\":17,\"tcbLevels\":[] }";
        let file = format!("{{\"tcbInfo\":{inner}, \"signature\":\"{SIG}\"}}\n");
        let CollateralItem::TcbInfo(t) = one(file.as_bytes()) else {
            panic!("not a TCB info");
        };
        assert_eq!(t.json(), inner);
        assert_eq!(t.fmspc(), [0xb0, 0xc0, 0x6f, 0, 0, 0]);
        assert_eq!(t.id(), "TDX");
        assert_eq!(t.tcb_evaluation_data_number(), 17);
        assert_eq!(t.issue_date(), UnixTime(1_735_689_600));
        let item = CollateralItem::TcbInfo(t);
        assert_eq!(item.key(), "b0c06f000000");
        assert_eq!(item.kind(), "tcb-info");
        assert_eq!(one(&item.to_file_bytes()), item);
    }

    #[test]
    fn malformed_pcs_responses() {
        let bad = |s: String| CollateralItem::parse_file(s.as_bytes()).unwrap_err();
        let inner = tcb_info_json("b0c06f000000", 1, "2025-01-01T00:00:00Z");
        assert!(matches!(
            bad(format!("{{\"tcbInfo\":{inner},\"signature\":\"00\"}}")),
            TdxError::CollateralFormat {
                what: "tcb-info",
                ..
            }
        ));
        assert!(matches!(
            bad(format!(
                "{{\"tcbInfo\":{inner},\"signature\":\"{SIG}\",\"x\":1}}"
            )),
            TdxError::CollateralFormat {
                what: "tcb-info",
                ..
            }
        ));
        assert!(matches!(
            bad(format!(
                "{{\"tcbInfo\":{inner},\"tcbInfo\":{inner},\"signature\":\"{SIG}\"}}"
            )),
            TdxError::CollateralFormat {
                what: "tcb-info",
                ..
            }
        ));
        assert!(matches!(
            bad(format!("{{\"tcbInfo\":{inner},\"signature\":\"{SIG}\"}} x")),
            TdxError::CollateralFormat { what: "json", .. }
        ));
        assert!(matches!(
            bad(format!("{{\"tcbInfo\":[],\"signature\":\"{SIG}\"}}")),
            TdxError::CollateralFormat {
                what: "tcb-info",
                ..
            }
        ));
        let bad_date = inner.replace("2025-01-01T00:00:00Z", "yesterday");
        assert!(matches!(
            bad(format!(
                "{{\"tcbInfo\":{bad_date},\"signature\":\"{SIG}\"}}"
            )),
            TdxError::CollateralFormat {
                what: "tcb-info",
                ..
            }
        ));
        assert!(matches!(
            bad(inner),
            TdxError::UnrecognizedCollateral { .. }
        ));
        assert!(matches!(
            bad("{\"a\":1}".to_owned()),
            TdxError::UnrecognizedCollateral { .. }
        ));
        assert!(matches!(
            bad("[1]".to_owned()),
            TdxError::UnrecognizedCollateral { .. }
        ));
    }

    #[test]
    fn qe_identity_round_trip() {
        let inner = "{\"id\":\"TD_QE\",\"version\":2,\"issueDate\":\"2025-06-19T10:32:27Z\",\
                     \"nextUpdate\":\"2025-07-19T10:32:27Z\",\"tcbEvaluationDataNumber\":17,\
                     \"miscselect\":\"00000000\",\"miscselectMask\":\"FFFFFFFF\",\
                     \"attributes\":\"11000000000000000000000000000000\",\
                     \"attributesMask\":\"FBFFFFFFFFFFFFFF0000000000000000\",\
                     \"mrsigner\":\"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5\",\
                     \"isvprodid\":2,\"tcbLevels\":[]}";
        let file = format!("{{\"enclaveIdentity\":{inner},\"signature\":\"{SIG}\"}}");
        let item = one(file.as_bytes());
        assert_eq!(item.kind(), "qe-identity");
        assert_eq!(item.key(), "td_qe");
        assert_eq!(item.tcb_evaluation_data_number(), Some(17));
        assert_eq!(item.to_file_bytes(), file.as_bytes());
    }

    #[test]
    fn older_never_replaces_newer() {
        let fmspc = "b0c06f000000";
        let mut set = CollateralSet::new();
        let v17 = one(&tcb_info_file(fmspc, 17, "2025-06-01T00:00:00Z"));
        let v17_later = one(&tcb_info_file(fmspc, 17, "2025-06-10T00:00:00Z"));
        let v18 = one(&tcb_info_file(fmspc, 18, "2025-05-01T00:00:00Z"));
        assert_eq!(set.add(v17.clone()), AddOutcome::Added);
        assert_eq!(set.add(v17.clone()), AddOutcome::KeptExisting);
        assert_eq!(set.add(v17_later.clone()), AddOutcome::Replaced);
        assert_eq!(set.add(v17), AddOutcome::KeptExisting);
        // A higher evaluation number wins even with an older issue date.
        assert_eq!(set.add(v18.clone()), AddOutcome::Replaced);
        assert_eq!(set.add(v17_later), AddOutcome::KeptExisting);
        assert_eq!(set.items().collect::<Vec<_>>(), vec![&v18]);
        // Another FMSPC is another slot.
        let other = one(&tcb_info_file("90c06f000000", 1, "2025-06-01T00:00:00Z"));
        assert_eq!(set.add(other), AddOutcome::Added);
        assert_eq!(set.items().count(), 2);
    }

    #[test]
    fn sgx_tcb_info_does_not_displace_tdx() {
        let tdx = one(&tcb_info_file("b0c06f000000", 17, "2025-06-01T00:00:00Z"));
        let sgx_file = String::from_utf8(tcb_info_file("b0c06f000000", 19, "2025-06-01T00:00:00Z"))
            .unwrap()
            .replace("\"TDX\"", "\"SGX\"");
        let sgx = one(sgx_file.as_bytes());
        assert_eq!(sgx.key(), "sgx-b0c06f000000");
        let mut set = CollateralSet::new();
        assert_eq!(set.add(tdx), AddOutcome::Added);
        assert_eq!(set.add(sgx), AddOutcome::Added);
    }

    #[test]
    fn select_reports_the_first_missing_piece() {
        let mut set = CollateralSet::new();
        let pck = PckInfo {
            fmspc: [0xb0, 0xc0, 0x6f, 0, 0, 0],
            pce_id: [0, 0],
            ca: PckCa::Platform,
        };
        let err = set.select(&pck, UnixTime(0)).unwrap_err();
        assert_eq!(
            err,
            TdxError::MissingCollateral {
                fmspc: "b0c06f000000".to_owned(),
                item: "tcb-info"
            }
        );
        assert_eq!(
            err.to_string(),
            "no tcb-info collateral for FMSPC b0c06f000000"
        );
        set.add(one(&tcb_info_file(
            "b0c06f000000",
            17,
            "2025-06-01T00:00:00Z",
        )));
        assert!(matches!(
            set.select(&pck, UnixTime(0)).unwrap_err(),
            TdxError::MissingCollateral {
                item: "qe-identity",
                ..
            }
        ));
    }

    #[test]
    fn unrecognised_inputs() {
        let found = |b: &[u8]| match CollateralItem::parse_file(b).unwrap_err() {
            TdxError::UnrecognizedCollateral { found } => found,
            other => panic!("{other:?}"),
        };
        assert_eq!(found(&[4, 0, 2, 0, 0x81, 0, 0, 0, 0, 0]), "a quote");
        assert_eq!(found(b"hello"), "unknown bytes");
        assert_eq!(
            found(&[0x30, 0x03, 0x02, 0x01, 0x00]),
            "DER that is not a CRL"
        );
        assert_eq!(
            found(b"-----BEGIN PRIVATE KEY-----\nAA==\n-----END PRIVATE KEY-----\n"),
            "a PEM file that is neither certificates nor an X509 CRL"
        );
        assert!(CollateralItem::parse_file(b"").is_err());
    }
}
