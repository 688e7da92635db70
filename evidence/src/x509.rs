//! Small X.509 helpers shared by the evidence kinds.

use x509_parser::x509::SubjectPublicKeyInfo;

/// The named curve of an EC public key (its algorithm parameters' OID, dotted), if it names
/// one.
pub(crate) fn ec_curve_oid(spki: &SubjectPublicKeyInfo<'_>) -> Option<String> {
    spki.algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string())
}
