"""Page images -> lines of text, offline, Chinese and English: RapidOCR's ONNX
models (PP-OCRv4, Apache-2.0) run by onnxruntime. The only module that imports rapidocr_onnxruntime.

rapidocr-onnxruntime 1.4.4 ships its three models inside the wheel (its 3.x
successor downloads them at run time, which this assistant never does). The
files are found through the installed distribution's record and checked against
the sha256 pinned here before the engine is built from those paths, so a
replaced or missing model is an error, never a download.
"""

from __future__ import annotations

import hashlib
import threading
from importlib import metadata
from pathlib import Path

from index.errors import SkipFile

DISTRIBUTION = "rapidocr-onnxruntime"
MODELS = {  # role -> (file in the wheel, sha256)
    "det": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    "rec": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"),
    "cls": ("rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
}
_engine = None
_lock = threading.Lock()


def model_paths() -> dict[str, Path]:
    """The installed model files, verified by sha256; SkipFile with the fix when they are not there."""
    try:
        dist = metadata.distribution(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise SkipFile(f"OCR is not installed (pip install --no-deps {DISTRIBUTION}==1.4.4); use --no-ocr to skip scanned pages") from None
    out = {}
    for role, (name, digest) in MODELS.items():
        path = Path(dist.locate_file(name))
        try:
            actual = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            raise SkipFile(f"the OCR model {path} cannot be read ({err.strerror}): reinstall {DISTRIBUTION}") from None
        if actual != digest:
            raise SkipFile(f"the OCR model {path} is not the published file (sha256 {actual[:12]}, expected {digest[:12]}): reinstall {DISTRIBUTION}")
        out[role] = path
    return out


def engine():
    global _engine
    with _lock:
        if _engine is None:
            paths = model_paths()
            from rapidocr_onnxruntime import RapidOCR

            _engine = RapidOCR(det_model_path=str(paths["det"]), rec_model_path=str(paths["rec"]), cls_model_path=str(paths["cls"]))
        return _engine


def read_lines(image) -> list[tuple[str, float, float, float, float]]:
    """Text lines of a page image (PIL RGB), top to bottom, as (text, top, bottom, left, right)
    in pixels with y growing upwards (as in a PDF); boxes on one line joined left to right."""
    import numpy as np

    result, _ = engine()(np.asarray(image)[:, :, ::-1])  # RapidOCR expects OpenCV's BGR order
    boxes = []
    for box, text, _score in result or []:
        ys, xs = [p[1] for p in box], [p[0] for p in box]
        if text.strip():
            boxes.append((min(ys), max(ys), min(xs), max(xs), text.strip()))
    boxes.sort()
    lines: list[list[tuple]] = []
    for b in boxes:
        if lines and b[0] < (lines[-1][0][0] + lines[-1][0][1]) / 2:  # starts above the middle of the line's first box
            lines[-1].append(b)
        else:
            lines.append([b])
    out = []
    for line in lines:
        line.sort(key=lambda b: b[2])
        out.append((" ".join(b[4] for b in line), -min(b[0] for b in line), -max(b[1] for b in line),
                    min(b[2] for b in line), max(b[3] for b in line)))
    return out
