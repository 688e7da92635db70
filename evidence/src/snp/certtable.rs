//! The SEV-SNP certificate table a host hands its guest beside an extended report.
//!
//! AMD GHCB specification 56421 rev 2.03, section 4.1.8.1 (SNP Extended Guest Request,
//! certificate table), and the Linux `SNP_GET_EXT_REPORT` / configfs-tsm `auxblob` ABI: a list
//! of 24-byte entries `{GUID (16), offset (u32 LE), length (u32 LE)}` ended by an all-zero
//! entry, followed by the certificates. Offsets count from the start of the table.
//!
//! GUIDs are stored in RFC 4122 byte order, i.e. the bytes of the textual form in order
//! (`c0b406a4-...` is `c0 b4 06 a4 ...`): this is what the `sev` crate 8.0.0 writes and reads
//! (`uuid::Uuid::as_bytes`, checked against its `test_uapi_to_vec_bytes` vector, reproduced in
//! the tests below) and what go-sev-guest does; it is not the mixed-endian Microsoft GUID layout.

use crate::snp::SnpError;

/// Size of one table entry: GUID, offset, length.
const ENTRY_LEN: usize = 24;

/// GUID of the ARK entry, `c0b406a4-a803-4952-9743-3fb6014cd0ae`.
pub const ARK_GUID: [u8; 16] = [
    0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0, 0xae,
];
/// GUID of the ASK entry, `4ab7b379-bbac-4fe4-a02f-05aef327c782`. Hosts of VLEK guests put the
/// ASVK here.
pub const ASK_GUID: [u8; 16] = [
    0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7, 0x82,
];
/// GUID of the VCEK entry, `63da758d-e664-4564-adc5-f4b93be8accd`.
pub const VCEK_GUID: [u8; 16] = [
    0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac, 0xcd,
];
/// GUID of the VLEK entry, `a8074bc2-a25a-483e-aae6-39c045a0b8a1`.
pub const VLEK_GUID: [u8; 16] = [
    0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8, 0xa1,
];

/// An entry whose GUID is none of the four above (the `sev` crate knows a CRL GUID
/// `92f81bc3-5811-4d3d-97ff-d19f88dc67ea`, for instance). Kept so that a table round-trips, never
/// used for verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownEntry {
    /// The GUID, RFC 4122 byte order.
    pub guid: [u8; 16],
    /// The entry's bytes.
    pub data: Vec<u8>,
}

/// A parsed certificate table (GHCB spec 56421 section 4.1.8.1). Each field holds the bytes of
/// one entry (normally a DER certificate; the table itself does not say).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CertTable {
    /// AMD Root Key.
    pub ark: Option<Vec<u8>>,
    /// AMD SEV Key (or, for VLEK guests, the ASVK).
    pub ask: Option<Vec<u8>>,
    /// The chip's VCEK.
    pub vcek: Option<Vec<u8>>,
    /// The VLEK loaded by the cloud provider.
    pub vlek: Option<Vec<u8>>,
    /// Entries with other GUIDs, in table order.
    pub unknown: Vec<UnknownEntry>,
}

fn table_error(reason: &'static str) -> SnpError {
    SnpError::CertTable { reason }
}

/// One entry header, read from untrusted bytes.
struct Header {
    guid: [u8; 16],
    offset: u32,
    length: u32,
}

fn read_u32(bytes: &[u8]) -> Option<u32> {
    bytes.try_into().ok().map(u32::from_le_bytes)
}

fn read_header(raw: &[u8]) -> Option<Header> {
    let (guid, rest) = raw.split_at_checked(16)?;
    let (offset, length) = rest.split_at_checked(4)?;
    Some(Header {
        guid: guid.try_into().ok()?,
        offset: read_u32(offset)?,
        length: read_u32(length)?,
    })
}

impl CertTable {
    /// Parses a certificate table.
    ///
    /// Every entry's data must lie inside `bytes` and after the terminating entry (data never
    /// overlaps the headers); a GUID may appear only once; the ARK, ASK, VCEK and VLEK entries
    /// must not be empty. Entries with other GUIDs are kept in [`CertTable::unknown`].
    ///
    /// Bytes after the last certificate are tolerated: the kernel hands the guest the host's
    /// whole certificate buffer, which is page-sized and padded.
    ///
    /// # Errors
    ///
    /// [`SnpError::CertTable`] naming the defect.
    pub fn parse(bytes: &[u8]) -> Result<Self, SnpError> {
        let mut headers = Vec::new();
        let mut rest = bytes;
        loop {
            let Some((raw, tail)) = rest.split_at_checked(ENTRY_LEN) else {
                return Err(table_error(if rest.is_empty() {
                    "no terminating all-zero entry"
                } else {
                    "truncated entry"
                }));
            };
            rest = tail;
            if raw.iter().all(|&b| b == 0) {
                break;
            }
            let header = read_header(raw).ok_or_else(|| table_error("truncated entry"))?;
            headers.push(header);
        }
        // The table proper, terminator included.
        let table_len = bytes.len() - rest.len();

        let mut table = Self::default();
        let mut seen: Vec<[u8; 16]> = Vec::with_capacity(headers.len());
        for header in headers {
            if seen.contains(&header.guid) {
                return Err(table_error("duplicate GUID"));
            }
            seen.push(header.guid);
            let start = usize::try_from(header.offset)
                .map_err(|_| table_error("entry offset out of bounds"))?;
            let len = usize::try_from(header.length)
                .map_err(|_| table_error("entry length out of bounds"))?;
            if start < table_len {
                return Err(table_error("entry data overlaps the table"));
            }
            let end = start
                .checked_add(len)
                .ok_or_else(|| table_error("entry data out of bounds"))?;
            let data = bytes
                .get(start..end)
                .ok_or_else(|| table_error("entry data out of bounds"))?
                .to_vec();
            let slot = match header.guid {
                ARK_GUID => &mut table.ark,
                ASK_GUID => &mut table.ask,
                VCEK_GUID => &mut table.vcek,
                VLEK_GUID => &mut table.vlek,
                guid => {
                    table.unknown.push(UnknownEntry { guid, data });
                    continue;
                }
            };
            if data.is_empty() {
                return Err(table_error("empty certificate entry"));
            }
            *slot = Some(data);
        }
        Ok(table)
    }

    /// Writes the table: headers in the order ARK, ASK, VCEK, VLEK, unknown entries, then the
    /// all-zero terminator, then the data in the same order, with no padding.
    ///
    /// A table whose data exceed 4 GiB cannot be written; its offsets saturate and
    /// [`CertTable::parse`] rejects the result.
    pub fn encode(&self) -> Vec<u8> {
        let known = [
            (ARK_GUID, &self.ark),
            (ASK_GUID, &self.ask),
            (VCEK_GUID, &self.vcek),
            (VLEK_GUID, &self.vlek),
        ];
        let entries: Vec<([u8; 16], &[u8])> = known
            .into_iter()
            .filter_map(|(guid, data)| data.as_deref().map(|d| (guid, d)))
            .chain(self.unknown.iter().map(|e| (e.guid, e.data.as_slice())))
            .collect();
        let table_len = ENTRY_LEN.saturating_mul(entries.len().saturating_add(1));
        let mut out = Vec::with_capacity(
            table_len.saturating_add(entries.iter().map(|(_, d)| d.len()).sum::<usize>()),
        );
        let mut offset = table_len;
        for (guid, data) in &entries {
            out.extend_from_slice(guid);
            out.extend_from_slice(&saturating_u32(offset).to_le_bytes());
            out.extend_from_slice(&saturating_u32(data.len()).to_le_bytes());
            offset = offset.saturating_add(data.len());
        }
        out.extend_from_slice(&[0; ENTRY_LEN]);
        for (_, data) in &entries {
            out.extend_from_slice(data);
        }
        out
    }
}

fn saturating_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The VCEK or VLEK certificate from the certificate bytes sent with SNP evidence.
///
/// `bytes` is either one DER certificate (it starts with a SEQUENCE tag, 0x30, which none of
/// the four known GUIDs does), returned as is, or a certificate table ([`CertTable::parse`])
/// holding exactly one of a VCEK and a VLEK, which is returned. The certificate itself is
/// checked later by the verifier.
///
/// # Errors
///
/// [`SnpError::NoVekCertificate`] for empty bytes or a table with neither, [`SnpError::AmbiguousVek`]
/// for a table with both, [`SnpError::CertTable`] for a malformed table.
pub fn vek_from_certificates(bytes: &[u8]) -> Result<Vec<u8>, SnpError> {
    match bytes.first() {
        None => Err(SnpError::NoVekCertificate),
        Some(0x30) => Ok(bytes.to_vec()),
        Some(_) => {
            let table = CertTable::parse(bytes)?;
            match (table.vcek, table.vlek) {
                (Some(vek), None) | (None, Some(vek)) => Ok(vek),
                (None, None) => Err(SnpError::NoVekCertificate),
                (Some(_), Some(_)) => Err(SnpError::AmbiguousVek),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CertTable {
        CertTable {
            ark: Some(vec![1; 25]),
            ask: Some(vec![2; 25]),
            vcek: Some(vec![5; 15]),
            vlek: None,
            unknown: vec![UnknownEntry {
                guid: [
                    0xfb, 0xb6, 0xed, 0x74, 0xe7, 0x3e, 0x44, 0xab, 0x88, 0x93, 0x42, 0x52, 0x79,
                    0x2d, 0x73, 0x7a,
                ],
                data: vec![7; 6],
            }],
        }
    }

    /// The expected bytes of the `sev` crate 8.0.0's `test_uapi_to_vec_bytes`
    /// (src/firmware/linux/host/types/snp.rs): ARK, ASK, VCEK and an unknown GUID.
    const SEV_CRATE_TABLE: [u8; 191] = [
        192, 180, 6, 164, 168, 3, 73, 82, 151, 67, 63, 182, 1, 76, 208, 174, 120, 0, 0, 0, 25, 0,
        0, 0, 74, 183, 179, 121, 187, 172, 79, 228, 160, 47, 5, 174, 243, 39, 199, 130, 145, 0, 0,
        0, 25, 0, 0, 0, 99, 218, 117, 141, 230, 100, 69, 100, 173, 197, 244, 185, 59, 232, 172,
        205, 170, 0, 0, 0, 15, 0, 0, 0, 251, 182, 237, 116, 231, 62, 68, 171, 136, 147, 66, 82,
        121, 45, 115, 122, 185, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5,
        5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 7, 7, 7, 7, 7, 7,
    ];

    fn err(reason: &'static str) -> Result<CertTable, SnpError> {
        Err(SnpError::CertTable { reason })
    }

    fn set_u32(table: &mut [u8], at: usize, value: u32) {
        table[at..at + 4].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn matches_the_sev_crate_encoding() {
        assert_eq!(sample().encode(), SEV_CRATE_TABLE);
        assert_eq!(CertTable::parse(&SEV_CRATE_TABLE), Ok(sample()));
    }

    #[test]
    fn round_trip_and_padding() {
        let mut table = sample();
        table.vlek = Some(vec![9; 3]);
        let bytes = table.encode();
        assert_eq!(CertTable::parse(&bytes), Ok(table.clone()));
        let mut padded = bytes;
        padded.resize(4096, 0);
        assert_eq!(CertTable::parse(&padded), Ok(table));
        let empty = CertTable::default();
        assert_eq!(empty.encode(), [0; 24]);
        assert_eq!(CertTable::parse(&[0; 24]), Ok(empty));
    }

    #[test]
    fn truncated_and_unterminated() {
        let bytes = sample().encode();
        assert_eq!(CertTable::parse(&[]), err("no terminating all-zero entry"));
        assert_eq!(CertTable::parse(&bytes[..30]), err("truncated entry"));
        // Headers only, terminator cut off.
        assert_eq!(
            CertTable::parse(&bytes[..96]),
            err("no terminating all-zero entry")
        );
        // Data cut short.
        assert_eq!(
            CertTable::parse(&bytes[..bytes.len() - 1]),
            err("entry data out of bounds")
        );
    }

    #[test]
    fn bad_offsets_and_lengths() {
        let bytes = sample().encode();
        let mut far = bytes.clone();
        set_u32(&mut far, 16, 10_000);
        assert_eq!(CertTable::parse(&far), err("entry data out of bounds"));
        let mut long = bytes.clone();
        set_u32(&mut long, 20, u32::MAX);
        assert_eq!(CertTable::parse(&long), err("entry data out of bounds"));
        let mut max = bytes.clone();
        set_u32(&mut max, 16, u32::MAX);
        assert_eq!(CertTable::parse(&max), err("entry data out of bounds"));
        let mut empty = bytes;
        set_u32(&mut empty, 20, 0);
        assert_eq!(CertTable::parse(&empty), err("empty certificate entry"));
    }

    #[test]
    fn data_must_not_overlap_headers() {
        let bytes = sample().encode();
        for offset in [0, 24, 119] {
            let mut overlapping = bytes.clone();
            set_u32(&mut overlapping, 16, offset);
            assert_eq!(
                CertTable::parse(&overlapping),
                err("entry data overlaps the table"),
                "offset {offset}"
            );
        }
        // Just past the terminator is fine.
        let mut shared = bytes;
        set_u32(&mut shared, 16 + 24, 120);
        assert!(CertTable::parse(&shared).is_ok());
    }

    #[test]
    fn duplicate_guids() {
        let mut bytes = sample().encode();
        bytes.copy_within(0..16, 24);
        assert_eq!(CertTable::parse(&bytes), err("duplicate GUID"));
        let mut unknown = sample();
        unknown.unknown.push(unknown.unknown[0].clone());
        assert_eq!(CertTable::parse(&unknown.encode()), err("duplicate GUID"));
    }

    #[test]
    fn vek_selection() {
        assert_eq!(vek_from_certificates(&[]), Err(SnpError::NoVekCertificate));
        let der = [0x30, 0x82, 0x01, 0x00];
        assert_eq!(vek_from_certificates(&der), Ok(der.to_vec()));
        assert_eq!(vek_from_certificates(&SEV_CRATE_TABLE), Ok(vec![5; 15]));
        let mut vlek = sample();
        vlek.vcek = None;
        vlek.vlek = Some(vec![6; 4]);
        assert_eq!(vek_from_certificates(&vlek.encode()), Ok(vec![6; 4]));
        let mut both = vlek.clone();
        both.vcek = Some(vec![5; 4]);
        assert_eq!(
            vek_from_certificates(&both.encode()),
            Err(SnpError::AmbiguousVek)
        );
        let mut none = vlek;
        none.vlek = None;
        assert_eq!(
            vek_from_certificates(&none.encode()),
            Err(SnpError::NoVekCertificate)
        );
        assert_eq!(
            vek_from_certificates(&[1, 2, 3]),
            Err(SnpError::CertTable {
                reason: "truncated entry"
            })
        );
    }
}
