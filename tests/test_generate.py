from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import needs_refused_overcommit

from assistant.llm.chat import ChatTemplate
from assistant.llm.local import LlamaGenerator
from assistant.llm.stream import GenStats, split_stop
from index.errors import ModelError

QUESTION = [
    {"role": "system", "content": "你是一个简洁的助手，用中文回答。"},
    {"role": "user", "content": "中国的首都是哪座城市？"},
]


# -- stop strings (pure logic) -------------------------------------------------------------


def test_split_stop_holds_back_a_possible_stop_prefix():
    assert split_stop("答案是北京。\n\n", ["\n\n问题"]) == ("答案是北京。", "\n\n", False)
    assert split_stop("答案是北京。\n\n问题：", ["\n\n问题"]) == ("答案是北京。", "", True)
    assert split_stop("abc", []) == ("abc", "", False)


def test_gguf_without_chat_template_is_refused():
    llm = SimpleNamespace(metadata={"general.name": "base"})  # no model load: only the template check
    with pytest.raises(ModelError, match="not a chat model .* use an instruct GGUF"):
        ChatTemplate(llm, Path("base.gguf"))


# -- the real model ------------------------------------------------------------------------


@pytest.mark.model
def test_render_uses_the_gguf_chat_template(generator):
    text = generator.render(QUESTION)
    assert "<|im_start|>system\n你是一个简洁的助手" in text
    assert "<|im_start|>user\n中国的首都是哪座城市？<|im_end|>" in text
    assert text.endswith("<|im_start|>assistant\n")  # add_generation_prompt


@pytest.mark.model
def test_count_tokens_is_what_the_model_processes(generator):
    n = generator.count_tokens(QUESTION)
    assert 10 < n < 100
    "".join(generator.stream(QUESTION, max_tokens=4))
    assert generator.last_stats.prompt_tokens == n
    # the context now holds exactly the counted prompt followed by the answer tokens
    held = generator._llm._input_ids.tolist()
    assert held[:n] == generator._tokens(QUESTION)
    assert len(held) >= n


@pytest.mark.model
def test_greedy_is_deterministic_and_answers(generator):
    first = "".join(generator.stream(QUESTION, max_tokens=24, temperature=0.0))
    second = "".join(generator.stream(QUESTION, max_tokens=24, temperature=0.0))
    assert first.strip()
    assert first == second
    assert "北京" in first
    assert "<|im_end|>" not in first


@pytest.mark.model
def test_stats_are_filled_and_sane(generator):
    pieces = list(generator.stream(QUESTION, max_tokens=16))
    s = generator.last_stats
    assert isinstance(s, GenStats)
    assert s.prompt_tokens == generator.count_tokens(QUESTION)
    assert 0 < s.completion_tokens <= 16
    assert 0 < s.ttft_ms <= s.total_ms
    assert s.tokens_per_s > 0 or s.completion_tokens == 1
    assert pieces


@pytest.mark.model
def test_the_first_tokens_probability_of_a_watched_text(generator):
    """watch_p is the probability the model gave the watched text's first token as its first:
    near 1 when it is told to start with it, near 0 for an unrelated word, and the answer
    is the same as without watching (reading the logits changes nothing)."""
    told = [{"role": "user", "content": "请只回答：抱歉，我不知道。"}]
    said = "".join(generator.stream(told, max_tokens=8, watch="抱歉，所提供的文档中没有找到这个问题的答案。"))
    assert said.startswith("抱歉") and generator.last_stats.watch_p > 0.5
    plain = "".join(generator.stream(QUESTION, max_tokens=16, watch="抱歉"))
    assert generator.last_stats.watch_p < 0.05
    assert plain == "".join(generator.stream(QUESTION, max_tokens=16)) and generator.last_stats.watch_p is None


@pytest.mark.model
def test_max_tokens_is_respected(generator):
    long_task = [{"role": "user", "content": "请详细介绍中国的四大发明，每一项写三段。"}]
    text = "".join(generator.stream(long_task, max_tokens=5))
    assert generator.last_stats.completion_tokens == 5
    assert text


@pytest.mark.model
def test_stop_string_ends_the_answer(generator):
    counting = [{"role": "user", "content": "从1数到10，用逗号分隔，只输出数字。"}]
    text = "".join(generator.stream(counting, max_tokens=40, stop=["5"]))
    assert "5" not in text and "4" in text


@pytest.mark.model
def test_prompt_that_leaves_no_room_is_a_caller_bug(generator):
    with pytest.raises(ValueError, match="n_ctx"):
        generator.stream(QUESTION, max_tokens=generator.n_ctx)


@pytest.mark.model
def test_prefix_cache_is_reused_between_calls(generator):
    "".join(generator.stream(QUESTION, max_tokens=2))
    follow_up = QUESTION + [{"role": "assistant", "content": "北京。"}, {"role": "user", "content": "上海呢？"}]
    "".join(generator.stream(follow_up, max_tokens=2))
    assert generator.last_stats.cached_tokens >= generator.count_tokens(QUESTION) - 5


@pytest.mark.model
def test_the_system_turn_saved_once_gives_the_same_answers_in_a_new_process(gguf_path, tmp_path, caplog):
    from assistant import prompt

    def ask(question, lang="zh"):
        return [{"role": "system", "content": prompt.SYSTEM[lang].format(refusal=prompt.REFUSAL[lang])},
                {"role": "user", "content": "资料：\n[1] 开源模型的盈利通常建立在服务和支持上。闭源模型的盈利主要通过许可证费用。\n问题：" + question}]

    questions = [ask("开源模型的盈利建立在什么基础上？"), ask("闭源模型靠什么盈利？"), ask("How do closed models make money?", "en")]
    folder = tmp_path / "prefix"
    runs = []
    for attempt in range(3):  # no saved state; both saved; a damaged file
        g = LlamaGenerator(gguf_path, n_ctx=1024, prefix_dir=folder)
        runs.append([("".join(g.stream(q, max_tokens=40)), g.last_stats.cached_tokens) for q in questions])
        del g
        if attempt == 1:
            damaged = sorted(folder.iterdir())[0]
            damaged.write_bytes(damaged.read_bytes()[:1000])
    plain = LlamaGenerator(gguf_path, n_ctx=1024)  # never saves
    baseline = ["".join(plain.stream(q, max_tokens=40)) for q in questions]
    system = {lang: plain.count_tokens(ask("x", lang)[:1]) for lang in ("zh", "en")}

    assert [text for text, _ in runs[0]] == [text for text, _ in runs[1]] == [text for text, _ in runs[2]] == baseline
    first = [cached for _, cached in runs[0]]
    assert first[0] == 0 and first[1] > system["zh"] and first[2] < 10  # nothing saved yet; the live context; another system turn
    assert system["zh"] - 5 <= runs[1][0][1] < system["zh"] + 5 and system["en"] - 5 <= runs[1][2][1] < system["en"] + 5
    assert len(list(folder.glob("*.state"))) == 2  # one per system prompt; a question never enters a key or a file
    assert "does not fit this context" in caplog.text  # the damaged one was read anew


@pytest.mark.model
def test_quiet_load_prints_nothing(gguf_path, capfd):
    g = LlamaGenerator(gguf_path, n_ctx=512, n_threads=1)
    assert capfd.readouterr().err == ""
    assert g.n_threads == 1 and g.n_ctx == 512 and g.model_path == gguf_path


@pytest.mark.model
@needs_refused_overcommit
def test_context_too_big_for_memory_suggests_smaller_n_ctx(gguf_path):
    with pytest.raises(ModelError) as err:
        LlamaGenerator(gguf_path, n_ctx=8_000_000)
    msg = str(err.value)
    assert "--n-ctx" in msg and "\n" not in msg


@pytest.mark.model
def test_count_tokens_works_while_a_stream_is_open_but_a_second_stream_does_not(generator):
    answer = generator.stream(QUESTION, max_tokens=3)
    next(answer)
    assert generator.count_tokens(QUESTION) > 0  # no deadlock: tokenizing needs no context
    with pytest.raises(RuntimeError, match="still open"):
        next(generator.stream(QUESTION, max_tokens=3))
    answer.close()
    assert "".join(generator.stream(QUESTION, max_tokens=3))  # usable again after close


def _conversation():
    first = [
        {"role": "system", "content": "你是一个简洁的助手。只用一句话回答。"},
        {"role": "user", "content": "资料：开源模型的权重公开，任何人都可以下载、微调和本地部署，数据不必离开企业。"
         "闭源模型只能通过供应商的接口使用，企业的数据要上传到供应商的服务器，费用按调用次数计算，"
         "而且模型的更新和下线都由供应商决定。开源模型需要企业自己准备算力和运维人员。\n\n问题：开源模型可以本地部署吗？"},
    ]
    return first, [{"role": "user", "content": "把“它的缺点呢”改写成完整的问题。"}]


@pytest.mark.model
def test_a_conversation_survives_an_aside_and_gives_the_same_answer_as_without_reuse(generator):
    first, aside = _conversation()
    answer = "".join(generator.stream(first, max_tokens=40))
    follow_up = [*first, {"role": "assistant", "content": answer}, {"role": "user", "content": "闭源模型呢？"}]
    "".join(generator.stream(aside, max_tokens=20, aside=True))  # displaces the conversation
    reused = "".join(generator.stream(follow_up, max_tokens=40))
    cached = generator.last_stats.cached_tokens
    assert generator.count_tokens(first) > 64  # long enough to be kept (_KEEP_MIN_TOKENS)
    assert cached >= generator.count_tokens(first) - 5  # the first turn came back from the kept state

    generator._llm.reset()  # nothing cached: the follow-up processed from scratch
    fresh = "".join(generator.stream(follow_up, max_tokens=40))
    assert generator.last_stats.cached_tokens == 0
    assert reused == fresh and reused.strip()


@pytest.mark.model
def test_without_an_aside_nothing_is_kept(generator):
    first, aside = _conversation()
    "".join(generator.stream(first, max_tokens=5))
    "".join(generator.stream(aside, max_tokens=5))  # an ordinary call: it simply replaces the context
    assert generator._kept is None
