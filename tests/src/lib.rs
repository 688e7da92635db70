//! Shared helpers for the cross-crate tests: a simulated SEV-SNP confidential VM that binds its
//! report to a session exactly as the agent will, and the trust anchors that accept it.

use warden_evidence::sim::snp::{AmdHierarchy, ReportBuilder, SimError, VekProfile};
use warden_evidence::snp::{Product, ProductRoots, TrustAnchors};
use warden_proto::binding::{self, ModelManifest, Nonce, TeePublicKey};
use warden_proto::v1;

/// Trust anchors for the shared simulated hierarchies of every product.
pub fn simulated_anchors() -> TrustAnchors {
    Product::ALL
        .into_iter()
        .fold(TrustAnchors::new(), |anchors, product| {
            let h = AmdHierarchy::shared(product);
            anchors.with(
                product,
                ProductRoots {
                    ark: h.ark_der().to_vec(),
                    ask: Some(h.ask_der().to_vec()),
                    asvk: Some(h.asvk_der().to_vec()),
                    crls: Vec::new(),
                },
            )
        })
}

/// What a simulated CVM puts on the wire for one session: the evidence bundle with a VCEK-signed
/// SNP report whose REPORT_DATA binds the nonce, the TEE key, the model and the GPU evidence.
pub fn simulated_snp_bundle(
    product: Product,
    nonce: &Nonce,
    tee_pubkey: &TeePublicKey,
    model: &ModelManifest,
    gpus: Vec<v1::GpuEvidence>,
) -> Result<v1::EvidenceBundle, SimError> {
    let digests: Vec<_> = gpus
        .iter()
        .map(|g| binding::gpu_digest(&g.report, &g.certificate_chain))
        .collect();
    let mut builder = ReportBuilder::new(product);
    builder.report_data = binding::report_data(nonce, tee_pubkey, &model.digest(), &digests);
    let vcek = AmdHierarchy::shared(product).issue_vek(&VekProfile::vcek(
        product,
        &builder.chip_id,
        builder.reported_tcb,
    ))?;
    let mut report = builder.build();
    vcek.sign_report(&mut report)?;
    Ok(v1::EvidenceBundle {
        nonce: nonce.as_bytes().to_vec(),
        cpu: Some(v1::CpuEvidence {
            tee: v1::Tee::SevSnp.into(),
            report: report.to_vec(),
            certificates: vcek.der().to_vec(),
        }),
        gpus,
        model: Some(model.into()),
        tee_pubkey: tee_pubkey.as_bytes().to_vec(),
    })
}
