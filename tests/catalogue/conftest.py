"""A small, valid catalogue tree written per test, so each test can break exactly one thing."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

TODAY = date(2026, 11, 23)


def role(role_id: str) -> dict[str, Any]:
    return {"id": role_id, "title": {"nl": f"Rol {role_id}", "en": f"Role {role_id}"},
            "description": {"nl": "Beschrijving", "en": "Description"}}


def bundle(bundle_id: str, roles: list[str], **changes: Any) -> dict[str, Any]:
    data = {
        "id": bundle_id,
        "title": {"nl": f"Bundel {bundle_id}", "en": f"Bundle {bundle_id}"},
        "description": {"nl": "Wat je ermee doet", "en": "What you do with it"},
        "roles": roles,
        "version": "1.0.0",
        "lifecycle": {"status": "active"},
        "interfaces": ["jupyterlab"],
        "image": {"repository": f"ghcr.io/example/{bundle_id}", "tag": "1.0.0"},
        "packages": {"pypi": ["pandas==2.3.3", "duckdb==1.4.4"]},
        "sizes": [{"id": "small", "cpu": 1, "memory": "4Gi"}, {"id": "large", "cpu": 4, "memory": "16Gi"}],
        "licence": {"spdx": "MIT", "open_source": True},
        "security_review": {"reviewer": "Security team", "date": "2026-10-01", "valid_until": "2027-10-01"},
        "supply_model": "standard-contract",
        "maintainers": [{"name": "Team Data", "email": "data@example.nl"}],
    }
    data.update(changes)
    return data


def partner(partner_id: str = "cloud-a", gpu: bool = True) -> dict[str, Any]:
    sizes = [{"id": "general-8", "machine_type": "m8", "cpu": 8, "memory": "32Gi", "price_per_hour_eur": 0.4}]
    if gpu:
        sizes.append({"id": "gpu-8", "machine_type": "g8", "cpu": 8, "memory": "32Gi", "gpu": 1,
                      "gpu_type": "nvidia-tesla-t4", "price_per_hour_eur": 0.9})
    return {
        "id": partner_id, "name": "Cloud A", "provider": "gcp",
        "regions": [{"id": "europe-west4", "name": "Netherlands", "country": "NL"}],
        "certifications": ["ISO 27001"],
        "machine_sizes": sizes,
        "contract_template": {"id": "sc-cloud-a", "title": {"nl": "Contract", "en": "Contract"},
                              "version": "2026.1"},
    }


class Tree:
    """A catalogue folder on disk with helpers to write (and break) its files."""

    def __init__(self, root: Path):
        self.root = root

    def write(self, rel: str, data: Any) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        elif isinstance(data, str):
            path.write_text(data, encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        return path

    def bundle(self, data: dict[str, Any], folder: str | None = None) -> Path:
        folder = folder or data["roles"][0]
        return self.write(f"bundles/{folder}/{data['id']}.yaml", data)

    def read(self, rel: str) -> dict[str, Any]:
        return yaml.safe_load((self.root / rel).read_text(encoding="utf-8"))

    def edit(self, rel: str, change) -> None:
        data = copy.deepcopy(self.read(rel))
        change(data)
        self.write(rel, data)


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    t = Tree(tmp_path / "catalogue")
    for role_id in ("bi", "ml"):
        t.write(f"roles/{role_id}.yaml", role(role_id))
    t.write("partners/cloud-a.yaml", partner())
    t.bundle(bundle("bi-sql", ["bi"]))
    t.bundle(bundle("ml-python", ["ml"]))
    t.bundle(bundle("ml-gpu", ["ml"], sizes=[{"id": "gpu", "cpu": 4, "memory": "16Gi", "gpu": 1}]))
    return t
