"""The embedded default's sample datasets (issue 15): metadata of real Dutch public-sector datasets
(``sample.jsonld``: DCAT-AP JSON-LD; ``ckan.json``: CKAN package_search) and tiny data files generated here,
deterministically and without network (:func:`generate`)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

HERE = Path(__file__).parent
SOURCES = (HERE / "sample.jsonld", HERE / "ckan.json")
ROWS = 300
MUNICIPALITIES = ("Amsterdam", "Rotterdam", "Den Haag", "Utrecht", "Eindhoven", "Groningen", "Tilburg", "Almere",
                  "Breda", "Nijmegen", "Apeldoorn", "Haarlem", "Arnhem", "Zaanstad", "Enschede")
STATIONS = ("260 De Bilt", "240 Schiphol", "344 Rotterdam", "380 Maastricht", "280 Eelde", "310 Vlissingen")


def _rows(name: str, rng: random.Random) -> tuple[list[str], list[list[object]]]:
    if name == "cbs-83625NED":
        return ["gemeente", "jaar", "gemiddelde_woz_eur"], [
            [MUNICIPALITIES[i % 15], 2005 + i // 15, 150_000 + rng.randrange(0, 400_000, 1000)] for i in range(ROWS)]
    if name == "cbs-microdata-inkomen-personen":
        return ["rinpersoon_pseudoniem", "jaar", "bruto_inkomen_eur"], [
            [f"P{rng.randrange(10**8):08d}", 2015 + i % 8, rng.randrange(0, 120_000, 100)] for i in range(ROWS)]
    if name == "kadaster-bag-verblijfsobjecten":
        return ["postcode", "huisnummer", "gemeente", "gebruiksdoel", "bouwjaar"], [
            [f"{rng.randrange(1000, 9999)}{chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}",
             rng.randrange(1, 300), rng.choice(MUNICIPALITIES), rng.choice(("woonfunctie", "kantoorfunctie",
                                                                            "winkelfunctie")),
             rng.randrange(1900, 2025)] for _ in range(ROWS)]
    if name == "knmi-daggegevens":
        return ["station", "datum", "tg_gemiddelde_temperatuur_c", "rh_neerslag_mm"], [
            [STATIONS[i % 6], f"2025-{1 + (i // 6) // 28:02d}-{1 + (i // 6) % 28:02d}", round(rng.gauss(10, 6), 1),
             round(max(0.0, rng.gauss(2, 3)), 1)] for i in range(ROWS)]
    if name == "rdw-gekentekende-voertuigen":
        return ["kenteken", "merk", "brandstof", "datum_eerste_toelating"], [
            [f"{rng.randrange(10, 99)}-{chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}{chr(65 + rng.randrange(26))}-{rng.randrange(1, 9)}",
             rng.choice(("VOLKSWAGEN", "KIA", "TOYOTA", "PEUGEOT", "TESLA")),
             rng.choice(("Benzine", "Diesel", "Elektriciteit")), f"20{rng.randrange(10, 25)}0{rng.randrange(1, 9)}15"]
            for _ in range(ROWS)]
    raise KeyError(name)


NAMES = ("cbs-83625NED", "cbs-microdata-inkomen-personen", "kadaster-bag-verblijfsobjecten", "knmi-daggegevens",
         "rdw-gekentekende-voertuigen")


def generate(store: Path) -> list[Path]:
    """Write each sample dataset's CSV into ``store`` (the same bytes every time); returns the files."""
    store.mkdir(parents=True, exist_ok=True)
    written = []
    for name in NAMES:
        header, rows = _rows(name, random.Random(name))
        path = store / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)
    return written



def load_sample(state_dir: Path, *, env: dict[str, str], log: Path) -> None:
    """``make up``: generate the data files into ``<state>/datasets`` and import the sample's metadata with
    ``gereedschapskist datasets import`` (a child process with the portal's settings; its output goes to ``log``)."""
    import subprocess
    import sys

    generate(state_dir / "datasets")
    with open(log, "ab") as out:
        for source in SOURCES:
            subprocess.run([sys.executable, "-m", "gereedschapskist", "datasets", "import", str(source)], env=env,
                           cwd=state_dir, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=True,
                           timeout=120)
