//! Intel TDX quotes through configfs-tsm (provider `tdx_guest`).
//!
//! Linux userspace gets TD quotes only through configfs-tsm (Linux 6.7+): writing REPORT_DATA
//! to `inblob` and reading `outblob` makes the `tdx_guest` driver take a TDREPORT and have the
//! host's quote generation service (QGS) turn it into a quote signed by the quoting enclave.
//! `/dev/tdx_guest` (`TDX_CMD_GET_REPORT0`) alone returns only the 1024-byte TDREPORT, MAC'd
//! with a key of the local platform, which no remote verifier can check; the `tdx-guest` crate
//! is a guest-kernel library and no help here.
//!
//! Reading `outblob` waits for the host, so it runs under a deadline
//! ([`CollectError::Timeout`]). The quote is checked only as far as needed to catch a broken
//! quote service in the agent's log ([`check_quote`]); the verifier parses and verifies it.

use std::path::Path;
use std::time::Duration;

use super::configfs::{self, TsmReport};
use super::{CollectError, CpuEvidence, Tee};

/// The TDX guest device. Only its presence is used: it tells a TDX guest whose kernel lacks
/// configfs-tsm, which has no way to produce a quote.
pub const DEFAULT_DEVICE: &str = "/dev/tdx_guest";

/// Size of the quote header (Intel TDX DCAP Quoting Library API, quote format v4 and v5,
/// "Quote Header").
pub const HEADER_SIZE: usize = 48;

/// `tee_type` of a TDX quote in the header (an SGX quote has 0).
pub const TEE_TYPE_TDX: u32 = 0x81;

/// Size of a TD 1.0 report body (quote v4, and v5 body type 2).
pub const TD10_BODY_SIZE: usize = 584;

/// Size of a TD 1.5 report body (quote v5 body type 3): TD 1.0 plus TEE_TCB_SVN2 and
/// MRSERVICETD.
pub const TD15_BODY_SIZE: usize = 648;

/// Offset of REPORT_DATA in either report body (after TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM,
/// SEAM_ATTRIBUTES, TD_ATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0-3).
pub const REPORT_DATA_OFFSET: usize = 520;

/// A TDX quote carrying `report_data`, through configfs-tsm under `root`, waiting at most
/// `timeout` for the host's quote service.
///
/// # Errors
///
/// [`CollectError::WrongProvider`] on an SEV-SNP guest (provider `sev_guest`),
/// [`CollectError::ConcurrentWriter`], [`CollectError::Timeout`],
/// [`CollectError::QuoteFormat`] for an outblob that is no TDX quote or carries another
/// REPORT_DATA, and [`CollectError::Io`] naming the file.
pub fn quote(
    root: &Path,
    report_data: &[u8; 64],
    timeout: Duration,
) -> Result<CpuEvidence, CollectError> {
    configfs::evidence(root, Some(Tee::Tdx), report_data, timeout)
}

/// Turns a configfs-tsm answer from the `tdx_guest` provider into evidence, after
/// [`check_quote`].
pub(crate) fn evidence(
    tsm: TsmReport,
    report_data: &[u8; 64],
) -> Result<CpuEvidence, CollectError> {
    check_quote(&tsm.outblob, report_data).map_err(|reason| CollectError::QuoteFormat {
        path: tsm.entry.join("outblob"),
        reason,
    })?;
    Ok(CpuEvidence {
        tee: Tee::Tdx,
        report: tsm.outblob,
        certificates: Vec::new(),
    })
}

/// The minimal check of a quote the agent is about to send: header version 4 or 5, TEE type
/// TDX, the whole report body and the signature data its length field announces present, and
/// REPORT_DATA equal to `report_data`.
///
/// Bytes after the signature data are left to the verifier, which decides what it tolerates;
/// the agent sends the quote exactly as produced.
///
/// # Errors
///
/// What is wrong, as a fixed text.
pub fn check_quote(quote: &[u8], report_data: &[u8; 64]) -> Result<(), &'static str> {
    let (body, rest) = split_body(quote)?;
    let found = body_report_data(body)?;
    let (length, signature) = rest
        .split_first_chunk::<4>()
        .ok_or("no signature data length after the report body")?;
    let length = usize::try_from(u32::from_le_bytes(*length)).unwrap_or(usize::MAX);
    if signature.len() < length {
        return Err("signature data shorter than its length field");
    }
    if &found != report_data {
        return Err("REPORT_DATA in the quote is not the one written to inblob");
    }
    Ok(())
}

/// REPORT_DATA of a TDX quote (v4 or v5).
///
/// # Errors
///
/// What is wrong with the header or body, as [`check_quote`] says it.
pub fn quote_report_data(quote: &[u8]) -> Result<[u8; 64], &'static str> {
    body_report_data(split_body(quote)?.0)
}

fn body_report_data(body: &[u8]) -> Result<[u8; 64], &'static str> {
    body.get(REPORT_DATA_OFFSET..)
        .and_then(|tail| tail.first_chunk::<64>())
        .copied()
        .ok_or("report body too short for REPORT_DATA")
}

/// Splits a quote into its report body and what follows it.
fn split_body(quote: &[u8]) -> Result<(&[u8], &[u8]), &'static str> {
    let (header, rest) = quote
        .split_at_checked(HEADER_SIZE)
        .ok_or("shorter than the 48-byte quote header")?;
    let (version, header) = header
        .split_first_chunk::<2>()
        .ok_or("shorter than the 48-byte quote header")?;
    let tee_type = header
        .get(2..6)
        .and_then(|b| b.first_chunk::<4>())
        .ok_or("shorter than the 48-byte quote header")?;
    let version = u16::from_le_bytes(*version);
    if u32::from_le_bytes(*tee_type) != TEE_TYPE_TDX {
        return Err("TEE type in the header is not TDX (0x81)");
    }
    let (body_size, rest) = match version {
        4 => (TD10_BODY_SIZE, rest),
        5 => {
            // Body descriptor: type (u16), size (u32).
            let (kind, rest) = rest
                .split_first_chunk::<2>()
                .ok_or("v5 quote without a body descriptor")?;
            let (size, rest) = rest
                .split_first_chunk::<4>()
                .ok_or("v5 quote without a body descriptor")?;
            let expected = match u16::from_le_bytes(*kind) {
                2 => TD10_BODY_SIZE,
                3 => TD15_BODY_SIZE,
                _ => return Err("v5 body type is neither a TD 1.0 (2) nor a TD 1.5 (3) report"),
            };
            if usize::try_from(u32::from_le_bytes(*size)).ok() != Some(expected) {
                return Err("v5 body size does not match its type");
            }
            (expected, rest)
        }
        _ => return Err("header version is neither 4 nor 5"),
    };
    rest.split_at_checked(body_size)
        .ok_or("shorter than its header and report body")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::configfs::fake::{FakeConfigfs, assert_cleaned};
    use super::*;

    /// A quote of the shape of `version` (4, or 5 with `body_type` 2 or 3) carrying
    /// `report_data`, with 16 bytes of signature data. Not signed: for the format checks.
    pub(crate) fn unsigned_quote(version: u16, body_type: u16, report_data: &[u8; 64]) -> Vec<u8> {
        let mut quote = Vec::new();
        quote.extend_from_slice(&version.to_le_bytes());
        quote.extend_from_slice(&2u16.to_le_bytes()); // ECDSA-256 with P-256
        quote.extend_from_slice(&TEE_TYPE_TDX.to_le_bytes());
        quote.resize(HEADER_SIZE, 0);
        let body_size = if body_type == 3 {
            TD15_BODY_SIZE
        } else {
            TD10_BODY_SIZE
        };
        if version == 5 {
            quote.extend_from_slice(&body_type.to_le_bytes());
            quote.extend_from_slice(&u32::try_from(body_size).unwrap().to_le_bytes());
        }
        let body_start = quote.len();
        quote.resize(body_start + body_size, 0x11);
        quote[body_start + REPORT_DATA_OFFSET..][..64].copy_from_slice(report_data);
        quote.extend_from_slice(&16u32.to_le_bytes());
        quote.extend_from_slice(&[0x22; 16]);
        quote
    }

    #[test]
    fn well_formed_quotes_pass() {
        let rd = [0x5A; 64];
        for (version, body_type) in [(4, 0), (5, 2), (5, 3)] {
            let quote = unsigned_quote(version, body_type, &rd);
            assert_eq!(check_quote(&quote, &rd), Ok(()), "v{version}/{body_type}");
            assert_eq!(quote_report_data(&quote), Ok(rd));
        }
        // Trailing bytes are the verifier's business.
        let mut padded = unsigned_quote(4, 0, &rd);
        padded.extend_from_slice(&[0; 8]);
        assert_eq!(check_quote(&padded, &rd), Ok(()));
    }

    #[test]
    fn malformed_quotes_are_named() {
        let rd = [0x5A; 64];
        let good = unsigned_quote(4, 0, &rd);
        let edit = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut q = good.clone();
            f(&mut q);
            check_quote(&q, &rd).unwrap_err()
        };
        assert_eq!(
            edit(&|q| q.truncate(40)),
            "shorter than the 48-byte quote header"
        );
        assert_eq!(edit(&|q| q[0] = 3), "header version is neither 4 nor 5");
        assert_eq!(
            edit(&|q| q[4] = 0),
            "TEE type in the header is not TDX (0x81)"
        );
        assert_eq!(
            edit(&|q| q.truncate(HEADER_SIZE + 100)),
            "shorter than its header and report body"
        );
        assert_eq!(
            edit(&|q| q.truncate(HEADER_SIZE + TD10_BODY_SIZE + 2)),
            "no signature data length after the report body"
        );
        assert_eq!(
            edit(&|q| q.truncate(q.len() - 1)),
            "signature data shorter than its length field"
        );
        assert_eq!(
            edit(&|q| q[HEADER_SIZE + REPORT_DATA_OFFSET] ^= 1),
            "REPORT_DATA in the quote is not the one written to inblob"
        );

        let v5 = unsigned_quote(5, 2, &rd);
        let edit5 = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut q = v5.clone();
            f(&mut q);
            check_quote(&q, &rd).unwrap_err()
        };
        assert_eq!(
            edit5(&|q| q.truncate(HEADER_SIZE + 3)),
            "v5 quote without a body descriptor"
        );
        assert_eq!(
            edit5(&|q| q[HEADER_SIZE] = 4),
            "v5 body type is neither a TD 1.0 (2) nor a TD 1.5 (3) report"
        );
        assert_eq!(
            edit5(&|q| q[HEADER_SIZE] = 3),
            "v5 body size does not match its type"
        );
    }

    #[test]
    fn quotes_through_configfs() {
        let rd = [0x77; 64];
        let quote = unsigned_quote(4, 0, &rd);
        let (evidence, root) = FakeConfigfs::tdx(quote.clone()).evidence(Some(Tee::Tdx), &rd);
        assert_eq!(
            evidence.unwrap(),
            CpuEvidence {
                tee: Tee::Tdx,
                report: quote.clone(),
                certificates: Vec::new(),
            }
        );
        assert_cleaned(&root);

        // Auto-detection on a TDX guest gives a TDX quote.
        let (evidence, _root) = FakeConfigfs::tdx(quote.clone()).evidence(None, &rd);
        assert_eq!(evidence.unwrap().tee, Tee::Tdx);

        // A quote for other REPORT_DATA, or something that is no quote.
        let (result, root) = FakeConfigfs::tdx(quote).evidence(Some(Tee::Tdx), &[0; 64]);
        match result {
            Err(CollectError::QuoteFormat { path, reason }) => {
                assert!(path.ends_with("outblob"), "{}", path.display());
                assert_eq!(
                    reason,
                    "REPORT_DATA in the quote is not the one written to inblob"
                );
            }
            other => panic!("{other:?}"),
        }
        assert_cleaned(&root);
        let (result, root) = FakeConfigfs::tdx(vec![1; 1184]).evidence(Some(Tee::Tdx), &rd);
        assert!(matches!(result, Err(CollectError::QuoteFormat { .. })));
        assert_cleaned(&root);

        // An SEV-SNP guest asked for a TDX quote.
        let (result, root) = FakeConfigfs::snp(vec![1; 1184], None).evidence(Some(Tee::Tdx), &rd);
        assert!(matches!(
            result,
            Err(CollectError::WrongProvider {
                expected: "tdx_guest",
                ..
            })
        ));
        assert_cleaned(&root);
    }

    #[test]
    fn the_public_entry_point_uses_the_real_file_system() {
        // A plain directory has no provider attribute: the request fails naming it and leaves
        // nothing behind.
        let dir = tempfile::tempdir().unwrap();
        let err = quote(dir.path(), &[0; 64], Duration::from_secs(1)).unwrap_err();
        assert!(err.to_string().contains("provider"), "{err}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
