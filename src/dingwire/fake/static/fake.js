// The fake's preview page: renders /api/messages the way a DingTalk group shows them and
// follows /api/events for new ones.
//
// Rules kept here: everything from a message becomes DOM text (textContent, never
// innerHTML), so "<script>" in a message is shown, not run; only http(s) URLs become links
// or images; the markdown renderer knows DingTalk's subset (headings, quotes, bold,
// italic, links, images, lists) and shows everything else literally, as DingTalk does.
"use strict";

(function () {
  const state = {
    records: [],          // every record shown, oldest first
    robots: new Map(),    // robot_id -> {id, label, ...}
    selected: "all",
    lastId: 0,
    source: null,
  };

  // -- DOM helpers -----------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function str(value) {
    return typeof value === "string" ? value : "";
  }

  // A URL a click or an image may use: http(s) only. DingTalk's sidebar links
  // (dingtalk://dingtalkclient/page/link?url=...) open the URL they carry.
  function safeUrl(value) {
    let url = str(value).trim();
    if (/^dingtalk:\/\/dingtalkclient\/page\/link\?/i.test(url)) {
      try {
        url = new URL(url.replace(/^dingtalk:/i, "https:")).searchParams.get("url") || "";
      } catch (e) {
        return null;
      }
    }
    return /^https?:\/\/[^\s]+$/i.test(url) ? url : null;
  }

  function link(className, href) {
    const url = safeUrl(href);
    const node = el(url ? "a" : "span", className);
    if (url) {
      node.href = url;
      node.target = "_blank";
      node.rel = "noopener noreferrer";
    } else if (href) {
      node.title = "not an http(s) link: " + str(href);
    }
    return node;
  }

  function image(className, src, alt) {
    const url = safeUrl(src);
    if (!url) {
      const missing = el("span", className + " placeholder", "🖼");
      missing.title = alt || "no picture";
      return missing;
    }
    const img = el("img", className);
    img.src = url;
    img.alt = alt || "";
    img.loading = "lazy";
    img.referrerPolicy = "no-referrer";
    return img;
  }

  function time(seconds) {
    const d = new Date(seconds * 1000);
    return d.toLocaleTimeString([], { hour12: false });
  }

  // -- mentions --------------------------------------------------------------------------

  function mentionsOf(body) {
    const at = body && typeof body.at === "object" && body.at ? body.at : {};
    const who = [];
    for (const key of ["atMobiles", "atUserIds"]) {
      if (Array.isArray(at[key])) for (const v of at[key]) if (typeof v === "string" && v) who.push(v);
    }
    return { who: who, all: at.isAtAll === true };
  }

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  // "@13800000000" is a mention only when that mobile is in `at` and the token ends there.
  function mentionPattern(mentions) {
    const names = mentions.who.slice();
    if (mentions.all) names.push("所有人", "all");
    if (!names.length) return null;
    names.sort((a, b) => b.length - a.length);
    return "@(?:" + names.map(escapeRegExp).join("|") + ")(?![A-Za-z0-9_-])";
  }

  function appendWithMentions(parent, text, ctx) {
    if (!ctx.mention) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    const re = new RegExp(ctx.mention, "g");
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
      const isAll = m[0] === "@所有人" || m[0] === "@all";
      parent.appendChild(el("span", isAll ? "mention all" : "mention", m[0]));
      last = m.index + m[0].length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  // -- DingTalk's markdown subset --------------------------------------------------------

  // Backslash escapes and character references, as a markdown renderer reads them (what
  // dingwire.escape_markdown relies on): an escaped character is hidden in the private-use
  // area while the syntax is parsed, then shown as itself.
  const ESCAPED = /\\([!-\/:-@[-`{-~])/g;
  const ENTITIES = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'", nbsp: "\u00a0" };

  function protect(text) {
    return text.replace(ESCAPED, (_, c) => String.fromCharCode(0xe000 + c.charCodeAt(0)));
  }

  function decode(text) {
    return text
      .replace(/[\ue000-\ue07f]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xe000))
      .replace(/&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z]+);/g, (whole, ref) => {
        if (ref[0] !== "#") return ENTITIES[ref] !== undefined ? ENTITIES[ref] : whole;
        const code = ref[1] === "x" || ref[1] === "X" ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : "\ufffd";
      });
  }

  const INLINE = new RegExp(
    [
      "!\\[([^\\]]*)\\]\\(([^)\\s]*)\\)",                 // 1,2 image
      "\\[([^\\]]+)\\]\\(([^)\\s]+)\\)",                  // 3,4 link
      "\\*\\*([^*]+?)\\*\\*",                             // 5 bold
      "\\*([^*\\s][^*]*?)\\*",                            // 6 italic
      "<font\\s+color\\s*=\\s*[\"']?(#?[0-9A-Za-z]{1,20})[\"']?\\s*>([\\s\\S]*?)</font>", // 7,8
    ].join("|"),
    "g"
  );

  function inline(parent, text, ctx) {
    INLINE.lastIndex = 0;
    const re = new RegExp(INLINE.source, "g");
    let last = 0;
    let m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) appendWithMentions(parent, decode(text.slice(last, m.index)), ctx);
      if (m[2] !== undefined) {
        parent.appendChild(image("md-img", decode(m[2]), decode(m[1])));
      } else if (m[4] !== undefined) {
        const a = link("", decode(m[4]));
        appendWithMentions(a, decode(m[3]), ctx);
        parent.appendChild(a);
      } else if (m[5] !== undefined) {
        const b = el("strong");
        inline(b, m[5], ctx);
        parent.appendChild(b);
      } else if (m[6] !== undefined) {
        const i = el("em");
        inline(i, m[6], ctx);
        parent.appendChild(i);
      } else {
        const span = el("span", "font");
        span.style.color = m[7];
        inline(span, m[8], ctx);
        parent.appendChild(span);
      }
      last = m.index + m[0].length;
    }
    if (last < text.length) appendWithMentions(parent, decode(text.slice(last)), ctx);
  }

  function renderMarkdown(source, ctx) {
    const root = el("div", "md");
    const lines = protect(str(source).replace(/\r\n?/g, "\n")).split("\n");
    let para = null;
    let list = null;
    let quote = null;
    let hardBreak = false;
    for (const line of lines) {
      let m;
      if (/^\s*$/.test(line)) {
        para = list = quote = null;
        continue;
      }
      if ((m = /^\s{0,3}(#{1,6})\s+(.*)$/.exec(line))) {
        const h = el("h" + m[1].length);
        inline(h, m[2].replace(/\s+#+\s*$/, ""), ctx);
        root.appendChild(h);
        para = list = quote = null;
        continue;
      }
      if ((m = /^\s{0,3}>\s?(.*)$/.exec(line))) {
        if (!quote) {
          quote = el("blockquote");
          root.appendChild(quote);
        }
        const inner = renderMarkdown(m[1], ctx);
        while (inner.firstChild) quote.appendChild(inner.firstChild);
        para = list = null;
        continue;
      }
      if ((m = /^\s*[-*+]\s+(.*)$/.exec(line)) || (m = /^\s*(\d+)\.\s+(.*)$/.exec(line))) {
        const ordered = m.length === 3;
        const tag = ordered ? "OL" : "UL";
        if (!list || list.tagName !== tag) {
          list = el(tag.toLowerCase());
          if (ordered && m[1] !== "1") list.start = Number(m[1]);
          root.appendChild(list);
        }
        const li = el("li");
        inline(li, ordered ? m[2] : m[1], ctx);
        list.appendChild(li);
        para = quote = null;
        continue;
      }
      // A paragraph: DingTalk joins single newlines unless the line ends in two spaces.
      list = quote = null;
      if (!para) {
        para = el("p");
        root.appendChild(para);
      } else {
        para.appendChild(hardBreak ? el("br") : document.createTextNode(" "));
      }
      hardBreak = / {2,}$/.test(line);
      inline(para, line.replace(/ {2,}$/, ""), ctx);
    }
    return root;
  }

  // -- message types ---------------------------------------------------------------------

  function notes(body, text) {
    const box = el("div", "notes");
    const mentions = mentionsOf(body);
    for (const who of mentions.who) {
      const re = new RegExp("@" + escapeRegExp(who) + "(?![A-Za-z0-9_-])");
      if (!re.test(text)) box.appendChild(el("span", "note", "@" + who + " is not in the text: DingTalk will not notify them"));
    }
    if (mentions.all && !/@(所有人|all)(?![A-Za-z0-9_-])/.test(text)) box.appendChild(el("span", "note info", "@所有人"));
    return box.childNodes.length ? box : null;
  }

  const RENDER = {
    text(body, ctx) {
      const content = str(body.text && body.text.content);
      const bubble = el("div", "bubble text");
      appendWithMentions(bubble, content, ctx);
      return [bubble, notes(body, content)];
    },
    markdown(body, ctx) {
      const text = str(body.markdown && body.markdown.text);
      const bubble = el("div", "bubble markdown");
      bubble.appendChild(renderMarkdown(text, ctx));
      bubble.title = str(body.markdown && body.markdown.title);
      return [bubble, notes(body, text)];
    },
    link(body) {
      const l = body.link || {};
      const card = link("card link-card", l.messageUrl);
      card.appendChild(el("div", "card-title", str(l.title)));
      const row = el("div", "link-body");
      row.appendChild(el("div", "link-text", str(l.text)));
      row.appendChild(image("link-pic", l.picUrl, ""));
      card.appendChild(row);
      return [card];
    },
    actionCard(body, ctx, message) {
      const c = body.actionCard || {};
      const card = el("div", "card action-card");
      const inner = el("div", "card-body");
      inner.appendChild(renderMarkdown(str(c.text), ctx));
      card.appendChild(inner);
      const horizontal = String(c.btnOrientation) === "1";
      const buttons = el("div", "buttons " + (horizontal ? "horizontal" : "vertical"));
      if (c.singleTitle !== undefined || c.singleURL !== undefined) {
        const b = link("btn single", c.singleURL);
        b.appendChild(el("span", "", str(c.singleTitle)));
        buttons.appendChild(b);
      } else if (Array.isArray(c.btns)) {
        for (const btn of c.btns) {
          if (!btn || typeof btn !== "object") continue;
          const b = link("btn", btn.actionURL);
          b.textContent = str(btn.title);
          buttons.appendChild(b);
        }
      }
      card.appendChild(buttons);
      if (String(c.hideAvatar) === "1") message.classList.add("no-avatar");
      card.title = str(c.title);
      return [card];
    },
    feedCard(body) {
      const links = (body.feedCard && Array.isArray(body.feedCard.links) ? body.feedCard.links : [])
        .filter((x) => x && typeof x === "object");
      const card = el("div", "card feed-card");
      links.forEach((item, i) => {
        if (i === 0) {
          const first = link("feed-first", item.messageURL);
          first.appendChild(image("", item.picURL, ""));
          first.appendChild(el("span", "feed-title", str(item.title)));
          card.appendChild(first);
        } else {
          const row = link("feed-item", item.messageURL);
          row.appendChild(el("span", "", str(item.title)));
          row.appendChild(image("", item.picURL, ""));
          card.appendChild(row);
        }
      });
      return [card];
    },
    image(body) {
      return [image("image-msg", body.image && body.image.picURL, "image")];
    },
  };

  function preview(record) {
    const body = record.body || {};
    if (record.errcode !== 0) {
      return record.errcode === null ? "fault: " + (record.fault || "no answer") : "✕ " + record.errcode + " " + shortReason(record.errmsg);
    }
    const obj = body[body.msgtype] || {};
    switch (body.msgtype) {
      case "text": return str(obj.content);
      case "markdown": return str(obj.title);
      case "link": return "[链接] " + str(obj.title);
      case "actionCard": return str(obj.title);
      case "feedCard": return "[链接] " + str(obj.links && obj.links[0] && obj.links[0].title);
      case "image": return "[图片]";
      default: return "[" + str(body.msgtype) + "]";
    }
  }

  function shortReason(errmsg) {
    const text = str(errmsg);
    const m = /(?:description|错误描述)\s*[:：]\s*([^;；]*)/.exec(text);
    return (m ? m[1] : text.replace(/,?\s*more:\s*\[.*?\]\s*$/, "")).trim();
  }

  function renderRecord(record) {
    const body = record.body && typeof record.body === "object" ? record.body : null;
    if (record.errcode !== 0) return renderRefusal(record, body);
    const ctx = { mention: mentionPattern(mentionsOf(body)) };
    const message = el("div", "msg");
    message.dataset.id = String(record.id);
    message.dataset.msgtype = str(body.msgtype);
    message.dataset.robot = record.robot_id;
    const avatar = el("img", "avatar");
    avatar.src = "/static/avatar.svg";
    avatar.alt = "";
    message.appendChild(avatar);
    const main = el("div", "msg-main");
    const meta = el("div", "msg-meta");
    meta.appendChild(el("span", "robot-name", record.robot));
    meta.appendChild(el("span", "", time(record.time)));
    if (record.fault) meta.appendChild(el("span", "", "fault: " + record.fault));
    main.appendChild(meta);
    const render = RENDER[body.msgtype];
    const parts = render ? render(body, ctx, message) : [el("pre", "bubble raw", JSON.stringify(body, null, 2))];
    for (const part of parts) if (part) main.appendChild(part);
    message.appendChild(main);
    return message;
  }

  function renderRefusal(record, body) {
    const fault = record.errcode === null;
    const notice = el("div", fault ? "notice fault" : "notice refused");
    notice.dataset.id = String(record.id);
    notice.dataset.robot = record.robot_id;
    notice.dataset.errcode = fault ? "" : String(record.errcode);
    const head = el("div", "head");
    if (fault) {
      head.appendChild(el("span", "errcode", record.status ? "HTTP " + record.status : "connection dropped"));
      head.appendChild(el("span", "reason", "fault: " + (record.fault || "")));
    } else {
      head.appendChild(el("span", "errcode", "refused · errcode " + record.errcode));
      head.appendChild(el("span", "reason", shortReason(record.errmsg)));
    }
    head.appendChild(el("span", "where", record.robot + " · " + time(record.time)));
    notice.appendChild(head);
    const details = el("details");
    details.appendChild(el("summary", "", "request"));
    const shown = body ? JSON.stringify(body, null, 2) : str(record.raw) || "(empty body)";
    details.appendChild(el("pre", "", record.path + "?" + record.query + "\n\n" + shown + (fault ? "" : "\n\n→ " + str(record.errmsg))));
    notice.appendChild(details);
    return notice;
  }

  // -- the page --------------------------------------------------------------------------

  function visible(record) {
    return state.selected === "all" || record.robot_id === state.selected;
  }

  function renderConversations() {
    const list = document.getElementById("conversations");
    list.textContent = "";
    const counts = new Map();
    const latest = new Map();
    for (const r of state.records) {
      counts.set(r.robot_id, (counts.get(r.robot_id) || 0) + 1);
      latest.set(r.robot_id, r);
      if (!state.robots.has(r.robot_id)) state.robots.set(r.robot_id, { id: r.robot_id, label: r.robot });
    }
    const items = [{ id: "all", label: "All robots" }, ...state.robots.values()];
    for (const robot of items) {
      const li = el("li", "conv");
      li.dataset.robot = robot.id;
      li.setAttribute("role", "tab");
      li.setAttribute("aria-selected", String(state.selected === robot.id));
      const avatar = el("span", robot.id === "all" ? "conv-avatar all" : "conv-avatar", robot.id === "all" ? "∗" : str(robot.label).replace(/^[…*\s]+/, "").slice(0, 1).toUpperCase() || "R");
      li.appendChild(avatar);
      const main = el("div", "conv-main");
      const title = el("div", "conv-title");
      title.appendChild(el("span", "name", robot.label));
      const count = robot.id === "all" ? state.records.length : counts.get(robot.id) || 0;
      title.appendChild(el("span", "badge", String(count)));
      main.appendChild(title);
      const last = robot.id === "all" ? state.records[state.records.length - 1] : latest.get(robot.id);
      main.appendChild(el("div", "conv-preview", last ? preview(last) : describeRobot(robot)));
      li.appendChild(main);
      li.addEventListener("click", () => {
        state.selected = robot.id;
        renderAll();
      });
      list.appendChild(li);
    }
  }

  function describeRobot(robot) {
    const parts = [];
    if (robot.token) parts.push(robot.token);
    if (robot.signed) parts.push("signed");
    if (robot.keywords && robot.keywords.length) parts.push("keywords: " + robot.keywords.join(", "));
    if (robot.ips && robot.ips.length) parts.push("ips: " + robot.ips.join(", "));
    return parts.join(" · ") || "no messages";
  }

  function renderHeader() {
    const robot = state.robots.get(state.selected);
    document.getElementById("chat-title").textContent = robot ? robot.label : "All robots";
    document.getElementById("chat-meta").textContent = robot ? describeRobot(robot) : "";
  }

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function renderAll() {
    const box = document.getElementById("timeline");
    box.textContent = "";
    for (const r of state.records) if (visible(r)) box.appendChild(renderRecord(r));
    renderConversations();
    renderHeader();
    updateEmpty();
    box.scrollTop = box.scrollHeight;
  }

  function updateEmpty() {
    const empty = document.getElementById("empty");
    empty.hidden = state.records.some(visible);
    document.getElementById("empty-example").textContent =
      "curl -H 'Content-Type: application/json' \\\n  -d '{\"msgtype\":\"text\",\"text\":{\"content\":\"hello\"}}' \\\n  '" +
      location.origin + "/robot/send?access_token=TOKEN'";
  }

  function addRecord(record) {
    if (record.id <= state.lastId) return;
    state.lastId = record.id;
    state.records.push(record);
    if (state.records.length > 2000) state.records.splice(0, state.records.length - 2000);
    const box = document.getElementById("timeline");
    if (visible(record)) {
      const stick = nearBottom(box);
      const node = renderRecord(record);
      node.classList.add("fresh");
      box.appendChild(node);
      if (stick) box.scrollTop = box.scrollHeight;
    }
    renderConversations();
    updateEmpty();
  }

  async function getJson(path) {
    const response = await fetch(path, { cache: "no-store" });
    if (!response.ok) throw new Error(path + ": HTTP " + response.status);
    return response.json();
  }

  async function load() {
    const [robots, messages] = await Promise.all([getJson("/api/robots"), getJson("/api/messages")]);
    state.robots = new Map();
    for (const r of robots.robots) state.robots.set(r.id, r);
    state.records = messages.messages;
    state.lastId = messages.last_id;
    if (state.selected !== "all" && !state.robots.has(state.selected)) state.selected = "all";
    renderAll();
  }

  function setStatus(kind, text) {
    const status = document.getElementById("status");
    status.dataset.state = kind;
    document.getElementById("status-text").textContent = text;
  }

  function connect() {
    if (state.source) state.source.close();
    const source = new EventSource("/api/events?after=" + state.lastId);
    state.source = source;
    source.addEventListener("open", () => setStatus("live", "live"));
    source.addEventListener("error", () => setStatus("offline", "reconnecting…"));
    source.addEventListener("record", (event) => {
      const record = JSON.parse(event.data);
      if (!state.robots.has(record.robot_id)) {
        getJson("/api/robots").then((data) => {
          for (const r of data.robots) state.robots.set(r.id, r);
          renderConversations();
        }).catch(() => {});
      }
      addRecord(record);
    });
    source.addEventListener("clear", () => {
      load().catch(() => setStatus("offline", "cannot load messages"));
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.getElementById("clear").addEventListener("click", async () => {
      const robot = state.selected === "all" ? "" : "?robot=" + encodeURIComponent(state.selected);
      await fetch("/api/messages" + robot, { method: "DELETE" });
    });
    load()
      .then(connect)
      .catch(() => {
        setStatus("offline", "cannot load messages");
        setTimeout(() => location.reload(), 2000);
      });
  });
})();
