"""handdg: image-free domain generalisation via CLIP for 3D hand pose estimation."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """`handdg.predict(model, inputs, out, **options)` for notebooks, imported on first use (torch stays out of `import handdg`)."""
    if name == "predict":
        from handdg.inference.predictor import predict

        return predict
    raise AttributeError(f"module 'handdg' has no attribute {name!r}")
