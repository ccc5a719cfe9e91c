"""A frozen open_clip model behind a small interface: encode images, encode text, say what it is.

`load_clip` is the one place CLIP is built: featurize, training's online mode and retrieval
queries all call it, so the same (model, weights) always gives the same encoder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import open_clip
import torch
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

from handdg.errors import HanddgError
from handdg.featurize.weights import WeightsSpec, ensure_tag_available, parse_weights
from handdg.load_errors import load_failure

CONFIG_DIR = Path(__file__).with_name("configs")
TINY_MODEL = "handdg-tiny"
SYNTH_MODEL = "handdg-synth"
open_clip.add_model_config(CONFIG_DIR)


class ClipEncoder:
    """A frozen CLIP in inference mode on one device; outputs are float32 CPU tensors."""

    def __init__(self, model: torch.nn.Module, model_name: str, weights: WeightsSpec, device: torch.device):
        self.model = model.eval().requires_grad_(False).to(device)
        self.model_name = model_name
        self.weights = weights
        self.device = device
        cfg = open_clip.get_model_preprocess_cfg(model)
        self.image_transform: Callable[[Image.Image], torch.Tensor] = image_transform_v2(
            PreprocessCfg(**cfg), is_train=False
        )
        self.image_size = int(cfg["size"][0] if isinstance(cfg["size"], (tuple, list)) else cfg["size"])
        self.mean = [float(v) for v in cfg["mean"]]
        self.std = [float(v) for v in cfg["std"]]
        self.tokenizer = open_clip.get_tokenizer(model_name)
        self.embed_dim = int(open_clip.get_model_config(model_name)["embed_dim"])

    @property
    def provenance(self) -> dict:
        """What identifies this encoder in every artefact made with it."""
        prov = {
            "model": self.model_name,
            "weights": self.weights.ident,
            "weights_kind": self.weights.kind,
            "embed_dim": self.embed_dim,
            "image_size": self.image_size,
            "mean": self.mean,
            "std": self.std,
            "quick_gelu": self.weights.quick_gelu,
            "open_clip_version": open_clip.__version__,
        }
        if self.weights.path is not None:
            prov["weights_file"] = self.weights.path.name
        return prov

    def _autocast(self) -> contextlib.AbstractContextManager:
        """fp16 autocast on CUDA; nothing on CPU (CPU half/bfloat16 matmuls are slow or lossy here)."""
        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def encode_images(self, batch: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) preprocessed images -> (B, D) raw CLIP image features."""
        with self._autocast():
            out = self.model.encode_image(batch.to(self.device, non_blocking=True))
        return out.float().cpu()

    def tokenize(self, texts: Sequence[str]) -> torch.Tensor:
        """Token ids at the model's full context (77 for CLIP)."""
        return self.tokenizer(list(texts))

    @torch.inference_mode()
    def encode_tokens(self, tokens: torch.Tensor, short: bool = True) -> torch.Tensor:
        """(T, C) token ids -> (T, D) text features.

        With `short`, the context is cut to the last end-of-text position of the batch: the text
        transformer is causal and pools at end-of-text, so the padding after it never changes
        the feature (a test checks equality with the full context) and costs most of the time.
        """
        tokens = tokens.to(self.device)
        with self._autocast():
            if short and _has_short_text_path(self.model):
                out = _encode_text_prefix(self.model, tokens[:, : shortest_context(tokens)])
            else:
                out = self.model.encode_text(tokens)
        return out.float().cpu()

    def overflow(self, text: str) -> str | None:
        """The end of `text` that does not fit the context (77 tokens with start and end), or None if all fits."""
        encode = getattr(self.tokenizer, "encode", None)
        context = getattr(self.tokenizer, "context_length", None)
        if encode is None or context is None:
            return None
        ids = encode(text)
        room = context - 2
        return self.tokenizer.decode(ids[room:]).strip() if len(ids) > room else None

    def encode_text(self, texts: Sequence[str], short: bool = True) -> torch.Tensor:
        """Texts -> (T, D) raw CLIP text features."""
        return self.encode_tokens(self.tokenize(texts), short=short)


def shortest_context(tokens: torch.Tensor) -> int:
    """Length of the shortest context that holds every sequence up to its end-of-text token."""
    return int(tokens.argmax(dim=-1).max()) + 1


def _has_short_text_path(model: torch.nn.Module) -> bool:
    """True for open_clip's built-in CLIP text tower with a causal mask and end-of-text pooling."""
    return (
        isinstance(model, open_clip.CLIP)
        and getattr(model, "attn_mask", None) is not None
        and model.text_pool_type == "argmax"
    )


def _encode_text_prefix(model: open_clip.CLIP, tokens: torch.Tensor) -> torch.Tensor:
    """CLIP.encode_text on a context shorter than the model's: positions and mask cut to fit."""
    length = tokens.shape[1]
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.transformer(x, attn_mask=model.attn_mask[:length, :length])
    x = model.ln_final(x)
    x = x[torch.arange(x.shape[0], device=x.device), tokens.argmax(dim=-1)]
    if isinstance(model.text_projection, torch.nn.Linear):
        return model.text_projection(x)
    return x @ model.text_projection


def resolve_device(device: str = "auto") -> torch.device:
    """`auto` -> the GPU of this process (LOCAL_RANK under torchrun) when CUDA is available, else CPU."""
    if device == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise HanddgError(f"--device {device} asked for but CUDA is not available here (use --device cpu or auto)")
    try:
        return torch.device(device)
    except RuntimeError:
        raise HanddgError(f"bad --device {device!r} (use auto, cpu, cuda or cuda:N)") from None


def _check_model(model: str) -> str:
    """A known open_clip architecture name, or a path to a model config .json (registered here)."""
    if model.endswith(".json"):
        path = Path(model).expanduser()
        if not path.is_file():
            raise HanddgError(f"CLIP model config not found: {path} (pass an open_clip model name or a .json config)")
        open_clip.add_model_config(path)
        return path.stem
    if open_clip.get_model_config(model) is None:
        raise HanddgError(
            f"unknown CLIP model {model!r} (see open_clip.list_models(), e.g. ViT-B-32, {SYNTH_MODEL} "
            f"with --clip-weights builtin, or {TINY_MODEL} for tests)"
        )
    return model


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """Silence open_clip's 'initialised randomly' warning: handdg records random weights itself."""
    log = logging.getLogger()
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def _build(model_name: str, spec: WeightsSpec) -> torch.nn.Module:
    """The open_clip model on CPU with the requested weights."""
    if spec.kind == "random":
        with torch.random.fork_rng(devices=[]), _quiet_open_clip():
            torch.manual_seed(spec.seed)
            return open_clip.create_model(model_name, pretrained=None, device="cpu")
    if spec.kind == "builtin":
        from handdg.featurize.compact import read_packed

        with _quiet_open_clip():
            model = open_clip.create_model(model_name, pretrained=None, device="cpu")
        model.load_state_dict(read_packed(spec.path))
        return model
    if spec.kind == "tag":
        ensure_tag_available(model_name, spec.tag)
        return open_clip.create_model(model_name, pretrained=spec.tag, device="cpu", force_quick_gelu=spec.quick_gelu)
    try:
        with warnings.catch_warnings():  # torch warns of pickle protocols it did not write; the file decides
            warnings.simplefilter("ignore")
            return open_clip.create_model(model_name, pretrained=str(spec.path), device="cpu",
                                          force_quick_gelu=spec.quick_gelu)
    except Exception as exc:  # noqa: BLE001 - safetensors, pickle and state-dict errors all mean "not these weights"
        raise HanddgError(
            f"--clip-weights {spec.path} is not a CLIP checkpoint or does not fit model {model_name} "
            f"({load_failure(exc)}); "
            "pass an open_clip .pt/.safetensors file of that model, or the matching --clip-model"
        ) from None


def load_clip(model: str = "ViT-B-32", weights: str = "openai", device: str = "auto") -> ClipEncoder:
    """Build a frozen CLIP encoder: `weights` is a tag, a local file, `builtin`, `random` or `random:SEED`."""
    model_name = _check_model(model)
    spec = parse_weights(model_name, weights)
    return ClipEncoder(_build(model_name, spec), model_name, spec, resolve_device(device))
