"""Every installation setting in one place: the store and data folders, the worker count, the
hosted mode's users (or shared token) and the limits an operator sets.

Each setting is read by `engine.settings_loader`: its environment variable, else the config
file (``$IMP_LAB_CONFIG``, else ``imp-lab.toml`` in the working directory), else the default.
The same file holds the queue's timing (``[jobs]``, `engine.jobs.records.JobSettings`) and the
execution backend (``[cluster]``, `engine.cluster`). The same settings work inside the Docker
image and outside it; the README's "Settings" section lists them all. The shared token is read
from the environment only: a file in the working tree is too easy to commit. The users file
(`engine.users`) holds token hashes.
"""

from __future__ import annotations

import dataclasses
import hmac
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from engine.config import SpecError
from engine.settings_loader import (
    TOP_LEVEL,
    config_layer,
    construct,
    load_section,
    read_config,
    read_values,
)
from engine.users import load_users, verify

TOKEN_ENV = "IMP_LAB_TOKEN"
USERS_ENV = "IMP_LAB_USERS"
SHARED = "shared"  # the owner of jobs submitted with the shared token: it names nobody
LOOPBACK, ANY = "127.0.0.1", "0.0.0.0"


class LimitError(SpecError):
    """A request over an operator's limit; `field` is the limit's name."""


@dataclass(frozen=True)
class Limits:
    """Per-request caps for a shared server; None means no cap."""

    max_epoch_levels: int | None = None  # training epochs × trainings (IMP levels + baselines)
    max_queued_per_user: int | None = None  # a user's queued and running jobs at once
    max_hessian_k: int | None = None  # top-k eigenvalues of a spectrum
    max_subset: int | None = None  # examples an analysis evaluates on

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and value < 1:
                raise SpecError(f.name, f"{value} is below 1; use a positive number or unset it")

    def check(self, name: str, value: int | None, what: str) -> None:
        cap = getattr(self, name)
        if cap is not None and value is not None and value > cap:
            raise LimitError(name, f"{what} is {value}, over this server's limit of {cap}")


@dataclass(frozen=True)
class Settings:
    store: str = "store"
    data: str = "data"
    workers: int = 1
    hosted: bool = False
    token: str | None = field(default=None, repr=False)
    limits: Limits = Limits()
    users: dict[str, str] = field(default_factory=dict, repr=False)  # name -> token hash

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise SpecError("workers", f"{self.workers} is negative; use 0 or more")

    @property
    def credential_configured(self) -> bool:
        return bool(self.token) or bool(self.users)

    def hosted_problem(self) -> str | None:
        """Why hosted mode must not start, or None: launching would be open to anyone."""
        if self.hosted and not self.credential_configured:
            return (
                f"Hosted mode (IMP_LAB_HOSTED=1) needs credentials: name a users file in "
                f"{USERS_ENV} (see `python -m engine.users`) or set {TOKEN_ENV} to a shared "
                "token; without them, anyone could launch, cancel and delete jobs."
            )
        return None

    def authenticate(self, name: str, token: str | None) -> str | None:
        """Who `token` signs in as: `name` when the users file vouches for it, `SHARED` for
        the shared token (whatever name is typed), else None."""
        if not token:
            return None
        if name in self.users and verify(token, self.users[name]):
            return name
        if self.token and hmac.compare_digest(token.encode(), self.token.encode()):
            return SHARED
        return None

    @property
    def address(self) -> str:
        """Where the app listens unless told: every interface only when hosted mode guards
        it, this machine alone otherwise."""
        return ANY if self.hosted else LOOPBACK


_ENV = {name: f"IMP_LAB_{name.upper()}" for name in TOP_LEVEL}
_LIMIT_ENV = {f.name: f"IMP_LAB_{f.name.upper()}" for f in dataclasses.fields(Limits)}


def load_settings() -> Settings:
    """The environment, then the config file, then the defaults (`engine.settings_loader`)."""
    config = read_config()  # once, for both layers
    limits = load_section(Limits, "limits", _LIMIT_ENV, config=config)
    top = [config_layer(None, config)]
    values, sources = read_values(Settings, _ENV, top, TOP_LEVEL, {"users": str})
    users = load_users(values.pop("users")) if "users" in values else {}
    token = os.environ.get(TOKEN_ENV) or None
    return construct(Settings, values | {"token": token, "limits": limits, "users": users}, sources)


def store_root() -> Path:
    return Path(load_settings().store)


def data_root() -> str:
    return load_settings().data


def main(argv: list[str]) -> int:
    """`python -m engine.settings check`: exit 2 with the reason when the settings are unusable
    or hosted mode has no credential; `workers`: print the configured CPU worker count;
    `address`: print where the app listens by default (see `Settings.address`)."""
    try:
        cfg = load_settings()
    except SpecError as e:
        print(f"imp-lab: bad setting: {e}", file=sys.stderr)
        return 2
    if argv[:1] == ["workers"]:
        print(cfg.workers)
        return 0
    if argv[:1] == ["address"]:
        print(cfg.address)
        return 0
    problem = cfg.hosted_problem()
    if problem:
        print(f"imp-lab: refusing to start. {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
