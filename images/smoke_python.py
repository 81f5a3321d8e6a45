"""Runs *inside* a workspace image (embedded in the smoke-test script; standard library only).

``python - '<json>'`` with ``{"label": ..., "pins": {name: version}}``: every distribution must
be installed at exactly its pinned version, and its top-level module(s) must import. Prints one
line per package and exits 1 naming every package that failed.
"""

import importlib
import importlib.metadata as metadata
import json
import re
import sys

#: Top-level names some distributions ship that are not meant to be imported.
NOT_MODULES = {"test", "tests", "testing", "docs", "doc", "examples", "benchmarks", "scripts"}


def normalise(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_modules(dist):
    """The importable top-level names of a distribution (its own name alone when it ships that)."""
    names = set()
    listed = dist.read_text("top_level.txt")
    if listed:
        names.update(line.strip() for line in listed.splitlines())
    else:
        for path in dist.files or ():
            parts = path.parts
            if not parts or parts[0] in ("..", "__pycache__") or parts[0].endswith((".dist-info", ".data")):
                continue
            if len(parts) == 1:
                if parts[0].endswith(".py"):
                    names.add(parts[0][:-3])
            elif parts[-1].endswith((".py", ".so", ".pyd")):
                names.add(parts[0])
    names = {n for n in names if n.isidentifier() and not n.startswith("_") and n not in NOT_MODULES}
    own = normalise(dist.metadata["Name"]).replace("-", "_")
    return [own] if own in names else sorted(names)


def check(pins):
    failures = []
    for requirement_name, version in sorted(pins.items()):
        name = requirement_name.split("[", 1)[0]
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            failures.append(f"{name}=={version}: not installed")
            continue
        installed = dist.version
        if installed != version and installed.split("+", 1)[0] != version:
            failures.append(f"{name}=={version}: installed version is {installed}")
            continue
        modules = top_level_modules(dist)
        broken = []
        for module in modules:
            try:
                importlib.import_module(module)
            except Exception as exc:  # noqa: BLE001 - any import failure is the finding
                broken.append(f"import {module} failed: {type(exc).__name__}: {exc}")
        if broken:
            failures.append(f"{name}=={version}: " + "; ".join(broken))
        else:
            print(f"ok  {name}=={version}  imports {', '.join(modules) or '(no modules)'}")
    return failures


def main(argv):
    spec = json.loads(argv[1])
    failures = check(spec["pins"])
    if failures:
        print(f"FAILED {spec['label']}: {len(failures)} of {len(spec['pins'])} package(s):", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    print(f"all {len(spec['pins'])} {spec['label']} installed at their pinned versions and importable")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
