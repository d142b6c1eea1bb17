// The content editor: the variables palette inserts at the cursor and follows the item's use; the byte counter;
// the attachment form shows the fields of the chosen kind. The live preview itself is htmx (hx-post on input).
(function () {
  "use strict";

  function bytes(text) {
    return new TextEncoder().encode(text).length;
  }

  function currentUse(form) {
    var select = form.querySelector('[name="use"]');
    return select ? select.value : form.dataset.use;
  }

  function refreshPalette(form) {
    var perCustomer = ["welcome", "task"].indexOf(currentUse(form)) !== -1;
    form.querySelectorAll("button.chip[data-per-customer]").forEach(function (chip) {
      chip.disabled = !perCustomer;
    });
    var rule = form.querySelector("[data-rule]");
    if (rule) {
      rule.hidden = perCustomer;
    }
  }

  function refreshCount(form) {
    var text = form.querySelector("textarea[name='text']");
    var counter = form.querySelector(".byte-count");
    if (!text || !counter) {
      return;
    }
    var n = bytes(text.value);
    counter.textContent = n + " / 4000 " + (counter.dataset.unit || "bytes");
    counter.classList.toggle("is-over", n > 4000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.editor-form");
    if (form) {
      var text = form.querySelector("textarea[name='text']");
      form.querySelectorAll("button.chip").forEach(function (chip) {
        chip.addEventListener("click", function () {
          var token = chip.dataset.token;
          var start = text.selectionStart || 0;
          var end = text.selectionEnd || 0;
          text.value = text.value.slice(0, start) + token + text.value.slice(end);
          text.focus();
          text.selectionStart = text.selectionEnd = start + token.length;
          text.dispatchEvent(new Event("input", { bubbles: true }));
        });
      });
      var use = form.querySelector('[name="use"]');
      if (use) {
        use.addEventListener("change", function () {
          refreshPalette(form);
          text.dispatchEvent(new Event("input", { bubbles: true }));
        });
      }
      text.addEventListener("input", function () {
        refreshCount(form);
      });
      refreshPalette(form);
      refreshCount(form);
    }
    var attachments = document.querySelector("form.attachment-form");
    if (attachments) {
      var kind = attachments.querySelector('[name="type"]');
      var show = function () {
        attachments.dataset.kind = kind.value;
      };
      kind.addEventListener("change", show);
      show();
    }
  });
})();
