# Warden default policy: strict AMD SEV-SNP and Intel TDX.
#
# Input: the claims document of docs/policy-input.md. Data: policies/default.data.json, every
# key documented in policies/README.md. Row numbers (S1...) refer to THREATS.md.
#
# Written to fail closed: each check is `deny if not <acceptable>`, so a missing or mistyped
# claim denies instead of skipping the check, and switches that loosen a check take effect only
# when they are exactly `true` (or `false` for the `require_*` switches).

package warden

default allow := false

# The key is released only for verified, non-simulated SEV-SNP or TDX evidence with no deny
# reason.
allow if {
	tee.type in {"sev-snp", "tdx"}
	tee.simulated == false
	count(deny) == 0
}

is_snp if tee.type == "sev-snp"

is_tdx if tee.type == "tdx"

tee := object.get(input, "tee", {})

product := object.get(tee, "product", null)

# A claim for a message: its value, or null when absent.
claim(path) := object.get(tee, path, null)

no_migration_agent := "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

# --- Evidence kind ---------------------------------------------------------------------------

deny contains msg if {
	not tee.type in {"sev-snp", "tdx"}
	msg := sprintf("tee.type %v is not sev-snp or tdx: this policy only accepts AMD SEV-SNP and Intel TDX evidence", [claim("type")])
}

deny contains msg if {
	not tee.simulated == false
	msg := sprintf("tee.simulated is %v: simulated evidence (verified against generated test roots) is never accepted by this policy", [claim("simulated")])
}

# --- SEV-SNP guest configuration -------------------------------------------------------------

# S1
deny contains msg if {
	is_snp
	not tee.policy.debug == false
	msg := sprintf("policy.debug is %v: the host may read and write guest memory; debug must be false", [claim(["policy", "debug"])])
}

# S2
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

# S3: SMT only where the operator's threat model accepts it.
smt_allowed if data.allow_smt == true

deny contains msg if {
	is_snp
	not smt_allowed
	not tee.policy.smt == false
	msg := sprintf("policy.smt is %v but data.allow_smt is not true: the guest may run on an SMT-enabled host", [claim(["policy", "smt"])])
}

deny contains msg if {
	is_snp
	not smt_allowed
	not tee.platform_info.smt_enabled == false
	msg := sprintf("platform_info.smt_enabled is %v but data.allow_smt is not true", [claim(["platform_info", "smt_enabled"])])
}

# S5
deny contains msg if {
	is_snp
	not tee.vmpl == 0
	msg := sprintf("vmpl %v is not 0: the report was requested from a less privileged VMPL", [claim("vmpl")])
}

# S14
default measurements := []

measurements := data.measurements

deny contains "data.measurements is empty: no launch measurement is allowed" if {
	is_snp
	count(measurements) == 0
}

deny contains msg if {
	is_snp
	count(measurements) > 0
	not lower_in(tee.measurement, measurements)
	msg := sprintf("measurement %v is not in data.measurements", [claim("measurement")])
}

# S16: HOST_DATA is host-chosen; compared only where measured guest code enforces it.
deny contains msg if {
	is_snp
	expected := data.host_data
	expected != null
	not lower_eq(tee.host_data, expected)
	msg := sprintf("host_data %v is not the expected %v", [claim("host_data"), expected])
}

# S17
default id_key_digests := []

id_key_digests := data.id_key_digests

default author_key_digests := []

author_key_digests := data.author_key_digests

deny contains msg if {
	is_snp
	count(id_key_digests) > 0
	not lower_in(tee.id_key_digest, id_key_digests)
	msg := sprintf("id_key_digest %v is not in data.id_key_digests", [claim("id_key_digest")])
}

deny contains msg if {
	is_snp
	count(author_key_digests) > 0
	not tee.author_key_en == true
	msg := sprintf("author_key_en is %v but data.author_key_digests requires an author key", [claim("author_key_en")])
}

deny contains msg if {
	is_snp
	count(author_key_digests) > 0
	tee.author_key_en == true
	not lower_in(tee.author_key_digest, author_key_digests)
	msg := sprintf("author_key_digest %v is not in data.author_key_digests", [claim("author_key_digest")])
}

# --- SEV-SNP platform ------------------------------------------------------------------------

# S6: component-wise floors per product, for the TCB the VCEK was derived for and the TCB the
# guest was launched on.
default min_reported_tcb := {}

min_reported_tcb := data.min_reported_tcb

default min_launch_tcb := {}

min_launch_tcb := data.min_launch_tcb

floors := {"reported_tcb": min_reported_tcb, "launch_tcb": min_launch_tcb}

deny contains msg if {
	is_snp
	some field, per_product in floors
	not per_product[product]
	msg := sprintf("no %s floor is configured in data.min_%s for product %v", [field, field, product])
}

deny contains msg if {
	is_snp
	some field, per_product in floors
	floor := per_product[product]
	some component, minimum in floor
	not tcb_component_ok(tee, field, component, minimum)
	msg := sprintf("%s.%s %v is below the floor %d for %s", [field, component, claim([field, component]), minimum, product])
}

tcb_component_ok(t, field, component, minimum) if {
	value := t[field][component]
	is_number(value)
	value >= minimum
}

# S8: provisional (uncommitted) firmware.
provisional_allowed if data.allow_provisional_firmware == true

deny contains msg if {
	is_snp
	not provisional_allowed
	not tee.committed_tcb == tee.current_tcb
	msg := sprintf("committed_tcb %v differs from current_tcb %v: provisional firmware is not allowed", [claim("committed_tcb"), claim("current_tcb")])
}

deny contains msg if {
	is_snp
	not provisional_allowed
	not tee.committed_version == tee.current_version
	msg := sprintf("committed_version %v differs from current_version %v: provisional firmware is not allowed", [claim("committed_version"), claim("current_version")])
}

# S9
deny contains msg if {
	is_snp
	not data.min_firmware_version[product]
	msg := sprintf("no minimum firmware version is configured in data.min_firmware_version for product %v", [product])
}

deny contains msg if {
	is_snp
	minimum := data.min_firmware_version[product]
	not version_ge(tee.current_version, minimum)
	msg := sprintf("current_version %v is below the minimum firmware version %v for %s", [claim("current_version"), minimum, product])
}

# S18: BadRAM (AMD-SB-3015).
deny contains msg if {
	is_snp
	not data.require_alias_check == false
	not tee.platform_info.alias_check_complete == true
	msg := sprintf("platform_info.alias_check_complete is %v: the memory alias check (BadRAM) has not completed", [claim(["platform_info", "alias_check_complete"])])
}

# S19: mitigation vectors exist from report version 5.
default required_mit_vector := "0000000000000000"

required_mit_vector := data.required_mit_vector

deny contains msg if {
	is_snp
	tee.version >= 5
	not valid_vector(required_mit_vector)
	msg := sprintf("data.required_mit_vector %v is not 16 lowercase hex digits", [required_mit_vector])
}

deny contains msg if {
	is_snp
	tee.version >= 5
	required := required_mit_vector
	valid_vector(required)
	some field in ["launch_mit_vector", "current_mit_vector"]
	not vector_covers(claim(field), required)
	msg := sprintf("%s %v lacks the mitigation bits %s required by data.required_mit_vector", [field, claim(field), required])
}

# A (report-level) revocation check of the ASK/ASVK against AMD's CRL (A3).
deny contains msg if {
	is_snp
	not data.require_crl == false
	not tee.crl_checked == true
	msg := sprintf("crl_checked is %v: the ASK/ASVK was not checked against a current AMD CRL", [claim("crl_checked")])
}

# --- Intel TDX -------------------------------------------------------------------------------

tdx := object.get(data, "tdx", {})

# D3: the converged TCB status (platform, TDX module, QE). Operators may admit more statuses
# by name, for example "SWHardeningNeeded".
default tdx_allowed_statuses := ["UpToDate"]

tdx_allowed_statuses := tdx.allowed_tcb_statuses

deny contains msg if {
	is_tdx
	not claim("tcb_status") in tdx_allowed_statuses
	msg := sprintf("tcb_status %v is not in data.tdx.allowed_tcb_statuses %v", [claim("tcb_status"), tdx_allowed_statuses])
}

# D3: every advisory Intel lists for the platform's TCB level must be admitted by name.
default tdx_allowed_advisories := []

tdx_allowed_advisories := tdx.allowed_advisory_ids

deny contains msg if {
	is_tdx
	not is_array(claim("advisory_ids"))
	msg := sprintf("advisory_ids %v is not a list", [claim("advisory_ids")])
}

default tdx_advisories := []

tdx_advisories := claim("advisory_ids") if is_array(claim("advisory_ids"))

deny contains msg if {
	is_tdx
	some id in tdx_advisories
	not id in tdx_allowed_advisories
	msg := sprintf("advisory %v applies to this platform and is not in data.tdx.allowed_advisory_ids", [id])
}

# D7: a floor on Intel's TCB evaluation data number, against rolled-back collateral.
deny contains msg if {
	is_tdx
	minimum := tdx.min_tcb_evaluation_data_number
	minimum != null
	not number_ge(claim("tcb_evaluation_data_number"), minimum)
	msg := sprintf("tcb_evaluation_data_number %v is below data.tdx.min_tcb_evaluation_data_number %v", [claim("tcb_evaluation_data_number"), minimum])
}

# T1
deny contains msg if {
	is_tdx
	not tee.td_attributes.debug == false
	msg := sprintf("td_attributes.debug is %v: the host may read and write TD memory; debug must be false", [claim(["td_attributes", "debug"])])
}

# T3
deny contains msg if {
	is_tdx
	not tee.td_attributes.sept_ve_disable == true
	msg := sprintf("td_attributes.sept_ve_disable is %v: EPT violations would reach the guest as #VE; SEPT_VE_DISABLE must be set", [claim(["td_attributes", "sept_ve_disable"])])
}

# T4
deny contains msg if {
	is_tdx
	not tee.td_attributes.migratable == false
	msg := sprintf("td_attributes.migratable is %v: a migration TD may export TD state; migratable must be false", [claim(["td_attributes", "migratable"])])
}

# T6: the TD's measurements. Each entry of data.tdx.measurements is one accepted combination:
# mr_td is required, rtmr0..rtmr3, mr_config_id, mr_owner and mr_owner_config are compared when
# present (hex, any case).
tdx_measurement_fields := {"mr_td", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "mr_config_id", "mr_owner", "mr_owner_config"}

default tdx_measurements := []

tdx_measurements := tdx.measurements

deny contains "data.tdx.measurements is empty: no TD measurement is allowed" if {
	is_tdx
	count(tdx_measurements) == 0
}

deny contains msg if {
	is_tdx
	some entry in tdx_measurements
	some field, _ in entry
	not field in tdx_measurement_fields
	msg := sprintf("data.tdx.measurements has an entry with unknown field %v", [field])
}

deny contains msg if {
	is_tdx
	count(tdx_measurements) > 0
	not tdx_measurement_matches
	msg := sprintf("mr_td %v with rtmr0 %v, rtmr1 %v, rtmr2 %v, rtmr3 %v matches no entry of data.tdx.measurements", [claim("mr_td"), claim("rtmr0"), claim("rtmr1"), claim("rtmr2"), claim("rtmr3")])
}

tdx_measurement_matches if {
	some entry in tdx_measurements
	is_string(entry.mr_td)
	every field, value in entry {
		field in tdx_measurement_fields
		lower_eq(claim(field), value)
	}
}

# T9: the TDX module. dcap-qvl already checks MR_SIGNER_SEAM and SEAM attributes against Intel's
# TCB info; this pins the module build itself when configured.
default tdx_mr_seams := []

tdx_mr_seams := tdx.mr_seams

deny contains msg if {
	is_tdx
	count(tdx_mr_seams) > 0
	not lower_in(claim("mr_seam"), tdx_mr_seams)
	msg := sprintf("mr_seam %v is not in data.tdx.mr_seams", [claim("mr_seam")])
}

# T5: the TD's extended features.
deny contains msg if {
	is_tdx
	expected := tdx.xfam
	expected != null
	not lower_eq(claim("xfam"), expected)
	msg := sprintf("xfam %v is not the expected data.tdx.xfam %v", [claim("xfam"), expected])
}

# --- Workload --------------------------------------------------------------------------------

# P10/K2: the model the guest runs.
default models := []

models := data.models

deny contains msg if {
	count(models) > 0
	not lower_in(input.model.manifest_digest, models)
	msg := sprintf("model.manifest_digest %v is not in data.models", [object.get(input, ["model", "manifest_digest"], null)])
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

# --- GPUs ------------------------------------------------------------------------------------

gpus := object.get(input, "gpus", [])

default gpu_expected_count := 0

gpu_expected_count := data.gpus.expected_count

gpu_revocation_off_allowed if data.gpus.allow_revocation_off == true

# G1: exactly the configured number of GPUs (0 by default: a CPU-only CVM).
deny contains msg if {
	not count(gpus) == gpu_expected_count
	msg := sprintf("%v GPUs attested, data.gpus.expected_count is %v", [count(gpus), gpu_expected_count])
}

gpu_claim(gpu, field) := object.get(gpu, field, null)

deny contains msg if {
	some i, gpu in gpus
	not gpu.simulated == false
	msg := sprintf("gpus[%v].simulated is %v: the GPU report did not verify through NVIDIA's root", [i, gpu_claim(gpu, "simulated")])
}

deny contains msg if {
	some i, gpu in gpus
	not gpu.nonce_ok == true
	msg := sprintf("gpus[%v].nonce_ok is %v: the GPU report is not for this attestation", [i, gpu_claim(gpu, "nonce_ok")])
}

deny contains msg if {
	some i, gpu in gpus
	not gpu.measurements_match == true
	msg := sprintf("gpus[%v].measurements_match is %v: mismatched RIM indices %v", [i, gpu_claim(gpu, "measurements_match"), gpu_claim(gpu, "mismatched_indices")])
}

deny contains msg if {
	some i, gpu in gpus
	not gpu.rims_complete == true
	msg := sprintf("gpus[%v].rims_complete is %v: the verifier lacks the driver or VBIOS RIM (has %v)", [i, gpu_claim(gpu, "rims_complete"), gpu_claim(gpu, "rim_ids")])
}

deny contains msg if {
	some i, gpu in gpus
	not gpu_revocation_ok(gpu)
	msg := sprintf("gpus[%v].revocation is %v and data.gpus.allow_revocation_off is not true", [i, gpu_claim(gpu, "revocation")])
}

gpu_revocation_ok(gpu) if {
	is_string(gpu.revocation)
	gpu.revocation != "off"
}

gpu_revocation_ok(gpu) if {
	gpu.revocation == "off"
	gpu_revocation_off_allowed
}

# G5: a certificate on hold (OCSP revoked with reason certificateHold) is suspended, not
# revoked; it is admitted only when the operator says so. Revoked and unknown refuse the GPU
# before policy runs.
deny contains msg if {
	some i, gpu in gpus
	gpu.revocation != "off"
	not gpu.revocation_status == "good"
	not gpu_hold_allowed(gpu)
	msg := sprintf("gpus[%v].revocation_status is %v and data.gpus.allow_certificate_hold is not true", [i, gpu_claim(gpu, "revocation_status")])
}

gpu_hold_allowed(gpu) if {
	gpu.revocation_status == "hold"
	data.gpus.allow_certificate_hold == true
}

deny contains msg if {
	archs := data.gpus.archs
	some i, gpu in gpus
	not gpu_arch_allowed(gpu_claim(gpu, "arch"), archs)
	msg := sprintf("gpus[%v].arch %v is not in data.gpus.archs", [i, gpu_claim(gpu, "arch")])
}

gpu_arch_allowed(arch, archs) if {
	is_string(arch)
	some entry in archs
	lower(entry) == lower(arch)
}

# --- Helpers ---------------------------------------------------------------------------------

number_ge(value, minimum) if {
	is_number(value)
	value >= minimum
}

lower_in(value, list) if {
	is_string(value)
	some entry in list
	lower(entry) == value
}

lower_eq(value, expected) if {
	is_string(value)
	lower(expected) == value
}

hex_digits := "0123456789abcdef"

valid_vector(v) if {
	is_string(v)
	count(v) == 16
	every i in numbers.range(0, 15) {
		indexof(hex_digits, substring(v, i, 1)) >= 0
	}
}

# Every bit set in `required` is set in `v`, compared one hex digit at a time so that all 64
# bits stay exact.
vector_covers(v, required) if {
	valid_vector(v)
	every i in numbers.range(0, 15) {
		r := indexof(hex_digits, substring(required, i, 1))
		bits.and(indexof(hex_digits, substring(v, i, 1)), r) == r
	}
}

version_parts(v) := [to_number(p[0]), to_number(p[1]), to_number(p[2])] if {
	is_string(v)
	p := split(v, ".")
	count(p) == 3
}

version_ge(a, b) if {
	pa := version_parts(a)
	pb := version_parts(b)
	pa[0] > pb[0]
}

version_ge(a, b) if {
	pa := version_parts(a)
	pb := version_parts(b)
	pa[0] == pb[0]
	pa[1] > pb[1]
}

version_ge(a, b) if {
	pa := version_parts(a)
	pb := version_parts(b)
	pa[0] == pb[0]
	pa[1] == pb[1]
	pa[2] >= pb[2]
}
