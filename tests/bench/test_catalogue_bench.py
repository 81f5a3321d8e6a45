"""Benchmark: `catalogue check` on 1,000 bundles, and one user's list of allowed bundles.

Targets (issue 3): check under 1 s on this machine; a user's list under 1 ms. Figures are printed
(run `make bench` or `pytest tests/bench -s`), with a reference measured in the same run: plain
libyaml loading of the same files, the least any check must do. Nothing here asserts a time.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

from gereedschapskist.catalogue import load_catalogue
from gereedschapskist.cli import build_app

from ..catalogue.conftest import TODAY, Tree, bundle, partner, role

ROLES = ("bi", "ml", "streaming", "dev")


def _generate(root: Path, count: int) -> Tree:
    tree = Tree(root)
    for role_id in ROLES:
        tree.write(f"roles/{role_id}.yaml", role(role_id))
    tree.write("partners/cloud-a.yaml", partner())
    for i in range(count):
        roles = [ROLES[i % 4]] + ([ROLES[(i + 1) % 4]] if i % 3 == 0 else [])
        data = bundle(f"{roles[0]}-bundle-{i:04d}", roles,
                      packages={"pypi": [f"package-{j}==1.{j}.{i % 7}" for j in range(8)]})
        tree.bundle(data)
    return tree


def _median(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def test_check_and_user_list_on_1000_bundles(tmp_path):
    tree = _generate(tmp_path / "catalogue", 1000)
    files = sorted(tree.root.rglob("*.yaml"))

    result = load_catalogue(tree.root, today=TODAY)
    assert result.ok and len(result.catalogue.bundles) == 1000

    def reference():
        for file in files:
            yaml.load(file.read_bytes(), Loader=yaml.CSafeLoader)

    runner = CliRunner()
    app = build_app()

    def check_cli():
        outcome = runner.invoke(app, ["catalogue", "check", str(tree.root), "--today", "2026-11-23", "--no-extra"])
        assert outcome.exit_code == 0, outcome.output

    ref = _median(reference, 5)
    load_time = _median(lambda: load_catalogue(tree.root, today=TODAY), 5)
    cli_time = _median(check_cli, 3)

    catalogue = result.catalogue
    user_roles = ["bi", "ml"]
    offered = catalogue.offered_for(user_roles)
    assert len(offered) == len({b.id for b in catalogue.bundles.values() if set(b.roles) & set(user_roles)})
    calls = 10_000
    per_call = _median(lambda: [catalogue.offered_for(user_roles) for _ in range(calls)], 5) / calls
    one_role = _median(lambda: [catalogue.offered_for(["ml"]) for _ in range(calls)], 5) / calls
    fresh = load_catalogue(tree.root, today=TODAY).catalogue  # nothing cached yet: the first user's cost
    start = time.perf_counter()
    fresh.offered_for(user_roles)
    first_call = time.perf_counter() - start

    print(f"\n[bench] catalogue check, 1,000 bundles ({len(files)} files):")
    print(f"[bench]   libyaml load only (reference) {ref * 1000:8.1f} ms")
    print(f"[bench]   load_catalogue (all rules)    {load_time * 1000:8.1f} ms  ({load_time / ref:.1f}x reference)")
    print(f"[bench]   `catalogue check` command     {cli_time * 1000:8.1f} ms  (target < 1000 ms)")
    print(f"[bench] one user's allowed bundles ({len(offered)} of 1,000):")
    print(f"[bench]   two roles, first call  {first_call * 1e6:8.2f} µs (target < 1000 µs)")
    print(f"[bench]   two roles, later calls {per_call * 1e6:8.2f} µs per call")
    print(f"[bench]   one role               {one_role * 1e6:8.2f} µs per call")
