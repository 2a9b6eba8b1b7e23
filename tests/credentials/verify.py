#!/usr/bin/env python3
"""Verifies an Open Badges 3.0 credential (VC-JWT, EdDSA) as a stranger would, with none of the
service's code: the signature with the key its `kid` serves, the Open Badges 3.0 JSON Schema,
the claims against the credential, and the Bitstring Status List it names (itself signed).

Prints a JSON report; exits 0 only if everything holds and the credential is not revoked."""

import argparse
import base64
import gzip
import hashlib
import json
import pathlib
import sys
import urllib.request
from datetime import datetime

import jsonschema
import jwt

SCHEMA = pathlib.Path(__file__).with_name("ob_v3p0_achievementcredential_schema.json")


def resolver(mappings):
    """Rewrites the service's public address to where it listens (tests run it on a free port)."""
    pairs = [m.split("=", 1) for m in mappings]

    def resolve(url):
        for public, actual in pairs:
            if url.startswith(public):
                return actual + url[len(public):]
        return url

    return resolve


def fetch(url, resolve):
    with urllib.request.urlopen(resolve(url), timeout=10) as answer:
        return answer.read().decode("utf-8")


def verified_payload(token, resolve):
    """The payload if the signature holds with the JWK the header's `kid` serves, else None."""
    header = jwt.get_unverified_header(token)
    if header.get("alg") != "EdDSA" or "kid" not in header:
        return None, header
    jwk = json.loads(fetch(header["kid"], resolve))
    if "d" in jwk:
        raise SystemExit("the published key holds its private part")
    key = jwt.PyJWK(jwk).key
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=["EdDSA"],
            options={"verify_aud": False, "verify_iss": False, "require": ["iss", "jti", "nbf"]},
        )
    except jwt.InvalidTokenError:
        return None, header
    return payload, header


def claims_agree(credential):
    try:
        valid_from = datetime.fromisoformat(credential["validFrom"].replace("Z", "+00:00"))
    except (KeyError, AttributeError, ValueError):
        return False
    return (
        credential.get("iss") == credential["issuer"]["id"]
        and credential.get("jti") == credential["id"]
        and credential.get("nbf") == int(valid_from.timestamp())
    )


def revoked(credential, resolve):
    """Whether the credential's bit is set in its status list (None if the list does not verify)."""
    status = credential["credentialStatus"]
    assert status["type"] == "BitstringStatusListEntry", status
    assert status["statusPurpose"] == "revocation", status
    listing, _ = verified_payload(fetch(status["statusListCredential"], resolve).strip(), resolve)
    if listing is None or listing["issuer"]["id"] != credential["issuer"]["id"]:
        return None
    subject = listing["credentialSubject"]
    assert subject["type"] == "BitstringStatusList", subject
    encoded = subject["encodedList"]
    assert encoded.startswith("u"), encoded
    raw = encoded[1:]
    bits = gzip.decompress(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    if len(bits) < 16384:
        return None
    index = int(status["statusListIndex"])
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def email_matches(credential, email):
    for identity in credential["credentialSubject"].get("identifier", []):
        if identity["identityType"] == "emailAddress" and identity["hashed"]:
            digest = hashlib.sha256((email + identity.get("salt", "")).encode("utf-8")).hexdigest()
            return identity["identityHash"] == "sha256$" + digest
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credential", required=True, help="the .jwt file")
    parser.add_argument("--resolve", action="append", default=[], help="PUBLIC=ACTUAL address prefix")
    parser.add_argument("--email", help="check that the credential names this email")
    args = parser.parse_args()
    resolve = resolver(args.resolve)
    token = pathlib.Path(args.credential).read_text(encoding="utf-8").strip()

    report = {}
    payload, header = verified_payload(token, resolve)
    report["kid"] = header.get("kid")
    report["signature"] = payload is not None
    credential = payload if payload is not None else jwt.decode(token, options={"verify_signature": False})
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))
    report["schema_errors"] = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(credential)
    ]
    report["claims_agree"] = claims_agree(credential)
    report["issuer"] = credential["issuer"]["id"]
    report["issuer_name"] = credential["issuer"].get("name")
    report["kid_is_issuers"] = str(header.get("kid", "")).startswith(credential["issuer"]["id"] + "/keys/")
    is_revoked = revoked(credential, resolve) if payload is not None else None
    report["status"] = {True: "revoked", False: "active", None: "unknown"}[is_revoked]
    ok = (
        report["signature"]
        and not report["schema_errors"]
        and report["claims_agree"]
        and report["kid_is_issuers"]
        and report["status"] == "active"
    )
    if args.email is not None:
        report["email_matches"] = email_matches(credential, args.email)
        ok = ok and report["email_matches"]
    report["valid"] = bool(ok)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
