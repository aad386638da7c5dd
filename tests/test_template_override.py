"""An organiser's template folder (``digest.templates``) changes the digests without any
code change: through ``aggregator digest``, with a configuration file naming the folder
relative to itself, a page of theirs replaces the packaged one and a partial of theirs
replaces the packaged partial inside the packaged page.

(test_digest.py checks the loader order on ``make_environment`` directly.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregator.digest.render import PACKAGED_TEMPLATES
from tests.cli_support import SLUG, run_cli, sample_servers


@pytest.fixture
def config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Path]:
    """The demo's configuration with ``templates = "my-templates"``, the sample
    conversation fetched, and the working directory somewhere else."""
    with sample_servers() as sample:
        path = sample.config(tmp_path)
        text = path.read_text("utf-8")
        assert "[digest]\n" in text
        text = text.replace("[digest]\n", '[digest]\ntemplates = "my-templates"\n', 1)
        path.write_text(text, "utf-8")
        (tmp_path / "my-templates").mkdir()
        assert run_cli(capsys, "-c", path, "fetch").status == 0
        # The folder is found relative to the configuration file, not to where the
        # command runs (cron jobs run in $HOME).
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)
        yield path


def digest(capsys: pytest.CaptureFixture[str], config: Path, fmt: str) -> tuple[str, int]:
    """The digest of the whole event in ``fmt`` and the item count the command printed."""
    target = config.parent / f"out.{fmt}"
    result = run_cli(capsys, "-c", config, "digest", SLUG, "--format", fmt, "-o", target)
    assert result.status == 0, result.out + result.err
    count = re.search(r"(\d+) items ->", result.out)
    assert count is not None, result.out
    return target.read_text("utf-8"), int(count.group(1))


def undated(page: str) -> str:
    """``page`` without the time it was generated (the command runs on the real clock)."""
    return re.sub(r"<time datetime=\"[^\"]*\">[^<]*</time>", "<time>", page)


def test_a_page_of_the_organisers_replaces_the_packaged_one(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packaged, _ = digest(capsys, config, "html")
    (config.parent / "my-templates" / "digest.html").write_text(
        # Their page may still use the packaged partials: the loader falls back.
        '{% from "_macros.html" import thread %}'
        "<!doctype html><html lang='en'><title>Our {{ d.event.title }}</title>"
        "<h1>{{ d.totals.items }} things said</h1>"
        "{% for s in d.platforms %}{% for n in s.threads %}{{ thread(n) }}{% endfor %}{% endfor %}",
        "utf-8",
    )

    page, items = digest(capsys, config, "html")
    paste, _ = digest(capsys, config, "paste")

    assert page.startswith("<!doctype html><html lang='en'><title>Our Coproduction")
    assert f"<h1>{items} things said</h1>" in page
    assert items > 0
    assert 'class="item"' in page, "the packaged thread macro rendered the items"
    assert page != packaged
    assert "things said" not in paste, "other formats keep their packaged templates"


def test_a_partial_of_the_organisers_replaces_the_packaged_one_inside_the_packaged_page(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packaged, _ = digest(capsys, config, "html")
    macros = (PACKAGED_TEMPLATES / "_macros.html").read_text("utf-8")
    card = '<article class="item"'
    assert card in macros, "the packaged item card changed; update this test's edit"
    (config.parent / "my-templates" / "_macros.html").write_text(
        macros.replace(card, '<article class="item house-card"'), "utf-8"
    )

    page, _ = digest(capsys, config, "html")

    assert page.count("house-card") == packaged.count(card) > 0
    assert undated(page.replace(" house-card", "")) == undated(packaged), "nothing else changed"
    assert "digest.html" not in {p.name for p in (config.parent / "my-templates").iterdir()}


def test_a_missing_template_folder_is_a_configuration_error(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (config.parent / "my-templates").rmdir()

    result = run_cli(capsys, "-c", config, "digest", SLUG)

    assert result.status == 2
    assert "digest.templates" in result.out + result.err
