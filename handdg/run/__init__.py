"""What a training run is, for every layer that makes, reads or scores one: each option declared once
(options), the training config built from them (config: TrainConfig, recipe versioning) and the files of a
run directory and its checkpoints (runs: config.json, metrics.csv, self-describing .safetensors).

Below the model, the input pipeline and evaluation: the network takes its defaults and checks from the
option declaration, and a checkpoint carries its TrainConfig, so whatever writes or reads one (training,
the official import, evaluation, prediction) imports from here. options and config import neither torch
nor click (`handdg --help` builds `handdg train`'s options from them)."""
