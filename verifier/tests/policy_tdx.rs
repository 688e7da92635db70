//! The shipped policies over the claims of a TD quote verified through the generated DCAP
//! hierarchy. Each negative test changes one claim or one data switch and asserts the exact deny
//! reasons (THREATS.md T and D rows in the test names).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

mod common;

use std::sync::OnceLock;

use serde_json::{Value, json};
use warden_evidence::UnixTime;
use warden_evidence::sim::tdx::{CollateralProfile, IntelHierarchy, PlatformProfile, TdProfile};
use warden_evidence::tdx::{CollateralItem, CollateralSet, Quote, TdxVerifier};
use warden_verifier::policy::Policy;

const NOW: UnixTime = UnixTime(1_767_225_600);
const MODEL: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// `input.tee` of a default simulated TD quote, verified (UpToDate).
fn tee_claims() -> &'static Value {
    static CLAIMS: OnceLock<Value> = OnceLock::new();
    CLAIMS.get_or_init(|| {
        let hierarchy = IntelHierarchy::shared();
        let quote = hierarchy
            .platform(&PlatformProfile::default())
            .unwrap()
            .quote(&TdProfile::default(), &[0x11; 64])
            .unwrap();
        let mut set = CollateralSet::new();
        for (_, bytes) in hierarchy
            .collateral(&CollateralProfile::valid_at(NOW))
            .unwrap()
            .files()
        {
            for item in CollateralItem::parse_file(&bytes).unwrap() {
                set.add(item);
            }
        }
        let quote = Quote::parse(&quote).unwrap();
        let collateral = set.select(&quote.pck().unwrap(), NOW).unwrap();
        let verified = TdxVerifier::new(hierarchy.root_ca_der().to_vec())
            .verify(NOW, &quote, &collateral)
            .unwrap();
        assert_eq!(verified.claims.tcb_status, "UpToDate");
        serde_json::to_value(&verified.claims).unwrap()
    })
}

fn document(simulated: bool) -> Value {
    let mut tee = tee_claims().clone();
    tee["type"] = json!("tdx");
    tee["simulated"] = json!(simulated);
    json!({
        "tee": tee,
        "gpus": [],
        "model": {"manifest_digest": MODEL, "serialization": "files", "hash_algorithm": "sha256",
                  "resources": [], "ignore_paths": []},
        "request": {"key_id": "k", "key_ids": ["k"], "tee_pubkey": "22".repeat(32), "nonce": "33".repeat(32)},
        "time": {"rfc3339": "2026-01-01T00:00:00Z", "unix": NOW.0}
    })
}

/// The shipped default data with this TD's measurements and the model allowed.
fn good_data() -> Value {
    let tee = tee_claims();
    let mut data: Value =
        serde_json::from_str(&common::repo_file("policies/default.data.json")).unwrap();
    data["tdx"]["measurements"] = json!([{
        "mr_td": tee["mr_td"].as_str().unwrap().to_uppercase(),
        "rtmr0": tee["rtmr0"],
        "rtmr1": tee["rtmr1"],
        "rtmr2": tee["rtmr2"],
    }]);
    data["models"] = json!([MODEL]);
    data
}

fn default_policy(data: &Value) -> Policy {
    Policy::load(
        "default",
        &common::repo_file("policies/default.rego"),
        Some(&data.to_string()),
    )
    .unwrap()
}

fn reasons(data: &Value, doc: &Value) -> Vec<String> {
    let decision = default_policy(data).evaluate(doc).unwrap();
    assert!(!decision.allow || decision.reasons.is_empty());
    decision.reasons
}

fn after(change: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut doc = document(false);
    change(&mut doc);
    reasons(&good_data(), &doc)
}

#[test]
fn genuine_up_to_date_td_with_allowed_measurements_is_allowed() {
    let decision = default_policy(&good_data())
        .evaluate(&document(false))
        .unwrap();
    assert!(decision.allow, "{:?}", decision.reasons);
}

#[test]
fn simulated_td_is_denied_by_default_and_admitted_by_dev() {
    assert_eq!(
        reasons(&good_data(), &document(true)),
        [
            "tee.simulated is true: simulated evidence (verified against generated test roots) is never accepted by this policy"
        ]
    );
    let dev = Policy::load("dev", &common::repo_file("policies/dev.rego"), Some("{}")).unwrap();
    assert!(dev.evaluate(&document(true)).unwrap().allow);
    let mut doc = document(true);
    doc["tee"]["td_attributes"]["debug"] = json!(true);
    assert_eq!(
        dev.evaluate(&doc).unwrap().reasons,
        ["td_attributes.debug is true: the host may read and write TD memory; debug must be false"]
    );
}

#[test]
fn d3_tcb_status_and_advisories_must_be_admitted_by_name() {
    let out_of_date = |d: &mut Value| {
        d["tee"]["tcb_status"] = json!("OutOfDate");
        d["tee"]["advisory_ids"] = json!(["INTEL-SA-01036", "INTEL-SA-01079"]);
    };
    assert_eq!(
        after(out_of_date),
        [
            "advisory INTEL-SA-01036 applies to this platform and is not in data.tdx.allowed_advisory_ids",
            "advisory INTEL-SA-01079 applies to this platform and is not in data.tdx.allowed_advisory_ids",
            "tcb_status OutOfDate is not in data.tdx.allowed_tcb_statuses [\"UpToDate\"]",
        ]
    );
    let mut data = good_data();
    data["tdx"]["allowed_tcb_statuses"] = json!(["UpToDate", "OutOfDate"]);
    data["tdx"]["allowed_advisory_ids"] = json!(["INTEL-SA-01036"]);
    let mut doc = document(false);
    out_of_date(&mut doc);
    assert_eq!(
        reasons(&data, &doc),
        [
            "advisory INTEL-SA-01079 applies to this platform and is not in data.tdx.allowed_advisory_ids"
        ]
    );
    data["tdx"]["allowed_advisory_ids"] = json!(["INTEL-SA-01036", "INTEL-SA-01079"]);
    assert!(default_policy(&data).evaluate(&doc).unwrap().allow);

    assert_eq!(
        after(|d| d["tee"]["advisory_ids"] = json!(null)),
        ["advisory_ids null is not a list"]
    );
}

#[test]
fn t1_t3_t4_td_attributes() {
    assert_eq!(
        after(|d| d["tee"]["td_attributes"]["debug"] = json!(true)),
        ["td_attributes.debug is true: the host may read and write TD memory; debug must be false"]
    );
    assert_eq!(
        after(|d| d["tee"]["td_attributes"]["sept_ve_disable"] = json!(false)),
        [
            "td_attributes.sept_ve_disable is false: EPT violations would reach the guest as #VE; SEPT_VE_DISABLE must be set"
        ]
    );
    assert_eq!(
        after(|d| d["tee"]["td_attributes"]["migratable"] = json!(true)),
        [
            "td_attributes.migratable is true: a migration TD may export TD state; migratable must be false"
        ]
    );
    // A missing object fails closed on every attribute rule.
    assert_eq!(
        after(|d| {
            d["tee"].as_object_mut().unwrap().remove("td_attributes");
        })
        .len(),
        3
    );
}

#[test]
fn t6_measurements_are_allow_listed_as_combinations() {
    let rtmr1 = tee_claims()["rtmr1"].as_str().unwrap().to_owned();
    let mut doc = document(false);
    doc["tee"]["rtmr1"] = json!("00".repeat(48));
    let r = reasons(&good_data(), &doc);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(
        r[0].contains("matches no entry of data.tdx.measurements"),
        "{r:?}"
    );
    assert!(r[0].contains(&"00".repeat(48)), "{r:?}");
    assert!(!r[0].contains(&rtmr1));

    let mut data = good_data();
    data["tdx"]["measurements"] = json!([]);
    assert_eq!(
        reasons(&data, &document(false)),
        ["data.tdx.measurements is empty: no TD measurement is allowed"]
    );

    // Fields left out are not compared; an unknown field is a configuration error.
    data["tdx"]["measurements"] = json!([{"mr_td": tee_claims()["mr_td"]}]);
    assert!(
        default_policy(&data)
            .evaluate(&document(false))
            .unwrap()
            .allow
    );
    data["tdx"]["measurements"] = json!([{"mr_td": tee_claims()["mr_td"], "rtmr9": "00"}]);
    let r = reasons(&data, &document(false));
    assert!(
        r.contains(&"data.tdx.measurements has an entry with unknown field rtmr9".to_owned()),
        "{r:?}"
    );
    // An entry without mr_td matches nothing.
    data["tdx"]["measurements"] = json!([{"rtmr0": tee_claims()["rtmr0"]}]);
    assert!(
        !default_policy(&data)
            .evaluate(&document(false))
            .unwrap()
            .allow
    );
}

#[test]
fn t5_t9_d7_optional_pins() {
    let mut data = good_data();
    data["tdx"]["mr_seams"] = json!(["ab".repeat(48)]);
    let r = reasons(&data, &document(false));
    assert_eq!(r.len(), 1);
    assert!(
        r[0].starts_with("mr_seam ") && r[0].ends_with("is not in data.tdx.mr_seams"),
        "{r:?}"
    );
    data["tdx"]["mr_seams"] = json!([tee_claims()["mr_seam"]]);
    assert!(
        default_policy(&data)
            .evaluate(&document(false))
            .unwrap()
            .allow
    );

    data["tdx"]["xfam"] = json!("ffffffffffffffff");
    let r = reasons(&data, &document(false));
    assert_eq!(r.len(), 1);
    assert!(
        r[0].contains("is not the expected data.tdx.xfam ffffffffffffffff"),
        "{r:?}"
    );
    data["tdx"]["xfam"] = tee_claims()["xfam"].clone();

    let number = tee_claims()["tcb_evaluation_data_number"].as_u64().unwrap();
    data["tdx"]["min_tcb_evaluation_data_number"] = json!(number + 1);
    assert_eq!(
        reasons(&data, &document(false)),
        [format!(
            "tcb_evaluation_data_number {number} is below data.tdx.min_tcb_evaluation_data_number {}",
            number + 1
        )]
    );
    data["tdx"]["min_tcb_evaluation_data_number"] = json!(number);
    assert!(
        default_policy(&data)
            .evaluate(&document(false))
            .unwrap()
            .allow
    );
}

#[test]
fn snp_rules_do_not_fire_on_tdx_and_tdx_rules_do_not_fire_on_snp() {
    // A TDX document has no SEV-SNP fields: none of their rules may fire (they are guarded by
    // tee.type), which the allow above already shows; and an SEV-SNP-typed document with TDX
    // claims is judged by the SEV-SNP rules only.
    let mut doc = document(false);
    doc["tee"]["type"] = json!("sev-snp");
    let r = reasons(&good_data(), &doc);
    assert!(
        r.iter()
            .all(|m| !m.contains("td_attributes") && !m.contains("data.tdx")),
        "{r:?}"
    );
    assert!(
        r.iter().any(|m| m.starts_with("policy.debug is null")),
        "{r:?}"
    );
}
