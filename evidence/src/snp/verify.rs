//! Verification of an SEV-SNP report against its VCEK or VLEK and the pinned AMD chain.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ring::signature::{self, UnparsedPublicKey};
use sha2::{Digest, Sha256};

use crate::UnixTime;
use crate::snp::cert::{self, VekInfo, Window};
use crate::snp::report::TcbField;
use crate::snp::{
    CertRole, Product, Report, SnpClaims, SnpError, TcbComponent, TrustAnchors, VekKind,
};

/// How many verified VCEK/VLEK chains a verifier remembers.
const CACHE_CAPACITY: usize = 4096;

/// A VCEK/VLEK whose chain to the pinned ARK has been verified.
#[derive(Debug)]
struct VerifiedVek {
    info: VekInfo,
    product: Product,
    /// Validity of ARK, intermediate and VEK, checked again at every verification.
    validity: [(CertRole, Window); 3],
    /// (thisUpdate, nextUpdate) of every CRL checked, checked again at every verification.
    crl_windows: Vec<Window>,
}

/// Verifies SEV-SNP reports.
///
/// The first report signed by a given VCEK/VLEK verifies the whole chain (ARK self-signature,
/// ARK to ASK/ASVK, ASK/ASVK to VEK, profiles and extensions); later reports with the same
/// certificate (by SHA-256 of its DER) reuse that result and cost one ECDSA P-384 verification.
/// Certificate validity is checked at every call against the time passed in.
#[derive(Debug)]
pub struct SnpVerifier {
    anchors: TrustAnchors,
    cache: Mutex<HashMap<[u8; 32], Arc<VerifiedVek>>>,
}

/// A report whose signature, chain and certificate bindings verified.
#[derive(Debug, Clone)]
pub struct VerifiedReport {
    /// The report.
    pub report: Report,
    /// The product whose roots verified it.
    pub product: Product,
    /// Which key signed it.
    pub signer: VekKind,
    /// The normalised claims.
    pub claims: SnpClaims,
}

impl SnpVerifier {
    /// A verifier trusting `anchors`.
    pub fn new(anchors: TrustAnchors) -> Self {
        Self {
            anchors,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The anchors this verifier trusts.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// Parses and verifies a report signed by the VCEK or VLEK `vek_der` (DER) at time `now`.
    pub fn verify(
        &self,
        now: UnixTime,
        report: &[u8],
        vek_der: &[u8],
    ) -> Result<VerifiedReport, SnpError> {
        let report = Report::parse(report)?;
        self.verify_report(now, report, vek_der)
    }

    /// Verifies a parsed report; see [`SnpVerifier::verify`].
    pub fn verify_report(
        &self,
        now: UnixTime,
        report: Report,
        vek_der: &[u8],
    ) -> Result<VerifiedReport, SnpError> {
        let signer = signer_of(&report)?;
        let algo = report.signature_algo();
        if algo != 1 {
            return Err(SnpError::UnsupportedSignatureAlgorithm(algo));
        }
        let report_product = report.product()?;

        let vek = self.verified_vek(report_product, vek_der)?;
        if vek.info.kind != signer {
            return Err(SnpError::SignerMismatch {
                report: signer,
                cert: vek.info.kind,
            });
        }
        check_windows(&vek, now)?;

        let signature = report.signature_p1363()?;
        UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, &vek.info.public_key)
            .verify(report.signed_bytes(), &signature)
            .map_err(|_| SnpError::BadSignature(signer))?;

        check_tcb(&report, &vek)?;
        check_chip_id(&report, &vek)?;

        let crl_checked = !vek.crl_windows.is_empty();
        let claims = SnpClaims::new(&report, vek.product, signer, &vek.info, crl_checked)?;
        Ok(VerifiedReport {
            report,
            product: vek.product,
            signer,
            claims,
        })
    }

    /// Verifies a VCEK/VLEK (DER) alone: its chain to the pinned ARK of the product its
    /// productName names, and the validity of every certificate at `now`. Returns the product
    /// and the key kind. Reports need [`SnpVerifier::verify`]; this serves operators checking a
    /// certificate fetched from AMD KDS before any report exists.
    pub fn verify_certificate(
        &self,
        now: UnixTime,
        vek_der: &[u8],
    ) -> Result<(Product, VekKind), SnpError> {
        let vek = self.verified_vek(None, vek_der)?;
        check_windows(&vek, now)?;
        Ok((vek.product, vek.info.kind))
    }

    /// The verified chain of `vek_der`, from the cache or verified now.
    fn verified_vek(
        &self,
        report_product: Option<Product>,
        vek_der: &[u8],
    ) -> Result<Arc<VerifiedVek>, SnpError> {
        let digest: [u8; 32] = Sha256::digest(vek_der).into();
        if let Some(hit) = self.cache_get(&digest) {
            // The cached entry was verified for the product its certificate names (or, without a
            // productName, the report named). Resolve again for this report.
            let product = resolve_product(report_product, hit.info.product_name.as_deref())?;
            if product == hit.product {
                return Ok(hit);
            }
        }

        let (kind, product_name) = cert::vek_identity(vek_der)?;
        let product = resolve_product(report_product, product_name.as_deref())?;
        let roots = self
            .anchors
            .get(product)
            .ok_or(SnpError::NoRoots(product))?;
        let (int_role, int_der) =
            roots
                .intermediate(kind)
                .ok_or(SnpError::MissingIntermediate {
                    product,
                    role: CertRole::issuer_of_vek(kind),
                    kind,
                })?;
        let ca = cert::verify_ca(&roots.ark, int_role, int_der)?;
        let mut crl_windows = Vec::with_capacity(roots.crls.len());
        for crl in &roots.crls {
            let crl = cert::verify_crl(crl, &roots.ark)?;
            if let Some((_, revoked_at)) = crl
                .revoked
                .iter()
                .find(|(serial, _)| *serial == ca.intermediate_serial)
            {
                return Err(SnpError::Revoked {
                    role: int_role,
                    revoked_at: *revoked_at,
                });
            }
            crl_windows.push((crl.this_update, crl.next_update));
        }
        let info = cert::verify_vek(kind, vek_der, int_role, int_der)?;
        let vek_validity = (CertRole::of_vek(kind), info.validity);
        let [ark_validity, int_validity] = ca.validity;
        let verified = Arc::new(VerifiedVek {
            info,
            product,
            validity: [ark_validity, int_validity, vek_validity],
            crl_windows,
        });
        self.cache_put(digest, Arc::clone(&verified));
        Ok(verified)
    }

    fn cache_get(&self, digest: &[u8; 32]) -> Option<Arc<VerifiedVek>> {
        // A poisoned lock only means another thread panicked mid-insert of an Arc: the map is
        // still consistent, so keep using it.
        let cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.get(digest).cloned()
    }

    fn cache_put(&self, digest: [u8; 32], verified: Arc<VerifiedVek>) {
        let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            // Bounded memory: forget an arbitrary entry; it is verified again on next sight.
            if let Some(key) = cache.keys().next().copied() {
                cache.remove(&key);
            }
        }
        cache.insert(digest, verified);
    }
}

/// Certificate validity and CRL freshness at `now`: cached chains are re-checked every time.
fn check_windows(vek: &VerifiedVek, now: UnixTime) -> Result<(), SnpError> {
    for (role, window) in vek.validity {
        cert::check_validity(role, window, now)?;
    }
    for &(this_update, next_update) in &vek.crl_windows {
        if now < this_update {
            return Err(SnpError::CrlNotYetValid { this_update, now });
        }
        if now > next_update {
            return Err(SnpError::CrlStale { next_update, now });
        }
    }
    Ok(())
}

/// The key kind KEY_INFO names.
fn signer_of(report: &Report) -> Result<VekKind, SnpError> {
    if report.mask_chip_key() {
        return Err(SnpError::UnsignedReport);
    }
    match report.signing_key() {
        0 => Ok(VekKind::Vcek),
        1 => Ok(VekKind::Vlek),
        other => Err(SnpError::UnsupportedSigner(other)),
    }
}

/// The product: from the report's CPUID (v3+) and the certificate's productName, which must
/// agree when both exist. Never guessed.
fn resolve_product(
    report_product: Option<Product>,
    cert_product_name: Option<&str>,
) -> Result<Product, SnpError> {
    let cert_product = cert_product_name
        .map(|name| {
            Product::from_product_name(name)
                .ok_or_else(|| SnpError::UnsupportedProductName(name.to_owned()))
        })
        .transpose()?;
    match (report_product, cert_product) {
        (Some(report), Some(cert)) if report != cert => {
            Err(SnpError::ProductMismatch { report, cert })
        }
        (Some(product), _) | (None, Some(product)) => Ok(product),
        (None, None) => Err(SnpError::ProductUnknown),
    }
}

/// REPORTED_TCB must equal the TCB the VEK was issued for, component by component.
fn check_tcb(report: &Report, vek: &VerifiedVek) -> Result<(), SnpError> {
    let role = CertRole::of_vek(vek.info.kind);
    let tcb = report.tcb(TcbField::Reported, vek.product)?;
    let spl = vek.info.spl;
    let mut pairs = vec![
        (TcbComponent::Bootloader, tcb.bootloader, spl.bootloader),
        (TcbComponent::Tee, tcb.tee, spl.tee),
        (TcbComponent::Snp, tcb.snp, spl.snp),
        (TcbComponent::Microcode, tcb.microcode, spl.microcode),
    ];
    if vek.product.is_turin_layout() {
        pairs.insert(0, (TcbComponent::Fmc, tcb.fmc.unwrap_or(0), spl.fmc));
    }
    for (component, in_report, in_cert) in pairs {
        let Some(in_cert) = in_cert else {
            return Err(SnpError::BadCert {
                role,
                reason: "missing a TCB SPL extension",
            });
        };
        if in_report != in_cert {
            return Err(SnpError::TcbMismatch {
                component,
                report: in_report,
                cert: in_cert,
                role,
            });
        }
    }
    Ok(())
}

/// A VCEK's hwID must equal CHIP_ID: all 64 bytes, or the first 8 on Turin. VLEKs are not tied
/// to a chip and carry no hwID.
fn check_chip_id(report: &Report, vek: &VerifiedVek) -> Result<(), SnpError> {
    if vek.info.kind != VekKind::Vcek {
        return Ok(());
    }
    let len = if vek.product.is_turin_layout() { 8 } else { 64 };
    let Some(hw_id) = vek.info.hw_id.as_deref() else {
        return Err(SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "missing the hwID extension",
        });
    };
    if hw_id.len() != len {
        return Err(SnpError::BadCert {
            role: CertRole::Vcek,
            reason: "hwID has the wrong length",
        });
    }
    let (chip_id, _) = report.chip_id().split_at(len);
    if chip_id != hw_id {
        return Err(SnpError::ChipIdMismatch {
            report: hex::encode(chip_id),
            cert: hex::encode(hw_id),
        });
    }
    Ok(())
}

/// The product and key kind of a report and its VCEK/VLEK, as verification will resolve them:
/// product from the report's CPUID (v3+) and the certificate's productName, which must agree;
/// kind from the certificate's subject. Used to pick the chain before verifying.
pub fn identify(report: &Report, vek_der: &[u8]) -> Result<(Product, VekKind), SnpError> {
    let (kind, product_name) = cert::vek_identity(vek_der)?;
    let product = resolve_product(report.product()?, product_name.as_deref())?;
    Ok((product, kind))
}
