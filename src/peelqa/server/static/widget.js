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
 *   data-docs      report ids, separated by ",": the widget answers from those reports only
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
  // The contract's bounds (docs/contract.md): 2,000 characters a question, 50 turns of history,
  // 8,000 characters a turn, 64 KiB a request body (PEELQA_MAX_BODY_BYTES' default).
  const MAX_QUESTION = 2000;
  const MAX_TURNS = 50;
  const MAX_TURN_CHARS = 8000;
  const MAX_BODY_BYTES = 65536;
  // Room for the JSON around the history and for a proxy's own additions.
  const BODY_MARGIN = 1024;
  // An answer normally takes well under a second; after 8 s the user deserves to know it is slow.
  const SLOW_AFTER_MS = 8000;
  // 60 s without a byte: the server is not going to answer; say so and offer a retry.
  const DEFAULT_TIMEOUT_S = 60;
  // Short chip labels: longer question headings are cut at a word and end in "…".
  const LABEL_CHARS = 36;
  // A refusal shows at most this many of the reports' areas, and three suggestions.
  const MAX_AREAS = 8;
  const MAX_SUGGESTIONS = 3;
  const MAX_FOLLOW_UPS = 3;
  // Text sizes the A-/A+ buttons step through (1 = 15 px body text).
  const SIZES = [0.9, 1, 1.15, 1.3, 1.5];
  // "From “<title>”: " opens an answer when several reports are loaded; the widget shows the
  // title with each quote instead.
  const FROM_RE = /^\s*From “([^”]*)”:\s*/;

  const ICON_CHAT = ["M4 5h16v11H8l-4 4z"];
  const ICON_CLOSE = ["M6 6l12 12M18 6L6 18"];
  const ICON_SEND = ["M4 12l16-8-6 16-2-7z"];
  const ICON_COPY = ["M8 8h11v12H8z", "M5 16V4h11"];
  const ICON_UP = ["M7 11v9H4v-9z", "M7 11l4-7c1.5 0 2.5 1 2 3l-1 3h6c1 0 2 1 1.7 2.2l-1.6 6.3c-.3 1-1 1.5-2 1.5H7"];
  const ICON_DOWN = ["M7 13V4H4v9z", "M7 13l4 7c1.5 0 2.5-1 2-3l-1-3h6c1 0 2-1 1.7-2.2l-1.6-6.3C17.8 4.5 17 4 16 4H7"];
  // "A-" and "A+" drawn, not written: a button's visible text must be in its name.
  const ICON_SMALLER = ["M3 19L8 5l5 14M5 14h6", "M15 10h7"];
  const ICON_LARGER = ["M3 19L8 5l5 14M5 14h6", "M15 10h7M18.5 6.5v7"];
  const ICON_MOON = ["M20 14.5A8 8 0 0 1 9.5 4 8 8 0 1 0 20 14.5z"];

  const h = make(document);
  const systemDark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  // Where focus goes back to when the source panel closes: what opened it from the chat.
  let viewerReturn = null;
  let previewTimer = null;

  const cfg = readConfig(script);
  const storageKey = "peelqa:v2:" + cfg.api;
  const prefsKey = "peelqa:prefs";

  // ---- state ------------------------------------------------------------------------------
  // An exchange is one question and what became of it: status "pending" (in flight),
  // "streaming", "done", "error" or "stopped". Only "done" exchanges go into the history.
  const state = {
    exchanges: [],
    open: cfg.mode === "page" || cfg.open,
    inFlight: null, // {exchange, controller, reason}
    sections: null, // [{doc, section, heading, text, title, path, level, blocks}] once fetched
    docs: new Map(), // doc id -> {doc, title, date, sections: [...]}
    picked: null, // the report ids chosen in the picker; null: all of them
    prefs: readPrefs(),
  };
  restore();

  // ---- DOM ----------------------------------------------------------------------------------
  const host = document.createElement("peelqa-widget");
  const root = host.attachShadow({ mode: "open" });
  applyStyles(root);

  const ui = buildUi();
  root.append(ui.frame);
  (document.body || document.documentElement).append(host);

  applyPrefs();
  if (systemDark && systemDark.addEventListener) systemDark.addEventListener("change", applyPrefs);
  for (const ex of state.exchanges) ui.log.append(renderExchange(ex));
  refreshEmptyState();
  setOpen(state.open, { focus: false });
  // The cursor waits in the box: the page exists to ask, and a chat opened by data-open too.
  if (cfg.mode === "page" || cfg.open) ui.input.focus();
  loadSections().then(onSections, () => {});

  // ---- configuration ------------------------------------------------------------------------
  function readConfig(el) {
    const d = el.dataset;
    const scriptOrigin = new URL(el.src || location.href, location.href).origin;
    const list = (s, sep) =>
      (s || "")
        .split(sep)
        .map((x) => x.trim())
        .filter(Boolean);
    const starters = list(d.starters, "|");
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
      docs: list(d.docs, ","),
    };
  }

  /** Request headers, with the widget's own API key when the page gave it one. */
  function apiHeaders(extra) {
    return cfg.key ? { ...extra, Authorization: `Bearer ${cfg.key}` } : { ...extra };
  }

  function readPrefs() {
    try {
      const p = JSON.parse(localStorage.getItem(prefsKey) || "{}");
      return {
        theme: p.theme === "dark" || p.theme === "light" ? p.theme : null,
        size: SIZES.includes(p.size) ? p.size : 1,
      };
    } catch (_) {
      return { theme: null, size: 1 };
    }
  }

  function savePrefs() {
    try {
      localStorage.setItem(prefsKey, JSON.stringify(state.prefs));
    } catch (_) {
      /* blocked storage: the choice holds for this page only */
    }
  }

  // ---- building blocks ----------------------------------------------------------------------
  /** An element with attributes and children; strings become text nodes, never markup. */
  function make(doc) {
    return function el(tag, attrs, ...children) {
      const node = doc.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (v === null || v === undefined || v === false) continue;
        if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
        else if (k === "class") node.className = v;
        else node.setAttribute(k, v === true ? "" : String(v));
      }
      for (const c of children.flat(Infinity)) {
        if (c === null || c === undefined || c === false) continue;
        node.append(typeof c === "string" ? doc.createTextNode(c) : c);
      }
      return node;
    };
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

  let uid = 0;
  function newId() {
    return Date.now().toString(36) + Math.random().toString(36).slice(2, 8) + (uid++).toString(36);
  }

  function buildUi() {
    const page = cfg.mode === "page";
    const titleId = "pq-title";
    // One h1 on the chat page; on a host page the widget is a section under the page's own h1.
    const title = h(page ? "h1" : "h2", { id: titleId, class: "title" }, cfg.title || "Ask the inspection report");
    const subtitle = h("p", { class: "subtitle" }, "Answers quote the report itself, and each quote links to its section.");
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
    const pickerBtn = h(
      "button",
      { type: "button", class: "hbtn", hidden: true, "aria-expanded": "false", "aria-controls": "pq-picker", onclick: () => togglePopover("picker") },
      "Reports"
    );
    const exportBtn = h(
      "button",
      { type: "button", class: "hbtn", "aria-expanded": "false", "aria-controls": "pq-export", onclick: () => togglePopover("export") },
      "Export"
    );
    const clearBtn = h("button", { type: "button", class: "hbtn", onclick: clearConversation }, "Clear chat");
    const smaller = h("button", { type: "button", class: "hbtn icon-only", "aria-label": "Smaller text", onclick: () => stepSize(-1) }, icon(ICON_SMALLER, 18));
    const larger = h("button", { type: "button", class: "hbtn icon-only", "aria-label": "Larger text", onclick: () => stepSize(1) }, icon(ICON_LARGER, 18));
    const darkBtn = h("button", { type: "button", class: "hbtn icon-only", "aria-label": "Dark mode", "aria-pressed": "false", onclick: toggleDark }, icon(ICON_MOON, 18));
    const closeBtn = page
      ? null
      : h("button", { type: "button", class: "hbtn icon-only", "aria-label": "Close chat", onclick: () => setOpen(false, { focus: true }) }, icon(ICON_CLOSE));

    const picker = h("div", { class: "popover", id: "pq-picker", role: "group", "aria-label": "Reports to ask about", hidden: true });
    const exportMenu = h(
      "div",
      { class: "popover", id: "pq-export", role: "group", "aria-label": "Export the conversation", hidden: true },
      h("button", { type: "button", class: "pop-item", onclick: exportMarkdown }, "Download as Markdown"),
      h("button", { type: "button", class: "pop-item", onclick: exportPrint }, "Printable page (with footnotes)"),
      h("p", { class: "pop-status", role: "status" })
    );
    // A div, not <header>: a banner landmark inside the widget would be a second banner on
    // the host page.
    const head = h(
      "div",
      { class: "head" },
      h("div", { class: "head-top" }, h("div", { class: "head-text" }, title, subtitle), closeBtn),
      h(
        "div",
        { class: "head-actions" },
        h(
          "div",
          { class: "tools" },
          sectionsLink,
          cfg.mode === "page" ? h("a", { class: "hbtn", href: cfg.api + "/documents" }, "Manage reports") : null,
          pickerBtn,
          exportBtn,
          clearBtn
        ),
        h("div", { class: "prefs", role: "group", "aria-label": "Display" }, smaller, larger, darkBtn)
      ),
      picker,
      exportMenu
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

    const chat = h("div", { class: "chat" }, empty, log, form);
    const scrim = h("div", { class: "scrim", hidden: true, onclick: () => closeViewer() });
    const viewer = h("section", { class: "viewer", hidden: true, "aria-labelledby": "pq-viewer-title", onkeydown: trapFocus });
    const preview = h("div", { class: "preview", id: "pq-preview", role: "tooltip", hidden: true, onmouseenter: keepPreview, onmouseleave: hidePreviewSoon });

    const panel = h(
      page ? "main" : "div",
      page ? { class: "panel" } : { class: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": titleId },
      head,
      h("div", { class: "body" }, chat, scrim, viewer)
    );
    const launcher = page
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
    // On a host page the widget is one labelled region, so that the launcher too sits in a
    // landmark; on the chat page the panel is the page's main.
    const frame = h(
      page ? "div" : "section",
      {
        class: ["frame", page ? "page" : "float", cfg.left ? "left" : "right"].join(" "),
        "aria-label": page ? null : "Ask the report",
        onkeydown: onKey,
      },
      panel,
      launcher,
      preview
    );
    return {
      frame, panel, head, launcher, title, subtitle, chat, log, empty, input, send, stop, viewer, scrim, preview,
      sectionsLink, pickerBtn, picker, exportBtn, exportMenu, smaller, larger, darkBtn,
    };
  }

  // ---- opening and closing ------------------------------------------------------------------
  function setOpen(open, { focus }) {
    state.open = cfg.mode === "page" ? true : open;
    ui.panel.hidden = !state.open;
    ui.frame.classList.toggle("is-open", state.open);
    if (ui.launcher) ui.launcher.setAttribute("aria-expanded", String(state.open));
    if (!state.open) hidePreview();
    save();
    if (!focus) return;
    if (state.open) ui.input.focus();
    else if (ui.launcher) ui.launcher.focus();
  }

  function onKey(e) {
    if (e.key !== "Escape" || !state.open) return;
    e.preventDefault();
    // Escape closes the nearest thing first: a preview, a menu, the source panel, the chat.
    if (!ui.preview.hidden) hidePreview();
    else if (closeOpenForm(e)) return;
    else if (openPopover()) closePopovers({ focus: true });
    else if (!ui.viewer.hidden) closeViewer();
    else if (cfg.mode !== "page") setOpen(false, { focus: true });
  }

  function closeOpenForm(e) {
    const form = e.target && e.target.closest && e.target.closest(".fb-form");
    if (!form) return false;
    const ex = state.exchanges.find((x) => x.id === form.dataset.for);
    if (ex && ex.feedback && !ex.feedback.sent) {
      ex.feedback = null;
      save();
      updateExchange(ex, { keepScroll: true });
      const btn = ui.log.querySelector(`[data-id="${ex.id}"] .fb-up`);
      if (btn) btn.focus();
    }
    return true;
  }

  // ---- display preferences ------------------------------------------------------------------

  function isDark() {
    if (state.prefs.theme) return state.prefs.theme === "dark";
    return !!(systemDark && systemDark.matches);
  }

  function applyPrefs() {
    const dark = isDark();
    ui.frame.classList.toggle("dark", dark);
    ui.darkBtn.setAttribute("aria-pressed", String(dark));
    ui.frame.style.setProperty("--k", String(state.prefs.size));
    const i = SIZES.indexOf(state.prefs.size);
    ui.smaller.disabled = i <= 0;
    ui.larger.disabled = i >= SIZES.length - 1;
  }

  function toggleDark() {
    state.prefs.theme = isDark() ? "light" : "dark";
    savePrefs();
    applyPrefs();
  }

  function stepSize(step) {
    const i = Math.max(0, Math.min(SIZES.length - 1, SIZES.indexOf(state.prefs.size) + step));
    state.prefs.size = SIZES[i];
    savePrefs();
    applyPrefs();
  }

  // ---- header menus (report picker, export) -------------------------------------------------
  function openPopover() {
    return !ui.picker.hidden ? "picker" : !ui.exportMenu.hidden ? "export" : null;
  }

  function togglePopover(which) {
    const was = openPopover();
    closePopovers({ focus: false });
    if (was === which) return;
    const [btn, pop] = which === "picker" ? [ui.pickerBtn, ui.picker] : [ui.exportBtn, ui.exportMenu];
    if (which === "picker") fillPicker();
    pop.hidden = false;
    btn.setAttribute("aria-expanded", "true");
    const first = pop.querySelector("input, button");
    if (first) first.focus();
  }

  function closePopovers({ focus }) {
    const was = openPopover();
    for (const [btn, pop] of [[ui.pickerBtn, ui.picker], [ui.exportBtn, ui.exportMenu]]) {
      pop.hidden = true;
      btn.setAttribute("aria-expanded", "false");
    }
    if (focus && was) (was === "picker" ? ui.pickerBtn : ui.exportBtn).focus();
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
    closePopovers({ focus: false });
    const ex = { id: newId(), q: cut(q, MAX_QUESTION), status: "pending", answer: "", answered: true, citations: [] };
    state.exchanges.push(ex);
    ui.log.append(renderExchange(ex));
    refreshEmptyState();
    run(ex);
  }

  /** The first n characters (code points, as the server counts them), never half a pair. */
  function cut(text, n) {
    const s = String(text || "");
    if (s.length <= n) return s;
    return Array.from(s).slice(0, n).join("");
  }

  // ---- talking to the API -------------------------------------------------------------------
  function pickedDocs() {
    if (cfg.docs.length) return cfg.docs;
    return state.picked && state.picked.length ? state.picked : null;
  }

  /**
   * The request body for an exchange: the history trimmed, oldest turns first, to the 50-turn
   * limit and to what fits the body limit in UTF-8 bytes. Returns the body and how many turns
   * were left out.
   */
  function requestBody(ex, budget) {
    const turns = [];
    for (const e of state.exchanges) {
      if (e === ex) break;
      if (e.status !== "done") continue;
      turns.push({ role: "user", content: cut(e.q, MAX_TURN_CHARS) });
      turns.push({ role: "assistant", content: cut(e.answer, MAX_TURN_CHARS) });
    }
    const all = turns.length;
    let history = turns.slice(-MAX_TURNS);
    const body = { question: ex.q, history, stream: true };
    const docs = pickedDocs();
    if (docs) body.docs = docs;
    const encoder = new TextEncoder();
    let json = JSON.stringify(body);
    // Drop the oldest question and answer together until the body fits.
    while (history.length && encoder.encode(json).length > budget) {
      history = history.slice(2);
      body.history = history;
      json = JSON.stringify(body);
    }
    return { json, left: all - history.length };
  }

  async function run(ex) {
    const controller = new AbortController();
    const flight = { exchange: ex, controller, reason: null, responded: false };
    state.inFlight = flight;
    Object.assign(ex, {
      status: "pending", answer: "", answered: true, citations: [], error: "", reply: null,
      suggestions: [], answerId: "", mode: "extractive", left: 0, feedback: null,
    });
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
      let budget = MAX_BODY_BYTES - BODY_MARGIN;
      let res;
      for (;;) {
        const { json, left } = requestBody(ex, budget);
        ex.left = left;
        res = await fetch(cfg.api + "/v1/ask", {
          method: "POST",
          headers: apiHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
          body: json,
          signal: controller.signal,
        });
        flight.responded = true;
        // A server set to a smaller body limit: halve what is sent until it fits.
        if (res.status !== 413 || budget < 4096) break;
        budget = Math.floor(budget / 2);
      }
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
        reply: typeof done.reply === "string" && done.reply ? done.reply : null,
        suggestions: Array.isArray(done.suggestions) ? done.suggestions.map(String).slice(0, MAX_SUGGESTIONS) : [],
        answerId: String(done.id || ""),
        mode: done.mode === "generated" ? "generated" : "extractive",
      });
    } catch (err) {
      ex.status = flight.reason === "stop" ? "stopped" : "error";
      ex.error = await describeError(err, flight.reason, flight.responded);
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

  async function describeError(err, reason, responded) {
    if (reason === "stop") return "Stopped before the answer finished.";
    if (reason === "timeout") return "The server is taking too long to answer. Your question is kept: try again.";
    if (err instanceof Problem) return err.message;
    // A reply that had begun was allowed through: only a request with none can be CORS.
    if (responded) return "The connection dropped before the answer finished. Your question is kept: try again.";
    if (await blockedByCors()) {
      return `The server is up but does not allow this page's origin (${location.origin}). ` +
        "Its administrator must add the origin to PEELQA_CORS_ORIGINS.";
    }
    return "Can't reach the server right now. Your question is kept: try again in a moment.";
  }

  /**
   * A failed cross-origin fetch looks the same whether the server is down or the browser
   * blocked the reply for want of CORS. A no-cors request needs no permission: when it gets
   * through, the server is up and it is the origin that is not allowed.
   */
  async function blockedByCors() {
    let api;
    try {
      api = new URL(cfg.api, location.href);
    } catch (_) {
      return false;
    }
    if (api.origin === location.origin) return false;
    try {
      await fetch(cfg.api + "/healthz", { mode: "no-cors", cache: "no-store", signal: AbortSignal.timeout(5000) });
      return true;
    } catch (_) {
      return false;
    }
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
      let at;
      while ((at = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
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

  // ---- the reports --------------------------------------------------------------------------
  function loadSections() {
    if (state.sections) return Promise.resolve(state.sections);
    return fetch(cfg.api + "/v1/sections", {
      headers: apiHeaders({}),
      signal: AbortSignal.timeout(cfg.timeoutMs),
    })
      .then((res) => (res.ok ? res.json() : Promise.reject(new Problem(`error ${res.status}`))))
      .then((list) => {
        state.sections = Array.isArray(list) ? list : [];
        state.docs = new Map();
        for (const s of state.sections) {
          if (!state.docs.has(s.doc)) state.docs.set(s.doc, { doc: s.doc, title: "", date: "", sections: [] });
          const d = state.docs.get(s.doc);
          d.sections.push(s);
          // A report's title: the API's, else its intro section's heading (the first line).
          if (!d.title && s.title) d.title = s.title;
          if (!d.title && s.section === "intro") d.title = s.heading;
          if (!d.date && s.date) d.date = String(s.date);
        }
        for (const d of state.docs.values()) {
          if (!d.title) d.title = d.doc;
          if (!d.date) d.date = yearOf(d.title);
        }
        if (state.picked) state.picked = state.picked.filter((id) => state.docs.has(id));
        return state.sections;
      });
  }

  /** The year a title names ("PEEL 2023–25: ..." is "2023–25"): the date when nothing says more. */
  function yearOf(title) {
    const m = /\b((?:19|20)\d{2})(?:\s*[–-]\s*(\d{2,4}))?\b/.exec(title || "");
    if (!m) return "";
    return m[2] ? `${m[1]}–${m[2]}` : m[1];
  }

  function onSections() {
    applyReportTitle();
    const lead = ui.empty.querySelector(".empty-lead");
    if (lead && manyReports()) {
      lead.textContent = "Ask anything about the inspection reports. Every answer quotes a report and cites its section.";
    }
    ui.pickerBtn.hidden = cfg.docs.length > 0 || state.docs.size < 2;
    refreshPickerLabel();
    // Answers drawn before the sections arrived learn their lists, areas and follow-ups now.
    for (const ex of state.exchanges) if (ex.status === "done") updateExchange(ex, { keepScroll: true });
  }

  function visibleDocs() {
    const ids = pickedDocs();
    const all = [...state.docs.values()];
    return ids ? all.filter((d) => ids.includes(d.doc)) : all;
  }

  /** Whether answers may come from more than one report (then quotes name their report). */
  function manyReports() {
    return visibleDocs().length > 1;
  }

  function applyReportTitle() {
    if (cfg.title) return;
    const docs = cfg.docs.length ? visibleDocs() : [...state.docs.values()];
    if (docs.length === 1) {
      ui.title.textContent = "Ask about: " + docs[0].title;
    } else if (docs.length > 1) {
      ui.title.textContent = `Ask about ${docs.length} inspection reports`;
    }
    if (cfg.mode === "page") document.title = ui.title.textContent + " · peelqa";
  }

  function docOf(id) {
    return state.docs.get(id) || { doc: id, title: id, date: "", sections: [] };
  }

  function sectionOf(doc, section) {
    return (state.sections || []).find((s) => s.doc === doc && s.section === section) || null;
  }

  function refreshPickerLabel() {
    const ids = pickedDocs();
    ui.pickerBtn.textContent = ids ? `Reports (${ids.length} of ${state.docs.size})` : `Reports (all ${state.docs.size})`;
  }

  function fillPicker() {
    const ids = new Set(pickedDocs() || state.docs.keys());
    const boxes = [...state.docs.values()].map((d) => {
      const id = "pq-doc-" + d.doc.replace(/[^A-Za-z0-9_-]/g, "_");
      return h(
        "li",
        {},
        h("input", { type: "checkbox", id, checked: ids.has(d.doc), value: d.doc, onchange: onPick }),
        h("label", { for: id }, h("span", { class: "pick-title" }, d.title), d.date ? h("span", { class: "pick-date" }, d.date) : null)
      );
    });
    ui.picker.replaceChildren(
      h("p", { class: "pop-label" }, "Answer from these reports:"),
      h("ul", { class: "pick-list" }, boxes),
      h("button", { type: "button", class: "pop-item", onclick: () => { state.picked = null; save(); fillPicker(); refreshPickerLabel(); } }, "All reports")
    );
  }

  function onPick() {
    const chosen = [...ui.picker.querySelectorAll("input[type=checkbox]")].filter((b) => b.checked).map((b) => b.value);
    // None or every one ticked means every report: the server is asked without a limit.
    state.picked = chosen.length && chosen.length < state.docs.size ? chosen : null;
    save();
    refreshPickerLabel();
  }

  // ---- rendering the conversation -----------------------------------------------------------
  function refreshEmptyState() {
    const isEmpty = state.exchanges.length === 0;
    ui.empty.hidden = !isEmpty;
    if (isEmpty && !ui.empty.firstChild) {
      ui.empty.append(
        h("p", { class: "empty-lead" }, "Ask anything about the inspection report. Every answer quotes the report and cites its section."),
        askList("Try one of these", cfg.starters.map((s) => ({ label: s, question: s })), "starters")
      );
    }
  }

  /** A group of buttons that each ask a question. */
  function askList(label, items, cls) {
    return h(
      "div",
      { class: cls || "starters", role: "group", "aria-label": label },
      h("p", { class: "starters-label" }, label + ":"),
      h(
        "div",
        { class: "ask-buttons" },
        items.map((it) =>
          h("button", { type: "button", class: "starter", title: it.question !== it.label ? it.question : null, onclick: () => askQuestion(it.question) }, it.label)
        )
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

  function updateExchange(ex, { keepScroll = false } = {}) {
    const node = ui.log.querySelector(`[data-id="${ex.id}"]`);
    if (!node) return;
    const focusedClass = focusedIn(node);
    const bot = h("div", { class: "msg bot" });
    fillBot(bot, ex);
    node.lastChild.replaceWith(bot);
    // A re-render must not drop the keyboard user's place.
    if (focusedClass) {
      const again = bot.querySelector(focusedClass);
      if (again) again.focus();
    }
    if (!keepScroll) scrollToEnd();
  }

  function focusedIn(node) {
    const a = root.activeElement;
    if (!a || !node.contains(a)) return null;
    const named = a.getAttribute("data-focus");
    return named ? `[data-focus="${named}"]` : null;
  }

  function updateAnswerText(ex) {
    const node = ui.log.querySelector(`[data-id="${ex.id}"] .msg.bot`);
    if (!node) return;
    let text = node.querySelector(".answer");
    if (!text) {
      node.replaceChildren();
      node.classList.remove("pending");
      text = h("p", { class: "answer streaming" });
      node.append(text);
    }
    text.replaceChildren(...inlineNodes(ex, ex.answer.replace(FROM_RE, "")));
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
    if (ex.status === "streaming") {
      bot.append(h("p", { class: "answer streaming" }, inlineNodes(ex, ex.answer.replace(FROM_RE, ""))));
      return;
    }
    if (ex.left) {
      bot.append(
        h("p", { class: "note" }, `The ${ex.left / 2 === 1 ? "oldest question" : `${ex.left / 2} oldest questions`} and ${ex.left / 2 === 1 ? "its answer were" : "their answers were"} not sent with this one, to keep within the server's limits (50 turns, 64 KiB).`)
      );
    }
    if (!ex.answered) {
      fillRefusal(bot, ex);
      return;
    }
    bot.append(h("div", { class: "answer" }, answerNodes(ex)));
    bot.append(actions(ex));
    const next = followUps(ex);
    if (next.length) bot.append(askList("Ask next", next, "follow-ups"));
  }

  function fillRefusal(bot, ex) {
    bot.classList.add("refusal");
    // One short sentence: the server's first ("The report does not answer that.").
    const first = (/^[^.!?]*[.!?]/.exec(ex.answer.replace(FROM_RE, "").trim()) || [""])[0].trim();
    bot.append(h("p", { class: "answer" }, first || "The reports do not answer that."));
    if (ex.status !== "done") return;
    const asked = askedQuestions();
    const suggestions = ex.suggestions
      .map((t) => ({ label: shortLabel(t), question: topicQuestion(t) }))
      .filter((s) => !asked.has(norm(s.question)));
    const taken = new Set(ex.suggestions.map(norm));
    const areas = topAreas().filter((a) => !taken.has(norm(a.heading)));
    if (areas.length) {
      bot.append(
        h(
          "div",
          { class: "areas", role: "group", "aria-label": manyReports() ? "What the reports cover" : "What the report covers" },
          h("p", { class: "starters-label" }, (manyReports() ? "The reports cover" : "The report covers") + ":"),
          h(
            "div",
            { class: "chips" },
            areas.map((a) =>
              h("button", { type: "button", class: "chip", title: a.heading, onclick: () => askQuestion(topicQuestion(a.heading)) }, shortLabel(a.heading))
            )
          )
        )
      );
    }
    if (suggestions.length) bot.append(askList("You could ask instead", suggestions, "suggestions"));
  }

  /** The reports' top-level headings (the areas a refusal offers), de-duplicated. */
  function topAreas() {
    const seen = new Set();
    const out = [];
    for (const d of visibleDocs()) {
      for (const s of d.sections) {
        if (s.section === "intro" || (s.level || 1) !== 1) continue;
        const key = norm(s.heading);
        if (seen.has(key)) continue;
        seen.add(key);
        out.push(s);
      }
    }
    return out.slice(0, MAX_AREAS);
  }

  /** A topic as a question: a question heading is asked as it is. */
  function topicQuestion(topic) {
    const t = String(topic).trim();
    if (/\?$/.test(t)) return t;
    return `What does the report say about ${lowerFirst(t)}?`;
  }

  function lowerFirst(s) {
    // "Conclusion" reads "conclusion"; an abbreviation ("HMIC's ...") keeps its capitals.
    return /^[A-Z][a-z]/.test(s) ? s.charAt(0).toLowerCase() + s.slice(1) : s;
  }

  function shortLabel(heading) {
    return /\?$/.test(heading.trim()) ? shortQuestion(heading) : clip(heading);
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

  function norm(s) {
    return String(s || "").replace(/\s+/g, " ").trim().toLowerCase();
  }

  /** A quote as shown: no bullet, list number or inline markup left at its edges. */
  function cleanQuote(q) {
    return String(q || "")
      .replace(/^\s*(?:[-*•▪◦‣]|\(?\d{1,2}[.)])\s+/, "")
      .replace(/\*\*|__|`/g, "")
      .trim();
  }

  /**
   * The answer read into parts: the direct reply, each quote (with the citation it is), and any
   * other text (a generated answer's own wording) with its markers. Every citation ends up
   * shown as a quote once.
   */
  function answerParts(ex) {
    const text = ex.answer.replace(FROM_RE, "");
    const segments = [];
    const re = /\[(\d{1,2})\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      const n = Number(m[1]);
      if (!ex.citations[n - 1]) continue;
      const before = text.slice(last, m.index);
      if (!before.trim() && segments.length) segments[segments.length - 1].ns.push(n);
      else segments.push({ text: before.trim(), ns: [n] });
      last = m.index + m[0].length;
    }
    if (text.slice(last).trim()) segments.push({ text: text.slice(last).trim(), ns: [] });

    const parts = [];
    const shown = new Set();
    const reply = ex.reply ? norm(ex.reply).replace(/[.!]$/, "") : null;
    let replied = false;
    for (const seg of segments) {
      const t = norm(seg.text);
      if (reply && !replied && t.replace(/[.!]$/, "") === reply) {
        replied = true;
        continue;
      }
      const n = seg.ns.find((k) => norm(ex.citations[k - 1].quote) === t);
      if (n && !shown.has(n)) {
        shown.add(n);
        parts.push({ kind: "quote", n });
      } else if (!n && t) {
        parts.push({ kind: "text", text: seg.text, ns: seg.ns });
      }
    }
    ex.citations.forEach((_, i) => {
      if (!shown.has(i + 1)) parts.push({ kind: "quote", n: i + 1 });
    });
    return { reply: ex.reply, parts };
  }

  /** Whether citation c's quote is a list item of its section (known once sections arrive). */
  function blockKind(c) {
    const s = sectionOf(c.doc, c.section);
    if (!s || !Array.isArray(s.blocks)) return "paragraph";
    const at = String(s.text || "").indexOf(c.quote);
    if (at < 0) return "paragraph";
    const b = s.blocks.find((x) => x.start <= at && at < x.end);
    return b ? b.kind : "paragraph";
  }

  function answerNodes(ex) {
    const { reply, parts } = answerParts(ex);
    const out = [];
    if (reply) out.push(h("p", { class: "reply" }, reply));
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (p.kind === "text") {
        out.push(h("p", { class: "text" }, inlineNodes(ex, p.text + p.ns.map((n) => ` [${n}]`).join(""))));
        continue;
      }
      // Quotes in a row from one section are one quotation under one caption; its list items
      // are a list.
      const c = ex.citations[p.n - 1];
      const run = [p.n];
      while (parts[i + 1] && parts[i + 1].kind === "quote" && sameSection(ex.citations[parts[i + 1].n - 1], c)) {
        run.push(parts[++i].n);
      }
      const body = [];
      let list = null;
      for (const n of run) {
        const q = cleanQuote(ex.citations[n - 1].quote);
        if (blockKind(ex.citations[n - 1]) === "list_item") {
          if (!list) body.push((list = h("ul")));
          list.append(h("li", {}, q, " ", marker(ex, n)));
        } else {
          list = null;
          body.push(h("p", {}, "“" + q + "” ", marker(ex, n)));
        }
      }
      out.push(h("figure", { class: "quote" }, h("blockquote", {}, body), caption(ex, c)));
    }
    return out;
  }

  function sameSection(a, b) {
    return a && b && a.doc === b.doc && a.section === b.section;
  }

  function pathOf(c) {
    const path = Array.isArray(c.path) && c.path.length ? c.path : [c.heading];
    return path.join(" › ");
  }

  function caption(ex, c) {
    const d = docOf(c.doc);
    const title = c.title || d.title;
    return h(
      "figcaption",
      {},
      manyReports() ? h("span", { class: "cap-title" }, title + (d.date && !title.includes(d.date) ? ` (${d.date})` : "")) : null,
      h("span", { class: "cap-path" }, pathOf(c) + (c.page ? ` · page ${c.page}` : ""))
    );
  }

  /** A [n] marker: a button opening citation n, previewing its quote on hover and focus. */
  function marker(ex, n) {
    const c = ex.citations[n - 1];
    return h(
      "button",
      {
        type: "button",
        class: "ref",
        "data-focus": `ref-${n}`,
        "aria-label": `Source ${n}: ${c.heading}`,
        "aria-describedby": "pq-preview",
        onclick: (e) => openCitation(ex, n - 1, e.currentTarget),
        onmouseenter: (e) => showPreview(e.currentTarget, c),
        onmouseleave: hidePreviewSoon,
        onfocus: (e) => showPreview(e.currentTarget, c),
        onblur: hidePreview,
      },
      String(n)
    );
  }

  /** Text with each valid [n] marker turned into a marker button. */
  function inlineNodes(ex, text) {
    const out = [];
    const re = /\[(\d{1,2})\]/g;
    let last = 0;
    let m;
    while ((m = re.exec(text))) {
      const n = Number(m[1]);
      if (!ex.citations[n - 1]) continue;
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(marker(ex, n));
      last = m.index + m[0].length;
    }
    out.push(text.slice(last));
    return out;
  }

  // ---- the quote preview --------------------------------------------------------------------

  function showPreview(anchor, c) {
    clearTimeout(previewTimer);
    const p = ui.preview;
    p.replaceChildren(
      h("span", { class: "pv-path" }, pathOf(c) + (c.page ? ` · page ${c.page}` : "")),
      h("span", { class: "pv-quote" }, "“" + cleanQuote(c.quote) + "”")
    );
    p.hidden = false;
    const r = anchor.getBoundingClientRect();
    const w = Math.min(340, window.innerWidth - 16);
    p.style.width = w + "px";
    p.style.left = Math.max(8, Math.min(r.left, window.innerWidth - w - 8)) + "px";
    const below = r.bottom + 6;
    const height = p.offsetHeight;
    p.style.top = (below + height > window.innerHeight - 8 ? Math.max(8, r.top - height - 6) : below) + "px";
  }

  function hidePreviewSoon() {
    clearTimeout(previewTimer);
    // Long enough to move the pointer onto the preview itself (WCAG 1.4.13: hoverable).
    previewTimer = setTimeout(hidePreview, 200);
  }

  function keepPreview() {
    clearTimeout(previewTimer);
  }

  function hidePreview() {
    clearTimeout(previewTimer);
    ui.preview.hidden = true;
  }

  // ---- per-answer actions -------------------------------------------------------------------
  function actions(ex) {
    const fb = ex.feedback;
    const row = h(
      "div",
      { class: "actions", role: "group", "aria-label": "This answer" },
      h("button", { type: "button", class: "act", "data-focus": "copy", onclick: (e) => copyAnswer(ex, e.currentTarget) }, icon(ICON_COPY, 16), "Copy"),
      h(
        "button",
        { type: "button", class: "act fb-up", "data-focus": "up", "aria-label": "Good answer", "aria-pressed": String(!!fb && fb.rating === "up"), onclick: () => rate(ex, "up") },
        icon(ICON_UP, 16)
      ),
      h(
        "button",
        { type: "button", class: "act fb-down", "data-focus": "down", "aria-label": "Bad answer", "aria-pressed": String(!!fb && fb.rating === "down"), onclick: () => rate(ex, "down") },
        icon(ICON_DOWN, 16)
      ),
      h("span", { class: "act-status", role: "status" }, fb && fb.sent ? "Thanks for the feedback." : fb && fb.error ? fb.error : "")
    );
    if (!fb || fb.sent) return row;
    const id = "pq-fb-" + ex.id;
    const reason = h("textarea", {
      id,
      class: "fb-reason",
      rows: "2",
      maxlength: "2000",
      "data-focus": "reason",
      onkeydown: (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          sendFeedback(ex, reason.value);
        }
      },
    });
    reason.value = fb.comment || "";
    reason.addEventListener("input", () => {
      fb.comment = reason.value;
    });
    const form = h(
      "div",
      { class: "fb-form", "data-for": ex.id },
      h("label", { for: id }, fb.rating === "up" ? "What was useful? (optional)" : "What was wrong or missing? (optional)"),
      reason,
      h(
        "div",
        { class: "fb-buttons" },
        h("button", { type: "button", class: "retry", "data-focus": "fb-send", onclick: () => sendFeedback(ex, reason.value) }, "Send feedback"),
        h("button", { type: "button", class: "back", onclick: () => { ex.feedback = null; save(); updateExchange(ex, { keepScroll: true }); } }, "Cancel")
      )
    );
    return h("div", {}, row, form);
  }

  function rate(ex, rating) {
    if (ex.feedback && ex.feedback.sent) return;
    ex.feedback = { rating, comment: (ex.feedback && ex.feedback.comment) || "", sent: false };
    save();
    updateExchange(ex, { keepScroll: true });
    const reason = ui.log.querySelector(`[data-id="${ex.id}"] .fb-reason`);
    if (reason) reason.focus();
  }

  async function sendFeedback(ex, comment) {
    const fb = ex.feedback;
    if (!fb || fb.sent) return;
    const body = { answer_id: ex.answerId, rating: fb.rating };
    const text = String(comment || "").trim();
    if (text) body.comment = cut(text, 2000);
    try {
      const res = await fetch(cfg.api + "/v1/feedback", {
        method: "POST",
        headers: apiHeaders({ "Content-Type": "application/json" }),
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
      if (!res.ok) throw new Problem(`The feedback could not be saved (error ${res.status}).`);
      ex.feedback = { rating: fb.rating, comment: text, sent: true };
    } catch (err) {
      fb.error = err instanceof Problem ? err.message : "Can't reach the server to send the feedback.";
    }
    save();
    updateExchange(ex, { keepScroll: true });
    const btn = ui.log.querySelector(`[data-id="${ex.id}"] ${fb.rating === "up" ? ".fb-up" : ".fb-down"}`);
    if (btn) btn.focus();
  }

  /** One answer as plain text: the reply, the quotes, then the sources as footnotes. */
  function answerText(ex, first = 1) {
    const { reply, parts } = answerParts(ex);
    const lines = [];
    if (reply) lines.push(reply.replace(/[.!]?$/, "."), "");
    const numbers = new Map();
    const note = (n) => {
      if (!numbers.has(n)) numbers.set(n, first + numbers.size);
      return `[${numbers.get(n)}]`;
    };
    for (const p of parts) {
      if (p.kind === "text") {
        lines.push(p.text + p.ns.map((n) => " " + note(n)).join(""), "");
      } else {
        const c = ex.citations[p.n - 1];
        const bullet = blockKind(c) === "list_item" ? "• " : "";
        lines.push(`${bullet}“${cleanQuote(c.quote)}” ${note(p.n)}`, "");
      }
    }
    const notes = [...numbers.entries()].map(([n, k]) => `[${k}] ${footnote(ex.citations[n - 1])}`);
    return { text: lines.join("\n").trim(), notes, count: numbers.size };
  }

  function footnote(c) {
    const d = docOf(c.doc);
    const title = c.title || d.title;
    const date = d.date && !title.includes(d.date) ? ` (${d.date})` : "";
    return `${title}${date}, ${pathOf(c)}${c.page ? `, page ${c.page}` : ""}`;
  }

  async function copyAnswer(ex, btn) {
    const { text, notes } = answerText(ex);
    const clean = notes.length ? `${text}\n\n${notes.join("\n")}\n` : text + "\n";
    const status = btn.parentElement.querySelector(".act-status");
    try {
      await navigator.clipboard.writeText(clean);
      status.textContent = "Copied, with its sources.";
    } catch (_) {
      status.textContent = "The browser did not allow copying.";
    }
  }

  /**
   * Questions worth asking next: the sections the answer names (a judgments row "Investigating
   * crime: Requires improvement" names the area's own section), the cited sections' own
   * subsections, then their neighbours.
   */
  function followUps(ex) {
    if (!state.sections || !ex.citations.length) return [];
    const asked = askedQuestions();
    const cited = new Set(ex.citations.map((c) => c.doc + "\u0000" + c.section));
    const picks = [];
    const seen = new Set();
    const add = (s) => {
      if (!s || s.section === "intro" || cited.has(s.doc + "\u0000" + s.section)) return;
      const d = docOf(s.doc);
      if (!hasText(d, s)) return;
      const question = sectionQuestion(s);
      const key = norm(question);
      if (seen.has(key) || asked.has(key)) return;
      seen.add(key);
      picks.push({ label: sectionLabel(s), question });
    };
    const said = norm(ex.citations.map((c) => c.quote).join(" "));
    for (const c of ex.citations) {
      for (const s of docOf(c.doc).sections) {
        if ((s.level || 1) <= 2 && s.heading.length >= 8 && said.includes(norm(s.heading))) add(s);
      }
    }
    for (const c of ex.citations) {
      const d = docOf(c.doc);
      const i = d.sections.findIndex((s) => s.section === c.section);
      if (i < 0) continue;
      const s = d.sections[i];
      const level = s.level || 1;
      for (const child of d.sections.slice(i + 1)) {
        if ((child.level || 1) <= level) break;
        if ((child.level || 1) === level + 1) add(child);
      }
      const siblings = d.sections.filter((x) => (x.level || 1) === level && samePrefix(x, s));
      const j = siblings.indexOf(s);
      add(siblings[j + 1]);
      if (j > 0) add(siblings[j - 1]);
      // Past the last of its siblings: the next area of the report.
      const parentNext = d.sections.slice(i + 1).find((x) => (x.level || 1) < level);
      add(parentNext);
    }
    return picks.slice(0, MAX_FOLLOW_UPS);
  }

  /** A section's short name; a heading the report repeats names its area too. */
  function sectionLabel(s) {
    const parent = repeatedParent(s);
    return parent ? `${clip(s.heading)} (${shortLabel(parent)})` : shortLabel(s.heading.replace(/^Finding \d+:\s*/i, ""));
  }

  function repeatedParent(s) {
    const d = docOf(s.doc);
    const repeated = d.sections.filter((x) => norm(x.heading) === norm(s.heading)).length > 1;
    const path = s.path || [];
    return repeated && path.length > 1 ? path[path.length - 2] : "";
  }

  function hasText(d, s) {
    return (s.text || "").trim() || d.sections.some((x) => (x.level || 1) > (s.level || 1) && samePrefix(x, s, (s.level || 1)));
  }

  /** Whether two sections share their heading path above `depth` (siblings share all but the last). */
  function samePrefix(a, b, depth) {
    const pa = a.path || [a.heading];
    const pb = b.path || [b.heading];
    const n = depth === undefined ? (pb.length || 1) - 1 : depth;
    for (let k = 0; k < n; k++) if (pa[k] !== pb[k]) return false;
    return true;
  }

  /** A section as a question: its own heading if it is one; a heading the report repeats
   * ("Areas for improvement") names the area it sits in. */
  function sectionQuestion(s) {
    const heading = s.heading.trim();
    if (heading.endsWith("?")) return heading;
    const parent = repeatedParent(s);
    const area = parent ? ` in ${lowerFirst(parent.replace(/\?$/, ""))}` : "";
    return `What does the report say about ${lowerFirst(heading.replace(/^Finding \d+:\s*/i, ""))}${area}?`;
  }

  function askedQuestions() {
    return new Set(state.exchanges.map((e) => norm(e.q)));
  }

  /** "Q2 · Investigating crime"-style short forms of question headings. */
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
    s = clip(s);
    return s.charAt(0).toUpperCase() + s.slice(1);
  }

  function clip(s) {
    if (s.length <= LABEL_CHARS) return s;
    const head = s.slice(0, LABEL_CHARS);
    const space = head.lastIndexOf(" ");
    return (space > 12 ? head.slice(0, space) : head) + "…";
  }

  function scrollToEnd() {
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  // ---- exporting the conversation -----------------------------------------------------------
  function exportTitle() {
    return ui.title.textContent || "peelqa conversation";
  }

  /** The conversation as Markdown: questions, replies, quotes and numbered footnotes. */
  function conversationMarkdown() {
    const out = [`# ${exportTitle()}`, "", `Exported ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC from ${location.href}`, ""];
    const notes = [];
    for (const ex of state.exchanges) {
      if (ex.status !== "done") continue;
      out.push(`## ${ex.q.replace(/\s+/g, " ")}`, "");
      if (!ex.answered) {
        out.push(ex.answer.replace(FROM_RE, ""), "");
        continue;
      }
      const a = answerText(ex, notes.length + 1);
      for (const line of a.text.split("\n")) {
        const isQuote = line.startsWith("“") || line.startsWith("• “");
        out.push(isQuote ? "> " + line.replace(/\[(\d+)\]$/, "[^$1]") : line.replace(/\[(\d+)\]/g, "[^$1]"));
      }
      out.push("");
      notes.push(...a.notes);
    }
    if (notes.length) {
      out.push("---", "");
      for (const n of notes) out.push(n.replace(/^\[(\d+)\] /, "[^$1]: "));
      out.push("");
    }
    return out.join("\n");
  }

  function exportMarkdown() {
    const blob = new Blob([conversationMarkdown()], { type: "text/markdown;charset=utf-8" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `peelqa-conversation-${new Date().toISOString().slice(0, 10)}.md`, hidden: true });
    root.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    ui.exportMenu.querySelector(".pop-status").textContent = "Markdown file downloaded.";
  }

  /** A printable page of the conversation, with every source as a numbered footnote. */
  function exportPrint() {
    const w = window.open("", "_blank");
    const status = ui.exportMenu.querySelector(".pop-status");
    if (!w) {
      status.textContent = "The browser blocked the printable page: allow pop-ups for this site.";
      return;
    }
    const doc = w.document;
    const e = make(doc);
    doc.title = exportTitle();
    doc.documentElement.lang = "en";
    doc.head.append(e("meta", { charset: "utf-8" }), e("style", {}, PRINT_CSS));
    const notes = [];
    const items = [];
    for (const ex of state.exchanges) {
      if (ex.status !== "done") continue;
      const block = [e("h2", {}, ex.q)];
      if (!ex.answered) {
        block.push(e("p", {}, ex.answer.replace(FROM_RE, "")));
      } else {
        const a = answerText(ex, notes.length + 1);
        for (const para of a.text.split("\n").filter(Boolean)) {
          block.push(para.startsWith("“") || para.startsWith("• “") ? e("blockquote", {}, para) : e("p", { class: "reply" }, para));
        }
        notes.push(...a.notes);
      }
      items.push(e("section", {}, block));
    }
    doc.body.append(
      e("main", {}, e("h1", {}, exportTitle()), e("p", { class: "meta" }, `Printed ${new Date().toLocaleString()} from ${location.href}`), items,
        notes.length ? e("section", { class: "notes" }, e("h2", {}, "Sources"), e("ol", {}, notes.map((n) => e("li", {}, n.replace(/^\[\d+\] /, ""))))) : null)
    );
    status.textContent = "Printable page opened.";
    w.focus();
    w.print();
  }

  const PRINT_CSS = `
body { font: 11pt/1.5 Georgia, "Times New Roman", serif; color: #000; margin: 2cm; }
h1 { font-size: 18pt; } h2 { font-size: 13pt; margin-top: 1.4em; }
blockquote { margin: .4em 0 .4em 1.2em; padding-left: .8em; border-left: 3px solid #888; }
.reply { font-weight: bold; } .meta { color: #444; font-size: 9pt; }
.notes { margin-top: 2em; border-top: 1px solid #888; font-size: 9.5pt; }
`;

  // ---- the source panel ---------------------------------------------------------------------

  function noteOpener(opener) {
    if (ui.viewer.hidden) viewerReturn = opener || null;
  }

  /** Wide windows show the source beside the chat; narrower ones as a sheet over it. */
  function sideBySide() {
    const q = cfg.mode === "page" ? "(min-width: 900px)" : "(min-width: 1000px)";
    return window.matchMedia ? window.matchMedia(q).matches : false;
  }

  async function openCitation(ex, index, opener) {
    const cite = ex.citations[index];
    if (!cite) return;
    hidePreview();
    const quotes = ex.citations.filter((c) => sameSection(c, cite)).map((c) => c.quote);
    noteOpener(opener);
    await openSection({ doc: cite.doc, section: cite.section, heading: cite.heading, quotes, active: cite.quote, page: cite.page });
  }

  async function openSection({ doc, section, heading, quotes, active, page, back }) {
    showViewer({ heading }, h("p", { class: "muted" }, "Loading the section…"), back);
    let sec;
    try {
      const res = await fetch(`${cfg.api}/v1/sections/${encodeURIComponent(doc)}/${encodeURIComponent(section)}`, {
        headers: apiHeaders({}),
        signal: AbortSignal.timeout(cfg.timeoutMs),
      });
      if (!res.ok) throw await httpError(res);
      sec = await res.json();
    } catch (err) {
      const again = () => openSection({ doc, section, heading, quotes, active, page, back });
      showViewer(
        { heading },
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
    const firstPage = page || ((sec.blocks || []).find((b) => b.page) || {}).page || null;
    const body = h("div", { class: "section-text" }, sectionNodes(sec, quotes || [], active));
    showViewer({ heading: sec.heading, doc: sec.doc, path: sec.path, title: sec.title, page: firstPage }, body, back);
    const mark = body.querySelector("mark.active") || body.querySelector("mark");
    if (mark) {
      // Scroll only the panel (scrollIntoView could scroll the host page as well).
      const pane = body.parentElement;
      const top = mark.getBoundingClientRect().top - pane.getBoundingClientRect().top + pane.scrollTop;
      pane.scrollTop = Math.max(0, top - pane.clientHeight / 3);
    }
  }

  function showViewer(info, content, back) {
    const v = ui.viewer;
    const side = sideBySide();
    const d = info.doc ? docOf(info.doc) : null;
    // h2 in both modes: under the page's h1 beside the chat's title, and as a modal sheet the
    // chat's own h2 is inert and no longer counts.
    const title = h("h2", { id: "pq-viewer-title", class: "viewer-title", tabindex: "-1" }, info.heading);
    const backBtn = h(
      "button",
      { type: "button", class: "back", onclick: () => (back ? back() : closeViewer()) },
      back ? "← All sections" : !side ? "← Back to chat" : info.doc ? "Close source" : "Close"
    );
    const path = Array.isArray(info.path) && info.path.length > 1 ? info.path.slice(0, -1).join(" › ") : "";
    const reportTitle = info.title || (d && d.title) || "";
    const pdf = info.page && info.doc
      ? h(
          "a",
          { class: "pdf-link", href: `${cfg.api}/v1/documents/${encodeURIComponent(info.doc)}/file#page=${info.page}`, target: "_blank", rel: "noopener" },
          `Open the original PDF at page ${info.page}`
        )
      : null;
    v.replaceChildren(
      h(
        "div",
        { class: "viewer-head" },
        backBtn,
        reportTitle ? h("p", { class: "viewer-report" }, h("span", { class: "vr-title" }, reportTitle), d && d.date ? h("span", { class: "vr-date" }, d.date) : null) : null,
        path ? h("p", { class: "viewer-path" }, path) : null,
        title,
        pdf
      ),
      h("div", { class: "viewer-body", tabindex: "0", role: "document", "aria-label": "Section text" }, content)
    );
    const wasHidden = v.hidden;
    v.hidden = false;
    setViewerMode(side);
    // Focus the new heading when the panel opens or its old content (and focus) went away.
    if (wasHidden || !v.contains(root.activeElement)) title.focus();
  }

  function setViewerMode(side) {
    const v = ui.viewer;
    ui.frame.classList.add("viewing");
    ui.frame.classList.toggle("side", side);
    ui.frame.classList.toggle("sheet", !side);
    ui.scrim.hidden = side;
    // As a sheet it is a modal dialog: the chat behind it is inert until it closes.
    if (side) {
      v.removeAttribute("role");
      v.removeAttribute("aria-modal");
    } else {
      v.setAttribute("role", "dialog");
      v.setAttribute("aria-modal", "true");
    }
    ui.chat.inert = !side;
    ui.head.inert = !side;
  }

  function trapFocus(e) {
    if (e.key !== "Tab" || sideBySide()) return;
    const items = [...ui.viewer.querySelectorAll("button, a[href], [tabindex]")].filter((x) => x.checkVisibility());
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const active = root.activeElement;
    if (e.shiftKey && (active === first || active === ui.viewer.querySelector(".viewer-title"))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && active === last) {
      e.preventDefault();
      first.focus();
    }
  }

  function closeViewer({ restoreFocus = true } = {}) {
    if (ui.viewer.hidden) return;
    ui.viewer.hidden = true;
    ui.viewer.replaceChildren();
    ui.scrim.hidden = true;
    ui.chat.inert = false;
    ui.head.inert = false;
    ui.frame.classList.remove("viewing", "side", "sheet");
    const back = viewerReturn;
    viewerReturn = null;
    if (!restoreFocus) return;
    if (back && back.isConnected) back.focus();
    else ui.input.focus();
  }

  if (window.matchMedia) {
    // Turning a phone or resizing a window moves an open panel between sheet and side.
    window.addEventListener("resize", () => {
      if (!ui.viewer.hidden) setViewerMode(sideBySide());
    });
  }

  /**
   * The section's blocks as text: paragraphs, list items as a list, table rows as rows; each
   * quote wrapped in <mark> (the active one too).
   */
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
    const blocks = Array.isArray(sec.blocks) && sec.blocks.length ? sec.blocks : paragraphsOf(text);
    let list = null;
    for (const b of blocks) {
      const kind = b.kind === "list_item" || b.kind === "table_row" ? b.kind : "paragraph";
      const node = h(kind === "paragraph" ? "p" : "li", {}, marked(text, b.start, b.end, ranges));
      if (kind === "paragraph") {
        list = null;
        out.push(node);
        continue;
      }
      if (!list || list.dataset.kind !== kind) {
        list = h("ul", { class: kind === "table_row" ? "rows" : "items", "data-kind": kind });
        out.push(list);
      }
      list.append(node);
    }
    return out;
  }

  function paragraphsOf(text) {
    const out = [];
    const para = /[^\n]+(?:\n(?!\s*\n)[^\n]*)*/g;
    let m;
    while ((m = para.exec(text))) out.push({ kind: "paragraph", start: m.index, end: m.index + m[0].length });
    return out;
  }

  function marked(text, start, end, ranges) {
    const out = [];
    let pos = start;
    for (const r of ranges) {
      if (r.end <= start || r.start >= end) continue;
      const a = Math.max(r.start, start);
      const b = Math.min(r.end, end);
      if (a > pos) out.push(text.slice(pos, a));
      if (b > pos) out.push(h("mark", { class: r.active ? "active" : null }, text.slice(Math.max(a, pos), b)));
      pos = Math.max(pos, b);
    }
    if (pos < end) out.push(text.slice(pos, end));
    return out;
  }

  // ---- the list of sections -----------------------------------------------------------------
  async function showSectionList(opener) {
    noteOpener(opener);
    showViewer({ heading: "Report sections" }, h("p", { class: "muted" }, "Loading…"));
    try {
      await loadSections();
    } catch (_) {
      showViewer(
        { heading: "Report sections" },
        h(
          "div",
          { class: "msg bot error" },
          h("p", { class: "problem", role: "alert" }, "Can't reach the server to list the sections."),
          h("button", { type: "button", class: "retry", onclick: () => showSectionList() }, "Try again")
        )
      );
      return;
    }
    const docs = visibleDocs();
    const lists = docs.map((d) =>
      h(
        "div",
        { class: "toc" },
        docs.length > 1 ? h("p", { class: "toc-doc" }, d.title + (d.date && !d.title.includes(d.date) ? ` (${d.date})` : "")) : null,
        h(
          "ul",
          {},
          d.sections.map((s) =>
            h(
              "li",
              { class: "lvl-" + Math.min(3, s.level || 1) },
              h(
                "button",
                {
                  type: "button",
                  class: "toc-item",
                  onclick: () => openSection({ doc: s.doc, section: s.section, heading: s.heading, quotes: [], back: () => showSectionList() }),
                },
                h("span", { class: "toc-id" }, /^q\d+$/.test(s.section) ? s.section.toUpperCase() : "§"),
                s.heading
              )
            )
          )
        )
      )
    );
    showViewer({ heading: "Report sections" }, h("div", {}, lists));
  }

  // ---- persistence within the browser session -----------------------------------------------
  function save() {
    try {
      const exchanges = state.exchanges.map((e) => ({
        id: e.id, q: e.q, status: e.status, answer: e.answer, answered: e.answered, citations: e.citations,
        error: e.error || "", reply: e.reply || null, suggestions: e.suggestions || [], answerId: e.answerId || "",
        mode: e.mode || "extractive", left: e.left || 0,
        feedback: e.feedback ? { rating: e.feedback.rating, comment: e.feedback.comment || "", sent: !!e.feedback.sent } : null,
      }));
      sessionStorage.setItem(storageKey, JSON.stringify({ exchanges, open: state.open, picked: state.picked }));
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
          reply: typeof e.reply === "string" ? e.reply : null,
          suggestions: Array.isArray(e.suggestions) ? e.suggestions.map(String) : [],
          answerId: String(e.answerId || ""),
          mode: e.mode === "generated" ? "generated" : "extractive",
          left: Number(e.left) || 0,
          feedback: e.feedback && (e.feedback.rating === "up" || e.feedback.rating === "down") ? e.feedback : null,
        };
        if (!["done", "error", "stopped"].includes(ex.status)) {
          // It was in flight when the page went away: keep the question, offer it again.
          ex.status = "error";
          ex.error = "The page was reloaded before the answer arrived. Your question is kept: try again.";
        }
        return ex;
      });
    if (Array.isArray(saved.picked)) state.picked = saved.picked.map(String);
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

  /** A font size that follows the text-size control (--k). */
  function fs(px) {
    return `calc(${px}px * var(--k, 1))`;
  }

  // All sizes in px, never rem: a host page's root font size must not resize the widget.
  // Colours meet WCAG AA (4.5:1 for text) in both themes: light #1d4ed8 on white 6.7:1,
  // #4b5563 on white 7.6:1; dark #93c5fd on #0f172a 10:1, #cbd5e1 on #1e293b 10:1.
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
  --k: 1;
  --bg: #ffffff; --text: #111827; --muted: #4b5563; --line: #d1d5db; --soft: #f3f4f6;
  --link: #1d4ed8; --accent: #1d4ed8; --on-accent: #ffffff; --accent-hover: #1e40af;
  --head-bg: #1e3a8a; --head-text: #ffffff; --head-soft: #dbeafe;
  --chip-bg: #eff6ff; --chip-line: #bfdbfe; --chip-text: #1e3a8a; --hover: #dbeafe;
  --mark: #fef08a; --mark-active: #fde047; --mark-ring: #a16207; --mark-text: #111827;
  --quote-bar: #93c5fd; --refusal-bg: #fff7ed; --refusal-line: #fdba74; --badge: #9a3412;
  --error-bg: #fef2f2; --error-line: #fca5a5; --problem: #991b1b; --focus: #1d4ed8;
  --shadow: rgba(17, 24, 39, .28);
  font: 400 ${fs(15)}/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Liberation Sans", sans-serif;
  color: var(--text);
  text-align: left;
  letter-spacing: normal;
  text-transform: none;
  -webkit-font-smoothing: antialiased;
}
.frame.dark {
  color-scheme: dark;
  --bg: #0f172a; --text: #e5e7eb; --muted: #cbd5e1; --line: #475569; --soft: #1e293b;
  --link: #93c5fd; --accent: #1d4ed8; --on-accent: #ffffff; --accent-hover: #1e40af;
  --head-bg: #020617; --head-text: #f1f5f9; --head-soft: #cbd5e1;
  --chip-bg: #172554; --chip-line: #3b82f6; --chip-text: #dbeafe; --hover: #1e3a8a;
  --mark: #713f12; --mark-active: #854d0e; --mark-ring: #facc15; --mark-text: #fefce8;
  --quote-bar: #60a5fa; --refusal-bg: #2a1606; --refusal-line: #c2410c; --badge: #fdba74;
  --error-bg: #330b0b; --error-line: #b91c1c; --problem: #fecaca; --focus: #93c5fd;
  --shadow: rgba(0, 0, 0, .6);
}
button, textarea, input, a { font: inherit; color: inherit; }
button { cursor: pointer; }
button:disabled { cursor: default; opacity: .55; }
:focus-visible { outline: 3px solid var(--focus); outline-offset: 2px; }
.sr { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }

/* floating mode: launcher plus panel */
.float .launcher {
  position: fixed; bottom: 20px; __SIDE__: 20px; z-index: 2147483000;
  display: inline-flex; align-items: center; gap: 8px;
  padding: 12px 18px; border: 2px solid transparent; border-radius: 999px;
  background: var(--accent); color: var(--on-accent); font-weight: 600; font-size: 15px;
  box-shadow: 0 6px 20px var(--shadow);
}
.float .launcher:hover { background: var(--accent-hover); }
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
  border-radius: 14px; box-shadow: 0 16px 48px var(--shadow);
}
.float.viewing.side .panel { width: 900px; }
@media (max-width: 480px) {
  .subtitle { display: none; }
  .page .head .title { font-size: ${fs(17)}; }
  .float .panel { inset: 0; width: 100vw; max-width: 100vw; height: 100%; max-height: none; border-radius: 0; }
  .float.is-open .launcher { display: none; }
}

/* page mode: the chat fills the window, in a readable column */
.page .panel { position: fixed; inset: 0; width: 100%; height: 100%; border: 0; border-radius: 0; }
.page .head, .page .log, .page .empty, .page .composer {
  padding-left: max(20px, calc((100% - 780px) / 2));
  padding-right: max(20px, calc((100% - 780px) / 2));
}
.page .head { padding-top: 16px; padding-bottom: 12px; }
.page .title { font-size: ${fs(21)}; }
.page .subtitle { font-size: ${fs(14)}; }

.panel {
  display: flex; flex-direction: column; overflow: hidden;
  background: var(--bg); color: var(--text); border: 1px solid var(--line);
}
.head { position: relative; padding: 12px 16px 10px; background: var(--head-bg); color: var(--head-text); }
.head-top { display: flex; align-items: flex-start; justify-content: space-between; gap: 12px; }
.head-text { min-width: 0; }
.title { margin: 0; font-size: ${fs(16)}; line-height: 1.35; font-weight: 700; overflow-wrap: anywhere; }
.subtitle { margin: 2px 0 0; font-size: ${fs(13)}; color: var(--head-soft); }
.head-actions { display: flex; flex-wrap: wrap; justify-content: space-between; gap: 6px 8px; margin-top: 8px; }
.tools, .prefs { display: flex; flex-wrap: wrap; gap: 6px; }
.hbtn {
  display: inline-flex; align-items: center; justify-content: center; gap: 4px; white-space: nowrap;
  min-height: 28px; padding: 3px 9px; border: 1px solid rgba(255, 255, 255, .55); border-radius: 8px;
  background: transparent; color: var(--head-text); font-size: ${fs(13)}; text-decoration: none;
}
.hbtn:hover { background: rgba(255, 255, 255, .16); }
.hbtn.icon-only { min-width: 28px; padding: 3px 5px; flex-shrink: 0; font-weight: 700; }
.hbtn[aria-pressed="true"] { background: rgba(255, 255, 255, .22); }
.hbtn svg { fill: none; stroke: currentColor; stroke-width: 2; stroke-linecap: round; }
.head :focus-visible { outline-color: #ffffff; }
.popover {
  position: absolute; z-index: 5; top: calc(100% - 4px); left: 12px; right: 12px; max-width: 460px;
  padding: 10px 12px; border: 1px solid var(--line); border-radius: 10px;
  background: var(--bg); color: var(--text); box-shadow: 0 10px 30px var(--shadow);
}
.page .popover { left: max(20px, calc((100% - 780px) / 2)); }
.pop-label { margin: 0 0 6px; font-weight: 600; }
.pop-item {
  display: block; width: 100%; margin: 4px 0; padding: 8px 10px; text-align: left;
  border: 1px solid var(--line); border-radius: 8px; background: var(--bg); color: var(--link); font-size: ${fs(14)};
}
.pop-item:hover { background: var(--hover); }
.pop-status { margin: 4px 0 0; font-size: ${fs(13)}; color: var(--muted); }
.pop-status:empty { display: none; }
.pick-list { list-style: none; margin: 0 0 6px; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.pick-list li { display: flex; gap: 8px; align-items: flex-start; }
.pick-list input { width: 20px; height: 20px; margin: 2px 0 0; flex-shrink: 0; accent-color: var(--accent); }
.pick-list label { display: flex; flex-direction: column; }
.pick-date { font-size: ${fs(13)}; color: var(--muted); }

.body { position: relative; flex: 1; min-height: 0; display: flex; }
.float.right .body { flex-direction: row-reverse; }
.chat { flex: 1; min-width: 0; display: flex; flex-direction: column; overflow: hidden; }
.float.viewing.side .chat { flex: 0 0 398px; }
.log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 14px; }
.log:focus-visible { outline-offset: -3px; }
.empty { padding: 16px 16px 0; }
.empty-lead { margin: 0 0 10px; color: var(--muted); }

.exchange { display: flex; flex-direction: column; gap: 8px; }
.msg { max-width: 92%; padding: 10px 14px; border-radius: 14px; overflow-wrap: anywhere; white-space: pre-wrap; }
.msg p { margin: 0; }
.msg.user { align-self: flex-end; background: var(--accent); color: var(--on-accent); border-bottom-right-radius: 4px; }
.msg.bot { align-self: flex-start; width: 92%; background: var(--soft); color: var(--text); border-bottom-left-radius: 4px; white-space: normal; border: 1px solid transparent; }
.answer.streaming, .partial { white-space: pre-wrap; }
.answer { display: flex; flex-direction: column; gap: 10px; }
.reply { font-size: ${fs(17)}; font-weight: 700; }
.text { margin: 0; }
.quote { margin: 0; padding: 2px 0 2px 12px; border-left: 3px solid var(--quote-bar); }
.quote blockquote { margin: 0; display: flex; flex-direction: column; gap: 6px; }
.quote ul { margin: 0; padding-left: 20px; display: flex; flex-direction: column; gap: 4px; }
figcaption { margin-top: 4px; font-size: ${fs(13)}; color: var(--muted); display: flex; flex-direction: column; }
.cap-title { font-weight: 600; }
.note { font-size: ${fs(13)}; color: var(--muted); margin-bottom: 6px !important; }
.msg.bot.pending { display: flex; align-items: center; gap: 10px; color: var(--muted); }
.dots { display: inline-flex; gap: 4px; }
.dots i { width: 7px; height: 7px; border-radius: 50%; background: var(--muted); animation: pq-blink 1.2s infinite ease-in-out; }
.dots i:nth-child(2) { animation-delay: .2s; }
.dots i:nth-child(3) { animation-delay: .4s; }
@keyframes pq-blink { 0%, 80%, 100% { opacity: .25; } 40% { opacity: 1; } }
@media (prefers-reduced-motion: reduce) { .dots i { animation: none; } }

.ref {
  display: inline-flex; align-items: center; justify-content: center;
  min-width: 24px; min-height: 24px; margin: 0 1px; padding: 0 6px; vertical-align: middle;
  border: 1px solid var(--quote-bar); border-radius: 6px; background: var(--bg); color: var(--link);
  font-size: ${fs(13)}; font-weight: 700; line-height: 1;
}
.ref:hover, .chip:hover, .starter:hover { background: var(--hover); }
.chips, .ask-buttons { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 6px; }
.chip {
  min-height: 28px; padding: 3px 10px; border: 1px solid var(--chip-line); border-radius: 999px;
  background: var(--chip-bg); color: var(--chip-text); font-size: ${fs(13)}; font-weight: 600; text-align: left;
}
.areas, .suggestions, .follow-ups { margin-top: 10px; }
.msg.bot.refusal { background: var(--refusal-bg); border-color: var(--refusal-line); }
.msg.bot.error, .msg.bot.stopped { background: var(--error-bg); border-color: var(--error-line); }
.msg.bot.stopped { background: var(--soft); border-color: var(--line); }
.problem { color: var(--problem); }
.stopped .problem { color: var(--muted); }
.partial { color: var(--muted); margin-bottom: 6px !important; }
.retry {
  margin-top: 8px; min-height: 32px; padding: 4px 12px; border: 1px solid var(--link); border-radius: 8px;
  background: var(--bg); color: var(--link); font-weight: 600; font-size: ${fs(14)};
}
.retry:hover { background: var(--hover); }

.actions { display: flex; flex-wrap: wrap; align-items: center; gap: 6px; margin-top: 10px; }
.act {
  display: inline-flex; align-items: center; gap: 5px; min-height: 30px; min-width: 30px; padding: 3px 9px;
  border: 1px solid var(--line); border-radius: 8px; background: var(--bg); color: var(--text); font-size: ${fs(13)};
}
.act svg { fill: none; stroke: currentColor; stroke-width: 1.8; stroke-linejoin: round; }
.act:hover { background: var(--hover); }
.act[aria-pressed="true"] { border-color: var(--link); color: var(--link); background: var(--chip-bg); }
.act[aria-pressed="true"] svg { fill: currentColor; fill-opacity: .25; }
.act-status { font-size: ${fs(13)}; color: var(--muted); }
.fb-form { display: flex; flex-direction: column; gap: 6px; margin-top: 8px; }
.fb-form label { font-size: ${fs(13)}; color: var(--muted); }
.fb-reason {
  width: 100%; resize: vertical; padding: 6px 10px; border: 1px solid var(--muted); border-radius: 8px;
  background: var(--bg); color: var(--text); font-size: max(16px, ${fs(14)});
}
.fb-buttons { display: flex; gap: 8px; align-items: center; }
.fb-buttons .retry { margin-top: 0; }

.starters, .suggestions, .follow-ups { display: flex; flex-direction: column; align-items: flex-start; }
.starters-label { margin: 0; font-size: ${fs(13)}; color: var(--muted); }
.refusal .starters-label { color: var(--text); }
.starter {
  min-height: 32px; padding: 5px 12px; border: 1px solid var(--chip-line); border-radius: 10px;
  background: var(--bg); color: var(--link); font-size: ${fs(14)}; text-align: left;
}
.starters .ask-buttons { flex-direction: column; align-items: flex-start; }

.composer { border-top: 1px solid var(--line); padding: 10px 12px 8px; background: var(--bg); }
.row { display: flex; align-items: flex-end; gap: 8px; }
/* 16 px at least: iPhone Safari zooms into any smaller input. */
.input {
  flex: 1; min-width: 0; resize: none; max-height: 160px;
  padding: 8px 12px; border: 1px solid var(--muted); border-radius: 10px;
  background: var(--bg); color: var(--text); line-height: 1.4; font-size: max(16px, ${fs(15)});
}
.input::placeholder { color: var(--muted); opacity: 1; }
.input:focus-visible { outline: 3px solid var(--focus); outline-offset: 0; border-color: var(--focus); }
.send, .stop { flex-shrink: 0; height: 40px; border-radius: 10px; font-weight: 600; }
.send { width: 44px; display: inline-flex; align-items: center; justify-content: center; border: 2px solid transparent; background: var(--accent); color: var(--on-accent); }
.send svg { fill: currentColor; }
.send:disabled { background: #6b7280; opacity: 1; }
.stop { padding: 0 14px; border: 1px solid var(--problem); background: var(--bg); color: var(--problem); }
.hint { margin: 6px 2px 0; font-size: ${fs(12)}; color: var(--muted); }

/* the source panel: beside the chat on wide screens, a sheet over it on narrow ones */
.viewer { display: flex; flex-direction: column; background: var(--bg); color: var(--text); min-width: 0; }
.side .viewer { flex: 1; border-left: 1px solid var(--line); border-right: 1px solid var(--line); }
.page.side .viewer { flex: 0 0 min(560px, 46%); }
.sheet .viewer {
  position: absolute; left: 0; right: 0; bottom: 0; top: 8%; z-index: 3;
  border-top: 1px solid var(--line); border-radius: 14px 14px 0 0; box-shadow: 0 -12px 32px var(--shadow);
}
.scrim { position: absolute; inset: 0; z-index: 2; background: rgba(15, 23, 42, .45); }
.viewer-head { padding: 10px 16px 10px; border-bottom: 1px solid var(--line); }
.viewer-report { margin: 8px 0 0; font-size: ${fs(13)}; color: var(--muted); display: flex; flex-wrap: wrap; gap: 0 8px; }
.vr-title { font-weight: 600; }
.viewer-path { margin: 2px 0 0; font-size: ${fs(13)}; color: var(--muted); }
.viewer-title { margin: 4px 0 0; font-size: ${fs(16)}; line-height: 1.35; border-radius: 4px; }
/* Focus is moved here when the panel opens: it must show, by keyboard or pointer alike. */
.viewer-title:focus { outline: 3px solid var(--focus); outline-offset: 2px; }
.pdf-link { display: inline-block; margin-top: 6px; color: var(--link); font-size: ${fs(14)}; font-weight: 600; }
.viewer-body { position: relative; flex: 1; overflow-y: auto; padding: 4px 16px 16px; }
.viewer-body:focus-visible { outline-offset: -3px; }
.back { min-height: 30px; padding: 3px 10px; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); color: var(--link); font-size: ${fs(14)}; font-weight: 600; }
.back:hover { background: var(--hover); }
.muted { color: var(--muted); }
.section-text p { margin: 12px 0; }
.section-text ul { margin: 12px 0; padding-left: 22px; display: flex; flex-direction: column; gap: 6px; }
.section-text ul.rows { list-style: none; padding-left: 0; gap: 0; }
.section-text ul.rows li { padding: 5px 0; border-bottom: 1px solid var(--line); }
mark { background: var(--mark); color: var(--mark-text); padding: 1px 0; border-radius: 2px; }
mark.active { background: var(--mark-active); outline: 2px solid var(--mark-ring); }
.toc ul { list-style: none; margin: 8px 0; padding: 0; display: flex; flex-direction: column; gap: 6px; }
.toc .lvl-2 { padding-left: 16px; }
.toc .lvl-3 { padding-left: 32px; }
.toc-doc { margin: 12px 0 0; font-weight: 700; }
.toc-item {
  display: flex; gap: 10px; width: 100%; padding: 8px 12px; text-align: left;
  border: 1px solid var(--line); border-radius: 10px; background: var(--bg); color: var(--text); font-size: ${fs(14)};
}
.toc-item:hover { background: var(--hover); }
.toc-id { flex-shrink: 0; min-width: 26px; font-weight: 700; color: var(--link); }

.preview {
  position: fixed; z-index: 2147483002; display: flex; flex-direction: column; gap: 4px;
  padding: 8px 10px; border: 1px solid var(--line); border-radius: 8px;
  background: var(--bg); color: var(--text); box-shadow: 0 8px 24px var(--shadow); font-size: ${fs(14)};
}
.pv-path { font-size: ${fs(12)}; color: var(--muted); }

/* Short windows (a laptop at 200% zoom): the header gives its room to the conversation. */
@media (max-height: 560px) {
  .subtitle, .hint { display: none; }
  .head, .page .head { padding-top: 6px; padding-bottom: 6px; }
  .head-top { align-items: center; }
  .title, .page .title { font-size: ${fs(15)}; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
  .head-actions { margin-top: 4px; }
  .hbtn { min-height: 24px; padding: 1px 7px; }
  .hbtn.icon-only { min-width: 24px; padding: 1px 4px; }
  .float .panel { bottom: 72px; max-height: calc(100vh - 84px); }
  .float .launcher { bottom: 12px; padding: 10px 14px; }
  .composer { padding-top: 6px; padding-bottom: 6px; }
  .empty-lead { display: none; }
}

/* Forced colours (Windows high contrast): system colours, and every boundary drawn as a line. */
@media (forced-colors: active) {
  :focus-visible, .viewer-title:focus { outline: 3px solid Highlight; }
  .panel, .msg, .hbtn, .chip, .starter, .ref, .act, .retry, .back, .toc-item, .pop-item, .send, .launcher, .input, .preview, .popover {
    border: 1px solid CanvasText;
  }
  mark, mark.active { forced-color-adjust: none; background: Highlight; color: HighlightText; outline-color: CanvasText; }
  .quote { border-left-color: CanvasText; }
  .scrim { background: transparent; }
}
`;
  }
})();
