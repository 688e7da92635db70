#!/usr/bin/env python3
"""The real `model-signing` tool (1.1.1, PyPI) as an oracle for Warden's interop test.

Run by tests/tests/model_signing_interop.rs with the Python of the venv that scripts/test.sh
installs. Subcommands (paths are arguments, output is JSON on stdout, failure is exit code 1):

  keygen PRIVATE_PEM PUBLIC_PEM            a fresh P-256 key pair (PKCS#8 / SPKI PEM)
  hash DIR METHOD HASH [SHARD_SIZE]        the manifest: {"resources": {name: hex}, "params": {...}}
  sign DIR PRIVATE_PEM SIG METHOD HASH [SHARD_SIZE]   sign with the key method
  verify DIR SIG PUBLIC_PEM METHOD HASH [SHARD_SIZE]  verify (explicit hashing config, since
                                           1.1.1 cannot guess it for shards or blake2)

HASH is the model-signing option name: sha256, blake2 or blake3.
"""

import json
import pathlib
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import model_signing


def hashing_config(method, hash_name, shard_size):
    config = model_signing.hashing.Config()
    if method == "files":
        return config.use_file_serialization(hashing_algorithm=hash_name)
    return config.use_shard_serialization(hashing_algorithm=hash_name, shard_size=int(shard_size))


def main(argv):
    command, args = argv[1], argv[2:]
    if command == "keygen":
        key = ec.generate_private_key(ec.SECP256R1())
        pathlib.Path(args[0]).write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
        pathlib.Path(args[1]).write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        return 0
    if command == "hash":
        directory, method, hash_name = args[:3]
        manifest = hashing_config(method, hash_name, args[3] if len(args) > 3 else 0).hash(directory)
        resources = {r.identifier: r.digest.digest_hex for r in manifest.resource_descriptors()}
        print(json.dumps({"resources": resources, "params": manifest.serialization_type}))
        return 0
    if command == "sign":
        directory, private_pem, sig, method, hash_name = args[:5]
        shard = args[5] if len(args) > 5 else 0
        model_signing.signing.Config().use_elliptic_key_signer(private_key=private_pem) \
            .set_hashing_config(hashing_config(method, hash_name, shard)).sign(directory, sig)
        return 0
    if command == "verify":
        directory, sig, public_pem, method, hash_name = args[:5]
        shard = args[5] if len(args) > 5 else 0
        try:
            model_signing.verifying.Config().use_elliptic_key_verifier(public_key=public_pem) \
                .set_hashing_config(hashing_config(method, hash_name, shard)).verify(directory, sig)
        except Exception as e:  # the tool raises ValueError and friends; report and fail
            print(json.dumps({"verified": False, "error": f"{type(e).__name__}: {e}"}))
            return 1
        print(json.dumps({"verified": True}))
        return 0
    print(f"unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
