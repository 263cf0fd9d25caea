"""Hosted mode's users: a TOML file of ``name = "<hash of that user's token>"``.

The signed-in user, not a name typed beside a shared password, owns the jobs they submit, so
the per-user queue limit counts people. The file holds hashes only: copying it reveals no
token. Two forms are read:

- ``scrypt:<n>:<r>:<p>:<salt hex>:<key hex>`` (`hashlib.scrypt`, salted and slow): what
  ``python -m engine.users hash NAME`` prints, reading the token without echoing it;
- ``sha256:<hex>``: for tokens that are already long random strings
  (``openssl rand -hex 32``), where a fast hash loses nothing.
"""

from __future__ import annotations

import functools
import getpass
import hashlib
import hmac
import re
import secrets
import sys
import tomllib
from pathlib import Path

from engine.config import SpecError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # 16 MiB and ~50 ms per check: cheap once, slow to guess
_SCRYPT_RE = re.compile(r"^scrypt:(\d+):(\d+):(\d+):([0-9a-f]{16,}):([0-9a-f]{32,})$")
_SHA256_RE = re.compile(r"^sha256:([0-9a-f]{64})$")


def hash_token(token: str, salt: bytes | None = None) -> str:
    """The scrypt form of `token`'s hash, with a fresh random salt."""
    salt = secrets.token_bytes(16) if salt is None else salt
    key = hashlib.scrypt(token.encode(), salt=salt, **SCRYPT)
    n, r, p = SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]
    return f"scrypt:{n}:{r}:{p}:{salt.hex()}:{key.hex()}"


@functools.lru_cache(maxsize=256)  # a session checks its sign-in on every rerun
def verify(token: str, stored: str) -> bool:
    """Whether `token` hashes to `stored` (constant-time comparison)."""
    if not token:
        return False
    m = _SCRYPT_RE.match(stored)
    if m:
        n, r, p = (int(g) for g in m.groups()[:3])
        salt, key = bytes.fromhex(m.group(4)), bytes.fromhex(m.group(5))
        found = hashlib.scrypt(
            token.encode(), salt=salt, n=n, r=r, p=p, dklen=len(key), maxmem=256 * n * r + 2**20
        )
        return hmac.compare_digest(found, key)
    m = _SHA256_RE.match(stored)
    if m:
        return hmac.compare_digest(hashlib.sha256(token.encode()).hexdigest(), m.group(1))
    return False


def load_users(path: str | Path) -> dict[str, str]:
    """The users file as {name: hash}; a SpecError names the entry that is wrong."""
    p = Path(path)
    if not p.is_file():
        raise SpecError("users", f"no users file at {p}")
    try:
        data = tomllib.loads(p.read_text())
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise SpecError("users", f"{p} is not valid TOML: {e}") from None
    for name, stored in data.items():
        if not NAME.match(name):
            raise SpecError(f"users.{name}", "use letters, digits, '.', '_', '@' and '-' only")
        if not isinstance(stored, str) or not (
            _SCRYPT_RE.match(stored) or _SHA256_RE.match(stored)
        ):
            raise SpecError(
                f"users.{name}",
                "is not a token hash; make one with `python -m engine.users hash NAME`",
            )
    if not data:
        raise SpecError("users", f"{p} names no user")
    return dict(data)


def main(argv: list[str]) -> int:
    """`python -m engine.users hash NAME`: read a token (not echoed) and print the line for
    the users file."""
    if len(argv) != 2 or argv[0] != "hash" or not NAME.match(argv[1]):
        print("usage: python -m engine.users hash NAME   (reads the token from the terminal)")
        return 2
    token = getpass.getpass("token: ") if sys.stdin.isatty() else sys.stdin.readline().strip()
    if len(token) < 12:
        print("imp-lab: use a token of at least 12 characters", file=sys.stderr)
        return 2
    print(f'{argv[1]} = "{hash_token(token)}"')
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
