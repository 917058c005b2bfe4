// c12exporter fleet console: live values, the alarm banner, freshness, edits. No libraries.
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
document.documentElement.classList.add("js");
(function () {
  const body = document.body;
  const selected = body.dataset.selected || "";
  const title = body.dataset.title || document.title;
  let token = body.dataset.token || "";
  const msg = document.getElementById("msg");
  function say(text, state) {
    msg.dataset.state = state;
    msg.textContent = text;
    clearTimeout(say.timer);
    say.timer = setTimeout(function () { msg.textContent = ""; }, 8000);
  }

  // --- theme ---------------------------------------------------------------------------
  const root = document.documentElement;
  const themeButton = document.getElementById("theme");
  function dark() {
    const chosen = root.dataset.theme;
    if (chosen) return chosen === "dark";
    return window.matchMedia("(prefers-color-scheme: dark)").matches;
  }
  function showTheme() { themeButton.setAttribute("aria-pressed", String(dark())); }
  try { const saved = localStorage.getItem("c12-theme"); if (saved) root.dataset.theme = saved; } catch (e) { /* private mode */ }
  showTheme();
  themeButton.addEventListener("click", function () {
    root.dataset.theme = dark() ? "light" : "dark";
    try { localStorage.setItem("c12-theme", root.dataset.theme); } catch (e) { /* ignore */ }
    showTheme();
  });

  // --- writing cells ---------------------------------------------------------------------
  // flat: {"t:key": text, "w:key": percent, "s:key": state, "a:key": epoch seconds}
  function each(container, attribute, key, action) {
    const selector = "[" + attribute + '="' + CSS.escape(key) + '"]';
    if (container.matches && container.matches(selector)) action(container);
    container.querySelectorAll(selector).forEach(action);
  }
  function apply(container, flat) {
    if (!container || !flat) return;
    Object.keys(flat).forEach(function (name) {
      const kind = name.charAt(0), key = name.slice(2), value = flat[name];
      if (kind === "t") each(container, "data-k", key, function (el) { el.textContent = value; });
      else if (kind === "w") each(container, "data-w", key, function (el) { el.dataset.pct = value; el.style.width = value + "%"; });
      else if (kind === "s") each(container, "data-s", key, function (el) { el.dataset.state = value; });
      else if (kind === "a") each(container, "data-a", key, function (el) { el.dataset.at = value; age(el); });
    });
  }

  // bars: the server writes widths as data (its policy allows no inline style)
  function widths(container) {
    container.querySelectorAll("[data-pct]").forEach(function (el) { el.style.width = el.dataset.pct + "%"; });
  }
  widths(document);

  // --- ages: how old each reading is, counted here between updates ------------------------
  let skew = 0;  // exporter clock minus this browser's clock, seconds
  function ago(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    if (seconds < 86400) return Math.floor(seconds / 3600) + " h " + Math.floor(seconds % 3600 / 60) + " min";
    return Math.floor(seconds / 86400) + " d";
  }
  function age(el) {
    const at = parseFloat(el.dataset.at);
    if (isNaN(at)) return;
    const seconds = Date.now() / 1000 + skew - at;
    const text = ago(seconds) + (el.dataset.a === "since" ? "" : " ago");
    if (el.textContent !== text) el.textContent = text;
    el.dataset.old = seconds > 10 ? "1" : "0";
  }
  function ages() { document.querySelectorAll("[data-at]").forEach(age); }
  ages();
  setInterval(ages, 1000);

  // --- the banner: problems worst first, counts, tab title, favicon, sound ---------------
  const list = document.getElementById("problems");
  const banner = document.getElementById("banner");
  // the fleet table's header sticks under the banner, whatever the banner's height
  if (window.ResizeObserver) {
    new ResizeObserver(function () {
      root.style.setProperty("--banner-h", banner.offsetHeight + "px");
    }).observe(banner);
  }
  const announce = document.getElementById("announce");
  const soundButton = document.getElementById("sound");
  let sound = false;
  let audio = null;
  try { sound = localStorage.getItem("c12-sound") === "1"; } catch (e) { /* ignore */ }
  soundButton.setAttribute("aria-pressed", String(sound));
  soundButton.addEventListener("click", function () {
    sound = !sound;
    soundButton.setAttribute("aria-pressed", String(sound));
    try { localStorage.setItem("c12-sound", sound ? "1" : "0"); } catch (e) { /* ignore */ }
    if (sound && !audio && window.AudioContext) audio = new AudioContext();
  });
  function beep() {
    if (!sound || !audio) return;
    const tone = audio.createOscillator(), gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.6);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.6);
  }
  const COLOURS = {alarm: "#b3002d", down: "#3b4a6b", warn: "#f2c200", ok: "#0f7b5f"};
  function favicon(state, count) {
    const shapes = {
      alarm: '<polygon points="10,1 22,1 31,10 31,22 22,31 10,31 1,22 1,10"/>',
      down: '<rect x="2" y="2" width="28" height="28" rx="3"/>',
      warn: '<polygon points="16,1 31,30 1,30"/>',
      ok: '<circle cx="16" cy="16" r="15"/>'
    };
    const ink = state === "warn" ? "#000" : "#fff";
    const text = count ? '<text x="16" y="' + (state === "warn" ? 27 : 23) +
      '" font-size="' + (count > 9 ? 14 : 18) + '" font-family="sans-serif" font-weight="700" text-anchor="middle" fill="' +
      ink + '">' + (count > 99 ? "99" : count) + "</text>" : "";
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><g fill="' +
      COLOURS[state] + '">' + shapes[state] + "</g>" + text + "</svg>";
    document.getElementById("favicon").href = "data:image/svg+xml," + encodeURIComponent(svg);
  }
  function counted(state) {
    const el = banner.querySelector('[data-k="f.' + state + '"]');
    return el ? parseInt(el.textContent, 10) || 0 : 0;
  }
  function summarise() {
    const alarm = counted("alarm"), down = counted("down"), warn = counted("warn");
    const worst = alarm ? "alarm" : down ? "down" : warn ? "warn" : "ok";
    banner.dataset.state = worst;
    banner.querySelectorAll(".count").forEach(function (a) {
      a.dataset.zero = counted(a.dataset.state) ? "0" : "1";
    });
    const total = alarm + down + warn;
    const words = [];
    if (alarm) words.push(alarm + " alarm");
    if (down) words.push(down + " down");
    if (warn) words.push(warn + " warning");
    document.title = (total ? "(" + total + ") " + words.join(", ") : "All clear") + " · " + title;
    favicon(worst, total);
    const unacked = list.querySelector('li[data-acked="0"]:is([data-state="alarm"], [data-state="down"])');
    body.dataset.unacked = unacked ? "1" : "0";
  }
  function problems(update, first) {
    const news = [];
    (update.del || []).forEach(function (id) {
      const li = list.querySelector('li[data-id="' + CSS.escape(id) + '"]');
      if (li) li.remove();
    });
    Object.keys(update.set || {}).forEach(function (id) {
      const holder = document.createElement("template");
      holder.innerHTML = update.set[id];
      const fresh = holder.content.firstElementChild;
      const old = list.querySelector('li[data-id="' + CSS.escape(id) + '"]');
      if (old) old.replaceWith(fresh);
      else { list.appendChild(fresh); if (!first) news.push(fresh); }
    });
    Object.keys(update.text || {}).forEach(function (id) {
      const li = list.querySelector('li[data-id="' + CSS.escape(id) + '"]');
      if (li) li.querySelector(".pt").textContent = update.text[id];
    });
    (update.order || []).forEach(function (id) {
      const li = list.querySelector('li[data-id="' + CSS.escape(id) + '"]');
      if (li) list.appendChild(li);
    });
    const more = document.getElementById("more");
    more.hidden = !update.more;
    document.getElementById("more-n").textContent = update.more || 0;
    list.querySelectorAll("[data-at]").forEach(age);
    if (news.length) {
      // the one live region: new problems only (never values or the clock)
      announce.textContent = news.map(function (li) {
        return li.querySelector(".sev b").textContent + ": " +
          (li.querySelector(".pu") || {textContent: ""}).textContent + " " + li.querySelector(".pt").textContent;
      }).join(". ");
      if (news.some(function (li) { return li.dataset.state !== "warn"; })) beep();
    }
  }

  // --- live ------------------------------------------------------------------------------
  const live = document.getElementById("live");
  const lost = document.getElementById("lost");
  let lastWord = Date.now();
  let connected = false;
  function setLive(state, text) { live.dataset.state = state; live.textContent = text; }
  function lose() {
    if (body.dataset.conn === "lost") return;
    body.dataset.conn = "lost";
    document.getElementById("lost-at").textContent = new Date().toLocaleTimeString();
    lost.hidden = false;
    setLive("lost", "connection lost");
  }
  function heard() {
    lastWord = Date.now();
    if (body.dataset.conn === "lost") { lost.hidden = true; }
    body.dataset.conn = "live";
  }
  function unitView(html) {
    const old = document.getElementById("unit");
    if (!old) return;
    const holder = document.createElement("template");
    holder.innerHTML = html;
    old.replaceWith(holder.content.firstElementChild);
    ages();
  }
  // the fleet in a new order: rows that stay are moved, new ones come as HTML
  function reorder(update) {
    const tbody = document.querySelector("#fleet-table tbody");
    if (!tbody) { location.reload(); return; }
    const kept = {};
    tbody.querySelectorAll("tr[data-unit]").forEach(function (tr) { kept[tr.dataset.unit] = tr; });
    update.order.forEach(function (name) {
      let tr = kept[name];
      if (tr) delete kept[name];
      else {
        const holder = document.createElement("template");
        holder.innerHTML = update.add[name];
        tr = holder.content.firstElementChild;
      }
      tbody.appendChild(tr);
    });
    Object.keys(kept).forEach(function (name) { kept[name].remove(); });
    const pager = document.querySelector("#fleet-body .pager");
    if (pager) pager.outerHTML = update.pager;
    widths(tbody);
    ages();
  }
  function applyUpdate(data, first) {
    if (data.fleet !== undefined) document.getElementById("fleet-body").innerHTML = data.fleet;
    if (data.reorder) reorder(data.reorder);
    Object.keys(data.rows || {}).forEach(function (name) {
      apply(document.querySelector('#fleet-body tr[data-unit="' + CSS.escape(name) + '"]'), data.rows[name]);
    });
    if (data.totals) apply(document.body, data.totals);
    if (data.problems) problems(data.problems, first);
    if (data.unit !== undefined) unitView(data.unit);
    if (data.detail) apply(document.getElementById("unit"), data.detail);
    if (data.unit_problems !== undefined) {
      const box = document.getElementById("unit-problems");
      if (box) box.innerHTML = data.unit_problems;
    }
    summarise();
    if (data.fleet !== undefined || data.unit !== undefined) { ages(); widths(document); }
  }
  let source = null;
  function connect() {
    if (!window.EventSource) { setLive("lost", "no live updates in this browser"); return; }
    source = new EventSource("console/events?" + (body.dataset.query || ""));
    source.addEventListener("snapshot", function (event) {
      const data = JSON.parse(event.data);
      token = data.token || token;
      body.dataset.token = token;
      skew = data.now - Date.now() / 1000;
      heard();
      connected = true;
      applyUpdate(data, true);
      setLive("live", "live");
      if (window.performance && performance.mark && !performance.getEntriesByName("c12-live").length) {
        performance.mark("c12-live");  // the first screen is live (bench/console.py reads it)
      }
    });
    source.addEventListener("update", function (event) {
      heard();
      applyUpdate(JSON.parse(event.data), false);
      setLive("live", "live");
    });
    source.addEventListener("tick", heard);
    source.addEventListener("fleet", function () { location.reload(); });
    source.onerror = function () { if (connected) lose(); else setLive("lost", "connecting…"); };
  }
  connect();
  // a page kept in the back-forward cache keeps no stream open (browsers allow a few
  // connections per host: the edits must find one); it reconnects when shown again
  window.addEventListener("pagehide", function () { if (source) source.close(); connected = false; });
  window.addEventListener("pageshow", function (event) { if (event.persisted) connect(); });
  // a stream that goes silent (a network that drops packets) is lost as well
  setInterval(function () {
    if (connected && Date.now() - lastWord > 6000 && body.dataset.conn !== "lost") {
      lose();
      source.close();
      connect();
    }
  }, 1000);
  summarise();

  // --- acknowledge ----------------------------------------------------------------------
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-ack-unit]");
    if (!button) return;
    button.disabled = true;
    postJson("console/problems/ack", {unit: button.dataset.ackUnit, key: button.dataset.ackKey, token: token})
    .then(function (answer) {
      if (answer.ok === false) { button.disabled = false; say(answer.message, "error"); }
    }).catch(function () { button.disabled = false; say("The exporter did not answer.", "error"); });
  });

  // --- the event timeline, filtered by unit and time ----------------------------------------
  const eventsBody = document.getElementById("events-body");
  function loadEvents() {
    fetch(eventsBody.dataset.src, {credentials: "same-origin"}).then(function (response) {
      return response.text().then(function (text) {
        if (response.ok) eventsBody.innerHTML = text;
        else eventsBody.textContent = text;
      });
    }).catch(function () { /* the connection banner says it */ });
  }
  if (eventsBody) { loadEvents(); setInterval(loadEvents, 15000); }

  // --- the fleet's tools submit as they change --------------------------------------------
  const tools = document.getElementById("fleet-tools");
  if (tools) {
    // a search box changes on Enter or when left
    tools.addEventListener("change", function () { tools.requestSubmit(); });
  }

  // --- edits -----------------------------------------------------------------------------
  const dialog = document.getElementById("edit");
  const form = document.getElementById("edit-form");
  const nameBox = document.getElementById("edit-name");
  const bandBox = document.getElementById("edit-band");
  const nameInput = document.getElementById("edit-name-input");
  const minInput = document.getElementById("edit-min");
  const maxInput = document.getElementById("edit-max");
  const what = document.getElementById("edit-what");
  const bytes = document.getElementById("edit-bytes");
  const error = document.getElementById("edit-error");
  let editing = null;
  let opener = null;
  function countBytes() {
    const size = new TextEncoder().encode(nameInput.value.trim()).length;
    bytes.textContent = size + " of 16 bytes" + (size > 16 ? ": too long" : "") +
      " (plain letters take 1, accented letters 2). Empty clears the name.";
    bytes.dataset.state = size > 16 ? "alarm" : "ok";
  }
  nameInput.addEventListener("input", countBytes);
  function cellText(key) {
    const el = document.querySelector('#unit [data-k="' + key + '"]');
    return el ? el.textContent : "";
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
    if (editing.channel) {
      const k = "c." + editing.channel + ".";
      what.textContent = editing.unit + ", channel " + editing.channel + " “" + cellText(k + "name") +
        "”: now " + cellText(k + "current") + (button.dataset.rating ? " of its " + button.dataset.rating + " A rating" : "");
    } else {
      what.textContent = "The name stored in the unit " + editing.unit + ".";
    }
    if (band) {
      const parts = (button.dataset.current || "|").split("|");
      minInput.value = parts[0] || "";
      maxInput.value = parts[1] || "";
      document.getElementById("edit-h").textContent = "Supervision band of " + channel;
      document.getElementById("edit-band-hint").textContent = "The unit warns when the current is outside " +
        "this band. Between 0 and " + (button.dataset.rating || "16") + " A, steps of 0.01 A; " +
        "leave both empty to stop watching this channel.";
    } else {
      nameInput.value = button.dataset.current || "";
      document.getElementById("edit-h").textContent = "Rename " + channel;
      countBytes();
    }
    dialog.showModal();
    (band ? minInput : nameInput).focus();
  });
  document.getElementById("edit-cancel").addEventListener("click", function () { dialog.close(); });
  dialog.addEventListener("close", function () { if (opener && opener.isConnected) opener.focus(); });
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
      if (answer.detail) apply(document.getElementById("unit"), answer.detail);
      if (answer.row) apply(document.querySelector('#fleet-body tr[data-unit="' + CSS.escape(editing.unit) + '"]'), answer.row);
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
      const units = form.elements.units.value.split(",")
        .map(function (pick) { return pick.trim(); })
        .filter(function (pick) { return pick; });
      post({action: "start", name: form.elements.name.value, units: units});
    });
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest("button[data-job-stop]");
    if (button) post({action: "stop", name: button.dataset.jobStop});
  });
})();
