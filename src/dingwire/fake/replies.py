"""What the fake answers: DingTalk's errcodes with their real errmsg wording, in either style.

Rules kept here:

- Every refusal the fake can give is a :class:`Reason` with its errcode and two wordings:
  ``legacy`` (short English with a doc link, as servers answered until about 2022) and
  ``new`` (``description:…;solution:…;``, or its ``错误描述:…;解决方案:…;`` variant). Where
  API.md records only one wording (the token, JSON, method and session errors), both styles
  use it.
- Wordings are copied from API.md §4.2, character for character; the fake never invents a
  code. A code with no recorded wording (the official table's 4301xx, 4001xx) gets the
  table's text.
- Bodies are compact JSON (``{"errcode":0,"errmsg":"ok"}``), as DingTalk sends them.
- The answers that are *not* errcode JSON (API.md §3, §4.1) are here too: the gateway's
  anti-abuse JSON (``x5``, no errcode) and the HTML of a redirect to a verify page.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from html import escape
from typing import Literal

from dingwire.fake import jsonio

__all__ = [
    "ERRCODE_TEXT",
    "OK_BODY",
    "QUOTA_SPENT",
    "Reason",
    "Style",
    "errmsg_for_code",
    "gateway_page",
    "redirect_page",
    "reply_body",
    "x5_body",
]

Style = Literal["legacy", "new"]

_MORE = ", more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]"
_DOC_LINK = (
    "请参考本接口对应文档获得具体要求，或者在https://open.dingtalk.com/document/  搜索相关文档;"
)
_PARAM_LINK = (
    "请参考本接口对应文档查看参数获取方式，或者在https://open.dingtalk.com/document/  搜索对应文档;"
)

OK_BODY = b'{"errcode":0,"errmsg":"ok"}'

# What a gateway in front of DingTalk answers when it is down (tengine's page).
_GATEWAY_PAGE = (
    "<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}"
    "</h1></center><hr><center>Tengine</center></body></html>"
)
_PHRASES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass(frozen=True, slots=True)
class Reason:
    """One way DingTalk refuses a request: its errcode and its errmsg in both styles.

    ``legacy`` and ``new`` may hold ``{ip}`` or ``{field}`` placeholders.
    """

    name: str
    errcode: int
    legacy: str
    new: str

    def errmsg(self, style: Style, **details: str) -> str:
        """The errmsg in ``style``, placeholders filled from ``details``."""
        template = self.new if style == "new" else self.legacy
        return template.format(**details) if details else template


def _same(name: str, errcode: int, text: str) -> Reason:
    return Reason(name, errcode, text, text)


NEED_POST = _same("need_post", 43002, "需要POST请求")
NO_TOKEN = _same("no_token", 40035, "缺少参数 access_token")
UNKNOWN_TOKEN = _same("unknown_token", 300005, "token is not exist")
NO_SESSION = _same("no_session", 300001, "session 不存在")
BAD_CONTENT_TYPE = _same("bad_content_type", 43004, "无效的HTTP HEADER Content-Type")
BAD_JSON = _same("bad_json", 40035, "缺少参数 json")
BUSY = _same("busy", -1, "系统繁忙")
TOO_LARGE = Reason(
    "too_large",
    460101,
    "message too long, exceed 20000 bytes",
    "description: body 大小不合法;solution:请保持大小在 20000bytes 以内;",
)
IP_NOT_ALLOWED = Reason(
    "ip_not_allowed",
    310000,
    "ip {ip} not in whitelist",
    "description:ip 不在白名单中;solution:请联系对应群的管理员，设置机器人安全ip地址段",
)
INVALID_TIMESTAMP = Reason(
    "invalid_timestamp",
    310000,
    "invalid timestamp" + _MORE,
    "description:机器人发送签名过期;solution:签名生成时间和发送时间请保持在 timestampms 以内;",
)
SIGN_NOT_MATCH = Reason(
    "sign_not_match",
    310000,
    "sign not match" + _MORE,
    "description:机器人发送签名不匹配;solution:请确认签名和生成签名的时间戳必须都放在调用的网址中，"
    "请确认机器人的密钥加密和填写正确;link:" + _DOC_LINK,
)
KEYWORDS_NOT_IN_CONTENT = Reason(
    "keywords_not_in_content",
    310000,
    "keywords not in content" + _MORE,
    "description:关键词不匹配;solution:请联系群管理员查看此机器人的关键词，并在发送的信息中包含此关键词;",
)
THROTTLED_130101 = _same("throttled", 130101, "send too fast, exceed 20 times per minute")
THROTTLED_410100 = Reason(
    "throttled",
    410100,
    "发送速度太快而限流",
    "description:发送速度太快而限流;solution:请降低发送速度;",
)
# A missing or malformed field: the legacy code and wording differ from the newer ones.
MISSING_PARAM_LEGACY = _same("missing_param", 400202, "miss param : {field}")
MISSING_PARAM_NEW = _same(
    "missing_param",
    400402,
    "错误描述:参数 {field} 缺失，或者参数格式不正确; 解决方案:请填充上对应参数;参考链接:"
    + _PARAM_LINK,
)
UNSUPPORTED_MSGTYPE = Reason(
    "unsupported_msgtype",
    400105,
    "不支持的消息类型",
    "description:不支持的消息类型;solution:请使用文档中支持的消息类型;",
)
# The organisation's quota is spent (API.md §3): the one live reply quoted, in both styles.
QUOTA_SPENT = _same("quota_spent", 90030, "webhook over limit")
ROBOT_DISABLED = Reason(
    "robot_disabled",
    400102,
    "机器人已停用",
    "description:机器人已停用;solution:请联系管理员启用机器人;",
)

#: The official table's text for codes a fault may ask for: (description, solution).
ERRCODE_TEXT: dict[int, tuple[str, str]] = {
    -1: ("系统繁忙", ""),  # DingTalk's global code: the same short text in every style
    400013: ("群已被解散", "请向其他群发消息"),
    400101: ("access_token不存在", "请确认access_token拼写是否正确"),
    400102: ("机器人已停用", "请联系管理员启用机器人"),
    400105: ("不支持的消息类型", "请使用文档中支持的消息类型"),
    400106: ("机器人不存在", "请确认机器人是否在群中"),
    410100: ("发送速度太快而限流", "请降低发送速度"),
    430101: ("含有不安全的外链", "请确认发送的内容合法"),
    430102: ("含有不合适的文本", "请确认发送的内容合法"),
    430103: ("含有不合适的图片", "请确认发送的内容合法"),
    430104: ("含有不合适的内容", "请确认发送的内容合法"),
    130101: ("send too fast, exceed 20 times per minute", ""),
    300001: ("token is not exist", ""),
    300005: ("token is not exist", ""),
    460101: ("message too long, exceed 20000 bytes", ""),
    101002: ("message is too long", ""),
    40035: ("缺少参数 json", ""),
    43002: ("需要POST请求", ""),
    43004: ("无效的HTTP HEADER Content-Type", ""),
    90030: ("webhook over limit", ""),
}


def errmsg_for_code(errcode: int, style: Style) -> str:
    """The errmsg the fake gives with ``errcode`` when a fault asks for that code."""
    if errcode == 0:
        return "ok"
    description, solution = ERRCODE_TEXT.get(errcode, ("未知错误", ""))
    if style == "new" and solution:
        return f"description:{description};solution:{solution};"
    return description


def reply_body(errcode: int, errmsg: str) -> bytes:
    """DingTalk's reply: compact UTF-8 JSON, errcode first."""
    if errcode == 0 and errmsg == "ok":
        return OK_BODY
    return jsonio.dumps({"errcode": errcode, "errmsg": errmsg})


def x5_body(wait: int) -> bytes:
    """The gateway's anti-abuse answer (no errcode): ``{"status":1111,"wait":5,…}``.

    The keys are those of DingTalk's own example (``status``, ``wait``, ``source``,
    ``punish``, ``uuid``); ``msg`` says, for people, that the fake sent it.
    """
    return jsonio.dumps(
        {
            "status": 1111,
            "wait": wait,
            "source": "x5",
            "punish": "deny",
            "uuid": secrets.token_hex(16),
            "msg": f"dingwire fake: x5 deny, retry after {wait} s",
        }
    )


def gateway_page(status: int) -> bytes:
    """The HTML page of the gateway in front of DingTalk, answering HTTP ``status``."""
    phrase = _PHRASES.get(status, "Error")
    return _GATEWAY_PAGE.format(status=status, phrase=phrase).encode()


def redirect_page(location: str) -> bytes:
    """The small HTML page that comes with a 302 to ``location``."""
    where = escape(location, quote=True)
    return (
        "<html><head><title>302 Found</title></head><body><h1>302 Found</h1>"
        f'<p>Please verify: <a href="{where}">{where}</a></p></body></html>'
    ).encode()
