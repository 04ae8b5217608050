import pytest

from assistant import cite

PASSAGES = [
    "为了保护数据隐私，开源大模型会采用数据匿名化技术来隐藏敏感信息，并使用加密技术保护数据传输。",
    "企业的数据经常需要上传至供应商平台进行处理，可能引发数据隐私和安全问题。",
    "LLaMA的使用条款对拥有超过7亿用户的应用程序的商业用途有所限制。",
]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("无引用", []),
        ("一句话[1]。", [1]),
        ("多个[1][3]", [1, 3]),
        ("逗号[1, 2]与顿号[2、3]", [1, 2, 2, 3]),
        ("全角【2】", [2]),
        ("not a marker [a] [1x]", []),
    ],
)
def test_markers(text, expected):
    assert cite.markers(text) == expected


def test_split_attaches_trailing_marker_to_previous_sentence():
    parts = cite.cited_sentences("采用匿名化技术。[1]还使用加密[2]。\n1. 访问控制[3]")
    assert parts[0] == ("采用匿名化技术。", [1])
    assert parts[1] == ("还使用加密。", [2])
    assert ("1. 访问控制", [3]) in [(s.strip(), n) for s, n in parts]


def test_supported_citation_is_kept():
    r = cite.check("开源大模型采用数据匿名化技术来隐藏敏感信息[1]。", PASSAGES)
    assert [(c.n, c.status) for c in r.citations] == [(1, "ok")]
    assert r.dropped == () and r.supported_share == 1.0
    assert r.text == "开源大模型采用数据匿名化技术来隐藏敏感信息[1]。"


def test_wrong_citation_is_moved_to_the_supporting_passage():
    r = cite.check("企业的数据需要上传至供应商平台进行处理[1]。", PASSAGES)
    assert [(c.n, c.status) for c in r.citations] == [(2, "moved")]
    assert r.text == "企业的数据需要上传至供应商平台进行处理[2]。"


def test_missing_citation_is_added_when_support_is_clear():
    r = cite.check("LLaMA限制拥有超过7亿用户的应用程序的商业用途。", PASSAGES)
    assert [(c.n, c.status) for c in r.citations] == [(3, "added")]


def test_invented_number_is_never_supported():
    # The passage talks about LLaMA and users, but not about 1750亿.
    r = cite.check("LLaMA的参数量是1750亿[3]。", PASSAGES)
    assert r.citations == () and r.dropped == (3,)
    assert r.text == "LLaMA的参数量是1750亿。"
    assert r.supported_share == 0.0


def test_out_of_range_citation_is_dropped():
    r = cite.check("开源大模型采用数据匿名化技术[9]。", PASSAGES)
    assert 9 in r.dropped
    assert [c.n for c in r.citations] == [1]


def test_short_lead_in_is_not_a_claim():
    r = cite.check("主要有以下几点：\n1. 数据匿名化技术来隐藏敏感信息[1]", PASSAGES)
    assert r.claims == 1 and r.supported_share == 1.0


def test_short_answer_needs_every_unit_in_the_passage():
    assert [c.n for c in cite.check("供应商平台", PASSAGES).citations] == [2]
    assert cite.check("供应价格", PASSAGES).citations == ()  # one unit of three: not enough when short


def test_cross_lingual_keeps_citations_but_checks_numbers():
    r = cite.check("LLaMA restricts apps with over 7 hundred million users [3]. It has 175 billion parameters [3].", PASSAGES, cross_lingual=True)
    assert [c.n for c in r.citations] == [3]
    assert r.dropped == (3,)


@pytest.mark.parametrize(
    "text, refused",
    [
        ("抱歉，所提供的文档中没有找到这个问题的答案。", True),
        ("资料中没有提及GPT-4o的参数量。", True),
        ("The passages do not mention the cost.", True),
        ("开源大模型采用匿名化技术[1]。", False),
    ],
)
def test_is_refusal(text, refused):
    assert cite.is_refusal(text) is refused


def test_a_short_answer_copied_word_for_word_is_supported():
    passage = "据报道，该片在B站独家播出，机上共有132人。"
    assert cite.support("B站", passage) == 1.0
    assert cite.support("132人", passage) == 1.0
    assert cite.support("13人", passage) == 0.0  # a number the passage lacks
    checked = cite.check("132人", ["另一段话。", passage])
    assert [(c.n, c.status) for c in checked.citations] == [(2, "added")]


def test_a_lead_in_that_points_at_the_passages_is_no_part_of_the_claim():
    """"根据以上资料显示" is in no passage: the citation stands on what follows it."""
    checked = cite.check("根据以上资料显示[1]，机上有132人。", ["据报道，机上有132人。"])
    assert [(c.n, c.sentence, c.status) for c in checked.citations] == [(1, "机上有132人。", "ok")]
    assert checked.text == "根据以上资料显示，机上有132人[1]。"
