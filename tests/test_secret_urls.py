"""Storage URLs: a password in any form a database driver accepts is refused before it is printed
or saved, with the URL to use instead; the study refuses it too and keeps its own records clean; a
database that cannot be reached is one line before any trial starts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from vangogh_lightning.core.secret_urls import storage_password_problem

SECRET = "Pw9s3cret"


@pytest.mark.parametrize("url,safe", [
    (f"postgresql://alice:{SECRET}@db:5432/optuna", "postgresql://alice@db:5432/optuna"),
    (f"postgresql://alice:{SECRET}%40x@db/optuna", "postgresql://alice@db/optuna"),     # URL-encoded
    (f"postgresql://alice:{SECRET}@x@db/optuna", "postgresql://alice@db/optuna"),       # an @ in the password
    (f"postgresql://alice@db/optuna?password={SECRET}", "postgresql://alice@db/optuna"),
    (f"postgresql://db/optuna?sslmode=require&PassWord={SECRET}", "postgresql://db/optuna?sslmode=require"),
    (f"mysql+pymysql://alice@db/optuna?passwd={SECRET}&charset=utf8", "mysql+pymysql://alice@db/optuna?charset=utf8"),
    (f"postgresql://alice:@db/optuna?sslpassword={SECRET}", "postgresql://alice@db/optuna"),
])
def test_every_form_of_a_password_is_refused_with_the_url_to_use(url, safe):
    problem = storage_password_problem(url)
    assert problem is not None and SECRET not in problem
    assert f"use hydra.sweeper.storage={safe} and give the password in PGPASSWORD or ~/.pgpass" in problem


@pytest.mark.parametrize("url", ["sqlite:///outputs/optuna/vangogh.db", "postgresql://alice@db:5432/optuna",
                                 "postgresql://db/optuna?sslmode=require", None, "not a url"])
def test_urls_without_a_secret_pass(url):
    assert storage_password_problem(url) is None


def test_the_study_refuses_it_and_saves_no_trace_of_it(tmp_path, shared_data):
    out = tmp_path / "study"
    storage = f"hydra.sweeper.storage=postgresql://bob@127.0.0.1:1/optuna?password={SECRET}"
    proc = subprocess.run([sys.executable, "study.py", f"content={shared_data / 'photos' / 'tubingen.jpg'}",
                           "search=true", f'search_overrides=["hparams_search=optuna","{storage}"]', f"out_dir={out}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and SECRET not in proc.stdout + proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("error: search_overrides: hydra.sweeper.storage holds a")
    saved = list(out.rglob("*"))
    assert not list(out.glob("logs/study-*"))  # the refused command's run folder (Hydra's records) is gone
    assert all(SECRET not in p.read_text() for p in saved if p.is_file())


def test_an_unreachable_database_is_one_line_before_any_trial(tmp_path):
    proc = subprocess.run([sys.executable, "train.py", "-m", "hparams_search=optuna", "experiment=synthetic_smoke",
                           "hydra.sweeper.n_trials=1", "hydra.sweeper.storage=postgresql://bob@127.0.0.1:1/optuna",
                           f"hydra.sweep.dir={tmp_path / 'sweep'}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    (line,) = [x for x in proc.stderr.splitlines() if x.startswith("error: ")]
    assert line.startswith("error: hydra.sweeper.storage=postgresql://bob@127.0.0.1:1/optuna: cannot open the "
                           "Optuna storage (connection to server at \"127.0.0.1\", port 1 failed")
    assert not list((tmp_path / "sweep").glob("*/summary.json")) and not (tmp_path / "sweep" / "0").exists()
