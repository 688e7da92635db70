"""NVIDIA's Python GPU verifier (`pip install nv-local-gpu-verifier==2.7.3`), run offline.

Used by bench/nvidia.sh, on the same core and vectors as verifier/benches/nvidia_verify.rs.
Run it under libfaketime with FAKETIME="@2025-06-01 00:00:00" (the `@` form: the clock must
tick, a frozen clock hangs the verifier's thread timeouts), so that the RIM certificates are
inside their validity, and from a scratch directory: the package writes `verifier.log` into the
current directory.

Usage:
  nvidia_nvlv.py outcomes VECTORS_DIR
      One line per scenario (see SCENARIOS):
      `nvlv_outcome <name> <pass|fail> first_fail=<step> stopped=<step> mismatched=<i,j,..|->`
  nvidia_nvlv.py rate VECTORS_DIR SECONDS_PER_RUN RUNS
      `nvidia_python_nvlv <median attest() calls per second> <runs> <package version>`

How the package is called, and what is changed (nothing in the package's files is edited):
  * `verifier.cc_admin.attest(arguments, nonce, gpu_evidence_list)` is the package's own entry
    point (what `python -m verifier.cc_admin` and NVIDIA's attestation SDK call), with
    `user_mode=True` (do not set the GPU ready state) and both RIMs given as local files.
  * The GPU is `OfflineGpu` below, in place of `NvmlHandler`: it serves the report and the PEM
    chain from the vector files, and the driver and VBIOS versions NVML would report, read from
    the report's own opaque data with the package's parser. The chain goes through the
    package's `GpuCertificateChains(TestHandle(...))`, as its own `--test_no_gpu` mode does
    (last certificate replaced by the pinned device root).
  * CHANGE 1: `CcAdminUtils.ocsp_certificate_chain_validation` is replaced by a stub returning
    "good" (True, no warning, status "good", no reason). There is no network here, and the
    OCSP responses NVIDIA's responder gave are not archived. So the Python side does no OCSP
    work at all: 3 requests for the device chain and 3 per RIM in normal use.
  * CHANGE 2: `NvmlHandler.is_cc_dev_mode` is replaced by `lambda: False`: attest() calls it
    after a failure, and there is no NVML here.
  * The driver RIM path goes in through `settings.DRIVER_RIM_PATH`, because in 2.7.3 attest()
    reads the local driver RIM from there and never sets it from the `driver_rim` argument.
  * Between calls, a fresh `HopperSettings()` / `BlackwellSettings()` goes into
    `GPU_ARCHITECTURE_MAP` and the module-level claim lists of `cc_admin` are emptied. The
    package keeps per-GPU results in those globals (nvtrust issue #38); a new process per
    attestation would start from the same empty state. Neither changes the work per call.
  * The package logs at INFO to stdout and at DEBUG to `verifier.log`; both are kept, as in
    normal use. During the rate loop, stdout (file descriptor 1) goes to /dev/null; the result
    line is written to the original stdout afterwards.
"""

import base64
import json
import logging
import os
import re
import sys
import time
from importlib.metadata import version

from verifier import cc_admin, config
from verifier.attestation import AttestationReport
from verifier.cc_admin_utils import CcAdminUtils
from verifier.nvml import NvmlHandler
from verifier.nvml.gpu_cert_chains import GpuCertificateChains
from verifier.nvml.test_handle import TestHandle
from verifier.utils import format_vbios_version

HOPPER, BLACKWELL = 9, 10  # NVML_DEVICE_ARCH_*, the keys of config.GPU_ARCHITECTURE_MAP


# CHANGE 1: no OCSP (see the module docstring).
def _ocsp_stub(cert_chain, settings, mode):
    return True, "", "good", None


CcAdminUtils.ocsp_certificate_chain_validation = staticmethod(_ocsp_stub)
# CHANGE 2: no NVML.
NvmlHandler.is_cc_dev_mode = staticmethod(lambda: False)


class OfflineGpu:
    """What attest() reads from an `NvmlHandler`, served from vector files."""

    def __init__(self, arch, report, chain_pem):
        self.arch = arch
        self.report = report
        settings = config.GPU_ARCHITECTURE_MAP[arch]
        opaque = AttestationReport(report, settings).get_response_message().get_opaque_data()
        self.driver_version = opaque.get_data("OPAQUE_FIELD_ID_DRIVER_VERSION").decode().rstrip("\0")
        self.vbios_version = format_vbios_version(opaque.get_data("OPAQUE_FIELD_ID_VBIOS_VERSION"))
        self.chain = GpuCertificateChains(TestHandle(chain_pem)).GpuAttestationCertificateChain

    def get_gpu_architecture(self):
        return self.arch

    def get_uuid(self):
        return "GPU-00000000-0000-0000-0000-000000000000"

    def get_driver_version(self):
        return self.driver_version

    def get_vbios_version(self):
        return self.vbios_version

    def get_attestation_report(self):
        return self.report

    def get_attestation_cert_chain(self):
        return self.chain


def fresh_state():
    config.GPU_ARCHITECTURE_MAP[HOPPER] = config.HopperSettings()
    config.GPU_ARCHITECTURE_MAP[BLACKWELL] = config.BlackwellSettings()
    for name in ("hwmodel", "oemid", "ueid", "gpu_driver_attestation_warning_list",
                 "gpu_vbios_attestation_warning_list"):
        getattr(cc_admin, name).clear()


def arguments(driver_rim, vbios_rim):
    return {
        "verbose": False, "test_no_gpu": False, "driver_rim": driver_rim, "vbios_rim": vbios_rim,
        "user_mode": True, "allow_hold_cert": False, "service_key": None, "nonce": None,
        "rim_root_cert": None, "rim_service_url": None, "ocsp_url": None,
        "ocsp_nonce_disabled": False, "claims_version": "2.0",
    }


def attest_once(arch, gpu, nonce, driver_rim, vbios_rim):
    """One attestation, as a caller of the package makes it. Returns attest()'s result."""
    fresh_state()
    # attest() reads the local driver RIM from here (see the module docstring).
    config.GPU_ARCHITECTURE_MAP[arch].DRIVER_RIM_PATH = driver_rim
    result, _claims = cc_admin.attest(arguments(driver_rim, vbios_rim), nonce, [gpu])
    return result


# The steps attest() records in its settings object, in the order it runs them, with the
# common names bench/nvidia.sh uses for Warden too.
STEPS = [
    ("parse_attestation_report", "parse"),
    ("gpu_attestation_report_cert_chain_fwid_matched", "fwid"),
    ("gpu_attestation_report_cert_chain_validated", "device_chain"),
    ("nonce_comparison", "nonce"),
    ("attestation_report_driver_version_match", "report_version"),
    ("attestation_report_vbios_version_match", "report_version"),
    ("attestation_report_signature_verification", "report_signature"),
    ("gpu_driver_rim_schema_validated", "rim_schema"),
    ("gpu_driver_rim_version_matched", "rim_version"),
    ("gpu_driver_rim_cert_chain_validated", "rim_chain"),
    ("gpu_driver_rim_signature_verified", "rim_signature"),
    ("gpu_vbios_rim_schema_validated", "rim_schema"),
    ("gpu_vbios_rim_version_matched", "rim_version"),
    ("gpu_vbios_rim_cert_chain_validated", "rim_chain"),
    ("gpu_vbios_rim_signature_verified", "rim_signature"),
    ("no_driver_vbios_measurement_index_conflict", "rim_index_conflict"),
    ("measurement_comparison", "measurements"),
]


class Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


def outcome(settings, lines, result):
    failed = []
    for attr, step in STEPS:
        value = getattr(settings, attr, None)
        if value is False or (attr == "measurement_comparison" and value not in (None, "success")):
            failed.append(step)
    # Where attest() stopped: the end (every step recorded), else the last failed step (it
    # raised there), else the first step it never recorded.
    stopped = "end"
    for attr, step in STEPS:
        if getattr(settings, attr, None) is None:
            stopped = failed[-1] if failed else step
            break
    # The mismatch list attest() logs: a header line, then `<index> [<Driver|Firmware>]`.
    mismatched = []
    listing = False
    for line in lines:
        if "not matching with the" in line and "golden measurements at the following" in line:
            listing = True
            continue
        if listing:
            m = re.fullmatch(r"\s*(\d+) \[(\w+)\]\s*", line)
            if m:
                mismatched.append(int(m.group(1)))
            elif line.strip() == "]":
                listing = False
    return {
        "outcome": "pass" if result else "fail",
        "first_fail": failed[0] if failed else ("none" if result else stopped),
        "stopped": stopped,
        "mismatched": sorted(mismatched),
    }


def load_scenarios(vectors):
    g = lambda p: os.path.join(vectors, "nvidia", "gpu", p)  # noqa: E731
    r = lambda p: os.path.join(vectors, "nvidia", "rims", p)  # noqa: E731
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "nvidia_scenarios.json"),
              encoding="utf-8") as f:
        table = json.load(f)
    out = []
    for s in table:
        if s["report"].endswith(".json"):
            with open(g(s["report"]), encoding="utf-8") as f:
                entry = json.load(f)[s.get("index", 0)]
            report = base64.b64decode(entry["evidence"])
            chain = base64.b64decode(entry["certificate"])
        else:
            with open(g(s["report"]), encoding="utf-8") as f:
                report = bytes.fromhex(f.read().strip())
            with open(g(s["certs"]), "rb") as f:
                chain = f.read()
        arch = BLACKWELL if s.get("arch") == "blackwell" else HOPPER
        out.append((s["name"], arch, report, chain, s["nonce"], r(s["driver_rim"]),
                    r(s["vbios_rim"])))
    return out


def run_outcomes(vectors):
    capture = Capture()
    config.info_log.addHandler(capture)
    results = []
    for name, arch, report, chain, nonce, driver_rim, vbios_rim in load_scenarios(vectors):
        capture.lines = []
        fresh_state()
        try:
            gpu = OfflineGpu(arch, report, chain)
            result = attest_once(arch, gpu, nonce, driver_rim, vbios_rim)
        except Exception as e:  # the package raising out of attest() is an outcome too
            capture.lines.append(f"exception: {type(e).__name__}: {e}")
            result = False
        results.append((name, outcome(config.GPU_ARCHITECTURE_MAP[arch], capture.lines, result)))
    config.info_log.removeHandler(capture)
    return results


def median_rate(runs, per_run, op):
    # Warm up, as the Rust bench does.
    end = time.perf_counter() + per_run / 4
    while time.perf_counter() < end:
        op()
    rates = []
    for _ in range(runs):
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < per_run:
            op()
            n += 1
        rates.append(n / (time.perf_counter() - start))
    rates.sort()
    return rates[runs // 2]


def run_rate(vectors, seconds, runs):
    # The bench vector: the first scenario, the same inputs as verifier/benches/nvidia_verify.rs.
    name, arch, report, chain, nonce, driver_rim, vbios_rim = load_scenarios(vectors)[0]
    gpu = OfflineGpu(arch, report, chain)
    out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    capture = Capture()
    config.info_log.addHandler(capture)
    # attest() gives False here (the driver RIM is for 550.144.03); check it ran to the
    # measurement comparison and found the expected mismatches, so the loop times the whole path.
    result = attest_once(arch, gpu, nonce, driver_rim, vbios_rim)
    got = outcome(config.GPU_ARCHITECTURE_MAP[arch], capture.lines, result)
    config.info_log.removeHandler(capture)
    if got["stopped"] != "end" or not got["mismatched"]:
        os.dup2(out.fileno(), 1)
        sys.exit(f"{name}: attest() did not reach the measurement comparison: {got}")
    rate = median_rate(runs, seconds, lambda: attest_once(arch, gpu, nonce, driver_rim, vbios_rim))
    sys.stdout.flush()
    print(f"nvidia_python_nvlv {rate:.1f} {runs} {version('nv-local-gpu-verifier')}", file=out)
    print(f"nvidia_python_nvlv_mismatched {','.join(map(str, got['mismatched']))}", file=out)
    out.flush()


def main():
    mode, vectors = sys.argv[1], sys.argv[2]
    if mode == "outcomes":
        results = run_outcomes(vectors)
        sys.stdout.flush()
        for name, o in results:
            mism = ",".join(map(str, o["mismatched"])) or "-"
            print(f"nvlv_outcome {name} {o['outcome']} first_fail={o['first_fail']} "
                  f"stopped={o['stopped']} mismatched={mism}", flush=True)
    elif mode == "rate":
        run_rate(vectors, float(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
