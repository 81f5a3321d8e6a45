"""The smoke test of a workspace image, generated from the catalogue (not from the image itself).

``gereedschapskist images smoke-test <bundle>`` prints a bash script that CI runs inside the
freshly built image. Because the expected packages come from the catalogue at test time, an image
that lost a package (or installs another version) fails even if its own files agree with it.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from gereedschapskist.catalogue import Bundle, Ecosystem

from . import toolchain as tc
from .render import tooling

PY_CHECKER = (Path(__file__).with_name("smoke_python.py")).read_text(encoding="utf-8")

_CONDA_CHECKER = """\
import json, subprocess, sys
spec = json.loads(sys.argv[1])
listed = json.loads(subprocess.run(["mamba", "list", "--json"], check=True, capture_output=True, text=True).stdout)
have = {p["name"]: p["version"] for p in listed}
wrong = [f"{n}=={v}: " + (f"installed version is {have[n]}" if n in have else "not installed")
         for n, v in sorted(spec["pins"].items()) if have.get(n) != v]
for n, v in sorted(spec["pins"].items()):
    if have.get(n) == v:
        print(f"ok  {n}=={v}")
if wrong:
    sys.exit("FAILED conda-forge packages:\\n  " + "\\n  ".join(wrong))
"""

_R_CHECKER = """\
wanted <- c({pins})
failed <- character(0)
for (p in names(wanted)) {{
  ok <- suppressPackageStartupMessages(requireNamespace(p, quietly = TRUE))
  if (!ok) {{
    failed <- c(failed, paste0(p, "==", wanted[[p]], ": not installed or does not load"))
    next
  }}
  suppressPackageStartupMessages(library(p, character.only = TRUE))
  have <- as.character(utils::packageVersion(p))
  if (package_version(have) != package_version(wanted[[p]])) {{
    failed <- c(failed, paste0(p, "==", wanted[[p]], ": installed version is ", have))
  }} else {{
    cat("ok ", paste0(p, "==", wanted[[p]]), " loads\\n")
  }}
}}
if (length(failed)) stop("FAILED CRAN packages:\\n  ", paste(failed, collapse = "\\n  "), call. = FALSE)
"""


def _python_step(title: str, label: str, pins: dict[str, str]) -> str:
    spec = json.dumps({"label": label, "pins": pins}, sort_keys=True)
    return f'step {shlex.quote(title)}\npython - {shlex.quote(spec)} <<\'PYCODE\'\n{PY_CHECKER}PYCODE'


def _r_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def smoke_script(bundle: Bundle) -> str:
    """A bash script that fails unless the image holds exactly what the bundle declares."""
    lines = [
        "#!/usr/bin/env bash",
        f"# Smoke test of the workspace image of bundle {bundle.id} {bundle.version}, generated from the catalogue",
        f"# by `gereedschapskist images smoke-test {bundle.id}`. Run it inside the image, for example:",
        '#   docker run --rm -v "$PWD/smoke.sh:/tmp/smoke.sh:ro" --entrypoint bash IMAGE /tmp/smoke.sh',
        "set -euo pipefail",
        "step() { printf '\\n== %s\\n' \"$*\"; }",
        "",
        'step "runs as a non-root user"',
        'uid="$(id -u)"',
        'if [ "$uid" -eq 0 ]; then echo "the image runs as root" >&2; exit 1; fi',
        'echo "uid $uid, home $HOME"',
        "",
        'step "the Python environment is read-only for the workspace user"',
        f'if touch {tc.VENV}/.smoke-test 2>/dev/null; then echo "{tc.VENV} is writable" >&2; exit 1; fi',
        f'test "$(command -v python)" = {tc.VENV}/bin/python',
        "",
        'step "jupyterhub-singleuser starts"',
        "jupyterhub-singleuser --help > /dev/null",
        "echo ok",
        "",
        _python_step("interface tooling", "interface tooling", {p.name: p.version for p in tooling(bundle)}),
    ]
    if any(i.value in ("rstudio", "vscode") for i in bundle.interfaces):
        lines += ["", 'step "jupyter-server-proxy is enabled"',
                  "jupyter server extension list 2>&1 | grep -E 'jupyter_server_proxy.*enabled'"]
    for interface in bundle.interfaces:
        if interface.value == "rstudio":
            lines += ["", 'step "interface rstudio: RStudio Server is found by jupyter-rsession-proxy"',
                      "python -c 'from jupyter_rsession_proxy import get_rstudio_executable as find; "
                      "print(find(\"rserver\"))'"]
        elif interface.value == "vscode":
            lines += ["", 'step "interface vscode: code-server runs"', "code-server --version",
                      "python -c 'import jupyter_vscode_proxy'"]
    pypi = bundle.packages_of(Ecosystem.PYPI)
    if pypi:
        lines += ["", _python_step("PyPI packages of the bundle", "PyPI packages",
                                   {p.name: p.version for p in pypi})]
    cran = bundle.packages_of(Ecosystem.CRAN)
    if cran:
        pins = ", ".join(f"{_r_string(p.name)} = {_r_string(p.version)}" for p in cran)
        lines += ["", 'step "CRAN packages of the bundle"',
                  f"R --no-echo --no-save <<'RCODE'\n{_R_CHECKER.format(pins=pins)}RCODE"]
    if bundle.system_packages:                     # issue 17: Debian packages the bundle declares
        names = " ".join(shlex.quote(n) for n in sorted(bundle.system_packages))
        lines += ["", 'step "system packages of the bundle"',
                  f"dpkg-query --show --showformat='${{Package}} ${{Version}} ${{db:Status-Status}}\\n' {names} "
                  "| tee /dev/stderr | awk '$3 != \"installed\" { bad = 1 } END { exit bad }'"]
    conda = bundle.packages_of(Ecosystem.CONDA_FORGE)
    if conda:
        spec = json.dumps({"pins": {p.name: p.version for p in conda}}, sort_keys=True)
        lines += ["", 'step "conda-forge packages of the bundle"',
                  f"python - {shlex.quote(spec)} <<'PYCODE'\n{_CONDA_CHECKER}PYCODE"]
    lines += ["", f'echo "smoke test of {bundle.id} {bundle.version} passed"', ""]
    return "\n".join(lines)
