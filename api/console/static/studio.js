// Template studio editor: CodeMirror per part, live preview, inline findings, publish, history.
"use strict";
(function () {
  var config = JSON.parse(document.getElementById("studio-config").textContent);
  var LABELS = { subject: "Subject", txt: "Text", html: "HTML", mrkdwn: "Slack" };
  var editors = {};
  var marked = [];
  var active = config.parts[0];
  var timer = null;

  function modeFor(part) {
    var jinja = { open: "{{", close: "}}", mode: CodeMirror.getMode({}, "jinja2"), parseDelimiters: true };
    var block = { open: "{%", close: "%}", mode: CodeMirror.getMode({}, "jinja2"), parseDelimiters: true };
    var note = { open: "{#", close: "#}", mode: CodeMirror.getMode({}, "jinja2"), parseDelimiters: true };
    var base = part === "html" ? "text/html" : "text/plain";
    return CodeMirror.multiplexingMode(CodeMirror.getMode({}, base), jinja, block, note);
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  var tabs = document.getElementById("part-tabs");
  var holder = document.getElementById("editors");
  config.parts.forEach(function (part) {
    var tab = el("button", { type: "button", role: "tab", "data-part": part, "aria-selected": String(part === active) }, LABELS[part] || part);
    tabs.appendChild(tab);
    var box = el("div", { "class": "editor", "data-part": part });
    if (part !== active) { box.hidden = true; }
    holder.appendChild(box);
    var source = (config.draft && config.draft[part] !== undefined) ? config.draft[part] : config.sources[part];
    editors[part] = CodeMirror(box, {
      value: source, mode: modeFor(part), lineNumbers: true, lineWrapping: true, readOnly: !config.mayEdit,
      viewportMargin: Infinity, extraKeys: { Tab: false, "Shift-Tab": false },
    });
    editors[part].on("change", schedule);
  });
  tabs.addEventListener("click", function (event) {
    var part = event.target.getAttribute("data-part");
    if (part) { show(part); }
  });

  function show(part) {
    active = part;
    Array.prototype.forEach.call(tabs.children, function (t) { t.setAttribute("aria-selected", String(t.getAttribute("data-part") === part)); });
    Array.prototype.forEach.call(holder.children, function (b) { b.hidden = b.getAttribute("data-part") !== part; });
    editors[part].refresh();
  }

  function parts() {
    var out = {};
    Object.keys(editors).forEach(function (p) { out[p] = editors[p].getValue(); });
    return out;
  }

  function edited() {
    // Only parts that differ from what is in force now become the draft.
    var all = parts();
    var out = {};
    Object.keys(all).forEach(function (p) {
      if (all[p] !== config.sources[p] || (config.draft && config.draft[p] !== undefined)) { out[p] = all[p]; }
    });
    return out;
  }

  function url(path, query) {
    var parts = [query, config.scope].filter(Boolean);
    return config.api + path + (parts.length ? "?" + parts.join("&") : "");
  }

  function call(method, path, body) {
    return fetch(url(path), {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": config.csrf },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  function contactId() {
    var value = document.getElementById("contact").value;
    return value ? parseInt(value, 10) : null;
  }

  function refresh() {
    return call("POST", "/preview", { parts: parts(), contact_id: contactId() }).then(function (res) {
      if (!res.ok) { showFindings([{ severity: "error", part: active, line: null, message: (res.data.error || {}).message || "preview failed" }]); return; }
      // While an error stands the last good preview stays, so the marketer keeps their bearings.
      if (!res.data.findings.some(function (f) { return f.severity === "error"; })) { render(res.data); }
      showFindings(res.data.findings);
    });
  }

  function render(data) {
    var subject = document.getElementById("preview-subject");
    if (subject) { subject.textContent = data.subject || ""; }
    var frame = document.getElementById("preview-html");
    if (frame) { frame.srcdoc = data.html || ""; }
    var text = document.getElementById("preview-text");
    if (text) {
      if (config.channel === "slack") {
        try { text.textContent = JSON.parse(data.text).text; } catch (e) { text.textContent = data.text; }
      } else { text.textContent = data.text; }
    }
    var inApp = document.getElementById("preview-in-app");
    if (inApp) { inApp.textContent = data.text; }
    var bubble = document.getElementById("preview-sms");
    if (bubble && data.sms) {
      bubble.textContent = "";
      Array.from(data.sms.text).forEach(function (ch) {
        if (data.sms.ucs2_characters.indexOf(ch) >= 0) { bubble.appendChild(el("mark", { title: "forces UCS-2" }, ch)); }
        else { bubble.appendChild(document.createTextNode(ch)); }
      });
      var counter = document.getElementById("sms-counter");
      counter.textContent = data.sms.segments + " segment" + (data.sms.segments === 1 ? "" : "s") + " · " + data.sms.encoding + " · " + data.sms.units + " units" +
        (data.sms.ucs2_characters.length ? " · UCS-2 because of: " + data.sms.ucs2_characters.join(" ") : "");
      counter.className = "counter" + (data.sms.segments > 2 ? " over" : "");
    }
  }

  function showFindings(findings) {
    var box = document.getElementById("findings");
    box.textContent = "";
    marked.forEach(function (m) { m.cm.removeLineClass(m.line, "background", m.cls); });
    marked = [];
    var visible = findings.filter(function (f) { return f.severity !== "note" || config.channel === "sms"; });
    if (!visible.length) { box.appendChild(el("p", { "class": "ok" }, "No problems found.")); return; }
    var list = el("ul", { "class": "findings" });
    visible.forEach(function (f) {
      var where = (LABELS[f.part] || f.part) + (f.line ? ", line " + f.line : "");
      var item = el("li", { "class": f.severity, "data-code": f.code });
      var jump = el("button", { type: "button", "class": "link" }, where);
      jump.addEventListener("click", function () {
        if (!editors[f.part]) { return; }
        show(f.part);
        if (f.line) { editors[f.part].setCursor({ line: f.line - 1, ch: (f.column || 1) - 1 }); }
        editors[f.part].focus();
      });
      item.appendChild(el("span", { "class": "sev" }, f.severity));
      item.appendChild(jump);
      item.appendChild(document.createTextNode(": " + f.message));
      list.appendChild(item);
      if (f.line && editors[f.part] && f.severity !== "note") {
        var cls = f.severity === "error" ? "line-error" : "line-warning";
        editors[f.part].addLineClass(f.line - 1, "background", cls);
        marked.push({ cm: editors[f.part], line: f.line - 1, cls: cls });
      }
    });
    box.appendChild(list);
  }

  function say(message, tone) {
    var box = document.getElementById("findings");
    var p = el("p", { "class": tone || "notice", role: "status" }, message);
    box.insertBefore(p, box.firstChild);
  }

  function on(id, handler) { var node = document.getElementById(id); if (node) { node.addEventListener("click", handler); } }

  on("save", function () {
    call("POST", "/draft", { parts: edited() }).then(function (res) {
      if (res.ok) { config.draft = res.data.draft; showFindings(res.data.findings); say("Draft saved."); setDraftBadge(true); }
      else { say(res.data.error.message, "error"); }
    });
  });
  on("discard", function () {
    call("POST", "/discard", {}).then(function () { window.location.reload(); });
  });
  on("publish", function () {
    var note = document.getElementById("note").value;
    call("POST", "/draft", { parts: edited() }).then(function (saved) {
      if (!saved.ok) { say(saved.data.error.message, "error"); return; }
      call("POST", "/publish", { note: note || null }).then(function (res) {
        if (res.ok) {
          config.sources = parts(); config.draft = null; setDraftBadge(false);
          document.getElementById("status").textContent = "edited v" + res.data.version;
          say("Published version " + res.data.version + ".", "notice published");
          loadHistory();
        } else {
          showFindings(res.data.error.findings || []);
          say("Not published: " + res.data.error.message, "error");
        }
      });
    });
  });
  on("revert", function () {
    if (!window.confirm("Publish the default text as a new version? The history keeps every version.")) { return; }
    call("POST", "/revert", {}).then(function () { window.location.reload(); });
  });
  on("test-send", function () {
    var to = document.getElementById("test-to");
    call("POST", "/test-send", { parts: parts(), contact_id: contactId(), to: to ? to.value : null }).then(function (res) {
      var out = document.getElementById("test-result");
      out.textContent = res.ok ? "Test sent to " + res.data.sent_to + " (" + res.data.channel + ")." : "Not sent: " + res.data.error.message;
      out.className = res.ok ? "ok" : "error";
    });
  });
  on("locale-go", function () {
    var input = document.getElementById("locale-pick");
    if (input.value.trim()) { window.location = input.getAttribute("data-base") + encodeURIComponent(input.value.trim()); }
  });
  document.getElementById("contact").addEventListener("change", refresh);
  var scope = document.getElementById("scope");
  if (scope) {
    scope.addEventListener("change", function () {
      window.location = window.location.pathname + (scope.value ? "?campaign_id=" + scope.value : "");
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("button.insert"), function (b) {
    b.addEventListener("click", function () {
      if (!config.mayEdit) { return; }
      editors[active].replaceSelection("{{ " + b.getAttribute("data-name") + " }}");
      editors[active].focus();
    });
  });
  var views = document.getElementById("view-tabs");
  if (views) {
    views.addEventListener("click", function (event) {
      var view = event.target.getAttribute("data-view");
      if (!view) { return; }
      Array.prototype.forEach.call(views.children, function (t) { t.setAttribute("aria-selected", String(t === event.target)); });
      document.getElementById("frame-wrap").hidden = view === "text";
      document.getElementById("frame-wrap").className = "frame " + view;
      document.getElementById("preview-text").hidden = view !== "text";
    });
  }

  function setDraftBadge(on) {
    var badge = document.getElementById("draft-badge");
    if (on && !badge) {
      badge = el("span", { "class": "badge warn", id: "draft-badge" }, "draft pending");
      document.getElementById("status").after(badge);
    } else if (!on && badge) { badge.remove(); }
  }

  function loadHistory() {
    fetch(url("/history"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      var list = document.getElementById("history");
      list.textContent = "";
      if (!data.items.length) { list.appendChild(el("li", {}, "Never edited: the shipped default is in use.")); return; }
      data.items.forEach(function (v, i) {
        var item = el("li");
        item.appendChild(el("strong", {}, "v" + v.version + " "));
        item.appendChild(el("span", {}, (v.action !== "edit" ? v.action + " · " : "") + (v.note || "no note")));
        item.appendChild(el("small", { "class": "muted" }, " — " + v.author + ", " + (v.published_at || "").slice(0, 16).replace("T", " ")));
        var row = el("div", { "class": "row" });
        var earlier = i + 1 < data.items.length ? String(data.items[i + 1].version) : "default";
        [["Diff vs previous", earlier], ["Diff vs default", "default"]].forEach(function (pair) {
          var b = el("button", { type: "button", "class": "secondary small" }, pair[0]);
          b.addEventListener("click", function () { showDiff(pair[1], String(v.version)); });
          row.appendChild(b);
        });
        if (config.mayEdit && i > 0) {
          var back = el("button", { type: "button", "class": "secondary small" }, "Roll back to v" + v.version);
          back.addEventListener("click", function () {
            call("POST", "/rollback", { version: v.version, note: null }).then(function (res) {
              if (res.ok) { window.location.reload(); } else { say(res.data.error.message, "error"); }
            });
          });
          row.appendChild(back);
        }
        item.appendChild(row);
        list.appendChild(item);
      });
    });
  }

  function showDiff(from, to) {
    fetch(url("/diff", "before=" + from + "&after=" + to), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      var box = document.getElementById("diff");
      box.hidden = false;
      box.textContent = "";
      var names = Object.keys(data.parts);
      if (!names.length) { box.textContent = "No differences."; return; }
      names.forEach(function (part) {
        data.parts[part].split("\n").forEach(function (line) {
          var cls = line.charAt(0) === "+" ? "add" : (line.charAt(0) === "-" ? "del" : "");
          box.appendChild(el("span", { "class": cls }, line + "\n"));
        });
      });
    });
  }

  loadHistory();
  refresh();
})();
