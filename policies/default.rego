# Warden default policy: strict AMD SEV-SNP.
#
# Input: the claims document of docs/policy-input.md. Data: policies/default.data.json, every
# key documented in policies/README.md. Row numbers (S1...) refer to THREATS.md.
#
# Written to fail closed: each check is `deny if not <acceptable>`, so a missing or mistyped
# claim denies instead of skipping the check, and switches that loosen a check take effect only
# when they are exactly `true` (or `false` for the `require_*` switches).

package warden

default allow := false

# The key is released only for verified, non-simulated SEV-SNP evidence with no deny reason.
allow if {
	tee.type == "sev-snp"
	tee.simulated == false
	count(deny) == 0
}

tee := object.get(input, "tee", {})

product := object.get(tee, "product", null)

# A claim for a message: its value, or null when absent.
claim(path) := object.get(tee, path, null)

no_migration_agent := "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

# --- Evidence kind ---------------------------------------------------------------------------

deny contains msg if {
	not tee.type == "sev-snp"
	msg := sprintf("tee.type %v is not sev-snp: this policy only accepts AMD SEV-SNP evidence", [claim("type")])
}

deny contains msg if {
	not tee.simulated == false
	msg := sprintf("tee.simulated is %v: simulated evidence (verified against generated test roots) is never accepted by this policy", [claim("simulated")])
}

# --- Guest configuration ---------------------------------------------------------------------

# S1
deny contains msg if {
	not tee.policy.debug == false
	msg := sprintf("policy.debug is %v: the host may read and write guest memory; debug must be false", [claim(["policy", "debug"])])
}

# S2
deny contains msg if {
	not tee.policy.migrate_ma == false
	msg := sprintf("policy.migrate_ma is %v: a migration agent may export guest state; migrate_ma must be false", [claim(["policy", "migrate_ma"])])
}

deny contains msg if {
	not tee.report_id_ma == no_migration_agent
	msg := sprintf("report_id_ma %v is not all ff: the guest is associated with a migration agent", [claim("report_id_ma")])
}

# S3: SMT only where the operator's threat model accepts it.
smt_allowed if data.allow_smt == true

deny contains msg if {
	not smt_allowed
	not tee.policy.smt == false
	msg := sprintf("policy.smt is %v but data.allow_smt is not true: the guest may run on an SMT-enabled host", [claim(["policy", "smt"])])
}

deny contains msg if {
	not smt_allowed
	not tee.platform_info.smt_enabled == false
	msg := sprintf("platform_info.smt_enabled is %v but data.allow_smt is not true", [claim(["platform_info", "smt_enabled"])])
}

# S5
deny contains msg if {
	not tee.vmpl == 0
	msg := sprintf("vmpl %v is not 0: the report was requested from a less privileged VMPL", [claim("vmpl")])
}

# S14
default measurements := []

measurements := data.measurements

deny contains "data.measurements is empty: no launch measurement is allowed" if {
	count(measurements) == 0
}

deny contains msg if {
	count(measurements) > 0
	not lower_in(tee.measurement, measurements)
	msg := sprintf("measurement %v is not in data.measurements", [claim("measurement")])
}

# S16: HOST_DATA is host-chosen; compared only where measured guest code enforces it.
deny contains msg if {
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
	count(id_key_digests) > 0
	not lower_in(tee.id_key_digest, id_key_digests)
	msg := sprintf("id_key_digest %v is not in data.id_key_digests", [claim("id_key_digest")])
}

deny contains msg if {
	count(author_key_digests) > 0
	not tee.author_key_en == true
	msg := sprintf("author_key_en is %v but data.author_key_digests requires an author key", [claim("author_key_en")])
}

deny contains msg if {
	count(author_key_digests) > 0
	tee.author_key_en == true
	not lower_in(tee.author_key_digest, author_key_digests)
	msg := sprintf("author_key_digest %v is not in data.author_key_digests", [claim("author_key_digest")])
}

# --- Platform --------------------------------------------------------------------------------

# S6: component-wise floors per product, for the TCB the VCEK was derived for and the TCB the
# guest was launched on.
default min_reported_tcb := {}

min_reported_tcb := data.min_reported_tcb

default min_launch_tcb := {}

min_launch_tcb := data.min_launch_tcb

floors := {"reported_tcb": min_reported_tcb, "launch_tcb": min_launch_tcb}

deny contains msg if {
	some field, per_product in floors
	not per_product[product]
	msg := sprintf("no %s floor is configured in data.min_%s for product %v", [field, field, product])
}

deny contains msg if {
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
	not provisional_allowed
	not tee.committed_tcb == tee.current_tcb
	msg := sprintf("committed_tcb %v differs from current_tcb %v: provisional firmware is not allowed", [claim("committed_tcb"), claim("current_tcb")])
}

deny contains msg if {
	not provisional_allowed
	not tee.committed_version == tee.current_version
	msg := sprintf("committed_version %v differs from current_version %v: provisional firmware is not allowed", [claim("committed_version"), claim("current_version")])
}

# S9
deny contains msg if {
	not data.min_firmware_version[product]
	msg := sprintf("no minimum firmware version is configured in data.min_firmware_version for product %v", [product])
}

deny contains msg if {
	minimum := data.min_firmware_version[product]
	not version_ge(tee.current_version, minimum)
	msg := sprintf("current_version %v is below the minimum firmware version %v for %s", [claim("current_version"), minimum, product])
}

# S18: BadRAM (AMD-SB-3015).
deny contains msg if {
	not data.require_alias_check == false
	not tee.platform_info.alias_check_complete == true
	msg := sprintf("platform_info.alias_check_complete is %v: the memory alias check (BadRAM) has not completed", [claim(["platform_info", "alias_check_complete"])])
}

# S19: mitigation vectors exist from report version 5.
default required_mit_vector := "0000000000000000"

required_mit_vector := data.required_mit_vector

deny contains msg if {
	tee.version >= 5
	not valid_vector(required_mit_vector)
	msg := sprintf("data.required_mit_vector %v is not 16 lowercase hex digits", [required_mit_vector])
}

deny contains msg if {
	tee.version >= 5
	required := required_mit_vector
	valid_vector(required)
	some field in ["launch_mit_vector", "current_mit_vector"]
	not vector_covers(claim(field), required)
	msg := sprintf("%s %v lacks the mitigation bits %s required by data.required_mit_vector", [field, claim(field), required])
}

# A (report-level) revocation check of the ASK/ASVK against AMD's CRL (A3).
deny contains msg if {
	not data.require_crl == false
	not tee.crl_checked == true
	msg := sprintf("crl_checked is %v: the ASK/ASVK was not checked against a current AMD CRL", [claim("crl_checked")])
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

deny contains "GPU evidence not yet supported by this policy" if {
	not data.allow_gpus == true
	not count(object.get(input, "gpus", [])) == 0
}

# --- Helpers ---------------------------------------------------------------------------------

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
