"""Keep the process offline. Called first thing, before any heavy import reads these variables."""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: never resolve a model name on the hub
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "ANONYMIZED_TELEMETRY": "False",  # chromadb's product telemetry
    "GRADIO_ANALYTICS_ENABLED": "False",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",  # quiet the fork warning of HF tokenizers
}


def go_offline() -> None:
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value
