"""Text -> vectors. The only module that imports sentence_transformers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol, Sequence

from index.errors import ModelError


class Embedder(Protocol):
    id: str  # identifies the model; the store refuses vectors from another one

    def load(self) -> object: ...

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> list[list[float]]: ...


def embedder_id(path: Path) -> str:
    """A cheap identity for a model folder: its name plus the sizes of its weight files.

    Hashing hundreds of MB at every start would cost more than the query itself;
    name and weight sizes tell apart the models a user is likely to swap in.
    """
    sizes = sorted(
        (p.name, p.stat().st_size)
        for p in path.rglob("*")
        if p.suffix in {".safetensors", ".bin", ".onnx", ".pt"} and p.is_file()
    )
    return f"{path.name}:{sum(s for _, s in sizes)}"


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, never by hub name."""

    def __init__(self, path: Path, *, batch_size: int = 32):
        path = Path(path).expanduser()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(
                f"not a sentence-transformers model folder: {path} "
                "(pass --embed-model a folder holding modules.json or config.json)"
            )
        self.path = path
        self.batch_size = batch_size
        self.id = embedder_id(path)  # cheap, so opening the index never waits for the model
        self._model = None

    def load(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer  # ~6 s import: only when vectors are needed
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()  # a bar per model load is noise in a CLI

            try:
                self._model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
            except Exception as err:  # the library raises many kinds; the user needs one line
                msg = str(err).splitlines()[0] if str(err) else type(err).__name__
                raise ModelError(f"could not load the embedding model at {self.path}: {msg}") from err
        return self._model

    @property
    def dim(self) -> int:
        return int(self.load().get_sentence_embedding_dimension())

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> list[list[float]]:
        vectors = self.load().encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,  # cosine similarity == dot product, scores in [-1, 1]
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return vectors.tolist()


def describe_folder(path: Path) -> dict:
    """Name, size and model type of an embedder folder, for `assistant status`."""
    size = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
    config = Path(path) / "config.json"
    kind = json.loads(config.read_text()).get("model_type", "?") if config.is_file() else "?"
    return {"path": str(path), "bytes": size, "model_type": kind, "id": embedder_id(Path(path))}
