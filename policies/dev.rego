# Warden dev policy: admits simulated SEV-SNP evidence.
#
# Everything the default policy checks about the guest's own configuration (debug, migration
# agent, VMPL), none of the platform pinning (TCB floors, firmware versions, measurements, CRL,
# alias check) and no check that the evidence came from AMD's roots: `tee.simulated` may be
# true or false. For development and tests, never for a key that matters.
#
# Data: policies/dev.data.json (`denied_models`), documented in policies/README.md.

package warden

default allow := false

allow if {
	tee.type == "sev-snp"
	is_boolean(tee.simulated)
	count(deny) == 0
}

tee := object.get(input, "tee", {})

claim(path) := object.get(tee, path, null)

no_migration_agent := "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

deny contains msg if {
	not tee.type == "sev-snp"
	msg := sprintf("tee.type %v is not sev-snp: this policy only accepts AMD SEV-SNP evidence", [claim("type")])
}

deny contains msg if {
	not tee.policy.debug == false
	msg := sprintf("policy.debug is %v: the host may read and write guest memory; debug must be false", [claim(["policy", "debug"])])
}

deny contains msg if {
	not tee.policy.migrate_ma == false
	msg := sprintf("policy.migrate_ma is %v: a migration agent may export guest state; migrate_ma must be false", [claim(["policy", "migrate_ma"])])
}

deny contains msg if {
	not tee.report_id_ma == no_migration_agent
	msg := sprintf("report_id_ma %v is not all ff: the guest is associated with a migration agent", [claim("report_id_ma")])
}

deny contains msg if {
	not tee.vmpl == 0
	msg := sprintf("vmpl %v is not 0: the report was requested from a less privileged VMPL", [claim("vmpl")])
}

default denied_models := []

denied_models := data.denied_models

deny contains msg if {
	digest := input.model.manifest_digest
	some denied in denied_models
	lower(denied) == digest
	msg := sprintf("model.manifest_digest %v is in data.denied_models", [digest])
}
