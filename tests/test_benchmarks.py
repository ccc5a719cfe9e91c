"""The benchmark harness: claims judged against targets, README section regenerated in place, a quick run's JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import run_all  # noqa: E402
from harness import Claim  # noqa: E402

MACHINE = {"date_utc": "2026-11-24 03:05 UTC", "cpu": "AMD EPYC", "cores": 2, "gpu": None, "threads": 2,
           "load_average_1min": 0.5,
           "torch": "2.14.1", "faiss": "1.15.1", "zarr": "3.1.6", "numpy": "2.4.6", "open_clip": "3.3.0"}


def test_claims_are_judged_on_the_right_side_of_their_target():
    assert Claim("1", "pipeline/bare", 0.93, "", target=0.9).met is True
    assert Claim("1", "pipeline/bare", 0.85, "", target=0.9).met is False
    assert Claim("6", "size", 80.0, "", target=100.0, higher_is_better=False).met is True
    assert Claim("6", "size", 120.0, "", target=100.0, higher_is_better=False).met is False
    assert Claim("2", "fraction", 0.5, "").met is None
    assert Claim("3", "speed-up", 4.567, "", unit="×").value_text() == "4.57×"


def _result(*claims: Claim) -> dict:
    return {"benchmark": "x", "claims": [c.to_dict() for c in claims]}


def test_readme_section_is_replaced_between_markers_and_nothing_else_moves(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# handdg\n\nintro\n")
    met = Claim("1", "featurize pipeline vs bare model", 0.95, "11 vs 11.6 img/s", target=0.9, limit="decode")
    missed = Claim("1", "prompt path", 0.5, "a vs b", target=0.9, limit="tokeniser in Python")
    runs = [{"script": "bench_x.py", "status": "ok", "error": ""},
            {"script": "bench_y.py", "status": "exit 1", "error": "ImportError: y"}]
    run_all.update_readme(readme, run_all.section([_result(met, missed)], runs, MACHINE, 12.3))
    first = readme.read_text()
    assert first.startswith("# handdg\n\nintro\n\n## Performance\n\n" + run_all.BEGIN)
    assert "| 1 | featurize pipeline vs bare model | 0.95 | met (≥ 0.9) | 11 vs 11.6 img/s |  |" in first
    assert "| 1 | prompt path | 0.5 | **missed** (≥ 0.9) | a vs b | tokeniser in Python |" in first
    assert "`bench_y.py` | did not finish | exit 1 | ImportError: y" in first
    assert ("(12.3 min for all of it) on 2026-11-24 03:05 UTC: AMD EPYC, 2 cores, no GPU, 2 threads, "
            "load average 0.5 at start" in first)

    readme.write_text(first + "\n## After\n\nkept\n")
    run_all.update_readme(readme, run_all.section([_result(met)], runs[:1], MACHINE, 1.0))
    second = readme.read_text()
    assert second.count(run_all.BEGIN) == 1 and second.count("## Performance") == 1
    assert "prompt path" not in second and "bench_y.py" not in second
    assert second.endswith("## After\n\nkept\n") and second.startswith("# handdg\n\nintro\n")


@pytest.mark.slow
def test_quick_run_writes_machine_info_and_claims(tmp_path):
    done = subprocess.run([sys.executable, str(BENCHMARKS / "run_all.py"), "--quick", "--only", "store_io",
                           "--threads", "1", "--out", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "run_all.json").read_text())
    assert [r["status"] for r in summary["runs"]] == ["ok"]
    result = json.loads((tmp_path / "store_io.json").read_text())
    assert result["quick"] is True
    assert {"cpu", "cores", "torch", "faiss", "zarr", "threads"} <= set(result["machine"])
    assert result["machine"]["threads"] == 1
    claims = {c["claim"]: c for c in result["claims"]}
    assert summary["claims"] == result["claims"]
    speed_up = claims["store I/O: random 32-row batch, in memory vs Zarr (speed-up)"]
    assert speed_up["id"] == "6" and speed_up["unit"] == "×" and speed_up["met"] is None
    size = claims["store size on disk per 100k images"]["value"]
    assert 0 < size <= 100_000 * 512 * 2 / 2**20 * 1.05, "float16 features should take at most their raw size"


def test_learning_benchmarks_run_only_when_named():
    everything = {run_all._name(p) for p in run_all.scripts(None)}
    assert "retrieval" in everything and not everything & set(run_all.LONG)
    assert [run_all._name(p) for p in run_all.scripts("lifting,retrieval")] == ["retrieval", "lifting"]


def test_learning_reports_on_one_data_seed_and_validates_on_another(tmp_path):
    """bench_learning: the reported datasets come from --data-seed, validation (best.safetensors) from another
    seed's FreiHAND evaluation split, never the split reported as in-domain; the tuning seed is 0."""
    import bench_learning

    assert bench_learning.TUNING_DATA_SEED == 0
    assert bench_learning.validation_seed(1) == 0 and bench_learning.validation_seed(2) == 0
    assert bench_learning.validation_seed(0) == 1
    roots = {"freihand": tmp_path / "freihand-1000-seed2", "validation": tmp_path / "freihand-1000"}
    config = bench_learning._config(roots, None, tmp_path / "run", "tiny", "baseline", 10)
    assert config.data == str(roots["freihand"]) and config.val_data == str(roots["validation"])
    assert config.val_split == "evaluation" and config.val_data != config.data
    assert bench_learning._run_name("tiny", "baseline", {"seed": 3, "data_seed": 2}) == "tiny-baseline-seed3-dataseed2"


def test_closed_world_plans_text_arms_controls_and_oracle_on_the_report_seed(tmp_path):
    """bench_closed_world: the text arms train with their style banks, the matched control with the random bank
    made --like the regions bank, MixStyle in the net, the oracle on the target look; data from --data-seed,
    validation on the tuning seed's split."""
    import argparse

    import bench_closed_world as cw
    from handdg.styles.bank import StyleBank

    args = argparse.Namespace(source=2, targets=2, data_seed=1, seeds=2, steps=3, batch_size=2,
                              source_look="restricted-scenes", target_look="unseen-scenes")
    roots = cw._datasets(tmp_path, args)
    manifest = {k: json.loads((p / "handdg_synth.json").read_text()) for k, p in roots.items()}
    assert {k: (m["seed"], m["look"], m["layout"]) for k, m in manifest.items()} == {
        "source": (1, "restricted-scenes", "freihand"), "oracle": (1, "unseen-scenes", "freihand"),
        "stb": (1, "unseen-scenes", "stb"), "rhd": (1, "unseen-scenes", "rhd"),
        "validation": (cw.TUNING_DATA_SEED, "restricted-scenes", "freihand")}
    configs = {}
    for arm in cw.ARMS:
        runs, _ = cw._plan(tmp_path, roots, args, arm, quick=True)
        assert [r.seed for r in runs] == [0, 1]
        configs[arm] = runs[1].config
    assert configs["text-regions"].styles.endswith("banks-seed1-restricted-scenes/regions") and configs["text-regions"].style_share == 0.5
    assert configs["text-global"].styles.endswith("banks-seed1-restricted-scenes/global")
    control = StyleBank.open(configs["random-regions"].styles)
    assert control.manifest["kind"] == "random" and control.manifest["settings"]["like"].endswith("regions")
    assert configs["mixstyle"].feature_stats == "mixstyle" and configs["baseline"].styles is None
    assert configs["ie-te-r0.6"].ratio == 0.6 and configs["ie-te-r0.6"].branch2 == "ie+te"
    assert Path(configs["oracle"].data) == roots["oracle"] and configs["oracle"].branch2 == "none"
    assert {Path(c.data) for a, c in configs.items() if a != "oracle"} == {roots["source"]}
    assert {c.val_data for c in configs.values()} == {str(roots["validation"])}


def test_closed_world_reports_from_its_ledger_by_data_seed_and_budget(tmp_path):
    """Runs recorded in the ledger (a later session's machine has no run folders) are what the report reads."""
    import argparse

    import bench_closed_world as cw

    ledger = tmp_path / "ledger.jsonl"
    args = argparse.Namespace(source=2, targets=2, data_seed=1, seeds=2, steps=3, batch_size=2,
                              source_look=cw.SOURCE_LOOK, target_look=cw.TARGET_LOOK)
    rows = [{**cw._key(args, arm, seed), "epe_mm": {d: {"hand3d": base + seed, "official": 0.0} for d in cw.DATASETS},
             "skill_ratio": {}, "train_seconds": 1800.0}
            for arm, base in (("baseline", 50.0), ("oracle", 30.0)) for seed in (0, 1, 2)]
    rows.append({**rows[0], "data_seed": 0, "epe_mm": {d: {"hand3d": 99.0, "official": 0.0} for d in cw.DATASETS}})
    old = {k: v for k, v in rows[0].items() if k not in cw.OLD_LOOKS}  # written before the looks were recorded
    rows.append({**old, "epe_mm": {d: {"hand3d": 77.0, "official": 0.0} for d in cw.DATASETS}})
    ledger.write_text("".join(json.dumps(r) + "\n" for r in rows))
    old_args = argparse.Namespace(**{**vars(args), **cw.OLD_LOOKS})
    assert cw._scores(cw.read_ledger(ledger), old_args)[0][("baseline", "stb", "hand3d")] == {0: 77.0}
    entries = cw.read_ledger(ledger)
    assert cw._in_ledger(entries, cw._key(args, "oracle", 2)) and not cw._in_ledger(entries, cw._key(args, "mixstyle", 0))
    epe, _, hours, arms = cw._scores(entries, args)
    assert arms == ["baseline", "oracle"] and hours == pytest.approx(4 * 1800 / 3600)  # seeds 0-1 of data seed 1
    assert epe[("baseline", "stb", "hand3d")] == {0: 50.0, 1: 51.0}


def test_closed_world_coverage_reads_hand_and_background_colours_apart():
    """The coverage measure's colour 6-vector: a red hand square over a blue backdrop, by hand."""
    import torch

    import closed_world_coverage as cov

    image = torch.zeros(1, 3, 8, 8)
    image[0, 2] = 1.0
    mask = torch.zeros(1, 1, 8, 8)
    mask[..., 2:6, 2:6] = 1.0
    image[0, :, 2:6, 2:6] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]
    assert cov.colours(image, mask).tolist() == [[1.0, 0.0, 0.0, 0.0, 0.0, 1.0]]
    a, b = torch.tensor([[0.0, 0.0], [3.0, 4.0]]), torch.tensor([[0.0, 0.0], [6.0, 8.0]])
    assert cov.nearest(a, b) == 2.5  # 0 for the first row, 5 for the second
