"""A bundle's first start in a home folder: a README (Dutch and English) and sample data to try.

At the first start of a bundle in a home folder, :func:`write_first_start` writes ``<home>/<bundle id>/``:

- ``README.md`` — the bundle's facts from the catalogue model (title, description, version, interfaces, kernels,
  sizes, packages), a link back to the portal (the hub's ``PORTAL_URL`` setting) and how to read the sample data
  with the bundle's own tools;
- ``voorbeelddata.csv`` — a small table generated here (no download), to try those tools on.

It runs once per bundle and home (a marker under ``.gereedschapskist/first-start/``): a README the user edited or
deleted is never written again, and an existing file is never overwritten.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from gereedschapskist.catalogue import Bundle, Ecosystem
from gereedschapskist.catalogue.kernels import kernels_of

README = "README.md"
SAMPLE = "voorbeelddata.csv"
MARKERS = Path(".gereedschapskist") / "first-start"
MUNICIPALITIES = ("Amsterdam", "Utrecht", "Zwolle")

#: How to read the sample with a package the bundle pins (key: the package's name as compared), shown when pinned.
_SNIPPETS = (
    (Ecosystem.PYPI, "pandas", "python", f'import pandas as pd\ndf = pd.read_csv("{SAMPLE}")\n'
                                         'df.groupby("gemeente")["aanvragen"].sum()'),
    (Ecosystem.PYPI, "duckdb", "python", f'import duckdb\nduckdb.sql("SELECT gemeente, sum(aanvragen) AS aanvragen '
                                         f'FROM \'{SAMPLE}\' GROUP BY gemeente ORDER BY gemeente")'),
    (Ecosystem.CRAN, "IRkernel", "r", f'df <- read.csv("{SAMPLE}")\naggregate(aanvragen ~ gemeente, data = df, '
                                      'FUN = sum)'),
)
_PLAIN = ("python", f'import csv\nwith open("{SAMPLE}", newline="", encoding="utf-8") as f:\n'
                    '    rows = list(csv.DictReader(f))\nprint(len(rows), rows[0])')


def sample_csv() -> str:
    """Requests per municipality and month in 2026 (made up, the same every time): 36 rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["maand", "gemeente", "aanvragen", "afgehandeld", "doorlooptijd_dagen"])
    for month in range(1, 13):
        for index, municipality in enumerate(MUNICIPALITIES):
            requests = 120 + 37 * index + (month * 13 + index * 7) % 41
            handled = requests - (month + 3 * index) % 17
            writer.writerow([f"2026-{month:02d}", municipality, requests, handled, 5 + (month * (index + 2)) % 23])
    return out.getvalue()


def readme(bundle: Bundle, *, portal_url: str) -> str:
    """The README of ``bundle``'s folder, Dutch first, then English."""
    portal = portal_url.rstrip("/")
    page = f"{portal}/catalogue/{bundle.id}" if portal else None
    workspaces = f"{portal}/workspaces" if portal else None
    interfaces = ", ".join(i.label for i in bundle.interfaces)
    kernels = ", ".join(f"`{k.display_name}`" for k in kernels_of(bundle))
    sizes = "\n".join(f"- `{s.id}`: {s.label}" for s in bundle.sizes)
    packages = "\n".join(f"| {p.ecosystem.value} | `{p.name}` | {p.version} |" for p in bundle.packages) \
        or "| — | — | — |"
    snippets = [(language, code) for ecosystem, key, language, code in _SNIPPETS
                if any(p.key == key or p.name == key for p in bundle.packages_of(ecosystem))] or [_PLAIN]
    code = "\n\n".join(f"```{language}\n{text}\n```" for language, text in snippets)

    def link(label: str, url: str | None, none: str) -> str:
        return f"[{label}]({url})" if url else none

    nl_links = (f'{link("dit pakket in de portal", page, "geen portal ingesteld")} · '
                f'{link("mijn werkplekken", workspaces, "—")}')
    en_links = (f'{link("this bundle in the portal", page, "no portal configured")} · '
                f'{link("my workspaces", workspaces, "—")}')
    return f"""# {bundle.title.nl} · {bundle.version}

*English below.*

{bundle.description.nl}

Dit is de map van het pakket **{bundle.title.nl}** (`{bundle.id}` {bundle.version}) in uw werkplek. Deze
map is aangemaakt bij de eerste start; u mag alles hier aanpassen: bij een volgende start wordt niets
overschreven.

| | |
|---|---|
| Pakket | `{bundle.id}` versie {bundle.version} |
| Werkomgevingen | {interfaces} |
| Kernels in JupyterLab | {kernels} |
| Portal | {nl_links} |

Formaten:

{sizes}

## Proberen

`{SAMPLE}` is een kleine voorbeeldtabel (verzonnen aanvragen per gemeente en maand). Maak in deze map
een notebook met de kernel van dit pakket en lees de tabel in:

{code}

## Pakketten

| bron | pakket | versie |
|---|---|---|
{packages}

---

# {bundle.title.en} · {bundle.version}

{bundle.description.en}

This is the folder of the bundle **{bundle.title.en}** (`{bundle.id}` {bundle.version}) in your workspace.
It was made at the first start; change anything here: a later start overwrites nothing.

| | |
|---|---|
| Bundle | `{bundle.id}` version {bundle.version} |
| Interfaces | {interfaces} |
| Kernels in JupyterLab | {kernels} |
| Portal | {en_links} |

Sizes:

{sizes}

## Try it

`{SAMPLE}` is a small sample table (made-up requests per municipality and month). Make a notebook in
this folder with this bundle's kernel and read the table (the code above), or open the CSV file itself.

The bundle's packages are listed in the table above (source, package, version).
"""


def write_first_start(home: Path, bundle: Bundle, *, portal_url: str, catalogue_dir: Path | None = None) -> Path | None:
    """Write the bundle's folder at its first start in ``home``; returns it, or None when it was written before.
    With ``catalogue_dir``, the bundle's example notebooks (``examples/<bundle id>/``, issue 17) are copied too."""
    marker = home / MARKERS / bundle.id
    if marker.exists():
        return None
    folder = home / bundle.id
    folder.mkdir(parents=True, exist_ok=True)
    examples = [(Path(rel).name, (catalogue_dir / rel).read_text(encoding="utf-8"))
                for rel in bundle.examples if catalogue_dir is not None and (catalogue_dir / rel).is_file()]
    for name, text in ((README, readme(bundle, portal_url=portal_url)), (SAMPLE, sample_csv()), *examples):
        try:
            with open(folder / name, "x", encoding="utf-8") as out:   # never overwrite what is there
                out.write(text)
        except FileExistsError:
            pass
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(f"{bundle.id} {bundle.version}\n", encoding="utf-8")
    return folder
