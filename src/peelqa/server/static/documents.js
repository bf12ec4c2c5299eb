/*
 * peelqa's reports page (GET /documents): the reports the chat answers from, and, with an
 * admin key, adding and removing them while the server runs. Plain JavaScript, no framework,
 * nothing from a CDN. Report titles and errors are inserted as text, never as HTML.
 */
(() => {
  "use strict";

  const KEY_STORE = "peelqa.documents.key";
  const POLL_MS = 1000;
  const $ = (id) => document.getElementById(id);
  const ui = {
    list: $("list"), caption: $("list-caption"), rows: $("rows"), loadError: $("load-error"),
    key: $("key"), keySave: $("key-save"), keyForget: $("key-forget"),
    form: $("add"), file: $("file"), replace: $("replace"), send: $("send"),
    upload: $("upload-progress"), addError: $("add-error"), addDone: $("add-done"), live: $("live"),
  };
  let key = sessionStorage.getItem(KEY_STORE) || "";
  let timer = null;
  let statuses = new Map(); // doc -> status, to announce changes

  function headers() {
    return key ? { Authorization: "Bearer " + key } : {};
  }

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

  async function errorOf(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch (_) { /* not the error shape */ }
    return "The server answered " + response.status + ".";
  }

  function announce(text) {
    ui.live.textContent = "";
    window.setTimeout(() => { ui.live.textContent = text; }, 50);
  }

  // ---- the list ----------------------------------------------------------------------------
  async function load() {
    let docs;
    try {
      const r = await fetch("/v1/documents", { headers: headers() });
      if (!r.ok) throw new Error(await errorOf(r));
      docs = await r.json();
    } catch (e) {
      ui.loadError.textContent = "Could not load the reports: " + e.message;
      schedule(5 * POLL_MS);
      return;
    }
    ui.loadError.textContent = "";
    render(docs);
    const busy = docs.some((d) => d.status === "indexing");
    if (busy) schedule(POLL_MS);
  }

  function schedule(ms) {
    window.clearTimeout(timer);
    timer = window.setTimeout(load, ms);
  }

  function render(docs) {
    const ready = docs.filter((d) => d.status === "ready").length;
    ui.caption.textContent = docs.length
      ? `${docs.length} report${docs.length === 1 ? "" : "s"}, ${ready} answering`
      : "No reports yet.";
    ui.list.hidden = false;
    ui.rows.replaceChildren(...docs.map(row));
    const next = new Map(docs.map((d) => [d.doc, d.status]));
    for (const d of docs) {
      const was = statuses.get(d.doc);
      if (was && was !== d.status) {
        announce(d.status === "ready" ? `${d.title} is ready.` :
          d.status === "failed" ? `${d.title} could not be indexed: ${d.error || ""}` :
          `${d.title} is being indexed.`);
      }
    }
    statuses = next;
  }

  function row(d) {
    const status = h("td", {},
      h("span", { class: "status-" + d.status }, { indexing: "Indexing", ready: "Ready", failed: "Failed" }[d.status] || d.status));
    if (d.status === "indexing") {
      const bar = h("progress", { max: "1", "aria-label": `Indexing ${d.title}` });
      if (typeof d.progress === "number" && d.progress > 0) bar.value = d.progress;
      status.append(bar);
    }
    if (d.error) status.append(h("p", { class: "error" }, d.error));
    const remove = key
      ? h("button", {
          type: "button", class: "quiet", "aria-label": `Remove ${d.title}`,
          onclick: () => removeDoc(d),
        }, "Remove")
      : null;
    return h("tr", {},
      h("td", {}, h("div", {}, d.title), h("div", { class: "id" }, d.doc)),
      h("td", {}, d.format.toUpperCase()),
      h("td", { class: "num" }, d.pages == null ? "–" : String(d.pages)),
      h("td", { class: "num" }, String(d.sections)),
      status,
      h("td", {}, remove));
  }

  // ---- removing ----------------------------------------------------------------------------
  async function removeDoc(d) {
    if (!window.confirm(`Remove “${d.title}” (${d.doc})? The chat stops citing it at once.`)) return;
    const r = await fetch("/v1/documents/" + encodeURIComponent(d.doc), {
      method: "DELETE", headers: headers(),
    });
    if (r.status === 204) {
      announce(`${d.title} was removed.`);
      ui.addDone.textContent = `Removed ${d.doc}.`;
      ui.addError.textContent = "";
    } else {
      ui.addError.textContent = "Could not remove it: " + (await errorOf(r));
    }
    load();
  }

  // ---- adding ------------------------------------------------------------------------------
  function send(event) {
    event.preventDefault();
    const file = ui.file.files && ui.file.files[0];
    ui.addError.textContent = "";
    ui.addDone.textContent = "";
    if (!file) {
      ui.addError.textContent = "Choose a report file first.";
      ui.file.focus();
      return;
    }
    const body = new FormData();
    body.append("file", file, file.name);
    // XMLHttpRequest, not fetch: only it reports the upload's progress.
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/documents" + (ui.replace.checked ? "?replace=true" : ""));
    for (const [k, v] of Object.entries(headers())) xhr.setRequestHeader(k, v);
    ui.send.disabled = true;
    ui.upload.hidden = false;
    ui.upload.value = 0;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) ui.upload.value = e.loaded / e.total; };
    xhr.onerror = () => finish("The upload did not reach the server.");
    xhr.onload = () => {
      let reply = null;
      try { reply = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 202 || xhr.status === 201) {
        finish(null, xhr.status === 201
          ? `${reply.doc} is already in the chat, unchanged.`
          : `${reply.doc} was added and is being indexed.`);
      } else {
        finish((reply && reply.error && reply.error.message) || `The server answered ${xhr.status}.`);
      }
    };
    xhr.send(body);
  }

  function finish(error, done) {
    ui.send.disabled = false;
    ui.upload.hidden = true;
    if (error) {
      ui.addError.textContent = error;
    } else {
      ui.addDone.textContent = done;
      ui.form.reset();
    }
    load();
  }

  // ---- the key -----------------------------------------------------------------------------
  function useKey(value) {
    key = value.trim();
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
    ui.key.value = key;
    announce(key ? "Key in use for this tab." : "Key forgotten.");
    load();
  }

  ui.keySave.addEventListener("click", () => useKey(ui.key.value));
  ui.keyForget.addEventListener("click", () => useKey(""));
  ui.key.addEventListener("keydown", (e) => { if (e.key === "Enter") useKey(ui.key.value); });
  ui.key.value = key;
  ui.form.addEventListener("submit", send);
  load();
})();
