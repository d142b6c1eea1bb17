/* The WeCom chat sidebar: wx.agentConfig with the server's signature, then the chat's customer, then sending.
 *
 * WeCom's JS-SDK (or the sandbox's emulation of it) is loaded before this file. Every answer the server gives is
 * HTML for the panel or JSON for sending; the server checks the operator's follow of the customer every time.
 */
(function () {
  "use strict";

  var root = document.getElementById("sidebar");
  var statusLine = document.getElementById("sb-status");
  var panel = document.getElementById("sb-panel");
  var config = JSON.parse(document.getElementById("agent-config").textContent || "null");
  var text = JSON.parse(document.getElementById("sidebar-text").textContent);
  var csrf = JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"];

  function say(message, tone) {
    statusLine.textContent = message || "";
    statusLine.className = "sb-status" + (tone ? " is-" + tone : "");
    statusLine.hidden = !message;
  }

  function invoke(api, args) {
    return new Promise(function (resolve) {
      window.wx.invoke(api, args || {}, function (result) {
        resolve(result || {});
      });
    });
  }

  function showPanel(html) {
    panel.innerHTML = html;
    if (window.htmx) {
      window.htmx.process(panel);
    }
  }

  function loadPanel(url) {
    return fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } }).then(function (response) {
      return response.text().then(function (html) {
        showPanel(html);
        return response.ok;
      });
    });
  }

  function post(url, data) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf, Accept: "application/json" },
      body: new URLSearchParams(data),
    }).then(function (response) {
      return response.json().then(function (answer) {
        return { ok: response.ok && answer.ok, answer: answer };
      });
    });
  }

  function identify() {
    return invoke("getContext").then(function (context) {
      if (context.err_msg !== "getContext:ok" || context.entry !== "single_chat_tools") {
        say(text.notSingleChat, "warn");
        return null;
      }
      return invoke("getCurExternalContact").then(function (contact) {
        if (contact.err_msg !== "getCurExternalContact:ok" || !contact.userId) {
          say(text.noContact + " " + (contact.err_msg || ""), "bad");
          return null;
        }
        return loadPanel(root.dataset.chatUrl + "?external_userid=" + encodeURIComponent(contact.userId)).then(
          function () {
            say("");
          }
        );
      });
    });
  }

  function sendAll(messages) {
    // One sendChatMessage per part, in order; stop at the first that WeCom does not send.
    return messages.reduce(function (previous, message) {
      return previous.then(function (failed) {
        if (failed) {
          return failed;
        }
        return invoke("sendChatMessage", message).then(function (result) {
          return result.err_msg === "sendChatMessage:ok" ? null : result.err_msg || "sendChatMessage:fail";
        });
      });
    }, Promise.resolve(null));
  }

  function send(button) {
    var item = button.closest("[data-item]").dataset.item;
    var urls = panel.querySelector("[data-prepare-url]").dataset;
    button.disabled = true;
    say(text.sending, "");
    post(urls.prepareUrl, { item: item })
      .then(function (prepared) {
        if (!prepared.ok) {
          say(prepared.answer.error || text.error, "bad");
          return null;
        }
        return sendAll(prepared.answer.messages).then(function (failure) {
          if (failure) {
            say(/:cancel$/.test(failure) ? text.cancelled : text.sendFailed + " " + failure, "warn");
            return null;
          }
          return post(urls.recordUrl, { item: item, send_key: prepared.answer.send_key }).then(function (recorded) {
            if (!recorded.ok) {
              say(recorded.answer.error || text.error, "bad");
              return null;
            }
            return loadPanel(urls.customerUrl).then(function () {
              say(text.sent, "ok");
            });
          });
        });
      })
      .catch(function () {
        say(text.error, "bad");
      })
      .finally(function () {
        button.disabled = false;
      });
  }

  panel.addEventListener("click", function (event) {
    var button = event.target.closest("[data-send]");
    if (button) {
      event.preventDefault();
      send(button);
    }
  });

  if (!config) {
    return; // the server could not sign the page: its message is showing
  }
  if (!window.wx || typeof window.wx.agentConfig !== "function") {
    say(text.noSdk, "bad");
    return;
  }
  window.wx.agentConfig({
    corpid: config.corpid,
    agentid: config.agentid,
    timestamp: config.timestamp,
    nonceStr: config.nonceStr,
    signature: config.signature,
    jsApiList: root.dataset.apis.split(","),
    success: function () {
      identify().catch(function () {
        say(text.error, "bad");
      });
    },
    fail: function (result) {
      say(text.configFailed + " " + ((result && result.errMsg) || ""), "bad");
    },
  });
})();
