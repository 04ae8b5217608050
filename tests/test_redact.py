"""ingest.redact: personal data in Chinese text -> typed placeholders, nothing else touched."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from ingest.redact import PLACEHOLDERS, Redaction, redact

PHONE, EMAIL, ID, CARD, IP = (PLACEHOLDERS[k] for k in ("phone", "email", "id_card", "bank_card", "ip"))
CORPUS = Path(__file__).resolve().parent.parent / "corpus"


# -- test data built from checksums, not taken from real people --------------------------


def id_check(first17: str) -> str:
    """ISO 7064 MOD 11-2, written out independently of the module."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights)) % 11]


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def luhn_complete(prefix: str) -> str:
    return next(prefix + d for d in "0123456789" if luhn_ok(prefix + d))


BASE = "11010119900307123"  # made-up: area 110101, born 1990-03-07, sequence 123
VALID_ID = BASE + id_check(BASE)
X_BASE = next(b for b in (f"44030519851231{n:03d}" for n in range(1000)) if id_check(b) == "X")
ID_WITH_X = X_BASE + "X"
# A wrong check digit that is not Luhn-valid either: neither an ID nor a card.
BAD_ID = next(BASE + d for d in "0123456789" if d != id_check(BASE) and not luhn_ok(BASE + d))
# A wrong ID check digit that passes Luhn: a bank card, not an ID.
BAD_ID_LUHN = next(BASE + d for d in "0123456789" if d != id_check(BASE) and luhn_ok(BASE + d))
# Passes both checks: must be counted once, as an ID.
BOTH = next(
    b + id_check(b)
    for b in (f"32010219880808{n:03d}" for n in range(1000))
    if id_check(b) != "X" and luhn_ok(b + id_check(b))
)
BAD_DATE_BASE = "11010119901332123"  # 1990-13-32
BAD_DATE_ID = BAD_DATE_BASE + id_check(BAD_DATE_BASE)

CARD16 = luhn_complete("622202123456789")
CARD19 = luhn_complete("621700001234567890")
CARD16_BAD = CARD16[:-1] + str((int(CARD16[-1]) + 1) % 10)


def grouped(digits: str, sep: str) -> str:
    return sep.join(digits[i : i + 4] for i in range(0, len(digits), 4))


def check(text: str, expected: str, counts: dict[str, int]) -> None:
    r = redact(text)
    assert r.text == expected
    assert r.counts == counts
    assert r.total == sum(counts.values())
    assert redact(r.text).text == r.text  # idempotent
    assert redact(r.text).counts == {}


# -- each kind ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected, n",
    [
        ("联系人张三，手机13812345678，邮箱zhangsan@corp.cn。", f"联系人张三，手机{PHONE}，邮箱{EMAIL}。", None),
        ("手机号13912345678", f"手机号{PHONE}", 1),
        ("请拨打138 1234 5678咨询", f"请拨打{PHONE}咨询", 1),
        ("热线：138-1234-5678。", f"热线：{PHONE}。", 1),
        ("国际拨打+8613812345678即可", f"国际拨打{PHONE}即可", 1),
        ("电话+86 138 1234 5678", f"电话{PHONE}", 1),
        ("电话+86-150-1234-5678", f"电话{PHONE}", 1),
        ("拨0086 18612345678", f"拨{PHONE}", 1),
        ("或86-17712345678", f"或{PHONE}", 1),
        ("他的号码是19912345678，她的是16612345678", f"他的号码是{PHONE}，她的是{PHONE}", 2),
        ("(13812345678)", f"({PHONE})", 1),
        ("座机010-12345678转分机", f"座机{PHONE}转分机", 1),
        ("深圳办公室0755-1234567", f"深圳办公室{PHONE}", 1),
        ("总机：021-87654321，传真：021-87654322。", f"总机：{PHONE}，传真：{PHONE}。", 2),
    ],
)
def test_phone(text, expected, n):
    if n is None:
        check(text, expected, {"phone": 1, "email": 1})
    else:
        check(text, expected, {"phone": n})


@pytest.mark.parametrize(
    "text",
    [
        "123456138123456780",  # a phone-shaped piece inside a longer run (no ID, fails Luhn)
        "编号13812345678901",
        "12345678901",  # 12x is no mobile prefix
        "手机号码为11位数字",
        "2024-01-15",
        "1.13812345678",  # decimal digits
        "ID:a13812345678",  # part of an identifier
    ],
)
def test_not_a_phone(text):
    assert not luhn_ok("123456138123456780")
    check(text, text, {})


@pytest.mark.parametrize(
    "text, expected, n",
    [
        ("请发邮件至zhang.san@example.com联系", f"请发邮件至{EMAIL}联系", 1),
        ("邮箱：li_si+ai@mail.corp.com.cn。", f"邮箱：{EMAIL}。", 1),
        ("投稿地址editor@journal.org，抄送chief-editor@journal.org", f"投稿地址{EMAIL}，抄送{EMAIL}", 2),
        ("QQ邮箱13812345678@qq.com也可以", f"QQ邮箱{EMAIL}也可以", 1),  # one e-mail, not a phone
        ("Contact: Wang.Wu@Example.COM.", f"Contact: {EMAIL}.", 1),
        ("网易邮箱user2024@163.com", f"网易邮箱{EMAIL}", 1),
    ],
)
def test_email(text, expected, n):
    check(text, expected, {"email": n})


def test_id_card():
    assert len(VALID_ID) == 18 and len(ID_WITH_X) == 18
    check(f"身份证号{VALID_ID}，", f"身份证号{ID}，", {"id_card": 1})
    check(f"身份证：{ID_WITH_X}。", f"身份证：{ID}。", {"id_card": 1})
    check(f"小写x也算{ID_WITH_X.lower()}", f"小写x也算{ID}", {"id_card": 1})
    check(f"{VALID_ID}和{ID_WITH_X}", f"{ID}和{ID}", {"id_card": 2})
    check("旧版15位身份证110101900307123号", f"旧版15位身份证{ID}号", {"id_card": 1})
    # Valid for both: an ID, counted once, never also a bank card.
    assert luhn_ok(BOTH) and id_check(BOTH[:17]) == BOTH[17]
    check(f"证件号{BOTH}", f"证件号{ID}", {"id_card": 1})


def test_not_an_id_card():
    check(f"编号{BAD_ID}", f"编号{BAD_ID}", {})  # wrong check digit, not Luhn-valid either
    check(f"号码{BAD_ID_LUHN}", f"号码{CARD}", {"bank_card": 1})  # wrong ID checksum, Luhn-valid: a card
    if not luhn_ok(BAD_DATE_ID):
        check(f"编号{BAD_DATE_ID}", f"编号{BAD_DATE_ID}", {})  # checksum fine, no 13th month
    check("编号110101901332123", "编号110101901332123", {})  # 15 digits with no real date
    check(f"号码{VALID_ID}0", f"号码{VALID_ID}0", {})  # 19 digits: not an ID (and not Luhn-valid)
    assert not luhn_ok(VALID_ID + "0")


@pytest.mark.parametrize("sep", ["", " ", "-"])
def test_bank_card(sep):
    check(f"银行卡号{grouped(CARD16, sep)}，户名张三", f"银行卡号{CARD}，户名张三", {"bank_card": 1})
    check(f"工资卡：{grouped(CARD19, sep)}。", f"工资卡：{CARD}。", {"bank_card": 1})
    bad = f"卡号{grouped(CARD16_BAD, sep)}"
    check(bad, bad, {})  # fails Luhn


def test_ip():
    check("服务器地址192.168.1.100，端口8080", f"服务器地址{IP}，端口8080", {"ip": 1})
    check("访问10.0.0.1:8080即可", f"访问{IP}:8080即可", {"ip": 1})
    check("DNS用8.8.8.8或114.114.114.114。", f"DNS用{IP}或{IP}。", {"ip": 2})
    check("网关255.255.255.0", f"网关{IP}", {"ip": 1})
    check("IPv6地址2001:0db8:85a3:0000:0000:8a2e:0370:7334可用", f"IPv6地址{IP}可用", {"ip": 1})
    check("压缩写法2001:db8::1，本机::1", f"压缩写法{IP}，本机{IP}", {"ip": 2})
    check("链路本地fe80::1ff:fe23:4567:890a。", f"链路本地{IP}。", {"ip": 1})
    check("映射地址::ffff:192.168.1.1", f"映射地址{IP}", {"ip": 1})
    check("URL http://[2001:db8::2]:80/", f"URL http://[{IP}]:80/", {"ip": 1})


@pytest.mark.parametrize(
    "text",
    [
        "256.1.1.1",  # octet out of range
        "192.168.1",
        "v1.2.3.4",
        "1.2.3.4.5",
        "版本1.2.3",
        "时间12:30",
        "会议于12:30:45开始",
        "date: 2024-12-30 19:05:28 +0800",
        "MAC地址00:1A:2B:3C:4D:5E",
        "C++的std::vector",
        "1:2:3:4:5:6:7:8:9",
    ],
)
def test_not_an_ip(text):
    check(text, text, {})


# -- what must stay ------------------------------------------------------------------------

NEGATIVES = [
    "2024年",
    "2024年7月15日",
    "2024-01-15",
    "2024/01/15",
    "20240115",
    "70亿参数",
    "13B",
    "1.5B",
    "4096",
    "准确率提升了12.5%",
    "增长35%，达到99.9%",
    "Llama 3.1",
    "v2.0.1",
    "版本v1.2.3.4",
    "Qwen2.5-72B",
    "GPT-4o和Claude 3.5 Sonnet",
    "https://www.example.com/docs/index.html",
    "https://medium.com/@author/post",
    "访问www.example.com获取",
    "Meta发布的Llama 3.1 405B模型在2024年7月开源",
    "上下文长度达到128K",
    "IP地址",
    "手机号",
    "邮箱",
    "身份证号",
    "时间戳1700000000",
    "圆周率3.14159265358979323846",
    "哈希值9f86d081884c7d659a2feaa0c55ad015",
    "价格为1,299,999元",
    "第3.2.1节",
    "见表2-1和图3-12",
    "",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_untouched(text):
    check(text, text, {})


def test_corpus_untouched():
    for path in sorted(CORPUS.iterdir()):
        text = path.read_text(encoding="utf-8")
        assert redact(text) == Redaction(text, {}), path.name


# -- placeholders, the result, idempotence -------------------------------------------------


def test_placeholders_never_match():
    assert set(PLACEHOLDERS) == {"phone", "email", "id_card", "bank_card", "ip"}
    assert len(set(PLACEHOLDERS.values())) == len(PLACEHOLDERS)
    for p in PLACEHOLDERS.values():
        assert p.startswith("[") and p.endswith("]")
        assert not re.search(r"[0-9@.:]", p)
        for text in (p, p * 3, f"1{p}2", f"{p}@{p}.com", f"{p}:{p}::{p}", f"{p}.{p}.{p}.{p}"):
            assert redact(text).text == text and redact(text).counts == {}


def test_mixed_document_and_idempotence():
    text = (
        f"客户信息：张三，手机138-1234-5678，座机010-12345678，邮箱zhangsan@corp.cn，"
        f"身份证{VALID_ID}，银行卡{grouped(CARD16, ' ')}，登录IP 192.168.0.8。"
        f"Meta发布的Llama 3.1 405B模型在2024年7月开源，上下文长度达到128K。"
    )
    r = redact(text)
    assert r.text == (
        f"客户信息：张三，手机{PHONE}，座机{PHONE}，邮箱{EMAIL}，"
        f"身份证{ID}，银行卡{CARD}，登录IP {IP}。"
        f"Meta发布的Llama 3.1 405B模型在2024年7月开源，上下文长度达到128K。"
    )
    assert r.counts == {"phone": 2, "email": 1, "id_card": 1, "bank_card": 1, "ip": 1}
    assert r.total == 6
    again = redact(r.text)
    assert again.text == r.text and again.counts == {} and again.total == 0
    assert redact(text) == r  # pure: same input, same result


def test_redaction_is_frozen():
    r = redact("手机13812345678")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.text = "x"  # type: ignore[misc]
    assert redact("") == Redaction("", {}) and redact("").total == 0
