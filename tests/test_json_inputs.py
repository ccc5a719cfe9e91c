"""Every JSON a handdg command reads as input is checked against what that command needs.

A bad one (missing, not JSON, not an object, a field missing or of the wrong type) ends in ONE line naming
the file and the field, exit status 2, no traceback, and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from analysis_evals import write_eval

from handdg.cli import main
from handdg.errors import HanddgError


def one_line_error(result, *words: str) -> str:
    """Exit 2, exactly one non-empty line on stderr and it starts with `Error:`, no traceback; return the line."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _edit(path: Path, change) -> Path:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def _set(dotted: str, value):
    def change(data):
        *parents, last = dotted.split(".")
        for key in parents:
            data = data[key]
        data[last] = value
    return change


def _delete(dotted: str):
    def change(data):
        *parents, last = dotted.split(".")
        for key in parents:
            data = data[key]
        del data[last]
    return change


# (name, how the eval JSON is broken, words the error line must hold besides the file)
EVAL_BREAKAGES = [
    ("protocols null", _set("protocols", None), ["protocols", "null", "an object"]),
    ("protocol block missing", _delete("protocols.official"), ["protocols.official", "missing"]),
    ("protocol block null", _set("protocols.official", None), ["protocols.official", "null"]),
    ("protocol block a string", _set("protocols.official", "n/a"), ["protocols.official", '"n/a"']),
    ("epe a string", _set("protocols.official.epe_mean_mm", "abc"),
     ["protocols.official.epe_mean_mm", '"abc"', "a number"]),
    ("epe missing", _delete("protocols.official.epe_mean_mm"), ["protocols.official.epe_mean_mm", "missing"]),
    ("epe a bool", _set("protocols.official.epe_mean_mm", True), ["protocols.official.epe_mean_mm", "true"]),
    ("dataset missing", _delete("dataset"), ["dataset", "missing"]),
    ("dataset a number", _set("dataset", 3), ["dataset", "a string"]),
    ("run_config a string", _set("run_config", "ie+te"), ["run_config", "an object"]),
    ("ratio a string", _set("run_config", {"branch2": "ie+te", "ratio": "abc"}), ["run_config.ratio", '"abc"']),
    ("branch2 unknown", _set("run_config", {"branch2": "wings"}), ["run_config.branch2", '"wings"']),
    ("branch2 null", _set("run_config", {"branch2": None}), ["run_config.branch2", "null"]),
    ("augment not a list", _set("run_config", {"branch2": "none", "augment": 5}), ["run_config.augment"]),
]
# only `figures pck` draws the curve and the AUCs
PCK_BREAKAGES = [
    ("pck missing", _delete("protocols.official.pck"), ["protocols.official.pck", "missing"]),
    ("thresholds missing", _delete("protocols.official.pck.thresholds_mm"),
     ["protocols.official.pck.thresholds_mm", "missing"]),
    ("a PCK value a string", _set("protocols.official.pck.values", [0.1] * 20 + ["x"]),
     ["protocols.official.pck.values[20]", '"x"']),
    ("PCK values of another length", _set("protocols.official.pck.values", [0.1, 0.2]),
     ["protocols.official.pck.values", "2", "21"]),
    ("auc a string", _set("protocols.official.auc_0_50", "high"), ["protocols.official.auc_0_50", '"high"']),
    ("checkpoint a number", _set("checkpoint", 7), ["checkpoint", "a string"]),
]


def _whole_file(text: str):
    def change(path: Path):
        path.write_text(text)
    return change


FILE_BREAKAGES = [
    ("top-level list", _whole_file("[1, 2, 3]"), ["a list", "an object"]),
    ("top-level string", _whole_file('"hello"'), ["a string", "an object"]),
    ("invalid JSON", _whole_file('{"dataset": "stb", '), ["not valid JSON", "line 1"]),
    ("empty file", _whole_file(""), ["not valid JSON"]),
    ("not UTF-8", lambda p: p.write_bytes(b"\xff\xfe{\x00"), ["not valid JSON"]),
]


def _eval(tmp_path: Path) -> Path:
    return write_eval(tmp_path / "run" / "eval_stb.json", "stb", 20.0, {"branch2": "none"})


def _pck(runner, path: Path, tmp_path: Path, *extra: str):
    return runner.invoke(main, ["figures", "pck", str(path), "--out", str(tmp_path / "fig" / "pck"), *extra])


def _tables(runner, path: Path, tmp_path: Path):
    return runner.invoke(main, ["figures", "tables", str(path), "--out", str(tmp_path / "t")])


@pytest.mark.parametrize("name, change, words", EVAL_BREAKAGES + PCK_BREAKAGES,
                         ids=[b[0] for b in EVAL_BREAKAGES + PCK_BREAKAGES])
def test_figures_pck_refuses_a_bad_eval_json(name, change, words, runner, tmp_path):
    path = _edit(_eval(tmp_path), change)
    line = one_line_error(_pck(runner, path, tmp_path), f"eval result {path}", *words)
    assert line.startswith(f"Error: eval result {path}: "), line
    assert not (tmp_path / "fig").exists()


@pytest.mark.parametrize("name, change, words", EVAL_BREAKAGES, ids=[b[0] for b in EVAL_BREAKAGES])
def test_figures_tables_refuses_a_bad_eval_json(name, change, words, runner, tmp_path):
    path = _edit(_eval(tmp_path), change)
    one_line_error(_tables(runner, path, tmp_path), f"eval result {path}: ", *words)
    assert not (tmp_path / "t").exists()
    # found in a run folder, not named on the command line: the same line
    one_line_error(_tables(runner, tmp_path / "run", tmp_path), f"eval result {path}: ", *words)
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("name, change, words", FILE_BREAKAGES, ids=[b[0] for b in FILE_BREAKAGES])
@pytest.mark.parametrize("command", ["pck", "tables"])
def test_figures_refuse_a_file_that_is_not_a_json_object(command, name, change, words, runner, tmp_path):
    path = _eval(tmp_path)
    change(path)
    result = (_pck if command == "pck" else _tables)(runner, path, tmp_path)
    one_line_error(result, f"eval result {path}", *words)
    assert not (tmp_path / "fig").exists() and not (tmp_path / "t").exists()


def test_a_broken_eval_in_a_run_folder_is_not_skipped(runner, tmp_path):
    good = write_eval(tmp_path / "runs" / "a" / "eval_rhd.json", "rhd", 20.0, {"branch2": "none"})
    bad = write_eval(tmp_path / "runs" / "b" / "eval_rhd.json", "rhd", 20.0, {"branch2": "none"})
    bad.write_text('{"protocols": ')
    one_line_error(_tables(runner, tmp_path / "runs", tmp_path), f"eval result {bad}", "not valid JSON")
    assert not (tmp_path / "t").exists()
    bad.unlink()
    assert _tables(runner, tmp_path / "runs", tmp_path).exit_code == 0 and good.exists()


def test_other_json_in_a_run_folder_is_still_skipped(runner, tmp_path):
    write_eval(tmp_path / "runs" / "a" / "eval_rhd.json", "rhd", 20.0, {"branch2": "none"}, official_epe=44.5)
    (tmp_path / "runs" / "a" / "failed.json").write_text('{"stage": "train", "error": "x"}')
    (tmp_path / "runs" / "a" / "list.json").write_text("[]")
    result = _tables(runner, tmp_path / "runs", tmp_path)
    assert result.exit_code == 0, result.output
    assert "| Baseline |  | — | 36.11 | 44.50 | 48.36 |" in (tmp_path / "t" / "tables.md").read_text()


def test_an_eval_given_by_name_that_is_not_an_eval_result(runner, tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"config": {}}')
    for result in (_pck(runner, path, tmp_path), _tables(runner, path, tmp_path)):
        one_line_error(result, f"eval result {path}", "protocols", "missing")
    assert not (tmp_path / "fig").exists() and not (tmp_path / "t").exists()


def test_a_missing_eval_file(runner, tmp_path):
    one_line_error(_pck(runner, tmp_path / "nope.json", tmp_path), f"eval result {tmp_path / 'nope.json'}", "not found")
    assert not (tmp_path / "fig").exists()


def test_pck_of_one_protocol_needs_only_that_block(runner, tmp_path):
    path = _edit(_eval(tmp_path), _delete("protocols.official"))
    assert _pck(runner, path, tmp_path, "--protocol", "hand3d").exit_code == 0
    one_line_error(_pck(runner, path, tmp_path, "--protocol", "official"), "protocols.official", "missing")


# --- the run's config.json, read beside the eval result (pck) and by `figures curves` ---------------------------

CONFIG_BREAKAGES = [
    ("invalid JSON", lambda p: p.write_text("{"), ["not valid JSON"]),
    ("top-level list", lambda p: p.write_text("[]"), ["a list", "an object"]),
    ("clip a string", lambda p: _edit(p, _set("clip", "ViT-B-32")), ["clip", '"ViT-B-32"', "an object"]),
]


@pytest.mark.parametrize("name, change, words", CONFIG_BREAKAGES, ids=[b[0] for b in CONFIG_BREAKAGES])
def test_figures_pck_refuses_a_bad_run_config(name, change, words, runner, tmp_path):
    path = _eval(tmp_path)
    config = path.parent / "config.json"
    change(config)
    one_line_error(_pck(runner, path, tmp_path), f"run config {config}", *words)
    assert not (tmp_path / "fig").exists()


def _run_folder(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.csv").write_text("step,loss,heat,pose,con\n1,2.0,1.0,0.5,0.1\n2,1.5,0.8,0.4,0.1\n")
    (run / "config.json").write_text(json.dumps({"config": {}, "clip": None, "dataset": {"name": "freihand"}}))
    return run


CURVES_CONFIG_BREAKAGES = CONFIG_BREAKAGES + [
    ("dataset a string", lambda p: _edit(p, _set("dataset", "freihand")), ["dataset", "an object"]),
    ("dataset null", lambda p: _edit(p, _set("dataset", None)), ["dataset", "null"]),
]


@pytest.mark.parametrize("name, change, words", CURVES_CONFIG_BREAKAGES, ids=[b[0] for b in CURVES_CONFIG_BREAKAGES])
def test_figures_curves_refuses_a_bad_run_config(name, change, words, runner, tmp_path):
    run = _run_folder(tmp_path)
    change(run / "config.json")
    result = runner.invoke(main, ["figures", "curves", str(run), "--out", str(tmp_path / "fig" / "curves")])
    one_line_error(result, f"run config {run / 'config.json'}", *words)
    assert not (tmp_path / "fig").exists()


@pytest.mark.parametrize("text, words", [
    ("step,loss\n1,abc\n", ["row 2", "loss", "'abc'"]),
    ("step,loss\n1\n", ["row 2", "one value per column"]),
    ("step,loss\n1,2,3\n", ["row 2", "one value per column"]),
    ("loss\n1.0\n", ["row 2", "no step"]),
], ids=["a word", "a short row", "a long row", "no step column"])
def test_figures_curves_refuses_a_bad_metrics_csv(text, words, runner, tmp_path):
    run = _run_folder(tmp_path)
    (run / "metrics.csv").write_text(text)
    result = runner.invoke(main, ["figures", "curves", str(run), "--out", str(tmp_path / "fig" / "curves")])
    one_line_error(result, str(run / "metrics.csv"), *words)
    assert not (tmp_path / "fig").exists()


def test_figures_curves_of_a_good_run(runner, tmp_path):
    run = _run_folder(tmp_path)
    result = runner.invoke(main, ["figures", "curves", str(run), "--out", str(tmp_path / "fig" / "curves")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "fig" / "curves.png").is_file()


# --- the helper itself ---------------------------------------------------------------------------------------

def test_require_walks_dotted_fields_and_names_them():
    from handdg.jsonfields import require, require_numbers

    data = {"a": {"b": [1, 2.5, "x"], "n": 3, "s": "t", "z": None}}
    assert require(data, "a.n", float, "f") == 3.0 and isinstance(require(data, "a.n", float, "f"), float)
    assert require(data, "a.n", int, "f") == 3
    assert require(data, "a.s", str, "f", choices=("t", "u")) == "t"
    assert require(data, "a.z", float, "f", optional=True) is None
    assert require(data, "a.q", float, "f", optional=True, default=1.5) == 1.5
    assert require_numbers({"v": [1, 2.5]}, "v", "f") == [1.0, 2.5]
    with pytest.raises(HanddgError, match=r'^f: a\.b\[2\] is "x", expected a number$'):
        require_numbers(data, "a.b", "f")
    with pytest.raises(HanddgError, match=r"^f: a\.q is missing, expected a number$"):
        require(data, "a.q", float, "f")
    with pytest.raises(HanddgError, match=r"^f: a\.s is \"t\", expected an object$"):
        require(data, "a.s.deeper", float, "f")
    with pytest.raises(HanddgError, match=r"^f: a\.n is 3, expected a string$"):
        require(data, "a.n", str, "f")
    with pytest.raises(HanddgError, match=r"^f: a\.s is \"t\", expected one of \"u\", \"v\"$"):
        require(data, "a.s", str, "f", choices=("u", "v"))
    with pytest.raises(HanddgError, match=r"^f: run_config\.n is 3, expected a string$"):
        require(data["a"], "n", str, "f", at="run_config")
    with pytest.raises(HanddgError, match=r"^f: a\.n is 3, expected true or false$"):
        require(data, "a.n", bool, "f")
    long = {"k": "y" * 500}
    message = str(pytest.raises(HanddgError, require, long, "k", float, "f").value)
    assert len(message) < 120 and "…" in message


def test_read_json(tmp_path):
    from handdg.jsonfields import read_json

    (tmp_path / "ok.json").write_text('{"a": 1}')
    assert read_json(tmp_path / "ok.json", "thing") == {"a": 1}
    with pytest.raises(HanddgError, match=r"^thing .*nope\.json not found; make it$"):
        read_json(tmp_path / "nope.json", "thing", missing="make it")
    with pytest.raises(HanddgError, match=r"^thing .* is a folder, not a JSON file$"):
        read_json(tmp_path, "thing")
    (tmp_path / "bad.json").write_text('{"a": 1,\n')
    with pytest.raises(HanddgError, match=r"^thing .*bad\.json is not valid JSON \(line 2 column 1: "):
        read_json(tmp_path / "bad.json", "thing")
    (tmp_path / "list.json").write_text("[]")
    with pytest.raises(HanddgError, match=r"^thing .*list\.json holds a list, expected an object$"):
        read_json(tmp_path / "list.json", "thing")
