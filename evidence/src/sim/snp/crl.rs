//! Certificate revocation lists in the shape AMD's Key Distribution Service (KDS) serves at
//! `https://kdsintf.amd.com/{vcek,vlek}/v1/<product>/crl`.
//!
//! The shape was read with `openssl asn1parse` from two real KDS lists (the Genoa list of
//! 2024-10-23, which revokes the first Genoa ASK, serial 020001, and the empty Milan list of
//! 2025-05-06, both as published in openpcc's `attestation/attest/testdata/sev_certificates.txt`
//! and both verifying under the pinned real ARKs) and is pinned by the byte-comparison test
//! below:
//!
//! ```text
//! CertificateList
//!   TBSCertList
//!     version              v2 (INTEGER 1)
//!     signature            RSASSA-PSS: sha384, mgf1(sha384), saltLength 48, *no* trailerField
//!     issuer               the ARK's subject, byte for byte
//!     thisUpdate           UTCTime
//!     nextUpdate           UTCTime
//!     revokedCertificates  SEQUENCE OF { serial, revocationDate UTCTime }, no entry
//!                          extensions (no reasonCode); absent when nothing is revoked
//!     [0] crlExtensions    authorityKeyIdentifier (keyIdentifier = the ARK's SKI),
//!                          cRLNumber; both non-critical, in that order
//!   signatureAlgorithm     the same RSASSA-PSS AlgorithmIdentifier
//!   signatureValue
//! ```
//!
//! Unlike AMD's certificates, whose RSASSA-PSS parameters carry the DEFAULT `trailerField 1`
//! explicitly, the lists omit it (strict DER).

use rsa::pss::SigningKey as PssSigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use sha2::Sha384;
use x509_cert::Version;
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::der::asn1::{BitString, OctetString, Uint};
use x509_cert::der::oid::AssociatedOid;
use x509_cert::der::{Any, Decode, Encode, Tag};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber};
use x509_cert::name::RdnSequence;
use x509_cert::serial_number::SerialNumber;

use super::cert::{self, CaRole};
use super::{AmdHierarchy, SimError, derive_rng};
use crate::UnixTime;

/// What the ARK needs to issue revocation lists.
pub(super) struct CrlSigner {
    /// The ARK's subject, the lists' issuer.
    pub(super) name: RdnSequence,
    /// The ARK's subjectKeyIdentifier, the lists' authorityKeyIdentifier.
    pub(super) key_id: OctetString,
    /// The ARK's key.
    pub(super) signer: PssSigningKey<Sha384>,
}

impl AmdHierarchy {
    /// Serial number bytes of the ASK (big-endian, as in the DER INTEGER content of its
    /// certificate): `01 00 01` on Milan, `02 00 02` on Genoa, `03 00 01` on Turin.
    pub fn ask_serial(&self) -> Vec<u8> {
        cert::ca_shape(self.product, CaRole::Ask).serial.to_vec()
    }

    /// Serial number bytes of the ASVK (big-endian, as in the DER INTEGER content of its
    /// certificate): `01 01 01` on Milan, `02 01 01` on Genoa, `03 01 01` on Turin.
    pub fn asvk_serial(&self) -> Vec<u8> {
        cert::ca_shape(self.product, CaRole::Asvk).serial.to_vec()
    }

    /// A DER X.509 v2 CRL issued and signed by this hierarchy's ARK, in the shape KDS serves at
    /// `/vcek/v1/<product>/crl` and `/vlek/v1/<product>/crl`, listing `revoked` in the given
    /// order.
    ///
    /// As in AMD's lists: version v2; issuer the ARK's subject, byte for byte; RSASSA-PSS
    /// parameters (in the TBSCertList and outside) without the DEFAULT trailerField, unlike
    /// AMD's certificates; crlExtensions authorityKeyIdentifier (keyIdentifier only, the ARK's
    /// subjectKeyIdentifier) then cRLNumber, both non-critical.
    ///
    /// Each entry is a serial number, as the content bytes of its DER INTEGER (for example
    /// [`AmdHierarchy::ask_serial`]; every simulated VEK has serial `00`), and its revocation
    /// date; entries carry no extensions. An empty `revoked` omits the revokedCertificates
    /// field, as RFC 5280 section 5.1.2.6 requires and KDS does. Times are UTCTime through 2049
    /// and GeneralizedTime from 2050 (RFC 5280 section 5.1.2.4). The cRLNumber is
    /// `this_update` in seconds since the epoch, so that a later list has a higher number as
    /// RFC 5280 section 5.2.3 requires (KDS numbers its lists 4, 6, ...).
    ///
    /// Nothing is checked beyond what DER can encode, so that tests can build off-profile
    /// lists: `next_update` may precede `this_update`, serials may repeat, be zero or be
    /// negative. The signature is RSASSA-PSS with SHA-384, MGF1-SHA-384 and a 48-byte salt,
    /// deterministic: the salt comes from a stream seeded by the hierarchy and the TBSCertList.
    ///
    /// # Errors
    ///
    /// [`SimError::Der`] for a serial that is not canonical DER INTEGER content (empty, or
    /// with a redundant leading `00`/`FF`) or longer than 21 bytes; [`SimError::Time`] for a
    /// time outside 1970..=9999.
    pub fn issue_crl(
        &self,
        revoked: &[(Vec<u8>, UnixTime)],
        this_update: UnixTime,
        next_update: UnixTime,
    ) -> Result<Vec<u8>, SimError> {
        let ark = &self.ark;
        let algorithm = cert::pss_algorithm(false)?;
        let entries = revoked
            .iter()
            .map(|(serial, when)| {
                Ok(RevokedCert {
                    serial_number: serial_number(serial)?,
                    revocation_date: cert::x509_time(*when)?,
                    crl_entry_extensions: None,
                })
            })
            .collect::<Result<Vec<_>, SimError>>()?;
        let aki = AuthorityKeyIdentifier {
            key_identifier: Some(ark.key_id.clone()),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        };
        let number = u64::try_from(this_update.0).map_err(|_| SimError::Time(this_update))?;
        let number = CrlNumber(Uint::new(&number.to_be_bytes())?);
        let tbs = TbsCertList {
            version: Version::V2,
            signature: algorithm.clone(),
            issuer: ark.name.clone(),
            this_update: cert::x509_time(this_update)?,
            next_update: Some(cert::x509_time(next_update)?),
            revoked_certificates: (!entries.is_empty()).then_some(entries),
            crl_extensions: Some(vec![
                cert::extension(AuthorityKeyIdentifier::OID, false, aki.to_der()?)?,
                cert::extension(CrlNumber::OID, false, number.to_der()?)?,
            ]),
        };
        let tbs_der = tbs.to_der()?;
        let mut rng = derive_rng(
            "crl",
            &[
                self.product.name().as_bytes(),
                &self.seed.to_le_bytes(),
                &tbs_der,
            ],
        );
        let signature = ark
            .signer
            .try_sign_with_rng(&mut rng, &tbs_der)
            .map_err(|_| SimError::Signature)?;
        let crl = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&signature.to_bytes())?,
        };
        Ok(crl.to_der()?)
    }
}

/// A serial number written exactly as `content`, which must be canonical DER INTEGER content.
fn serial_number(content: &[u8]) -> Result<SerialNumber, SimError> {
    // Decoding (rather than `SerialNumber::new`, which reads the bytes as unsigned and
    // re-canonicalises them) keeps the bytes as given and rejects non-canonical ones.
    let der = Any::new(Tag::Integer, content)?.to_der()?;
    Ok(SerialNumber::from_der(&der)?)
}

#[cfg(test)]
mod tests {
    use ring::signature::{RSA_PSS_2048_8192_SHA384, UnparsedPublicKey};
    use x509_cert::der::pem;
    use x509_parser::oid_registry::{
        OID_NIST_HASH_SHA384, OID_PKCS1_RSASSAPSS, OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER,
        OID_X509_EXT_CRL_NUMBER, OID_X509_EXT_SUBJECT_KEY_IDENTIFIER,
    };
    use x509_parser::prelude::{FromDer, X509Certificate, X509Version};
    use x509_parser::revocation_list::CertificateRevocationList;
    use x509_parser::signature_algorithm::SignatureAlgorithm;

    use super::*;
    use crate::snp::Product;

    /// AMD's real Genoa CRL (`https://kdsintf.amd.com/vcek/v1/Genoa/crl`, thisUpdate
    /// 2024-10-23T04:36:24Z, cRLNumber 4), revoking the first Genoa ASK (serial 020001). From
    /// openpcc `attestation/attest/testdata/sev_certificates.txt`; verifies under the pinned
    /// Genoa ARK.
    const REAL_GENOA_CRL: &str =
        include_str!("../../../../verifier/tests/data/amd_genoa_2024-10-23.crl.pem");

    /// AMD's real Milan CRL (`https://kdsintf.amd.com/vcek/v1/Milan/crl`, thisUpdate
    /// 2025-05-06T12:39:06Z, cRLNumber 6), revoking nothing. Same source; verifies under the
    /// pinned Milan ARK.
    const REAL_MILAN_CRL: &str =
        include_str!("../../../../verifier/tests/data/amd_milan_2025-05-06.crl.pem");

    const REAL_GENOA_ARK: &[u8] = include_bytes!("../../../../verifier/roots/amd/genoa/ark.der");
    const REAL_MILAN_ARK: &[u8] = include_bytes!("../../../../verifier/roots/amd/milan/ark.der");

    fn real_crl(pem_text: &str) -> Vec<u8> {
        let (label, der) = pem::decode_vec(pem_text.as_bytes()).unwrap();
        assert_eq!(label, "X509 CRL");
        der
    }

    fn parse_crl(der: &[u8]) -> CertificateRevocationList<'_> {
        let (rest, crl) = CertificateRevocationList::from_der(der).unwrap();
        assert!(rest.is_empty(), "trailing bytes after the CRL");
        crl
    }

    fn parse_cert(der: &[u8]) -> X509Certificate<'_> {
        let (rest, cert) = X509Certificate::from_der(der).unwrap();
        assert!(rest.is_empty());
        cert
    }

    /// ring's RSASSA-PSS/SHA-384 (salt 48) verification of `crl` under `issuer`'s key, over
    /// the raw TBSCertList bytes as x509-parser exposes them (`tbs_cert_list.as_ref()`).
    fn crl_signed_by(crl: &CertificateRevocationList<'_>, issuer: &X509Certificate<'_>) -> bool {
        let key = &issuer.public_key().subject_public_key.data;
        UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, key)
            .verify(crl.tbs_cert_list.as_ref(), &crl.signature_value.data)
            .is_ok()
    }

    /// The ASK, ASVK and the (shared) VEK serial, revoked at three distinct times.
    fn sample_revocations(h: &AmdHierarchy) -> Vec<(Vec<u8>, UnixTime)> {
        vec![
            (h.ask_serial(), UnixTime(1_700_000_000)),
            (h.asvk_serial(), UnixTime(1_710_000_000)),
            (vec![0], UnixTime(1_720_000_000)),
        ]
    }

    /// 2025-06-01T00:00:00Z and 2025-07-01T00:00:00Z.
    const THIS_UPDATE: UnixTime = UnixTime(1_748_736_000);
    const NEXT_UPDATE: UnixTime = UnixTime(1_751_328_000);

    #[test]
    fn serials_are_those_of_the_certificates() {
        for product in Product::ALL {
            let h = AmdHierarchy::shared(product);
            assert_eq!(h.ask_serial(), parse_cert(h.ask_der()).raw_serial());
            assert_eq!(h.asvk_serial(), parse_cert(h.asvk_der()).raw_serial());
            assert_ne!(h.ask_serial(), h.asvk_serial());
        }
    }

    #[test]
    fn crl_parses_verifies_and_round_trips() {
        for product in Product::ALL {
            let h = AmdHierarchy::shared(product);
            let revoked = sample_revocations(h);
            let der = h.issue_crl(&revoked, THIS_UPDATE, NEXT_UPDATE).unwrap();
            let crl = parse_crl(&der);
            let (ark, ask) = (parse_cert(h.ark_der()), parse_cert(h.ask_der()));

            assert_eq!(crl.version(), Some(X509Version::V2));
            assert_eq!(crl.issuer().as_raw(), ark.subject().as_raw());
            assert_eq!(crl.last_update().timestamp(), THIS_UPDATE.0);
            assert_eq!(crl.next_update().unwrap().timestamp(), NEXT_UPDATE.0);

            // RSASSA-PSS with AMD's parameters, the same inside and outside the TBS.
            assert_eq!(crl.signature_algorithm, crl.tbs_cert_list.signature);
            assert_eq!(crl.signature_algorithm.algorithm, OID_PKCS1_RSASSAPSS);
            let SignatureAlgorithm::RSASSA_PSS(params) =
                SignatureAlgorithm::try_from(&crl.signature_algorithm).unwrap()
            else {
                panic!("not RSASSA-PSS");
            };
            assert_eq!(*params.hash_algorithm_oid(), OID_NIST_HASH_SHA384);
            let mgf = params.mask_gen_algorithm().unwrap();
            assert_eq!(mgf.mgf.to_id_string(), "1.2.840.113549.1.1.8");
            assert_eq!(mgf.hash, OID_NIST_HASH_SHA384);
            assert_eq!(params.salt_length(), 48);
            assert_eq!(params.trailer_field(), 1);

            // Signed by the ARK, and only by it.
            assert!(crl_signed_by(&crl, &ark), "{product}");
            assert!(!crl_signed_by(&crl, &ask));
            let other = if product == Product::Milan {
                Product::Genoa
            } else {
                Product::Milan
            };
            assert!(!crl_signed_by(
                &crl,
                &parse_cert(AmdHierarchy::shared(other).ark_der())
            ));
            // Flip a bit of the issuer's CN (`ARK-<product>`), inside the TBSCertList.
            let mut tampered = der.clone();
            let at = der.windows(4).position(|w| w == b"ARK-").unwrap() + 4;
            tampered[at] ^= 1;
            assert!(!crl_signed_by(&parse_crl(&tampered), &ark));

            // Revoked entries, in order, without entry extensions.
            let entries: Vec<(Vec<u8>, i64)> = crl
                .iter_revoked_certificates()
                .map(|e| {
                    assert!(e.extensions().is_empty());
                    (e.raw_serial().to_vec(), e.revocation_date.timestamp())
                })
                .collect();
            let expected: Vec<(Vec<u8>, i64)> =
                revoked.iter().map(|(s, t)| (s.clone(), t.0)).collect();
            assert_eq!(entries, expected);

            // CRL extensions: AKI = the ARK's SKI, cRLNumber = thisUpdate, both non-critical.
            let oids: Vec<_> = crl
                .extensions()
                .iter()
                .map(|e| (e.oid.clone(), e.critical))
                .collect();
            assert_eq!(
                oids,
                [
                    (OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER, false),
                    (OID_X509_EXT_CRL_NUMBER, false)
                ]
            );
            let ski = ark
                .extensions()
                .iter()
                .find(|e| e.oid == OID_X509_EXT_SUBJECT_KEY_IDENTIFIER)
                .unwrap();
            let aki = crl.extensions().first().unwrap();
            assert_eq!(aki.value.get(4..), ski.value.get(2..));
            assert_eq!(
                crl.crl_number().unwrap().to_string(),
                THIS_UPDATE.0.to_string()
            );

            // Deterministic.
            assert_eq!(
                h.issue_crl(&revoked, THIS_UPDATE, NEXT_UPDATE).unwrap(),
                der
            );
        }
    }

    #[test]
    fn empty_crl_omits_revoked_certificates() {
        let h = AmdHierarchy::shared(Product::Turin);
        let der = h.issue_crl(&[], THIS_UPDATE, NEXT_UPDATE).unwrap();
        let crl = parse_crl(&der);
        assert_eq!(crl.iter_revoked_certificates().count(), 0);
        assert!(crl_signed_by(&crl, &parse_cert(h.ark_der())));
        // x509-parser reads an absent and an empty SEQUENCE alike; x509-cert tells them apart.
        let list = CertificateList::from_der(&der).unwrap();
        assert_eq!(list.tbs_cert_list.revoked_certificates, None);
        assert!(list.tbs_cert_list.crl_extensions.is_some());
    }

    /// Our list with the real list's content is byte-identical to it in everything but what
    /// derives from the key or differs by design: the AKI key identifier and the cRLNumber.
    fn assert_same_but_key_and_number(real_der: &[u8], generated_der: &[u8]) {
        let real = CertificateList::from_der(real_der).unwrap();
        let ours = CertificateList::from_der(generated_der).unwrap();
        let mut tbs = real.tbs_cert_list.clone();
        let our_exts = ours.tbs_cert_list.crl_extensions.clone().unwrap();
        let real_exts = tbs.crl_extensions.as_mut().unwrap();
        assert_eq!(real_exts.len(), our_exts.len());
        for (real_ext, our_ext) in real_exts.iter_mut().zip(&our_exts) {
            assert_eq!(real_ext.extn_id, our_ext.extn_id);
            assert_eq!(real_ext.critical, our_ext.critical);
            real_ext.extn_value = our_ext.extn_value.clone();
        }
        assert_eq!(tbs.to_der().unwrap(), ours.tbs_cert_list.to_der().unwrap());
        assert_eq!(real.signature_algorithm, ours.signature_algorithm);
        assert_eq!(
            real.signature.raw_bytes().len(),
            ours.signature.raw_bytes().len()
        );
    }

    #[test]
    fn crl_matches_real_amd_bytes() {
        // Genoa: one revoked ASK.
        let real = real_crl(REAL_GENOA_CRL);
        let real_ark = parse_cert(REAL_GENOA_ARK);
        let parsed = parse_crl(&real);
        assert!(crl_signed_by(&parsed, &real_ark));
        assert_eq!(parsed.issuer().as_raw(), real_ark.subject().as_raw());
        let h = AmdHierarchy::shared(Product::Genoa);
        let ours = h
            .issue_crl(
                &[(vec![0x02, 0x00, 0x01], UnixTime(1_667_217_600))],
                UnixTime(1_729_658_184),
                UnixTime(1_762_131_600),
            )
            .unwrap();
        assert_same_but_key_and_number(&real, &ours);

        // Milan: nothing revoked.
        let real = real_crl(REAL_MILAN_CRL);
        let real_ark = parse_cert(REAL_MILAN_ARK);
        assert!(crl_signed_by(&parse_crl(&real), &real_ark));
        let list = CertificateList::from_der(&real).unwrap();
        assert_eq!(list.tbs_cert_list.revoked_certificates, None);
        let ours = AmdHierarchy::shared(Product::Milan)
            .issue_crl(&[], UnixTime(1_746_535_146), UnixTime(1_778_544_000))
            .unwrap();
        assert_same_but_key_and_number(&real, &ours);
        // The real list does not verify under the simulated ARK, nor ours under the real one.
        assert!(!crl_signed_by(&parse_crl(&ours), &real_ark));
    }

    #[test]
    fn off_profile_values() {
        let h = AmdHierarchy::shared(Product::Milan);

        // GeneralizedTime from 2050 on, UTCTime before.
        let far = UnixTime(2_524_608_000);
        let der = h.issue_crl(&[(vec![0x7F], far)], THIS_UPDATE, far).unwrap();
        let list = CertificateList::from_der(&der).unwrap();
        let tbs = &list.tbs_cert_list;
        assert!(matches!(tbs.this_update, x509_cert::time::Time::UtcTime(_)));
        assert!(matches!(
            tbs.next_update,
            Some(x509_cert::time::Time::GeneralTime(_))
        ));
        let crl = parse_crl(&der);
        assert_eq!(crl.next_update().unwrap().timestamp(), far.0);
        let entry = crl.iter_revoked_certificates().next().unwrap();
        assert_eq!(entry.revocation_date.timestamp(), far.0);

        // Serials are written as given, a high first byte included, and nextUpdate may precede
        // thisUpdate.
        let long = vec![0x00, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        let der = h
            .issue_crl(&[(long.clone(), THIS_UPDATE)], NEXT_UPDATE, THIS_UPDATE)
            .unwrap();
        let crl = parse_crl(&der);
        assert_eq!(
            crl.iter_revoked_certificates().next().unwrap().raw_serial(),
            &long[..]
        );
        assert!(crl.next_update().unwrap() < crl.last_update());

        // Not DER INTEGER content.
        for bad in [vec![], vec![0x00, 0x01], vec![0xFF, 0x80], vec![0x01; 22]] {
            assert!(
                matches!(
                    h.issue_crl(&[(bad.clone(), THIS_UPDATE)], THIS_UPDATE, NEXT_UPDATE),
                    Err(SimError::Der(_))
                ),
                "{bad:02x?}"
            );
        }

        // Times before 1970.
        let early = UnixTime(-1);
        assert_eq!(
            h.issue_crl(&[], early, NEXT_UPDATE),
            Err(SimError::Time(early))
        );
        assert_eq!(
            h.issue_crl(&[], THIS_UPDATE, early),
            Err(SimError::Time(early))
        );
        assert_eq!(
            h.issue_crl(&[(vec![1], early)], THIS_UPDATE, NEXT_UPDATE),
            Err(SimError::Time(early))
        );
    }
}
