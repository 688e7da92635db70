//! The shipped policies over claims of a real (simulated-hierarchy) SEV-SNP report.
//!
//! Each negative test mutates one field of a known-good claims document, or flips one data
//! switch, and asserts the exact deny reasons (THREATS.md rows in the test names).

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
use warden_evidence::sim::snp::{AmdHierarchy, ReportBuilder, VekProfile};
use warden_evidence::snp::{Product, ProductRoots, SnpVerifier, TrustAnchors};
use warden_verifier::policy::{Decision, NO_ALLOW_REASON, Policy, PolicyError, PolicySet};

/// 2025-06-01T00:00:00Z, inside every default validity period of the simulated hierarchy.
const NOW: UnixTime = UnixTime(1_748_736_000);
const CRL_THIS: UnixTime = UnixTime(1_746_057_600); // 2025-05-01
const CRL_NEXT: UnixTime = UnixTime(1_751_328_000); // 2025-07-01

const MEASUREMENT: [u8; 48] = [0x4d; 48];
const MODEL: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";

/// The claims (`input.tee` without `type`/`simulated`) of a v5 Milan report signed by a VCEK of
/// the generated hierarchy, verified with a current CRL.
fn tee_claims() -> &'static Value {
    static CLAIMS: OnceLock<Value> = OnceLock::new();
    CLAIMS.get_or_init(|| {
        let product = Product::Milan;
        let hierarchy = AmdHierarchy::shared(product);
        let mut builder = ReportBuilder::new(product);
        builder.version = 5;
        builder.measurement = MEASUREMENT;
        builder.report_data = [0x11; 64];
        let vek = hierarchy
            .issue_vek(&VekProfile::vcek(
                product,
                &builder.chip_id,
                builder.reported_tcb,
            ))
            .unwrap();
        let mut report = builder.build();
        vek.sign_report(&mut report).unwrap();

        let crl = hierarchy.issue_crl(&[], CRL_THIS, CRL_NEXT).unwrap();
        let anchors = TrustAnchors::new()
            .with(
                product,
                ProductRoots {
                    ark: hierarchy.ark_der().to_vec(),
                    ask: Some(hierarchy.ask_der().to_vec()),
                    asvk: Some(hierarchy.asvk_der().to_vec()),
                    crls: Vec::new(),
                },
            )
            .with_crl(product, crl)
            .unwrap();
        let verified = SnpVerifier::new(anchors)
            .verify(NOW, &report, vek.der())
            .unwrap();
        assert!(verified.claims.crl_checked);
        serde_json::to_value(&verified.claims).unwrap()
    })
}

/// The full claims document, `tee.simulated` as given.
fn document(simulated: bool) -> Value {
    let mut tee = tee_claims().clone();
    tee["type"] = json!("sev-snp");
    tee["simulated"] = json!(simulated);
    json!({
        "tee": tee,
        "gpus": [],
        "model": {
            "manifest_digest": MODEL,
            "serialization": "files",
            "hash_algorithm": "sha256",
            "resources": [{"name": "model.safetensors", "digest": "00".repeat(32)}],
            "ignore_paths": []
        },
        "request": {
            "key_id": "model-key",
            "key_ids": ["model-key"],
            "tee_pubkey": "22".repeat(32),
            "nonce": "33".repeat(32)
        },
        "time": {"rfc3339": "2026-11-25T00:00:00Z", "unix": 1_764_028_800}
    })
}

/// A document that passes the default policy with [`good_data`].
fn good() -> Value {
    document(false)
}

/// The shipped default data with this document's measurement and model allowed.
fn good_data() -> Value {
    let mut data: Value =
        serde_json::from_str(&common::repo_file("policies/default.data.json")).unwrap();
    data["measurements"] = json!([hex(&MEASUREMENT)]);
    data["models"] = json!([MODEL]);
    data
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn default_policy(data: &Value) -> Policy {
    Policy::load(
        "default",
        &common::repo_file("policies/default.rego"),
        Some(&data.to_string()),
    )
    .unwrap()
}

fn dev_policy() -> Policy {
    Policy::load(
        "dev",
        &common::repo_file("policies/dev.rego"),
        Some(&common::repo_file("policies/dev.data.json")),
    )
    .unwrap()
}

/// Evaluates the default policy with `data` over `doc`; asserts a denial and returns the reasons.
fn denied(data: &Value, doc: &Value) -> Vec<String> {
    let decision = default_policy(data).evaluate(doc).unwrap();
    assert!(!decision.allow, "{decision:?}");
    decision.reasons
}

/// The default policy with [`good_data`] over [`good`] mutated by `mutate`.
fn denied_after(mutate: impl FnOnce(&mut Value)) -> Vec<String> {
    let mut doc = good();
    mutate(&mut doc);
    denied(&good_data(), &doc)
}

fn reasons(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

fn allowed() -> Decision {
    Decision {
        allow: true,
        reasons: vec![],
    }
}

#[test]
fn good_document_is_allowed() {
    let decision = default_policy(&good_data()).evaluate(&good()).unwrap();
    assert_eq!(decision, allowed());
}

#[test]
fn simulated_is_rejected_by_default() {
    assert_eq!(
        denied(&good_data(), &document(true)),
        reasons(&[
            "tee.simulated is true: simulated evidence (verified against generated test roots) is never accepted by this policy"
        ])
    );
}

#[test]
fn wrong_tee_type() {
    assert_eq!(
        denied_after(|d| d["tee"]["type"] = json!("sgx")),
        reasons(&[
            "tee.type sgx is not sev-snp or tdx: this policy only accepts AMD SEV-SNP and Intel TDX evidence"
        ])
    );
}

#[test]
fn s1_debug() {
    assert_eq!(
        denied_after(|d| d["tee"]["policy"]["debug"] = json!(true)),
        reasons(&[
            "policy.debug is true: the host may read and write guest memory; debug must be false"
        ])
    );
}

#[test]
fn s2_migration_agent() {
    assert_eq!(
        denied_after(|d| d["tee"]["policy"]["migrate_ma"] = json!(true)),
        reasons(&[
            "policy.migrate_ma is true: a migration agent may export guest state; migrate_ma must be false"
        ])
    );
    let ma = "01".repeat(32);
    assert_eq!(
        denied_after(|d| d["tee"]["report_id_ma"] = json!(ma)),
        vec![format!(
            "report_id_ma {ma} is not all ff: the guest is associated with a migration agent"
        )]
    );
}

#[test]
fn s3_smt_only_if_data_allows() {
    let mut data = good_data();
    data["allow_smt"] = json!(false);
    assert_eq!(
        denied(&data, &good()),
        reasons(&[
            "platform_info.smt_enabled is true but data.allow_smt is not true",
            "policy.smt is true but data.allow_smt is not true: the guest may run on an SMT-enabled host",
        ])
    );
    let mut doc = good();
    doc["tee"]["policy"]["smt"] = json!(false);
    doc["tee"]["platform_info"]["smt_enabled"] = json!(false);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
}

#[test]
fn s5_vmpl() {
    assert_eq!(
        denied_after(|d| d["tee"]["vmpl"] = json!(2)),
        reasons(&["vmpl 2 is not 0: the report was requested from a less privileged VMPL"])
    );
}

#[test]
fn s6_reported_tcb_floor() {
    assert_eq!(
        denied_after(|d| d["tee"]["reported_tcb"]["microcode"] = json!(218)),
        reasons(&["reported_tcb.microcode 218 is below the floor 219 for milan"])
    );
}

#[test]
fn s6_launch_tcb_floor() {
    assert_eq!(
        denied_after(|d| d["tee"]["launch_tcb"]["snp"] = json!(22)),
        reasons(&["launch_tcb.snp 22 is below the floor 24 for milan"])
    );
}

#[test]
fn s6_missing_component_and_unknown_product() {
    assert_eq!(
        denied_after(|d| {
            d["tee"]["reported_tcb"]
                .as_object_mut()
                .unwrap()
                .remove("bootloader");
        }),
        reasons(&["reported_tcb.bootloader null is below the floor 4 for milan"])
    );
    let mut data = good_data();
    data["min_launch_tcb"]
        .as_object_mut()
        .unwrap()
        .remove("milan");
    assert_eq!(
        denied(&data, &good()),
        reasons(&["no launch_tcb floor is configured in data.min_launch_tcb for product milan"])
    );
}

#[test]
fn s8_provisional_firmware() {
    let mut doc = good();
    doc["tee"]["committed_tcb"]["snp"] = json!(23);
    let reasons_tcb = denied(&good_data(), &doc);
    assert_eq!(reasons_tcb.len(), 1);
    assert!(
        reasons_tcb[0].starts_with("committed_tcb {")
            && reasons_tcb[0]
                .ends_with("differs from current_tcb {\"bootloader\": 4, \"microcode\": 219, \"snp\": 24, \"tee\": 0}: provisional firmware is not allowed"),
        "{reasons_tcb:?}"
    );
    assert_eq!(
        denied_after(|d| d["tee"]["committed_version"] = json!("1.55.28")),
        reasons(&[
            "committed_version 1.55.28 differs from current_version 1.55.29: provisional firmware is not allowed"
        ])
    );
    let mut data = good_data();
    data["allow_provisional_firmware"] = json!(true);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
}

#[test]
fn s9_firmware_version() {
    let mut data = good_data();
    data["min_firmware_version"]["milan"] = json!("1.55.30");
    assert_eq!(
        denied(&data, &good()),
        reasons(&[
            "current_version 1.55.29 is below the minimum firmware version 1.55.30 for milan"
        ])
    );
    data["min_firmware_version"]["milan"] = json!("1.56.0");
    assert_eq!(denied(&data, &good()).len(), 1);
    data["min_firmware_version"]["milan"] = json!("1.9.99");
    assert_eq!(default_policy(&data).evaluate(&good()).unwrap(), allowed());
}

#[test]
fn s14_measurement() {
    let other = "00".repeat(48);
    assert_eq!(
        denied_after(|d| d["tee"]["measurement"] = json!(other)),
        vec![format!("measurement {other} is not in data.measurements")]
    );
    let mut data = good_data();
    data["measurements"] = json!([]);
    assert_eq!(
        denied(&data, &good()),
        reasons(&["data.measurements is empty: no launch measurement is allowed"])
    );
    // Allow-list entries are compared case-insensitively.
    data["measurements"] = json!([hex(&MEASUREMENT).to_uppercase()]);
    assert_eq!(default_policy(&data).evaluate(&good()).unwrap(), allowed());
}

#[test]
fn s16_host_data_only_when_configured() {
    let expected = "ab".repeat(32);
    let mut data = good_data();
    data["host_data"] = json!(expected);
    assert_eq!(
        denied(&data, &good()),
        vec![format!(
            "host_data {} is not the expected {expected}",
            "00".repeat(32)
        )]
    );
    let mut doc = good();
    doc["tee"]["host_data"] = json!(expected);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
}

#[test]
fn s17_id_and_author_keys() {
    let trusted = "cd".repeat(48);
    let mut data = good_data();
    data["id_key_digests"] = json!([trusted]);
    assert_eq!(
        denied(&data, &good()),
        vec![format!(
            "id_key_digest {} is not in data.id_key_digests",
            "00".repeat(48)
        )]
    );

    let mut data = good_data();
    data["author_key_digests"] = json!([trusted]);
    assert_eq!(
        denied(&data, &good()),
        reasons(&["author_key_en is false but data.author_key_digests requires an author key"])
    );
    let mut doc = good();
    doc["tee"]["author_key_en"] = json!(true);
    assert_eq!(
        denied(&data, &doc),
        vec![format!(
            "author_key_digest {} is not in data.author_key_digests",
            "00".repeat(48)
        )]
    );
    doc["tee"]["author_key_digest"] = json!(trusted);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
}

#[test]
fn s18_alias_check() {
    assert_eq!(
        denied_after(|d| d["tee"]["platform_info"]["alias_check_complete"] = json!(false)),
        reasons(&[
            "platform_info.alias_check_complete is false: the memory alias check (BadRAM) has not completed"
        ])
    );
    let mut data = good_data();
    data["require_alias_check"] = json!(false);
    let mut doc = good();
    doc["tee"]["platform_info"]["alias_check_complete"] = json!(false);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
}

#[test]
fn s19_mitigation_vectors() {
    let mut data = good_data();
    data["required_mit_vector"] = json!("0000000000000003");
    let mut doc = good();
    doc["tee"]["launch_mit_vector"] = json!("0000000000000003");
    doc["tee"]["current_mit_vector"] = json!("0000000000000001");
    assert_eq!(
        denied(&data, &doc),
        reasons(&[
            "current_mit_vector 0000000000000001 lacks the mitigation bits 0000000000000003 required by data.required_mit_vector"
        ])
    );
    doc["tee"]["current_mit_vector"] = json!("ffffffffffffffff");
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());

    // Version 5 without vectors.
    doc["tee"]["launch_mit_vector"] = Value::Null;
    assert_eq!(
        denied(&data, &doc),
        reasons(&[
            "launch_mit_vector null lacks the mitigation bits 0000000000000003 required by data.required_mit_vector"
        ])
    );
    // Before version 5 the vectors do not exist and are not checked.
    doc["tee"]["version"] = json!(3);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());

    data["required_mit_vector"] = json!("3");
    assert_eq!(
        denied(&data, &good()),
        reasons(&["data.required_mit_vector 3 is not 16 lowercase hex digits"])
    );
}

#[test]
fn crl_checked_required_by_default() {
    assert_eq!(
        denied_after(|d| d["tee"]["crl_checked"] = json!(false)),
        reasons(&["crl_checked is false: the ASK/ASVK was not checked against a current AMD CRL"])
    );
    let mut data = good_data();
    data["require_crl"] = json!(false);
    let mut doc = good();
    doc["tee"]["crl_checked"] = json!(false);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
}

#[test]
fn model_allow_list() {
    let other = "ee".repeat(32);
    assert_eq!(
        denied_after(|d| d["model"]["manifest_digest"] = json!(other)),
        vec![format!(
            "model.manifest_digest {other} is not in data.models"
        )]
    );
    assert_eq!(
        denied_after(|d| d["model"] = Value::Null),
        reasons(&["model.manifest_digest null is not in data.models"])
    );
    // An empty allow-list does not check the model.
    let mut data = good_data();
    data["models"] = json!([]);
    let mut doc = good();
    doc["model"]["manifest_digest"] = json!(other);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
}

fn good_gpu() -> Value {
    json!({
        "arch": "HOPPER",
        "index": 0,
        "simulated": false,
        "nonce_ok": true,
        "measurements_match": true,
        "mismatched_indices": [],
        "rim_ids": ["driver", "vbios"],
        "rims_complete": true,
        "revocation": "stapled",
        "revocation_status": "good"
    })
}

#[test]
fn gpus_must_match_expected_count() {
    assert_eq!(
        denied_after(|d| d["gpus"] = json!([good_gpu()])),
        reasons(&["1 GPUs attested, data.gpus.expected_count is 0"])
    );
}

#[test]
fn configured_gpus_pass_and_each_check_denies() {
    let mut data = good_data();
    data["gpus"] = json!({"expected_count": 1, "allow_revocation_off": false});
    let mut doc = good();
    doc["gpus"] = json!([good_gpu()]);
    assert_eq!(default_policy(&data).evaluate(&doc).unwrap(), allowed());
    for (field, value, reason) in [
        (
            "simulated",
            json!(true),
            "gpus[0].simulated is true: the GPU report did not verify through NVIDIA's root",
        ),
        (
            "nonce_ok",
            json!(false),
            "gpus[0].nonce_ok is false: the GPU report is not for this attestation",
        ),
        (
            "measurements_match",
            json!(false),
            "gpus[0].measurements_match is false: mismatched RIM indices []",
        ),
        (
            "rims_complete",
            json!(false),
            "gpus[0].rims_complete is false: the verifier lacks the driver or VBIOS RIM (has [\"driver\", \"vbios\"])",
        ),
        (
            "revocation",
            json!("off"),
            "gpus[0].revocation is off and data.gpus.allow_revocation_off is not true",
        ),
        (
            "revocation_status",
            json!("hold"),
            "gpus[0].revocation_status is hold and data.gpus.allow_certificate_hold is not true",
        ),
        (
            "revocation_status",
            json!(null),
            "gpus[0].revocation_status is null and data.gpus.allow_certificate_hold is not true",
        ),
    ] {
        let mut bad = doc.clone();
        bad["gpus"][0][field] = value;
        let decision = default_policy(&data).evaluate(&bad).unwrap();
        assert!(!decision.allow, "{field}");
        assert_eq!(decision.reasons, vec![reason.to_owned()], "{field}");
    }
    // certificateHold is admitted only when allowed.
    let mut hold = doc.clone();
    hold["gpus"][0]["revocation_status"] = json!("hold");
    data["gpus"]["allow_certificate_hold"] = json!(true);
    assert_eq!(default_policy(&data).evaluate(&hold).unwrap(), allowed());
    let mut off = doc.clone();
    off["gpus"][0]["revocation"] = json!("off");
    off["gpus"][0]["revocation_status"] = json!("unchecked");
    data["gpus"]["allow_revocation_off"] = json!(true);
    assert_eq!(default_policy(&data).evaluate(&off).unwrap(), allowed());
    data["gpus"]["archs"] = json!(["blackwell"]);
    let decision = default_policy(&data).evaluate(&off).unwrap();
    assert_eq!(
        decision.reasons,
        vec!["gpus[0].arch HOPPER is not in data.gpus.archs".to_owned()]
    );
    data["gpus"]["archs"] = json!(["hopper"]);
    assert_eq!(default_policy(&data).evaluate(&off).unwrap(), allowed());
}

#[test]
fn missing_tee_fails_closed() {
    let decision = default_policy(&good_data())
        .evaluate(&json!({"gpus": []}))
        .unwrap();
    assert!(!decision.allow);
    assert!(
        decision.reasons.contains(
            &"tee.type null is not sev-snp or tdx: this policy only accepts AMD SEV-SNP and Intel TDX evidence"
                .to_owned()
        ),
        "{decision:?}"
    );
    let decision = default_policy(&good_data()).evaluate(&json!({})).unwrap();
    assert!(!decision.allow);
}

#[test]
fn builtin_default_denies_simulated_document() {
    let set = PolicySet::builtin().unwrap();
    let policy = set.get("default").unwrap();
    let decision = policy.evaluate(&document(true)).unwrap();
    assert_eq!(
        decision,
        Decision {
            allow: false,
            reasons: reasons(&[
                "data.measurements is empty: no launch measurement is allowed",
                "tee.simulated is true: simulated evidence (verified against generated test roots) is never accepted by this policy",
            ])
        }
    );
    // The builtin digest is that of the shipped files.
    assert_eq!(
        policy.digest(),
        Policy::load(
            "default",
            &common::repo_file("policies/default.rego"),
            Some(&common::repo_file("policies/default.data.json"))
        )
        .unwrap()
        .digest()
    );
}

#[test]
fn dev_admits_simulated_gpus_but_not_a_wrong_nonce() {
    let dev = dev_policy();
    let mut gpu = good_gpu();
    gpu["simulated"] = json!(true);
    gpu["measurements_match"] = json!(false);
    gpu["revocation"] = json!("off");
    let mut doc = document(true);
    doc["gpus"] = json!([gpu.clone(), gpu]);
    assert_eq!(dev.evaluate(&doc).unwrap(), allowed());
    doc["gpus"][1]["nonce_ok"] = json!(false);
    assert_eq!(
        dev.evaluate(&doc).unwrap().reasons,
        reasons(&["gpus[1].nonce_ok is false: the GPU report is not for this attestation"])
    );
}

#[test]
fn dev_admits_simulated_and_denies_debug() {
    let dev = dev_policy();
    assert_eq!(dev.evaluate(&document(true)).unwrap(), allowed());
    assert_eq!(dev.evaluate(&document(false)).unwrap(), allowed());

    let mut doc = document(true);
    doc["tee"]["policy"]["debug"] = json!(true);
    assert_eq!(
        dev.evaluate(&doc).unwrap(),
        Decision {
            allow: false,
            reasons: reasons(&[
                "policy.debug is true: the host may read and write guest memory; debug must be false"
            ])
        }
    );

    let mut doc = document(true);
    doc["tee"]["vmpl"] = json!(1);
    doc["tee"]["policy"]["migrate_ma"] = json!(true);
    assert_eq!(
        dev.evaluate(&doc).unwrap().reasons,
        reasons(&[
            "policy.migrate_ma is true: a migration agent may export guest state; migrate_ma must be false",
            "vmpl 1 is not 0: the report was requested from a less privileged VMPL",
        ])
    );

    let mut doc = document(true);
    doc["tee"]["type"] = json!("tdx");
    assert!(!dev.evaluate(&doc).unwrap().allow);
}

#[test]
fn dev_denied_models() {
    let dev = Policy::load(
        "dev",
        &common::repo_file("policies/dev.rego"),
        Some(&json!({"denied_models": [MODEL]}).to_string()),
    )
    .unwrap();
    assert_eq!(
        dev.evaluate(&document(true)).unwrap().reasons,
        vec![format!(
            "model.manifest_digest {MODEL} is in data.denied_models"
        )]
    );
}

#[test]
fn policy_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.rego");
    std::fs::write(
        &file,
        "package warden\n\ndefault allow := false\nallow if {\n",
    )
    .unwrap();
    match PolicySet::load_dir(dir.path()).unwrap_err() {
        PolicyError::Rego {
            file: named,
            message,
        } => {
            assert_eq!(named, file.display().to_string());
            assert!(message.contains("broken.rego"), "{message}");
        }
        other => panic!("{other:?}"),
    }

    let allow_string = Policy::load(
        "weird",
        "package warden\nallow := input.tee.type\ndeny := set()\n",
        None,
    )
    .unwrap();
    assert_eq!(
        allow_string.evaluate(&good()),
        Err(PolicyError::AllowNotBoolean {
            policy: "weird".to_owned(),
            found: "\"sev-snp\"".to_owned()
        })
    );

    let silent = Policy::load(
        "silent",
        "package warden\ndefault allow := false\ndeny := set()\n",
        None,
    )
    .unwrap();
    assert_eq!(
        silent.evaluate(&good()).unwrap(),
        Decision {
            allow: false,
            reasons: vec![NO_ALLOW_REASON.to_owned()]
        }
    );
}

#[test]
fn shipped_policies_load_from_the_directory() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
    let set = PolicySet::load_dir(&dir).unwrap();
    assert_eq!(set.names(), vec!["default".to_owned(), "dev".to_owned()]);
    let builtin = PolicySet::builtin().unwrap();
    for name in set.names() {
        assert_eq!(
            set.get(&name).unwrap().digest(),
            builtin.get(&name).unwrap().digest()
        );
    }
}
