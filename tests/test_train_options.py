"""One declaration per training option (handdg.run.options.OPTIONS), from which TrainConfig, `handdg
train`'s options, the validation, ModelConfig's and LossConfig's defaults and the resume rules all derive."""

from __future__ import annotations

import dataclasses
import inspect
import subprocess

import pytest

from conftest import PYTHON
from handdg.cli import main
from handdg.commands.train import train as train_command
from handdg.errors import HanddgError
from handdg.run.config import RECIPE, TrainConfig, recipe
from handdg.run.options import OPTION, OPTIONS, PLANNED, REPRODUCE_FLAGS, RESUMABLE, RUNTIME


def _cli_params(*args: str) -> dict:
    """What `handdg train ARGS` passes to its command as TrainConfig's keywords: the parsed, checked values."""
    params = dict(train_command.make_context("train", ["--out", "run", *args]).params)
    del params["resume"]
    return {**params, "out": str(params["out"])}


def _help(runner) -> str:
    result = runner.invoke(main, ["train", "--help"], terminal_width=2000, max_content_width=2000)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_option_is_one_trainconfig_field_with_its_declared_default():
    fields = dataclasses.fields(TrainConfig)
    assert [f.name for f in fields] == [o.name for o in OPTIONS] + ["recipe"]
    defaults = TrainConfig()
    for option in OPTIONS:
        assert getattr(defaults, option.name) == option.default_value(), option.name
        if not option.required:
            assert option.check(option.default_value()) == option.default_value(), option.name
        if option.kind is int:
            assert option.low is not None, f"{option.name}: every integer option declares its lowest value"
    assert defaults.recipe == RECIPE


def test_every_option_appears_once_in_train_help_with_its_help_text(runner):
    text = _help(runner)
    lines = text.splitlines()
    for option in OPTIONS:
        spelling = option.cli.split("/")[0] if option.cli else option.flag
        starts = [line for line in lines if line.strip().startswith(spelling + " ") or line.strip() == spelling
                  or line.strip().startswith(spelling + " /")]
        assert len(starts) == 1, (option.name, starts)
        assert option.help in " ".join(text.split()), option.name
    assert "--normalise-mix / --raw-mix" in text and "--gt-lifting / --no-gt-lifting" in text


def test_the_command_lines_defaults_are_trainconfigs():
    params = _cli_params("--data", "d")
    defaults = TrainConfig()
    for option in OPTIONS:
        if option.name not in ("out", "data"):
            assert params[option.name] == getattr(defaults, option.name), option.name


def test_every_option_has_one_resume_rule_and_the_lists_derive_from_them(runner, tmp_path):
    from handdg.reproduce.execute import DEDICATED_OPTIONS
    from handdg.reproduce.plan import FIXED_FIELDS, RUNTIME_FIELDS
    from handdg.train import lifecycle

    assert set(inspect.signature(lifecycle.resume).parameters) == set(RESUMABLE)
    assert set(RUNTIME) <= set(PLANNED), "a runtime option is set by the reproduction plan"
    assert (FIXED_FIELDS, RUNTIME_FIELDS, DEDICATED_OPTIONS) == (PLANNED, RUNTIME, REPRODUCE_FLAGS)
    for option in OPTIONS:
        assert isinstance(option.resume, bool) and isinstance(option.runtime, bool), option.name
        assert option.reproduce in ("set", "flag", "plan"), option.name
    assert "init" not in RESUMABLE and "precision" not in RESUMABLE
    # every option not declared resumable is refused by --resume, naming it, in one line
    fixed = [o for o in OPTIONS if not o.resume]
    args = []
    for option in fixed:
        if option.kind is bool:
            args.append(option.cli.split("/")[0] if option.cli else option.flag)
        else:
            value = option.default_value()
            shown = "official" if option.kind is tuple else ("1" if value is None and option.kind is int else value)
            args += [option.flag, str({"ratio": 0.5, "target": "stb", "val_layout": "rhd"}.get(option.name, shown))]
    result = runner.invoke(main, ["train", "--out", str(tmp_path / "run"), "--resume", *args])
    assert result.exit_code == 2, result.output
    line = result.output.strip()
    assert len(line.splitlines()) == 1 and "cannot change" in line
    refused = line.split("says; ", 1)[1].split(" cannot change", 1)[0].split(", ")
    assert sorted(refused) == sorted(o.flag for o in fixed)


@pytest.mark.parametrize("args, config", [
    (["--fusion", "product"], {"fusion": "product"}),
    (["--rotation", "quaternion"], {"rotation": "quaternion"}),
    (["--val-layout", "coco"], {"val_layout": "coco"}),
    (["--steps", "0"], {"steps": 0}),
    (["--val-every", "0"], {"val_every": 0}),
    (["--seed", "-1"], {"seed": -1}),
    (["--lr", "-1"], {"lr": -1.0}),
    (["--lr", "nan"], {"lr": float("nan")}),
    (["--heatmap-sigma", "0"], {"heatmap_sigma": 0.0}),
    (["--ratio", "2"], {"ratio": 2.0}),
    (["--augment", "geometric,mixup"], {"augment": ("geometric", "mixup")}),
])
def test_a_bad_value_is_the_same_one_line_from_the_cli_and_the_library(args, config, runner, tmp_path):
    with pytest.raises(HanddgError) as library:
        TrainConfig(data=".", branch2="none", **config).validate()
    result = runner.invoke(main, ["train", "--out", str(tmp_path / "run"), "--data", ".", "--branch2", "none", *args])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {library.value}"
    assert not (tmp_path / "run").exists()


def test_model_and_loss_configs_default_to_what_handdg_train_builds():
    import torch

    from handdg.model.losses import LossConfig, contrastive_loss
    from handdg.model.network import HandPoseNet, ModelConfig
    from handdg.train.loop import loss_config, model_config

    assert ModelConfig() == model_config(TrainConfig(**_cli_params()), 512)
    for preset in ("paper", "small", "tiny"):
        assert ModelConfig.from_preset(preset) == model_config(TrainConfig(**_cli_params("--preset", preset)), 512)
    assert ModelConfig().rotation == "6d" and ModelConfig().norm == "batch"
    assert HandPoseNet(ModelConfig.from_preset("tiny")).view_point.out.out_features == 6
    trained = loss_config(TrainConfig())
    assert LossConfig() == dataclasses.replace(trained, margin=LossConfig().margin)
    assert LossConfig().contrastive == "hinge" == inspect.signature(contrastive_loss).parameters["form"].default
    e1, e2 = torch.zeros(2, 4), torch.ones(2, 4)
    negatives = torch.tensor([1, 0])
    assert contrastive_loss(e1, e2, negatives) == contrastive_loss(e1, e2, negatives, "hinge")


def test_model_and_loss_configs_refuse_with_the_options_messages():
    from handdg.model.losses import LossConfig
    from handdg.model.network import ModelConfig

    for make, message in ((lambda: ModelConfig(rotation="quaternion"),
                           "--rotation must be one of axis-angle, 6d, got 'quaternion'"),
                          (lambda: ModelConfig.from_preset("huge"), "--preset must be one of paper, small, tiny"),
                          (lambda: LossConfig(con=-0.1), "--lambda-con must be a finite number of at least 0"),
                          (lambda: LossConfig(contrastive="triplet"), "--contrastive must be one of paper, hinge")):
        with pytest.raises(HanddgError, match=message.replace("[", r"\[")):
            make()


def test_an_old_checkpoints_model_dict_builds_the_network_it_was_trained_with():
    from handdg.model.network import HandPoseNet, ModelConfig

    saved = ModelConfig.from_preset("tiny", rotation="axis-angle", norm="none").to_dict()
    old = {k: v for k, v in saved.items() if k not in ("rotation", "norm", "side_input")}  # before those fields
    config = ModelConfig.from_dict(old)
    assert config == ModelConfig.from_dict(saved) and config.rotation == "axis-angle" and config.norm == "none"
    assert HandPoseNet(config).view_point.out.out_features == 3
    assert ModelConfig.from_dict(ModelConfig().to_dict()) == ModelConfig()  # a new one: as saved


def test_an_old_config_json_means_what_it_was_trained_with():
    new = TrainConfig(data="d", branch2="none").to_dict()
    recipe2 = {k: v for k, v in new.items() if k not in ("norm", "rotation", "gt_lifting", "init")}
    recipe2["recipe"] = 2
    old = TrainConfig.from_dict(recipe2)
    assert (old.norm, old.rotation, old.gt_lifting, old.init, old.recipe) == ("none", "axis-angle", False, None, 2)
    before_fix = TrainConfig.from_dict({k: v for k, v in recipe2.items() if k not in ("recipe", "lr_schedule",
                                                                                    "heat_reduction", "heat_stages",
                                                                                    "precision")})
    assert before_fix.recipe == 1 and (before_fix.lr_schedule, before_fix.heat_reduction, before_fix.heat_stages,
                                       before_fix.precision) == ("constant", "mean", "last", "fp32")
    assert TrainConfig.from_dict(new) == TrainConfig(data="d", branch2="none")
    from handdg.model.network import ModelConfig
    from handdg.saved import BUILT_BEFORE, TRAINED_BEFORE

    assert set(TRAINED_BEFORE) == {"recipe", "norm", "rotation", "heat_reduction", "heat_stages", "gt_lifting",
                                   "lr_schedule", "precision", "augment_on", "memory_format"}
    assert set(BUILT_BEFORE) | {"lifting_divisor"} == set(ModelConfig().to_dict())


def test_recipe_versioning_is_one_function(tmp_path):
    assert recipe() == RECIPE and recipe(2) == 2
    assert recipe(RECIPE, resuming=tmp_path) == RECIPE
    with pytest.raises(HanddgError, match="trained with training recipe 3 .* start a new run"):
        recipe(3, resuming=tmp_path)


def test_reproduce_set_reads_values_as_the_declaration_says():
    from handdg.reproduce.plan import parse_train_option

    assert parse_train_option("lr=3e-4") == ("lr", 3e-4)
    assert parse_train_option("val_every=none") == ("val_every", None)
    assert parse_train_option("val_split=evaluation") == ("val_split", "evaluation")
    assert parse_train_option("gt_lifting=false") == ("gt_lifting", False)
    assert parse_train_option("heatmap-size=16") == ("heatmap_size", 16)
    with pytest.raises(HanddgError, match="--lr must be a number, got 'abc'"):
        parse_train_option("lr=abc")
    with pytest.raises(HanddgError, match="--rotation must be one of"):
        parse_train_option("rotation=quaternion")
    with pytest.raises(HanddgError, match="no such training option"):
        parse_train_option("recipe=3")


def test_the_declaration_and_the_config_import_no_torch(subprocess_env):
    code = ("import sys, handdg.run.options, handdg.run.config; "
            "print(sorted(m for m in ('torch', 'click') if m in sys.modules))")
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=subprocess_env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert OPTION["init"].resume is False
