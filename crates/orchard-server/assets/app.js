// Orchard studio: the one script of the web UI. Plain JavaScript, no build step.
// Pages are rendered on the server; this script sends what the person does to the
// JSON API and puts the HTML the server renders back into the page. It never turns
// model output into HTML itself: every fragment it inserts was rendered and sanitised
// on the server.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const csrf = () => $('meta[name="csrf-token"]').content;
const S = (() => {
  const t = $("#strings");
  try { return JSON.parse(t ? t.dataset.json : "{}"); } catch { return {}; }
})();

// ---- API --------------------------------------------------------------------------

class ApiError extends Error {
  constructor(code, message) { super(message); this.code = code; }
}

async function api(method, url, body, raw) {
  const opts = { method, headers: { "x-csrf-token": csrf() } };
  if (body !== undefined) {
    if (raw) { opts.body = body; opts.headers["content-type"] = "application/octet-stream"; }
    else { opts.body = JSON.stringify(body); opts.headers["content-type"] = "application/json"; }
  }
  let resp;
  try { resp = await fetch(url, opts); }
  catch { throw new ApiError("network", "Orchard is not answering. Is `orchard serve` still running?"); }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const e = data.error || {};
    throw new ApiError(e.code || "http_" + resp.status, e.message || (S.error_generic + " (" + resp.status + ")"));
  }
  return data;
}

function notice(text, where) {
  const el = where || $("#notice");
  if (!el) return;
  el.textContent = text || "";
}

function fragment(html) {
  const t = document.createElement("template");
  t.innerHTML = html;
  return t.content;
}

// ---- Conversation -----------------------------------------------------------------

const chat = () => $("#chat");
const messages = () => $("#messages");
const live = new Map(); // reply id -> EventSource

function setLeaf(id) { if (chat() && id) chat().dataset.leaf = String(id); }

function updateStopButton() {
  const stop = $("#stop");
  if (stop) stop.hidden = live.size === 0;
}

function replaceMessage(id, html) {
  const old = document.getElementById("m" + id);
  if (!old) return;
  old.replaceWith(fragment(html));
  linkCitations();
}

// Turns the `[n]` markers of answers with sources into links to the cited passages.
// Works on the rendered (sanitised) DOM's text nodes: model text is never parsed as
// HTML here, each link is built element by element.
function linkCitations(root) {
  $$("article.msg", root || document).forEach((art) => {
    const links = {};
    $$(".sources a[data-cite]", art).forEach((a) => { links[a.dataset.cite] = a; });
    const body = $(".body", art);
    if (!body || !Object.keys(links).length) return;
    const walk = document.createTreeWalker(body, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walk.nextNode()) nodes.push(walk.currentNode);
    for (const node of nodes) {
      if (node.parentElement.closest("a, code, pre") || !/\[\d+\]/.test(node.data)) continue;
      const out = document.createDocumentFragment();
      for (const part of node.data.split(/(\[\d+\])/)) {
        const m = /^\[(\d+)\]$/.exec(part);
        const src = m && links[m[1]];
        if (src) {
          const a = document.createElement("a");
          a.href = src.getAttribute("href"); a.className = "cite"; a.textContent = part;
          a.title = src.textContent;
          out.appendChild(a);
        } else if (part) out.appendChild(document.createTextNode(part));
      }
      node.replaceWith(out);
    }
  });
}

// Follows one answer: the server sends the rendered text as it grows and, at the end,
// the final message. Reloading the page or opening a second tab re-attaches here.
function follow(id) {
  if (live.has(id)) return;
  const es = new EventSource("/api/v1/messages/" + id + "/stream");
  live.set(id, es);
  updateStopButton();
  es.addEventListener("update", (ev) => {
    const d = JSON.parse(ev.data);
    const el = document.getElementById("m" + id);
    if (!el) return;
    el.dataset.status = d.status;
    el.classList.remove("status-pending");
    el.classList.add("status-" + d.status);
    $(".body", el).innerHTML = d.html;
    if (d.thinking_html) {
      const th = $("details.thinking", el);
      if (th) { th.hidden = false; $(".thinking-body", th).innerHTML = d.thinking_html; }
    }
  });
  es.addEventListener("done", (ev) => {
    es.close();
    live.delete(id);
    replaceMessage(id, JSON.parse(ev.data).html);
    updateStopButton();
  });
  es.onerror = () => {
    // The server closes the stream after "done"; a broken connection is retried by
    // the browser, which re-attaches to the same answer.
    if (!document.getElementById("m" + id)) { es.close(); live.delete(id); updateStopButton(); }
  };
}

function followOpen(root) {
  $$('article.msg[data-status="pending"], article.msg[data-status="streaming"]', root || document)
    .forEach((el) => follow(el.dataset.id));
}

function selectedModels() {
  return $$('#model-picker input[name="model"]:checked').map((i) => i.value);
}

function selectedBases() {
  return $$('#kb-picker input[name="kb"]:checked').map((i) => i.value);
}

function updateKbSummary() {
  const sum = $("#kb-summary");
  if (!sum) return;
  const names = $$('#kb-picker input[name="kb"]:checked').map((i) => i.parentElement.textContent.trim());
  sum.textContent = names.length ? "📚 " + names.join(", ") : S.knowledge;
}

function updateModelSummary() {
  const sum = $("#model-summary");
  if (!sum) return;
  const m = selectedModels();
  sum.textContent = m.length ? m.join(", ") : (S.models || "Models");
}

let attachments = [];

function readFile(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve({ name: file.name, data: String(r.result).split(",", 2)[1] || "" });
    r.onerror = () => reject(new ApiError("file", file.name + ": " + r.error));
    r.readAsDataURL(file);
  });
}

function showAttachments() {
  const ul = $("#attached");
  if (!ul) return;
  ul.textContent = "";
  attachments.forEach((a, i) => {
    const li = document.createElement("li");
    li.textContent = a.name + " ";
    const x = document.createElement("button");
    x.type = "button"; x.textContent = "×"; x.setAttribute("aria-label", (S.remove || "Remove") + " " + a.name);
    x.addEventListener("click", () => { attachments.splice(i, 1); showAttachments(); });
    li.appendChild(x);
    ul.appendChild(li);
  });
}

function startedTurn(res) {
  const box = messages();
  const empty = $(".empty", box);
  if (empty) empty.remove();
  box.appendChild(fragment(res.html));
  linkCitations(box);
  setLeaf(res.reply_ids[res.reply_ids.length - 1] || res.question_id);
  res.reply_ids.forEach(follow);
  box.scrollTop = box.scrollHeight;
}

async function send() {
  const ta = $("#composer-text");
  const text = ta.value;
  if (!text.trim() && attachments.length === 0) return;
  const c = chat();
  const body = {
    text,
    models: selectedModels(),
    attachments,
    knowledge: selectedBases().map(Number),
  };
  if (c.dataset.topic) body.topic_id = Number(c.dataset.topic);
  if (c.dataset.leaf) body.parent_id = Number(c.dataset.leaf);
  if (!c.dataset.topic && c.dataset.assistant) body.assistant_id = Number(c.dataset.assistant);
  $("#send").disabled = true;
  notice("");
  try {
    const res = await api("POST", "/api/v1/chat", body);
    ta.value = "";
    attachments = [];
    showAttachments();
    if (!c.dataset.topic) {
      c.dataset.topic = String(res.topic_id);
      history.replaceState(null, "", "/t/" + res.topic_id);
      showNewTopic(res.topic_id);
    }
    startedTurn(res);
  } catch (e) {
    notice(e.message);
  } finally {
    $("#send").disabled = false;
    ta.focus();
  }
}

// A topic started on this page: name it in the heading and list it in the sidebar.
async function showNewTopic(id) {
  try {
    const t = await api("GET", "/api/v1/topics/" + id);
    $("#topic-title").textContent = t.title;
    document.title = t.title + " · Orchard";
    const li = document.createElement("li");
    li.className = "topic current";
    li.dataset.topic = String(id);
    li.dataset.title = t.title;
    const a = document.createElement("a");
    a.href = "/t/" + id; a.textContent = t.title; a.setAttribute("aria-current", "page");
    li.appendChild(a);
    let ul = $(".sidebar ul.topics");
    if (!ul) {
      const empty = $(".sidebar .empty");
      ul = document.createElement("ul"); ul.className = "topics";
      if (empty) empty.replaceWith(ul);
    }
    if (ul) ul.insertBefore(li, ul.firstChild);
  } catch { /* the page shows it after the next load */ }
}

async function stopAll() {
  const ids = Array.from(live.keys());
  // Also answers another tab started: every open message on the page.
  $$('article.msg[data-status="pending"], article.msg[data-status="streaming"]').forEach((el) => {
    if (!ids.includes(el.dataset.id)) ids.push(el.dataset.id);
  });
  await Promise.all(ids.map((id) => api("POST", "/api/v1/messages/" + id + "/stop").catch(() => {})));
}

async function reloadConversation() {
  const c = chat();
  if (!c || !c.dataset.topic) return;
  const res = await api("GET", "/api/v1/topics/" + c.dataset.topic + "/messages");
  const box = messages();
  box.textContent = "";
  if (res.has_more) box.appendChild(olderButton());
  box.appendChild(fragment(res.html));
  linkCitations(box);
  box.dataset.hasMore = res.has_more ? "1" : "";
  box.dataset.oldest = res.oldest || "";
  const last = res.messages[res.messages.length - 1];
  setLeaf(last && last.message.id);
  followOpen(box);
}

function olderButton() {
  const b = document.createElement("button");
  b.type = "button"; b.id = "load-older"; b.className = "link"; b.textContent = S.load_older;
  return b;
}

let loadingOlder = false;
async function loadOlder() {
  const box = messages();
  if (loadingOlder || !box || !box.dataset.hasMore) return;
  loadingOlder = true;
  try {
    const res = await api("GET", "/api/v1/topics/" + chat().dataset.topic + "/messages?before=" + box.dataset.oldest);
    const before = box.scrollHeight;
    const btn = $("#load-older", box);
    if (btn) btn.remove();
    box.insertBefore(fragment(res.html), box.firstChild);
    linkCitations(box);
    if (res.has_more) box.insertBefore(olderButton(), box.firstChild);
    box.dataset.hasMore = res.has_more ? "1" : "";
    box.dataset.oldest = res.oldest || "";
    // Keep what the person was reading where it was.
    box.scrollTop += box.scrollHeight - before;
  } catch (e) {
    notice(e.message);
  } finally {
    loadingOlder = false;
  }
}

async function messageAction(btn) {
  const art = btn.closest("[data-id]");
  const id = art.dataset.id;
  const act = btn.dataset.act;
  notice("");
  try {
    if (act === "regenerate") {
      const res = await api("POST", "/api/v1/messages/" + id + "/regenerate", { models: [] });
      // The new answer takes the old one's place; the old one stays as a sibling.
      const target = art.dataset.role === "assistant" ? art : null;
      if (target) {
        target.replaceWith(fragment(res.html));
      } else {
        messages().appendChild(fragment(res.html));
      }
      setLeaf(res.reply_ids[res.reply_ids.length - 1]);
      res.reply_ids.forEach(follow);
    } else if (act === "switch") {
      await api("POST", "/api/v1/messages/" + btn.dataset.to + "/switch");
      await reloadConversation();
      const el = document.getElementById("m" + btn.dataset.to);
      if (el) { el.scrollIntoView({ block: "nearest" }); const b = $('[data-act="switch"]', el); if (b) b.focus(); }
    } else if (act === "delete") {
      if (!confirm(S.delete_message_confirm)) return;
      await api("DELETE", "/api/v1/messages/" + id);
      await reloadConversation();
    } else if (act === "copy") {
      const m = await api("GET", "/api/v1/messages/" + id);
      const text = m.message.blocks.filter((b) => b.kind === "text").map((b) => b.content).join("\n");
      await copyText(text);
      art.dataset.copied = "1";
      btn.title = S.copied;
    } else if (act === "edit") {
      startEdit(art);
    } else if (act === "divider") {
      const res = await api("POST", "/api/v1/topics/" + chat().dataset.topic + "/divider");
      messages().appendChild(fragment(res.html));
      const divs = $$(".divider", messages());
      setLeaf(divs[divs.length - 1].dataset.id);
    }
  } catch (e) {
    notice(e.message);
  }
}

async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const ta = document.createElement("textarea");
    ta.value = text; document.body.appendChild(ta); ta.select();
    document.execCommand("copy"); ta.remove();
  }
}

async function startEdit(art) {
  const m = await api("GET", "/api/v1/messages/" + art.dataset.id);
  const text = m.message.blocks.filter((b) => b.kind === "text").map((b) => b.content).join("\n");
  const body = $(".body", art);
  const form = document.createElement("form");
  form.className = "edit";
  const ta = document.createElement("textarea");
  ta.value = text; ta.rows = 4; ta.setAttribute("aria-label", S.edit);
  const save = document.createElement("button"); save.type = "submit"; save.textContent = S.save; save.className = "primary";
  const cancel = document.createElement("button"); cancel.type = "button"; cancel.textContent = S.cancel;
  form.append(ta, save, cancel);
  body.hidden = true;
  body.after(form);
  ta.focus();
  cancel.addEventListener("click", () => { form.remove(); body.hidden = false; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const res = await api("POST", "/api/v1/messages/" + art.dataset.id + "/edit", { text: ta.value, models: selectedModels() });
      // The edit is a new branch: what followed the old question is not on it.
      let next = art.nextElementSibling;
      while (next) { const n = next.nextElementSibling; next.remove(); next = n; }
      art.remove();
      startedTurn(res);
    } catch (e) {
      notice(e.message);
    }
  });
}

// ---- Sidebar ----------------------------------------------------------------------

async function topicAction(btn) {
  const li = btn.closest("li[data-topic]");
  const id = li.dataset.topic;
  const act = btn.dataset.topicAct;
  try {
    if (act === "rename") {
      const title = prompt(S.rename_prompt, li.dataset.title);
      if (title === null || !title.trim()) return;
      await api("PATCH", "/api/v1/topics/" + id, { title });
    } else if (act === "pin") {
      await api("PATCH", "/api/v1/topics/" + id, { pinned: !li.dataset.pinned });
    } else if (act === "tags") {
      const tags = prompt(S.tags_prompt, li.dataset.tags);
      if (tags === null) return;
      await api("PATCH", "/api/v1/topics/" + id, { tags: tags.split(",").map((t) => t.trim()).filter(Boolean) });
    } else if (act === "folder") {
      const name = prompt(S.folder_prompt, "");
      if (name === null) return;
      let folder = null;
      if (name.trim()) {
        const folders = await api("GET", "/api/v1/folders");
        const found = folders.find((f) => f.name === name.trim());
        folder = found ? found.id : (await api("POST", "/api/v1/folders", { name: name.trim() })).id;
      }
      await api("PATCH", "/api/v1/topics/" + id, { folder_id: folder });
    } else if (act === "delete") {
      if (!confirm(S.delete_topic_confirm)) return;
      await api("DELETE", "/api/v1/topics/" + id);
      if (chat() && chat().dataset.topic === id) { location.href = "/"; return; }
    }
    location.reload();
  } catch (e) {
    notice(e.message);
  }
}

let searchTimer = null;
let searchSeq = 0;
async function runSearch(q) {
  const list = $("#search-results");
  const seq = ++searchSeq;
  if (!q.trim()) { list.hidden = true; list.textContent = ""; return; }
  try {
    const hits = await api("GET", "/api/v1/search?q=" + encodeURIComponent(q));
    if (seq !== searchSeq) return; // A newer query is on its way.
    list.textContent = "";
    if (hits.length === 0) {
      const li = document.createElement("li"); li.className = "empty"; li.textContent = S.no_results; list.appendChild(li);
    }
    for (const h of hits) {
      const li = document.createElement("li");
      const a = document.createElement("a");
      a.href = h.url; a.dataset.message = h.message_id; a.className = "hit";
      const title = document.createElement("strong"); title.textContent = h.topic_title;
      const snip = document.createElement("span"); snip.className = "snippet";
      snip.innerHTML = h.snippet_html; // Escaped on the server; only <mark> added.
      a.append(title, snip);
      li.appendChild(a);
      list.appendChild(li);
    }
    list.hidden = false;
  } catch (e) {
    notice(e.message);
  }
}

async function jumpTo(a) {
  // The hit may be on another branch: make it current, then open it.
  try { await api("POST", "/api/v1/messages/" + a.dataset.message + "/switch"); } catch { /* opens anyway */ }
  location.href = a.href;
}

// ---- Settings ---------------------------------------------------------------------

function formValue(form, name) {
  const el = form.elements[name];
  return el ? el.value.trim() : "";
}

async function providerAction(btn) {
  const card = btn.closest("[data-provider]");
  const name = card.dataset.provider;
  const enc = encodeURIComponent(name);
  const out = $(".check-results", card);
  try {
    if (btn.dataset.providerAct === "check") {
      out.textContent = "…";
      const res = await api("POST", "/api/v1/providers/" + enc + "/check");
      out.textContent = "";
      for (const r of res) {
        const li = document.createElement("li");
        li.className = r.ok ? "ok" : "failed";
        li.textContent = (r.mask || name) + ": " + (r.ok ? S.key_ok + " (" + r.models + ")" : S.key_failed + " — " + r.reason);
        out.appendChild(li);
      }
      return;
    }
    if (btn.dataset.providerAct === "fetch") {
      out.textContent = "…";
      await api("POST", "/api/v1/providers/" + enc + "/models/fetch");
    } else if (btn.dataset.providerAct === "remove") {
      await api("DELETE", "/api/v1/providers/" + enc);
    } else if (btn.dataset.providerAct === "remove-key") {
      const mask = btn.closest("li").dataset.mask;
      await api("DELETE", "/api/v1/providers/" + enc + "/keys/" + encodeURIComponent(mask));
    }
    location.reload();
  } catch (e) {
    out.textContent = e.message;
  }
}

function numberOrNull(form, key) {
  if (!form.elements[key + "_on"].checked) return null;
  const v = form.elements[key].value;
  return v === "" ? null : Number(v);
}

async function saveAssistant(form) {
  const model = formValue(form, "model");
  let modelRef = null;
  if (model) {
    const models = await api("GET", "/api/v1/models");
    const m = models.find((x) => x.id === model);
    if (m) modelRef = { provider_id: m.provider_id, model_id: m.model };
  }
  const body = {
    name: formValue(form, "name"),
    emoji: formValue(form, "emoji") || null,
    system_prompt: form.elements.system_prompt.value,
    model: modelRef,
    temperature: numberOrNull(form, "temperature"),
    top_p: numberOrNull(form, "top_p"),
    max_tokens: numberOrNull(form, "max_tokens"),
    context_count: numberOrNull(form, "context_count"),
  };
  const id = form.dataset.assistant;
  try {
    const a = await api(id ? "PUT" : "POST", "/api/v1/assistants" + (id ? "/" + id : ""), body);
    if ($("fieldset.kb-use", form)) {
      const knowledge = $$('input[name="kb"]:checked', form).map((i) => Number(i.value));
      await api("PUT", "/api/v1/assistants/" + a.id + "/knowledge", { knowledge });
    }
    location.reload();
  } catch (e) {
    notice(e.message, $(".notice", form));
  }
}

function wireSettings() {
  const cat = $("#provider-catalogue");
  if (cat) {
    cat.addEventListener("change", () => {
      const custom = !cat.value;
      $("#provider-name").value = cat.value;
      $("#provider-protocol").disabled = !custom;
      $("#provider-url").disabled = !custom;
    });
  }
  const add = $("#add-provider");
  if (add) {
    add.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = { name: formValue(add, "name"), keys: [] };
      const key = formValue(add, "key");
      if (key) body.keys.push(key);
      if (!cat.value || cat.value !== body.name) {
        body.protocol = formValue(add, "protocol");
        body.base_url = formValue(add, "base_url");
      }
      try {
        await api("POST", "/api/v1/providers", body);
        location.reload();
      } catch (e) {
        notice(e.message, $("#provider-notice"));
      }
    });
  }
  $$("form.add-key").forEach((f) => f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = f.closest("[data-provider]").dataset.provider;
    try {
      await api("POST", "/api/v1/providers/" + encodeURIComponent(name) + "/keys", { key: formValue(f, "key") });
      location.reload();
    } catch (e) {
      $(".check-results", f.closest("[data-provider]")).textContent = e.message;
    }
  }));
  $$("input[data-model]").forEach((box) => box.addEventListener("change", async () => {
    const name = box.closest("[data-provider]").dataset.provider;
    try {
      await api("PUT", "/api/v1/providers/" + encodeURIComponent(name) + "/models/" + encodeURIComponent(box.dataset.model), { enabled: box.checked });
    } catch (e) {
      box.checked = !box.checked;
      $(".check-results", box.closest("[data-provider]")).textContent = e.message;
    }
  }));
  $$("form.assistant").forEach((f) => f.addEventListener("submit", (ev) => { ev.preventDefault(); saveAssistant(f); }));
  const prefs = $("#prefs");
  if (prefs) {
    prefs.addEventListener("change", async () => {
      await api("PUT", "/api/v1/settings", { theme: formValue(prefs, "theme"), language: formValue(prefs, "language") });
      location.reload();
    });
  }
  const imp = $("#import");
  if (imp) {
    imp.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const file = $("#import-file").files[0];
      const out = $("#import-result");
      if (!file) return;
      try {
        const res = await api("POST", "/api/v1/import", await file.arrayBuffer(), true);
        out.textContent = S.imported + " ";
        res.topic_ids.forEach((id, i) => {
          const a = document.createElement("a"); a.href = "/t/" + id; a.textContent = "#" + id;
          if (i) out.append(", ");
          out.appendChild(a);
        });
      } catch (e) {
        out.textContent = e.message;
      }
    });
  }
}

// ---- Wiring -----------------------------------------------------------------------

document.addEventListener("click", (ev) => {
  const t = ev.target;
  if (!(t instanceof Element)) return;
  const act = t.closest("[data-act]");
  if (act) { ev.preventDefault(); messageAction(act); return; }
  const tact = t.closest("[data-topic-act]");
  if (tact) { ev.preventDefault(); topicAction(tact); return; }
  const pact = t.closest("[data-provider-act]");
  if (pact) { ev.preventDefault(); providerAction(pact); return; }
  const aact = t.closest("[data-assistant-act]");
  if (aact) {
    ev.preventDefault();
    const f = aact.closest("form");
    if (confirm(S.delete + "?")) api("DELETE", "/api/v1/assistants/" + f.dataset.assistant).then(() => location.reload(), (e) => notice(e.message, $(".notice", f)));
    return;
  }
  const img = t.closest("button.ext-img");
  if (img) {
    // Outside images load only when the person asks for them.
    const el = document.createElement("img");
    el.src = img.dataset.src;
    el.alt = img.textContent;
    el.referrerPolicy = "no-referrer";
    img.replaceWith(el);
    return;
  }
  const hit = t.closest("a.hit");
  if (hit) { ev.preventDefault(); jumpTo(hit); return; }
  if (t.closest("#load-older")) { loadOlder(); return; }
  if (t.closest("#new-topic")) { location.href = "/"; }
});

document.addEventListener("keydown", (ev) => {
  const mod = ev.ctrlKey || ev.metaKey;
  if (mod && !ev.shiftKey && ev.key.toLowerCase() === "k") {
    ev.preventDefault();
    const s = $("#search"); if (s) { s.focus(); s.select(); }
  } else if (mod && ev.shiftKey && ev.key.toLowerCase() === "o") {
    ev.preventDefault();
    location.href = "/";
  } else if (ev.key === "Escape") {
    if (live.size || $('article.msg[data-status="streaming"], article.msg[data-status="pending"]')) {
      ev.preventDefault();
      stopAll();
    }
    const list = $("#search-results");
    if (list && !list.hidden && document.activeElement === $("#search")) list.hidden = true;
  }
});

function wireChat() {
  const ta = $("#composer-text");
  if (!ta) return;
  ta.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send(); }
  });
  $("#composer").addEventListener("submit", (ev) => { ev.preventDefault(); send(); });
  $("#stop").addEventListener("click", stopAll);
  $("#attach").addEventListener("change", async (ev) => {
    try {
      for (const f of ev.target.files) attachments.push(await readFile(f));
    } catch (e) { notice(e.message); }
    ev.target.value = "";
    showAttachments();
  });
  $$('#model-picker input[name="model"]').forEach((i) => i.addEventListener("change", updateModelSummary));
  updateModelSummary();
  $$('#kb-picker input[name="kb"]').forEach((i) => i.addEventListener("change", updateKbSummary));
  updateKbSummary();
  linkCitations();
  const searchBox = $("#search");
  // Debounced: one query per pause in typing, not one per key.
  searchBox.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => runSearch(searchBox.value), 150);
  });
  const box = messages();
  box.addEventListener("scroll", () => { if (box.scrollTop < 80) loadOlder(); });
  followOpen();
  const jump = chat().dataset.jump;
  const target = jump && document.getElementById("m" + jump);
  if (target) { target.classList.add("jumped"); target.scrollIntoView({ block: "center" }); }
  else box.scrollTop = box.scrollHeight;
  if (!jump) ta.focus();
}

// ---- Knowledge bases ---------------------------------------------------------------

function kbForm(form) {
  return {
    name: formValue(form, "name"),
    embedder: formValue(form, "embedder") || "none",
    chunk_size: Number(formValue(form, "chunk_size")),
    chunk_overlap: Number(formValue(form, "chunk_overlap")),
    rerank: formValue(form, "rerank") || null,
  };
}

// A document's row, replaced by a state at least as new (`onlyNew`: added if missing):
// a late answer never undoes a live update.
function putRow(d, onlyNew) {
  const old = document.getElementById("doc" + d.id);
  if (old && (onlyNew === true || Number(old.dataset.updated) > d.updated_at)) return;
  const row = fragment(d.html);
  if (old) old.replaceWith(row); else $("#docs").appendChild(row);
  const empty = $("#docs-empty");
  if (empty) empty.remove();
}

function kbHit(h) {
  const li = document.createElement("li");
  const a = document.createElement("a");
  a.href = h.url; a.textContent = h.label;
  const loc = h.passage.location;
  const where = document.createElement("p");
  where.className = "loc";
  where.textContent = [loc.page ? S.kb_page + " " + loc.page : "", loc.heading_path.length ? S.kb_section + ": " + loc.heading_path.join(" › ") : ""]
    .filter(Boolean).join(" · ");
  const why = document.createElement("p");
  why.className = "why";
  why.textContent = [
    S.kb_keyword + ": " + (h.keyword ? "#" + h.keyword.rank + " · BM25 " + h.keyword.bm25.toPrecision(3) : "—"),
    S.kb_vector + ": " + (h.vector ? "#" + h.vector.rank + " · cosine " + h.vector.cosine.toFixed(3) : "—"),
    h.rerank == null ? "" : S.kb_rerank_score + ": " + h.rerank.toFixed(3),
  ].filter(Boolean).join(" | ");
  const text = document.createElement("blockquote");
  text.textContent = h.passage.text;
  li.append(a, where, why, text);
  return li;
}

function wireKb() {
  const create = $("#kb-create");
  if (create) create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const kb = await api("POST", "/api/v1/kb", kbForm(create));
      location.href = "/kb/" + kb.id;
    } catch (e) { notice(e.message, $("#kb-notice")); }
  });
  const mark = $("mark#passage");
  if (mark) { mark.scrollIntoView({ block: "center" }); mark.focus({ preventScroll: true }); }
  const root = $("#kb");
  if (!root) return;
  const id = root.dataset.kb;
  const say = (t) => notice(t, $("#kb-notice"));
  // Live status: every document change of this base arrives here, rendered. Once
  // subscribed (and after a reconnection, or missed events), the page catches up with
  // what changed before.
  const catchUp = async () => {
    try { (await api("GET", "/api/v1/kb/" + id + "/documents?html=true")).forEach((d) => putRow(d)); }
    catch (e) { say(e.message); }
  };
  const ready = new Promise((resolve) => {
    const es = new EventSource("/api/v1/kb/events?kb=" + id);
    es.addEventListener("ready", () => { catchUp(); resolve(); });
    es.addEventListener("document", (ev) => putRow(JSON.parse(ev.data)));
    es.addEventListener("embedded", (ev) => {
      const d = JSON.parse(ev.data);
      const st = $("#doc" + d.document + " .st");
      if (st) st.textContent = S.kb_status_embedding + " " + d.done + "/" + d.total;
    });
    es.addEventListener("lagged", catchUp);
  });
  const add = async (body) => {
    say(S.kb_uploading);
    try {
      await ready;
      const res = await api("POST", "/api/v1/kb/" + id + "/documents", body);
      res.documents.forEach((d) => putRow(d, true));
      say(res.skipped.map((s) => s.join(": ")).join("; "));
      return true;
    } catch (e) { say(e.message); return false; }
  };
  $("#kb-files").addEventListener("change", async (ev) => {
    const files = [];
    try { for (const f of ev.target.files) files.push(await readFile(f)); }
    catch (e) { say(e.message); return; }
    ev.target.value = "";
    if (files.length) await add({ files });
  });
  const urls = $("#kb-urls");
  urls.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const list = urls.elements.urls.value.split("\n").map((u) => u.trim()).filter(Boolean);
    if (list.length && await add({ urls: list })) urls.reset();
  });
  const note = $("#kb-note");
  note.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (note.elements.note.value.trim() && await add({ note: note.elements.note.value })) note.reset();
  });
  root.addEventListener("click", async (ev) => {
    const btn = ev.target instanceof Element && ev.target.closest("[data-kb-act]");
    if (!btn) return;
    const row = btn.closest("tr[data-doc]");
    try {
      const act = btn.dataset.kbAct;
      if (act === "retry") putRow(await api("POST", "/api/v1/kb/documents/" + row.dataset.doc + "/retry"));
      else if (act === "remove" && confirm(S.kb_remove_confirm)) {
        await api("DELETE", "/api/v1/kb/documents/" + row.dataset.doc);
        row.remove();
      } else if (act === "reindex") await api("POST", "/api/v1/kb/" + id + "/reindex");
      else if (act === "delete" && confirm(S.kb_delete_confirm)) {
        await api("DELETE", "/api/v1/kb/" + id);
        location.href = "/kb";
      }
    } catch (e) { say(e.message); }
  });
  const search = $("#kb-search");
  search.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const out = $("#kb-hits");
    const q = new URLSearchParams({ q: formValue(search, "q"), mode: formValue(search, "mode"), top: formValue(search, "top") || "5" });
    try {
      const res = await api("GET", "/api/v1/kb/" + id + "/search?" + q);
      const mode = { hybrid: S.kb_mode_hybrid, keyword: S.kb_keyword, vector: S.kb_vector }[res.mode] || res.mode;
      $("#kb-search-mode").textContent = S.kb_mode + ": " + mode + (res.notes.length ? " — " + res.notes.join("; ") : "");
      out.textContent = "";
      if (!res.hits.length) { const li = document.createElement("li"); li.textContent = S.kb_no_hits; out.appendChild(li); }
      res.hits.forEach((h) => out.appendChild(kbHit(h)));
    } catch (e) { $("#kb-search-mode").textContent = e.message; }
  });
  const settings = $("#kb-settings");
  const confirmBtn = $("#kb-confirm");
  const save = async (confirmed) => {
    const body = kbForm(settings);
    if (confirmed) body.confirm = true;
    notice("", $("#kb-settings-notice"));
    try {
      await api("PATCH", "/api/v1/kb/" + id, body);
      location.reload();
    } catch (e) {
      if (e.code !== "embedder_change_cost") { notice(e.message, $("#kb-settings-notice")); return; }
      // The cost first; the change only when the person confirms it.
      $("#kb-cost").textContent = e.message;
      confirmBtn.hidden = false;
      confirmBtn.focus();
    }
  };
  settings.addEventListener("submit", (ev) => { ev.preventDefault(); save(false); });
  settings.addEventListener("change", () => { confirmBtn.hidden = true; $("#kb-cost").textContent = ""; });
  confirmBtn.addEventListener("click", () => save(true));
}

wireChat();
wireSettings();
wireKb();
