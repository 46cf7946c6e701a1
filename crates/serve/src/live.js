// ganbench serve: the runs table (filter, sort by any column: the parameters that vary and the
// final metrics; choose runs to compare) and, on a sweep's page,
// the live curves and the report that follows the sweep. Plain DOM, no framework.
"use strict";

const POLL_MS = 2000;
const REPORT_MS = 10000;

function el(name, attrs, children) {
  const e = document.createElement(name);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children || []) e.append(c);
  return e;
}

function fmt(x) {
  if (x === null || x === undefined) return "–";
  if (typeof x !== "number") return String(x);
  return Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : String(+x.toPrecision(4));
}

// ---- the runs table ----
const form = document.getElementById("runs-form");
const table = { sort: "", desc: false, chosen: new Set() };

async function loadRuns() {
  const params = new URLSearchParams();
  if (form.dataset.sweep) params.set("sweep", form.dataset.sweep);
  const filter = document.getElementById("filter").value.trim();
  if (filter) params.set("where", filter);
  if (table.sort) { params.set("sort", table.sort); params.set("desc", table.desc); }
  const response = await fetch("/api/runs?" + params);
  const error = document.getElementById("filter-error");
  if (!response.ok) { error.textContent = await response.text(); return; }
  error.textContent = "";
  drawRuns(await response.json());
}

function drawRuns(rows) {
  const metrics = [...new Set(rows.flatMap(r => Object.keys(r.final)))].sort();
  // The parameters that tell these runs apart, as columns one can sort by.
  const params = [...new Set(rows.flatMap(r => Object.keys(r.params)))].sort().filter(p =>
    new Set(rows.map(r => JSON.stringify(r.params[p]))).size > 1);
  const columns = [["", null], ["run", "id"], ["configuration", "label"], ["seed", "seed"],
    ["status", "status"], ["step", "step"], ["tags", "tag"], ...params.map(p => [p, p]),
    ...metrics.map(m => [m, m])];
  if (!form.dataset.sweep) columns.splice(2, 0, ["sweep", "sweep"]);
  const head = el("tr", {}, columns.map(([title, field]) => {
    const th = el("th", field ? { class: "sortable", "data-field": field } : {},
      [title + (field && field === table.sort ? (table.desc ? " ▼" : " ▲") : "")]);
    if (field) th.addEventListener("click", () => {
      table.desc = table.sort === field ? !table.desc : false;
      table.sort = field;
      loadRuns();
    });
    return th;
  }));
  document.querySelector("#runs thead").replaceChildren(head);
  document.querySelector("#runs tbody").replaceChildren(...rows.map(r => {
    const box = el("input", { type: "checkbox", "data-run": r.id });
    box.checked = table.chosen.has(r.id);
    box.addEventListener("change", () => {
      box.checked ? table.chosen.add(r.id) : table.chosen.delete(r.id);
      document.getElementById("compare").disabled = table.chosen.size === 0;
    });
    const cells = [el("td", {}, [box]), el("td", { class: "num" }, [el("a", { href: "/runs/" + r.id }, [String(r.id)])]),
      el("td", {}, [r.configuration]), el("td", { class: "num" }, [String(r.seed)]),
      el("td", ["failed", "diverged"].includes(r.status) ? { class: "bad" } : {}, [r.status]),
      el("td", { class: "num" }, [r.total_steps ? r.step + "/" + r.total_steps : String(r.step)]),
      el("td", {}, [r.tags.join(" ")]),
      ...params.map(p => el("td", { class: "num" }, [fmt(r.params[p])])),
      ...metrics.map(m => el("td", { class: "num" }, [fmt(r.final[m])]))];
    if (!form.dataset.sweep) cells.splice(2, 0, el("td", {}, [r.sweep]));
    return el("tr", { "data-run": r.id }, cells);
  }));
  document.body.dataset.runRows = rows.length;
}

if (form) {
  form.addEventListener("submit", e => { e.preventDefault(); loadRuns(); });
  document.getElementById("compare").addEventListener("click", () => {
    location.href = "/compare?runs=" + [...table.chosen].join(",");
  });
  loadRuns();
}

// ---- a sweep's live curves and report ----
const chart = document.getElementById("live-chart");
const live = { fingerprint: null, reportFingerprint: null, reportAt: Date.now() };
const COLOURS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#f0e442", "#000000"];

function drawCurves(state) {
  const series = state.runs.map(r => ({ ...r, points: r.points.filter(p => p[1] !== null) }));
  const all = series.flatMap(s => s.points);
  document.body.dataset.livePoints = all.length;
  const w = chart.clientWidth || 800, h = chart.clientHeight || 320, pad = 40;
  chart.setAttribute("viewBox", `0 0 ${w} ${h}`);
  const ns = "http://www.w3.org/2000/svg";
  const node = (name, attrs, text) => {
    const e = document.createElementNS(ns, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  };
  if (all.length === 0) {
    chart.replaceChildren(node("text", { x: pad, y: h / 2 }, "no points of " + (state.metric || "any metric") + " yet"));
    return;
  }
  const xs = all.map(p => p[0]), ys = all.map(p => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  let y0 = Math.min(...ys), y1 = Math.max(...ys);
  if (y0 === y1) { y0 -= 1; y1 += 1; }
  const X = x => pad + (x - x0) / (x1 - x0) * (w - 2 * pad);
  const Y = y => h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad);
  const children = [
    node("line", { x1: pad, y1: h - pad, x2: w - pad, y2: h - pad, stroke: "#999" }),
    node("line", { x1: pad, y1: pad, x2: pad, y2: h - pad, stroke: "#999" }),
    node("text", { x: pad, y: h - 8, "font-size": 12 }, "step " + x0),
    node("text", { x: w - pad, y: h - 8, "font-size": 12, "text-anchor": "end" }, "step " + x1),
    node("text", { x: 4, y: pad - 8, "font-size": 12 }, state.metric + " " + fmt(y1)),
    node("text", { x: 4, y: h - pad, "font-size": 12 }, fmt(y0)),
  ];
  series.forEach((s, i) => {
    if (s.points.length === 0) return;
    const line = node("polyline", {
      points: s.points.map(p => X(p[0]).toFixed(1) + "," + Y(p[1]).toFixed(1)).join(" "),
      fill: "none", stroke: COLOURS[i % COLOURS.length], "stroke-width": 1.5, "data-run": s.run,
    });
    line.append(node("title", {}, `run ${s.run}: ${s.configuration} (${s.status})`));
    children.push(line);
  });
  chart.replaceChildren(...children);
}

async function refresh() {
  const metric = document.getElementById("metric").value;
  {
    const response = await fetch(`/api/sweeps/${chart.dataset.sweep}/state?metric=${encodeURIComponent(metric)}`);
    if (response.ok) {
      const state = await response.json();
      drawCurves(state);
      const c = state.counts;
      document.getElementById("counts").textContent =
        `${c.finished} finished · ${c.running} running · ${c.diverged} diverged · ${c.failed} failed · ${c.interrupted + c.queued} to do`;
      const running = state.runs.filter(r => r.status === "running").length;
      document.getElementById("live-status").textContent = running ? `${running} run(s) training` : "nothing training";
      if (live.fingerprint !== null && state.fingerprint !== live.fingerprint && form) loadRuns();
      live.fingerprint = state.fingerprint;
      if (live.reportFingerprint === null) live.reportFingerprint = state.fingerprint;
      if (state.fingerprint !== live.reportFingerprint && Date.now() - live.reportAt >= REPORT_MS) {
        live.reportFingerprint = state.fingerprint;
        live.reportAt = Date.now();
        document.getElementById("report").src = `/sweeps/${chart.dataset.sweep}/report/index.html?at=${live.reportAt}`;
      }
    }
  }
}

async function poll() {
  try {
    await refresh();
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

if (chart) {
  document.getElementById("metric").addEventListener("change", () => refresh());
  const preferred = ["modes", "fid", "loss_g"].find(m => [...document.getElementById("metric").options].some(o => o.value === m));
  if (preferred) document.getElementById("metric").value = preferred;
  poll();
}
