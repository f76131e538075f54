"""A full disk is one line naming the file being written, never a traceback, and loses nothing:
the earlier file under that name is untouched and no temporary file is left."""

from __future__ import annotations

import errno

import pytest

from vangogh_lightning.config.entry import run_task
from vangogh_lightning.core.atomic import atomic_write, atomic_write_text
from vangogh_lightning.core.errors import UserError

FULL = {
    "ENOSPC": OSError(errno.ENOSPC, "No space left on device"),
    "EDQUOT": OSError(errno.EDQUOT, "Disk quota exceeded"),
    # torch.save's zip writer on a full disk (the message of a real run)
    "torch short write": RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 9885568 vs 9885456"),
}


@pytest.mark.parametrize("kind", FULL)
def test_a_write_that_finds_no_room_is_one_line_and_keeps_the_earlier_file(tmp_path, kind):
    target = tmp_path / "checkpoints" / "last.ckpt"
    atomic_write_text("the earlier checkpoint", target)

    def write(tmp):
        tmp.write_bytes(b"half a checkp")
        raise FULL[kind]

    with pytest.raises(UserError) as err:
        atomic_write(target, write)
    assert str(err.value).startswith(f"{target}: no space left on the device to write it (")
    assert " MB free there); free some space or write the outputs elsewhere" in str(err.value)
    assert target.read_text() == "the earlier checkpoint"
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # no temporary file left


def test_other_write_errors_are_not_mistaken_for_a_full_disk(tmp_path):
    def write(tmp):
        raise OSError(errno.EACCES, "Permission denied")

    with pytest.raises(PermissionError):
        atomic_write(tmp_path / "x.txt", write)


def test_a_librarys_own_write_on_a_full_disk_ends_the_script_with_one_line(tmp_path, capsys, monkeypatch):
    def task(cfg):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "csv" / "metrics.csv"))

    monkeypatch.setattr("vangogh_lightning.config.entry.check_script_config", lambda cfg, script: None)
    with pytest.raises(SystemExit) as ended:
        run_task(task, None, script="train")
    assert ended.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'csv' / 'metrics.csv'}: no space left on the")
