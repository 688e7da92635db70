# Warden dev policy: admits simulated SEV-SNP and TDX evidence.
#
# Everything the default policy checks about the guest's own configuration (SEV-SNP: debug,
# migration agent, VMPL; TDX: debug, SEPT_VE_DISABLE, migratable), none of the platform pinning
# (TCB floors and statuses, firmware versions, measurements, CRL, alias check) and no check that
# the evidence came from the vendor's roots: `tee.simulated` may be true or false. For
# development and tests, never for a key that matters.
#
# Data: policies/dev.data.json (`denied_models`), documented in policies/README.md.

package warden

default allow := false

allow if {
	tee.type in {"sev-snp", "tdx"}
	is_boolean(tee.simulated)
	count(deny) == 0
}

is_snp if tee.type == "sev-snp"

is_tdx if tee.type == "tdx"

tee := object.get(input, "tee", {})

claim(path) := object.get(tee, path, null)

no_migration_agent := "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

deny contains msg if {
	not tee.type in {"sev-snp", "tdx"}
	msg := sprintf("tee.type %v is not sev-snp or tdx: this policy only accepts AMD SEV-SNP and Intel TDX evidence", [claim("type")])
}

deny contains msg if {
	is_snp
	not tee.policy.debug == false
	msg := sprintf("policy.debug is %v: the host may read and write guest memory; debug must be false", [claim(["policy", "debug"])])
}

deny contains msg if {
	is_snp
	not tee.policy.migrate_ma == false
	msg := sprintf("policy.migrate_ma is %v: a migration agent may export guest state; migrate_ma must be false", [claim(["policy", "migrate_ma"])])
}

deny contains msg if {
	is_snp
	not tee.report_id_ma == no_migration_agent
	msg := sprintf("report_id_ma %v is not all ff: the guest is associated with a migration agent", [claim("report_id_ma")])
}

deny contains msg if {
	is_snp
	not tee.vmpl == 0
	msg := sprintf("vmpl %v is not 0: the report was requested from a less privileged VMPL", [claim("vmpl")])
}

deny contains msg if {
	is_tdx
	not tee.td_attributes.debug == false
	msg := sprintf("td_attributes.debug is %v: the host may read and write TD memory; debug must be false", [object.get(tee, ["td_attributes", "debug"], null)])
}

deny contains msg if {
	is_tdx
	not tee.td_attributes.sept_ve_disable == true
	msg := sprintf("td_attributes.sept_ve_disable is %v: SEPT_VE_DISABLE must be set", [object.get(tee, ["td_attributes", "sept_ve_disable"], null)])
}

deny contains msg if {
	is_tdx
	not tee.td_attributes.migratable == false
	msg := sprintf("td_attributes.migratable is %v: migratable must be false", [object.get(tee, ["td_attributes", "migratable"], null)])
}

default denied_models := []

denied_models := data.denied_models

deny contains msg if {
	digest := input.model.manifest_digest
	some denied in denied_models
	lower(denied) == digest
	msg := sprintf("model.manifest_digest %v is in data.denied_models", [digest])
}

# P10/K2: a signed model. When the data names model signers (data.model_signing: public keys or
# certificate roots, docs/policy-input.md), the verifier checks the OpenSSF Model Signing bundle
# sent with the evidence against them, and that the signed resources equal the bound manifest;
# anything short of `verified` is denied, with the verifier's reason.
deny contains msg if {
	data.model_signing
	not input.model.signature.verified == true
	msg := sprintf("model.signature is not verified: %v", [object.get(input, ["model", "signature", "error"], "no model signature was sent")])
}

# Each GPU's report must answer this attestation's nonce; simulated GPUs and RIM mismatches are
# allowed.
deny contains msg if {
	some i, gpu in object.get(input, "gpus", [])
	not gpu.nonce_ok == true
	msg := sprintf("gpus[%v].nonce_ok is %v: the GPU report is not for this attestation", [i, object.get(gpu, "nonce_ok", null)])
}
