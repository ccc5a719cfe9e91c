"""handdg: image-free domain generalisation via CLIP for 3D hand pose estimation."""

__version__ = "0.1.0"
