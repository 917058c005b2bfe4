// c12exporter fleet console: live values, sort and filter, theme, edits. No libraries.
"use strict";
// POST a JSON request as the page's own (the exporter checks the header); the answer's
// JSON, or {ok: false} with the status when the exporter answered something else.
function postJson(url, request) {
  return fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-C12-Console": "1"},
    body: JSON.stringify(request)
  }).then(function (response) {
    return response.json().catch(function () {
      return {ok: false, message: "the exporter answered " + response.status};
    });
  });
}
(function () {
  const body = document.body;
  const selected = body.dataset.selected || "";
  let token = body.dataset.token || "";

  // --- theme ---------------------------------------------------------------------------
  const root = document.documentElement;
  const themeButton = document.getElementById("theme");
  function dark() {
    const chosen = root.dataset.theme;
    if (chosen) return chosen === "dark";
    return window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function showTheme() {
    themeButton.setAttribute("aria-pressed", String(dark()));
  }
  try { const saved = localStorage.getItem("c12-theme"); if (saved) root.dataset.theme = saved; } catch (e) { /* private mode */ }
  showTheme();
  themeButton.addEventListener("click", function () {
    root.dataset.theme = dark() ? "light" : "dark";
    try { localStorage.setItem("c12-theme", root.dataset.theme); } catch (e) { /* ignore */ }
    showTheme();
  });

  // --- writing cells ---------------------------------------------------------------------
  // cells: {t: {key: text}, w: {key: percent}, s: {key: state}}; keys absent from t are
  // blanked (a unit that cannot be read shows no numbers).
  function apply(container, cells, blank) {
    if (!container || !cells) return;
    container.querySelectorAll("[data-k]").forEach(function (el) {
      const text = cells.t[el.dataset.k];
      if (text !== undefined) { if (el.textContent !== text) el.textContent = text; }
      else if (blank) el.textContent = "";
    });
    container.querySelectorAll("[data-w]").forEach(function (el) {
      const width = cells.w[el.dataset.w];
      el.style.width = (width === undefined ? 0 : width) + "%";
    });
    const states = [container].concat(Array.from(container.querySelectorAll("[data-s]")));
    states.forEach(function (el) {
      if (!el.dataset.s) return;
      const state = cells.s[el.dataset.s];
      if (state !== undefined) el.dataset.state = state;
    });
  }
  const rows = {};
  document.querySelectorAll("#fleet-table tbody tr[data-unit]").forEach(function (tr) {
    rows[tr.dataset.unit] = tr;
  });
  const detail = document.getElementById("unit");
  function applyDetail(cells) {
    if (!detail || !cells) return;
    if (detail.dataset.up === "down" && cells.s["d.up"] === "up") { location.reload(); return; }
    apply(detail, cells, true);
  }
  function applyUpdate(data) {
    Object.keys(data.rows || {}).forEach(function (name) { apply(rows[name], data.rows[name], true); });
    if (data.totals) apply(document.querySelector("#fleet-table tfoot"), data.totals, false);
    if (data.detail) applyDetail(data.detail);
    filter();
  }

  // --- live ------------------------------------------------------------------------------
  const live = document.getElementById("live");
  function setLive(state, text) { live.dataset.state = state; live.textContent = text; }
  if (window.EventSource) {
    const source = new EventSource("console/events?unit=" + encodeURIComponent(selected));
    source.addEventListener("snapshot", function (event) {
      const data = JSON.parse(event.data);
      const known = Object.keys(rows).join("\n");
      if (data.units.join("\n") !== known) { location.reload(); return; }
      token = data.token || token;
      applyUpdate(data);
      setLive("live", "live");
    });
    source.addEventListener("update", function (event) {
      applyUpdate(JSON.parse(event.data));
      setLive("live", "live · " + new Date().toLocaleTimeString());
    });
    source.addEventListener("fleet", function () { location.reload(); });
    source.onerror = function () { setLive("lost", "reconnecting…"); };
  } else {
    setLive("lost", "no live updates in this browser");
  }

  // --- sort and filter -------------------------------------------------------------------
  const table = document.getElementById("fleet-table");
  const tbody = table.tBodies[0];
  const filterInput = document.getElementById("filter");
  const problems = document.getElementById("problems");
  function value(tr, column) {
    const text = tr.cells[column].textContent.trim();
    const number = parseFloat(text);
    return isNaN(number) ? text.toLowerCase() : number;
  }
  table.querySelectorAll("thead button[data-sort]").forEach(function (button) {
    button.addEventListener("click", function () {
      const column = Number(button.dataset.sort);
      const ascending = button.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("thead button").forEach(function (b) { b.removeAttribute("aria-sort"); });
      button.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const sorted = Array.from(tbody.rows).sort(function (a, b) {
        const x = value(a, column), y = value(b, column);
        if (typeof x !== typeof y) return (typeof x === "number" ? -1 : 1) * (ascending ? 1 : -1);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      });
      sorted.forEach(function (tr) { tbody.appendChild(tr); });
    });
  });
  function problem(tr) {
    if (tr.dataset.state === "down") return true;
    return tr.querySelector('[data-state="alarm"], [data-state="on"]') !== null;
  }
  function filter() {
    const words = filterInput.value.trim().toLowerCase();
    Array.from(tbody.rows).forEach(function (tr) {
      const show = (!words || tr.textContent.toLowerCase().includes(words)) &&
        (!problems.checked || problem(tr));
      tr.hidden = !show;
    });
  }
  filterInput.addEventListener("input", filter);
  problems.addEventListener("change", filter);

  // --- edits -----------------------------------------------------------------------------
  const dialog = document.getElementById("edit");
  const form = document.getElementById("edit-form");
  const nameBox = document.getElementById("edit-name");
  const bandBox = document.getElementById("edit-band");
  const nameInput = document.getElementById("edit-name-input");
  const minInput = document.getElementById("edit-min");
  const maxInput = document.getElementById("edit-max");
  const error = document.getElementById("edit-error");
  const msg = document.getElementById("msg");
  let editing = null;
  let opener = null;
  function say(text, state) {
    msg.dataset.state = state;
    msg.textContent = text;
    clearTimeout(say.timer);
    say.timer = setTimeout(function () { msg.textContent = ""; }, 8000);
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-edit]");
    if (!button) return;
    opener = button;
    editing = {field: button.dataset.edit, unit: button.dataset.unit,
               channel: button.dataset.channel ? Number(button.dataset.channel) : null};
    const channel = editing.channel ? "channel " + editing.channel : "unit " + editing.unit;
    error.textContent = "";
    const band = editing.field === "band";
    nameBox.hidden = band;
    bandBox.hidden = !band;
    if (band) {
      const parts = (button.dataset.current || "|").split("|");
      minInput.value = parts[0] || "";
      maxInput.value = parts[1] || "";
      document.getElementById("edit-h").textContent = "Supervision of " + channel;
    } else {
      nameInput.value = button.dataset.current || "";
      document.getElementById("edit-h").textContent = "Rename " + channel;
    }
    dialog.showModal();
    (band ? minInput : nameInput).focus();
  });
  document.getElementById("edit-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { if (opener) opener.focus(); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (!editing) return;
    const request = {field: editing.field, token: token};
    if (editing.channel !== null) request.channel = editing.channel;
    if (editing.field === "band") { request.min = minInput.value; request.max = maxInput.value; }
    else request.value = nameInput.value;
    const save = document.getElementById("edit-save");
    save.disabled = true;
    error.textContent = "Writing to the unit…";
    postJson("console/units/" + encodeURIComponent(editing.unit) + "/settings", request)
    .then(function (answer) {
      save.disabled = false;
      if (!answer.ok) { error.textContent = answer.message; return; }
      if (answer.row) apply(rows[editing.unit], answer.row, true);
      if (answer.detail && editing.unit === selected) applyDetail(answer.detail);
      if (opener) {
        opener.dataset.current = editing.field === "band"
          ? request.min.trim() + "|" + request.max.trim() : request.value.trim();
      }
      dialog.close();
      say(answer.message, "ok");
    }).catch(function () {
      save.disabled = false;
      error.textContent = "The exporter did not answer; reload the page to see what the unit holds.";
    });
  });
})();
// --- jobs (docs/history.md): start and stop, then reload the pane with the page ---------
(function () {
  const token = function () { return document.body.dataset.token || ""; };
  const msg = document.getElementById("msg");
  function post(request) {
    request.token = token();
    return postJson("console/jobs", request).then(function (answer) {
      if (answer.ok) { location.reload(); return; }
      msg.dataset.state = "error";
      msg.textContent = answer.message;
    }).catch(function () {
      msg.dataset.state = "error";
      msg.textContent = "The exporter did not answer.";
    });
  }
  const form = document.getElementById("job-start");
  if (form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      const units = Array.from(form.querySelectorAll('input[name="unit"]:checked'))
        .map(function (box) { return box.value; });
      post({action: "start", name: form.elements.name.value, units: units});
    });
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-job-stop]");
    if (button) post({action: "stop", name: button.dataset.jobStop});
  });
})();
