"""A bundle's first start writes a README (Dutch and English, from the catalogue) and sample data into the home
folder, once, and never overwrites what the user changed (issue 12, item 3)."""

from __future__ import annotations

import csv
import io

from gereedschapskist.catalogue import load
from gereedschapskist.hub.workspace_home import README, SAMPLE, sample_csv, write_first_start

CATALOGUE = load()
PORTAL = "http://127.0.0.1:8080"


def test_the_first_start_writes_the_bundles_facts_a_portal_link_and_sample_data(tmp_path):
    bundle = CATALOGUE.bundles["bi-sql-duckdb"]
    folder = write_first_start(tmp_path, bundle, portal_url=PORTAL + "/")
    assert folder == tmp_path / "bi-sql-duckdb"
    text = (folder / README).read_text(encoding="utf-8")
    for fact in (bundle.title.nl, bundle.title.en, bundle.description.nl, bundle.description.en,
                 f"`{bundle.id}` versie {bundle.version}", f"`{bundle.id}` version {bundle.version}",
                 f"`SQL analysis with DuckDB {bundle.version}`", "JupyterLab",
                 f"({PORTAL}/catalogue/bi-sql-duckdb)", f"({PORTAL}/workspaces)", "import duckdb", "pd.read_csv"):
        assert fact in text, fact
    for size in bundle.sizes:
        assert f"`{size.id}`: {size.label}" in text
    for package in bundle.packages:
        assert f"| pypi | `{package.name}` | {package.version} |" in text
    assert (folder / SAMPLE).read_text(encoding="utf-8") == sample_csv()


def test_an_r_bundle_gets_r_code_and_no_portal_means_no_link(tmp_path):
    text = (write_first_start(tmp_path, CATALOGUE.bundles["bi-r-analysis"], portal_url="") / README).read_text()
    assert 'read.csv("voorbeelddata.csv")' in text and "import duckdb" not in text
    assert "geen portal ingesteld" in text and "no portal configured" in text and "](" not in text


def test_the_sample_data_is_a_small_table(tmp_path):
    rows = list(csv.DictReader(io.StringIO(sample_csv())))
    assert len(rows) == 36 and set(rows[0]) == {"maand", "gemeente", "aanvragen", "afgehandeld",
                                                "doorlooptijd_dagen"}
    assert all(0 < int(r["afgehandeld"]) <= int(r["aanvragen"]) for r in rows)
    assert sample_csv() == sample_csv()


def test_only_the_first_start_writes_and_nothing_the_user_changed_is_overwritten(tmp_path):
    bundle = CATALOGUE.bundles["bi-sql-duckdb"]
    folder = write_first_start(tmp_path, bundle, portal_url=PORTAL)
    (folder / README).write_text("mijn eigen aantekeningen", encoding="utf-8")
    (folder / SAMPLE).unlink()
    assert write_first_start(tmp_path, bundle, portal_url=PORTAL) is None
    assert (folder / README).read_text(encoding="utf-8") == "mijn eigen aantekeningen"
    assert not (folder / SAMPLE).exists()             # deleted by the user: not written again
    # another bundle's first start in the same home writes its own folder; a file already there is kept
    other = CATALOGUE.bundles["ml-python"]
    (tmp_path / other.id).mkdir()
    (tmp_path / other.id / README).write_text("van een collega", encoding="utf-8")
    assert write_first_start(tmp_path, other, portal_url=PORTAL) == tmp_path / other.id
    assert (tmp_path / other.id / README).read_text(encoding="utf-8") == "van een collega"
    assert (tmp_path / other.id / SAMPLE).is_file()


def test_the_bundles_example_notebooks_are_copied_at_the_first_start_and_never_overwritten(tmp_path):
    from gereedschapskist.catalogue import default_root, load

    spark = load().bundles["ml-spark"]
    assert spark.examples == ("examples/ml-spark/spark-groupby.ipynb",)
    folder = write_first_start(tmp_path, spark, portal_url="", catalogue_dir=default_root())
    copied = folder / "spark-groupby.ipynb"
    assert copied.read_text(encoding="utf-8") == (default_root() / spark.examples[0]).read_text(encoding="utf-8")
    copied.write_text("mine", encoding="utf-8")
    (tmp_path / ".gereedschapskist").rename(tmp_path / "gone")          # even when the marker is lost
    write_first_start(tmp_path, spark, portal_url="", catalogue_dir=default_root())
    assert copied.read_text(encoding="utf-8") == "mine"
