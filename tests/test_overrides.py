"""Names nobody chose for Hydra reach every script as written: the study quotes every path it passes
on, and every command the README shows parses and composes as written."""

from __future__ import annotations

import re
import shlex

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


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.replace("\\\n", " ").splitlines()]
    return [line for line in lines if re.match(r"python (train|stylize|evaluate|study)\.py( |$)", line)]


@pytest.mark.parametrize("command", _readme_commands())
def test_every_command_in_the_readme_parses_and_composes_as_written(command):
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
