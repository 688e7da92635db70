//! Reports through `/dev/sev-guest` (the `SNP_GET_EXT_REPORT` ioctl) with the `sev` crate, for
//! kernels without configfs-tsm.
//!
//! `sev` 8.0.0's `Firmware::get_ext_report` returns the report as the raw bytes of the
//! firmware's response (no parse and re-serialisation), and the host's certificate table parsed
//! into entries. We turn the entries back into table bytes with `sev`'s own writer
//! (`CertTableEntry::cert_table_to_vec_bytes`, the inverse of its parser, so GUIDs keep their
//! byte order) and check and normalise them with [`CertTable`].

use std::path::Path;

use warden_evidence::snp::{CertTable, REPORT_SIZE};

use super::{CollectError, CpuEvidence, Tee};

/// The SEV-SNP guest device; the only one the `sev` crate opens.
pub const DEFAULT_DEVICE: &str = "/dev/sev-guest";

/// An extended report at VMPL 0 for `report_data`, with the host's certificate table (empty
/// when the host has none configured).
///
/// # Errors
///
/// [`CollectError::UnsupportedDevice`] for a device other than [`DEFAULT_DEVICE`],
/// [`CollectError::Io`] if it cannot be opened, [`CollectError::SevGuest`] if the request
/// fails, [`CollectError::ReportSize`] and [`CollectError::CertTable`] for malformed answers.
#[cfg(target_os = "linux")]
pub fn ext_report(device: &Path, report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
    use sev::firmware::guest::Firmware;
    use sev::firmware::host::CertTableEntry;

    if device != Path::new(DEFAULT_DEVICE) {
        return Err(CollectError::UnsupportedDevice {
            device: device.to_path_buf(),
        });
    }
    let sev_error = |e: &dyn std::fmt::Display| CollectError::SevGuest {
        device: device.to_path_buf(),
        message: e.to_string(),
    };
    let mut firmware = Firmware::open().map_err(CollectError::io("open", device))?;
    // Message version: the crate's default (1). VMPL 0: the report must speak for the most
    // privileged level, which policy requires.
    let (report, entries) = firmware
        .get_ext_report(None, Some(*report_data), Some(0))
        .map_err(|e| sev_error(&e))?;
    let table = match entries {
        Some(entries) if !entries.is_empty() => {
            CertTableEntry::cert_table_to_vec_bytes(&entries).map_err(|e| sev_error(&e))?
        }
        _ => Vec::new(),
    };
    evidence(device, report, &table)
}

/// `/dev/sev-guest` needs Linux.
///
/// # Errors
///
/// Always [`CollectError::UnsupportedDevice`].
#[cfg(not(target_os = "linux"))]
pub fn ext_report(device: &Path, _report_data: &[u8; 64]) -> Result<CpuEvidence, CollectError> {
    Err(CollectError::UnsupportedDevice {
        device: device.to_path_buf(),
    })
}

/// Checks the report size and the table, and writes the table in our canonical form.
fn evidence(device: &Path, report: Vec<u8>, table: &[u8]) -> Result<CpuEvidence, CollectError> {
    if report.len() != REPORT_SIZE {
        return Err(CollectError::ReportSize {
            path: device.to_path_buf(),
            got: report.len(),
        });
    }
    let certificates = if table.is_empty() {
        Vec::new()
    } else {
        CertTable::parse(table)
            .map_err(|source| CollectError::CertTable {
                path: device.to_path_buf(),
                source,
            })?
            .encode()
    };
    Ok(CpuEvidence {
        tee: Tee::SevSnp,
        report,
        certificates,
    })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use sev::firmware::host::{CertTableEntry, CertType};
    use warden_evidence::snp::VCEK_GUID;

    use super::*;

    #[test]
    fn sev_crate_tables_convert() {
        // What get_ext_report hands back (sorted by type), written with sev's writer.
        let entries = vec![
            CertTableEntry::new(CertType::VCEK, vec![0x30, 5, 5]),
            CertTableEntry::new(CertType::ASK, vec![0x30, 2]),
            CertTableEntry::new(CertType::ARK, vec![0x30, 1]),
            CertTableEntry::new(CertType::CRL, vec![9]),
        ];
        let bytes = CertTableEntry::cert_table_to_vec_bytes(&entries).unwrap();
        assert_eq!(bytes[..16], VCEK_GUID);
        let device = PathBuf::from(DEFAULT_DEVICE);
        let collected = evidence(&device, vec![0; REPORT_SIZE], &bytes).unwrap();
        let table = CertTable::parse(&collected.certificates).unwrap();
        assert_eq!(table.vcek.as_deref(), Some(&[0x30, 5, 5][..]));
        assert_eq!(table.ask.as_deref(), Some(&[0x30, 2][..]));
        assert_eq!(table.ark.as_deref(), Some(&[0x30, 1][..]));
        assert_eq!(table.unknown.len(), 1);
        assert_eq!(
            warden_evidence::snp::vek_from_certificates(&collected.certificates),
            Ok(vec![0x30, 5, 5])
        );

        assert!(matches!(
            evidence(&device, vec![0; 100], &bytes),
            Err(CollectError::ReportSize { got: 100, .. })
        ));
        assert!(matches!(
            evidence(&device, vec![0; REPORT_SIZE], &bytes[..30]),
            Err(CollectError::CertTable { .. })
        ));
        assert!(
            evidence(&device, vec![0; REPORT_SIZE], &[])
                .unwrap()
                .certificates
                .is_empty()
        );
    }

    #[test]
    fn only_the_default_device() {
        assert!(matches!(
            ext_report(Path::new("/tmp/not-sev-guest"), &[0; 64]),
            Err(CollectError::UnsupportedDevice { .. })
        ));
    }
}
