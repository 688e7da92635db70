//! NVIDIA reference integrity manifests (RIMs): parsing, XMLDSig verification and measurement
//! comparison.
//!
//! A RIM is an ISO/IEC 19770-2:2015 SWID tag with TCG RIM Information Model attributes on `Meta`
//! and one `Payload/Resource[@type="Measurement"]` per SPDM measurement slot, signed with an
//! enveloped XML signature (W3C XMLDSig 1.1: `ecdsa-sha384`, `Reference URI=""`) whose `KeyInfo`
//! carries a 4-certificate chain ending in the NVIDIA CoRIM signing Root CA. Sources: nvtrust
//! `local_gpu_verifier/src/verifier/rim/__init__.py` and `verifier.py`, NVAT `src/gpu/verify.cpp`
//! (see `shared/notes/nvidia.md` §5).
//!
//! XML is parsed with `roxmltree` (0.21): it never expands entities because DTDs are refused by
//! default (`ParsingOptions::allow_dtd = false`), it builds a read-only tree (so what was digested
//! is exactly what is read afterwards), it keeps byte ranges of every name (needed to reproduce
//! prefixes in the canonical form) and it has no I/O. Before parsing, any `<!DOCTYPE`/`<!ENTITY`
//! is rejected outright (THREATS R10). Canonicalization (C14N) is our own (module `c14n`), over
//! the same tree from which the measurements are then read: the whole document except the one
//! enveloped signature is digested, so every value returned in [`VerifiedRim`] is signed.

pub(crate) mod c14n;

use ring::signature::{self, UnparsedPublicKey};
use roxmltree::{Document, Node, ParsingOptions};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::UnixTime;

/// Largest RIM accepted, in bytes. Real RIMs are about 30 KiB.
pub const MAX_RIM_LEN: usize = 1 << 20;
/// Largest number of XML nodes accepted (a RIM has a few hundred).
const MAX_NODES: u32 = 10_000;
/// Deepest element nesting accepted (a RIM nests 5 deep); bounds the canonicalizer's recursion.
const MAX_DEPTH: usize = 32;
/// Largest `alternatives` count accepted per measurement (real RIMs use up to 4).
pub const MAX_ALTERNATIVES: u32 = 16;
/// Number of certificates `KeyInfo` must carry: L4 signer, L3, CA, CoRIM signing root.
pub const RIM_CHAIN_LEN: usize = 4;

const NS_SWID: &str = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_HASH: &str = "http://www.w3.org/2001/04/xmlenc#sha384";
const NS_RIM: &str = "https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/";
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

const ALG_C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
const ALG_C14N10: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const ALG_ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
const ALG_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";

/// OID 1.2.840.10045.4.3.3 ecdsa-with-SHA384.
const OID_ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";

/// Why a RIM was rejected. One variant per check so that tests and logs name the exact reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RimError {
    /// The document is larger than [`MAX_RIM_LEN`].
    #[error("RIM is {len} bytes, more than the {MAX_RIM_LEN} accepted")]
    TooLarge {
        /// Length of the input.
        len: usize,
    },
    /// The document has a DOCTYPE or entity declaration (refused: entity expansion, XXE).
    #[error("RIM contains a DTD or entity declaration")]
    Dtd,
    /// The document is not well-formed XML (or not UTF-8).
    #[error("RIM is not well-formed XML: {0}")]
    Xml(String),
    /// The document does not have the structure of an NVIDIA RIM.
    #[error("RIM structure: {what}")]
    Schema {
        /// What was wrong.
        what: &'static str,
    },
    /// No `ds:Signature` element.
    #[error("RIM has no ds:Signature")]
    MissingSignature,
    /// More than one `ds:Signature` element (signature wrapping).
    #[error("RIM has more than one ds:Signature")]
    MultipleSignatures,
    /// A signature algorithm or transform other than the pinned ones.
    #[error("RIM signature uses {found:?} for {what}")]
    Algorithm {
        /// Which algorithm slot.
        what: &'static str,
        /// The algorithm URI found (or a description).
        found: String,
    },
    /// A base64 field of the signature does not decode, or has the wrong length.
    #[error("RIM signature field {what} is malformed")]
    Encoding {
        /// Which field.
        what: &'static str,
    },
    /// The last `KeyInfo` certificate is not the pinned CoRIM signing root.
    #[error("RIM certificate chain does not end in the pinned NVIDIA CoRIM signing root")]
    UntrustedRoot,
    /// `KeyInfo` does not carry exactly [`RIM_CHAIN_LEN`] certificates.
    #[error("RIM KeyInfo has {found} certificates, expected {RIM_CHAIN_LEN}")]
    ChainLength {
        /// Number of certificates found.
        found: usize,
    },
    /// A `KeyInfo` certificate (0 = signer) does not parse as X.509.
    #[error("RIM certificate {index} does not parse")]
    Certificate {
        /// Position in `KeyInfo`, leaf first.
        index: usize,
    },
    /// Certificate `index`'s issuer name is not the subject of certificate `index + 1`.
    #[error("RIM certificate {index} is not issued by the next one")]
    ChainName {
        /// Position in `KeyInfo`, leaf first.
        index: usize,
    },
    /// Certificate `index + 1` is not a CA certificate.
    #[error("RIM certificate {index} is not a CA")]
    NotCa {
        /// Position in `KeyInfo`, leaf first.
        index: usize,
    },
    /// Certificate `index`'s signature does not verify under certificate `index + 1`'s key.
    #[error("RIM certificate {index} signature does not verify")]
    ChainSignature {
        /// Position in `KeyInfo`, leaf first.
        index: usize,
    },
    /// Certificate `index` is not valid yet at the verification time.
    #[error("RIM certificate {index} is not valid before {not_before}")]
    CertNotYetValid {
        /// Position in `KeyInfo`, leaf first.
        index: usize,
        /// Its notBefore.
        not_before: UnixTime,
    },
    /// Certificate `index` has expired at the verification time.
    #[error("RIM certificate {index} expired at {not_after}")]
    CertExpired {
        /// Position in `KeyInfo`, leaf first.
        index: usize,
        /// Its notAfter.
        not_after: UnixTime,
    },
    /// The signing certificate's keyUsage does not allow digitalSignature.
    #[error("RIM signer certificate may not sign")]
    SignerKeyUsage,
    /// The SHA-384 of the canonical document differs from `DigestValue`: the content was edited.
    #[error("RIM DigestValue does not match the document")]
    DigestMismatch,
    /// `SignatureValue` does not verify over the canonical `SignedInfo` with the signer's key.
    #[error("RIM SignatureValue does not verify")]
    SignatureInvalid,
    /// Two `Resource` elements with one index.
    #[error("RIM has two measurements at index {index}")]
    DuplicateIndex {
        /// The RIM (0-based) index.
        index: u32,
    },
    /// A measurement whose `size` is not 48 (SHA-384), the only size SPDM reports here carry.
    #[error("RIM measurement {index} has size {size}, expected 48")]
    MeasurementSize {
        /// The RIM (0-based) index.
        index: u32,
        /// The `size` attribute.
        size: u32,
    },
    /// `colloquialVersion` is neither a driver version nor a VBIOS version.
    #[error("RIM colloquialVersion {version:?} is neither a driver nor a VBIOS version")]
    UnknownKind {
        /// The `colloquialVersion` attribute.
        version: String,
    },
}

/// What a RIM describes. NVIDIA RIMs carry no explicit field for this; it follows from the
/// format of `Meta/@colloquialVersion`: a VBIOS version is five dot-separated pairs of hex digits
/// (`96.00.5E.00.01`), a driver version two or three dot-separated decimal numbers
/// (`550.144.03`, `545.00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RimKind {
    /// The GPU driver (GSP firmware, microcode) RIM.
    Driver,
    /// The VBIOS RIM.
    Vbios,
}

/// One `Payload/Resource[@type="Measurement"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RimMeasurement {
    /// 0-based RIM index; the report's SPDM measurement block `index + 1`.
    pub index: u32,
    /// Only active measurements are compared.
    pub active: bool,
    /// `name` attribute (informational).
    pub name: String,
    /// `Hash0..Hash{alternatives-1}`: the report value must equal one of them.
    pub alternatives: Vec<[u8; 48]>,
}

/// A RIM whose signature, chain and structure were verified. Everything in it comes from the
/// signed content. Not constructible outside this module.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifiedRim {
    /// `SoftwareIdentity/@tagId`.
    pub tag_id: String,
    /// `SoftwareIdentity/@name` (e.g. `GH100`).
    pub name: String,
    /// `SoftwareIdentity/@version` (the tag format version, `1.0`).
    pub version: String,
    /// `SoftwareIdentity/@tagVersion`.
    pub tag_version: String,
    /// `Meta/@colloquialVersion`: the driver or VBIOS version this RIM describes.
    pub colloquial_version: String,
    /// `Meta/@product` (e.g. `GH100`).
    pub product: String,
    /// Driver or VBIOS, from the version's format.
    pub kind: RimKind,
    /// `Meta/@rim:FirmwareManufacturerId` (becomes the `oemid` claim).
    pub firmware_manufacturer_id: Option<String>,
    /// `Meta/@rim:PlatformModel`.
    pub platform_model: Option<String>,
    /// All measurements, in document order, indices unique.
    pub measurements: Vec<RimMeasurement>,
    /// Latest notBefore of the 4 chain certificates.
    pub valid_from: UnixTime,
    /// Earliest notAfter of the 4 chain certificates.
    pub valid_until: UnixTime,
    /// Subject of the signing (leaf) certificate, RFC 4514 form.
    pub signer: String,
    /// The verified chain from `KeyInfo`, DER, signer first, ending in the trust anchor: the
    /// certificates whose revocation is checked by OCSP.
    pub chain: Vec<Vec<u8>>,
}

impl VerifiedRim {
    /// Whether this RIM describes `version`: the driver version from the report's signed opaque
    /// data (TLV 3, NUL stripped, e.g. `535.86.09`) or the formatted VBIOS version (TLV 6, e.g.
    /// `96.00.5e.00.01`). Case-insensitive, as nvtrust compares `colloquialVersion.lower()`.
    pub fn describes_version(&self, version: &str) -> bool {
        self.colloquial_version.eq_ignore_ascii_case(version)
    }
}

/// The RIM service id of a Hopper driver RIM (nvtrust `cc_admin_utils.py`):
/// `NV_GPU_DRIVER_GH100_<driver version>`, the version taken from the report's signed TLV 3.
pub fn hopper_driver_rim_id(driver_version: &str) -> String {
    format!("NV_GPU_DRIVER_GH100_{driver_version}")
}

/// The RIM service id of a VBIOS RIM (nvtrust `cc_admin_utils.py`):
/// `NV_GPU_VBIOS_<PROJECT>_<PROJECT_SKU>_<CHIP_SKU>_<VBIOS without dots>`, all upper-case, from
/// the report's signed TLVs 17, 18, 15 and 6 (NULs already stripped).
pub fn vbios_rim_id(
    project: &str,
    project_sku: &str,
    chip_sku: &str,
    vbios_version: &str,
) -> String {
    let vbios: String = vbios_version.chars().filter(|c| *c != '.').collect();
    format!("NV_GPU_VBIOS_{project}_{project_sku}_{chip_sku}_{vbios}").to_ascii_uppercase()
}

/// Verifies RIMs against a pinned NVIDIA CoRIM signing root.
#[derive(Debug, Clone)]
pub struct RimVerifier {
    root_der: Vec<u8>,
}

impl RimVerifier {
    /// A verifier trusting `root_der` (DER of the NVIDIA CoRIM signing Root CA, normally
    /// `verifier/roots/nvidia/corim_signing_root_ca.der`).
    pub fn new(root_der: Vec<u8>) -> Self {
        Self { root_der }
    }

    /// Parses `xml`, verifies its enveloped signature and certificate chain at `now`, and returns
    /// its signed content.
    pub fn verify(&self, now: UnixTime, xml: &[u8]) -> Result<VerifiedRim, RimError> {
        let doc = parse_document(xml)?;
        let root = doc.root_element();
        let sig = find_signature(&doc)?;
        let parts = signature_parts(sig)?;
        let chain = self.verify_chain(now, &parts.certs)?;

        let canonical = c14n::canonicalize(root, Some(sig.id())).map_err(|_| RimError::Schema {
            what: "canonicalization",
        })?;
        let digest = ring::digest::digest(&ring::digest::SHA384, &canonical);
        if digest.as_ref() != parts.digest_value.as_slice() {
            return Err(RimError::DigestMismatch);
        }
        let signed_info =
            c14n::canonicalize(parts.signed_info, None).map_err(|_| RimError::Schema {
                what: "canonicalization",
            })?;
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &chain.leaf_key)
            .verify(&signed_info, &parts.signature_value)
            .map_err(|_| RimError::SignatureInvalid)?;

        let content = read_content(root)?;
        Ok(VerifiedRim {
            tag_id: content.tag_id,
            name: content.name,
            version: content.version,
            tag_version: content.tag_version,
            colloquial_version: content.colloquial_version,
            product: content.product,
            kind: content.kind,
            firmware_manufacturer_id: content.firmware_manufacturer_id,
            platform_model: content.platform_model,
            measurements: content.measurements,
            valid_from: chain.valid_from,
            valid_until: chain.valid_until,
            signer: chain.signer,
            chain: parts.certs,
        })
    }

    fn verify_chain(&self, now: UnixTime, certs: &[Vec<u8>]) -> Result<Chain, RimError> {
        // The chain must end in the pinned root, byte for byte; a root carried in the document
        // is never trusted on its own.
        if certs.last().map(Vec::as_slice) != Some(self.root_der.as_slice()) {
            return Err(RimError::UntrustedRoot);
        }
        if certs.len() != RIM_CHAIN_LEN {
            return Err(RimError::ChainLength { found: certs.len() });
        }
        let mut parsed = Vec::with_capacity(certs.len());
        for (index, der) in certs.iter().enumerate() {
            match X509Certificate::from_der(der) {
                Ok(([], cert)) => parsed.push(cert),
                _ => return Err(RimError::Certificate { index }),
            }
        }
        let mut valid_from = UnixTime(i64::MIN);
        let mut valid_until = UnixTime(i64::MAX);
        for (index, cert) in parsed.iter().enumerate() {
            let not_before = UnixTime(cert.validity().not_before.timestamp());
            let not_after = UnixTime(cert.validity().not_after.timestamp());
            if now < not_before {
                return Err(RimError::CertNotYetValid { index, not_before });
            }
            if now > not_after {
                return Err(RimError::CertExpired { index, not_after });
            }
            valid_from = valid_from.max(not_before);
            valid_until = valid_until.min(not_after);
        }
        for (index, pair) in parsed.windows(2).enumerate() {
            let [cert, issuer] = pair else {
                continue;
            };
            if cert.issuer().as_raw() != issuer.subject().as_raw() {
                return Err(RimError::ChainName { index });
            }
            let is_ca = matches!(issuer.basic_constraints(), Ok(Some(bc)) if bc.value.ca);
            if !is_ca {
                return Err(RimError::NotCa { index: index + 1 });
            }
            let alg = cert.signature_algorithm.algorithm.to_id_string();
            if alg != OID_ECDSA_SHA384 {
                return Err(RimError::Algorithm {
                    what: "certificate signature",
                    found: alg,
                });
            }
            let key = &issuer.public_key().subject_public_key.data;
            let verify_alg: &dyn signature::VerificationAlgorithm = match key.len() {
                97 => &signature::ECDSA_P384_SHA384_ASN1,
                65 => &signature::ECDSA_P256_SHA384_ASN1,
                _ => {
                    return Err(RimError::Algorithm {
                        what: "certificate key",
                        found: format!("{}-byte key", key.len()),
                    });
                }
            };
            UnparsedPublicKey::new(verify_alg, key)
                .verify(cert.tbs_certificate.as_ref(), &cert.signature_value.data)
                .map_err(|_| RimError::ChainSignature { index })?;
        }
        let leaf = parsed.first().ok_or(RimError::ChainLength { found: 0 })?;
        // The signer must be allowed to sign (when it says what it may do at all).
        if let Ok(Some(ku)) = leaf.key_usage()
            && !ku.value.digital_signature()
        {
            return Err(RimError::SignerKeyUsage);
        }
        let leaf_key = leaf.public_key().subject_public_key.data.to_vec();
        if leaf_key.len() != 97 {
            return Err(RimError::Algorithm {
                what: "signer key",
                found: format!("{}-byte key (not P-384)", leaf_key.len()),
            });
        }
        Ok(Chain {
            leaf_key,
            valid_from,
            valid_until,
            signer: leaf.subject().to_string(),
        })
    }
}

struct Chain {
    leaf_key: Vec<u8>,
    valid_from: UnixTime,
    valid_until: UnixTime,
    signer: String,
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Refuses node kinds the canonicalizer does not handle and the RIM never needs: comments (they
/// would be dropped from the digest but could split text the reader sees), processing
/// instructions, and `xml:*` attributes (whose inheritance is where C14N 1.0 and 1.1 differ).
fn check_restricted(doc: &Document<'_>) -> Result<(), RimError> {
    for node in doc.descendants() {
        // `ancestors()` includes the node itself and the document node.
        if node.is_element() && node.ancestors().nth(MAX_DEPTH + 1).is_some() {
            return Err(RimError::Schema {
                what: "elements nested too deeply",
            });
        }
        if node.is_comment() {
            return Err(RimError::Schema { what: "comment" });
        }
        if node.is_pi() {
            return Err(RimError::Schema {
                what: "processing instruction",
            });
        }
        if node.attributes().any(|a| a.namespace() == Some(NS_XML)) {
            return Err(RimError::Schema {
                what: "xml:* attribute",
            });
        }
    }
    Ok(())
}

/// The single `ds:Signature`, which must be the last element child of the root.
fn find_signature<'a, 'i>(doc: &'a Document<'i>) -> Result<Node<'a, 'i>, RimError> {
    let mut sigs = doc
        .descendants()
        .filter(|n| n.is_element() && n.tag_name().namespace() == Some(NS_DS))
        .filter(|n| n.tag_name().name() == "Signature");
    let sig = sigs.next().ok_or(RimError::MissingSignature)?;
    if sigs.next().is_some() {
        return Err(RimError::MultipleSignatures);
    }
    if doc.root_element().last_element_child() != Some(sig) {
        return Err(RimError::Schema {
            what: "ds:Signature is not the last child of the root",
        });
    }
    Ok(sig)
}

/// Parses a RIM document with the restrictions of [`RimVerifier::verify`]: size, no DTD, node
/// limit, restricted XML.
fn parse_document(xml: &[u8]) -> Result<Document<'_>, RimError> {
    if xml.len() > MAX_RIM_LEN {
        return Err(RimError::TooLarge { len: xml.len() });
    }
    if contains(xml, b"<!DOCTYPE") || contains(xml, b"<!ENTITY") {
        return Err(RimError::Dtd);
    }
    let text = std::str::from_utf8(xml).map_err(|e| RimError::Xml(e.to_string()))?;
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        // External entities are never resolved (no DTD is accepted anyway).
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::DtdDetected => RimError::Dtd,
        e => RimError::Xml(e.to_string()),
    })?;
    check_restricted(&doc)?;
    Ok(doc)
}

/// The certificates of a RIM's `KeyInfo` (DER, leaf first), **not verified**: for tools that
/// need the chain of a RIM before or without verifying it (the simulator's OCSP stapler).
/// Verification goes through [`RimVerifier::verify`], whose [`VerifiedRim::chain`] is the
/// verified one.
pub fn document_chain(xml: &[u8]) -> Result<Vec<Vec<u8>>, RimError> {
    let doc = parse_document(xml)?;
    let sig = find_signature(&doc)?;
    Ok(signature_parts(sig)?.certs)
}

struct SignatureParts<'a, 'i> {
    signed_info: Node<'a, 'i>,
    digest_value: Vec<u8>,
    signature_value: Vec<u8>,
    certs: Vec<Vec<u8>>,
}

/// Element children of `node`, refusing non-whitespace text between them.
fn element_children<'a, 'i>(node: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, RimError> {
    let mut out = Vec::new();
    for child in node.children() {
        if child.is_element() {
            out.push(child);
        } else if child.text().is_some_and(|t| !t.trim().is_empty()) {
            return Err(RimError::Schema {
                what: "unexpected text between elements",
            });
        }
    }
    Ok(out)
}

/// `node` must be `ds:{name}`.
fn expect_ds<'a, 'i>(
    node: Option<&Node<'a, 'i>>,
    what: &'static str,
) -> Result<Node<'a, 'i>, RimError> {
    match node {
        Some(n) if n.tag_name().namespace() == Some(NS_DS) && n.tag_name().name() == what => Ok(*n),
        _ => Err(RimError::Schema { what }),
    }
}

/// The `Algorithm` attribute of a `ds:*Method`/`ds:Transform`, which must have no children.
fn algorithm<'a>(node: Node<'a, '_>, what: &'static str) -> Result<&'a str, RimError> {
    if node.has_children() {
        return Err(RimError::Algorithm {
            what,
            found: "parameters".into(),
        });
    }
    node.attribute("Algorithm").ok_or(RimError::Schema { what })
}

fn pin(found: &str, allowed: &[&str], what: &'static str) -> Result<(), RimError> {
    if allowed.contains(&found) {
        Ok(())
    } else {
        Err(RimError::Algorithm {
            what,
            found: found.to_owned(),
        })
    }
}

fn base64_text(node: Node<'_, '_>, what: &'static str) -> Result<Vec<u8>, RimError> {
    use base64::Engine as _;
    let mut text = String::new();
    for child in node.children() {
        if !child.is_text() {
            return Err(RimError::Encoding { what });
        }
        text.extend(
            child
                .text()
                .unwrap_or("")
                .chars()
                .filter(|c| !c.is_ascii_whitespace()),
        );
    }
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| RimError::Encoding { what })
}

/// Checks the `ds:Signature` layout and pins every algorithm: `SignedInfo` (C14N 1.1 or 1.0,
/// ecdsa-sha384, one `Reference URI=""` with the enveloped-signature transform and optionally
/// C14N, sha384), `SignatureValue`, `KeyInfo/X509Data/X509Certificate+`. No `ds:Object`.
fn signature_parts<'a, 'i>(sig: Node<'a, 'i>) -> Result<SignatureParts<'a, 'i>, RimError> {
    let children = element_children(sig)?;
    let [signed_info, sig_value, key_info] = children.as_slice() else {
        return Err(RimError::Schema {
            what: "ds:Signature children",
        });
    };
    let signed_info = expect_ds(Some(signed_info), "SignedInfo")?;
    let sig_value = expect_ds(Some(sig_value), "SignatureValue")?;
    let key_info = expect_ds(Some(key_info), "KeyInfo")?;

    let si = element_children(signed_info)?;
    let [c14n_method, sig_method, reference] = si.as_slice() else {
        return Err(RimError::Schema {
            what: "ds:SignedInfo children",
        });
    };
    let c14n_method = expect_ds(Some(c14n_method), "CanonicalizationMethod")?;
    pin(
        algorithm(c14n_method, "CanonicalizationMethod")?,
        &[ALG_C14N11, ALG_C14N10],
        "CanonicalizationMethod",
    )?;
    let sig_method = expect_ds(Some(sig_method), "SignatureMethod")?;
    pin(
        algorithm(sig_method, "SignatureMethod")?,
        &[ALG_ECDSA_SHA384],
        "SignatureMethod",
    )?;
    let reference = expect_ds(Some(reference), "Reference")?;
    if reference.attribute("URI") != Some("") {
        return Err(RimError::Algorithm {
            what: "Reference URI",
            found: reference.attribute("URI").unwrap_or("(none)").to_owned(),
        });
    }
    if reference.attributes().len() != 1 {
        return Err(RimError::Schema {
            what: "ds:Reference attributes",
        });
    }
    let rc = element_children(reference)?;
    let [transforms, digest_method, digest_value] = rc.as_slice() else {
        return Err(RimError::Schema {
            what: "ds:Reference children",
        });
    };
    let transforms = expect_ds(Some(transforms), "Transforms")?;
    let tl = element_children(transforms)?;
    let mut algs = Vec::with_capacity(tl.len());
    for t in &tl {
        let t = expect_ds(Some(t), "Transform")?;
        algs.push(algorithm(t, "Transform")?);
    }
    match algs.as_slice() {
        [ALG_ENVELOPED] => {}
        [ALG_ENVELOPED, c] if *c == ALG_C14N11 || *c == ALG_C14N10 => {}
        _ => {
            return Err(RimError::Algorithm {
                what: "Transforms",
                found: algs.join(" "),
            });
        }
    }
    let digest_method = expect_ds(Some(digest_method), "DigestMethod")?;
    pin(
        algorithm(digest_method, "DigestMethod")?,
        &[ALG_SHA384],
        "DigestMethod",
    )?;
    let digest_value = base64_text(expect_ds(Some(digest_value), "DigestValue")?, "DigestValue")?;
    if digest_value.len() != 48 {
        return Err(RimError::Encoding {
            what: "DigestValue",
        });
    }
    let signature_value = base64_text(sig_value, "SignatureValue")?;
    if signature_value.len() != 96 {
        return Err(RimError::Encoding {
            what: "SignatureValue",
        });
    }

    let ki = element_children(key_info)?;
    let [x509_data] = ki.as_slice() else {
        return Err(RimError::Schema {
            what: "ds:KeyInfo children",
        });
    };
    let x509_data = expect_ds(Some(x509_data), "X509Data")?;
    let mut certs = Vec::new();
    for c in element_children(x509_data)? {
        let c = expect_ds(Some(&c), "X509Certificate")?;
        certs.push(base64_text(c, "X509Certificate")?);
    }
    Ok(SignatureParts {
        signed_info,
        digest_value,
        signature_value,
        certs,
    })
}

struct Content {
    tag_id: String,
    name: String,
    version: String,
    tag_version: String,
    colloquial_version: String,
    product: String,
    kind: RimKind,
    firmware_manufacturer_id: Option<String>,
    platform_model: Option<String>,
    measurements: Vec<RimMeasurement>,
}

fn is_swid(node: &Node<'_, '_>, name: &str) -> bool {
    node.tag_name().namespace() == Some(NS_SWID) && node.tag_name().name() == name
}

fn required<'a>(node: Node<'a, '_>, attr: &str, what: &'static str) -> Result<&'a str, RimError> {
    node.attribute(attr).ok_or(RimError::Schema { what })
}

/// Reads the signed SWID content: `SoftwareIdentity` with one `Entity`, one `Meta`, one
/// `Payload` of measurement `Resource`s, then the signature.
fn read_content(root: Node<'_, '_>) -> Result<Content, RimError> {
    if !is_swid(&root, "SoftwareIdentity") {
        return Err(RimError::Schema {
            what: "root is not swid:SoftwareIdentity",
        });
    }
    let children = element_children(root)?;
    let mut meta = None;
    let mut payload = None;
    for child in &children {
        if is_swid(child, "Meta") {
            if meta.replace(*child).is_some() {
                return Err(RimError::Schema { what: "two Meta" });
            }
        } else if is_swid(child, "Payload") {
            if payload.replace(*child).is_some() {
                return Err(RimError::Schema {
                    what: "two Payload",
                });
            }
        } else if !is_swid(child, "Entity") && Some(*child) != root.last_element_child() {
            // The last element child is the (already checked) ds:Signature.
            return Err(RimError::Schema {
                what: "unexpected SoftwareIdentity child",
            });
        }
    }
    let meta = meta.ok_or(RimError::Schema { what: "no Meta" })?;
    let payload = payload.ok_or(RimError::Schema { what: "no Payload" })?;

    let colloquial_version = required(meta, "colloquialVersion", "Meta colloquialVersion")?;
    let kind = kind_of(colloquial_version)?;

    let mut measurements: Vec<RimMeasurement> = Vec::new();
    for r in element_children(payload)? {
        if !is_swid(&r, "Resource") {
            return Err(RimError::Schema {
                what: "Payload child is not Resource",
            });
        }
        let m = read_measurement(r)?;
        if measurements.iter().any(|x| x.index == m.index) {
            return Err(RimError::DuplicateIndex { index: m.index });
        }
        measurements.push(m);
    }

    Ok(Content {
        tag_id: required(root, "tagId", "SoftwareIdentity tagId")?.to_owned(),
        name: required(root, "name", "SoftwareIdentity name")?.to_owned(),
        version: root.attribute("version").unwrap_or("0.0").to_owned(),
        tag_version: root.attribute("tagVersion").unwrap_or("0").to_owned(),
        colloquial_version: colloquial_version.to_owned(),
        product: required(meta, "product", "Meta product")?.to_owned(),
        kind,
        firmware_manufacturer_id: meta
            .attribute((NS_RIM, "FirmwareManufacturerId"))
            .map(str::to_owned),
        platform_model: meta.attribute((NS_RIM, "PlatformModel")).map(str::to_owned),
        measurements,
    })
}

fn parse_u32(s: &str, what: &'static str) -> Result<u32, RimError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RimError::Schema { what });
    }
    s.parse().map_err(|_| RimError::Schema { what })
}

fn read_measurement(r: Node<'_, '_>) -> Result<RimMeasurement, RimError> {
    if r.attribute("type") != Some("Measurement") {
        return Err(RimError::Schema {
            what: "Resource type is not Measurement",
        });
    }
    if r.has_children() {
        return Err(RimError::Schema {
            what: "Resource has content",
        });
    }
    let index = parse_u32(required(r, "index", "Resource index")?, "Resource index")?;
    // SPDM block indices are a u8 and 0xFF means "all": RIM index + 1 must stay below it.
    if index >= 254 {
        return Err(RimError::Schema {
            what: "Resource index out of range",
        });
    }
    let active = match required(r, "active", "Resource active")? {
        "True" => true,
        "False" => false,
        _ => {
            return Err(RimError::Schema {
                what: "Resource active is not True/False",
            });
        }
    };
    let count = parse_u32(
        required(r, "alternatives", "Resource alternatives")?,
        "Resource alternatives",
    )?;
    if count == 0 || count > MAX_ALTERNATIVES {
        return Err(RimError::Schema {
            what: "Resource alternatives out of range",
        });
    }
    let size = parse_u32(required(r, "size", "Resource size")?, "Resource size")?;
    if size != 48 {
        return Err(RimError::MeasurementSize { index, size });
    }
    let mut alternatives = Vec::with_capacity(count as usize);
    for k in 0..count {
        let name = format!("Hash{k}");
        let hex_value = r
            .attribute((NS_HASH, name.as_str()))
            .ok_or(RimError::Schema {
                what: "Resource HashK missing",
            })?;
        let mut value = [0u8; 48];
        hex::decode_to_slice(hex_value, &mut value).map_err(|_| RimError::Schema {
            what: "Resource HashK is not 96 hex digits",
        })?;
        alternatives.push(value);
    }
    // Every hash attribute must be one of Hash0..Hash{count-1}: no unread extra values.
    let hash_attrs = r
        .attributes()
        .filter(|a| a.namespace() == Some(NS_HASH))
        .count();
    if hash_attrs != alternatives.len() {
        return Err(RimError::Schema {
            what: "Resource has more hashes than alternatives",
        });
    }
    Ok(RimMeasurement {
        index,
        active,
        name: r.attribute("name").unwrap_or("").to_owned(),
        alternatives,
    })
}

fn kind_of(version: &str) -> Result<RimKind, RimError> {
    let parts: Vec<&str> = version.split('.').collect();
    let all = |f: fn(u8) -> bool| parts.iter().all(|p| !p.is_empty() && p.bytes().all(f));
    if parts.len() == 5 && parts.iter().all(|p| p.len() == 2) && all(|b| b.is_ascii_hexdigit()) {
        Ok(RimKind::Vbios)
    } else if (2..=3).contains(&parts.len()) && all(|b| b.is_ascii_digit()) {
        Ok(RimKind::Driver)
    } else {
        Err(RimError::UnknownKind {
            version: version.to_owned(),
        })
    }
}

/// Why the report's measurements could not be compared with the RIMs at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// The RIM passed as the driver RIM is a VBIOS RIM, or the other way round.
    #[error("expected a {expected:?} RIM")]
    WrongKind {
        /// The kind expected in that argument.
        expected: RimKind,
    },
    /// Both RIMs have an active measurement at this index (nvtrust InvalidMeasurementIndexError,
    /// NVAT DRV_VBIOS_MSR_INDEX_CONFLICT).
    #[error("driver and VBIOS RIMs both claim index {index}")]
    IndexConflict {
        /// The RIM (0-based) index.
        index: u32,
    },
    /// More active golden measurements than the report has blocks.
    #[error("{golden} active RIM measurements but only {runtime} report blocks")]
    TooManyGolden {
        /// Active measurements in the RIMs.
        golden: usize,
        /// Blocks in the report.
        runtime: usize,
    },
    /// An active RIM index with no corresponding report block.
    #[error("RIM index {index} has no report block")]
    MissingBlock {
        /// The RIM (0-based) index.
        index: u32,
    },
}

/// One active RIM measurement the report does not match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mismatch {
    /// The RIM (0-based) index; the report's SPDM block `index + 1`.
    pub index: u32,
    /// The RIM that holds the reference value.
    pub source: RimKind,
}

/// The outcome of comparing a report with its RIMs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Comparison {
    /// True when every compared active measurement matched.
    pub matched: bool,
    /// RIM indices that did not match, ascending.
    pub mismatched_indices: Vec<u32>,
    /// The same, with the RIM each came from.
    pub mismatches: Vec<Mismatch>,
    /// Active RIM indices compared (matched or not), ascending.
    pub compared: Vec<u32>,
    /// Active RIM indices skipped by rule (index 35 while NVDEC0 is disabled).
    pub skipped: Vec<u32>,
}

/// The RIM index of the NVDEC0 measurement, skipped when the signed opaque field NVDEC0_STATUS
/// says NVDEC0 is disabled (NVAT `verify.cpp`).
pub const NVDEC0_INDEX: u32 = 35;

/// Compares a report's measurements with its driver and VBIOS RIMs.
///
/// `report[i]` is the value of SPDM measurement block `i + 1`, i.e. RIM index `i`.
/// `nvdec0_disabled` must come from the report's signed opaque data (TLV 11 == 0x55); it skips
/// index [`NVDEC0_INDEX`] as NVAT does. Rules (nvtrust `verifier.py`, NVAT `verify.cpp`): only
/// active RIM entries count; no index may be active in both RIMs; there may not be more active
/// entries than report blocks; an entry matches when the block equals one of its alternatives
/// (sizes are fixed at 48 bytes by the types: a RIM with another size is rejected when verified).
pub fn compare(
    report: &[[u8; 48]],
    nvdec0_disabled: bool,
    driver: &VerifiedRim,
    vbios: &VerifiedRim,
) -> Result<Comparison, CompareError> {
    if driver.kind != RimKind::Driver {
        return Err(CompareError::WrongKind {
            expected: RimKind::Driver,
        });
    }
    if vbios.kind != RimKind::Vbios {
        return Err(CompareError::WrongKind {
            expected: RimKind::Vbios,
        });
    }
    compare_rims(report, nvdec0_disabled, &[driver, vbios])
}

/// Compares a report with one RIM only. This is a diagnostic (which indices of this RIM match),
/// not a verdict: a full check needs both RIMs, see [`compare`].
pub fn compare_single(
    report: &[[u8; 48]],
    nvdec0_disabled: bool,
    rim: &VerifiedRim,
) -> Result<Comparison, CompareError> {
    compare_rims(report, nvdec0_disabled, &[rim])
}

fn compare_rims(
    report: &[[u8; 48]],
    nvdec0_disabled: bool,
    rims: &[&VerifiedRim],
) -> Result<Comparison, CompareError> {
    let mut golden: Vec<(&RimMeasurement, RimKind)> = Vec::new();
    for rim in rims {
        for m in rim.measurements.iter().filter(|m| m.active) {
            if golden.iter().any(|(g, _)| g.index == m.index) {
                return Err(CompareError::IndexConflict { index: m.index });
            }
            golden.push((m, rim.kind));
        }
    }
    if golden.len() > report.len() {
        return Err(CompareError::TooManyGolden {
            golden: golden.len(),
            runtime: report.len(),
        });
    }
    golden.sort_by_key(|(m, _)| m.index);

    let mut out = Comparison {
        matched: true,
        mismatched_indices: Vec::new(),
        mismatches: Vec::new(),
        compared: Vec::new(),
        skipped: Vec::new(),
    };
    for (m, source) in golden {
        if nvdec0_disabled && m.index == NVDEC0_INDEX {
            out.skipped.push(m.index);
            continue;
        }
        let block = usize::try_from(m.index)
            .ok()
            .and_then(|i| report.get(i))
            .ok_or(CompareError::MissingBlock { index: m.index })?;
        out.compared.push(m.index);
        if !m.alternatives.iter().any(|a| a == block) {
            out.matched = false;
            out.mismatched_indices.push(m.index);
            out.mismatches.push(Mismatch {
                index: m.index,
                source,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
