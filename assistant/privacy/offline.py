"""Keep the process offline and its files in one place. Called first, before any heavy
import reads these variables: libraries read most of them once, at import time."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never resolve a model name on the hub
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_DATASETS_OFFLINE": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb's product telemetry (posthog)
    "GRADIO_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",  # quiet the fork warning of HF tokenizers
}


def go_offline() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value


def contain(data_dir: Path) -> None:
    """Make every file this process or its libraries write land in ``data_dir``, owner-only.

    Left alone, jieba writes its cache to /tmp, matplotlib and Hugging Face to
    ~/.cache, Gradio its uploads to /tmp/gradio; tempfile users go to /tmp. All of
    them read these variables, so pointing them into the data folder keeps
    `assistant purge` complete and nothing of the user's behind elsewhere.
    """
    os.umask(0o077)  # everything created from here on is readable by its owner only
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp, cache = data_dir / "tmp", data_dir / "cache"
    for folder in (tmp, cache):
        folder.mkdir(mode=0o700, exist_ok=True)
    os.environ["TMPDIR"] = str(tmp)
    tempfile.tempdir = str(tmp)  # tempfile may have read TMPDIR already
    os.environ["XDG_CACHE_HOME"] = str(cache)
    os.environ["HF_HOME"] = str(cache / "huggingface")
    os.environ["MPLCONFIGDIR"] = str(cache / "matplotlib")
    os.environ["GRADIO_TEMP_DIR"] = str(tmp / "gradio")
