from pathlib import Path

import pytest

from assistant import config
from assistant.config import ConfigError


def test_precedence_defaults_file_env_flags(tmp_path):
    (tmp_path / "config.toml").write_text("k = 7\nchunk_size = 400\ntemperature = 0.5\n")
    env = {"ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_K": "8"}
    s = config.load({"temperature": 0.2, "model": None}, env=env)
    assert s.data_dir == tmp_path
    assert s.chunk_size == 400  # file beats default
    assert s.k == 8  # env beats file
    assert s.temperature == 0.2  # flag beats file
    assert s.model is None  # a flag not given does not override
    assert s.n_ctx == config.Settings().n_ctx  # default


def test_flag_data_dir_beats_env(tmp_path):
    s = config.load({"data_dir": tmp_path / "a"}, env={"ASSISTANT_DATA_DIR": str(tmp_path / "b")})
    assert s.data_dir == tmp_path / "a"
    assert s.index_dir == tmp_path / "a" / "index"


def test_paths_expand_user(tmp_path):
    s = config.load({"model": "~/m.gguf"}, env={"ASSISTANT_DATA_DIR": str(tmp_path)})
    assert s.model == Path.home() / "m.gguf"


@pytest.mark.parametrize(
    "toml, message",
    [
        ("k = 'many'", "k must be a int"),
        ("colour = 1", "unknown setting 'colour'"),
        ("k = [", "not valid TOML"),
        ("k = 0", "k must be at least 1"),
        ("chunk_overlap = 500", "chunk_overlap must be between"),
    ],
)
def test_bad_file_names_the_key(tmp_path, toml, message):
    (tmp_path / "config.toml").write_text(toml)
    with pytest.raises(ConfigError, match=message) as err:
        config.load({}, env={"ASSISTANT_DATA_DIR": str(tmp_path)})
    assert "\n" not in str(err.value)


def test_bad_env_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="ASSISTANT_K"):
        config.load({}, env={"ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_K": "x"})
    with pytest.raises(ConfigError, match="unknown environment setting ASSISTANT_KK"):
        config.load({}, env={"ASSISTANT_DATA_DIR": str(tmp_path), "ASSISTANT_KK": "1"})
