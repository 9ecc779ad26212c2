/*
 * Pulse in-app survey widget.
 *
 * Embed on any page of your product, for the signed-in user:
 *
 *   <script src="https://pulse.example.com/widget.js" async
 *           data-key="PUBLISHABLE_KEY" data-contact="USER_EXTERNAL_ID"
 *           data-signature="HMAC_SHA256_HEX_OF_EXTERNAL_ID"></script>
 *
 * or call PulseWidget.init({key, contact, signature, base}) yourself (single-page apps).
 * The signature is made by your server with the in-app secret; never ship the secret.
 * The widget asks for the user's pending prompt and, if there is one, shows it in a
 * corner card (inside a shadow root, so your page's styles and ours never mix). All
 * text from the server is set with textContent, never parsed as HTML.
 */
(function () {
  "use strict";
  if (window.PulseWidget) { return; }

  var CSS = [
    ":host { all: initial; }",
    ".card { position: fixed; right: 16px; bottom: 16px; z-index: 2147483000; width: min(360px, calc(100vw - 32px));",
    "  background: #fff; color: #1f2933; border-radius: 10px; box-shadow: 0 6px 24px rgba(0,0,0,.18);",
    "  font: 15px/1.45 -apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif; padding: 16px; box-sizing: border-box; }",
    ".text { margin: 0 28px 12px 0; font-weight: 600; }",
    ".close { position: absolute; top: 8px; right: 8px; border: 0; background: none; font-size: 20px; line-height: 1; cursor: pointer; color: #616e7c; padding: 4px 8px; }",
    ".scale { display: flex; flex-wrap: wrap; gap: 4px; }",
    ".scale button { flex: 1 0 26px; min-height: 36px; border: 1px solid #c3cad4; border-radius: 5px; background: #f8f9fb; font: inherit; font-weight: 700; cursor: pointer; padding: 0; }",
    ".scale button[aria-pressed=true] { background: #2f6fed; border-color: #2f6fed; color: #fff; }",
    ".ends { display: flex; justify-content: space-between; gap: 8px; color: #616e7c; font-size: 12px; margin-top: 4px; }",
    ".follow { margin-top: 12px; }",
    ".follow label { display: block; font-size: 14px; margin-bottom: 4px; }",
    "textarea { width: 100%; box-sizing: border-box; min-height: 64px; border: 1px solid #c3cad4; border-radius: 5px; font: inherit; padding: 6px; }",
    ".send { margin-top: 8px; width: 100%; padding: 10px; border: 0; border-radius: 5px; background: #2f6fed; color: #fff; font: inherit; font-weight: 700; cursor: pointer; }",
    ".thanks { margin: 0; font-weight: 600; }"
  ].join("\n");

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function Widget(options) {
    this.base = String(options.base || "").replace(/\/+$/, "");
    this.headers = {
      "X-Pulse-Key": options.key,
      "X-Pulse-Contact": options.contact,
      "X-Pulse-Signature": options.signature
    };
    this.host = null;
  }

  Widget.prototype.call = function (method, path, body) {
    var headers = Object.assign({}, this.headers);
    if (body !== undefined) { headers["Content-Type"] = "application/json"; }
    return fetch(this.base + "/v1/in-app" + path, {
      method: method, headers: headers, credentials: "omit", referrerPolicy: "no-referrer",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error((data.error && data.error.message) || response.statusText); }
        return data;
      });
    });
  };

  Widget.prototype.load = function () {
    var self = this;
    return this.call("GET", "/prompt").then(function (data) {
      if (data.prompt) { self.show(data.prompt); }
      return data.prompt;
    });
  };

  Widget.prototype.remove = function () {
    if (this.host) { this.host.remove(); this.host = null; }
  };

  Widget.prototype.show = function (prompt) {
    var self = this;
    var path = "/prompts/" + encodeURIComponent(prompt.id);
    this.remove();
    this.host = el("div", { "data-pulse-widget": "" });
    var root = this.host.attachShadow({ mode: "open" });
    root.appendChild(el("style", {}, CSS));
    var card = el("div", { "class": "card", role: "dialog", "aria-label": prompt.question });
    root.appendChild(card);
    var close = el("button", { "class": "close", type: "button", "aria-label": prompt.labels.dismiss }, "\u00d7");
    close.addEventListener("click", function () {
      self.remove();
      self.call("POST", path + "/dismiss").catch(function () { /* shown again next time */ });
    });
    card.appendChild(close);
    card.appendChild(el("p", { "class": "text" }, prompt.text));
    if (prompt.type !== "survey") {
      document.body.appendChild(this.host);
      return;
    }
    var chosen = null;
    var scale = el("div", { "class": "scale", role: "group", "aria-label": prompt.question });
    var follow = el("div", { "class": "follow", hidden: "" });
    for (var n = prompt.scale.min; n <= prompt.scale.max; n++) {
      (function (score) {
        var button = el("button", { type: "button", "aria-pressed": "false", "data-score": String(score) }, String(score));
        button.addEventListener("click", function () {
          chosen = score;
          scale.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-pressed", String(b === button)); });
          follow.hidden = false;
        });
        scale.appendChild(button);
      })(n);
    }
    card.appendChild(scale);
    var ends = el("div", { "class": "ends", "aria-hidden": "true" });
    ends.appendChild(el("span", {}, prompt.scale.low_label));
    ends.appendChild(el("span", {}, prompt.scale.high_label));
    card.appendChild(ends);
    var label = el("label", { "for": "pulse-comment" }, prompt.follow_up_question + " (" + prompt.labels.comment_hint + ")");
    var comment = el("textarea", { id: "pulse-comment", maxlength: "5000" });
    var send = el("button", { "class": "send", type: "button" }, prompt.labels.send);
    send.addEventListener("click", function () {
      if (chosen === null) { return; }
      send.disabled = true;
      self.call("POST", path + "/answer", { score: chosen, comment: comment.value || null }).then(function (result) {
        card.replaceChildren(el("p", { "class": "thanks", role: "status" }, result.thank_you));
        setTimeout(function () { self.remove(); }, 4000);
      }, function () { send.disabled = false; });
    });
    follow.appendChild(label);
    follow.appendChild(comment);
    follow.appendChild(send);
    card.appendChild(follow);
    document.body.appendChild(this.host);
  };

  window.PulseWidget = {
    init: function (options) {
      var widget = new Widget(options);
      widget.load().catch(function (error) { if (window.console) { console.warn("Pulse widget:", error.message); } });
      return widget;
    }
  };

  var script = document.currentScript;
  if (script && script.dataset.key && script.dataset.contact && script.dataset.signature) {
    var start = function () {
      window.PulseWidget.init({
        base: script.dataset.base || script.src.replace(/\/widget\.js(\?.*)?$/, ""),
        key: script.dataset.key, contact: script.dataset.contact, signature: script.dataset.signature
      });
    };
    if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
  }
})();
