"""What a local hub enforces for one standard contract's environment: one typed, validated file per environment.

The portal's ``local`` provisioner (``portal/services/provisioning.py``) writes one :class:`ContractEnvironment` per
contract into the hub's environments folder (``<hub state>/environments/<name>.json``, :func:`write_environment`),
and rewrites it whenever the contract changes state, a size on request is decided or ends. The hub reads the folder
(:func:`load_environments`) before every launch and refuses what the file does not allow: another organisation, a
contract that is not active, a bundle or size outside the contract. So the offer is enforced by the hub itself, not
only filtered in the portal; a launch through the hub's REST API is held to the same file.

Files are written atomically (a temporary file renamed over the old one), so a reader never sees half a file.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .refusal import Refusal, format_validation_errors

NAME_PATTERN = r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$"
SIZE_PATTERN = r"^[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9-]*$"
#: The states a contract environment can be in, as the hub needs them (the contract's own states, less those before
#: provisioning): only ``active`` lets anyone launch.
EnvironmentState = Literal["provisioning", "active", "suspended", "ended"]


class ContractEnvironmentInvalid(Refusal):
    """A contract environment file is unreadable or invalid; the message names the file, field and value."""

    reason = "invalid-contract-environment"

    def __init__(self, message: str):
        super().__init__(None, message)


class ExtraSize(BaseModel):
    """A size on request an organisation admin approved: for one user, until ``ends_on`` (inclusive)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(min_length=1, description="the hub user name of the member it was approved for")
    size: str = Field(pattern=SIZE_PATTERN, description="'bundle/size'")
    ends_on: date = Field(description="the last day it is offered")
    request: int = Field(ge=1, description="the size request's id in the portal")


class ContractEnvironment(BaseModel):
    """One contract's environment on a local hub: whose it is, whether it is open, and exactly what it offers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="the environment's name (also the portal's Environment.name)")
    organisation: str = Field(pattern=NAME_PATTERN, description="the ordering organisation (group org:<id>)")
    contract: int = Field(ge=1, description="the contract's id in the portal")
    partner: str = Field(min_length=1)
    stage: Literal["development", "production"]
    state: EnvironmentState
    reason: str | None = Field(default=None, description="why it is not active (shown to users), Dutch / English")
    bundles: tuple[str, ...] = Field(description="bundle ids offered")
    sizes: tuple[str, ...] = Field(description="'bundle/size' offered to every member")
    extra_sizes: tuple[ExtraSize, ...] = Field(default=(), description="sizes on request, per member")
    ends_on: date = Field(description="the contract's last day")

    def offers(self, bundle: str, size: str, *, username: str, today: date) -> bool:
        """Whether ``bundle/size`` is offered to ``username`` on ``today`` (the contract's sizes, or theirs on
        request)."""
        key = f"{bundle}/{size}"
        if bundle not in self.bundles:
            return False
        return key in self.sizes or any(e.size == key and e.username == username and today <= e.ends_on
                                        for e in self.extra_sizes)


def environment_file(folder: Path, name: str) -> Path:
    return folder / f"{name}.json"


def write_environment(folder: Path, environment: ContractEnvironment) -> Path:
    """Write (or replace) ``folder/<name>.json`` atomically; returns the file."""
    folder.mkdir(parents=True, exist_ok=True)
    target = environment_file(folder, environment.name)
    text = json.dumps(environment.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{environment.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def read_environment(file: Path) -> ContractEnvironment:
    """One file, validated, or :class:`ContractEnvironmentInvalid` naming the file, field and value."""
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ContractEnvironmentInvalid(f"{file}: not readable JSON: {exc}") from exc
    try:
        environment = ContractEnvironment.model_validate(data)
    except ValidationError as exc:
        raise ContractEnvironmentInvalid("\n".join(format_validation_errors(
            exc, name=lambda field: f"{file}: {field}", show_value=lambda field, value: True))) from exc
    if file.name != f"{environment.name}.json":
        raise ContractEnvironmentInvalid(f"{file}: name = {environment.name!r}: must equal the file name "
                                         f"({file.stem!r})")
    return environment


def load_environments(folder: Path) -> dict[str, ContractEnvironment]:
    """Every contract environment in ``folder`` by name (none when the folder does not exist). One bad file is an
    error naming it: the hub refuses launches rather than guess (fail closed)."""
    if not folder.is_dir():
        return {}
    return {env.name: env for env in (read_environment(f) for f in sorted(folder.glob("*.json")))}
