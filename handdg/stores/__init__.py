"""The Zarr feature store (create, resume, read, verify) and its FAISS index."""

from handdg.stores.feature_store import FeatureStore

__all__ = ["FeatureStore"]
