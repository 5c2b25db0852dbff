import pytest

from solutions.common.errors import UserError
from solutions.common.rundir import finish_run, open_finished, resume_run, start_run


def test_partial_run_is_never_finished(tmp_path):
    final = tmp_path / "run"
    run = start_run(final)
    assert run.path.name == "run.partial" and not final.exists()
    run.write_json("config.json", {"domain": "x", "options": {}, "source": {}})
    with pytest.raises(UserError, match="did not finish"):
        open_finished(final)
    with pytest.raises(UserError, match="unfinished"):
        open_finished(run.path)
    with pytest.raises(UserError, match="--resume"):
        start_run(final)
    resumed, target = resume_run("x", str(final))
    assert resumed.path == run.path and target == final
    for name in ("metrics.json", "model.keras"):
        (run / name).write_text("{}")
    done = finish_run(run, final)
    assert done.finished and open_finished(final).path == final
    with pytest.raises(UserError, match="already exists"):
        start_run(final)


def test_missing_or_incomplete_run_dirs(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        open_finished(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    with pytest.raises(UserError, match="not a finished run"):
        open_finished(tmp_path / "half")
    with pytest.raises(UserError, match="no interrupted run"):
        resume_run("x", str(tmp_path / "other"))


@pytest.mark.parametrize("config", [{}, [], {"domain": "image-classification"}])
def test_a_directory_that_is_not_a_kit_run_is_one_clear_error(tmp_path, config):
    """config.json `{}` beside the other files once raised KeyError 'domain' with a traceback."""
    import json

    for name, content in (("config.json", json.dumps(config)), ("metrics.json", "{}"), ("model.keras", "")):
        (tmp_path / name).write_text(content)
    with pytest.raises(UserError, match="is not a solutions run: its config.json lacks"):
        open_finished(tmp_path)
