"""The Zarr feature store (create, resume, read, verify) and its FAISS index.

`FeatureStore` loads on first use (PEP 562), so `handdg.stores.schema` (names and constants the
CLI's options need) imports without zarr and FAISS.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["FeatureStore"]

if TYPE_CHECKING:
    from handdg.stores.feature_store import FeatureStore


def __getattr__(name: str) -> Any:
    """Import handdg.stores.feature_store the first time FeatureStore is asked for."""
    if name != "FeatureStore":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from handdg.stores.feature_store import FeatureStore

    globals()["FeatureStore"] = FeatureStore
    return FeatureStore


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
