"""Text -> vectors. The only module that imports sentence_transformers or onnxruntime.

A sentence-transformers model is read from a local folder. Importing
sentence-transformers (and with it torch) takes 6-8 s, longer than the rest of a
cold `assistant ask` together, to embed one short question. So the first time a
model is loaded we export its transformer to ONNX once, check that it gives the
same vectors, and from then on embed with onnxruntime and the model's own fast
tokenizer: about 0.3 s to load, a few ms per question, the same vectors to 1e-6.
The export's matrix products are then quantized to int8, which embeds 1.5-1.7x
faster on a CPU; that file is used when its vectors stay close to the exact ones.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Callable, Protocol, Sequence

from index.errors import ModelError
from index.files import sha256

log = logging.getLogger(__name__)

# Vectors from the exported model must match sentence-transformers' to this
# (measured: 2e-7 on MiniLM); otherwise the export is not used.
_TOLERANCE = 1e-4
_PROBES = [
    "开源大模型的盈利通常建立在什么基础上？",
    "Why is LLaMA only pretending to be open source?",
    "数据隐私" * 200,  # longer than the model's limit: truncation must agree too
    "a",
]
# The int8 export is kept when every probe vector stays within this cosine of the
# exact one (measured on MiniLM: 0.989-0.991; quantizing the embedding table too
# gave 0.87, so only MatMul weights are quantized).
_MIN_COSINE = 0.95


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


def same_space(a: str, b: str) -> bool:
    """Whether two embedder ids name one model, with exact or int8 weights: an index of
    one can be re-embedded from its stored chunks by the other, files unread."""
    return a != b and a.removesuffix(":int8") == b.removesuffix(":int8")


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from a local folder, never by hub name.

    With ``onnx_dir`` the model runs through its ONNX export kept there (made on
    first use); without it, or when the model cannot be exported faithfully,
    through sentence-transformers.
    """

    def __init__(self, path: Path, *, batch_size: int = 32, onnx_dir: Path | None = None):
        path = Path(path).expanduser()
        if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
            raise ModelError(
                f"not a sentence-transformers model folder: {path} "
                "(pass --embed-model a folder holding modules.json or config.json)"
            )
        self.path = path
        self.batch_size = batch_size
        self.onnx_dir = Path(onnx_dir) if onnx_dir else None
        # Cheap, so opening the index never waits for the model. The ONNX path embeds
        # with int8 weights: an index holding exact vectors asks for a rebuild rather
        # than mixing the two.
        self.id = embedder_id(path) + (":int8" if self.onnx_dir else "")
        self._encode: Callable | None = None
        self.backend = ""  # "onnx" or "sentence-transformers" once loaded

    def load(self) -> Callable:
        """The encoding function, loading the model on first call."""
        if self._encode is None:
            onnx = _OnnxModel.open(self) if self.onnx_dir else None
            if onnx is None:
                model = self._sentence_transformer()
                if self.onnx_dir:
                    onnx = _OnnxModel.export(self, model)
            self._encode = onnx.encode if onnx else _st_encoder(model, self.batch_size)
            self.backend = "onnx" if onnx else "sentence-transformers"
        return self._encode

    def _sentence_transformer(self):
        from sentence_transformers import SentenceTransformer  # ~6 s import: only when there is no export yet
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # a bar per model load is noise in a CLI
        try:
            return SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        except Exception as err:  # the library raises many kinds; the user needs one line
            msg = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise ModelError(f"could not load the embedding model at {self.path}: {msg}") from err

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> list[list[float]]:
        return self.load()(list(texts), progress).tolist()


def _st_encoder(model, batch_size: int) -> Callable:
    def encode(texts: list[str], progress: bool):
        return model.encode(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,  # cosine similarity == dot product, scores in [-1, 1]
            show_progress_bar=progress,
            convert_to_numpy=True,
        )

    return encode


class _OnnxModel:
    """A sentence-transformers model (transformer + mean/CLS pooling + normalize) run by onnxruntime."""

    def __init__(self, onnx_path: Path, folder: Path, batch_size: int):
        import numpy as np
        import onnxruntime
        from tokenizers import Tokenizer

        config = _pipeline(folder)
        if config is None:
            raise ModelError(f"{folder} is not a transformer + pooling model that can run as ONNX")
        self._np = np
        self.pooling, self.normalize, max_len = config
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.no_padding()  # we pad per batch, to the batch's longest text
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # warnings about the graph are not the user's business
        self.session = onnxruntime.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size

    # -- making and finding the export ----------------------------------------------------

    @staticmethod
    def paths(e: SentenceTransformerEmbedder, id: str | None = None) -> tuple[Path, Path]:
        stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in id or e.id)
        return e.onnx_dir / f"{stem}.onnx", e.onnx_dir / f"{stem}.json"

    @classmethod
    def open(cls, e: SentenceTransformerEmbedder) -> _OnnxModel | None:
        """The export made earlier for this model, if its hash still matches."""
        onnx_path, record_path = cls.paths(e)
        try:
            record = json.loads(record_path.read_text())
            if record.get("source") != e.id or not _unchanged(onnx_path, record):
                log.warning("the ONNX export of %s is stale or damaged; making it again", e.path)
                return None
            return cls(onnx_path, e.path, e.batch_size)
        except FileNotFoundError:
            return None
        except Exception as err:
            log.warning("cannot use the ONNX export of %s (%s); making it again", e.path, err)
            return None

    @classmethod
    def export(cls, e: SentenceTransformerEmbedder, model) -> _OnnxModel | None:
        """Export the transformer, keep it only if it reproduces sentence-transformers' vectors."""
        if _pipeline(e.path) is None:
            return None
        onnx_path, record_path = cls.paths(e)
        tmp = onnx_path.with_suffix(".tmp")
        try:
            e.onnx_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            _torch_export(model, tmp)
            onnx = cls(tmp, e.path, e.batch_size)
            want = model.encode(_PROBES, normalize_embeddings=True, convert_to_numpy=True)
            diff = float(abs(onnx.encode(_PROBES, False) - want).max())
            if diff > _TOLERANCE:
                raise ValueError(f"its vectors differ by {diff:.1e}")
            weights, cosine = "fp32", 1.0
            try:
                int8 = _quantize(tmp, e)
                cosine = float((int8.encode(_PROBES, False) * want).sum(1).min())
                if cosine >= _MIN_COSINE:
                    weights = "int8"
                    tmp.with_suffix(".int8").replace(tmp)
                else:
                    log.warning("embedding with exact weights: int8 vectors of %s reach only cosine %.3f", e.path, cosine)
            except Exception as err:  # only speed is lost
                log.warning("embedding with exact weights: cannot quantize %s (%s)", e.path, err)
            finally:
                tmp.with_suffix(".int8").unlink(missing_ok=True)
            tmp.replace(onnx_path)
            record = {"source": e.id, **_stamp(onnx_path), "sha256": sha256(onnx_path), "max_abs_diff": diff, "weights": weights, "min_cosine": cosine}
            record_path.write_text(json.dumps(record))
            for old in cls.paths(e, e.id.removesuffix(":int8")):  # an earlier version's exact export (90 MB)
                if old != onnx_path and old != record_path:
                    old.unlink(missing_ok=True)
            return cls(onnx_path, e.path, e.batch_size)
        except Exception as err:  # any failure here only costs speed: fall back
            log.warning("embedding with sentence-transformers: cannot export %s to ONNX (%s)", e.path, err)
            tmp.unlink(missing_ok=True)
            return None

    # -- encoding -------------------------------------------------------------------------

    def encode(self, texts: list[str], progress: bool):
        np = self._np
        out = np.zeros((len(texts), 0), dtype=np.float32)
        # Longest first, as sentence-transformers does: batches of similar length pad less.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        from tqdm import tqdm

        # Counted in texts, so a large file shows its rate and time left; shown only past a second.
        with tqdm(total=len(texts), desc="embed", unit="chunk", disable=not progress, leave=False, delay=1.0) as bar:
            for batch in batches:
                vectors = self._run([texts[i] for i in batch])
                if out.shape[1] == 0:
                    out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
                out[batch] = vectors
                bar.update(len(batch))
        return out

    def _run(self, texts: list[str]):
        np = self._np
        encodings = self.tokenizer.encode_batch(texts)
        width = max(len(enc.ids) for enc in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        if self.pooling == "cls":
            vectors = hidden[:, 0]
        else:
            vectors = (hidden * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1)
        if self.normalize:
            vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return vectors.astype(np.float32)


def _pipeline(folder: Path) -> tuple[str, bool, int] | None:
    """(pooling, normalize, max tokens) when the folder is Transformer -> Pooling [-> Normalize]; else None."""
    try:
        modules = [m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())]
        if modules not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
            return None
        pooling_dir = next(m["path"] for m in json.loads((folder / "modules.json").read_text()) if m["type"].endswith("Pooling"))
        pooling = json.loads((folder / pooling_dir / "config.json").read_text())
        mode = "mean" if pooling.get("pooling_mode_mean_tokens") else "cls" if pooling.get("pooling_mode_cls_token") else None
        if mode is None or not (folder / "tokenizer.json").is_file():
            return None
        bert = json.loads((folder / "sentence_bert_config.json").read_text()) if (folder / "sentence_bert_config.json").is_file() else {}
        return mode, modules[-1] == "Normalize", int(bert.get("max_seq_length", 512))
    except (OSError, ValueError, KeyError, StopIteration):
        return None


def _torch_export(model, dest: Path) -> None:
    import torch

    transformer = model[0].auto_model.eval()

    class LastHidden(torch.nn.Module):  # positional inputs, one tensor out: what the exporter traces
        def __init__(self):
            super().__init__()
            self.inner = transformer

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state

    ids = torch.ones(1, 8, dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            LastHidden(), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(dest),
            input_names=names, output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]},
            opset_version=17, dynamo=False,
        )


def _quantize(exact: Path, e: SentenceTransformerEmbedder) -> _OnnxModel:
    """The export with its MatMul weights in int8, per output channel, beside ``exact``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dest = exact.with_suffix(".int8")
    logging.disable(logging.WARNING)  # the quantizer logs advice about pre-processing on every run
    try:
        quantize_dynamic(str(exact), str(dest), op_types_to_quantize=["MatMul"], per_channel=True, weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)
    return _OnnxModel(dest, e.path, e.batch_size)


def _stamp(path: Path) -> dict:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _unchanged(path: Path, record: dict) -> bool:
    """The file is the one recorded: same size and mtime (as the GGUF's hash cache trusts),
    else same sha256. Hashing the 90 MB export took 0.2 s of every cold start."""
    if all(record.get(k) == v for k, v in _stamp(path).items()):
        return True
    return sha256(path) == record.get("sha256")


def describe_folder(path: Path) -> dict:
    """Name, size and model type of an embedder folder, for `assistant status`."""
    size = sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())
    config = Path(path) / "config.json"
    kind = json.loads(config.read_text()).get("model_type", "?") if config.is_file() else "?"
    return {"path": str(path), "bytes": size, "model_type": kind, "id": embedder_id(Path(path))}
