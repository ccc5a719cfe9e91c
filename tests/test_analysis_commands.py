"""The analysis commands end to end through the CLI."""

from analysis_evals import write_eval
from PIL import Image

from handdg.cli import main


def test_figures_pck_command(runner, tmp_path):
    a = write_eval(tmp_path / "r1" / "eval_stb.json", "stb", 20.0, {"branch2": "none"})
    b = write_eval(tmp_path / "r2" / "eval_stb.json", "stb", 25.0, {"branch2": "ie+te", "ratio": 0.6})
    result = runner.invoke(main, ["figures", "pck", str(a), str(b), "--label", "baseline", "--label", "IE+TE",
                                  "--protocol", "official", "--out", str(tmp_path / "fig" / "pck")])
    assert result.exit_code == 0, result.output
    assert f"wrote {tmp_path / 'fig' / 'pck.png'}" in result.output
    with Image.open(tmp_path / "fig" / "pck.png") as im:
        assert im.size == (650, 600)


def test_figures_pck_label_count_mismatch(runner, tmp_path):
    a = write_eval(tmp_path / "r1" / "eval_stb.json", "stb", 20.0)
    result = runner.invoke(main, ["figures", "pck", str(a), "--label", "x", "--label", "y"])
    assert result.exit_code == 2 and "one label per file" in result.output


def test_figures_tables_command(runner, tmp_path):
    write_eval(tmp_path / "runs" / "b" / "eval_rhd.json", "rhd", 12.0, {"branch2": "none"}, official_epe=44.5)
    result = runner.invoke(main, ["figures", "tables", str(tmp_path / "runs"), "--out", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    md = (tmp_path / "t" / "tables.md").read_text()
    assert "| Baseline |  | — | 36.11 | 44.50 | 48.36 |" in md
    hand3d = runner.invoke(main, ["figures", "tables", str(tmp_path / "runs"), "--out", str(tmp_path / "h"),
                                  "--protocol", "hand3d"])
    assert hand3d.exit_code == 0
    assert "| Baseline |  | — | 36.11 | 12.00 | 48.36 |" in (tmp_path / "h" / "tables.md").read_text()
