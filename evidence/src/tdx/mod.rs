//! Intel TDX: the quote (v4 and v5), DCAP collateral, and their verification with `dcap-qvl`.
//!
//! # Flow
//!
//! 1. [`Quote::parse`] (ours) checks the layout of the quote strictly (THREATS R2, R3, T11, D10):
//!    version 4 or 5, TD body types, TEE type 0x81, attestation key type 2, Intel's QE vendor ID,
//!    reserved header bytes zero, certification data type 6 containing the QE report, its
//!    signature, the QE authentication data and certification data type 5 (a PEM chain of
//!    exactly three certificates), every length exact, no trailing bytes.
//!    [`Quote::parse_allow_zero_padding`] additionally accepts all-zero bytes after the quote
//!    (the buffer padding of some quote-generation stacks) and drops them.
//! 2. [`Quote::pck`] (ours) reads the PCK leaf's FMSPC, PCE-ID and issuing CA, and
//!    [`CollateralSet::select`] (ours) picks the TCB info for that FMSPC, the TD_QE identity,
//!    the root CA CRL, the CRL of that PCK CA and the issuer chains, and refuses pieces that are
//!    missing, stale (past nextUpdate) or not yet valid at `now` (D7). Collateral files are
//!    classified by content ([`CollateralItem::parse_file`]); an older signed item never
//!    replaces a newer one in a [`CollateralSet`] (D7).
//! 3. [`TdxVerifier::verify`] (ours) requires every chain (the quote's PCK chain, the TCB Signing
//!    chain, the PCK CRL issuer chain) to end in the pinned root, then hands the same quote bytes
//!    to dcap-qvl 0.7.1 (`QuoteVerifier::verify_with_policy` with `QuotePolicy::claims_only`),
//!    which checks, in this order:
//!    the root CA CRL's signature by the root and the root against it; header version, vendor,
//!    TEE and key type again; (1) the TCB info: issueDate <= now <= nextUpdate, TCB Signing
//!    chain to the root (validity, CRLs), signature; (2) the QE identity likewise and that it is
//!    TD_QE; (3) the PCK chain to the root with the root and PCK CRLs (revocation, CRL expiry);
//!    (4) the QE report signature by the PCK key (T13); (5) QE REPORT_DATA = SHA-256(attestation
//!    key || QE authentication data) (T13); (6) the QE report against the QE identity: MRSIGNER,
//!    ISVPRODID, MISCSELECT, ATTRIBUTES, not debug, and the QE TCB level (D1, D2); (7) the quote
//!    signature over header and body by the attestation key (T12); (8) the platform TCB level:
//!    FMSPC of the TCB info = the PCK's (D6), TCB info id TDX (D5), SGX components and PCE SVN
//!    from the PCK certificate and TEE_TCB_SVN (and TEE_TCB_SVN_2 for TD 1.5) against the TCB
//!    levels with exact component counts (D4, T10), the TDX module identity (MRSIGNERSEAM,
//!    SEAMATTRIBUTES, T9); (9, 10) converged platform, module and QE status, Revoked rejected
//!    (D3); then the TD attributes: not debug or profiling (T1), no reserved bits (T2), not
//!    migratable, SEPT_VE_DISABLE set (T3), no service TD binding (T4).
//! 4. dcap-qvl's error text is mapped to a specific [`TdxError`] (unknown text is
//!    [`TdxError::Dcap`]); on success the claims ([`TdxClaims`]) carry the TCB status and
//!    advisories, which policy judges, with MRTD, RTMRs, REPORT_DATA and the other measurements.
//!
//! Nothing here checks MRTD, RTMRs, MR_CONFIG_ID, XFAM or REPORT_DATA against expectations, nor
//! whether a TCB status other than Revoked is acceptable: that is policy (T5, T6, T8, D3).

mod claims;
mod collateral;
mod error;
mod pem;
pub mod quote;
mod verify;

pub use claims::{TdAttributesClaims, TdBody, TdxClaims};
pub use collateral::{
    AddOutcome, Collateral, CollateralItem, CollateralSet, Crl, QeIdentity, TcbInfo,
};
pub use error::TdxError;
pub use quote::{ParsePckCaError, PckCa, PckInfo, Quote, TdAttributes, TdReport};
pub use verify::{TdxVerifier, VerifiedQuote};
