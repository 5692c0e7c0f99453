"""The `onshore receipt verify` command: check a receipt offline."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from onshore.cli.common import existing_signing_key, settings_from


def cmd_receipt(args: argparse.Namespace) -> int:
    from onshore.prove.signer import ReceiptError, public_key_from_jwk, verify_receipt

    if args.jwks:
        document = json.loads(Path(args.jwks).read_text(encoding="utf-8"))
        keys = {}
        for jwk in document.get("keys", []):
            keys[str(jwk.get("kid"))] = public_key_from_jwk(jwk)
    else:
        from onshore.prove.signer import Signer
        from onshore.store.keyfile import load_signing_key

        settings = settings_from(args)
        signer = Signer(load_signing_key(existing_signing_key(args, settings, jwks_hint=True)))
        keys = {signer.kid: signer.public_key}
    try:
        claims = verify_receipt(args.token, keys)
    except ReceiptError as exc:
        print(f"INVALID: {exc}", file=sys.stderr)
        return 1
    print("VALID receipt, signed by key " + ", ".join(keys))
    print(json.dumps(claims, indent=2, ensure_ascii=False, sort_keys=True))
    return 0
