"""Whether a cited passage answers the question (assistant.evidence): pure logic, no model.

The examples are invented; none comes from a gold set.
"""

import pytest

from assistant import evidence, prompt
from index.types import Chunk, Hit


def _found(*texts, title="note"):
    return [prompt.Passage((Hit(Chunk(f"c{i}", f"d{i}.txt", title, (), t, 0, len(t)), 1.0),), t, 0, len(t)) for i, t in enumerate(texts)]


def test_key_units_leave_out_the_words_that_ask():
    keys = evidence.key_units("2021年青湖马拉松的冠军是谁？")
    assert {"2021", "马拉松", "冠军"} <= set(keys)
    assert not {"是谁", "谁"} & set(keys)


@pytest.mark.parametrize("question, kind", [
    ("青湖大桥什么时候通车", "date"), ("展会何时开幕？", "date"), ("青湖大桥通车时间", "date"),
    ("青湖大桥有多少个桥墩", "number"), ("共有几块金牌", "number"),
    ("展会在哪里举办", "place"), ("青湖大桥的设计者是谁", None),
    ("通常采用哪几种方式？", None), ("在哪些领域有优势", None), ("When did the bridge open?", "date"),
])
def test_the_kind_of_answer_a_question_asks_for(question, kind):
    assert evidence.kind(question) == kind


def test_what_an_answer_adds_to_the_question():
    assert evidence.novel("2020年青湖马拉松冠军是李明", "2020年青湖马拉松的冠军是谁").split() == ["李明"]
    assert not evidence.fits(evidence.novel("青湖马拉松的冠军是[1]", "青湖马拉松的冠军是谁"), None)
    # the year of the question is no answer to "when"
    assert not evidence.fits(evidence.novel("2020年青湖马拉松即将举行", "2020年青湖马拉松什么时候举行"), "date")


def test_an_answer_must_be_of_the_kind_asked_for():
    assert evidence.fits("大桥于2021年5月8日通车[1]", "date")
    assert evidence.fits("下月初开幕", "date")
    assert not evidence.fits("即将开幕", "date")
    assert evidence.fits("共有三十二个桥墩", "number") and not evidence.fits("桥墩很多", "number")
    assert not evidence.fits("9月3日", "place") and evidence.fits("在青湖会展中心", "place")


def test_key_terms_must_sit_near_the_answer_in_its_passage():
    question = "青湖大桥什么时候通车"
    near = "青湖大桥于2021年5月8日正式通车，全长三公里。"
    assert evidence.score(question, "青湖大桥于2021年5月8日通车", near) == 1.0
    # the same date, copied from a passage about another bridge: the key terms are far away or absent
    far = "青湖大桥正在规划。" + "其他新闻。" * 100 + "白河大桥于2021年5月8日正式通车。"
    assert evidence.score(question, "大桥于2021年5月8日通车", far) == pytest.approx(2 / 3)  # 大桥, 通车 near it; 青湖 only far away
    assert evidence.score(question, "青湖大桥即将开幕", near) == 0.0  # no date: not an answer


def test_judge_keeps_a_supported_answer_and_refuses_one_from_the_wrong_passage():
    found = _found("青湖大桥于2021年5月8日正式通车，全长三公里。")
    ok = evidence.judge("青湖大桥什么时候通车", "2021年5月8日[1]", found, cross_lingual=False)
    assert ok.refused_by == "" and ok.score == 1.0 and ok.checked.text == "2021年5月8日[1]"
    other = _found("白河码头于2021年5月8日正式启用，全长三公里。")
    wrong = evidence.judge("青湖大桥什么时候通车", "2021年5月8日[1]", other, cross_lingual=False)
    assert wrong.refused_by == "checker" and wrong.score < evidence.ANSWER_GATE
    own = evidence.judge("青湖大桥什么时候通车", prompt.REFUSAL["zh"], found, cross_lingual=False)
    assert own.refused_by == "model"


def test_retrieval_score_reads_titles_too():
    found = _found("于2021年5月8日正式通车。", title="青湖大桥")
    assert evidence.retrieval_score("青湖大桥什么时候通车", found) == 1.0
    assert evidence.retrieval_score("白河码头什么时候启用", found) < evidence.RETRIEVAL_GATE


def test_an_answer_about_another_edition_or_year_is_no_answer():
    found = _found("第11届青湖电影节于2020年5月8日开幕。")
    assert evidence.judge("第12届青湖电影节什么时候开幕", "5月8日[1]", found, cross_lingual=False).refused_by == "checker"


def test_numbers_the_question_states_may_be_repeated():
    found = _found("今年的青湖市议会选举将改选35个席位。")
    j = evidence.judge("2021年青湖市议会选举改选多少席位", "2021年青湖市议会选举改选的席位为35个[1]。", found, cross_lingual=False)
    assert j.refused_by == "" and j.checked.citations


def test_an_answer_to_when_names_a_date_not_a_day_relative_to_an_unknown_today():
    assert not evidence.fits("青湖大桥今天正式通车", "date")
    assert evidence.fits("青湖大桥于3月8日正式通车", "date")


def test_a_price_asked_for_is_an_amount_of_money():
    assert evidence.kind("青湖公司花了多少钱收购白河码头") == "money"
    assert evidence.fits("共计12亿元", "money")
    assert not evidence.fits("收购价值的3.5%", "money") and not evidence.fits("共计12个码头", "money")


def test_a_passage_without_the_name_asked_about_does_not_answer():
    assert evidence.names("XYZConf2021在哪里举办？") == (["xyzconf2021"], [])
    assert evidence.names("《青湖往事》的导演是谁") == ([], ["青湖往事"])
    assert evidence.names("Where was XYZConf held?") == ([], [])  # in a Latin-letter question every word would be a name
    assert evidence.names("开源模型 open source 的优势？") == ([], [])  # words, not names
    both = "《青湖往事》与《白河：新生》对结局的看法有何不同"
    assert evidence.holds_names(both, "白河新生 / 结局\n结局是开放的。")  # one of the works compared, punctuation aside
    assert not evidence.holds_names(both, "另一部小说的结局是开放的。")
    question = "XYZConf2021的举办地是哪里"
    assert evidence.score(question, "会议在白河会展中心举办", "XYZ-Conf 2021的举办地是白河会展中心。") == 1.0  # spelt apart
    assert evidence.score(question, "会议在白河会展中心举办", "2021年的举办地是白河会展中心。") == 0.0


def test_a_comparison_with_another_year_is_no_other_year():
    question = "2022年青湖市粮食产量"
    passage = "2022年青湖市粮食产量59.7万吨，比2021年增加2.4万吨。"
    assert evidence.score(question, "2022年青湖市粮食产量59.7万吨，比2021年增加2.4万吨", passage) == 1.0


def test_repeating_the_question_does_not_name_the_edition_asked():
    """An answer that only copies the question ("第12届…时间：") and then speaks of
    another edition answers about that one."""
    question = "第12届青湖电影节开幕时间"
    passage = "第12届青湖电影节筹备中。第11届青湖电影节于2019年5月8日开幕，观众三万人。"
    assert evidence.score(question, "第12届青湖电影节开幕时间：第11届青湖电影节于2019年5月8日开幕", passage) == 0.0
    assert evidence.score(question, "第12届青湖电影节开幕时间：5月8日", "第12届青湖电影节于5月8日开幕。") == 1.0
    # a comparison after the copy: test_a_comparison_with_another_year_is_no_other_year


def test_questions_that_ask_for_several_items():
    assert evidence.asks_for_list("青湖大桥的设计有哪些特点？")
    assert evidence.asks_for_list("What are the risks of the plan?")
    assert not evidence.asks_for_list("青湖大桥什么时候通车？")


def test_an_answer_the_model_nearly_refused_is_refused_in_the_documents_language_only():
    found = _found("青湖大桥于2021年5月8日正式通车，全长三公里。")
    ask = lambda p, cross=False: evidence.judge("青湖大桥什么时候通车", "2021年5月8日[1]", found, cross_lingual=cross, refusal_p=p)  # noqa: E731
    assert ask(None).refused_by == "" and ask(evidence.REFUSAL_P / 2).refused_by == ""
    near = ask(evidence.REFUSAL_P)
    assert near.refused_by == "model" and near.score == 1.0 and "nearly refused" in near.why
    assert near.checked.citations  # kept, so that eval can score what the gate held back
    assert ask(0.9, cross=True).refused_by == ""  # across languages the model is unsure even when right


def test_what_the_answer_adds_must_be_in_a_passage():
    """The citation check passes "<the question's words>是<a name>" on the repeated words
    alone; the name itself must be in one of the passages (not always the cited one)."""
    question = "青湖马拉松2021年的冠军是谁"
    found = _found("青湖马拉松2021年的比赛在5月举行，冠军将在赛后公布。", "白河半程马拉松的冠军是王刚。")
    assert not evidence.grounded(question, "青湖马拉松2021年的冠军是李明", found)
    assert evidence.grounded(question, "青湖马拉松2021年的冠军是王刚", found)  # in the other passage
    assert evidence.grounded(question, "根据资料，青湖马拉松2021年的冠军由王刚获得", found)  # framing; "由王" is no word
    invented = evidence.judge(question, "青湖马拉松2021年的冠军是李明[1]。", found, cross_lingual=False)
    assert invented.checked.citations and invented.refused_by == "checker"


def test_an_answer_about_the_same_thing_under_another_name_is_no_answer():
    """"杭州马拉松" where "成都马拉松" is asked: said in the answer, or in the passage
    sentence its words come from, it is another event (instances.renamed)."""
    question = "成都马拉松的冠军是谁"
    found = _found("2019年杭州马拉松的冠军是李娜，成绩2小时31分。")
    said = evidence.judge(question, "杭州马拉松的冠军是李娜[1]。", found, cross_lingual=False)
    assert said.checked.citations and said.refused_by == "checker" and said.score == 0.0
    left_out = evidence.judge(question, "李娜[1]", found, cross_lingual=False)
    assert left_out.refused_by == "checker" and left_out.score == 0.0
    right = _found("2019年成都马拉松的冠军是李娜，成绩2小时31分。")
    assert evidence.judge(question, "李娜[1]", right, cross_lingual=False).refused_by == ""
    assert evidence.judge(question, "成都马拉松的冠军是李娜[1]。", right, cross_lingual=False).refused_by == ""


def test_a_rank_must_be_stated_as_a_rank():
    """"第4次" is checked as a rank: the digit alone is in the passage ("4比2")."""
    assert evidence.ordinals("第4次夺冠，第十二届，第二十三次") == {(4, "次"), (12, "届"), (23, "次")}
    question = "青湖杯是白河队第几次夺冠"
    found = _found("青湖杯决赛白河队以4比2获胜，时隔12年再度夺冠。")
    assert not evidence.grounded(question, "青湖杯是白河队第4次夺冠", found)
    stated = _found("青湖杯决赛白河队以4比2获胜，这是白河队第四次夺冠。")
    assert evidence.grounded(question, "青湖杯是白河队第4次夺冠", stated)
    assert evidence.grounded("青湖公司的营收是多少", "青湖公司第一季度营收3亿元", _found("青湖公司一季度营收3亿元。"))
    assert evidence.judge(question, "青湖杯是白河队第4次夺冠[1]。", found, cross_lingual=False).refused_by == "checker"


def test_the_sentences_an_answers_words_come_from():
    passage = "大会在春季举行。冠军是李娜，成绩第一。亚军是王五。"
    assert evidence.holding(["李娜", "成绩"], passage) == ["冠军是李娜，成绩第一。"]
    assert evidence.holding(["赵六", "成绩"], passage) == ["冠军是李娜，成绩第一。"]  # half of them
    assert evidence.holding(["赵六"], passage) == []
