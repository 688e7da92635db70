"""TDX quote verification throughput of the Python binding of dcap-qvl (`pip install dcap-qvl`).

Used by bench/tdx.sh, on the same core and quote as verifier/benches/tdx_verify.rs.
Usage: tdx_qvl.py QUOTE COLLATERAL_JSON NOW_UNIX SECONDS_PER_RUN RUNS
Prints `tdx_python_dcap_qvl <median verifications per second> <runs> <dcap-qvl version>`.
"""

import sys
import time
from importlib.metadata import version

import dcap_qvl


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


def main():
    quote_path, collateral_path, now, seconds, runs = sys.argv[1:6]
    now, seconds, runs = int(now), float(seconds), int(runs)
    with open(quote_path, "rb") as f:
        quote = f.read()
    # The cache: the collateral is parsed once, before timing.
    with open(collateral_path, encoding="utf-8") as f:
        collateral = dcap_qvl.QuoteCollateralV3.from_json(f.read())

    report = dcap_qvl.verify(quote, collateral, now)
    if report.status != "UpToDate" or report.advisory_ids:
        sys.exit(f"unexpected result: {report.status} {report.advisory_ids}")

    rate = median_rate(runs, seconds, lambda: dcap_qvl.verify(quote, collateral, now))
    print(f"tdx_python_dcap_qvl {rate:.1f} {runs} {version('dcap-qvl')}")


if __name__ == "__main__":
    main()
