#!/usr/bin/env python3
"""Independent RFC 9162 oracle for proto/src/tlog.rs (python3 standard library only).

Written from the text of RFC 9162 section 2.1: MTH (2.1.1), PATH (2.1.3.1), the inclusion
verification algorithm (2.1.3.2), SUBPROOF/PROOF (2.1.4.1) and the consistency verification
algorithm (2.1.4.2); and the C2SP signed-note Ed25519 key ID and verifier key string.

Usage: tlog_oracle.py FILE.json. Exits 0 when every root and proof in FILE agrees with this
oracle, non-zero (listing each disagreement) otherwise.
"""

import base64
import hashlib
import json
import sys


def sha256(b):
    return hashlib.sha256(b).digest()


def largest_pow2_below(n):
    """The largest power of two smaller than n, for n > 1."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(d):
    """MTH(D[n]) over the leaf inputs d (2.1.1)."""
    n = len(d)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return sha256(b"\x00" + d[0])
    k = largest_pow2_below(n)
    return sha256(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m, d):
    """PATH(m, D[n]) (2.1.3.1)."""
    n = len(d)
    if n == 1:
        return []
    k = largest_pow2_below(n)
    if m < k:
        return path(m, d[:k]) + [mth(d[k:])]
    return path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m, d, b):
    """SUBPROOF(m, D[n], b) (2.1.4.1)."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = largest_pow2_below(n)
    if m <= k:
        return subproof(m, d[:k], b) + [mth(d[k:])]
    return subproof(m - k, d[k:], False) + [mth(d[:k])]


def lsb(x):
    return x & 1


def verify_inclusion(leaf_index, tree_size, hash_, inclusion_path, root_hash):
    """2.1.3.2, step by step."""
    if leaf_index >= tree_size:
        return False
    fn = leaf_index
    sn = tree_size - 1
    r = hash_
    for p in inclusion_path:
        if sn == 0:
            return False
        if lsb(fn) or fn == sn:
            r = sha256(b"\x01" + p + r)
            if not lsb(fn):
                while not (lsb(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            r = sha256(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root_hash


def verify_consistency(first, second, first_hash, second_hash, consistency_path):
    """2.1.4.2, step by step, for 0 < first < second."""
    if not 0 < first < second:
        return False
    if len(consistency_path) == 0:
        return False
    if first & (first - 1) == 0:
        consistency_path = [first_hash] + list(consistency_path)
    fn = first - 1
    sn = second - 1
    while lsb(fn):
        fn >>= 1
        sn >>= 1
    fr = consistency_path[0]
    sr = consistency_path[0]
    for c in consistency_path[1:]:
        if sn == 0:
            return False
        if lsb(fn) or fn == sn:
            fr = sha256(b"\x01" + c + fr)
            sr = sha256(b"\x01" + c + sr)
            if not lsb(fn):
                while not (lsb(fn) or fn == 0):
                    fn >>= 1
                    sn >>= 1
        else:
            sr = sha256(b"\x01" + sr + c)
        fn >>= 1
        sn >>= 1
    return fr == first_hash and sr == second_hash and sn == 0


def flip(proof, e, bit):
    out = [bytearray(p) for p in proof]
    out[e][bit // 8] ^= 1 << (bit % 8)
    return [bytes(p) for p in out]


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        doc = json.load(f)
    errors = []
    checks = 0

    def check(ok, what):
        nonlocal checks
        checks += 1
        if not ok:
            errors.append(what)

    for tree in doc["trees"]:
        d = [bytes.fromhex(x) for x in tree["leaves"]]
        n = len(d)
        root = bytes.fromhex(tree["root"])
        check(mth(d) == root, f"root of size {n}")
        for inc in tree["inclusion"]:
            i = inc["index"]
            proof = [bytes.fromhex(x) for x in inc["proof"]]
            leaf = sha256(b"\x00" + d[i])
            check(proof == path(i, d), f"PATH({i}, D[{n}])")
            check(verify_inclusion(i, n, leaf, proof, root), f"inclusion {i} in {n}")
            for e in range(len(proof)):
                check(not verify_inclusion(i, n, leaf, flip(proof, e, 0), root),
                      f"flipped inclusion {i} in {n}")
        for con in tree["consistency"]:
            m = con["old_size"]
            proof = [bytes.fromhex(x) for x in con["proof"]]
            old_root = bytes.fromhex(con["old_root"])
            check(old_root == mth(d[:m]), f"root of size {m}")
            if m == n:
                check(proof == [], f"PROOF({m}, D[{n}]) not empty")
                continue
            check(proof == subproof(m, d, True), f"PROOF({m}, D[{n}])")
            check(verify_consistency(m, n, old_root, root, proof), f"consistency {m} to {n}")
            for e in range(len(proof)):
                check(not verify_consistency(m, n, old_root, root, flip(proof, e, 255)),
                      f"flipped consistency {m} to {n}")

    ed25519_type = b"\x01"
    for key in doc["verifier_keys"]:
        name = key["name"]
        public = bytes.fromhex(key["public_key"])
        key_id = sha256(name.encode() + b"\n" + ed25519_type + public)[:4]
        typed = base64.b64encode(ed25519_type + public).decode()
        want = name + "+" + key_id.hex() + "+" + typed
        check(key["vkey"] == want, f"verifier key {name}")

    for e in errors:
        print("disagreement:", e, file=sys.stderr)
    print(f"{checks} checks, {len(errors)} disagreements")
    if errors or checks == 0:
        sys.exit(1)


if __name__ == "__main__":
    main()
