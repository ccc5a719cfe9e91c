"""Every bad input, damaged store and unwritable output ends in one line naming the thing, never a
traceback or a silent answer. One test per class and command: exit status, a single `Error:` line, no traceback.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from handdg.cli import main
from handdg.data import open_dataset
from handdg.featurize import featurize_dataset, load_clip
from handdg.stores import FeatureStore
from handdg.synth import make_dataset

torch.set_num_threads(1)
TINY = ["--clip-model", "handdg-tiny", "--clip-weights", "random:3"]
FEATURIZE = dict(batch_size=4, workers=0, image_chunk_rows=4, progress=False)


def one_line_error(result, *words: str, code: int = 2) -> str:
    """Assert a clean failure: exit `code`, exactly one `Error:` line on stderr, no traceback; return the line."""
    assert result.exit_code == code, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip() and "\r" not in line]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], (word, errors[0])
    return errors[0]


@pytest.fixture(scope="module")
def freihand(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("fh") / "fh", "freihand", count=2, seed=0)


@pytest.fixture(scope="module")
def pristine(freihand, tmp_path_factory) -> Path:
    """A complete store of the 8 training images in 2 chunks of 4 rows, with its index."""
    path = tmp_path_factory.mktemp("stores") / "fh.zarr"
    encoder = load_clip("handdg-tiny", "random:3", device="cpu")
    featurize_dataset(open_dataset(freihand, "freihand", "train"), path, encoder, **FEATURIZE)
    return path


def _copy(pristine: Path, tmp_path: Path) -> Path:
    path = tmp_path / "damaged.zarr"
    shutil.copytree(pristine, path)
    return path


DAMAGE = {
    "missing features chunk": lambda s: (s / "images/features/c/1/0").unlink(),
    "corrupt features chunk": lambda s: (s / "images/features/c/0/0").write_bytes(b"\x28\xb5\x2f\xfd garbage"),
    "missing ids chunk": lambda s: (s / "images/ids/c/1").unlink(),
    "corrupt prompt features": lambda s: (s / "prompts/features/c/2/0").write_bytes(b"not zstd"),
}
NAMED = {"missing features chunk": "images/features", "corrupt features chunk": "images/features",
         "missing ids chunk": "images/ids", "corrupt prompt features": "prompts/features"}


def _readers(store: Path, freihand: Path, tmp_path: Path) -> dict[str, list[str]]:
    """Every command that reads a store, as a user would type it."""
    return {
        "retrieve": ["retrieve", "--store", str(store), "--prompt", "12", "-k", "3"],
        "index build": ["index", "build", str(store), "--force"],
        "figures similarity": ["figures", "similarity", "--store", str(store), "--image", "00000001",
                               "--prompt", "3", "--out", str(tmp_path / "sim")],
        "figures tsne": ["figures", "tsne", "--source", str(store), "--cap", "8", "--iterations", "250",
                         "--out", str(tmp_path / "tsne")],
        "train": ["train", "--out", str(tmp_path / "run"), "--data", str(freihand), "--store", str(store),
                  "--preset", "tiny", "--target", "stb", "--batch-size", "2", "--steps", "2", "--heatmap-size", "16",
                  "--device", "cpu"],
        "prompts-from": ["featurize", str(freihand), "--layout", "freihand", "--store", str(tmp_path / "new.zarr"),
                         *TINY, "--prompts-from", str(store), "--chunk-rows", "4", "--workers", "0", "--quiet"],
    }


def _chunk_files(store: Path) -> set[Path]:
    return {p for p in store.rglob("*") if p.is_file() and "c" in p.relative_to(store).parts}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_reader_refuses_a_damaged_store_and_featurize_repairs_exactly_it(damage, pristine, freihand,
                                                                                 tmp_path, runner):
    store = _copy(pristine, tmp_path)
    DAMAGE[damage](store)
    for name, args in _readers(store, freihand, tmp_path).items():
        if name == "index build" and damage == "corrupt prompt features":
            continue  # the index reads image features only
        one_line_error(runner.invoke(main, args), NAMED[damage], "store verify")
    one_line_error(runner.invoke(main, ["store", "info", str(store)]), NAMED[damage])
    verify = runner.invoke(main, ["store", "verify", str(store), "--quiet"])
    one_line_error(verify, "failed verification")
    assert "problem:" in verify.stdout and NAMED[damage].split("/")[0] in verify.stdout
    chunks = {p: p.stat().st_mtime_ns for p in _chunk_files(store)}
    repair = runner.invoke(main, ["featurize", str(freihand), "--layout", "freihand", "--store", str(store), *TINY,
                                  "--chunk-rows", "4", "--workers", "0", "--quiet"])
    assert repair.exit_code == 0, repair.output
    assert "1 damaged chunks found and rewritten" in repair.output
    rewritten = {p for p in _chunk_files(store) if chunks.get(p) != p.stat().st_mtime_ns}
    assert {p.relative_to(store).parts[:2] for p in rewritten} <= {tuple(NAMED[damage].split("/")),
                                                                   (NAMED[damage].split("/")[0], "done")}
    assert len({p for p in rewritten if "done" not in p.parts}) == 1  # exactly the damaged chunk's rows
    assert runner.invoke(main, ["store", "verify", str(store), "--quiet"]).exit_code == 0
    fixed, whole = FeatureStore.open(store), FeatureStore.open(pristine)
    np.testing.assert_array_equal(fixed.image_features(), whole.image_features())
    np.testing.assert_array_equal(fixed.prompt_features(), whole.prompt_features())
    np.testing.assert_array_equal(fixed.ids, whole.ids)
    assert fixed.index_attrs["features_sha256"] == whole.index_attrs["features_sha256"]


@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_a_damaged_index_is_named_by_retrieve_and_verify_and_rebuilt_by_index_build(damage, pristine, tmp_path,
                                                                                      runner):
    store = _copy(pristine, tmp_path)
    chunk = store / "index/faiss/c/0"
    chunk.unlink() if damage == "deleted" else chunk.write_bytes(b"\x00" * 64)
    one_line_error(runner.invoke(main, ["retrieve", "--store", str(store), "--prompt", "5"]), "index", "index build")
    verify = runner.invoke(main, ["store", "verify", str(store), "--quiet"])
    one_line_error(verify, "failed verification")
    assert "index build" in verify.stdout
    assert runner.invoke(main, ["index", "build", str(store)]).exit_code == 0
    assert runner.invoke(main, ["store", "verify", str(store), "--quiet"]).exit_code == 0


# --- class 3: options no one validated -------------------------------------------------------------------------

def _train_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["train", "--out", str(out), "--data", str(data), "--preset", "tiny", "--branch2", "none",
            "--batch-size", "2", "--steps", "2", "--checkpoint-every", "1", "--heatmap-size", "16", "--device", "cpu",
            *extra]


@pytest.mark.parametrize("args, option", [
    (["featurize", ".", "--layout", "folder", "--store", "s.zarr", "--workers", "-1"], "--workers"),
    (["featurize", ".", "--layout", "folder", "--store", "s.zarr", "--batch-size", "0"], "--batch-size"),
    (["eval", "x.safetensors", "--dataset", "stb", "--root", ".", "--batch-size", "0"], "--batch-size"),
    (["eval", "x.safetensors", "--dataset", "stb", "--root", ".", "--workers", "-2"], "--workers"),
    (["index", "build", "s.zarr", "--nprobe", "-3"], "--nprobe"),
    (["index", "build", "s.zarr", "--hnsw-m", "0"], "--hnsw-m"),
    (["figures", "tsne", "--source", "s.zarr", "--perplexity", "-5"], "--perplexity"),
    (["retrieve", "--store", "s.zarr", "--prompt", "3", "-k", "0"], "-k"),
    (["retrieve", "--store", "s.zarr", "--prompt", "3", "--ratio", "1.5"], "--ratio"),
    (["figures", "similarity", "--store", "s.zarr", "--image", "1", "--prompt", "3", "--ratio", "2"], "--ratio"),
    (["demo", "--steps", "-1"], "--steps"),
])
def test_impossible_options_are_refused_before_any_work_naming_the_option(args, option, runner):
    one_line_error(runner.invoke(main, args), f"'{option}'")


@pytest.mark.parametrize("args, message", [
    (["--lr", "nan"], "--lr must be a finite number above 0, got nan"),
    (["--lambda-con", "inf"], "--lambda-con must be a finite number of at least 0, got inf"),
    (["--ratio", "1.5"], "--ratio must be a finite number in [0, 1], got 1.5"),
])
def test_impossible_train_options_are_refused_with_the_librarys_message(args, message, runner):
    # handdg train's options are checked by their declaration (handdg.run.options): the same line as
    # TrainConfig(...).validate() gives, below
    one_line_error(runner.invoke(main, ["train", "--out", "r", "--data", ".", *args]), message)


def test_the_library_refuses_the_same_values_naming_the_option(pristine, tmp_path):
    from handdg.analysis.retrieval import build_query
    from handdg.analysis.similarity import similarity_report
    from handdg.analysis.tsne import tsne_report
    from handdg.errors import HanddgError
    from handdg.run.config import TrainConfig
    from handdg.stores.index_build import build_store_index

    with pytest.raises(HanddgError, match="--lr must be a finite number above 0, got nan"):
        TrainConfig(data="d", branch2="none", lr=float("nan")).validate()
    with pytest.raises(HanddgError, match="--batch-size 1 with --branch2 ie"):
        TrainConfig(data="d", store="s", branch2="ie", batch_size=1).validate()
    with pytest.raises(HanddgError, match="--nprobe must be an integer of at least 1"):
        build_store_index(pristine, kind="ivf", nprobe=-3)
    with pytest.raises(HanddgError, match="--perplexity"):
        tsne_report(pristine, {}, tmp_path / "t", perplexity=-5)
    store = FeatureStore.open(pristine)
    with pytest.raises(HanddgError, match="--ratio must be a finite number in \\[0, 1\\]"):
        build_query(store, prompt="3", ratio=1.5)
    with pytest.raises(HanddgError, match="--ratio"):
        similarity_report(pristine, ["00000001"], ["3"], 2.0, tmp_path / "s")
    assert not list(tmp_path.iterdir())


def test_a_contrastive_run_with_batch_size_1_is_refused(freihand, pristine, tmp_path, runner):
    args = _train_args(freihand, tmp_path / "run", "--batch-size", "1")
    args[args.index("none")] = "ie"
    one_line_error(runner.invoke(main, [*args, "--store", str(pristine)]), "--batch-size 1", "contrastive")
    assert not (tmp_path / "run").exists()


# --- class 4: queries that should not be answered --------------------------------------------------------------

@pytest.mark.parametrize("prompt, words", [
    ("-1", ("prompt id -1",)), ("3920", ("prompt id 3920",)), ("", ("--prompt is empty",)),
    ("   ", ("--prompt is empty",)), ("a hand " * 700, ("77-token", "would be cut", "a hand")),
])
def test_retrieve_refuses_prompts_it_cannot_answer(prompt, words, pristine, runner):
    one_line_error(runner.invoke(main, ["retrieve", "--store", str(pristine), "--prompt", prompt]), *words)


def test_a_prompt_that_fits_the_context_is_answered(pristine, runner):
    result = runner.invoke(main, ["retrieve", "--store", str(pristine), "--prompt", "a hand " * 30, "-k", "2"])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.strip().splitlines()) == 3


# --- class 5: mismatched artefacts -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def finished_run(freihand, tmp_path_factory) -> Path:
    """A finished 4-step tiny baseline run with checkpoints at steps 2 and 4."""
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("runs") / "done"
    args = _train_args(freihand, out)
    args[args.index("--steps") + 1], args[args.index("--checkpoint-every") + 1] = "4", "2"
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def test_resume_refuses_a_checkpoint_of_another_network(finished_run, tmp_path, runner):
    import json

    run = tmp_path / "other"
    shutil.copytree(finished_run, run)
    config = json.loads((run / "config.json").read_text())
    config["config"]["preset"] = "small"
    (run / "config.json").write_text(json.dumps(config))
    one_line_error(runner.invoke(main, ["train", "--out", str(run), "--resume", "--steps", "6"]),
                   "saved by another network", "tiny preset")


def test_resume_refuses_a_run_of_an_older_training_recipe(finished_run, tmp_path, runner):
    import json

    run = tmp_path / "recipe2"
    shutil.copytree(finished_run, run)
    config = json.loads((run / "config.json").read_text())
    config["config"]["recipe"] = 2  # the tiny preset's lifting nets were narrowed then
    (run / "config.json").write_text(json.dumps(config))
    one_line_error(runner.invoke(main, ["train", "--out", str(run), "--resume", "--steps", "6"]),
                   "training recipe 2", "another --out")


def test_eval_refuses_a_checkpoint_whose_tensors_do_not_fit_its_network(finished_run, freihand, tmp_path, runner):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(finished_run / "last.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
        tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    name = next(n for n, t in tensors.items() if t.ndim == 4)
    tensors[name] = tensors[name][:1].contiguous()
    save_file(tensors, str(tmp_path / "edited.safetensors"), metadata=metadata)
    one_line_error(runner.invoke(main, ["eval", str(tmp_path / "edited.safetensors"), "--dataset", "freihand",
                                        "--root", str(freihand)]), "does not fit the network", name)


def test_clip_weights_that_are_not_a_checkpoint_and_tables_without_results(freihand, tmp_path, runner):
    garbage = tmp_path / "clip.safetensors"
    garbage.write_bytes(b"certainly not a checkpoint")
    one_line_error(runner.invoke(main, ["featurize", str(freihand), "--layout", "freihand", "--store",
                                        str(tmp_path / "s.zarr"), "--clip-model", "handdg-tiny", "--clip-weights",
                                        str(garbage), "--quiet"]), "is not a CLIP checkpoint", str(garbage))
    (tmp_path / "runs").mkdir()
    one_line_error(runner.invoke(main, ["figures", "tables", str(tmp_path / "runs"), "--out", str(tmp_path / "t")]),
                   "no `handdg eval` result")
    assert not (tmp_path / "t").exists()


# --- class 6: runs that cannot be continued, or are continued in the wrong place -------------------------------

def test_a_run_killed_before_its_first_checkpoint_can_be_started_again_or_resumed(freihand, tmp_path, runner):
    run = tmp_path / "run"
    assert runner.invoke(main, _train_args(freihand, run)).exit_code == 0
    reference = (run / "metrics.csv").read_text()
    shutil.rmtree(run / "checkpoints")
    (run / "last.safetensors").unlink()  # as if killed before step 1's checkpoint
    (run / "metrics.csv").unlink()
    resumed = runner.invoke(main, ["train", "--out", str(run), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert (run / "metrics.csv").read_text() == reference
    shutil.rmtree(run / "checkpoints")
    again = runner.invoke(main, _train_args(freihand, run))
    assert again.exit_code == 0, again.output
    assert (run / "metrics.csv").read_text() == reference


def test_resume_of_a_copied_run_writes_into_the_copy(finished_run, tmp_path, runner):
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    result = runner.invoke(main, ["train", "--out", str(copy), "--resume", "--steps", "6"])
    assert result.exit_code == 0, result.output
    assert (copy / "checkpoints" / "step_6.safetensors").is_file()
    assert not (finished_run / "checkpoints" / "step_6.safetensors").exists()


def test_a_run_made_with_relative_paths_resumes_anywhere_and_follows_moved_data(freihand, tmp_path, runner,
                                                                                monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(freihand, data)
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(main, _train_args(Path("data"), Path("run"))).exit_code == 0
    monkeypatch.chdir(tmp_path / "run")
    assert runner.invoke(main, ["train", "--out", ".", "--resume", "--steps", "3"]).exit_code == 0
    data.rename(tmp_path / "moved")
    one_line_error(runner.invoke(main, ["train", "--out", ".", "--resume", "--steps", "4"]), "--data DIR")
    result = runner.invoke(main, ["train", "--out", ".", "--resume", "--steps", "4", "--data", "../moved"])
    assert result.exit_code == 0, result.output


def test_eval_of_an_unfinished_run_says_it_stopped_early(finished_run, freihand, runner):
    early = runner.invoke(main, ["eval", str(finished_run / "checkpoints" / "step_2.safetensors"), "--dataset",
                                 "freihand", "--root", str(freihand), "--split", "train"])
    assert early.exit_code == 0, early.output
    assert "step 2 of a run planned for 4 steps" in early.stderr
    done = runner.invoke(main, ["eval", str(finished_run / "last.safetensors"), "--dataset", "freihand",
                                "--root", str(freihand), "--split", "train"])
    assert done.exit_code == 0 and "planned for" not in done.stderr


def test_a_non_finite_loss_names_the_terms_and_the_cause(tmp_path):
    from handdg.run import runs

    error = runs.non_finite_loss({"loss": float("nan"), "heat": 0.5, "pose": float("nan"), "con": 0.0}, 1, tmp_path)
    assert "pose=nan" in str(error) and "heat" not in str(error) and "handdg data check" in str(error)
    later = runs.non_finite_loss({"loss": float("inf"), "heat": float("inf"), "pose": 1.0, "con": 0.0}, 90, tmp_path)
    assert "heat=inf" in str(later) and "lower --lr" in str(later)


# --- class 7: annotation values --------------------------------------------------------------------------------

@pytest.mark.parametrize("breakage, words", [
    ("nan", ("00000001", "NaN/inf")), ("behind", ("00000001", "behind the camera")), ("K", ("00000001", "camera matrix")),
])
def test_broken_annotation_values_are_found_by_check_and_refused_by_training(breakage, words, freihand, tmp_path,
                                                                            runner):
    import json

    data = tmp_path / "fh"
    shutil.copytree(freihand, data)
    name = "training_K.json" if breakage == "K" else "training_xyz.json"
    values = json.loads((data / name).read_text())
    if breakage == "nan":
        values[1][4][0] = float("nan")
    elif breakage == "behind":
        values[1][7][2] = -0.2
    else:
        values[1][2][2] = 5.0
    (data / name).write_text(json.dumps(values))
    check = runner.invoke(main, ["data", "check", str(data), "--layout", "freihand"])
    one_line_error(check, "4 problem(s)")  # 4 image versions share each FreiHAND annotation
    assert "problem: sample 00000001" in check.stdout
    show = runner.invoke(main, ["data", "show", str(data), "--layout", "freihand", "--index", "1"])
    assert show.exit_code == 0 and "problem: sample 00000001: " in show.stdout
    one_line_error(runner.invoke(main, _train_args(data, tmp_path / "run")), *words)


# --- class 2: the environment ----------------------------------------------------------------------------------

def test_an_output_path_under_a_file_is_one_line_and_leaves_nothing(finished_run, freihand, tmp_path, runner):
    blocker = tmp_path / "file"
    blocker.write_text("in the way")
    one_line_error(runner.invoke(main, ["synth-sheet", str(blocker / "sheet.png"), "--per-domain", "1"]),
                   str(blocker))
    one_line_error(runner.invoke(main, _train_args(freihand, blocker / "run")), str(blocker))
    one_line_error(runner.invoke(main, ["eval", str(finished_run / "last.safetensors"), "--dataset", "freihand",
                                        "--root", str(freihand), "--split", "train", "--out",
                                        str(blocker / "e.json")]), str(blocker))
    one_line_error(runner.invoke(main, ["synth", str(blocker / "fh"), "--layout", "freihand", "--count", "1"]),
                   str(blocker))
    assert blocker.read_text() == "in the way"


def test_a_full_disk_is_one_line_naming_the_file(pristine, tmp_path, runner, monkeypatch):
    import errno

    import matplotlib.figure

    savefig = matplotlib.figure.Figure.savefig

    def full_at_the_pdf(fig, path, format=None, **kwargs):
        if format == "pdf":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        savefig(fig, path, format=format, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", full_at_the_pdf)
    result = runner.invoke(main, ["figures", "similarity", "--store", str(pristine), "--image", "00000001",
                                  "--prompt", "3", "--out", str(tmp_path / "sim")])
    one_line_error(result, "sim.pdf", "No space left", "free some space")
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no sim.png that looks finished, no temp files


def test_a_checkpoint_that_cannot_be_written_leaves_no_checkpoint_behind(tmp_path, monkeypatch):
    from handdg.errors import HanddgError
    from handdg.run import runs
    from handdg.run.config import TrainConfig

    def full(obj, path, *args, **kwargs):
        Path(path).write_bytes(b"half")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full)
    with pytest.raises(HanddgError, match="cannot write checkpoint .*file write failed.*--resume"):
        runs.save_checkpoint(tmp_path, 3, {"w": torch.zeros(1)}, {}, TrainConfig(data="d", branch2="none"), keep=2)
    assert runs.latest_checkpoint(tmp_path) is None
    assert list((tmp_path / "checkpoints").iterdir()) == [] and not (tmp_path / runs.LAST).exists()


def test_an_unreadable_image_met_by_a_data_loader_worker_is_still_one_line(freihand, tmp_path, runner):
    data = tmp_path / "fh"
    shutil.copytree(freihand, data)
    (data / "training" / "rgb" / "00000002.jpg").write_bytes(b"not a jpeg")
    line = one_line_error(runner.invoke(main, _train_args(data, tmp_path / "run", "--workers", "1", "--batch-size", "8")), "00000002.jpg")
    assert "worker" not in line
