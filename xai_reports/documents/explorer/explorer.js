"use strict";
(function () {
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var R = D.rows, F = D.features, N = R.id.length, M = D.whatif.model;
  var $ = function (id) { return document.getElementById(id); };
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  var SVG = "http://www.w3.org/2000/svg";
  function sv(tag, attrs, tip) {
    var e = document.createElementNS(SVG, tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (tip) { var t = document.createElementNS(SVG, "title"); t.textContent = tip; e.appendChild(t); }
    return e;
  }
  function pct(x) { return (100 * x).toFixed(1) + "%"; }
  function fmt(v) { return v === null || v === undefined ? "missing" : (typeof v === "number" ? +v.toPrecision(6) : String(v)); }
  function short(t, n) { return t.length > n ? t.slice(0, n - 1) + "\u2026" : t; }
  function outcome(i) { return R.deny[i] ? D.decision.deny_label : D.decision.approve_label; }

  // ---- overview -------------------------------------------------------------------------------
  function table(parent, caption, head, rows, numCols) {
    var t = el("table"); t.appendChild(el("caption", {}, caption));
    var tr = el("tr"); head.forEach(function (h, j) { tr.appendChild(el("th", {scope: "col", "class": numCols.indexOf(j) >= 0 ? "num" : ""}, h)); });
    var th = el("thead"); th.appendChild(tr); t.appendChild(th);
    var tb = el("tbody");
    rows.forEach(function (r) {
      var tr2 = el("tr");
      r.forEach(function (c, j) { tr2.appendChild(el(j === 0 ? "th" : "td", j === 0 ? {scope: "row"} : {"class": numCols.indexOf(j) >= 0 ? "num" : ""}, c)); });
      tb.appendChild(tr2);
    });
    t.appendChild(tb); parent.appendChild(t);
  }
  function overview() {
    var o = $("overview-body"), nd = 0, counts = D.reasons.map(function () { return 0; });
    for (var i = 0; i < N; i++) { if (R.deny[i]) nd++; R.reasons[i].forEach(function (k) { counts[k]++; }); }
    table(o, "Decisions", ["", "count", "share"], [["all decisions", N, "100%"], [D.decision.deny_label, nd, N ? pct(nd / N) : "-"],
      [D.decision.approve_label, N - nd, N ? pct((N - nd) / N) : "-"]], [1, 2]);
    table(o, "Principal reasons stated (share of " + D.decision.deny_label + " decisions)", ["reason", "decisions", "share"],
      D.reasons.map(function (r, k) { return [r.code + ": " + r.text, counts[k], nd ? pct(counts[k] / nd) : "-"]; }), [1, 2]);
    D.groups.forEach(function (g, gi) {
      var vals = {}, order = [];
      for (var i = 0; i < N; i++) {
        var v = R.group[i][gi];
        if (!(v in vals)) { vals[v] = {n: 0, d: 0, r: D.reasons.map(function () { return 0; })}; order.push(v); }
        vals[v].n++; if (R.deny[i]) vals[v].d++;
        R.reasons[i].forEach(function (k) { vals[v].r[k]++; });
      }
      order.sort();
      table(o, "Outcome rates by " + g.label, ["group", "decisions", D.decision.deny_label, "rate"],
        order.map(function (v) { return [v, vals[v].n, vals[v].d, pct(vals[v].d / vals[v].n)]; }), [1, 2, 3]);
      table(o, "Principal reasons by " + g.label + " (share of the group's " + D.decision.deny_label + " decisions)",
        ["reason"].concat(order), D.reasons.map(function (r, k) {
          return [r.code + ": " + r.text].concat(order.map(function (v) { return vals[v].d ? pct(vals[v].r[k] / vals[v].d) : "-"; }));
        }), order.map(function (_, j) { return j + 1; }));
    });
  }

  // ---- importance and dependence --------------------------------------------------------------
  function importance() {
    var w = 520, bh = 22, left = 210, h = F.length * bh + 10, max = Math.max.apply(null, D.importance.concat([1e-12]));
    var s = sv("svg", {width: w, height: h, role: "img", "aria-labelledby": "imp-h"});
    var order = F.map(function (_, j) { return j; }).sort(function (a, b) { return D.importance[b] - D.importance[a]; });
    order.forEach(function (j, r) {
      var y = 5 + r * bh, bw = (w - left - 60) * D.importance[j] / max;
      var t = sv("text", {x: left - 6, y: y + 14, "text-anchor": "end"}); t.textContent = short(F[j].label, 32); s.appendChild(t);
      s.appendChild(sv("rect", {x: left, y: y + 3, width: Math.max(bw, 1), height: bh - 6, "class": "bar-imp"},
        F[j].label + ": mean |attribution| " + fmt(D.importance[j])));
      var v = sv("text", {x: left + bw + 4, y: y + 14}); v.textContent = fmt(D.importance[j]); s.appendChild(v);
    });
    $("importance-chart").appendChild(s);
    var sel = $("dep-feature");
    order.forEach(function (j) { sel.appendChild(el("option", {value: j}, F[j].label)); });
    sel.addEventListener("change", dependence); dependence();
  }
  function dependence() {
    var j = +$("dep-feature").value, box = $("dependence-chart"), f = F[j];
    box.textContent = "";
    var w = 520, h = 260, pad = 45, pts = [], step = Math.max(1, Math.ceil(N / 1500));
    for (var i = 0; i < N; i += step) pts.push(i);
    var xs = pts.map(function (i) { var v = R.x[i][j]; return f.categories ? f.categories.indexOf(v) : v; });
    var ys = pts.map(function (i) { return R.phi[i][j]; });
    var fin = xs.filter(function (v) { return v !== null && v >= 0 || v < 0 && !f.categories; });
    var x0 = Math.min.apply(null, fin.concat([0])), x1 = Math.max.apply(null, fin.concat([1]));
    var y0 = Math.min.apply(null, ys.concat([0])), y1 = Math.max.apply(null, ys.concat([0]));
    if (x1 === x0) x1 = x0 + 1; if (y1 === y0) y1 = y0 + 1;
    var s = sv("svg", {width: w, height: h, role: "img", "aria-label": "Attribution of " + f.label + " against its value, " + pts.length + " decisions"});
    s.appendChild(sv("line", {x1: pad, y1: h - pad, x2: w - 10, y2: h - pad, stroke: "#555"}));
    s.appendChild(sv("line", {x1: pad, y1: 10, x2: pad, y2: h - pad, stroke: "#555"}));
    var zy = 10 + (h - pad - 10) * (y1 - 0) / (y1 - y0);
    s.appendChild(sv("line", {x1: pad, y1: zy, x2: w - 10, y2: zy, stroke: "#aaa", "stroke-dasharray": "3 3"}));
    var lx = sv("text", {x: w / 2, y: h - 8, "text-anchor": "middle"}); lx.textContent = f.label; s.appendChild(lx);
    var ly = sv("text", {x: 4, y: 10}); ly.textContent = "attribution"; s.appendChild(ly);
    [[y1, 14], [y0, h - pad]].forEach(function (t) { var e = sv("text", {x: pad - 3, y: t[1], "text-anchor": "end"}); e.textContent = fmt(t[0]); s.appendChild(e); });
    var ticks = f.categories ? f.categories.map(function (c, k) { return [k, c]; }) : [[x0, fmt(x0)], [x1, fmt(x1)]];
    ticks.forEach(function (t) { var e = sv("text", {x: pad + (w - pad - 10) * (t[0] - x0) / (x1 - x0), y: h - pad + 13, "text-anchor": "middle"}); e.textContent = String(t[1]); s.appendChild(e); });
    pts.forEach(function (i, k) {
      if (xs[k] === null || xs[k] < 0 && f.categories) return;
      var jit = f.categories ? ((k * 7919) % 100 - 50) / 400 : 0;
      s.appendChild(sv("circle", {cx: pad + (w - pad - 10) * ((xs[k] + jit) - x0) / (x1 - x0 || 1), cy: 10 + (h - pad - 10) * (y1 - ys[k]) / (y1 - y0), r: 2.5, "class": "pt"},
        R.id[i] + ": " + f.label + " = " + fmt(R.x[i][j]) + ", attribution " + fmt(ys[k])));
    });
    box.appendChild(s);
  }

  // ---- decision table -------------------------------------------------------------------------
  var sortKey = "p", sortDir = -1, limit = 100, current = -1, view = [];
  function filters() {
    var fo = $("f-outcome"), fr = $("f-reason"), fg = $("f-group");
    D.reasons.forEach(function (r, k) { fr.appendChild(el("option", {value: k}, r.code + ": " + r.text)); });
    D.groups.forEach(function (g, gi) {
      var seen = {};
      for (var i = 0; i < N; i++) seen[R.group[i][gi]] = 1;
      Object.keys(seen).sort().forEach(function (v) { fg.appendChild(el("option", {value: gi + "\u0001" + v}, g.label + ": " + v)); });
    });
    [fo, fr, fg].forEach(function (s) { s.addEventListener("change", function () { limit = 100; refresh(); }); });
    $("f-search").addEventListener("input", function () { limit = 100; refresh(); });
    $("more").addEventListener("click", function () { limit += 500; refresh(); });
  }
  function keyOf(i) {
    if (sortKey === "p") return R.p[i];
    if (sortKey === "id") return R.id[i];
    if (sortKey === "outcome") return R.deny[i] ? 1 : 0;
    if (sortKey === "reason") return R.reasons[i].length ? D.reasons[R.reasons[i][0]].code : "";
    return R.group[i][+sortKey.slice(1)];
  }
  function refresh() {
    var fo = $("f-outcome").value, fr = $("f-reason").value, fg = $("f-group").value, q = $("f-search").value.trim().toLowerCase();
    var gi = -1, gv = null;
    if (fg) { gi = +fg.split("\u0001")[0]; gv = fg.split("\u0001")[1]; }
    view = [];
    for (var i = 0; i < N; i++) {
      if (fo === "deny" && !R.deny[i] || fo === "approve" && R.deny[i]) continue;
      if (fr !== "" && R.reasons[i].indexOf(+fr) < 0) continue;
      if (gi >= 0 && R.group[i][gi] !== gv) continue;
      if (q && R.id[i].toLowerCase().indexOf(q) < 0) continue;
      view.push(i);
    }
    view.sort(function (a, b) { var x = keyOf(a), y = keyOf(b); return (x < y ? -1 : x > y ? 1 : a - b) * sortDir; });
    var tb = $("dec-body"); tb.textContent = "";
    view.slice(0, limit).forEach(function (i) {
      var tr = el("tr", {"data-row": i}); if (i === current) tr.className = "sel";
      var td = el("td"), b = el("button", {type: "button", "data-row": i, "aria-label": "Show decision " + R.id[i]}, R.id[i]);
      b.addEventListener("click", function () { select(i, true); });
      td.appendChild(b); tr.appendChild(td);
      tr.appendChild(el("td", {"class": "num"}, R.p[i].toFixed(4)));
      tr.appendChild(el("td", {"class": R.deny[i] ? "deny" : "approve"}, outcome(i)));
      tr.appendChild(el("td", {}, R.reasons[i].map(function (k) { return D.reasons[k].code; }).join(", ") || (R.flag[i] ? "flagged for review" : "")));
      R.group[i].forEach(function (v) { tr.appendChild(el("td", {}, v)); });
      tb.appendChild(tr);
    });
    $("dec-count").textContent = view.length + " of " + N + " decisions match" + (view.length > limit ? "; showing the first " + limit : "");
    $("more").hidden = view.length <= limit;
    document.querySelectorAll("#dec-table th[data-key]").forEach(function (th) {
      th.setAttribute("aria-sort", th.getAttribute("data-key") === sortKey ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
  }
  function tableHead() {
    var tr = $("dec-head"), cols = [["id", "Decision id"], ["p", "P(" + D.decision.deny_label + ")"], ["outcome", "Outcome"], ["reason", "Principal reasons"]];
    D.groups.forEach(function (g, gi) { cols.push(["g" + gi, g.label]); });
    cols.forEach(function (c) {
      var th = el("th", {scope: "col", "data-key": c[0]}), b = el("button", {type: "button"}, c[1]);
      b.addEventListener("click", function () { sortDir = sortKey === c[0] ? -sortDir : (c[0] === "p" ? -1 : 1); sortKey = c[0]; refresh(); });
      th.appendChild(b); tr.appendChild(th);
    });
  }

  // ---- one decision ---------------------------------------------------------------------------
  function waterfall(i) {
    var phi = R.phi[i], order = F.map(function (_, j) { return j; }).sort(function (a, b) { return Math.abs(phi[b]) - Math.abs(phi[a]); });
    var bh = 22, w = 600, left = 250, h = (order.length + 2) * bh + 10, acc = R.base[i], lo = acc, hi = acc;
    order.forEach(function (j) { acc += phi[j]; lo = Math.min(lo, acc); hi = Math.max(hi, acc); });
    var sc = function (v) { return left + (w - left - 70) * (v - lo) / ((hi - lo) || 1); };
    var s = sv("svg", {width: w, height: h, role: "img", "aria-label": "Attribution waterfall of decision " + R.id[i] + " (" + D.explanation.output + " units)"});
    var t0 = sv("text", {x: left - 6, y: 19, "text-anchor": "end"}); t0.textContent = "baseline " + fmt(R.base[i]); s.appendChild(t0);
    acc = R.base[i];
    order.forEach(function (j, r) {
      var y = 5 + (r + 1) * bh, a = acc, b = acc + phi[j];
      var t = sv("text", {x: left - 6, y: y + 14, "text-anchor": "end"}); t.textContent = short(F[j].label, 24) + " = " + short(String(fmt(R.x[i][j])), 10); s.appendChild(t);
      s.appendChild(sv("rect", {x: sc(Math.min(a, b)), y: y + 3, width: Math.max(Math.abs(sc(b) - sc(a)), 1), height: bh - 6,
        "class": phi[j] * (D.decision.positive_class === "deny" ? 1 : -1) > 0 ? "bar-pos" : "bar-neg"},
        F[j].label + " = " + fmt(R.x[i][j]) + ": " + (phi[j] >= 0 ? "+" : "") + fmt(phi[j])));
      var v = sv("text", {x: sc(Math.max(a, b)) + 4, y: y + 14}); v.textContent = (phi[j] >= 0 ? "+" : "") + fmt(phi[j]); s.appendChild(v);
      acc = b;
    });
    var te = sv("text", {x: left - 6, y: 5 + (order.length + 1) * bh + 14, "text-anchor": "end"}); te.textContent = "model output " + fmt(R.margin[i]); s.appendChild(te);
    return s;
  }
  function select(i, focus) {
    current = i;
    var box = $("detail-body"); box.textContent = "";
    box.appendChild(el("h3", {id: "detail-h", tabindex: "-1"}, "Decision " + R.id[i]));
    var p = el("p"); p.appendChild(el("span", {"class": R.deny[i] ? "deny" : "approve"}, outcome(i)));
    p.appendChild(document.createTextNode(": P(" + D.decision.deny_label + ") = " + R.p[i].toFixed(6) + " (threshold " + D.decision.threshold + ")"));
    box.appendChild(p);
    var ids = Object.keys(R.identity || {});
    if (ids.length) {
      var dl = el("dl");
      ids.forEach(function (c) { dl.appendChild(el("dt", {}, c)); dl.appendChild(el("dd", {}, fmt(R.identity[c][i]))); });
      box.appendChild(dl);
    }
    var g = el("div", {"class": "grid"}), a = el("div"), b = el("div");
    a.appendChild(el("h4", {}, "Attribution waterfall (" + D.explanation.method + ")"));
    a.appendChild(waterfall(i));
    a.appendChild(el("p", {"class": "note"}, "Red pushes toward " + D.decision.deny_label + ". Hover a bar for its value."));
    b.appendChild(el("h4", {}, "Reasons as the letter states them"));
    if (R.reasons[i].length) {
      var ol = el("ol"); R.reasons[i].forEach(function (k) { ol.appendChild(el("li", {}, D.reasons[k].text + " (" + D.reasons[k].code + ")")); }); b.appendChild(ol);
    } else b.appendChild(el("p", {}, R.flag[i] ? "No letter: flagged for human review (" + R.flag[i] + ")." : "No reasons: the decision is not adverse."));
    b.appendChild(el("h4", {}, "What could change the decision"));
    var cf = R.cf[i];
    if (cf && cf.text) { b.appendChild(el("p", {}, cf.text)); b.appendChild(el("p", {"class": "note"}, cf.caveat)); }
    else if (cf) b.appendChild(el("p", {"class": "note"}, "The letter makes no counterfactual statement (" + (cf.note || cf.status) + ")."));
    else b.appendChild(el("p", {"class": "note"}, R.deny[i] ? "No counterfactuals were searched." : "Not needed: the decision is not adverse."));
    if (cf && cf.points.length) {
      var ul = el("ul");
      cf.points.forEach(function (pt) {
        var ch = Object.keys(pt.changes).map(function (f) { var fj = F.filter(function (x) { return x.name === f; })[0]; return (fj ? fj.label : f) + " \u2192 " + fmt(pt.changes[f]); }).join(", ");
        var li = el("li", {}, "#" + pt.rank + ": " + ch + " (model's P(" + D.decision.deny_label + ") " + fmt(pt.p) + ") ");
        var btn = el("button", {type: "button"}, "Load in what-if"); btn.addEventListener("click", function () { loadPoint(i, pt.changes); });
        li.appendChild(btn); ul.appendChild(li);
      });
      b.appendChild(ul);
    }
    g.appendChild(a); g.appendChild(b); box.appendChild(g);
    whatif(i);
    document.querySelectorAll("#dec-body tr").forEach(function (tr) { tr.className = +tr.getAttribute("data-row") === i ? "sel" : ""; });
    if (focus) $("detail-h").focus();
  }

  // ---- what-if --------------------------------------------------------------------------------
  function encode(j, v) {
    var f = F[j], cats = M && M.categories[String(j)] || f.categories;
    if (cats) { var c = cats.indexOf(v); return c < 0 ? NaN : c; }
    if (v === null || v === "" || v === undefined) return NaN;
    v = +v; return M && M.float32 ? Math.fround(v) : v;
  }
  function predict(x) {
    var n = M.feature.length, left = new Array(n), v, k;
    for (k = 0; k < n; k++) {
      v = x[M.feature[k]];
      if (v !== v) left[k] = M.default_left[k];
      else if (M.cat_right[k] !== undefined) {
        var rt = M.cat_right[k].indexOf(v) >= 0;
        if (!M.cat_oob_left && (v < 0 || v >= M.cat_width || v % 1)) rt = true;
        left[k] = !rt;
      }
      else left[k] = M.strict ? v < M.threshold[k] : v <= M.threshold[k];
    }
    var m = M.offset, st;
    for (var l = 0; l < M.value.length; l++) {
      var ok = true;
      for (var s = M.leaf_start[l]; s < M.leaf_start[l + 1]; s++) { st = M.path[s]; if ((st > 0) !== left[Math.abs(st) - 1]) { ok = false; break; } }
      if (ok) m += M.value[l];
    }
    var p = M.link === "logistic" ? 1 / (1 + Math.exp(-m)) : m;
    return M.positive_deny ? p : 1 - p;
  }
  function wiValues() {
    return F.map(function (f, j) { var c = $("wi-" + j); return c ? (f.categories ? c.value : (c.value === "" ? null : +c.value)) : R.x[current][j]; });
  }
  function wiUpdate() {
    var out = $("wi-p");
    if (!M) return;
    var vals = wiValues(), p = predict(vals.map(function (v, j) { return encode(j, v); }));
    out.setAttribute("data-p", String(p));
    out.textContent = "P(" + D.decision.deny_label + ") = " + p.toFixed(6) + ": " + (p >= D.decision.threshold ? D.decision.deny_label : D.decision.approve_label);
  }
  function whatif(i) {
    var box = $("whatif-body"); box.textContent = "";
    box.appendChild(el("p", {"class": "note"}, M ? "The model (" + M.value.length + " leaves) runs in this page; change an actionable feature within the pack's bounds and direction."
      : D.whatif.note));
    F.forEach(function (f, j) {
      var row = el("div", {"class": "wi-row"}), id = "wi-" + j, v = R.x[i][j];
      row.appendChild(el("label", {"for": id}, f.label + (f.actionable ? "" : " (not actionable)")));
      var c;
      if (f.categories) {
        c = el("select", {id: id});
        f.categories.forEach(function (cv) { var o = el("option", {value: cv}, cv); if (cv === v) o.selected = true; c.appendChild(o); });
      } else {
        var lo = f.min, hi = f.max;
        if (v !== null && f.direction === "increase_only") lo = Math.max(lo, v);
        if (v !== null && f.direction === "decrease_only") hi = Math.min(hi, v);
        c = el("input", {id: id, type: "number", min: lo, max: hi, step: f.step});
        c.value = v === null ? "" : v;
      }
      if (!f.actionable || !M) c.disabled = true;
      c.addEventListener("input", wiUpdate);
      c.addEventListener("change", function () {   // never past the pack's bounds or against its direction
        if (!f.categories && c.value !== "") {
          var x = +c.value, a = +c.getAttribute("min"), b = +c.getAttribute("max");
          if (x < a) c.value = a; else if (x > b) c.value = b;
        }
        wiUpdate();
      });
      row.appendChild(c);
      row.appendChild(el("span", {"class": "note"}, f.categories ? "" : (f.direction === "any" ? "" : f.direction.replace("_", " "))));
      box.appendChild(row);
    });
    var out = el("output", {id: "wi-p", "aria-live": "polite"}, M ? "" : "Precomputed counterfactuals only (listed above).");
    box.appendChild(el("p", {}, "")).appendChild(out);
    if (M) { var rs = el("button", {type: "button"}, "Reset to the decision's values"); rs.addEventListener("click", function () { whatif(i); }); box.appendChild(rs); }
    wiUpdate();
  }
  function loadPoint(i, changes) {
    if (!M) return;
    F.forEach(function (f, j) { if (f.name in changes) { var c = $("wi-" + j); c.value = changes[f.name]; } });
    wiUpdate(); $("wi-p").focus();
  }
  if (M) { var cr = {}; for (var k in M.cat_right) cr[+k] = M.cat_right[k]; M.cat_right = cr; }

  overview(); importance(); tableHead(); filters(); refresh();
  if (N) { var first = R.deny.indexOf(true); select(first < 0 ? 0 : first, false); }
  window.xaiExplorer = {select: select, predict: predict, encode: encode, wiUpdate: wiUpdate, refresh: refresh};
  document.body.setAttribute("data-ready", "1");
})();
