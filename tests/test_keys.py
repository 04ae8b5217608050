"""API keys through `assistant api-key` and `kb delete`: real files in a temporary data folder, no model."""

from __future__ import annotations

import json
import stat

import pytest

from assistant import config, keys


def _settings(data):
    return config.load({"data_dir": data}, env={})


def test_a_key_is_shown_once_stored_hashed_and_reaches_only_its_knowledge_bases(run_cli, tmp_path):
    data = tmp_path / "data"
    assert run_cli("kb", "create", "lake", "--data-dir", data)[0] == 0
    code, out, err = run_cli("api-key", "create", "--kb", "lake", "--name", "ann", "--read-only", "--data-dir", data)
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith(keys.PREFIX) and "shown this once" in err

    stored = (data / keys.KEYS_FILE).read_text(encoding="utf-8")
    assert secret not in stored and secret[len(keys.PREFIX):] not in stored
    assert stat.S_IMODE((data / keys.KEYS_FILE).stat().st_mode) == 0o600

    found = keys.load(_settings(data))
    assert keys.find(found, secret).name == "ann" and keys.find(found, secret + "x") is None
    assert keys.login(found, "ann", secret) is not None and keys.login(found, "bob", secret) is None
    key = keys.find(found, secret)
    assert key.reaches("lake") and not key.reaches("default") and key.read_only

    code, out, _ = run_cli("api-key", "list", "--json", "--data-dir", data)
    assert code == 0 and [(k["name"], k["kbs"], k["read_only"]) for k in json.loads(out)] == [("ann", ["lake"], True)]
    assert secret not in out and key.digest not in out


def test_bad_requests_for_keys_are_one_line_errors_that_change_nothing(run_cli, tmp_path):
    data = tmp_path / "data"
    assert run_cli("api-key", "create", "--kb", "default", "--name", "ann", "--data-dir", data)[0] == 0
    before = (data / keys.KEYS_FILE).read_bytes()
    for args, words in ((["create", "--kb", "nosuch"], "no knowledge base 'nosuch'"),
                        (["create", "--kb", "default", "--name", "ann"], "a key named 'ann' exists"),
                        (["create", "--kb", "default", "--name", "a b"], "is not a key name"),
                        (["revoke", "bob"], "no API key named 'bob'")):
        code, _, err = run_cli("api-key", *args, "--data-dir", data)
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, err
    assert (data / keys.KEYS_FILE).read_bytes() == before


def test_a_revoked_key_and_a_deleted_knowledge_base_stop_counting_at_once(run_cli, tmp_path):
    data = tmp_path / "data"
    for name in ("lake", "town"):
        assert run_cli("kb", "create", name, "--data-dir", data)[0] == 0
    ann = run_cli("api-key", "create", "--kb", "lake", "--kb", "town", "--name", "ann", "--data-dir", data)[1].strip()
    bob = run_cli("api-key", "create", "--kb", "town", "--name", "bob", "--data-dir", data)[1].strip()

    assert run_cli("kb", "delete", "town", "--yes", "--data-dir", data)[0] == 0
    assert keys.find(keys.load(_settings(data)), ann).kbs == ("lake",)
    assert keys.find(keys.load(_settings(data)), bob).kbs == ()
    made = run_cli("kb", "create", "town", "--data-dir", data)
    assert made[0] == 0, made[2]  # made anew: no old key reaches it
    assert not any(k.reaches("town") for k in keys.load(_settings(data)))

    code, out, _ = run_cli("api-key", "revoke", "ann", "--data-dir", data)
    assert code == 0 and "revoked the key ann" in out
    assert keys.find(keys.load(_settings(data)), ann) is None
    assert [k.name for k in keys.load(_settings(data))] == ["bob"]


def test_a_keys_login_cannot_switch_the_model_that_answers_everyone(tmp_path):
    from types import SimpleNamespace

    from assistant.web.engine import Engine

    ann = keys.Key("ann", ("default",), False, "", "0" * 64)
    page = SimpleNamespace(settings=_settings(tmp_path))  # refused before the Assistant is touched
    engine = Engine(page, logins={"ann": ann}.get)
    with pytest.raises(keys.NotAllowed, match="--auth"):
        engine.use_model(tmp_path / "other.gguf", "ann")
    assert engine.assistant is page
