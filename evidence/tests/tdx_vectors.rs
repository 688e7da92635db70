//! TDX over real quotes and Intel-signed collateral (`shared/vectors/tdx`, read in place): every
//! outcome of that folder's README summary table at its stated time, the collateral forms, and
//! negative cases made by mutating one field of a real input.

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

use warden_evidence::UnixTime;
use warden_evidence::tdx::{
    AddOutcome, Collateral, CollateralItem, CollateralSet, PckCa, Quote, TdBody, TdxError,
    TdxVerifier, VerifiedQuote,
};

use common::{at, read};

fn vectors() -> Option<PathBuf> {
    common::vectors("tdx")
}

fn verifier(dir: &Path) -> TdxVerifier {
    TdxVerifier::new(read(dir, "intel_sgx_root_ca.der"))
}

const PHALA_V4: &str = "phala_tdx_quote";
const PHALA_V4_COLLATERAL: &str = "phala_tdx_quote_collateral.json";
const PHALA_V5: &str = "phala_tdx_quote_outdated";
const PHALA_V5_COLLATERAL: &str = "phala_tdx_quote_outdated_collateral.json";
const GOTDX_SPR: &str = "gotdx_spr_quote_v4.dat";
const GOTDX_V5: &str = "gotdx_quote_v5_sample.dat";
const GOTDX_COLLATERAL: [&str; 7] = [
    "gotdx_pck_crl_issuer_chain.pem",
    "gotdx_pck_crl_platform.der",
    "gotdx_qeidentity_response.json",
    "gotdx_root_ca_crl.der",
    "gotdx_tcb_signing_issuer_chain.pem",
    "gotdx_tcbinfo_response_fmspc50806f000000.json",
    "gotdx_tcbinfo_response_v5_fmspc90c06f000000.json",
];
/// go-tdx-guest appended this to its SPR quote to test its own parser.
const GOTDX_TRAILER: &[u8] = b"\nextra bytes(only for testing purpose)\n";

const PHALA_V4_TIME: &str = "2025-06-25T00:00:00Z";
const PHALA_V5_TIME: &str = "2026-02-20T00:00:00Z";
const GOTDX_TIME: &str = "2023-07-01T01:00:00Z";

/// A quote as a strict parser must take it: the phala v4 sample carries 70 zero bytes of buffer
/// padding and the go-tdx-guest SPR sample a text trailer, both outside the quote.
fn quote_bytes(dir: &Path, name: &str) -> Vec<u8> {
    let bytes = read(dir, name);
    match name {
        PHALA_V4 => {
            let (quote, padding) = bytes.split_at(bytes.len() - 70);
            assert!(padding.iter().all(|&b| b == 0));
            quote.to_vec()
        }
        GOTDX_SPR => bytes.strip_suffix(GOTDX_TRAILER).unwrap().to_vec(),
        _ => bytes,
    }
}

fn quote(dir: &Path, name: &str) -> Quote {
    Quote::parse(&quote_bytes(dir, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn set_from(dir: &Path, files: &[&str]) -> CollateralSet {
    let mut set = CollateralSet::new();
    for file in files {
        for item in
            CollateralItem::parse_file(&read(dir, file)).unwrap_or_else(|e| panic!("{file}: {e}"))
        {
            set.add(item);
        }
    }
    set
}

/// The collateral for `quote` from `set` selected at `now`.
fn select(set: &CollateralSet, quote: &Quote, now: UnixTime) -> Result<Collateral, TdxError> {
    set.select(&quote.pck().unwrap(), now)
}

fn verify_at(
    dir: &Path,
    quote: &Quote,
    files: &[&str],
    now: UnixTime,
) -> Result<VerifiedQuote, TdxError> {
    let collateral = select(&set_from(dir, files), quote, now)?;
    verifier(dir).verify(now, quote, &collateral)
}

/// Byte offsets of a parsed quote's variable part.
struct Layout {
    body: usize,
    sig_len: usize,
    att_key: usize,
    cert_type: usize,
    cert_len: usize,
    qe_report: usize,
    auth_len: usize,
    auth: usize,
    pck_type: usize,
    pck_len: usize,
    pck: usize,
}

impl Layout {
    fn of(q: &[u8]) -> Self {
        let u16_at = |o: usize| usize::from(u16::from_le_bytes([q[o], q[o + 1]]));
        let (body, body_len) = match q[0] {
            4 => (48, 584),
            _ => (
                54,
                usize::try_from(u32::from_le_bytes(q[50..54].try_into().unwrap())).unwrap(),
            ),
        };
        let sig_len = body + body_len;
        let att_key = sig_len + 4 + 64;
        let cert_type = att_key + 64;
        let cert_len = cert_type + 2;
        let qe_report = cert_len + 4;
        let auth_len = qe_report + 384 + 64;
        let auth = auth_len + 2;
        let pck_type = auth + u16_at(auth_len);
        let pck_len = pck_type + 2;
        Self {
            body,
            sig_len,
            att_key,
            cert_type,
            cert_len,
            qe_report,
            auth_len,
            auth,
            pck_type,
            pck_len,
            pck: pck_len + 4,
        }
    }
}

fn put_u32(q: &mut [u8], at: usize, v: usize) {
    q[at..at + 4].copy_from_slice(&u32::try_from(v).unwrap().to_le_bytes());
}

/// The quote with its PCK certification data replaced by `pem`, every length fixed up.
fn with_pck_chain(q: &[u8], pem: &[u8]) -> Vec<u8> {
    let l = Layout::of(q);
    let mut out = q[..l.pck].to_vec();
    out.extend_from_slice(pem);
    put_u32(&mut out, l.pck_len, pem.len());
    let len = out.len();
    put_u32(&mut out, l.cert_len, len - l.qe_report);
    put_u32(&mut out, l.sig_len, len - l.sig_len - 4);
    out
}

fn flip(mut bytes: Vec<u8>, at: usize) -> Vec<u8> {
    bytes[at] ^= 1;
    bytes
}

// ---------------------------------------------------------------- README summary table

#[test]
fn phala_v4_is_up_to_date_at_2025_06_25() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, PHALA_V4);
    assert_eq!(
        Quote::parse(&raw).unwrap_err(),
        TdxError::TrailingBytes {
            what: "quote signature data",
            count: 70
        }
    );
    let q = Quote::parse_allow_zero_padding(&raw).unwrap();
    assert_eq!(q.as_bytes(), quote_bytes(&dir, PHALA_V4));
    assert_eq!(q.version(), 4);
    assert_eq!(q.body_type(), None);

    let v = verify_at(&dir, &q, &[PHALA_V4_COLLATERAL], at(PHALA_V4_TIME)).unwrap();
    let c = &v.claims;
    assert_eq!(c.tcb_status, "UpToDate");
    assert!(c.advisory_ids.is_empty());
    assert_eq!(c.qe_tcb_status, "UpToDate");
    assert_eq!(c.version, 4);
    assert_eq!(c.body, TdBody::Td10);
    assert_eq!(
        c.mr_td,
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    assert_eq!(
        c.rtmr0,
        "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0"
    );
    assert_eq!(
        c.rtmr1,
        "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378"
    );
    assert_eq!(
        c.rtmr2,
        "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132"
    );
    assert_eq!(c.rtmr3, "00".repeat(48));
    assert_eq!(c.mr_config_id, "00".repeat(48));
    assert_eq!(c.mr_owner, "00".repeat(48));
    assert_eq!(
        c.mr_seam,
        "5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1"
    );
    assert_eq!(c.td_attributes.raw, "0000001000000000");
    assert!(c.td_attributes.sept_ve_disable);
    assert!(!c.td_attributes.debug && !c.td_attributes.migratable);
    assert!(!c.td_attributes.reserved_bits_set);
    assert_eq!(c.xfam, "e702060000000000");
    assert_eq!(c.tee_tcb_svn, "06010300000000000000000000000000");
    assert_eq!(c.tee_tcb_svn2, None);
    assert_eq!(c.mr_service_td, None);
    assert_eq!(
        c.report_data,
        "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20"
    );
    assert_eq!(c.fmspc, "b0c06f000000");
    assert_eq!(c.pce_id, "0000");
    assert_eq!(c.pck_ca, PckCa::Platform);
    assert_eq!(c.tcb_evaluation_data_number, 17);
    assert_eq!(c.collateral_latest_issue, "2025-06-19T10:32:27Z");
    assert_eq!(c.collateral_earliest_expiration, "2025-07-19T10:00:35Z");
    // The flag dcap-qvl's strict policy rejects (README): policy's call, so it is a claim.
    assert_eq!(c.dynamic_platform, Some(true));

    let json = serde_json::to_value(c).unwrap();
    assert_eq!(json["body"], "td10");
    assert_eq!(json["pck_ca"], "platform");
    assert_eq!(json["td_attributes"]["sept_ve_disable"], true);
    assert!(json["tee_tcb_svn2"].is_null());
}

#[test]
fn phala_v4_tcb_info_expired_at_2026_01_01() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, PHALA_V4);
    let set = set_from(&dir, &[PHALA_V4_COLLATERAL]);
    let now = at("2026-01-01T00:00:00Z");

    // Selection refuses the stale piece first, naming the FMSPC and the expiry.
    let err = select(&set, &q, now).unwrap_err();
    assert_eq!(
        err,
        TdxError::StaleCollateral {
            fmspc: "b0c06f000000".to_owned(),
            item: "tcb-info",
            next_update: at("2025-07-19T10:16:03Z"),
        }
    );
    assert_eq!(
        err.to_string(),
        "tcb-info collateral for FMSPC b0c06f000000 is stale: nextUpdate was 2025-07-19T10:16:03Z"
    );

    // Collateral selected while fresh and used later: dcap-qvl's own check.
    let collateral = select(&set, &q, at(PHALA_V4_TIME)).unwrap();
    let err = verifier(&dir).verify(now, &q, &collateral).unwrap_err();
    assert_eq!(
        err,
        TdxError::CollateralExpired {
            what: "tcb-info",
            upstream: "TCBInfo expired".to_owned()
        }
    );
}

#[test]
fn phala_v5_td15_has_no_matching_tcb_level_at_2026_02_20() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, PHALA_V5);
    assert_eq!(q.version(), 5);
    assert_eq!(q.body_type(), Some(3));
    assert!(q.body().is_td15());
    assert_eq!(q.pck().unwrap().fmspc, [0x90, 0xc0, 0x6f, 0, 0, 0]);
    let err = verify_at(&dir, &q, &[PHALA_V5_COLLATERAL], at(PHALA_V5_TIME)).unwrap_err();
    assert_eq!(
        err,
        TdxError::NoMatchingTcbLevel {
            upstream: "No matching TCB level found".to_owned()
        }
    );
}

/// The go-tdx-guest collateral as a directory of files with neutral names: each file is
/// classified by its content.
fn gotdx_directory(dir: &Path) -> CollateralSet {
    let tmp = tempfile::tempdir().unwrap();
    for (i, name) in GOTDX_COLLATERAL.iter().enumerate() {
        std::fs::copy(dir.join(name), tmp.path().join(format!("item{i}"))).unwrap();
    }
    let mut set = CollateralSet::new();
    for entry in std::fs::read_dir(tmp.path()).unwrap() {
        let path = entry.unwrap().path();
        for item in CollateralItem::parse_file(&std::fs::read(&path).unwrap()).unwrap() {
            assert_eq!(set.add(item), AddOutcome::Added, "{}", path.display());
        }
    }
    let kinds: Vec<_> = set.items().map(|i| (i.kind(), i.key())).collect();
    assert_eq!(kinds.len(), 7);
    assert!(kinds.contains(&("tcb-info", "50806f000000".to_owned())));
    assert!(kinds.contains(&("tcb-info", "90c06f000000".to_owned())));
    assert!(kinds.contains(&("qe-identity", "td_qe".to_owned())));
    assert!(kinds.contains(&("root-ca-crl", "root".to_owned())));
    assert!(kinds.contains(&("pck-crl", "platform".to_owned())));
    assert!(kinds.contains(&("tcb-signing-chain", "intel".to_owned())));
    assert!(kinds.contains(&("pck-crl-issuer-chain", "platform".to_owned())));
    set
}

#[test]
fn gotdx_spr_v4_has_no_matching_tcb_level_at_2023_07_01() {
    let Some(dir) = vectors() else { return };
    let raw = read(&dir, GOTDX_SPR);
    assert_eq!(
        Quote::parse(&raw).unwrap_err(),
        TdxError::TrailingBytes {
            what: "quote signature data",
            count: GOTDX_TRAILER.len()
        }
    );
    // The trailer is text, not padding: tolerated by neither parser.
    assert!(matches!(
        Quote::parse_allow_zero_padding(&raw).unwrap_err(),
        TdxError::TrailingBytes { .. }
    ));
    let q = quote(&dir, GOTDX_SPR);
    let pck = q.pck().unwrap();
    assert_eq!(pck.fmspc, [0x50, 0x80, 0x6f, 0, 0, 0]);
    assert_eq!(pck.ca, PckCa::Platform);
    // The TD lacks SEPT_VE_DISABLE; dcap-qvl stops at the TCB level before judging attributes.
    assert!(!q.body().td_attributes().sept_ve_disable());
    assert!(q.body().td_attributes().pks());

    let set = gotdx_directory(&dir);
    let now = at(GOTDX_TIME);
    let collateral = select(&set, &q, now).unwrap();
    assert_eq!(
        verifier(&dir).verify(now, &q, &collateral).unwrap_err(),
        TdxError::NoMatchingTcbLevel {
            upstream: "No matching TCB level found".to_owned()
        }
    );

    // README: "QE Identity expired" at 2023-07-10, TCB info not yet valid at 2023-06-10.
    let later = at("2023-07-10T00:00:00Z");
    assert_eq!(
        select(&set, &q, later).unwrap_err(),
        TdxError::StaleCollateral {
            fmspc: "50806f000000".to_owned(),
            item: "qe-identity",
            next_update: at("2023-07-08T07:24:59Z"),
        }
    );
    assert_eq!(
        verifier(&dir).verify(later, &q, &collateral).unwrap_err(),
        TdxError::CollateralExpired {
            what: "qe-identity",
            upstream: "QE Identity expired".to_owned()
        }
    );
    let earlier = at("2023-06-10T00:00:00Z");
    let not_yet = TdxError::CollateralNotYetValid {
        fmspc: "50806f000000".to_owned(),
        item: "tcb-info",
        issue_date: at("2023-06-18T08:42:58Z"),
    };
    assert_eq!(select(&set, &q, earlier).unwrap_err(), not_yet);
    assert_eq!(
        verifier(&dir).verify(earlier, &q, &collateral).unwrap_err(),
        not_yet
    );
}

#[test]
fn gotdx_v5_with_phala_collateral_is_up_to_date_at_2026_02_20() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, GOTDX_V5);
    let now = at(PHALA_V5_TIME);
    let v = verify_at(&dir, &q, &[PHALA_V5_COLLATERAL], now).unwrap();
    let c = &v.claims;
    assert_eq!(c.tcb_status, "UpToDate");
    assert!(c.advisory_ids.is_empty());
    assert_eq!(c.version, 5);
    assert_eq!(c.body, TdBody::Td15);
    assert_eq!(c.fmspc, "90c06f000000");
    assert_eq!(
        c.mr_td,
        "7348651a34b2d2d3462822e3a750ec6110125f36757c78480bbfc69cc0d21fb001a1ced3ee19747dda8f750c3bc8f876"
    );
    assert_eq!(
        c.mr_seam,
        "7bf063280e94fb051f5dd7b1fc59ce9aac42bb961df8d44b709c9b0ff87a7b4df648657ba6d1189589feab1d5a3c9a9d"
    );
    assert_eq!(c.tee_tcb_svn, "0b010400000000000000000000000000");
    // The TDX module was updated under the running TD: the current TCB is newer.
    assert_eq!(
        c.tee_tcb_svn2.as_deref(),
        Some("0d010400000000000000000000000000")
    );
    assert_eq!(c.mr_service_td, Some("00".repeat(48)));
    assert_eq!(c.collateral_latest_issue, "2026-02-18T10:58:51Z");
    assert_eq!(c.collateral_earliest_expiration, "2026-03-20T10:41:15Z");

    // README D: go-tdx-guest's own v5 TCB info for the same FMSPC also gives UpToDate. In a
    // set already holding Phala's (same evaluation number 18, issued later), it is older and
    // is not taken (D7); alone with the rest, it is used.
    let gotdx_tcb_info = "gotdx_tcbinfo_response_v5_fmspc90c06f000000.json";
    let mut set = set_from(&dir, &[PHALA_V5_COLLATERAL]);
    let item = CollateralItem::parse_file(&read(&dir, gotdx_tcb_info))
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(item.tcb_evaluation_data_number(), Some(18));
    assert_eq!(set.add(item.clone()), AddOutcome::KeptExisting);
    let mut swapped = CollateralSet::new();
    for held in set.items().filter(|i| i.kind() != "tcb-info") {
        swapped.add(held.clone());
    }
    assert_eq!(swapped.add(item), AddOutcome::Added);
    let collateral = select(&swapped, &q, now).unwrap();
    assert_eq!(
        collateral.tcb_info().issue_date(),
        at("2026-02-01T14:49:26Z")
    );
    let v = verifier(&dir).verify(now, &q, &collateral).unwrap();
    assert_eq!(v.claims.tcb_status, "UpToDate");
    assert_eq!(
        v.claims.collateral_earliest_expiration,
        "2026-03-03T14:49:26Z"
    );
}

/// Every quote of the table with one REPORT_DATA bit flipped, at its time.
#[test]
fn report_data_bit_flip_breaks_the_quote_signature() {
    let Some(dir) = vectors() else { return };
    let cases: [(&str, &[&str], &str); 4] = [
        (PHALA_V4, &[PHALA_V4_COLLATERAL], PHALA_V4_TIME),
        (PHALA_V5, &[PHALA_V5_COLLATERAL], PHALA_V5_TIME),
        (GOTDX_SPR, &GOTDX_COLLATERAL, GOTDX_TIME),
        (GOTDX_V5, &[PHALA_V5_COLLATERAL], PHALA_V5_TIME),
    ];
    for (name, files, time) in cases {
        let bytes = quote_bytes(&dir, name);
        let report_data = Layout::of(&bytes).body + 520;
        let q = Quote::parse(&flip(bytes, report_data)).unwrap();
        assert_eq!(
            verify_at(&dir, &q, files, at(time)).unwrap_err(),
            TdxError::QuoteSignature {
                upstream: "ISV enclave report signature is invalid".to_owned()
            },
            "{name}"
        );
    }
}

// ---------------------------------------------------------------- collateral forms

#[test]
fn dcap_qvl_json_gives_six_items_that_round_trip() {
    let Some(dir) = vectors() else { return };
    for file in [PHALA_V4_COLLATERAL, PHALA_V5_COLLATERAL] {
        let items = CollateralItem::parse_file(&read(&dir, file)).unwrap();
        let kinds: Vec<_> = items.iter().map(CollateralItem::kind).collect();
        assert_eq!(
            kinds,
            [
                "tcb-info",
                "qe-identity",
                "root-ca-crl",
                "pck-crl",
                "tcb-signing-chain",
                "pck-crl-issuer-chain"
            ]
        );
        for item in &items {
            let again = CollateralItem::parse_file(&item.to_file_bytes()).unwrap();
            assert_eq!(again, vec![item.clone()], "{file}: {}", item.kind());
        }
    }
    // The split files: the DER CRLs and PEM chains are collateral; the bare signed objects
    // without their signature are not.
    let crl =
        CollateralItem::parse_file(&read(&dir, "phala_tdx_quote.collateral.pck_crl.der")).unwrap();
    assert_eq!(crl[0].kind(), "pck-crl");
    assert_eq!(crl[0].key(), "platform");
    assert!(matches!(
        CollateralItem::parse_file(&read(&dir, "phala_tdx_quote.collateral.tcb_info.json")),
        Err(TdxError::UnrecognizedCollateral { .. })
    ));
}

#[test]
fn other_files_are_not_collateral() {
    let Some(dir) = vectors() else { return };
    let found = |name: &str| match CollateralItem::parse_file(&read(&dir, name)) {
        Err(TdxError::UnrecognizedCollateral { found }) => found,
        other => panic!("{name}: {other:?}"),
    };
    assert_eq!(found(PHALA_V4), "a quote");
    assert_eq!(found(GOTDX_SPR), "a quote");
    assert_eq!(
        found("phala_tdx_quote.pck_chain.pem"),
        "a PCK certificate chain, which belongs in the quote"
    );
    assert_eq!(found("intel_sgx_root_ca.der"), "a DER certificate");
    assert_eq!(
        found("phala_tdx_quote.collateral.tcb_info.sig.bin"),
        "unknown bytes"
    );
}

#[test]
fn pem_crl_is_the_same_item_as_der() {
    let Some(dir) = vectors() else { return };
    let der = read(&dir, "gotdx_root_ca_crl.der");
    let pem = format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        base64_encode(&der)
    );
    assert_eq!(
        CollateralItem::parse_file(pem.as_bytes()).unwrap(),
        CollateralItem::parse_file(&der).unwrap()
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The exact signed bytes survive `to_file_bytes`/`parse_file`: a full verification still
/// passes the signature checks. Re-serialising the object breaks them.
#[test]
fn tcb_info_round_trip_keeps_the_signature_valid() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, GOTDX_V5);
    let now = at(PHALA_V5_TIME);
    let mut set = CollateralSet::new();
    for item in CollateralItem::parse_file(&read(&dir, PHALA_V5_COLLATERAL)).unwrap() {
        let bytes = item.to_file_bytes();
        for again in CollateralItem::parse_file(&bytes).unwrap() {
            set.add(again);
        }
    }
    let collateral = select(&set, &q, now).unwrap();
    assert_eq!(
        verifier(&dir)
            .verify(now, &q, &collateral)
            .unwrap()
            .claims
            .tcb_status,
        "UpToDate"
    );

    // The same content, serialised again by serde_json (another key order and spacing).
    let tcb = collateral.tcb_info();
    let value: serde_json::Value = serde_json::from_str(tcb.json()).unwrap();
    let reserialised = serde_json::to_string_pretty(&value).unwrap();
    assert_ne!(reserialised, tcb.json());
    let resigned = CollateralItem::parse_file(
        format!(
            "{{\"tcbInfo\":{reserialised},\"signature\":\"{}\"}}",
            hex::encode(tcb.signature())
        )
        .as_bytes(),
    )
    .unwrap();
    let mut bad = CollateralSet::new();
    for item in set.items().filter(|i| i.kind() != "tcb-info") {
        bad.add(item.clone());
    }
    bad.add(resigned.into_iter().next().unwrap());
    assert!(matches!(
        verifier(&dir).verify(now, &q, &select(&bad, &q, now).unwrap()),
        Err(TdxError::TcbInfoSignature { .. })
    ));
}

// ---------------------------------------------------------------- mutated verification

fn phala_v4_collateral(dir: &Path) -> Collateral {
    let q = quote(dir, PHALA_V4);
    select(
        &set_from(dir, &[PHALA_V4_COLLATERAL]),
        &q,
        at(PHALA_V4_TIME),
    )
    .unwrap()
}

fn verify_phala_v4(dir: &Path, bytes: &[u8], collateral: &Collateral, now: &str) -> TdxError {
    let q = Quote::parse(bytes).unwrap();
    verifier(dir).verify(at(now), &q, collateral).unwrap_err()
}

#[test]
fn qe_report_and_attestation_key_mutations() {
    let Some(dir) = vectors() else { return };
    let bytes = quote_bytes(&dir, PHALA_V4);
    let l = Layout::of(&bytes);
    let collateral = phala_v4_collateral(&dir);

    // T13: the QE report is signed by the PCK key.
    let err = verify_phala_v4(
        &dir,
        &flip(bytes.clone(), l.qe_report + 100),
        &collateral,
        PHALA_V4_TIME,
    );
    assert_eq!(
        err,
        TdxError::QeReportSignature {
            upstream: "Signature is invalid for qe_report in quote".to_owned()
        }
    );
    // T13: the QE report data binds the attestation key and the QE authentication data.
    let hash_mismatch = TdxError::QeReportData {
        upstream: "QE report hash mismatch".to_owned(),
    };
    let err = verify_phala_v4(
        &dir,
        &flip(bytes.clone(), l.auth),
        &collateral,
        PHALA_V4_TIME,
    );
    assert_eq!(err, hash_mismatch);
    let err = verify_phala_v4(
        &dir,
        &flip(bytes.clone(), l.att_key + 5),
        &collateral,
        PHALA_V4_TIME,
    );
    assert_eq!(err, hash_mismatch);
    // T12: the quote signature itself.
    let err = verify_phala_v4(
        &dir,
        &flip(bytes, l.sig_len + 4 + 10),
        &collateral,
        PHALA_V4_TIME,
    );
    assert!(matches!(err, TdxError::QuoteSignature { .. }), "{err:?}");
}

#[test]
fn collateral_signature_mutations() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, PHALA_V4);
    let c = phala_v4_collateral(&dir);
    let now = at(PHALA_V4_TIME);
    let rebuild = |edit: &dyn Fn(&mut dcap_qvl::QuoteCollateralV3)| {
        let mut dcap = c.as_dcap().clone();
        edit(&mut dcap);
        Collateral::from_dcap(&dcap).unwrap()
    };

    let bad = rebuild(&|d| d.tcb_info_signature[10] ^= 1);
    assert!(matches!(
        verifier(&dir).verify(now, &q, &bad),
        Err(TdxError::TcbInfoSignature { .. })
    ));
    // A signed value changed (the evaluation number), the JSON still well formed.
    let bad = rebuild(&|d| {
        d.tcb_info = d.tcb_info.replace(
            "\"tcbEvaluationDataNumber\":17",
            "\"tcbEvaluationDataNumber\":99",
        );
    });
    assert_eq!(bad.tcb_info().tcb_evaluation_data_number(), 99);
    assert!(matches!(
        verifier(&dir).verify(now, &q, &bad),
        Err(TdxError::TcbInfoSignature { .. })
    ));
    let bad = rebuild(&|d| d.qe_identity_signature[10] ^= 1);
    assert!(matches!(
        verifier(&dir).verify(now, &q, &bad),
        Err(TdxError::QeIdentitySignature { .. })
    ));
    // D9: a CRL whose signature does not verify.
    let last = c.as_dcap().root_ca_crl.len() - 1;
    let bad = rebuild(&|d| d.root_ca_crl[last] ^= 1);
    assert_eq!(
        verifier(&dir).verify(now, &q, &bad).unwrap_err(),
        TdxError::Crl {
            what: "root-ca-crl",
            upstream: "Failed to parse root CA CRL: InvalidCrlSignatureForPublicKey".to_owned()
        }
    );
    let last = c.as_dcap().pck_crl.len() - 1;
    let bad = rebuild(&|d| d.pck_crl[last] ^= 1);
    assert_eq!(
        verifier(&dir).verify(now, &q, &bad).unwrap_err(),
        TdxError::Crl {
            what: "pck-crl",
            upstream: "Failed to verify certificate chain: InvalidCrlSignatureForPublicKey"
                .to_owned()
        }
    );
}

#[test]
fn collateral_windows_at_their_edges() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, PHALA_V4);
    let c = phala_v4_collateral(&dir);
    // The PCK CRL expires (10:00:35) before the TCB info (10:16:03) and QE identity (10:32:27).
    let err = verifier(&dir)
        .verify(at("2025-07-19T10:10:00Z"), &q, &c)
        .unwrap_err();
    assert!(
        matches!(err, TdxError::CollateralExpired { what: "pck-crl", ref upstream }
            if upstream.starts_with("Failed to verify certificate chain: CrlExpired")),
        "{err:?}"
    );
    // The QE identity is issued (10:32:27) after the TCB info (10:16:03).
    let err = verifier(&dir)
        .verify(at("2025-06-19T10:20:00Z"), &q, &c)
        .unwrap_err();
    assert_eq!(
        err,
        TdxError::CollateralNotYetValid {
            fmspc: "b0c06f000000".to_owned(),
            item: "qe-identity",
            issue_date: at("2025-06-19T10:32:27Z"),
        }
    );
    // The root CA CRL (nextUpdate 2026-04-03) is checked before anything else.
    let q5 = quote(&dir, PHALA_V5);
    let c5 = select(
        &set_from(&dir, &[PHALA_V5_COLLATERAL]),
        &q5,
        at(PHALA_V5_TIME),
    )
    .unwrap();
    let err = verifier(&dir)
        .verify(at("2026-04-10T00:00:00Z"), &q5, &c5)
        .unwrap_err();
    assert!(
        matches!(err, TdxError::CollateralExpired { what: "root-ca-crl", ref upstream }
            if upstream.starts_with("CrlExpired")),
        "{err:?}"
    );
    assert_eq!(
        select(
            &set_from(&dir, &[PHALA_V5_COLLATERAL]),
            &q5,
            at("2026-04-10T00:00:00Z")
        )
        .unwrap_err(),
        TdxError::StaleCollateral {
            fmspc: "90c06f000000".to_owned(),
            item: "tcb-info",
            next_update: at("2026-03-20T10:58:51Z"),
        }
    );
}

/// D6: Intel-signed collateral of another platform (FMSPC 90c06f) for the b0c06f quote.
#[test]
fn collateral_of_another_platform() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, PHALA_V4);
    let other = set_from(&dir, &[PHALA_V5_COLLATERAL]);
    let now = at(PHALA_V5_TIME);
    assert_eq!(
        select(&other, &q, now).unwrap_err(),
        TdxError::MissingCollateral {
            fmspc: "b0c06f000000".to_owned(),
            item: "tcb-info"
        }
    );
    let items = CollateralItem::parse_file(&read(&dir, PHALA_V5_COLLATERAL)).unwrap();
    let dcap: dcap_qvl::QuoteCollateralV3 =
        serde_json::from_slice(&read(&dir, PHALA_V5_COLLATERAL)).unwrap();
    let collateral = Collateral::from_dcap(&dcap).unwrap();
    assert_eq!(items.len(), 6);
    assert_eq!(
        verifier(&dir).verify(now, &q, &collateral).unwrap_err(),
        TdxError::FmspcMismatch {
            upstream: "Fmspc mismatch".to_owned()
        }
    );
}

#[test]
fn time_before_the_epoch() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, PHALA_V4);
    assert_eq!(
        verifier(&dir)
            .verify(UnixTime(-1), &q, &phala_v4_collateral(&dir))
            .unwrap_err(),
        TdxError::TimeBeforeEpoch(-1)
    );
}

#[test]
fn chains_must_end_in_the_pinned_root() {
    let Some(dir) = vectors() else { return };
    let q = quote(&dir, PHALA_V4);
    let c = phala_v4_collateral(&dir);
    let now = at(PHALA_V4_TIME);
    // Another root: the PCK Platform CA stands in for a foreign hierarchy.
    let platform_ca = q.pck_chain_der()[1].clone();
    assert_eq!(
        TdxVerifier::new(platform_ca.clone())
            .verify(now, &q, &c)
            .unwrap_err(),
        TdxError::UntrustedRoot { chain: "pck-chain" }
    );
    // A TCB Signing chain ending in another certificate.
    let mut dcap = c.as_dcap().clone();
    let signing = dcap.tcb_info_issuer_chain.clone();
    let first_end = signing.find("-----END CERTIFICATE-----").unwrap() + 26;
    let foreign = format!(
        "{}-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        &signing[..first_end],
        base64_encode(&platform_ca)
    );
    dcap.tcb_info_issuer_chain = foreign.clone();
    dcap.qe_identity_issuer_chain = foreign;
    let bad = Collateral::from_items(
        c.tcb_info().clone(),
        c.qe_identity().clone(),
        c.root_ca_crl().clone(),
        c.pck_crl().clone(),
        dcap.tcb_info_issuer_chain.clone(),
        dcap.pck_crl_issuer_chain.clone(),
    );
    assert_eq!(
        verifier(&dir).verify(now, &q, &bad).unwrap_err(),
        TdxError::UntrustedRoot {
            chain: "tcb-signing-chain"
        }
    );
    // The dcap-qvl JSON form refuses such a chain outright.
    assert!(matches!(
        Collateral::from_dcap(&dcap),
        Err(TdxError::CollateralFormat { .. })
    ));
}

/// D8: a PCK chain without its intermediate (leaf, root, root) does not build to the root.
#[test]
fn pck_chain_without_its_ca() {
    let Some(dir) = vectors() else { return };
    let bytes = quote_bytes(&dir, PHALA_V4);
    let q = Quote::parse(&bytes).unwrap();
    let der = q.pck_chain_der();
    let pem: String = [&der[0], &der[2], &der[2]]
        .iter()
        .map(|d| {
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
                base64_encode(d)
            )
        })
        .collect();
    let rebuilt = with_pck_chain(&bytes, pem.as_bytes());
    let err = verify_phala_v4(&dir, &rebuilt, &phala_v4_collateral(&dir), PHALA_V4_TIME);
    assert!(matches!(err, TdxError::PckChain { .. }), "{err:?}");
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");
}

// ---------------------------------------------------------------- parser over real quotes

/// The strict form of every real quote.
fn real_quotes(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    [PHALA_V4, PHALA_V5, GOTDX_SPR, GOTDX_V5]
        .into_iter()
        .map(|n| (n, quote_bytes(dir, n)))
        .collect()
}

#[test]
fn every_prefix_is_truncated() {
    let Some(dir) = vectors() else { return };
    for (name, bytes) in real_quotes(&dir) {
        Quote::parse(&bytes).unwrap();
        for len in 0..bytes.len() {
            let err = Quote::parse(&bytes[..len]).unwrap_err();
            assert!(
                matches!(err, TdxError::Truncated { .. }),
                "{name}[..{len}]: {err:?}"
            );
            assert!(Quote::parse_allow_zero_padding(&bytes[..len]).is_err());
        }
    }
}

#[test]
fn no_panic_on_any_single_byte_change() {
    let Some(dir) = vectors() else { return };
    for (_, bytes) in real_quotes(&dir) {
        for i in 0..bytes.len() {
            for x in [0x01, 0x80, 0xff] {
                let mut m = bytes.clone();
                m[i] ^= x;
                if let Ok(q) = Quote::parse(&m) {
                    let _ = q.pck();
                }
                let _ = CollateralItem::parse_file(&m);
            }
        }
    }
}

#[test]
fn trailing_bytes() {
    let Some(dir) = vectors() else { return };
    for (name, bytes) in real_quotes(&dir) {
        let mut one = bytes.clone();
        one.push(0);
        assert_eq!(
            Quote::parse(&one).unwrap_err(),
            TdxError::TrailingBytes {
                what: "quote signature data",
                count: 1
            },
            "{name}"
        );
        let padded = Quote::parse_allow_zero_padding(&one).unwrap();
        assert_eq!(padded.as_bytes(), bytes);
        one.push(7);
        assert!(matches!(
            Quote::parse_allow_zero_padding(&one).unwrap_err(),
            TdxError::TrailingBytes { count: 2, .. }
        ));
    }
}

#[test]
fn header_fields() {
    let Some(dir) = vectors() else { return };
    for (name, bytes) in real_quotes(&dir) {
        let mut q = bytes.clone();
        q[0] = 3;
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::UnsupportedVersion(3),
            "{name}"
        );
        let mut q = bytes.clone();
        q[2] = 3;
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::AttestationKeyType(3)
        );
        let mut q = bytes.clone();
        q[4] = 0;
        assert_eq!(Quote::parse(&q).unwrap_err(), TdxError::NotTdx(0));
        let mut q = bytes.clone();
        q[10] = 1;
        assert!(matches!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Reserved { .. }
        ));
        let mut q = bytes.clone();
        q[27] ^= 1;
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::QeVendor("939a7233f79c4ca9940a0db3957f0606".to_owned())
        );
    }
}

#[test]
fn certification_data_fields() {
    let Some(dir) = vectors() else { return };
    for (name, bytes) in real_quotes(&dir) {
        let l = Layout::of(&bytes);
        let mut q = bytes.clone();
        q[l.cert_type] = 3;
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::QeCertDataType(3),
            "{name}"
        );
        // D10: an encrypted PPID (type 3) instead of the PCK chain.
        let mut q = bytes.clone();
        q[l.pck_type] = 3;
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::CertDataType(3),
            "{name}"
        );

        let pck_len = bytes.len() - l.pck;
        let mut q = bytes.clone();
        put_u32(&mut q, l.pck_len, pck_len + 1);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Truncated {
                what: "PCK certificate chain",
                need: pck_len + 1,
                got: pck_len
            },
            "{name}"
        );
        let mut q = bytes.clone();
        put_u32(&mut q, l.pck_len, pck_len - 1);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::TrailingBytes {
                what: "PCK certificate chain",
                count: 1
            }
        );
        let mut q = bytes.clone();
        put_u32(&mut q, l.pck_len, usize::try_from(u32::MAX).unwrap());
        assert!(matches!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Truncated {
                what: "PCK certificate chain",
                ..
            }
        ));
        let mut q = bytes.clone();
        q[l.auth_len..l.auth_len + 2].copy_from_slice(&u16::MAX.to_le_bytes());
        assert!(matches!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Truncated {
                what: "QE authentication data",
                ..
            }
        ));
        let cert_len = bytes.len() - l.qe_report;
        let mut q = bytes.clone();
        put_u32(&mut q, l.cert_len, cert_len + 1);
        assert!(matches!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Truncated {
                what: "QE certification data",
                ..
            }
        ));
        let mut q = bytes.clone();
        put_u32(&mut q, l.cert_len, cert_len - 1);
        assert_eq!(
            Quote::parse(&q).unwrap_err(),
            TdxError::TrailingBytes {
                what: "QE certification data",
                count: 1
            }
        );
        let sig_len = bytes.len() - l.sig_len - 4;
        let mut q = bytes.clone();
        put_u32(&mut q, l.sig_len, sig_len + 1);
        assert!(matches!(
            Quote::parse(&q).unwrap_err(),
            TdxError::Truncated {
                what: "quote signature data",
                ..
            }
        ));
    }
}

#[test]
fn pck_chain_encoding() {
    let Some(dir) = vectors() else { return };
    let bytes = quote_bytes(&dir, PHALA_V4);
    let q = Quote::parse(&bytes).unwrap();
    let pem = std::str::from_utf8(q.pck_chain_pem()).unwrap().to_owned();
    // The terminating NUL of Intel's QE is dropped; the chain is three certificates.
    assert!(!pem.ends_with('\0'));
    assert_eq!(q.pck_chain_der().len(), 3);
    let bad = |pem: &str| Quote::parse(&with_pck_chain(&bytes, pem.as_bytes())).unwrap_err();
    // Without the NUL it still parses.
    Quote::parse(&with_pck_chain(&bytes, pem.as_bytes())).unwrap();
    let blocks: Vec<&str> = pem.split_inclusive("-----END CERTIFICATE-----\n").collect();
    assert_eq!(blocks.len(), 3);
    assert_eq!(
        bad(&blocks[..2].concat()),
        TdxError::PckChainEncoding {
            reason: "fewer than 3 certificates (PCK, PCK CA, root)"
        }
    );
    assert_eq!(
        bad(&[pem.as_str(), blocks[2]].concat()),
        TdxError::PckChainEncoding {
            reason: "more than 3 certificates (PCK, PCK CA, root)"
        }
    );
    assert_eq!(
        bad(&format!("{pem}\0\0")),
        TdxError::PckChainEncoding {
            reason: "text outside PEM blocks"
        }
    );
    assert!(matches!(
        bad(&pem.replacen("MII", "MIJ", 1)),
        TdxError::PckChainEncoding { .. }
    ));
}

#[test]
fn pck_of_every_real_quote() {
    let Some(dir) = vectors() else { return };
    let expect = [
        (PHALA_V4, "b0c06f000000"),
        (PHALA_V5, "90c06f000000"),
        (GOTDX_SPR, "50806f000000"),
        (GOTDX_V5, "90c06f000000"),
    ];
    for (name, fmspc) in expect {
        let pck = quote(&dir, name).pck().unwrap();
        assert_eq!(hex::encode(pck.fmspc), fmspc, "{name}");
        assert_eq!(pck.pce_id, [0, 0]);
        assert_eq!(pck.ca, PckCa::Platform);
    }
}
