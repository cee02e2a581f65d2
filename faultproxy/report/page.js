(function () {
  "use strict";
  var matrix = document.getElementById("matrix");
  var links = Array.prototype.slice.call(matrix.querySelectorAll("td.cell a.inner"));
  var current = null;

  // A big report keeps its cell panels gzip'd in #panel-data (and its JSON in #report-data):
  // a panel is inflated and put in the page the first time it is opened.
  var packed = document.getElementById("panel-data");
  var panels = packed ? JSON.parse(packed.textContent) : null;

  function inflate(b64) {
    var bytes = Uint8Array.from(atob(b64), function (c) { return c.charCodeAt(0); });
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  function wanted() {
    var raw = location.hash.slice(1);
    if (!raw) return null;
    try { return decodeURIComponent(raw); } catch (e) { return raw; }
  }
  function target() {
    var key = wanted();
    var el = key && document.getElementById(key);
    return el && el.classList.contains("detail") ? el : null;
  }
  function ensurePanel(key) {
    if (!key || target() || !panels || !Object.prototype.hasOwnProperty.call(panels, key)) {
      return Promise.resolve(target());
    }
    var packedPanel = panels[key];
    delete panels[key];
    return inflate(packedPanel).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      document.getElementById("details").appendChild(holder.firstElementChild);
      return target();
    });
  }
  function cellFor(panel) {
    if (!panel) return null;
    for (var i = 0; i < links.length; i++) {
      if (links[i].parentNode.getAttribute("data-key") === panel.id) return links[i];
    }
    return null;
  }
  function show(panel, focus) {
    document.querySelectorAll(".detail.open").forEach(function (p) { if (p !== panel) p.classList.remove("open"); });
    if (current) { current.parentNode.classList.remove("selected"); current.removeAttribute("aria-current"); }
    current = cellFor(panel);
    if (current) { current.parentNode.classList.add("selected"); current.setAttribute("aria-current", "true"); }
    if (panel) {
      panel.classList.add("open");
      if (focus) panel.focus({ preventScroll: true });
      panel.scrollIntoView({ block: "start" });
    }
  }
  function sync(focus) {
    var key = wanted();
    ensurePanel(key).then(function (panel) {
      if (wanted() === key) show(panel, focus);  // the hash may have moved on meanwhile
    });
  }
  function close() {
    var back = current;
    history.pushState(null, "", location.pathname + location.search);
    sync(false);
    if (back) back.focus();
  }
  window.addEventListener("hashchange", function () { sync(true); });
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape" && target()) { ev.preventDefault(); close(); }
  });
  document.addEventListener("click", function (ev) {
    var a = ev.target.closest && ev.target.closest(".detail a.close");
    if (a) { ev.preventDefault(); close(); }
  });
  matrix.addEventListener("keydown", function (ev) {
    var a = ev.target.closest && ev.target.closest("a.inner");
    if (!a) return;
    var td = a.parentNode, tr = td.parentNode;
    var col = Array.prototype.indexOf.call(tr.children, td);
    var rows = Array.prototype.filter.call(matrix.tBodies[0].rows, function (r) { return r.offsetParent !== null; });
    var row = rows.indexOf(tr);
    var step = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] }[ev.key];
    if (!step) return;
    ev.preventDefault();
    for (var r = row + step[0], c = col + step[1]; r >= 0 && r < rows.length && c > 0 && c < tr.children.length;
         r += step[0], c += step[1]) {
      var next = rows[r].children[c].querySelector("a.inner");
      if (next) { next.focus(); return; }
    }
  });
  // transcripts: built from the embedded report when first opened (DOM text only, never markup)
  var data = document.getElementById("report-data");
  var report = null;
  function getReport() {  // the embedded report, parsed once (inflated first when it is packed)
    if (!report) {
      var text = data.getAttribute("data-packed") ? inflate(JSON.parse(data.textContent)) : Promise.resolve(data.textContent);
      report = text.then(JSON.parse);
    }
    return report;
  }
  var CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g;
  function clean(v) {
    return String(v).replace(CONTROL, function (c) { return "\\x" + ("0" + c.charCodeAt(0).toString(16)).slice(-2); });
  }
  function secs(t) {
    if (typeof t !== "number") return t == null ? "" : String(t);
    if (t < 1) return Math.round(t * 1000) + " ms";
    if (t < 60) return t.toFixed(2) + " s";
    return Math.floor(t / 60) + " min " + Math.round(t % 60) + " s";
  }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = clean(text);
    return e;
  }
  function table(rows, first) {
    if (!rows.length) return el("p", "muted", "none");
    var cols = first.filter(function (k) { return rows.some(function (r) { return k in r; }); });
    rows.forEach(function (r) { Object.keys(r).forEach(function (k) { if (cols.indexOf(k) < 0) cols.push(k); }); });
    var wrap = el("div", "tscroll"), t = el("table", "data"), head = el("tr"), body = el("tbody");
    function isTime(c) { return c === "t" || c.indexOf("t_") === 0; }
    cols.forEach(function (c) { head.appendChild(el("th", null, isTime(c) ? c + " (__CELL_CLOCK__)" : c)); });
    t.appendChild(el("thead")).appendChild(head);
    rows.forEach(function (r) {
      var tr = el("tr");
      cols.forEach(function (c) {
        var v = r[c];
        if (isTime(c)) v = secs(v);
        else if (v !== null && typeof v === "object") v = JSON.stringify(v);
        var s = v == null ? "" : String(v);
        tr.appendChild(el("td", s.length <= 12 ? "nw" : null, s));
      });
      body.appendChild(tr);
    });
    t.appendChild(body);
    wrap.appendChild(t);
    return wrap;
  }
  function fillTranscript(details) {
    if (details.getAttribute("data-done") || !data) return;
    details.setAttribute("data-done", "1");
    getReport().then(function (report) { transcript(details, report); });
  }
  function transcript(details, report) {
    var result = report.results[Number(details.getAttribute("data-result"))];
    var tr = result && result.transcript;
    if (!tr) return;
    var body = details.querySelector(".tr-body");
    body.textContent = "";
    if (tr.notes && tr.notes.length) {
      var ul = body.appendChild(el("ul", "notes"));
      tr.notes.forEach(function (n) { ul.appendChild(el("li", null, n)); });
    }
    var events = tr.events || [], max = __MAX_EVENTS__;
    body.appendChild(el("h5", null, "events the application saw"));
    body.appendChild(table(events.slice(0, max).map(function (e, i) {
      return { "#": i + 1, t: e.t, conn: e.connection, type: e.type, id: e.id, data: e.data };
    }), []));
    if (events.length > max) body.appendChild(el("p", "muted", "… " + (events.length - max) + " more events in report.json"));
    body.appendChild(el("h5", null, "connection attempts"));
    body.appendChild(table(tr.attempts || [], ["number", "t", "last_event_id"]));
    if (tr.stderr_tail) {
      body.appendChild(el("h5", null, "stderr (tail)"));
      body.appendChild(el("pre", "stderr", tr.stderr_tail));
    }
    var raw = body.appendChild(el("details", "raw"));
    raw.appendChild(el("summary", null, "raw transcript JSON"));
    var text = JSON.stringify(tr, null, 1);
    if (text.length > __MAX_PRE__) text = text.slice(0, __MAX_PRE__) + "\n… (the rest is in report.json)";
    raw.appendChild(el("pre", "json", text));
  }
  document.addEventListener("toggle", function (ev) {
    var d = ev.target;
    if (d.open && d.matches && d.matches("details.transcript[data-result]")) fillTranscript(d);
  }, true);

  var filter = document.getElementById("only-failing");
  var noneFailing = document.getElementById("none-failing");
  filter.addEventListener("change", function () {
    matrix.classList.toggle("only-failing", filter.checked);
    if (noneFailing) noneFailing.hidden = !filter.checked;
  });
  var save = document.getElementById("save-json");
  if (data && save && window.Blob && URL.createObjectURL) {
    save.hidden = false;
    save.addEventListener("click", function () {
      getReport().then(function (report) {
        var a = document.createElement("a");
        a.href = URL.createObjectURL(new Blob([JSON.stringify(report, null, 2) + "\n"], { type: "application/json" }));
        a.download = "report.json";
        document.body.appendChild(a); a.click(); a.remove();
      });
    });
  }
  document.documentElement.classList.add("js");
  sync(false);
})();
