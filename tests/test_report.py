from __future__ import annotations

import base64
import re

from reptune.report import FIGURES, write_report
from test_compare import results  # noqa: F401  (the module-scoped comparison fixture)


def test_report_writes_every_figure_and_a_self_contained_page(results, tmp_path):  # noqa: F811
    _, r = results
    paths = write_report(r, tmp_path)
    page = paths["html"].read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == len(FIGURES)
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "http://" not in page and "https://" not in page
    for section in ("summary", "conditions", "effects", *FIGURES, "replies"):
        assert f'id="{section}"' in page


def test_markdown_report_links_existing_figures_and_states_the_summary(results, tmp_path):  # noqa: F811
    _, r = results
    paths = write_report(r, tmp_path)
    md = paths["markdown"].read_text()
    for link in re.findall(r"\]\((figures/[^)]+)\)", md):
        assert (tmp_path / link).exists()
    assert r["summary"][0] in md
