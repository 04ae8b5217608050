"""Another edition, year or name than the question's (assistant.instances): pure logic over
jieba's dictionary, no model. The examples are invented; none comes from a gold set."""

from assistant import instances


def test_another_edition_or_year():
    assert instances.other_instance("第12届青湖电影节的开幕时间", "第11届青湖电影节于5月8日开幕")
    assert not instances.other_instance("第12届青湖电影节的开幕时间", "第12届青湖电影节于5月8日开幕，第11届在去年")
    assert instances.other_instance("2021年青湖马拉松冠军", "2019年青湖马拉松的冠军是李明")
    assert not instances.other_instance("青湖马拉松冠军", "2019年青湖马拉松的冠军是李明")  # no year asked


def test_the_names_that_say_which_one_is_meant():
    asked = instances.qualifiers("谁是成都体育代表团旗手")
    assert asked["代表团"] == {"成都"} and asked["旗手"] == {"成都"}
    assert instances.qualifiers("火炬传递从哪个城市开始")["开始"] == set()  # 城市 is what is asked


def test_another_name_before_the_same_word():
    question = "成都马拉松的冠军是谁"
    assert instances.renamed(question, "2019年杭州马拉松的冠军是李娜")
    assert not instances.renamed(question, "杭州马拉松之后，成都马拉松的冠军是李娜")  # the asked one is there
    assert not instances.renamed(question, "成都马拉松的冠军是李娜")
    assert not instances.renamed(question, "杭州马拉松的冠军是李娜", answer="杭州")  # the name is the answer
    assert instances.renamed("谁是成都体育代表团旗手", "杭州代表团旗手是李娜")
    assert not instances.renamed("火炬传递从哪个城市开始", "火炬传递从杭州开始")

