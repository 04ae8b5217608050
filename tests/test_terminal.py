"""The streamed answer is replaced in place on a real terminal (a pty) and printed once when piped."""

from __future__ import annotations

import fcntl
import os
import struct
import termios

import pytest

from assistant.terminal import LiveAnswer, screen_rows


def test_screen_rows_count_wide_characters_and_wrapping():
    assert screen_rows("", 20) == 1
    assert screen_rows("abc", 20) == 1
    assert screen_rows("a" * 20, 20) == 1 and screen_rows("a" * 21, 20) == 2
    assert screen_rows("开源" * 5, 20) == 1 and screen_rows("开源" * 6, 20) == 2  # two columns each
    assert screen_rows("one\n\ntwo\n", 20) == 4  # the cursor ends on the row after the last break


@pytest.fixture
def pty_out():
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 10, 20, 0, 0))  # 10 rows of 20 columns
    attrs = termios.tcgetattr(slave)
    attrs[1] &= ~termios.OPOST  # bytes as written, no "\n" -> "\r\n"
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    out = os.fdopen(slave, "w", encoding="utf-8")

    def written() -> str:
        out.flush()
        os.set_blocking(master, False)
        got = b""
        while True:
            try:
                got += os.read(master, 65536)
            except BlockingIOError:
                return got.decode("utf-8")

    yield out, written
    out.close()
    os.close(master)


def test_on_a_terminal_the_checked_answer_replaces_the_streamed_rows(pty_out):
    out, written = pty_out
    live = LiveAnswer(out)
    assert live.live
    for token in ["开源模型", "开源模型", "开源模型\n", "第二行"]:  # 24 columns: rows 1-2; then row 3
        live.token(token)
    assert written() == "开源模型开源模型开源模型\n第二行"
    live.finish("核对后的一句。[1]", "核对后的回答：")
    assert written() == "\r\x1b[2A\x1b[J核对后的一句。[1]\n"  # up 2 rows from the 3rd, erased, rewritten


def test_an_unchanged_answer_is_left_as_streamed(pty_out):
    out, written = pty_out
    live = LiveAnswer(out)
    live.token("Open models are free. [1]")
    live.finish("Open models are free. [1]", "Checked answer:")
    assert written() == "Open models are free. [1]\n"


def test_a_stream_taller_than_the_window_is_followed_by_the_labelled_answer(pty_out):
    out, written = pty_out
    live = LiveAnswer(out)
    live.token("行\n" * 12)  # scrolled past the top of a 10-row window: cannot be erased
    live.finish("核对后。", "核对后的回答：")
    shown = written()
    assert shown.endswith("行\n\n\n核对后的回答：\n核对后。\n") and "\x1b" not in shown


def test_a_terminal_of_unknown_size_gets_the_labelled_answer(pty_out):
    out, written = pty_out
    fcntl.ioctl(out.fileno(), termios.TIOCSWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
    live = LiveAnswer(out)
    live.token("开源模型")
    live.finish("核对后。", "核对后的回答：")
    assert written() == "开源模型\n\n核对后的回答：\n核对后。\n"


def test_piped_output_is_the_checked_answer_once():
    read, write = os.pipe()
    with os.fdopen(write, "w", encoding="utf-8") as out:
        live = LiveAnswer(out)
        live.token("the model's first words")
        live.finish("The checked answer. [1]", "Checked answer:")
    with os.fdopen(read, encoding="utf-8") as got:
        assert got.read() == "The checked answer. [1]\n"


def test_it_writes_to_the_stdout_of_the_moment_not_the_one_swapped_in_while_a_model_loads(monkeypatch):
    import io

    loading, real = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", loading)  # llama-cpp-python's suppress_stdout_stderr, on the loading thread
    live = LiveAnswer()
    monkeypatch.setattr("sys.stdout", real)  # the model is loaded: the real stdout is back
    live.token("streamed")
    live.finish("The checked answer. [1]", "Checked answer:")
    assert loading.getvalue() == "" and real.getvalue() == "The checked answer. [1]\n"
