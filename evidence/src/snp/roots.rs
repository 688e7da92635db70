//! Trust anchors for SEV-SNP: per product, the ARK and the intermediates it issued.

use std::collections::BTreeMap;

use crate::snp::{CertRole, Product, SnpError, VekKind, cert};

/// The DER certificates trusted for one product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRoots {
    /// AMD Root Key (self-signed).
    pub ark: Vec<u8>,
    /// AMD SEV Key, issuer of VCEKs; `None` if VCEKs are not trusted for this product.
    pub ask: Option<Vec<u8>>,
    /// AMD SEV VLEK Key, issuer of VLEKs; `None` if VLEKs are not trusted for this product.
    pub asvk: Option<Vec<u8>>,
    /// CRLs issued by the ARK (DER; KDS `/vcek/v1/{product}/crl`, `/vlek/v1/{product}/crl`).
    /// When present, each must verify and be current at the verification time, and the ASK or
    /// ASVK must not be listed. When empty, revocation is not checked, and the claims say so
    /// (`crl_checked: false`).
    pub crls: Vec<Vec<u8>>,
}

impl ProductRoots {
    /// The intermediate that issues keys of `kind`, with its role.
    pub(crate) fn intermediate(&self, kind: VekKind) -> Option<(CertRole, &[u8])> {
        match kind {
            VekKind::Vcek => self.ask.as_deref().map(|der| (CertRole::Ask, der)),
            VekKind::Vlek => self.asvk.as_deref().map(|der| (CertRole::Asvk, der)),
        }
    }
}

/// The set of trust anchors a verifier uses, keyed by product.
///
/// The verifier binary fills this with AMD's pinned roots; tests fill it with a generated
/// hierarchy. An ARK carried with evidence is never trusted by itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustAnchors {
    products: BTreeMap<Product, ProductRoots>,
}

impl TrustAnchors {
    /// No anchors: every verification fails with [`SnpError::NoRoots`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the anchors of one product.
    #[must_use]
    pub fn with(mut self, product: Product, roots: ProductRoots) -> Self {
        self.products.insert(product, roots);
        self
    }

    /// The anchors of a product.
    pub fn get(&self, product: Product) -> Option<&ProductRoots> {
        self.products.get(&product)
    }

    /// Anchors with `crl` (DER) added to the CRLs checked for `product`.
    pub fn with_crl(mut self, product: Product, crl: Vec<u8>) -> Result<Self, SnpError> {
        let roots = self
            .products
            .get_mut(&product)
            .ok_or(SnpError::NoRoots(product))?;
        roots.crls.push(crl);
        Ok(self)
    }

    /// Anchors with the intermediate for `kind` of `product` replaced by an operator-supplied
    /// chain (`[ASK or ASVK, ARK]`, the order of AMD KDS `cert_chain` files).
    ///
    /// The chain's ARK must be the ARK already trusted for `product`: a chain that carries
    /// another product's ARK fails with [`SnpError::ChainProductMismatch`], any other ARK with
    /// [`SnpError::UntrustedRoot`]. Only with `dangerous_trust_chain_root` (test hierarchies,
    /// named so it shows in configuration and logs) is an unknown ARK accepted.
    pub fn with_chain_override(
        &self,
        product: Product,
        kind: VekKind,
        chain: &[Vec<u8>],
        dangerous_trust_chain_root: bool,
    ) -> Result<Self, SnpError> {
        let intermediate_role = CertRole::issuer_of_vek(kind);
        let [intermediate, ark] = chain else {
            return Err(SnpError::CertEncoding {
                role: intermediate_role,
                reason: "chain must hold exactly two certificates (ASK or ASVK, then ARK)",
            });
        };
        cert::parse(intermediate_role, intermediate)?;
        cert::parse(CertRole::Ark, ark)?;
        let pinned = self.products.get(&product).map(|r| &r.ark);
        if pinned != Some(ark) && !dangerous_trust_chain_root {
            let other = self
                .products
                .iter()
                .find(|(_, r)| &r.ark == ark)
                .map(|(p, _)| *p);
            return Err(match other {
                Some(chain) => SnpError::ChainProductMismatch {
                    evidence: product,
                    chain,
                },
                None => SnpError::UntrustedRoot(product),
            });
        }
        let mut roots = self
            .products
            .get(&product)
            .cloned()
            .unwrap_or(ProductRoots {
                ark: ark.clone(),
                ask: None,
                asvk: None,
                crls: Vec::new(),
            });
        roots.ark = ark.clone();
        match kind {
            VekKind::Vcek => roots.ask = Some(intermediate.clone()),
            VekKind::Vlek => roots.asvk = Some(intermediate.clone()),
        }
        Ok(self.clone().with(product, roots))
    }
}
