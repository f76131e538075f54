"""Names nobody chose for Hydra reach every script as written: the study quotes every path it passes
on, and every command the README and docs/ show parses and composes as written; the README stays short and
every relative link in it and in docs/ leads somewhere."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from PIL import Image

from tests.conftest import ROOT, compose_cfg
from vangogh_lightning.config.overrides import quote_list, quote_value

# Every character a file name may hold that means something to Hydra, OmegaConf or a shell.
NAMES = ["p${oc.env:VG_TEST_SECRET}.jpg", "café.jpg", "it's.jpg", "a[1].jpg", "x=y.jpg", "semi;colon.jpg",
         "a, b.jpg", "back\\slash.jpg", "end\\", "q\\'x", "\\${x}", "a\\\\${b}", "$HOME", "tab\there", "{a}",
         "~user", "null", "1e3", "true", "%d", '"dq"', "(p)", "a:b", "日本.jpg", "*star", "${", "x'\\"]


@pytest.fixture
def secret(monkeypatch) -> str:
    monkeypatch.setenv("VG_TEST_SECRET", "s3cr3t-value")
    return "s3cr3t-value"


def test_every_name_comes_back_exactly_as_a_value_and_in_a_list(secret):
    overrides = [f"content={quote_value(name)}" for name in NAMES]
    for name, item in zip(NAMES, overrides):
        cfg = compose_cfg("stylize", [item, f"style={quote_list([name, name])}"])
        assert (cfg.content, list(cfg.style)) == (name, [name, name])  # (read: resolved, never evaluated)


def test_the_study_passes_every_path_on_quoted(tmp_path, secret, monkeypatch):
    from vangogh_lightning.study.pipeline import Study

    wikiart = tmp_path / "wiki art, [A]"
    monkeypatch.setenv("WIKIART_DIR", str(tmp_path / "another"))  # what a child would read without the study's

    photos = tmp_path / "ph, ${oc.env:VG_TEST_SECRET} é"
    photos.mkdir()
    files = [n for n in NAMES if "/" not in n and n not in ("${", "end\\")]
    for name in files:
        Image.new("RGB", (8, 8)).save(photos / f"{name}.png")
    style = tmp_path / "st'yle [1].png"
    Image.new("RGB", (8, 8)).save(style)
    out = tmp_path / "out, x=${oc.env:VG_TEST_SECRET}"
    cfg = compose_cfg("study", [f"content={quote_value(photos)}", f"styles={quote_list([style])}",
                                f"out_dir={quote_value(out)}", "targeted=true",
                                f"paths.wikiart_dir={quote_value(wikiart)}"])
    study = Study(cfg)
    checked = 0
    for step in study.steps():
        args = [a for a in step.args() if a != "-m"]
        config = {"train.py": "train", "stylize.py": "stylize", "evaluate.py": "evaluate"}[step.script]
        child = compose_cfg(config, args)
        for key in (a.split("=", 1)[0].lstrip("+~") for a in args):
            node = OmegaConf.select(child, key)  # every value the study set, read as the child reads it
            assert secret not in str(OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node)
                                     else node), key
        if step.script == "stylize.py":
            assert sorted(child.content) == sorted(str(p) for p in (photos.resolve()).iterdir())
            assert child.style == str(style.resolve()) and child.out_dir.startswith(str(out.resolve()))
            checked += 1
        assert child.paths.log_dir == str(out.resolve() / "logs")
        assert child.paths.wikiart_dir == str(wikiart.resolve())  # the data the study was given, in every step
    assert checked == 2 * 3  # each backbone plain and aimed at each judge


DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]  # the README and every page it leads to


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def _commands(page: Path) -> list[str]:
    """Every line of a ```bash block of ``page`` that runs one of the four scripts (comments cut off)."""
    blocks = re.findall(r"```bash\n(.*?)```", page.read_text(), re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if re.match(r"python (train|stylize|evaluate|study)\.py( |$)", line)]


def _readme_commands() -> list[str]:
    return _commands(ROOT / "README.md")


DOC_COMMANDS = [pytest.param(command, id=f"{_name(page)}: {command}") for page in DOCS for command in _commands(page)]


@pytest.mark.parametrize("command", DOC_COMMANDS)
def test_every_command_in_the_readme_and_docs_parses_and_composes_as_written(command):
    words = shlex.split(command)
    script, args = words[1].removesuffix(".py"), [w for w in words[2:] if not w.startswith("--")]
    multirun = "-m" in args
    args = [a for a in args if a != "-m"]
    parsed = OverridesParser.create().parse_overrides(args)  # Hydra's grammar, as the script's parser
    if multirun or any(o.is_sweep_override() for o in parsed):
        return  # a sweep: each job's values are checked by the sweeper's own parse
    compose_cfg(script, args)  # every key and group exists


def test_the_readme_shows_commands_of_each_script():
    scripts = {shlex.split(c)[1] for c in _readme_commands()}
    assert scripts == {"train.py", "stylize.py", "evaluate.py", "study.py"}


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail to a page under docs/"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def _links(page: Path) -> list[str]:
    """The targets of the page's markdown links and images, outside code."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    text = re.sub(r"`[^`]+`", "code", text)  # inline code may span lines
    return re.findall(r"\]\(([^()\s]+)\)", text)


@pytest.mark.parametrize("page", DOCS, ids=_name)
def test_every_relative_link_leads_to_a_file_that_exists(page):
    links = [t for t in _links(page) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]  # http:, mailto: ...
    assert links or page.name != "README.md"
    broken = []
    for target in links:
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no such heading in {_name(dest)})")
    assert not broken, f"{_name(page)}: " + ", ".join(broken)


@pytest.mark.parametrize("arg,script,key,value", [
    ("content=café.jpg", "stylize", "content", "café.jpg"),
    ("train_overrides=[experiment=report_reproduction]", "study", "train_overrides",
     ["experiment=report_reproduction"]),
    ("content=it's.jpg", "stylize", "content", "it's.jpg"),
])
def test_a_value_hydra_cannot_read_is_one_line_with_a_form_that_works(arg, script, key, value, capsys):
    from vangogh_lightning.config.entry import check_command_line

    with pytest.raises(SystemExit) as ended:
        check_command_line(["-m", "seed=1", arg])
    assert ended.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"error: {arg}: Hydra cannot read this value (")
    suggested = shlex.split(re.search(r"write it as (\".*?\") \(shell", line).group(1))[0]
    cfg = compose_cfg(script, [suggested])  # the suggestion, as the shell passes it on, works
    assert (OmegaConf.to_container(cfg[key]) if OmegaConf.is_config(cfg[key]) else cfg[key]) == value


def test_the_scripts_check_their_command_line_before_hydra_does():
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "stylize.py", "content=café.jpg"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: content=café.jpg: Hydra cannot read this value (non-ASCII letters, commas, brackets, quotes and = "
        "must be quoted); write it as \"content='café.jpg'\" (shell quotes outside, Hydra's inside)"]
