/*
 * peelqa chat widget. One tag on any page:
 *
 *   <script src="https://HOST/widget.js" data-api="https://HOST" defer></script>
 *
 * Options (all optional), as data-* attributes of that tag:
 *   data-api       API base URL; default: the origin this script was loaded from
 *   data-title     the panel's title
 *   data-starters  starter questions, separated by "|"
 *   data-open      "true" opens the chat on load
 *   data-position  "bottom-right" (default) or "bottom-left"
 *   data-mode      "page": a full-page chat, always open (what GET / serves)
 *   data-timeout   seconds without any reply before a request is given up (default 60)
 *   data-key       an API key sent as "Authorization: Bearer KEY" (a key in a web page is
 *                  public: give the widget its own key, limited by rate only)
 *
 * Plain modern JavaScript, no build step, no framework, nothing fetched from a CDN. Everything
 * renders inside a Shadow DOM so the host page's CSS cannot reach it. Report text and answers
 * are only ever inserted as text nodes, never parsed as HTML.
 */
(() => {
  "use strict";

  const script = document.currentScript;
  if (!script || window.__peelqaWidget) return; // a second copy of the tag adds nothing
  window.__peelqaWidget = true;

  // Generic to the PEEL family of reports, so another report dropped into the corpus still
  // gets sensible starters; a page can give its own with data-starters.
  const DEFAULT_STARTERS = [
    "What grade did the force get?",
    "What areas did the inspection look at?",
    "What does the force need to improve?",
    "How does the force protect vulnerable people?",
  ];
  // The contract's bounds (CONTRACT.md): 2,000 characters a question, 50 turns of history,
  // 8,000 characters a turn.
  const MAX_QUESTION = 2000;
  const MAX_TURNS = 50;
  const MAX_TURN_CHARS = 8000;
  // An answer normally takes well under a second; after 8 s the user deserves to know it is slow.
  const SLOW_AFTER_MS = 8000;
  // 60 s without a byte: the server is not going to answer; say so and offer a retry.
  const DEFAULT_TIMEOUT_S = 60;
  // Short chip labels: longer question headings are cut at a word and end in "…".
  const LABEL_CHARS = 36;

  const ICON_CHAT = ["M4 5h16v11H8l-4 4z"];
  const ICON_CLOSE = ["M6 6l12 12M18 6L6 18"];
  const ICON_SEND = ["M4 12l16-8-6 16-2-7z"];

  const cfg = readConfig(script);
  const storageKey = "peelqa:v1:" + cfg.api;

  // ---- state ------------------------------------------------------------------------------
  // An exchange is one question and what became of it: status "pending" (in flight), "done",
  // "error" or "stopped". Only "done" exchanges go into the history sent with a question.
  const state = {
    exchanges: [],
    open: cfg.mode === "page" || cfg.open,
    inFlight: null, // {exchange, controller, reason}
    sections: null, // [{doc, section, heading, text}] once fetched
  };
  restore();

  // ---- DOM ----------------------------------------------------------------------------------
  const host = document.createElement("peelqa-widget");
  const root = host.attachShadow({ mode: "open" });
  applyStyles(root);

  const ui = buildUi();
  root.append(ui.frame);
  (document.body || document.documentElement).append(host);

  for (const ex of state.exchanges) ui.log.append(renderExchange(ex));
  refreshEmptyState();
  setOpen(state.open, { focus: false });
  loadSections().then(applyReportTitle, () => {});

  // ---- configuration ------------------------------------------------------------------------
  function readConfig(el) {
    const d = el.dataset;
    const scriptOrigin = new URL(el.src || location.href, location.href).origin;
    const starters = (d.starters || "")
      .split("|")
      .map((s) => s.trim())
      .filter(Boolean);
    const timeout = Number(d.timeout);
    return {
      api: (d.api || scriptOrigin).replace(/\/+$/, ""),
      title: d.title || "",
      starters: starters.length ? starters : DEFAULT_STARTERS,
      open: d.open === "true" || d.open === "",
      left: (d.position || "").toLowerCase().includes("left"),
      mode: d.mode === "page" ? "page" : "float",
      timeoutMs: (timeout > 0 ? timeout : DEFAULT_TIMEOUT_S) * 1000,
      key: d.key || "",
    };
  }

  /** Request headers, with the widget's own API key when the page gave it one. */
  function apiHeaders(extra) {
    return cfg.key ? { ...extra, Authorization: `Bearer ${cfg.key}` } : { ...extra };
  }

  // ---- building blocks ----------------------------------------------------------------------
  /** An element with attributes and children; strings become text nodes, never markup. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "class") el.className = v;
      else el.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return el;
  }

  function icon(paths, size = 20) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size));
    svg.setAttribute("height", String(size));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    for (const d of paths) {
      const p = document.createElementNS(ns, "path");
      p.setAttribute("d", d);
      svg.append(p);
    }
    return svg;
  }

  function buildUi() {
    const titleId = "pq-title";
    const title = h("h2", { id: titleId, class: "title" }, cfg.title || "Ask the inspection report");
    const subtitle = h(
      "p",
      { class: "subtitle" },
      "Answers quote the report itself, and each quote links to its section."
    );
    // A real link (to the JSON list) that, with the widget running, opens the readable list.
    const sectionsLink = h(
      "a",
      {
        class: "hbtn",
        href: cfg.api + "/v1/sections",
        onclick: (e) => {
          e.preventDefault();
          showSectionList(e.currentTarget);
        },
      },
      "Report sections"
    );
    const clearBtn = h("button", { type: "button", class: "hbtn", onclick: clearConversation }, "Clear chat");
    const closeBtn =
      cfg.mode === "page"
        ? null
        : h(
            "button",
            { type: "button", class: "hbtn icon-only", "aria-label": "Close chat", onclick: () => setOpen(false, { focus: true }) },
            icon(ICON_CLOSE)
          );
    const header = h(
      "header",
      { class: "head" },
      h("div", { class: "head-top" }, h("div", { class: "head-text" }, title, subtitle), closeBtn),
      h("div", { class: "head-actions" }, sectionsLink, cfg.mode === "page" ? h("a", { class: "hbtn", href: cfg.api + "/documents" }, "Reports") : null, clearBtn)
    );

    const empty = h("div", { class: "empty" });
    const log = h("div", {
      class: "log",
      role: "log",
      "aria-live": "polite",
      "aria-relevant": "additions text",
      "aria-label": "Conversation",
      tabindex: "0",
    });
    const logWrap = h("div", { class: "log-wrap" }, empty, log);

    const input = h("textarea", {
      class: "input",
      rows: "1",
      maxlength: String(MAX_QUESTION),
      "aria-label": "Ask a question",
      placeholder: "Ask a question about the report…",
      onkeydown: onInputKey,
      oninput: autoGrow,
    });
    const send = h("button", { type: "submit", class: "send", "aria-label": "Send" }, icon(ICON_SEND, 18));
    const stop = h("button", { type: "button", class: "stop", hidden: true, onclick: stopRequest }, "Stop");
    const hint = h("p", { class: "hint", id: "pq-hint" }, "Enter sends · Shift+Enter adds a line");
    input.setAttribute("aria-describedby", "pq-hint");
    const form = h(
      "form",
      { class: "composer", onsubmit: (e) => { e.preventDefault(); submitInput(); } },
      h("div", { class: "row" }, input, stop, send),
      hint
    );

    const viewer = h("section", { class: "viewer", hidden: true, "aria-labelledby": "pq-viewer-title" });

    const panel = h(
      "div",
      {
        class: "panel",
        role: cfg.mode === "page" ? "region" : "dialog",
        "aria-labelledby": titleId,
      },
      header,
      h("div", { class: "body" }, logWrap, viewer),
      form
    );
    const launcher =
      cfg.mode === "page"
        ? null
        : h(
            "button",
            {
              type: "button",
              class: "launcher",
              "aria-label": "Ask the report",
              "aria-expanded": "false",
              "aria-haspopup": "dialog",
              onclick: () => setOpen(!state.open, { focus: true }),
            },
            h("span", { class: "when-closed" }, icon(ICON_CHAT, 22)),
            h("span", { class: "when-open" }, icon(ICON_CLOSE, 22)),
            h("span", { class: "launcher-text" }, "Ask the report")
          );
    const frame = h(
      "div",
      {
        class: ["frame", cfg.mode === "page" ? "page" : "float", cfg.left ? "left" : "right"].join(" "),
        onkeydown: onKey,
      },
      panel,
      launcher
    );
    return { frame, panel, launcher, title, subtitle, log, empty, input, send, stop, viewer, sectionsLink };
  }

  // ---- opening and closing ------------------------------------------------------------------
  function setOpen(open, { focus }) {
    state.open = cfg.mode === "page" ? true : open;
    ui.panel.hidden = !state.open;
    ui.frame.classList.toggle("is-open", state.open);
    if (ui.launcher) ui.launcher.setAttribute("aria-expanded", String(state.open));
    save();
    if (!focus) return;
    if (state.open) ui.input.focus();
    else if (ui.launcher) ui.launcher.focus();
  }

  function onKey(e) {
    if (e.key !== "Escape" || !state.open) return;
    if (!ui.viewer.hidden) {
      e.preventDefault();
      closeViewer();
    } else if (cfg.mode !== "page") {
      e.preventDefault();
      setOpen(false, { focus: true });
    }
  }

  // ---- the composer -------------------------------------------------------------------------
  function onInputKey(e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submitInput();
    }
  }

  function autoGrow() {
    const el = ui.input;
    el.style.height = "auto";
    el.style.height = Math.min(el.scrollHeight, 160) + "px";
  }

  function submitInput() {
    const q = ui.input.value.trim();
    if (!q || state.inFlight) return;
    ui.input.value = "";
    autoGrow();
    askQuestion(q);
  }

  function askQuestion(q) {
    if (state.inFlight) return;
    closeViewer({ restoreFocus: false });
    const ex = { id: newId(), q: q.slice(0, MAX_QUESTION), status: "pending", answer: "", answered: true, citations: [] };
    state.exchanges.push(ex);
    ui.log.append(renderExchange(ex));
    refreshEmptyState();
    run(ex);
  }

  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
  }

  // ---- talking to the API -------------------------------------------------------------------
  function historyBefore(ex) {
    const turns = [];
    for (const e of state.exchanges) {
      if (e === ex) break;
      if (e.status !== "done") continue;
      turns.push({ role: "user", content: e.q.slice(0, MAX_TURN_CHARS) });
      turns.push({ role: "assistant", content: e.answer.slice(0, MAX_TURN_CHARS) });
    }
    return turns.slice(-MAX_TURNS);
  }

  async function run(ex) {
    const controller = new AbortController();
    const flight = { exchange: ex, controller, reason: null };
    state.inFlight = flight;
    Object.assign(ex, { status: "pending", answer: "", answered: true, citations: [], error: "" });
    save();
    updateExchange(ex);
    setBusy(true);

    let idle;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        flight.reason = "timeout";
        controller.abort();
      }, cfg.timeoutMs);
    };
    const slow = setTimeout(() => markSlow(ex), Math.min(SLOW_AFTER_MS, cfg.timeoutMs / 2));
    armIdle();
    try {
      const res = await fetch(cfg.api + "/v1/ask", {
        method: "POST",
        headers: apiHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
        body: JSON.stringify({ question: ex.q, history: historyBefore(ex), stream: true }),
        signal: controller.signal,
      });
      if (!res.ok) throw await httpError(res);
      let done = null;
      await readEvents(res, armIdle, (event, data) => {
        clearTimeout(slow);
        if (event === "citations") {
          ex.citations = Array.isArray(data) ? data : [];
        } else if (event === "delta") {
          ex.answer += data && typeof data.text === "string" ? data.text : "";
          ex.status = "streaming";
          updateAnswerText(ex);
        } else if (event === "done") {
          done = data;
        }
      });
      if (!done) throw new Problem("The answer was cut off before it finished.");
      Object.assign(ex, {
        status: "done",
        answer: String(done.answer || ""),
        answered: done.answered !== false,
        citations: Array.isArray(done.citations) ? done.citations : [],
      });
    } catch (err) {
      ex.status = flight.reason === "stop" ? "stopped" : "error";
      ex.error = describeError(err, flight.reason);
    } finally {
      clearTimeout(idle);
      clearTimeout(slow);
      if (state.inFlight === flight) state.inFlight = null;
      setBusy(false);
      save();
      updateExchange(ex);
    }
  }

  class Problem extends Error {}

  async function httpError(res) {
    let message = "";
    try {
      const body = await res.json();
      message = body && body.error && body.error.message ? String(body.error.message) : "";
    } catch (_) {
      /* not our error shape: fall back to the status below */
    }
    if (res.status === 503) return new Problem("The service is starting up. Try again in a few seconds.");
    if (res.status >= 500) return new Problem(`The server had a problem answering (error ${res.status}).`);
    return new Problem(message ? `The server could not take that question: ${message}` : `The server refused the question (error ${res.status}).`);
  }

  function describeError(err, reason) {
    if (reason === "stop") return "Stopped before the answer finished.";
    if (reason === "timeout") return "The server is taking too long to answer. Your question is kept: try again.";
    if (err instanceof Problem) return err.message;
    return "Can't reach the server right now. Your question is kept: try again in a moment.";
  }

  /** Server-sent events from a fetch response: calls onEvent(name, data) for each event. */
  async function readEvents(res, onBytes, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      onBytes();
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (!data.length) continue;
        let parsed;
        try {
          parsed = JSON.parse(data.join("\n"));
        } catch (_) {
          throw new Problem("The server sent an answer this page could not read.");
        }
        onEvent(event, parsed);
        // Deltas that arrive in one network chunk still render one by one: yield to the
        // microtask queue so each is its own DOM update.
        await null;
      }
    }
  }

  function stopRequest() {
    const f = state.inFlight;
    if (!f) return;
    f.reason = "stop";
    f.controller.abort();
  }

  function setBusy(busy) {
    const stopHadFocus = root.activeElement === ui.stop;
    ui.send.disabled = busy;
    ui.stop.hidden = !busy;
    // Screen readers wait for aria-busy to clear, so a streamed answer is read once, whole.
    ui.log.setAttribute("aria-busy", String(busy));
    if (!busy && stopHadFocus && state.open) ui.input.focus();
  }

  function markSlow(ex) {
    const node = ui.log.querySelector(`[data-id="${ex.id}"] .status`);
    if (node && (ex.status === "pending" || ex.status === "streaming")) {
      node.textContent = "Still waiting for the server… You can stop and try again later.";
    }
  }

  function clearConversation() {
    stopRequest();
    state.exchanges = [];
    ui.log.replaceChildren();
    closeViewer({ restoreFocus: false });
    refreshEmptyState();
    save();
    ui.input.focus();
  }

  // ---- rendering the conversation -----------------------------------------------------------
  function refreshEmptyState() {
    const isEmpty = state.exchanges.length === 0;
    ui.empty.hidden = !isEmpty;
    if (isEmpty && !ui.empty.firstChild) {
      ui.empty.append(
        h("p", { class: "empty-lead" }, "Ask anything about the inspection report. Every answer quotes the report and cites its section."),
        starterList("Try one of these")
      );
    }
  }

  function starterList(label) {
    return h(
      "div",
      { class: "starters", role: "group", "aria-label": label },
      h("p", { class: "starters-label" }, label + ":"),
      cfg.starters.map((s) =>
        h("button", { type: "button", class: "starter", onclick: () => askQuestion(s) }, s)
      )
    );
  }

  function renderExchange(ex) {
    const node = h(
      "div",
      { class: "exchange", "data-id": ex.id },
      h("div", { class: "msg user" }, h("span", { class: "sr" }, "You asked: "), ex.q),
      h("div", { class: "msg bot" })
    );
    fillBot(node.lastChild, ex);
    return node;
  }

  function updateExchange(ex) {
    const node = ui.log.querySelector(`[data-id="${ex.id}"]`);
    if (!node) return;
    const bot = h("div", { class: "msg bot" });
    fillBot(bot, ex);
    node.lastChild.replaceWith(bot);
    scrollToEnd();
  }

  function updateAnswerText(ex) {
    const node = ui.log.querySelector(`[data-id="${ex.id}"] .msg.bot`);
    if (!node) return;
    let text = node.querySelector(".answer");
    if (!text) {
      node.replaceChildren();
      node.classList.remove("pending");
      text = h("p", { class: "answer" });
      node.append(text);
    }
    text.replaceChildren(...answerNodes(ex));
    scrollToEnd();
  }

  function fillBot(bot, ex) {
    bot.dataset.status = ex.status;
    if (ex.status === "pending") {
      bot.classList.add("pending");
      bot.append(
        h("span", { class: "dots", "aria-hidden": "true" }, h("i"), h("i"), h("i")),
        h("span", { class: "status" }, "Looking in the report…")
      );
      return;
    }
    if (ex.status === "error" || ex.status === "stopped") {
      bot.classList.add(ex.status === "error" ? "error" : "stopped");
      if (ex.answer) bot.append(h("p", { class: "answer partial" }, ex.answer));
      bot.append(
        h("p", { class: "problem", role: ex.status === "error" ? "alert" : null }, ex.error || "No answer."),
        h("button", { type: "button", class: "retry", onclick: () => retry(ex) }, "Try again")
      );
      return;
    }
    if (!ex.answered) {
      bot.classList.add("refusal");
      bot.append(
        h("p", { class: "badge" }, "Not covered by the report"),
        h("p", { class: "answer" }, ex.answer)
      );
      if (ex.status === "done") bot.append(starterList("You could ask instead"));
      return;
    }
    bot.append(h("p", { class: "answer" }, answerNodes(ex)));
    if (ex.status === "done" && ex.citations.length) bot.append(chipRow(ex));
  }

  function retry(ex) {
    if (state.inFlight) return;
    // Retrying moves the question to the end so the history it is asked with is the current one.
    const i = state.exchanges.indexOf(ex);
    if (i >= 0 && i !== state.exchanges.length - 1) {
      state.exchanges.splice(i, 1);
      state.exchanges.push(ex);
      const node = ui.log.querySelector(`[data-id="${ex.id}"]`);
      if (node) ui.log.append(node);
    }
    run(ex);
    ui.input.focus();
  }

  /** The answer text with each valid [n] marker turned into a button opening citation n. */
  function answerNodes(ex) {
    const out = [];
    const re = /\[(\d{1,2})\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(ex.answer))) {
      const n = Number(m[1]);
      const cite = ex.citations[n - 1];
      if (!cite) continue;
      if (m.index > last) out.push(ex.answer.slice(last, m.index));
      out.push(
        h(
          "button",
          {
            type: "button",
            class: "ref",
            "aria-label": `Source ${n}: ${cite.heading}`,
            title: cite.heading,
            onclick: (e) => openCitation(ex, n - 1, e.currentTarget),
          },
          String(n)
        )
      );
      last = m.index + m[0].length;
    }
    out.push(ex.answer.slice(last));
    return out;
  }

  function chipRow(ex) {
    const docs = new Set(ex.citations.map((c) => c.doc));
    const seen = new Map();
    for (let i = 0; i < ex.citations.length; i++) {
      const c = ex.citations[i];
      const key = c.doc + "\u0000" + c.section;
      if (!seen.has(key)) seen.set(key, i);
    }
    return h(
      "div",
      { class: "chips", role: "group", "aria-label": "Sources" },
      [...seen.values()].map((i) => {
        const c = ex.citations[i];
        const label = sectionLabel(c) + (docs.size > 1 ? ` (${c.doc})` : "");
        const name = label.includes(c.heading) ? label : `${label}: ${c.heading}`;
        return h(
          "button",
          { type: "button", class: "chip", "aria-label": name, title: c.heading, onclick: (e) => openCitation(ex, i, e.currentTarget) },
          label
        );
      })
    );
  }

  /** "Q2 · Investigating crime" for a numbered question, else the heading ("Conclusion"). */
  function sectionLabel(c) {
    const m = /^q(\d+)$/.exec(c.section);
    if (!m) return c.heading;
    return `Q${m[1]} · ${shortQuestion(c.heading)}`;
  }

  function shortQuestion(heading) {
    // "How effective is the force at investigating crime and managing offenders?" reads as
    // "Investigating crime": drop the question's opening up to its subject ("the force"), then
    // keep the first of its parallel parts.
    let s = heading.replace(/\?+\s*$/, "").trim();
    const lead =
      /^.*?\bthe (?:force|police|constabulary)(?:'s|’s)?\s+(?:at\s+|in\s+)?/i.exec(s) ||
      /^(?:how|what|to what extent)\b.*?\b(?:at|in)\s+/i.exec(s);
    if (lead && lead[0].split(/\s+/).length <= 9 && lead[0].length < s.length) s = s.slice(lead[0].length);
    s = s.split(",")[0];
    s = s.replace(/\s+and\s+\w+ing\b.*$/i, "");
    if (s.length > LABEL_CHARS) {
      const cut = s.slice(0, LABEL_CHARS);
      const space = cut.lastIndexOf(" ");
      s = (space > 12 ? cut.slice(0, space) : cut) + "…";
    }
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  // ---- the section viewer -------------------------------------------------------------------
  // Where focus goes back to when the viewer closes: what opened it from the chat.
  let viewerReturn = null;

  function noteOpener(opener) {
    if (ui.viewer.hidden) viewerReturn = opener || null;
  }

  async function openCitation(ex, index, opener) {
    const cite = ex.citations[index];
    if (!cite) return;
    const quotes = ex.citations.filter((c) => c.doc === cite.doc && c.section === cite.section).map((c) => c.quote);
    noteOpener(opener);
    await openSection({ doc: cite.doc, section: cite.section, heading: cite.heading, quotes, active: cite.quote });
  }

  async function openSection({ doc, section, heading, quotes, active, back }) {
    showViewer(heading, h("p", { class: "muted" }, "Loading the section…"), back);
    let sec;
    try {
      const res = await fetch(`${cfg.api}/v1/sections/${encodeURIComponent(doc)}/${encodeURIComponent(section)}`, {
        headers: apiHeaders({}),
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
      if (!res.ok) throw await httpError(res);
      sec = await res.json();
    } catch (err) {
      const again = () => openSection({ doc, section, heading, quotes, active, back });
      showViewer(
        heading,
        h(
          "div",
          { class: "msg bot error" },
          h("p", { class: "problem", role: "alert" }, err instanceof Problem ? err.message : "Can't reach the server to show this section."),
          h("button", { type: "button", class: "retry", onclick: again }, "Try again")
        ),
        back
      );
      return;
    }
    const body = h("div", { class: "section-text" }, sectionNodes(sec, quotes || [], active));
    showViewer(sec.heading, body, back, sec.doc);
    const mark = body.querySelector("mark.active") || body.querySelector("mark");
    if (mark) {
      // Scroll only the viewer (scrollIntoView could scroll the host page as well).
      const pane = body.parentElement;
      pane.scrollTop = Math.max(0, mark.offsetTop - pane.clientHeight / 3);
    }
  }

  function showViewer(heading, content, back, doc) {
    const v = ui.viewer;
    const title = h("h3", { id: "pq-viewer-title", class: "viewer-title", tabindex: "-1" }, heading);
    const backBtn = h(
      "button",
      { type: "button", class: "back", onclick: () => (back ? back() : closeViewer()) },
      back ? "← All sections" : "← Back to chat"
    );
    v.replaceChildren(
      h("div", { class: "viewer-head" }, backBtn, doc ? h("p", { class: "muted doc" }, doc) : null, title),
      h("div", { class: "viewer-body" }, content)
    );
    const wasHidden = v.hidden;
    v.hidden = false;
    ui.frame.classList.add("viewing");
    // Focus the new heading when the viewer opens or its old content (and focus) went away.
    if (wasHidden || !root.activeElement) title.focus();
  }

  function closeViewer({ restoreFocus = true } = {}) {
    if (ui.viewer.hidden) return;
    ui.viewer.hidden = true;
    ui.viewer.replaceChildren();
    ui.frame.classList.remove("viewing");
    const back = viewerReturn;
    viewerReturn = null;
    if (!restoreFocus) return;
    if (back && back.isConnected) back.focus();
    else ui.input.focus();
  }

  /** The section's paragraphs as text, with each quote wrapped in <mark> (the active one too). */
  function sectionNodes(sec, quotes, active) {
    const text = String(sec.text || "");
    const ranges = [];
    let headingQuoted = false;
    for (const q of new Set(quotes)) {
      if (!q) continue;
      const at = text.indexOf(q);
      if (at >= 0) ranges.push({ start: at, end: at + q.length, active: q === active });
      else if (q === sec.heading) headingQuoted = true;
    }
    ranges.sort((a, b) => a.start - b.start);
    const out = [];
    if (headingQuoted) {
      out.push(h("p", { class: "quoted-heading" }, h("mark", { class: "active" }, sec.heading)));
    }
    const para = /[^\n]+(?:\n(?!\s*\n)[^\n]*)*/g;
    let m;
    while ((m = para.exec(text))) {
      const start = m.index;
      const end = start + m[0].length;
      const p = h("p");
      let pos = start;
      for (const r of ranges) {
        if (r.end <= start || r.start >= end) continue;
        const a = Math.max(r.start, start);
        const b = Math.min(r.end, end);
        if (a > pos) p.append(text.slice(pos, a));
        if (b > pos) p.append(h("mark", { class: r.active ? "active" : null }, text.slice(Math.max(a, pos), b)));
        pos = Math.max(pos, b);
      }
      if (pos < end) p.append(text.slice(pos, end));
      out.push(p);
    }
    return out;
  }

  // ---- the list of sections -----------------------------------------------------------------
  function loadSections() {
    if (state.sections) return Promise.resolve(state.sections);
    return fetch(cfg.api + "/v1/sections", {
      headers: apiHeaders({}),
      signal: AbortSignal.timeout(cfg.timeoutMs),
    })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Problem(`error ${res.status}`))))
      .then((list) => {
        state.sections = Array.isArray(list) ? list : [];
        return state.sections;
      });
  }

  function applyReportTitle(sections) {
    if (cfg.title) return;
    // A report's title is its intro section's heading (the file's first line).
    const titles = sections.filter((s) => s.section === "intro").map((s) => s.heading);
    if (titles.length === 1) {
      ui.title.textContent = "Ask about: " + titles[0];
    } else if (titles.length > 1) {
      ui.title.textContent = `Ask about ${titles.length} inspection reports`;
    }
    if (cfg.mode === "page") document.title = ui.title.textContent + " · peelqa";
  }

  async function showSectionList(opener) {
    noteOpener(opener);
    showViewer("Report sections", h("p", { class: "muted" }, "Loading…"));
    let sections;
    try {
      sections = await loadSections();
    } catch (_) {
      showViewer(
        "Report sections",
        h(
          "div",
          { class: "msg bot error" },
          h("p", { class: "problem", role: "alert" }, "Can't reach the server to list the sections."),
          h("button", { type: "button", class: "retry", onclick: () => showSectionList() }, "Try again")
        )
      );
      return;
    }
    const byDoc = new Map();
    for (const s of sections) {
      if (!byDoc.has(s.doc)) byDoc.set(s.doc, []);
      byDoc.get(s.doc).push(s);
    }
    const lists = [...byDoc.entries()].map(([doc, secs]) =>
      h(
        "div",
        { class: "toc" },
        byDoc.size > 1 ? h("p", { class: "muted doc" }, doc) : null,
        h(
          "ul",
          {},
          secs.map((s) =>
            h(
              "li",
              {},
              h(
                "button",
                {
                  type: "button",
                  class: "toc-item",
                  onclick: () =>
                    openSection({
                      doc: s.doc,
                      section: s.section,
                      heading: s.heading,
                      quotes: [],
                      back: () => showSectionList(),
                    }),
                },
                h("span", { class: "toc-id" }, /^q\d+$/.test(s.section) ? s.section.toUpperCase() : "§"),
                s.heading
              )
            )
          )
        )
      )
    );
    showViewer("Report sections", h("div", {}, lists));
  }

  // ---- persistence within the browser session -----------------------------------------------
  function save() {
    try {
      const exchanges = state.exchanges.map((e) => ({
        id: e.id,
        q: e.q,
        status: e.status,
        answer: e.answer,
        answered: e.answered,
        citations: e.citations,
        error: e.error || "",
      }));
      sessionStorage.setItem(storageKey, JSON.stringify({ exchanges, open: state.open }));
    } catch (_) {
      /* storage full or blocked (private mode): the chat still works, it just won't persist */
    }
  }

  function restore() {
    let saved;
    try {
      saved = JSON.parse(sessionStorage.getItem(storageKey) || "null");
    } catch (_) {
      saved = null;
    }
    if (!saved || !Array.isArray(saved.exchanges)) return;
    state.exchanges = saved.exchanges
      .filter((e) => e && typeof e.q === "string")
      .map((e) => {
        const ex = {
          id: String(e.id || newId()),
          q: e.q,
          status: e.status,
          answer: String(e.answer || ""),
          answered: e.answered !== false,
          citations: Array.isArray(e.citations) ? e.citations : [],
          error: String(e.error || ""),
        };
        if (!["done", "error", "stopped"].includes(ex.status)) {
          // It was in flight when the page went away: keep the question, offer it again.
          ex.status = "error";
          ex.error = "The page was reloaded before the answer arrived. Your question is kept: try again.";
        }
        return ex;
      });
    if (cfg.mode !== "page" && typeof saved.open === "boolean" && !cfg.open) state.open = saved.open;
  }

  // ---- styles -------------------------------------------------------------------------------
  function applyStyles(shadow) {
    const css = styles().replaceAll("__SIDE__", cfg.left ? "left" : "right");
    // A constructed stylesheet needs no 'unsafe-inline' in the host page's style-src.
    try {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(css);
      shadow.adoptedStyleSheets = [sheet];
    } catch (_) {
      shadow.append(h("style", {}, css));
    }
  }
  // All sizes in px, never rem: a host page's root font size must not resize the widget.
  // Colours meet WCAG AA (4.5:1 for text): #1d4ed8 on white 6.7:1, #4b5563 on white 7.6:1,
  // #111827 on #f3f4f6 16:1, #9a3412 on #fff7ed 6.6:1, #991b1b on #fef2f2 7.6:1.
  function styles() {
    return `
:host {
  all: initial !important;
  display: block !important;
  position: static !important;
  visibility: visible !important;
  opacity: 1 !important;
  transform: none !important;
  filter: none !important;
  z-index: 2147483000 !important;
}
*, *::before, *::after { box-sizing: border-box; }
[hidden] { display: none !important; }
.frame {
  --accent: #1d4ed8;
  --accent-dark: #1e3a8a;
  --text: #111827;
  --muted: #4b5563;
  --line: #d1d5db;
  --soft: #f3f4f6;
  font: 400 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", sans-serif;
  color: var(--text);
  text-align: left;
  letter-spacing: normal;
  text-transform: none;
  -webkit-font-smoothing: antialiased;
}
button, textarea, a { font: inherit; color: inherit; }
button { cursor: pointer; }
:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

/* floating mode: launcher plus panel */
.float .launcher {
  position: fixed; bottom: 20px; __SIDE__: 20px; z-index: 2147483000;
  display: inline-flex; align-items: center; gap: 8px;
  padding: 12px 18px; border: 0; border-radius: 999px;
  background: var(--accent); color: #fff; font-weight: 600; font-size: 15px;
  box-shadow: 0 6px 20px rgba(17, 24, 39, .25);
}
.float .launcher:hover { background: #1e40af; }
.float .launcher svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linejoin: round; }
.float .when-open, .float.is-open .when-closed, .float.is-open .launcher-text { display: none; }
.float.is-open .when-open { display: inline-flex; }
.float .when-closed { display: inline-flex; }
.float.is-open .launcher { padding: 12px; }
.float .launcher svg path { stroke-linecap: round; }
.float .panel {
  position: fixed; bottom: 84px; __SIDE__: 20px; z-index: 2147483001;
  width: 400px; max-width: calc(100vw - 32px);
  height: 640px; max-height: calc(100vh - 110px);
  border-radius: 14px; box-shadow: 0 16px 48px rgba(17, 24, 39, .28);
}
@media (max-width: 480px) {
  .subtitle { display: none; }
  .float .panel { inset: 0; width: 100vw; max-width: 100vw; height: 100%; max-height: none; border-radius: 0; }
  .float.is-open .launcher { display: none; }
}

/* page mode: the chat fills the window, in a readable column */
.page .panel {
  position: fixed; inset: 0; width: 100%; height: 100%;
  border: 0; border-radius: 0;
}
/* a 780px reading column, centred by padding so scroll bars stay at the window's edge */
.page .head, .page .log, .page .empty, .page .composer, .page .viewer-head, .page .viewer-body {
  padding-left: max(20px, calc((100% - 780px) / 2));
  padding-right: max(20px, calc((100% - 780px) / 2));
}
.page .head { padding-top: 18px; padding-bottom: 16px; }
.page .title { font-size: 21px; }
.page .subtitle { font-size: 14px; }

.panel {
  display: flex; flex-direction: column; overflow: hidden;
  background: #fff; color: var(--text); border: 1px solid var(--line);
}
.head { padding: 14px 16px 12px; background: var(--accent-dark); color: #fff; }
.head-top { display: flex; align-items: flex-start; justify-content: space-between; gap: 12px; }
.head-text { min-width: 0; }
.title { margin: 0; font-size: 16px; line-height: 1.35; font-weight: 700; overflow-wrap: anywhere; }
.subtitle { margin: 2px 0 0; font-size: 13px; color: #dbeafe; }
.head-actions { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 10px; }
.hbtn {
  display: inline-flex; align-items: center; gap: 4px; white-space: nowrap;
  padding: 5px 10px; border: 1px solid rgba(255, 255, 255, .45); border-radius: 8px;
  background: transparent; color: #fff; font-size: 13px; text-decoration: none;
}
.hbtn:hover { background: rgba(255, 255, 255, .14); }
.hbtn.icon-only { padding: 4px; flex-shrink: 0; }
.hbtn svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; }
.head :focus-visible { outline-color: #fff; }

.body { position: relative; flex: 1; min-height: 0; display: flex; }
.log-wrap { flex: 1; min-width: 0; display: flex; flex-direction: column; overflow: hidden; }
.log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 14px; }
.log:focus-visible { outline-offset: -2px; }
.empty { padding: 18px 16px 0; }
.empty-lead { margin: 0 0 12px; color: var(--muted); }

.exchange { display: flex; flex-direction: column; gap: 8px; }
.msg { max-width: 88%; padding: 10px 14px; border-radius: 14px; overflow-wrap: anywhere; white-space: pre-wrap; }
.msg p { margin: 0; }
.msg.user { align-self: flex-end; background: var(--accent); color: #fff; border-bottom-right-radius: 4px; }
.msg.bot { align-self: flex-start; background: var(--soft); color: var(--text); border-bottom-left-radius: 4px; white-space: normal; }
.answer { white-space: pre-wrap; }
.msg.bot.pending { display: flex; align-items: center; gap: 10px; color: var(--muted); }
.dots { display: inline-flex; gap: 4px; }
.dots i { width: 7px; height: 7px; border-radius: 50%; background: #6b7280; animation: pq-blink 1.2s infinite ease-in-out; }
.dots i:nth-child(2) { animation-delay: .2s; }
.dots i:nth-child(3) { animation-delay: .4s; }
@keyframes pq-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .dots i { animation: none; } }

.ref {
  display: inline-flex; align-items: center; justify-content: center;
  min-width: 22px; height: 20px; margin: 0 2px; padding: 0 5px; vertical-align: 1px;
  border: 1px solid #93c5fd; border-radius: 6px; background: #fff; color: var(--accent);
  font-size: 12px; font-weight: 700; line-height: 1;
}
.ref:hover, .chip:hover { background: #dbeafe; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 10px; }
.chip {
  padding: 4px 10px; border: 1px solid #bfdbfe; border-radius: 999px;
  background: #eff6ff; color: #1e3a8a; font-size: 13px; font-weight: 600; text-align: left;
}
.msg.bot.refusal { background: #fff7ed; border: 1px solid #fdba74; }
.badge { font-size: 12px; font-weight: 700; text-transform: uppercase; letter-spacing: .04em; color: #9a3412; margin-bottom: 4px !important; }
.msg.bot.error, .msg.bot.stopped { background: #fef2f2; border: 1px solid #fca5a5; }
.msg.bot.stopped { background: var(--soft); border-color: var(--line); }
.problem { color: #991b1b; }
.stopped .problem { color: var(--muted); }
.partial { color: var(--muted); margin-bottom: 6px !important; }
.retry {
  margin-top: 8px; padding: 6px 12px; border: 1px solid var(--accent); border-radius: 8px;
  background: #fff; color: var(--accent); font-weight: 600; font-size: 14px;
}
.retry:hover { background: #eff6ff; }

.starters { display: flex; flex-direction: column; align-items: flex-start; gap: 6px; margin-top: 8px; }
.starters-label { margin: 0; font-size: 13px; color: var(--muted); }
.refusal .starters-label { color: #7c2d12; }
.starter {
  padding: 7px 12px; border: 1px solid #bfdbfe; border-radius: 10px;
  background: #fff; color: var(--accent); font-size: 14px; text-align: left;
}
.starter:hover { background: #eff6ff; }

.composer { border-top: 1px solid var(--line); padding: 10px 12px 8px; background: #fff; }
.row { display: flex; align-items: flex-end; gap: 8px; }
.input {
  flex: 1; min-width: 0; resize: none; max-height: 160px;
  padding: 9px 12px; border: 1px solid #9ca3af; border-radius: 10px;
  background: #fff; color: var(--text); line-height: 1.4;
}
.input::placeholder { color: #6b7280; }
.input:focus-visible { outline: 2px solid var(--accent); outline-offset: 0; border-color: var(--accent); }
.send, .stop { flex-shrink: 0; height: 40px; border-radius: 10px; font-weight: 600; }
.send { width: 44px; display: inline-flex; align-items: center; justify-content: center; border: 0; background: var(--accent); color: #fff; }
.send svg { fill: currentColor; }
.send:disabled { background: #9ca3af; cursor: default; }
.stop { padding: 0 14px; border: 1px solid #991b1b; background: #fff; color: #991b1b; }
.hint { margin: 6px 2px 0; font-size: 12px; color: var(--muted); }

.viewer { position: absolute; inset: 0; display: flex; flex-direction: column; background: #fff; }
.viewer-head { padding: 12px 16px 10px; border-bottom: 1px solid var(--line); }
.viewer-title { margin: 6px 0 0; font-size: 16px; line-height: 1.35; }
.viewer-title:focus { outline: none; }
.viewer-body { position: relative; flex: 1; overflow-y: auto; padding: 4px 16px 16px; }
.back { padding: 4px 10px; border: 1px solid var(--line); border-radius: 8px; background: #fff; color: var(--accent); font-size: 14px; font-weight: 600; }
.back:hover { background: #eff6ff; }
.muted { color: var(--muted); }
.doc { margin: 8px 0 0; font-size: 12px; }
.section-text p { margin: 12px 0; }
mark { background: #fef08a; color: var(--text); padding: 1px 0; border-radius: 2px; }
mark.active { background: #fde047; box-shadow: 0 0 0 2px #ca8a04; }
.toc ul { list-style: none; margin: 8px 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.toc-item {
  display: flex; gap: 10px; width: 100%; padding: 9px 12px; text-align: left;
  border: 1px solid var(--line); border-radius: 10px; background: #fff; color: var(--text); font-size: 14px;
}
.toc-item:hover { background: #eff6ff; border-color: #bfdbfe; }
.toc-id { flex-shrink: 0; min-width: 26px; font-weight: 700; color: var(--accent); }
`;
  }
})();
