"""The training input pipeline: crops, targets and batches (batches), augmentation per sample (augment)
and per batch on the device (batch_augment), keyed seeds (seeds) and the cached CLIP features with the
paper's image/text mixing (features)."""
