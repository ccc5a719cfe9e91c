"""`handdg demo` end to end with tiny settings (a tiny CLIP and network; the full demo is timed by hand)."""

import json
from pathlib import Path

import pytest
from PIL import Image

from handdg.cli import main


@pytest.mark.slow
def test_tiny_demo_makes_everything_it_lists_and_a_rerun_keeps_it(runner, tmp_path):
    out = tmp_path / "demo-out"
    result = runner.invoke(main, ["demo", "--out", str(out), "--tiny"])
    assert result.exit_code == 0, result.output
    assert "RANDOM CLIP weights" in result.output
    listed = [Path(line.split()[-1]) for line in result.output.splitlines() if line.startswith("  ") and str(out) in line]
    assert len(listed) == 20  # 3 datasets, 3 stores, 2 runs x (run + 3 evals), 6 figures/tables
    for path in listed:
        assert path.exists(), path
        if path.suffix == ".png":
            with Image.open(path) as im:
                im.verify()
            assert path.with_suffix(".pdf").is_file()
    for layout in ("freihand", "stb", "rhd"):
        result_json = json.loads((out / "runs" / "ie+te" / f"eval_{layout}.json").read_text())
        assert set(result_json["protocols"]) == {"hand3d", "official"}
        assert result_json["run_config"]["ratio"] == 0.6
    tables = (out / "tables" / "tables.md").read_text()
    ie_te = next(line for line in tables.splitlines() if line.startswith("| IE+TE | 0.6 |"))
    assert "—" not in ie_te.split("|")[3] and "—" not in ie_te.split("|")[5]  # STB and RHD both measured
    assert [c.name.split("-")[:2] for c in (out / "cache").iterdir() if c.is_dir()] == [["freihand", "train"]]
    ranking = (out / "figures" / "retrieval.txt").read_text().splitlines()
    assert len(ranking) == 11 and "00000000 " not in "".join(ranking[1:])  # the query image is never a hit

    last, store = out / "runs" / "ie+te" / "last.safetensors", out / "stores" / "freihand-train.zarr"
    before = (last.stat().st_mtime_ns, store.stat().st_mtime_ns)
    again = runner.invoke(main, ["demo", "--out", str(out), "--tiny"])
    assert again.exit_code == 0, again.output
    assert "training ie+te" not in again.output and "prompts:" not in again.output  # nothing re-trained or re-encoded
    assert (last.stat().st_mtime_ns, store.stat().st_mtime_ns) == before
