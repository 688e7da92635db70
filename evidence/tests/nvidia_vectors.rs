//! NVIDIA GPU reports over real NVML evidence (`shared/vectors/nvidia`, read in place): every
//! report of that folder's `expected.json` at a fixed time with its nonce, NVAT's golden parse,
//! and negative cases made by mutating one field of a real input.

#![allow(
    missing_docs,
    unreachable_pub,
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::Value;
use warden_evidence::UnixTime;
use warden_evidence::nvidia::spdm::opaque_type as t;
use warden_evidence::nvidia::{
    FeatureFlag, GpuArch, GpuError, GpuVerifier, ReportPart, SpdmReport, decode_chain,
};

use common::read;

fn vectors() -> Option<PathBuf> {
    common::vectors("nvidia")
}

/// The pinned root, from the tree (not from the vectors).
fn pinned_root() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../verifier/roots/nvidia/device_identity_ca.der");
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn verifier() -> GpuVerifier {
    GpuVerifier::new(pinned_root())
}

/// Every device certificate is valid 2022-03-01 .. 9999-12-31.
fn now() -> UnixTime {
    let t = time::OffsetDateTime::parse(
        "2026-11-24T00:00:00Z",
        &time::format_description::well_known::Rfc3339,
    )
    .expect("RFC 3339");
    UnixTime(t.unix_timestamp())
}

fn nonce(hex_str: &str) -> [u8; 32] {
    hex::decode(hex_str).unwrap().try_into().unwrap()
}

fn hex_file(dir: &Path, name: &str) -> Vec<u8> {
    hex::decode(String::from_utf8(read(dir, name)).unwrap().trim()).unwrap()
}

/// One expected.json report entry with its evidence bytes and chain.
struct Case {
    name: String,
    report: Vec<u8>,
    chain: Vec<u8>,
    expected: Value,
}

fn cases(dir: &Path) -> Vec<Case> {
    let expected: Value = serde_json::from_slice(&read(dir, "expected.json")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = Vec::new();
    for entry in expected["reports"].as_array().unwrap() {
        let file = entry["file"].as_str().unwrap();
        let (report, chain) = if let Some((json, idx)) = file.split_once(".json[") {
            let idx: usize = idx.trim_end_matches(']').parse().unwrap();
            let list: Value = serde_json::from_slice(&read(dir, &format!("{json}.json"))).unwrap();
            let item = &list[idx];
            assert_eq!(item["nonce"], entry["request_nonce"], "{file}");
            (
                b64.decode(item["evidence"].as_str().unwrap()).unwrap(),
                b64.decode(item["certificate"].as_str().unwrap()).unwrap(),
            )
        } else {
            (
                hex_file(dir, file),
                read(dir, entry["certchain"].as_str().unwrap()),
            )
        };
        out.push(Case {
            name: file.to_owned(),
            report,
            chain,
            expected: entry.clone(),
        });
    }
    out
}

fn opt_str(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

#[test]
fn every_valid_report_verifies_with_its_nonce() {
    let Some(dir) = vectors() else { return };
    let verifier = verifier();
    let mut verified = 0;
    for case in cases(&dir) {
        let e = &case.expected;
        if e["signature_valid"] != Value::Bool(true) {
            continue;
        }
        let name = &case.name;
        let n = nonce(e["request_nonce"].as_str().unwrap());
        let v = verifier
            .verify(now(), &case.report, &case.chain, &n)
            .unwrap_or_else(|err| panic!("{name}: {err}"));
        let c = &v.claims;
        let arch = match e["arch"].as_str().unwrap() {
            "HOPPER" => GpuArch::Hopper,
            "BLACKWELL" => GpuArch::Blackwell,
            other => panic!("{other}"),
        };
        assert_eq!(v.arch, arch, "{name}");
        assert_eq!(c.arch, arch, "{name}");
        assert!(c.nonce_ok);
        assert_eq!(c.driver_version, opt_str(&e["driver_version"]), "{name}");
        assert_eq!(c.vbios_version, opt_str(&e["vbios_version"]), "{name}");
        assert_eq!(c.project, opt_str(&e["project"]), "{name}");
        assert_eq!(c.project_sku, opt_str(&e["project_sku"]), "{name}");
        assert_eq!(c.chip_sku, opt_str(&e["chip_sku"]), "{name}");
        assert_eq!(c.chip_info, opt_str(&e["chip_info"]), "{name}");
        assert_eq!(
            c.opaque_data_version.map(u64::from),
            e["opaque_data_version"].as_u64(),
            "{name}"
        );
        let flag = c.feature_flag.map(|f| match f {
            FeatureFlag::Spt => "SPT",
            FeatureFlag::Mpt => "MPT",
            FeatureFlag::Ppcie => "PPCIE",
            _ => "other",
        });
        assert_eq!(flag, e["feature_flag"].as_str(), "{name}");
        assert_eq!(c.nvdec0_status, opt_str(&e["nvdec0_status"]), "{name}");
        assert_eq!(
            c.protected_pcie_status,
            opt_str(&e["protected_pcie_status"]),
            "{name}"
        );
        assert_eq!(c.fwid, opt_str(&e["fwid_opaque"]), "{name}");
        assert_eq!(c.fwid_checked, e["fwid_opaque"].is_string(), "{name}");
        let hwmodel_prefix = if arch == GpuArch::Hopper {
            "GH100 A01 GSP BROM"
        } else {
            "GB100 A01 GSP BROM"
        };
        assert_eq!(c.hwmodel, hwmodel_prefix, "{name}");
        // ueid: the leaf's serial, which NVIDIA repeats as the subject's serialNumber.
        let leaf = &decode_chain(&case.chain).unwrap()[0];
        let (_, cert) = x509_parser::parse_x509_certificate(leaf).unwrap();
        let subject_serial = cert
            .subject()
            .iter_by_oid(&x509_parser::oid_registry::OID_X509_SERIALNUMBER)
            .next()
            .unwrap()
            .as_str()
            .unwrap()
            .to_ascii_lowercase();
        assert_eq!(c.ueid, subject_serial, "{name}");

        let blocks = e["num_blocks"].as_u64().unwrap() as usize;
        assert_eq!(c.measurements.len(), blocks, "{name}");
        assert_eq!(
            c.measurement_indices,
            (1..=blocks as u8).collect::<Vec<_>>()
        );
        let nonzero = e["measurements_nonzero"].as_object().unwrap();
        for (i, digest) in c.measurements.iter().enumerate() {
            let want = nonzero
                .get(&(i + 1).to_string())
                .and_then(Value::as_str)
                .map_or_else(|| "00".repeat(48), str::to_owned);
            assert_eq!(*digest, want, "{name} index {}", i + 1);
        }

        let report = &v.report;
        assert_eq!(
            report.as_bytes().len() as u64,
            e["length"].as_u64().unwrap()
        );
        assert_eq!(
            hex::encode(report.response_nonce()),
            e["response_nonce"].as_str().unwrap()
        );
        // expected.json lists the types sorted; the report's order is the GPU's.
        let mut types: Vec<u64> = report
            .opaque()
            .fields()
            .iter()
            .map(|f| u64::from(f.kind))
            .collect();
        types.sort_unstable();
        let want: Vec<u64> = e["opaque_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        assert_eq!(types, want, "{name}");
        // Claims serialise (they are what policy reads).
        serde_json::to_string(c).unwrap();
        verified += 1;
    }
    // 6 hex reports minus the bad-signature one, 1 + 1 + 4 + 8 JSON entries.
    assert_eq!(verified, 19);
}

#[test]
fn bad_signature_report_fails_with_signature() {
    let Some(dir) = vectors() else { return };
    let report = hex_file(&dir, "gpu/negative_hopper_560.00_bad_signature_report.hex");
    let chain = read(&dir, "gpu/hopper_570.124.03_certchain.pem");
    let n = nonce("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb");
    assert_eq!(
        verifier().verify(now(), &report, &chain, &n).unwrap_err(),
        GpuError::Signature
    );
}

fn hopper_550(dir: &Path) -> (Vec<u8>, Vec<u8>, [u8; 32]) {
    (
        hex_file(dir, "gpu/hopper_550.90.07_report.hex"),
        read(dir, "gpu/hopper_550.90.07_certchain.pem"),
        nonce("931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"),
    )
}

#[test]
fn wrong_nonce_fails_with_nonce_mismatch() {
    let Some(dir) = vectors() else { return };
    let (report, chain, _) = hopper_550(&dir);
    // nvtrust's config.py default nonce, which does not belong to this report.
    let n = nonce("4cff7f5380ead8fad8ec2c531c110aca4302a88f603792801a8ca29ee151af2e");
    assert_eq!(
        verifier().verify(now(), &report, &chain, &n).unwrap_err(),
        GpuError::NonceMismatch
    );
    assert_eq!(
        verifier()
            .verify(now(), &report, &chain, &[0; 32])
            .unwrap_err(),
        GpuError::NonceMismatch
    );
}

#[test]
fn wrong_root_fails_with_untrusted_root() {
    let Some(dir) = vectors() else { return };
    let (report, chain, n) = hopper_550(&dir);
    let ders = decode_chain(&chain).unwrap();
    // Pin another certificate (the GH100 Identity CA) instead of the Device Identity CA.
    let other = GpuVerifier::new(ders[3].clone());
    assert_eq!(
        other.verify(now(), &report, &chain, &n).unwrap_err(),
        GpuError::UntrustedRoot
    );
    // A chain whose 5th certificate is not the pinned root, even if it is a valid CA.
    let mut swapped = ders.clone();
    swapped[4] = ders[3].clone();
    assert_eq!(
        verifier()
            .verify(now(), &report, &swapped.concat(), &n)
            .unwrap_err(),
        GpuError::UntrustedRoot
    );
}

#[test]
fn chain_forms_and_chain_errors() {
    let Some(dir) = vectors() else { return };
    let (report, chain, n) = hopper_550(&dir);
    let v = verifier();
    let ders = decode_chain(&chain).unwrap();
    assert_eq!(ders.len(), 5);
    // Concatenated DER is accepted as well as PEM.
    v.verify(now(), &report, &ders.concat(), &n).unwrap();
    // Exactly 5 certificates.
    assert_eq!(
        v.verify(now(), &report, &ders[1..].concat(), &n)
            .unwrap_err(),
        GpuError::ChainLength(4)
    );
    let mut six = ders.clone();
    six.insert(1, ders[1].clone());
    assert_eq!(
        v.verify(now(), &report, &six.concat(), &n).unwrap_err(),
        GpuError::ChainLength(6)
    );
    // Chain in the wrong order: the leaf's issuer is not the next certificate.
    let mut reordered = ders.clone();
    reordered.swap(1, 2);
    assert!(matches!(
        v.verify(now(), &report, &reordered.concat(), &n)
            .unwrap_err(),
        GpuError::BadCert { index: 0, .. } | GpuError::BadCert { index: 1, .. }
    ));
    // A flipped bit in a certificate signature.
    let mut forged = ders;
    let last = forged[2].len() - 5;
    forged[2][last] ^= 0x01;
    assert_eq!(
        v.verify(now(), &report, &forged.concat(), &n).unwrap_err(),
        GpuError::ChainSignature { index: 2 }
    );
    // Validity: before the leaf's notBefore (2020-10-17) and after 9999-12-31.
    assert!(matches!(
        v.verify(UnixTime(1_500_000_000), &report, &chain, &n)
            .unwrap_err(),
        GpuError::CertNotYetValid { index: 0, .. }
    ));
    assert!(matches!(
        v.verify(UnixTime(253_402_300_800), &report, &chain, &n)
            .unwrap_err(),
        GpuError::CertExpired { index: 0, .. }
    ));
    // The report's leaf is another GPU's: the signature does not verify.
    let other_chain = read(&dir, "gpu/hopper_580.159.03_certchain.pem");
    assert_eq!(
        v.verify(now(), &report, &other_chain, &n).unwrap_err(),
        GpuError::Signature
    );
    // Garbage chains.
    assert!(matches!(
        v.verify(now(), &report, b"not a chain", &n).unwrap_err(),
        GpuError::ChainEncoding(_)
    ));
    assert!(matches!(
        v.verify(now(), &report, b"", &n).unwrap_err(),
        GpuError::ChainEncoding(_)
    ));
}

fn golden_hex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

#[test]
fn hopper_580_parse_matches_nvat_golden() {
    let Some(dir) = vectors() else { return };
    let report = SpdmReport::parse(&hex_file(&dir, "gpu/hopper_580.159.03_report.hex")).unwrap();
    let req: Value = serde_json::from_slice(&read(
        &dir,
        "expected-parse/hopper_580.159.03_request_parsed.json",
    ))
    .unwrap();
    let resp: Value = serde_json::from_slice(&read(
        &dir,
        "expected-parse/hopper_580.159.03_response_parsed.json",
    ))
    .unwrap();
    let bytes = report.as_bytes();
    assert_eq!(golden_hex(&req["SPDMVersion"]), [bytes[0]]);
    assert_eq!(golden_hex(&req["RequestResponseCode"]), [bytes[1]]);
    assert_eq!(golden_hex(&req["Param1"]), [bytes[2]]);
    assert_eq!(golden_hex(&req["Param2"]), [bytes[3]]);
    assert_eq!(golden_hex(&req["Nonce"]), report.request_nonce());
    assert_eq!(golden_hex(&req["SlotIDParam"]), [bytes[36]]);

    assert_eq!(golden_hex(&resp["SPDMVersion"]), [bytes[37]]);
    assert_eq!(golden_hex(&resp["RequestResponseCode"]), [bytes[38]]);
    assert_eq!(golden_hex(&resp["Nonce"]), report.response_nonce());
    assert_eq!(golden_hex(&resp["Signature"]), report.signature());
    assert_eq!(
        resp["NumberOfBlocks"].as_u64().unwrap(),
        report.measurements().len() as u64
    );
    assert_eq!(
        resp["MeasurementRecordLength"].as_u64().unwrap(),
        55 * report.measurements().len() as u64
    );
    let blocks = resp["MeasurementRecord"]["MeasurementBlocks"]
        .as_object()
        .unwrap();
    assert_eq!(blocks.len(), report.measurements().len());
    for block in report.measurements() {
        let g = &blocks[&block.index.to_string()];
        assert_eq!(
            g["DMTFSpecMeasurementValueType"].as_u64().unwrap(),
            u64::from(block.value_type)
        );
        assert_eq!(g["DMTFSpecMeasurementValueSize"].as_u64().unwrap(), 48);
        assert_eq!(golden_hex(&g["DMTFSpecMeasurementValue"]), block.digest);
    }

    let opaque = report.opaque();
    let total: usize = opaque.fields().iter().map(|f| 4 + f.value.len()).sum();
    assert_eq!(resp["OpaqueLength"].as_u64().unwrap(), total as u64);
    let fields = resp["OpaqueData"]["OpaqueDataField"].as_object().unwrap();
    let named = [
        ("OPAQUE_FIELD_ID_DRIVER_VERSION", t::DRIVER_VERSION),
        ("OPAQUE_FIELD_ID_GPU_INFO", t::GPU_INFO),
        ("OPAQUE_FIELD_ID_VBIOS_VERSION", t::VBIOS_VERSION),
        ("OPAQUE_FIELD_ID_NVDEC0_STATUS", t::NVDEC0_STATUS),
        ("OPAQUE_FIELD_ID_CPRINFO", t::CPRINFO),
        ("OPAQUE_FIELD_ID_BOARD_ID", t::BOARD_ID),
        ("OPAQUE_FIELD_ID_CHIP_SKU", t::CHIP_SKU),
        ("OPAQUE_FIELD_ID_CHIP_SKU_MOD", t::CHIP_SKU_MOD),
        ("OPAQUE_FIELD_ID_PROJECT", t::PROJECT),
        ("OPAQUE_FIELD_ID_PROJECT_SKU", t::PROJECT_SKU),
        ("OPAQUE_FIELD_ID_PROJECT_SKU_MOD", t::PROJECT_SKU_MOD),
        ("OPAQUE_FIELD_ID_FWID", t::FWID),
        (
            "OPAQUE_FIELD_ID_PROTECTED_PCIE_STATUS",
            t::PROTECTED_PCIE_STATUS,
        ),
    ];
    for (key, kind) in named {
        assert_eq!(golden_hex(&fields[key]), opaque.get(kind).unwrap(), "{key}");
    }
    let counts: Vec<u64> = fields["OPAQUE_FIELD_ID_MSRSCNT"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    let ours: Vec<u64> = opaque
        .measurement_counts()
        .unwrap()
        .into_iter()
        .map(u64::from)
        .collect();
    assert_eq!(counts, ours);
    // Typed views of the same fields.
    assert_eq!(opaque.driver_version().as_deref(), Some("580.159.03"));
    assert_eq!(opaque.vbios_version().as_deref(), Some("96.00.74.00.20"));
    assert_eq!(opaque.board_id(), Some(0x04a1));
    assert_eq!(opaque.feature_flag(), Some(FeatureFlag::Spt));
    assert_eq!(opaque.opaque_data_version(), Some(1));
    assert_eq!(
        report.signed_bytes().len() + 96,
        report.as_bytes().len(),
        "the signed range is everything before the signature"
    );
}

#[test]
fn every_truncation_and_a_trailing_byte_are_rejected() {
    let Some(dir) = vectors() else { return };
    for name in [
        "gpu/hopper_550.90.07_report.hex",
        "gpu/blackwell_575.32_report.hex",
    ] {
        let report = hex_file(&dir, name);
        for len in 0..report.len() {
            match SpdmReport::parse(&report[..len]) {
                Err(GpuError::Truncated(_)) => {}
                other => panic!("{name} cut at {len}: {other:?}"),
            }
        }
        let mut long = report.clone();
        long.push(0);
        assert_eq!(
            SpdmReport::parse(&long).unwrap_err(),
            GpuError::TrailingBytes(1)
        );
    }
    let report = hex_file(&dir, "gpu/hopper_550.90.07_report.hex");
    assert_eq!(
        SpdmReport::parse(&report[..36]).unwrap_err(),
        GpuError::Truncated(ReportPart::Request)
    );
    assert_eq!(
        SpdmReport::parse(&report[..report.len() - 1]).unwrap_err(),
        GpuError::Truncated(ReportPart::Signature)
    );
}

#[test]
fn header_fields_are_checked() {
    let Some(dir) = vectors() else { return };
    let report = hex_file(&dir, "gpu/hopper_550.90.07_report.hex");
    let with = |at: usize, v: u8| {
        let mut r = report.clone();
        r[at] = v;
        SpdmReport::parse(&r).unwrap_err()
    };
    assert_eq!(with(0, 0x12), GpuError::Version(0x12));
    assert_eq!(with(1, 0x81), GpuError::RequestCode(0x81));
    assert!(matches!(with(2, 0x00), GpuError::Param { got: 0, .. }));
    assert!(matches!(with(3, 0x01), GpuError::Param { got: 1, .. }));
    assert!(matches!(with(36, 0x01), GpuError::Param { got: 1, .. }));
    assert_eq!(with(37, 0x10), GpuError::Version(0x10));
    assert_eq!(with(38, 0x61), GpuError::ResponseCode(0x61));
    assert!(matches!(with(39, 0x01), GpuError::Param { .. }));
    // NumberOfBlocks 63 while the record holds 64.
    assert!(matches!(with(41, 63), GpuError::MeasurementRecord(_)));
    // First block: index 0, spec 2, size 52, raw bit stream, value size 47.
    let block = 37 + 8;
    assert!(matches!(
        with(block, 0),
        GpuError::MeasurementBlock { index: 0, .. }
    ));
    assert!(matches!(
        with(block + 1, 2),
        GpuError::MeasurementBlock { index: 1, .. }
    ));
    assert!(matches!(
        with(block + 2, 52),
        GpuError::MeasurementBlock { index: 1, .. }
    ));
    assert!(matches!(
        with(block + 4, 0x81),
        GpuError::MeasurementBlock { index: 1, .. }
    ));
    assert!(matches!(
        with(block + 5, 47),
        GpuError::MeasurementBlock { index: 1, .. }
    ));
    // Second block with the first block's index.
    assert_eq!(with(block + 55, 1), GpuError::MeasurementIndexOrder(1));
}

/// Offsets of the opaque data in a report: (OpaqueLength offset, opaque start, opaque end).
fn opaque_span(report: &[u8]) -> (usize, usize, usize) {
    let l1 = usize::from(report[42]) | usize::from(report[43]) << 8 | usize::from(report[44]) << 16;
    let len_at = 37 + 8 + l1 + 32;
    let l2 = usize::from(u16::from_le_bytes([report[len_at], report[len_at + 1]]));
    (len_at, len_at + 2, len_at + 2 + l2)
}

/// The report with its opaque data replaced (the signature is then invalid, which the parser
/// does not see).
fn with_opaque(report: &[u8], opaque: &[u8]) -> Vec<u8> {
    let (len_at, start, end) = opaque_span(report);
    let mut out = report[..len_at].to_vec();
    out.extend_from_slice(&u16::try_from(opaque.len()).unwrap().to_le_bytes());
    out.extend_from_slice(opaque);
    out.extend_from_slice(&report[end..]);
    assert_eq!(out.len(), report.len() - (end - start) + opaque.len());
    out
}

fn tlv(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&u16::try_from(value.len()).unwrap().to_le_bytes());
    out.extend_from_slice(value);
    out
}

#[test]
fn opaque_data_rules() {
    let Some(dir) = vectors() else { return };
    let report = hex_file(&dir, "gpu/hopper_550.90.07_report.hex");
    let (_, start, end) = opaque_span(&report);
    let opaque = report[start..end].to_vec();
    let parse = |o: &[u8]| SpdmReport::parse(&with_opaque(&report, o));
    // Re-assembling the same opaque data gives the same report.
    assert_eq!(with_opaque(&report, &opaque), report);
    parse(&opaque).unwrap();
    parse(&[]).unwrap();

    let dup = [opaque.clone(), tlv(t::DRIVER_VERSION, b"1.0\0")].concat();
    assert_eq!(
        parse(&dup).unwrap_err(),
        GpuError::DuplicateOpaqueType(t::DRIVER_VERSION)
    );
    let unknown = [opaque.clone(), tlv(99, b"x")].concat();
    assert_eq!(
        parse(&unknown).unwrap_err(),
        GpuError::UnknownOpaqueType(99)
    );
    assert_eq!(
        parse(&tlv(255, b"")).unwrap_err(),
        GpuError::UnknownOpaqueType(255)
    );
    // A TLV claiming more bytes than remain.
    let mut over = [opaque.clone(), tlv(t::CHIP_INFO, b"GH100\0")].concat();
    let n = over.len();
    over[n - 8] = 0xFF;
    assert_eq!(
        parse(&over).unwrap_err(),
        GpuError::OpaqueOverflow(t::CHIP_INFO)
    );
    // Half a TLV header at the end.
    let half = [opaque, vec![0x23, 0x00]].concat();
    assert_eq!(
        parse(&half).unwrap_err(),
        GpuError::Truncated(ReportPart::OpaqueData)
    );
    assert!(matches!(
        parse(&tlv(t::MSRSCNT, &[0; 255])).unwrap_err(),
        GpuError::OpaqueSize {
            kind: t::MSRSCNT,
            size: 255,
            ..
        }
    ));
    assert!(matches!(
        parse(&tlv(t::SWITCH_PDI, &[0; 12])).unwrap_err(),
        GpuError::OpaqueSize {
            kind: t::SWITCH_PDI,
            ..
        }
    ));
    assert!(matches!(
        parse(&tlv(t::FWID, &[0; 47])).unwrap_err(),
        GpuError::OpaqueSize { kind: t::FWID, .. }
    ));
    assert!(matches!(
        parse(&tlv(t::DRIVER_VERSION, b"550.90.07")).unwrap_err(),
        GpuError::OpaqueValue {
            kind: t::DRIVER_VERSION,
            ..
        }
    ));
    assert!(matches!(
        parse(&tlv(t::FEATURE_FLAG, &[3, 0])).unwrap_err(),
        GpuError::OpaqueValue {
            kind: t::FEATURE_FLAG,
            ..
        }
    ));
    // The feature flag is only read from opaque data version 1 on.
    let flag = [
        tlv(t::OPAQUE_DATA_VERSION, &[0, 0]),
        tlv(t::FEATURE_FLAG, &[2, 0]),
    ]
    .concat();
    assert_eq!(parse(&flag).unwrap().opaque().feature_flag(), None);
    let flag = [
        tlv(t::OPAQUE_DATA_VERSION, &[1, 0]),
        tlv(t::FEATURE_FLAG, &[2, 0]),
    ]
    .concat();
    assert_eq!(
        parse(&flag).unwrap().opaque().feature_flag(),
        Some(FeatureFlag::Ppcie)
    );
}

#[test]
fn no_single_byte_mutation_panics_or_verifies() {
    let Some(dir) = vectors() else { return };
    let (report, chain, n) = hopper_550(&dir);
    let v = verifier();
    for at in 0..report.len() {
        for x in [0x01u8, 0x80, 0xFF] {
            let mut r = report.clone();
            r[at] ^= x;
            let _ = SpdmReport::parse(&r);
            // Verification (chain included) on a sample of the positions: none may pass.
            if x == 0x01 && at % 7 == 0 {
                assert!(v.verify(now(), &r, &chain, &n).is_err(), "flip at {at}");
            }
        }
    }
    let mut c = chain;
    for at in (0..c.len()).step_by(13) {
        c[at] ^= 0x01;
        assert!(
            v.verify(now(), &report, &c, &n).is_err(),
            "chain flip at {at}"
        );
        c[at] ^= 0x01;
    }
}

/// A generated P-384 hierarchy shaped like NVIDIA's (root, identity, provisioner, BROM, leaf),
/// to sign reports with keys the tests hold: it reaches the checks a real report cannot (FWID
/// mismatch, architecture, CA flags).
mod synthetic {
    use std::str::FromStr;
    use std::time::Duration;

    use p384::ecdsa::signature::Signer;
    use p384::ecdsa::{DerSignature, Signature, SigningKey};
    use x509_cert::builder::{Builder, CertificateBuilder, Profile};
    use x509_cert::der::asn1::GeneralizedTime;
    use x509_cert::der::{Any, Decode, Encode};
    use x509_cert::ext::AsExtension;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};

    /// The Hopper FWID extension (2.23.133.5.4.1) with a given value.
    struct HopperFwid(Any);

    impl x509_cert::der::oid::AssociatedOid for HopperFwid {
        const OID: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.23.133.5.4.1");
    }

    impl Encode for HopperFwid {
        fn encoded_len(&self) -> x509_cert::der::Result<x509_cert::der::Length> {
            self.0.encoded_len()
        }
        fn encode(&self, w: &mut impl x509_cert::der::Writer) -> x509_cert::der::Result<()> {
            self.0.encode(w)
        }
    }

    impl AsExtension for HopperFwid {
        fn critical(&self, _: &Name, _: &[x509_cert::ext::Extension]) -> bool {
            false
        }
    }

    /// `SEQUENCE { INTEGER 1, SEQUENCE {}, SEQUENCE { OID sha384, OCTET STRING fwid } }`.
    fn hopper_fwid_value(fwid: &[u8; 48]) -> Any {
        let mut inner = vec![
            0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
        ];
        inner.extend_from_slice(&[0x04, 0x30]);
        inner.extend_from_slice(fwid);
        let mut body = vec![0x02, 0x01, 0x01, 0x30, 0x00, 0x30, inner.len() as u8];
        body.extend_from_slice(&inner);
        let mut der = vec![0x30, body.len() as u8];
        der.extend_from_slice(&body);
        Any::from_der(&der).unwrap()
    }

    fn validity() -> Validity {
        let t = |s| {
            Time::GeneralTime(GeneralizedTime::from_unix_duration(Duration::from_secs(s)).unwrap())
        };
        Validity {
            not_before: t(1_600_000_000),
            not_after: t(4_000_000_000),
        }
    }

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 48]).unwrap()
    }

    fn spki(key: &SigningKey) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned::from_key(*key.verifying_key()).unwrap()
    }

    /// What the chain should look like.
    pub struct Shape {
        /// CN of the BROM (the leaf's issuer): the architecture.
        pub brom_cn: &'static str,
        /// FWID in the leaf's extension; `None` leaves it out.
        pub leaf_fwid: Option<[u8; 48]>,
        /// Issue the provisioner CA as a leaf (no CA flag).
        pub provisioner_not_ca: bool,
    }

    /// A 5-certificate chain (DER, leaf first) and the leaf key.
    pub fn chain(shape: &Shape) -> (Vec<Vec<u8>>, SigningKey) {
        let names = [
            "CN=Test Device Identity CA,O=Test".to_owned(),
            "CN=Test GH100 Identity,O=Test".to_owned(),
            "CN=Test Provisioner ICA,O=Test".to_owned(),
            format!("CN={},O=Test", shape.brom_cn),
            "CN=Test FMC LF,O=Test".to_owned(),
        ];
        let names: Vec<Name> = names.iter().map(|n| Name::from_str(n).unwrap()).collect();
        let keys: Vec<SigningKey> = (1..=5).map(key).collect();
        let mut ders = Vec::new();
        for i in 0..5 {
            let profile = match i {
                0 => Profile::Root,
                2 if shape.provisioner_not_ca => Profile::Leaf {
                    issuer: names[1].clone(),
                    enable_key_agreement: false,
                    enable_key_encipherment: false,
                },
                4 => Profile::Leaf {
                    issuer: names[3].clone(),
                    enable_key_agreement: false,
                    enable_key_encipherment: false,
                },
                _ => Profile::SubCA {
                    issuer: names[i - 1].clone(),
                    path_len_constraint: None,
                },
            };
            let signer = &keys[i.saturating_sub(1)];
            let mut builder = CertificateBuilder::new(
                profile,
                SerialNumber::from(i as u32 + 1),
                validity(),
                names[i].clone(),
                spki(&keys[i]),
                signer,
            )
            .unwrap();
            if i == 4
                && let Some(fwid) = shape.leaf_fwid
            {
                builder
                    .add_extension(&HopperFwid(hopper_fwid_value(&fwid)))
                    .unwrap();
            }
            let cert = builder.build::<DerSignature>().unwrap();
            ders.push(cert.to_der().unwrap());
        }
        ders.reverse();
        let leaf_key = keys[4].clone();
        (ders, leaf_key)
    }

    /// `report` with its signature replaced by one from `key`.
    pub fn resign(report: &[u8], key: &SigningKey) -> Vec<u8> {
        let (signed, _) = report.split_at(report.len() - 96);
        let sig: Signature = key.sign(signed);
        let mut out = signed.to_vec();
        out.extend(sig.to_bytes().iter().copied());
        out
    }
}

#[test]
fn synthetic_chain_reaches_fwid_arch_and_ca_checks() {
    let Some(dir) = vectors() else { return };
    let (report, _, n) = hopper_550(&dir);
    let fwid: [u8; 48] = SpdmReport::parse(&report).unwrap().opaque().fwid().unwrap();
    let run = |shape: synthetic::Shape| {
        let (ders, leaf) = synthetic::chain(&shape);
        let verifier = GpuVerifier::new(ders[4].clone());
        verifier.verify(
            now(),
            &synthetic::resign(&report, &leaf),
            &ders.concat(),
            &n,
        )
    };
    let ok = run(synthetic::Shape {
        brom_cn: "GH100 A01 GSP BROM",
        leaf_fwid: Some(fwid),
        provisioner_not_ca: false,
    })
    .unwrap();
    assert_eq!(ok.arch, GpuArch::Hopper);
    assert!(ok.claims.fwid_checked);

    let mut other = fwid;
    other[0] ^= 1;
    assert_eq!(
        run(synthetic::Shape {
            brom_cn: "GH100 A01 GSP BROM",
            leaf_fwid: Some(other),
            provisioner_not_ca: false,
        })
        .unwrap_err(),
        GpuError::FwidMismatch
    );
    assert!(matches!(
        run(synthetic::Shape {
            brom_cn: "GH100 A01 GSP BROM",
            leaf_fwid: None,
            provisioner_not_ca: false,
        })
        .unwrap_err(),
        GpuError::FwidExtension(_)
    ));
    assert_eq!(
        run(synthetic::Shape {
            brom_cn: "GX200 A01 GSP BROM",
            leaf_fwid: Some(fwid),
            provisioner_not_ca: false,
        })
        .unwrap_err(),
        GpuError::UnsupportedArch("GX200 A01 GSP BROM".to_owned())
    );
    // A Blackwell BROM name needs the DICE TcbInfo extension, which this leaf lacks.
    assert!(matches!(
        run(synthetic::Shape {
            brom_cn: "GB100 A01 GSP BROM",
            leaf_fwid: Some(fwid),
            provisioner_not_ca: false,
        })
        .unwrap_err(),
        GpuError::FwidExtension(_)
    ));
    assert!(matches!(
        run(synthetic::Shape {
            brom_cn: "GH100 A01 GSP BROM",
            leaf_fwid: Some(fwid),
            provisioner_not_ca: true,
        })
        .unwrap_err(),
        GpuError::BadCert { index: 2, .. }
    ));
}
