"""Why torch could not load a file, in handdg's words: the one line names what the file asked for or its first
fault, never torch's advice about `torch.load`'s defaults."""

from __future__ import annotations

import pickle
import re


def load_failure(exc: BaseException) -> str:
    """What went wrong loading a file: the function a refused pickle would call, a TorchScript archive, or the
    first sentence of the error."""
    text = str(exc).strip()
    if isinstance(exc, pickle.UnpicklingError) or "Weights only load failed" in text:
        named = re.search(r"GLOBAL ([\w.]+)", text)
        if named:
            return f"a pickle that would call {named.group(1)}, refused: unpickling can run code"
        return "a pickle with instructions a weights-only reader does not run, refused: unpickling can run code"
    if "TorchScript" in text:
        return "a TorchScript archive, not a checkpoint dict"
    return text.splitlines()[0].split(". ")[0][:200] if text else type(exc).__name__
