/* The condition builder of segments and rule tags. Plain JavaScript, no build step, no CDN.
 *
 * Reads the field catalogue (#builder-config) and the condition (#builder-condition) that the page renders as
 * JSON, draws groups and rows (field → operator → value widgets by type), writes the condition as JSON into the
 * form's hidden input on every change and fires a "conditionchange" event on <body>, which htmx turns into a
 * debounced request for the live count. The server validates the JSON; nobody types it.
 */
(function () {
  "use strict";

  var root = document.getElementById("condition-builder");
  if (!root) return;
  var config = JSON.parse(document.getElementById("builder-config").textContent);
  var condition = JSON.parse(document.getElementById("builder-condition").textContent);
  var input = document.getElementById(root.dataset.input);
  var readonly = root.dataset.readonly === "1";
  var operatorsUrl = root.dataset.operatorsUrl;
  var T = config.text;

  var fields = {};
  config.fields.forEach(function (f) { fields[f.key] = f; });
  var tagNames = {};
  config.tags.forEach(function (t) { tagNames[t.id] = t.group + " / " + t.name; });
  var branchNames = {};
  config.branches.forEach(function (b) { branchNames[b.id] = b.name; });
  var operatorNames = {};
  config.operators.forEach(function (o) { operatorNames[o.id] = o.name; });

  if (!condition || !condition.match) condition = { match: "all", rules: [] };

  // --- helpers ---------------------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else if (key.slice(0, 2) === "on") node.addEventListener(key.slice(2), attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    if (readonly && /^(INPUT|SELECT|BUTTON)$/.test(node.tagName)) node.disabled = true;
    return node;
  }

  function option(value, label, selected) {
    var node = el("option", { value: value, text: label });
    if (selected) node.selected = true;
    return node;
  }

  function changed() {
    input.value = JSON.stringify(condition);
    document.body.dispatchEvent(new CustomEvent("conditionchange", { bubbles: true }));
  }

  function redraw() {
    root.innerHTML = "";
    root.appendChild(drawGroup(condition, [], null));
    changed();
  }

  function opOf(row) {
    var field = fields[row.field];
    if (!field) return null;
    for (var i = 0; i < field.ops.length; i++) if (field.ops[i].key === row.op) return field.ops[i];
    return null;
  }

  function defaultValue(field, op) {
    switch (op.value) {
      case "number": return "";
      case "number_range": return ["", ""];
      case "days":
        if (field.key === "payday") return 1;
        if (field.key === "birthday") return 7;
        return 30;
      case "date": return "";
      case "choices": case "tags": case "branches": case "operators": return [];
      case "product": return { category: "", min_amount: "", maturity_within_days: null };
      case "behaviour":
        return { source: config.behaviour.length ? config.behaviour[0].key : "", days: 30, count: 1, tag: null };
      default: return undefined;
    }
  }

  // --- groups and rows -------------------------------------------------------------------------------------

  function drawGroup(group, path, parent) {
    var box = el("div", { className: "cb-group" + (path.length ? " cb-nested" : "") });
    var match = el("select", {
      className: "cb-match",
      "aria-label": T.match,
      onchange: function () { group.match = match.value; changed(); },
    }, [option("all", T.all, group.match === "all"), option("any", T.any, group.match === "any"),
        option("none", T.none, group.match === "none")]);
    var head = el("div", { className: "cb-group-head" }, [
      path.length ? el("span", { className: "cb-num", text: path.join(".") }) : null,
      match,
    ]);
    var tools = el("span", { className: "cb-tools" });
    if (!readonly) {
      tools.appendChild(el("button", {
        type: "button", className: "btn btn-sm", text: "+ " + T.add_row,
        onclick: function () { group.rules.push({ field: "", op: "" }); redraw(); },
      }));
      if (path.length < 3) {
        tools.appendChild(el("button", {
          type: "button", className: "btn btn-sm", text: "+ " + T.add_group,
          onclick: function () { group.rules.push({ match: "any", rules: [{ field: "", op: "" }] }); redraw(); },
        }));
      }
      if (parent) {
        tools.appendChild(el("button", {
          type: "button", className: "btn btn-sm cb-remove", text: T.remove, "aria-label": T.remove,
          onclick: function () { parent.rules.splice(parent.rules.indexOf(group), 1); redraw(); },
        }));
      }
    }
    head.appendChild(tools);
    box.appendChild(head);
    var list = el("ol", { className: "cb-rules" });
    if (!group.rules.length) list.appendChild(el("li", { className: "cb-empty muted", text: T.empty }));
    group.rules.forEach(function (child, index) {
      var childPath = path.concat([index + 1]);
      var item = child && child.match ? drawGroup(child, childPath, group) : drawRow(child, childPath, group);
      list.appendChild(el("li", {}, [item]));
    });
    box.appendChild(list);
    return box;
  }

  function drawRow(row, path, group) {
    var line = el("div", { className: "cb-row" });
    line.appendChild(el("span", { className: "cb-num", text: path.join(".") }));

    var fieldSelect = el("select", {
      className: "cb-field", "aria-label": T.choose_field,
      onchange: function () {
        row.field = fieldSelect.value;
        var field = fields[row.field];
        row.op = field ? field.ops[0].key : "";
        row.value = field ? defaultValue(field, field.ops[0]) : undefined;
        redraw();
      },
    }, [option("", T.choose_field, !row.field)]);
    var byCategory = {};
    var categories = [];
    config.fields.forEach(function (f) {
      if (!byCategory[f.category]) { byCategory[f.category] = el("optgroup", { label: f.category }); categories.push(f.category); }
      byCategory[f.category].appendChild(option(f.key, f.label, f.key === row.field));
    });
    categories.forEach(function (c) { fieldSelect.appendChild(byCategory[c]); });
    line.appendChild(fieldSelect);

    var field = fields[row.field];
    if (field) {
      var opSelect = el("select", {
        className: "cb-op", "aria-label": T.compare,
        onchange: function () {
          var before = opOf(row);
          row.op = opSelect.value;
          var after = opOf(row);
          if (!before || before.value !== after.value) row.value = defaultValue(field, after);
          redraw();
        },
      }, field.ops.map(function (op) { return option(op.key, op.label, op.key === row.op); }));
      line.appendChild(opSelect);
      var op = opOf(row);
      if (op) line.appendChild(drawValue(row, field, op));
    }
    if (!readonly) {
      line.appendChild(el("button", {
        type: "button", className: "btn btn-sm cb-remove", text: "×", title: T.remove, "aria-label": T.remove,
        onclick: function () { group.rules.splice(group.rules.indexOf(row), 1); redraw(); },
      }));
    }
    return line;
  }

  // --- value widgets ---------------------------------------------------------------------------------------

  function numberInput(value, attrs, onValue) {
    var node = el("input", Object.assign({ type: "number", value: value === null || value === undefined ? "" : value,
      className: "cb-number" }, attrs));
    node.addEventListener("input", function () { onValue(node.value); changed(); });
    return node;
  }

  function unit(text) { return text ? el("span", { className: "cb-unit", text: text }) : null; }

  function drawValue(row, field, op) {
    var box = el("span", { className: "cb-value" });
    var step = field.key === "aum" ? "any" : "1";
    var limits = {};
    if (op.min !== null && op.min !== undefined) limits.min = op.min;
    if (op.max !== null && op.max !== undefined) limits.max = op.max;
    switch (op.value) {
      case "number":
        box.appendChild(numberInput(row.value, Object.assign({ step: step, "aria-label": field.label }, limits),
          function (v) { row.value = v; }));
        box.appendChild(unit(op.unit));
        break;
      case "number_range":
        if (!Array.isArray(row.value)) row.value = ["", ""];
        box.appendChild(numberInput(row.value[0], Object.assign({ step: step, "aria-label": field.label }, limits),
          function (v) { row.value[0] = v; }));
        box.appendChild(el("span", { className: "cb-unit", text: T.to }));
        box.appendChild(numberInput(row.value[1], Object.assign({ step: step, "aria-label": field.label }, limits),
          function (v) { row.value[1] = v; }));
        box.appendChild(unit(op.unit));
        break;
      case "days":
        box.appendChild(numberInput(row.value, Object.assign({ step: "1", className: "cb-number cb-short",
          "aria-label": op.label }, limits), function (v) { row.value = v; }));
        box.appendChild(unit(op.unit || T.days));
        break;
      case "date":
        var date = el("input", { type: "date", value: row.value || "", "aria-label": field.label });
        date.addEventListener("change", function () { row.value = date.value; changed(); });
        box.appendChild(date);
        break;
      case "choices":
        box.appendChild(drawChoices(row, field));
        break;
      case "tags":
        box.appendChild(drawPicker(row, tagNames, tagOptions(), T.add_tag));
        break;
      case "branches":
        box.appendChild(drawPicker(row, branchNames, config.branches.map(function (b) {
          return option(b.id, "\u3000".repeat(b.depth) + b.name);
        }), T.add_branch));
        break;
      case "operators":
        box.appendChild(drawOperatorPicker(row));
        break;
      case "product":
        box.appendChild(drawProduct(row));
        break;
      case "behaviour":
        box.appendChild(drawBehaviour(row));
        break;
    }
    return box;
  }

  function drawChoices(row, field) {
    if (!Array.isArray(row.value)) row.value = [];
    var box = el("span", { className: "cb-choices" + (field.choices.length > 8 ? " cb-choices-many" : "") });
    field.choices.forEach(function (choice) {
      var value = choice[0];
      var checkbox = el("input", { type: "checkbox", value: String(value) });
      checkbox.checked = row.value.map(String).indexOf(String(value)) >= 0;
      checkbox.addEventListener("change", function () {
        var current = row.value.filter(function (v) { return String(v) !== String(value); });
        if (checkbox.checked) current.push(value);
        row.value = current;
        changed();
      });
      box.appendChild(el("label", { className: "cb-pill" }, [checkbox, el("span", { text: choice[1] })]));
    });
    return box;
  }

  function tagOptions() {
    var groups = {};
    var order = [];
    config.tags.forEach(function (t) {
      if (!groups[t.group]) { groups[t.group] = el("optgroup", { label: t.group }); order.push(t.group); }
      groups[t.group].appendChild(option(t.id, t.name));
    });
    return order.map(function (g) { return groups[g]; });
  }

  function chips(row, names) {
    var box = el("span", { className: "cb-chips" });
    row.value.forEach(function (id) {
      var chip = el("span", { className: "badge badge-blue cb-chip" }, [names[id] || "#" + id]);
      if (!readonly) {
        chip.appendChild(el("button", {
          type: "button", className: "cb-chip-x", text: "×", "aria-label": T.remove,
          onclick: function () { row.value = row.value.filter(function (v) { return v !== id; }); redraw(); },
        }));
      }
      box.appendChild(chip);
    });
    return box;
  }

  function drawPicker(row, names, options, placeholder) {
    if (!Array.isArray(row.value)) row.value = [];
    var box = el("span", { className: "cb-picker" }, [chips(row, names)]);
    if (!readonly) {
      var select = el("select", {
        className: "cb-add", "aria-label": placeholder,
        onchange: function () {
          var id = parseInt(select.value, 10);
          if (id && row.value.indexOf(id) < 0) row.value.push(id);
          redraw();
        },
      }, [option("", placeholder, true)].concat(options));
      box.appendChild(select);
    }
    return box;
  }

  function drawOperatorPicker(row) {
    if (!Array.isArray(row.value)) row.value = [];
    var box = el("span", { className: "cb-picker" }, [chips(row, operatorNames)]);
    if (readonly) return box;
    var search = el("input", { type: "search", className: "cb-search", placeholder: T.search_operator,
      "aria-label": T.search_operator, autocomplete: "off" });
    var results = el("span", { className: "cb-results" });
    var timer = null;
    search.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = search.value.trim();
        if (!q) { results.innerHTML = ""; return; }
        fetch(operatorsUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin" })
          .then(function (response) { return response.json(); })
          .then(function (data) {
            results.innerHTML = "";
            if (!data.results.length) results.appendChild(el("span", { className: "muted small", text: T.no_match }));
            data.results.forEach(function (o) {
              operatorNames[o.id] = o.name;
              results.appendChild(el("button", {
                type: "button", className: "btn btn-sm", text: o.name,
                onclick: function () { if (row.value.indexOf(o.id) < 0) row.value.push(o.id); redraw(); },
              }));
            });
          });
      }, 250);
    });
    box.appendChild(search);
    box.appendChild(results);
    return box;
  }

  function drawProduct(row) {
    var value = row.value && typeof row.value === "object" ? row.value : (row.value = defaultValue(null, { value: "product" }));
    var category = el("select", {
      "aria-label": T.any_product,
      onchange: function () { value.category = category.value; changed(); },
    }, [option("", T.any_product, !value.category)].concat(config.product_categories.map(function (c) {
      return option(c[0], c[1], c[0] === value.category);
    })));
    return el("span", { className: "cb-compound" }, [
      category,
      el("span", { className: "cb-unit", text: T.amount_at_least }),
      numberInput(value.min_amount, { step: "any", min: 0, "aria-label": T.amount_at_least },
        function (v) { value.min_amount = v; }),
      el("span", { className: "cb-unit", text: T.maturing_within }),
      numberInput(value.maturity_within_days, { step: "1", min: 0, max: 3650, className: "cb-number cb-short",
        "aria-label": T.maturing_within }, function (v) { value.maturity_within_days = v === "" ? null : v; }),
      el("span", { className: "cb-unit", text: T.days }),
    ]);
  }

  function drawBehaviour(row) {
    var value = row.value && typeof row.value === "object" ? row.value
      : (row.value = defaultValue(null, { value: "behaviour" }));
    var sources = {};
    config.behaviour.forEach(function (s) { sources[s.key] = s; });
    var source = el("select", {
      "aria-label": fields.behaviour.label,
      onchange: function () { value.source = source.value; value.tag = null; redraw(); },
    }, config.behaviour.map(function (s) { return option(s.key, s.label, s.key === value.source); }));
    var parts = [source];
    if (sources[value.source] && sources[value.source].takes_tag) {
      var tag = el("select", {
        "aria-label": T.any_tag,
        onchange: function () { value.tag = tag.value ? parseInt(tag.value, 10) : null; changed(); },
      }, [option("", T.any_tag, !value.tag)].concat(tagOptions()));
      if (value.tag) tag.value = String(value.tag);
      parts.push(tag);
    }
    parts.push(numberInput(value.count, { step: "1", min: 1, className: "cb-number cb-short", "aria-label": T.times },
      function (v) { value.count = v; }));
    parts.push(el("span", { className: "cb-unit", text: T.times + ", " + T.in_last }));
    parts.push(numberInput(value.days, { step: "1", min: 1, max: 365, className: "cb-number cb-short",
      "aria-label": T.days }, function (v) { value.days = v; }));
    parts.push(el("span", { className: "cb-unit", text: T.days }));
    return el("span", { className: "cb-compound" }, parts);
  }

  root.appendChild(drawGroup(condition, [], null));
  input.value = JSON.stringify(condition);
})();
