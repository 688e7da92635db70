//! Simulated NVIDIA reference integrity manifests (RIMs), signed by a generated CoRIM-style PKI,
//! so that every check of [`crate::nvidia::rim`] can run in tests.
//!
//! [`RimHierarchy`] mimics the chain that signs NVIDIA's RIMs (read with `openssl x509` from the
//! `KeyInfo` of `shared/vectors/nvidia/rims/nvtrust/1010_0200_882_96005E0001_PROD.swidtag`):
//!
//! ```text
//! root   C=US, O=NVIDIA, CN=Warden Simulated NVIDIA CoRIM signing Root CA
//!        SKI, AKI, BC cA (crit), KU keyCertSign|cRLSign (crit)
//! CA     CN=NVIDIA Reference Value GH100 CA, O=NVIDIA Corporation, C=US
//!        BC cA (crit), KU keyCertSign|cRLSign (crit), CRL DP, AIA OCSP, SKI, AKI
//! L3     CN=NVIDIA Reference Value L3 GH100 001, O=NVIDIA Corporation, C=US
//!        BC cA pathLen 0 (crit), KU keyCertSign|cRLSign (crit), AIA OCSP, SKI, AKI
//! signer C=US, ST=CA, L=Santa Clara, O=NVIDIA Corporation, CN=HCC RIM L4 Signer
//!        SKI, AKI, BC not cA (crit), KU digitalSignature (crit), AIA OCSP
//! ```
//!
//! all ECDSA P-384 with SHA-384. The signer certificate is issued per RIM with the validity of
//! its [`RimProfile`] (NVIDIA's are valid for two years), so an expired signer is one field.
//!
//! [`RimHierarchy::sign_rim`] writes a SWID tag laid out like the real ones (namespace prefixes,
//! attribute order, indentation, 64 `Resource` elements) with an enveloped `ds:Signature` as its
//! last child: C14N 1.1, `ecdsa-sha384`, one `Reference URI=""` with the enveloped-signature and
//! C14N 1.1 transforms, SHA-384, a raw `r‖s` `SignatureValue`, and the four certificates, leaf
//! first, in `KeyInfo/X509Data`. Both digests are computed with the verifier's own
//! canonicalizer ([`crate::nvidia::rim::c14n`]) over the document as the verifier will parse it.
//!
//! Everything is deterministic: keys come from a ChaCha20 stream seeded by the seed, signer
//! serials from the seed and the RIM, and every signature is RFC 6979 deterministic.

use std::fmt;
use std::sync::OnceLock;

use base64::Engine as _;
use p384::ecdsa::signature::Signer;
use p384::ecdsa::{DerSignature, Signature, SigningKey};
use p384::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rand_chacha::rand_core::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha384};
use x509_cert::der::asn1::{BitString, ObjectIdentifier};
use x509_cert::der::{Encode, ErrorKind, Tag};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, SubjectKeyIdentifier};
use x509_cert::name::RdnSequence;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;
use x509_cert::{Certificate, TbsCertificate, Version};
use zeroize::Zeroizing;

use super::{Arch, CaCert, GpuProfile, cert, derive_rng, format_vbios_version, positive, serial16};
use crate::UnixTime;
use crate::nvidia::rim::{RimKind, c14n, hopper_driver_rim_id, vbios_rim_id};
use crate::sim::snp::{SHARED_SEED, SimError};

/// Common name of the simulated CoRIM signing root.
pub const RIM_ROOT_CN: &str = "Warden Simulated NVIDIA CoRIM signing Root CA";
/// Common name of the simulated reference-value CA (NVIDIA's GH100 one).
pub const RIM_CA_CN: &str = "NVIDIA Reference Value GH100 CA";
/// Common name of the simulated L3 CA.
pub const RIM_L3_CN: &str = "NVIDIA Reference Value L3 GH100 001";
/// Common name of the RIM signer, as NVIDIA's.
pub const RIM_SIGNER_CN: &str = "HCC RIM L4 Signer";

/// Root validity, as NVIDIA's CoRIM signing root: 2023-03-16T15:37:34Z..2053-03-08T15:37:34Z.
const ROOT_NOT_BEFORE: UnixTime = UnixTime(1_678_981_054);
const ROOT_NOT_AFTER: UnixTime = UnixTime(2_625_061_054);
/// CA and L3 validity: 2023-05-11T00:00:00Z..2033-05-11T23:59:59Z (NVIDIA's CA; its L3 expires
/// 2026-11-11, which would make every simulated RIM expire too soon to be useful).
const CA_NOT_BEFORE: UnixTime = UnixTime(1_683_763_200);
const CA_NOT_AFTER: UnixTime = UnixTime(1_999_468_799);
/// Default signer validity: 2025-01-01T00:00:00Z..2032-12-31T23:59:59Z.
pub const SIGNER_NOT_BEFORE: UnixTime = UnixTime(1_735_689_600);
/// See [`SIGNER_NOT_BEFORE`].
pub const SIGNER_NOT_AFTER: UnixTime = UnixTime(1_988_150_399);

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_C: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.6");
const OID_L: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.7");
const OID_ST: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.8");
const OID_O: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_SKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const OID_AKI: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");

/// basicConstraints cA TRUE.
const BC_CA: [u8; 5] = [0x30, 0x03, 0x01, 0x01, 0xFF];
/// basicConstraints cA TRUE, pathLenConstraint 0 (the L3).
const BC_CA_PATHLEN0: [u8; 8] = [0x30, 0x06, 0x01, 0x01, 0xFF, 0x02, 0x01, 0x00];
/// basicConstraints cA FALSE (the default, so an empty SEQUENCE).
const BC_NOT_CA: [u8; 2] = [0x30, 0x00];
/// keyUsage keyCertSign | cRLSign.
const KU_CA: [u8; 4] = [0x03, 0x02, 0x01, 0x06];
/// keyUsage digitalSignature.
const KU_SIGNER: [u8; 4] = [0x03, 0x02, 0x07, 0x80];

const NS_SWID: &str = "http://standards.iso.org/iso/19770/-2/2015/schema.xsd";
const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const NS_HASH: &str = "http://www.w3.org/2001/04/xmlenc#sha384";
const NS_RIM: &str = "https://trustedcomputinggroup.org/resource/tcg-reference-integrity-manifest-rim-information-model/";
const ALG_C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
/// The signature method NVIDIA uses and the verifier pins.
const ALG_ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
const ALG_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";

/// The RIM that owns a (0-based) measurement index, as in NVIDIA's GH100 RIMs
/// (`shared/notes/nvidia.md` §5): the driver RIM owns 7 and 21–41, the VBIOS RIM 0–20 but 7.
/// `None` for 42 and above (inactive in both). The VBIOS range is widened from the samples'
/// 0–12 to 20 so that the simulated Blackwell measurements (RIM indices 12–20) are covered.
pub fn rim_owner(index: u32) -> Option<RimKind> {
    match index {
        7 | 21..=41 => Some(RimKind::Driver),
        0..=20 => Some(RimKind::Vbios),
        _ => None,
    }
}

/// A certificate's position in the RIM chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RimRole {
    Root,
    Ca,
    L3,
    Signer,
}

/// The extensions of `role` in NVIDIA's order.
fn extensions(
    role: RimRole,
    ski: &x509_cert::der::asn1::OctetString,
    aki: &x509_cert::der::asn1::OctetString,
) -> Result<Vec<Extension>, SimError> {
    let ski = cert::extension(OID_SKI, false, SubjectKeyIdentifier(ski.clone()).to_der()?)?;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(aki.clone()),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let aki = cert::extension(OID_AKI, false, aki.to_der()?)?;
    let bc = |value: &[u8]| cert::extension(OID_BASIC_CONSTRAINTS, true, value.to_vec());
    let ku = |value: &[u8]| cert::extension(OID_KEY_USAGE, true, value.to_vec());
    Ok(match role {
        RimRole::Root => vec![ski, aki, bc(&BC_CA)?, ku(&KU_CA)?],
        RimRole::Ca => vec![
            bc(&BC_CA)?,
            ku(&KU_CA)?,
            cert::crl_dp("http://crl.warden-sim.invalid/crl-corim/l1-corim")?,
            cert::aia()?,
            ski,
            aki,
        ],
        RimRole::L3 => vec![bc(&BC_CA_PATHLEN0)?, ku(&KU_CA)?, cert::aia()?, ski, aki],
        RimRole::Signer => vec![ski, aki, bc(&BC_NOT_CA)?, ku(&KU_SIGNER)?, cert::aia()?],
    })
}

/// What [`issue`] writes into a certificate besides keys and issuer.
struct Fields {
    role: RimRole,
    serial: Vec<u8>,
    subject: RdnSequence,
    not_before: UnixTime,
    not_after: UnixTime,
}

/// Issues the certificate of `key`, signed by `issuer` (self-signed when `None`); returns DER.
fn issue(
    fields: Fields,
    key: &SigningKey,
    issuer: Option<(&RdnSequence, &SigningKey)>,
) -> Result<Vec<u8>, SimError> {
    let spki = cert::spki(key)?;
    let ski = cert::key_identifier(&spki)?;
    let (issuer_name, issuer_key) = issuer.unwrap_or((&fields.subject, key));
    let aki = cert::key_identifier(&cert::spki(issuer_key)?)?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&fields.serial)?,
        signature: cert::ecdsa_algorithm(),
        issuer: issuer_name.clone(),
        validity: Validity {
            not_before: cert::x509_time(fields.not_before)?,
            not_after: cert::x509_time(fields.not_after)?,
        },
        extensions: Some(extensions(fields.role, &ski, &aki)?),
        subject: fields.subject,
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
    };
    let signature: DerSignature = issuer_key.sign(&tbs.to_der()?);
    let cert = Certificate {
        tbs_certificate: tbs,
        signature_algorithm: cert::ecdsa_algorithm(),
        signature: BitString::from_bytes(signature.as_bytes())?,
    };
    Ok(cert.to_der()?)
}

/// The error for XML this module wrote but could not read back: a bug here, never input.
fn internal() -> SimError {
    SimError::Der(ErrorKind::Failed.into())
}

/// A generated stand-in for NVIDIA's RIM signing PKI: root, reference-value CA, L3 CA and the
/// signer key, with their private keys. [`RimHierarchy::sign_rim`] issues the signer
/// certificate and signs a RIM.
pub struct RimHierarchy {
    seed: u64,
    root: CaCert,
    ca: CaCert,
    l3: CaCert,
    signer_key: SigningKey,
}

impl fmt::Debug for RimHierarchy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No key material.
        f.debug_struct("RimHierarchy")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

impl RimHierarchy {
    /// Generates the hierarchy for `seed`.
    //
    // Fixed names and dates and fresh keys always encode and sign (the tests cover it), so a
    // failure is a bug in this module, not a condition a caller could handle.
    #[allow(clippy::expect_used)]
    pub fn generate(seed: u64) -> Self {
        Self::try_generate(seed).expect("generating a fixed RIM hierarchy cannot fail")
    }

    /// The hierarchy for [`SHARED_SEED`], generated once per process.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<RimHierarchy> = OnceLock::new();
        SHARED.get_or_init(|| Self::generate(SHARED_SEED))
    }

    fn try_generate(seed: u64) -> Result<Self, SimError> {
        let mut rng = derive_rng("rim-hierarchy", &[&seed.to_le_bytes()]);
        let root_key = SigningKey::random(&mut rng);
        let ca_key = SigningKey::random(&mut rng);
        let l3_key = SigningKey::random(&mut rng);
        let signer_key = SigningKey::random(&mut rng);
        let root_name = cert::name(&[(OID_C, "US"), (OID_O, "NVIDIA"), (OID_CN, RIM_ROOT_CN)])?;
        let root = Self::ca(RimRole::Root, root_name, serial16(&mut rng), root_key, None)?;
        let ca_name = cert::name_cn_o_c(RIM_CA_CN)?;
        let ca = Self::ca(
            RimRole::Ca,
            ca_name,
            serial16(&mut rng),
            ca_key,
            Some(&root),
        )?;
        let l3_name = cert::name_cn_o_c(RIM_L3_CN)?;
        let l3 = Self::ca(RimRole::L3, l3_name, serial16(&mut rng), l3_key, Some(&ca))?;
        Ok(Self {
            seed,
            root,
            ca,
            l3,
            signer_key,
        })
    }

    fn ca(
        role: RimRole,
        subject: RdnSequence,
        serial: Vec<u8>,
        key: SigningKey,
        issuer: Option<&CaCert>,
    ) -> Result<CaCert, SimError> {
        let (not_before, not_after) = if role == RimRole::Root {
            (ROOT_NOT_BEFORE, ROOT_NOT_AFTER)
        } else {
            (CA_NOT_BEFORE, CA_NOT_AFTER)
        };
        let fields = Fields {
            role,
            serial,
            subject: subject.clone(),
            not_before,
            not_after,
        };
        let der = issue(fields, &key, issuer.map(|i| (&i.name, &i.key)))?;
        Ok(CaCert {
            der,
            name: subject,
            key,
        })
    }

    /// The hierarchy's simulated OCSP responder: a delegated responder certificate issued by
    /// the root.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] if encoding fails.
    pub fn ocsp_responder(&self) -> Result<super::SimOcspResponder, SimError> {
        super::SimOcspResponder::new("RIM", &self.root.der, &self.root.name, &self.root.key)
    }

    /// OCSP responses, as `spec` says, for the certificates of `rim`'s chain checked by OCSP
    /// ([`crate::nvidia::ocsp::RIM_CHAIN_OCSP`]: signer, L3, CA), read from the document's
    /// `KeyInfo`, in that order.
    ///
    /// # Errors
    ///
    /// As [`super::SimOcspResponder::respond`]; [`SimError::Der`] when `rim` carries no
    /// decodable 4-certificate chain.
    pub fn staple(&self, rim: &[u8], spec: &super::OcspSpec) -> Result<Vec<Vec<u8>>, SimError> {
        let responder = self.ocsp_responder()?;
        let chain = crate::nvidia::rim::document_chain(rim).map_err(|_| internal())?;
        crate::nvidia::ocsp::RIM_CHAIN_OCSP
            .filter_map(|i| Some((chain.get(i)?, chain.get(i.checked_add(1)?)?)))
            .map(|(cert, issuer)| responder.respond(cert, issuer, spec))
            .collect()
    }

    /// The seed this hierarchy was generated from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The root certificate (DER): the trust anchor for [`crate::nvidia::rim::RimVerifier::new`].
    pub fn root_der(&self) -> &[u8] {
        &self.root.der
    }

    /// The reference-value CA certificate (DER).
    pub fn ca_der(&self) -> &[u8] {
        &self.ca.der
    }

    /// The L3 CA certificate (DER).
    pub fn l3_der(&self) -> &[u8] {
        &self.l3.der
    }

    /// The signer certificate that [`RimHierarchy::sign_rim`] puts in `profile`'s RIM (DER):
    /// valid from `profile.not_before` to `profile.not_after`, its serial derived from the seed
    /// and the tag id.
    ///
    /// # Errors
    ///
    /// [`SimError::Time`] for a validity that X.509 cannot express, [`SimError::Der`] if
    /// encoding fails.
    pub fn signer_der(&self, profile: &RimProfile) -> Result<Vec<u8>, SimError> {
        let mut rng = derive_rng(
            "rim-signer",
            &[&self.seed.to_le_bytes(), profile.tag_id.as_bytes()],
        );
        // NVIDIA's signer serials are 9 bytes.
        let mut serial = [0u8; 9];
        rng.fill_bytes(&mut serial);
        positive(&mut serial);
        let subject = cert::name(&[
            (OID_C, "US"),
            (OID_ST, "CA"),
            (OID_L, "Santa Clara"),
            (OID_O, "NVIDIA Corporation"),
            (OID_CN, RIM_SIGNER_CN),
        ])?;
        let fields = Fields {
            role: RimRole::Signer,
            serial: serial.to_vec(),
            subject,
            not_before: profile.not_before,
            not_after: profile.not_after,
        };
        issue(
            fields,
            &self.signer_key,
            Some((&self.l3.name, &self.l3.key)),
        )
    }

    /// Signs `profile` as a RIM document (UTF-8 XML bytes).
    ///
    /// # Errors
    ///
    /// As [`RimHierarchy::signer_der`].
    pub fn sign_rim(&self, profile: &RimProfile) -> Result<Vec<u8>, SimError> {
        self.sign_rim_with(profile, &RimFaults::default())
    }

    /// [`RimHierarchy::sign_rim`] with deliberate defects for negative tests.
    ///
    /// # Errors
    ///
    /// As [`RimHierarchy::signer_der`].
    pub fn sign_rim_with(
        &self,
        profile: &RimProfile,
        faults: &RimFaults,
    ) -> Result<Vec<u8>, SimError> {
        let (head, tail) = content(profile);
        let b64 = base64::engine::general_purpose::STANDARD;

        // The document minus the signature, exactly as the verifier will see it once the
        // signature is excluded: the text around the signature is in `head` and `tail`.
        let unsigned = format!("{head}{tail}");
        let doc = roxmltree::Document::parse(&unsigned).map_err(|_| internal())?;
        let canonical = c14n::canonicalize(doc.root_element(), None).map_err(|_| internal())?;
        let digest = Sha384::digest(&canonical);

        let method = faults
            .signature_method
            .as_deref()
            .unwrap_or(ALG_ECDSA_SHA384);
        let signed_info = format!(
            "<ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"{ALG_C14N11}\"/>\
             <ds:SignatureMethod Algorithm=\"{}\"/><ds:Reference URI=\"\"><ds:Transforms>\
             <ds:Transform Algorithm=\"{ALG_ENVELOPED}\"/><ds:Transform Algorithm=\"{ALG_C14N11}\"/>\
             </ds:Transforms><ds:DigestMethod Algorithm=\"{ALG_SHA384}\"/>\
             <ds:DigestValue>{}</ds:DigestValue></ds:Reference></ds:SignedInfo>",
            escape(method),
            b64.encode(digest),
        );
        let signer = self.signer_der(profile)?;
        let mut key_info = String::from("<ds:KeyInfo><ds:X509Data>");
        let root = faults.replace_root.as_ref().unwrap_or(&self.root.der);
        for der in [&signer, &self.l3.der, &self.ca.der, root] {
            key_info.push_str("<ds:X509Certificate>");
            key_info.push_str(&wrapped_base64(der));
            key_info.push_str("</ds:X509Certificate>");
        }
        key_info.push_str("</ds:X509Data></ds:KeyInfo>");
        let document = |signature_value: &str| {
            format!(
                "{head}<ds:Signature xmlns:ds=\"{NS_DS}\">{signed_info}\
                 <ds:SignatureValue>{signature_value}</ds:SignatureValue>{key_info}\
                 </ds:Signature>{tail}"
            )
        };

        // SignedInfo is canonicalized in its place in the document (inherited namespaces).
        let placeholder = document("");
        let doc = roxmltree::Document::parse(&placeholder).map_err(|_| internal())?;
        let node = doc
            .descendants()
            .find(|n| {
                n.tag_name().namespace() == Some(NS_DS) && n.tag_name().name() == "SignedInfo"
            })
            .ok_or_else(internal)?;
        let canonical_si = c14n::canonicalize(node, None).map_err(|_| internal())?;
        let signature: Signature = self.signer_key.sign(&canonical_si);
        let mut xml = document(&b64.encode(signature.to_bytes()));

        if faults.tamper_after_signing {
            tamper_first_hash(&mut xml);
        }
        if faults.doctype {
            xml.insert_str(0, "<!DOCTYPE SoftwareIdentity>\n");
        }
        Ok(xml.into_bytes())
    }

    /// The driver and VBIOS RIMs that match `gpu`'s measurements, with their RIM service ids.
    ///
    /// # Errors
    ///
    /// As [`RimHierarchy::signer_der`].
    pub fn rims_for(&self, gpu: &GpuProfile) -> Result<SimRims, SimError> {
        self.rims_for_with(gpu, &RimPairFaults::default())
    }

    /// [`RimHierarchy::rims_for`] with deliberate defects in the reference values.
    ///
    /// # Errors
    ///
    /// As [`RimHierarchy::signer_der`].
    pub fn rims_for_with(
        &self,
        gpu: &GpuProfile,
        faults: &RimPairFaults,
    ) -> Result<SimRims, SimError> {
        let mut driver = RimProfile::driver_for(gpu);
        let mut vbios = RimProfile::vbios_for(gpu);
        for &index in &faults.mismatch_at {
            let wrong: [u8; 48] = Sha384::new_with_prefix(b"warden-sim-nvidia/rim-mismatch/")
                .chain_update(index.to_le_bytes())
                .finalize()
                .into();
            let vbios_active = vbios.entry(index).is_some_and(|e| e.active);
            let target = if vbios_active {
                &mut vbios
            } else {
                &mut driver
            };
            target.set(index, true, vec![wrong]);
        }
        for &index in &faults.conflict_at {
            let value = usize::try_from(index)
                .ok()
                .and_then(|i| gpu.measurements.get(i))
                .copied()
                .unwrap_or([0; 48]);
            driver.set(index, true, vec![value]);
            vbios.set(index, true, vec![value]);
        }
        Ok(SimRims {
            driver_id: driver_rim_id(gpu),
            driver: self.sign_rim(&driver)?,
            vbios_id: vbios_rim_id(
                &gpu.project,
                &gpu.project_sku,
                &gpu.chip_sku,
                &format_vbios_version(&gpu.vbios_version),
            ),
            vbios: self.sign_rim(&vbios)?,
        })
    }

    /// Everything needed to rebuild this hierarchy without key generation.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] if a key cannot be encoded, which does not happen for keys generated
    /// or imported here.
    pub fn export(&self) -> Result<RimHierarchyExport, SimError> {
        Ok(RimHierarchyExport {
            seed: self.seed,
            root_der: self.root.der.clone(),
            ca_der: self.ca.der.clone(),
            l3_der: self.l3.der.clone(),
            root_key: self.root.export_key()?,
            ca_key: self.ca.export_key()?,
            l3_key: self.l3.export_key()?,
            signer_key: self
                .signer_key
                .to_pkcs8_der()
                .map(|doc| Zeroizing::new(doc.as_bytes().to_vec()))
                .map_err(|_| internal())?,
        })
    }

    /// Rebuilds a hierarchy from [`RimHierarchy::export`]'s output; it signs identical RIMs.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`]: a certificate that is not DER, or (as `ErrorKind::Value`) a key that
    /// is not PKCS#8 P-384 or does not match its certificate.
    pub fn import(export: &RimHierarchyExport) -> Result<Self, SimError> {
        let signer_key = SigningKey::from_pkcs8_der(&export.signer_key)
            .map_err(|_| SimError::Der(ErrorKind::Value { tag: Tag::Sequence }.into()))?;
        Ok(Self {
            seed: export.seed,
            root: CaCert::import(&export.root_der, &export.root_key)?,
            ca: CaCert::import(&export.ca_der, &export.ca_key)?,
            l3: CaCert::import(&export.l3_der, &export.l3_key)?,
            signer_key,
        })
    }
}

/// A [`RimHierarchy`] in portable form. Serde writes byte fields as lower-case hex strings; its
/// `Debug` output shows no key material.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RimHierarchyExport {
    /// The seed (signer serials derive from it).
    pub seed: u64,
    /// Root certificate, DER.
    #[serde(with = "crate::sim::hex_bytes")]
    pub root_der: Vec<u8>,
    /// Reference-value CA certificate, DER.
    #[serde(with = "crate::sim::hex_bytes")]
    pub ca_der: Vec<u8>,
    /// L3 CA certificate, DER.
    #[serde(with = "crate::sim::hex_bytes")]
    pub l3_der: Vec<u8>,
    /// Root private key, PKCS#8 DER.
    #[serde(with = "crate::sim::hex_secret")]
    pub root_key: Zeroizing<Vec<u8>>,
    /// CA private key, PKCS#8 DER.
    #[serde(with = "crate::sim::hex_secret")]
    pub ca_key: Zeroizing<Vec<u8>>,
    /// L3 private key, PKCS#8 DER.
    #[serde(with = "crate::sim::hex_secret")]
    pub l3_key: Zeroizing<Vec<u8>>,
    /// Signer private key, PKCS#8 DER.
    #[serde(with = "crate::sim::hex_secret")]
    pub signer_key: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for RimHierarchyExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RimHierarchyExport")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// One `Payload/Resource[@type="Measurement"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RimEntry {
    /// 0-based RIM index (SPDM block `index + 1`).
    pub index: u32,
    /// Whether the verifier compares it.
    pub active: bool,
    /// `Hash0..`: the values accepted.
    pub alternatives: Vec<[u8; 48]>,
}

/// What a simulated RIM says. [`RimProfile::driver_for`] and [`RimProfile::vbios_for`] build
/// the RIMs that match a [`GpuProfile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RimProfile {
    /// Driver or VBIOS. The verifier infers it from `version`; here it only picks defaults.
    pub kind: RimKind,
    /// `Meta/@colloquialVersion`: `580.159.03` (driver) or `96.00.74.00.20` (VBIOS).
    pub version: String,
    /// `SoftwareIdentity/@name`, `Meta/@product` and `Meta/@rim:PlatformModel` (`GH100`).
    pub product: String,
    /// `SoftwareIdentity/@tagId` (NVIDIA's are 96 hex digits).
    pub tag_id: String,
    /// `SoftwareIdentity/@tagVersion`.
    pub tag_version: String,
    /// `Meta/@rim:FirmwareManufacturerId` and `PlatformManufacturerId` (`5703`).
    pub firmware_manufacturer_id: String,
    /// The `Resource` elements, in document order.
    pub measurements: Vec<RimEntry>,
    /// Signer certificate notBefore.
    pub not_before: UnixTime,
    /// Signer certificate notAfter.
    pub not_after: UnixTime,
}

impl RimProfile {
    /// A RIM of `kind` for `version` and `product` with 64 inactive zero measurements, a tag
    /// id derived from them, and the default signer validity.
    pub fn new(kind: RimKind, version: &str, product: &str) -> Self {
        let label: &[u8] = match kind {
            RimKind::Driver => b"driver",
            RimKind::Vbios => b"vbios",
        };
        let tag: [u8; 48] = Sha384::new_with_prefix(b"warden-sim-nvidia/rim-tag/")
            .chain_update(label)
            .chain_update(product)
            .chain_update(version)
            .finalize()
            .into();
        Self {
            kind,
            version: version.to_owned(),
            product: product.to_owned(),
            tag_id: hex::encode(tag),
            tag_version: "0".to_owned(),
            firmware_manufacturer_id: "5703".to_owned(),
            measurements: (0..64)
                .map(|index| RimEntry {
                    index,
                    active: false,
                    alternatives: vec![[0; 48]],
                })
                .collect(),
            not_before: SIGNER_NOT_BEFORE,
            not_after: SIGNER_NOT_AFTER,
        }
    }

    /// The driver RIM of `gpu`: its driver version, and its measurements active at the
    /// indices [`rim_owner`] gives the driver.
    pub fn driver_for(gpu: &GpuProfile) -> Self {
        Self::for_gpu(gpu, RimKind::Driver, &gpu.driver_version)
    }

    /// The VBIOS RIM of `gpu`: its VBIOS version, and its measurements active at the indices
    /// [`rim_owner`] gives the VBIOS.
    pub fn vbios_for(gpu: &GpuProfile) -> Self {
        Self::for_gpu(
            gpu,
            RimKind::Vbios,
            &format_vbios_version(&gpu.vbios_version),
        )
    }

    fn for_gpu(gpu: &GpuProfile, kind: RimKind, version: &str) -> Self {
        let mut profile = Self::new(kind, version, gpu.arch.chip());
        profile.measurements = (0u32..)
            .zip(&gpu.measurements)
            .map(|(index, value)| {
                let active = rim_owner(index) == Some(kind);
                RimEntry {
                    index,
                    active,
                    alternatives: vec![if active { *value } else { [0; 48] }],
                }
            })
            .collect();
        profile
    }

    /// The entry at `index`, if any.
    pub fn entry(&self, index: u32) -> Option<&RimEntry> {
        self.measurements.iter().find(|e| e.index == index)
    }

    /// Replaces (or appends) the entry at `index`.
    pub fn set(&mut self, index: u32, active: bool, alternatives: Vec<[u8; 48]>) {
        let entry = RimEntry {
            index,
            active,
            alternatives,
        };
        match self.measurements.iter_mut().find(|e| e.index == index) {
            Some(e) => *e = entry,
            None => self.measurements.push(entry),
        }
    }
}

/// Deliberate defects in one signed RIM; [`Default`] has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RimFaults {
    /// Change a measurement value after signing (the first `Hash0`), so the digest no longer
    /// matches.
    pub tamper_after_signing: bool,
    /// Write this `SignatureMethod` instead of ecdsa-sha384 (the signature is still ECDSA).
    pub signature_method: Option<String>,
    /// Put a `<!DOCTYPE>` before the root element.
    pub doctype: bool,
    /// Write this DER as the last `KeyInfo` certificate instead of this hierarchy's root: with
    /// another hierarchy's root, a chain that ends in a trusted root it does not lead to.
    pub replace_root: Option<Vec<u8>>,
}

/// Deliberate defects in the reference values of a RIM pair; [`Default`] has none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RimPairFaults {
    /// RIM indices whose reference value differs from the GPU's measurement (in the RIM where
    /// the index is active; the driver RIM when neither has it active).
    pub mismatch_at: Vec<u32>,
    /// RIM indices made active in both RIMs, with the GPU's value.
    pub conflict_at: Vec<u32>,
}

/// A signed driver and VBIOS RIM pair, with the ids the RIM service files them under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimRims {
    /// `NV_GPU_DRIVER_GH100_<version>` (Hopper, [`hopper_driver_rim_id`]) or
    /// `NV_GPU_CC_DRIVER_<chip>_<version>` (Blackwell; NVIDIA uses CHIP_INFO, TLV 35).
    pub driver_id: String,
    /// The driver RIM document.
    pub driver: Vec<u8>,
    /// `NV_GPU_VBIOS_<project>_<sku>_<chip sku>_<vbios>` ([`vbios_rim_id`]).
    pub vbios_id: String,
    /// The VBIOS RIM document.
    pub vbios: Vec<u8>,
}

fn driver_rim_id(gpu: &GpuProfile) -> String {
    match gpu.arch {
        Arch::Hopper => hopper_driver_rim_id(&gpu.driver_version),
        Arch::Blackwell => format!(
            "NV_GPU_CC_DRIVER_{}_{}",
            gpu.arch.chip(),
            gpu.driver_version
        ),
    }
}

/// The signed content of `profile`'s RIM, split where the signature goes: the text before it
/// (ending in the newline after `Payload`) and after it (`</SoftwareIdentity>` and a newline).
fn content(profile: &RimProfile) -> (String, String) {
    let product = escape(&profile.product);
    let mut head = format!(
        "<SoftwareIdentity xmlns=\"{NS_SWID}\" xmlns:ns0=\"{NS_SWID}\" xmlns:ns2=\"{NS_HASH}\" \
         corpus=\"false\" name=\"{product}\" patch=\"false\" supplemental=\"false\" \
         tagId=\"{}\" version=\"1.0\" tagVersion=\"{}\">\n",
        escape(&profile.tag_id),
        escape(&profile.tag_version),
    );
    head.push_str(
        "    <ns0:Entity name=\"NVIDIA Corporation\" role=\"softwareCreator tagCreator\"/>\n",
    );
    let oem = escape(&profile.firmware_manufacturer_id);
    head.push_str(&format!(
        "    <ns0:Meta xmlns:ns1=\"{NS_RIM}\" colloquialVersion=\"{}\" edition=\"GPU\" \
         product=\"{product}\" revision=\"r1\" PayloadType=\"direct\" ns1:BindingSpec=\"RIMIM\" \
         ns1:BindingSpecVersion=\"1.01\" ns1:PlatformManufacturerId=\"{oem}\" \
         ns1:PlatformManufacturerStr=\"NVIDIA Corporation\" ns1:PlatformModel=\"{product}\" \
         ns1:FirmwareManufacturer=\"NVIDIA Corporation\" ns1:FirmwareManufacturerId=\"{oem}\"/>\n",
        escape(&profile.version),
    ));
    head.push_str(&format!("    <ns0:Payload xmlns:SHA384=\"{NS_HASH}\">\n"));
    for entry in &profile.measurements {
        head.push_str(&format!(
            "        <ns0:Resource type=\"Measurement\" index=\"{}\" active=\"{}\" alternatives=\"{}\"",
            entry.index,
            if entry.active { "True" } else { "False" },
            entry.alternatives.len(),
        ));
        for (k, value) in entry.alternatives.iter().enumerate() {
            head.push_str(&format!(" ns2:Hash{k}=\"{}\"", hex::encode(value)));
        }
        head.push_str(&format!(
            " name=\"Measurement_{}\" size=\"48\"/>\n",
            entry.index
        ));
    }
    head.push_str("    </ns0:Payload>\n");
    (head, "</SoftwareIdentity>\n".to_owned())
}

/// Escapes an attribute value.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// Base64 in 64-character lines, each ending in a newline, as NVIDIA writes certificates.
fn wrapped_base64(der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(body.len() + body.len() / 64 + 1);
    let mut rest = body.as_str();
    while !rest.is_empty() {
        let (line, tail) = rest.split_at(rest.len().min(64));
        out.push_str(line);
        out.push('\n');
        rest = tail;
    }
    out
}

/// Flips the first hex digit of the first `Hash0` value.
fn tamper_first_hash(xml: &mut String) {
    const MARK: &str = " ns2:Hash0=\"";
    if let Some(at) = xml.find(MARK).map(|i| i + MARK.len()) {
        let replacement = if xml.get(at..=at) == Some("0") {
            "1"
        } else {
            "0"
        };
        xml.replace_range(at..=at, replacement);
    }
}

#[cfg(test)]
#[path = "rim_tests.rs"]
mod tests;
