#!/usr/bin/env python3
"""Independent reference implementation of the warden/v1 binding rules.

Computes the test vectors listed in docs/protocol.md ("Test vectors") with nothing but the
Python standard library, so that the Rust implementation in proto/src/binding is checked
against code that shares none of its parts. For the inputs used here (strings, small integers,
arrays, objects, keys made of ASCII letters and underscores),
json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False) produces exactly the
RFC 8785 (JCS) encoding.

Run: python3 proto/testdata/vectors.py
"""

import hashlib
import json
import struct


def jcs(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def manifest_json(serialization, hash_algorithm, resources):
    resources = sorted(resources, key=lambda r: r[0].encode("utf-8"))
    names = [name for name, _ in resources]
    assert len(set(names)) == len(names), "duplicate resource names"
    return jcs(
        {
            "hash_algorithm": hash_algorithm,
            "serialization": serialization,
            "resources": [{"name": n, "digest": d.hex()} for n, d in resources],
        }
    )


def gpu_nonce(nonce, pk):
    return hashlib.sha256(b"warden/v1/gpu-nonce" + nonce + pk).digest()


def gpu_digest(report, chain):
    return hashlib.sha256(
        b"warden/v1/gpu-digest"
        + struct.pack(">Q", len(report))
        + report
        + struct.pack(">Q", len(chain))
        + chain
    ).digest()


def report_data_json(nonce, pk, model, gpus):
    return jcs(
        {
            "v": 1,
            "nonce": nonce.hex(),
            "tee_pubkey": pk.hex(),
            "model": model.hex(),
            "gpus": [d.hex() for d in gpus],
        }
    )


def main():
    nonce = bytes(range(0x00, 0x20))
    pk = bytes(range(0x20, 0x40))
    out = {}

    out["N"] = nonce.hex()
    out["pk"] = pk.hex()

    m1 = manifest_json(
        "files",
        "sha256",
        [
            ("model.safetensors", bytes(range(0x40, 0x60))),
            ("config.json", bytes(range(0x60, 0x80))),
        ],
    )
    out["manifest_1_json"] = m1.decode("utf-8")
    model = hashlib.sha256(m1).digest()
    out["M_1"] = model.hex()

    m2 = manifest_json(
        "shards",
        "blake2b",
        [
            ("données/modèle.bin:1048576:2097152", bytes(range(0x80, 0xC0))),
            ('config "v2".json', bytes(range(0xC0, 0x100))),
            ("données/modèle.bin:0:1048576", bytes(range(0x00, 0x40))),
        ],
    )
    out["manifest_2_json"] = m2.decode("utf-8")
    out["M_2"] = hashlib.sha256(m2).digest().hex()

    out["G"] = gpu_nonce(nonce, pk).hex()

    d_empty = gpu_digest(b"", b"")
    d0 = gpu_digest(b"gpu0-report", b"gpu0-chain")
    d1 = gpu_digest(b"gpu1-report", b"gpu1-chain")
    out["D_empty"] = d_empty.hex()
    out["D_0"] = d0.hex()
    out["D_1"] = d1.hex()

    for label, gpus in (("0", []), ("1", [d0]), ("2", [d0, d1])):
        pre = report_data_json(nonce, pk, model, gpus)
        out["RD_json_" + label] = pre.decode("utf-8")
        out["RD_" + label] = hashlib.sha512(pre).digest().hex()

    out["key_release_info"] = (b"warden/v1/key-release" + nonce + b"model-key-1").hex()

    for key, value in out.items():
        print(f"{key} = {value}")


if __name__ == "__main__":
    main()
