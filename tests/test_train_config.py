import pytest

from handdg.errors import HanddgError
from handdg.run.config import AUGMENT_PRESETS, TrainConfig, parse_augment


def _config(**kw) -> TrainConfig:
    return TrainConfig(data="d", store="s", **kw)


@pytest.mark.parametrize("kw, ratio", [
    ({"branch2": "none"}, None),
    ({"branch2": "ie"}, 1.0),
    ({"branch2": "te"}, 0.0),
    ({"target": "stb"}, 0.6),
    ({"target": "rhd"}, 0.9),
    ({"ratio": 0.25}, 0.25),
])
def test_mixing_ratio_follows_branch2_and_presets(kw, ratio):
    assert _config(**kw).validate().mixing_ratio() == ratio


@pytest.mark.parametrize("kw, words", [
    ({}, "--ratio R or --target"),
    ({"ratio": 0.5, "target": "stb"}, "not both"),
    ({"ratio": 1.5}, "[0, 1]"),
    ({"target": "freihand"}, "target must be one of"),
    ({"fusion": "product", "ratio": 0.5}, "fusion"),
    ({"augment": ("geometric", "mixup"), "ratio": 0.5}, "augmentation"),
    ({"batch_size": 0, "ratio": 0.5}, "--batch-size must be an integer of at least 1, got 0"),
])
def test_bad_options_name_themselves(kw, words):
    with pytest.raises(HanddgError, match=words.replace("[", r"\[").replace("]", r"\]")):
        _config(**kw).validate()


def test_cached_clip_needs_a_store_but_baseline_does_not():
    with pytest.raises(HanddgError, match="--store"):
        TrainConfig(data="d", target="stb").validate()
    TrainConfig(data="d", branch2="none").validate()
    TrainConfig(data="d", target="stb", clip_mode="online").validate()


def test_dict_round_trip_and_unknown_keys():
    config = _config(target="rhd", augment=("blur",), lambda_con=0.001)
    again = TrainConfig.from_dict(config.to_dict())
    assert again == config and again.augment == ("blur",)
    with pytest.raises(HanddgError, match="unknown training option"):
        TrainConfig.from_dict({**config.to_dict(), "warmup": 3})


def test_parse_augment():
    assert parse_augment("official") == ("geometric", "jitter")
    assert parse_augment("normal") == AUGMENT_PRESETS["normal"] and len(parse_augment("normal")) == 7
    assert parse_augment("none") == ()
    assert parse_augment("sobel, blur") == ("sobel", "blur")
    with pytest.raises(HanddgError, match="augmentation"):
        parse_augment("sobel,normal")


def test_learning_rate_schedules_by_hand() -> None:
    from handdg.run.config import TrainConfig

    cosine = TrainConfig(lr=1e-3, steps=105)
    # 5 warm-up steps to the peak, then cosine down to 1 % of it at the last step; halfway: 0.505
    assert cosine.lr_at(1) == pytest.approx(2e-4) and cosine.lr_at(5) == pytest.approx(1e-3)
    assert cosine.lr_at(55) == pytest.approx(0.505e-3) and cosine.lr_at(105) == pytest.approx(1e-5)
    step = TrainConfig(lr=1e-3, steps=99, lr_schedule="step")
    assert [step.lr_at(s) for s in (1, 33, 34, 66, 67, 99)] == pytest.approx([1e-3, 1e-3, 1e-4, 1e-4, 1e-5, 1e-5])
    assert TrainConfig(lr=1e-4, lr_schedule="constant").lr_at(777) == 1e-4
