// tidal dashboard: one page, fed by server-sent events (/events): `init` carries the sliding
// window, then one `frame` a second. The overview is a table; `#/ns/name` shows one service's
// charts (uPlot), its scaling decisions (drawn on every chart as markers) and its pods.
"use strict";

const state = { windowS: 300, frames: [], pods: {}, decisions: [], route: null, charts: {} };
window.tidal = state; // read by tests and by curious users in the console

const $ = (sel) => document.querySelector(sel);
const fmt = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);

function metricText(row) {
  return (row.metrics || [])
    .map((m) => `${esc(m.name)}: ${fmt(m.current, m.unit === "%" ? 0 : 2)}${m.unit === "%" ? "%" : ""} / ${fmt(m.target, m.unit === "%" ? 0 : 2)}${m.unit === "%" ? "%" : ""}`)
    .join(", ");
}

function latest() {
  return state.frames.length ? state.frames[state.frames.length - 1] : { services: {} };
}

// ---- overview ---------------------------------------------------------------------------------
function renderOverview() {
  const rows = Object.entries(latest().services);
  $("#empty").hidden = rows.length > 0;
  $("#services tbody").innerHTML = rows
    .map(([key, r]) => {
      const a = r.autoscaler ? `${r.autoscaler.kind} ${esc(r.autoscaler.name)}` : "–";
      const bounds = r.min !== null || r.max !== null ? `${fmt(r.min, 0)}…${fmt(r.max, 0)}` : "–";
      return `<tr class="row" data-key="${esc(key)}"><td><a href="#/${esc(key)}">${esc(key)}</a></td>
        <td class="num">${r.ready} / ${r.desired}</td><td class="num">${fmt(r.rps)}</td>
        <td class="num">${fmt(r.p99)}</td><td class="num">${fmt(r.errors)}</td><td>${a}</td>
        <td>${metricText(r) || "–"}</td><td>${bounds}</td></tr>`;
    })
    .join("");
}

// ---- one service ------------------------------------------------------------------------------
const CHARTS = [
  { id: "requests", title: "Requests (per second)", unit: "req/s",
    series: [["requests/s", "#2563eb", (r) => r.rps], ["non-2xx/s", "#dc2626", (r) => r.errors]] },
  { id: "latency", title: "Latency (ms)", unit: "ms",
    series: [["p50", "#0891b2", (r) => r.p50], ["p99", "#7c3aed", (r) => r.p99]] },
  { id: "inflight", title: "In flight and held (requests)", unit: "requests",
    series: [["in flight", "#059669", (r) => r.in_flight], ["held", "#d97706", (r) => r.held]] },
  { id: "replicas", title: "Replicas", unit: "pods",
    series: [
      ["desired", "#2563eb", (r) => r.desired],
      ["ready", "#16a34a", (r) => r.ready],
      ["min", "#9ca3af", (r) => r.min, [4, 4]],
      ["max", "#6b7280", (r) => r.max, [4, 4]],
    ] },
];

function metricChart(row) {
  const series = [];
  const colors = ["#dc2626", "#2563eb", "#059669", "#7c3aed"];
  (row.metrics || []).forEach((m, i) => {
    const unit = m.unit === "%" ? " (%)" : "";
    series.push([`${m.name}${unit}`, colors[i % 4], (r) => (r.metrics[i] || {}).current]);
    series.push([`${m.name} target${unit}`, colors[i % 4], (r) => (r.metrics[i] || {}).target, [6, 4]]);
  });
  return { id: "metrics", title: `What the ${row.autoscaler ? row.autoscaler.kind : "autoscaler"} reads, against its target`, unit: "", series };
}

// A short label for a decision: its new size and the gist of its reason
// ("→ 8 cpu above target"), or the Event's reason when it names no size.
function shortLabel(d) {
  const size = (d.message.match(/New size: (\d+)/) || [])[1];
  if (!size) return d.reason;
  const why = (d.message.match(/reason: (.*)$/) || [])[1] || "";
  const gist = why.replace(/ resource utilization/, "").replace(/ \(.*?\)/g, "").replace(/^All metrics /, "");
  return `→ ${size} ${gist}`.slice(0, 32);
}

// Decisions as vertical lines on every chart; labelled on the replicas chart, where there is
// room (warnings stay pale unlabelled lines: the list below has them).
function markersPlugin(key, labels) {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const [x0, x1] = [u.scales.x.min, u.scales.x.max];
          const drawn = [];
          const rowEnds = [-Infinity, -Infinity, -Infinity];
          ctx.save();
          ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
          for (const d of state.decisions) {
            // events are stamped to the second: one of the oldest frame's second belongs to the
            // window, and one of the newest second may be stamped just after the newest frame
            if (d.service !== key || d.t === null || d.t < Math.floor(x0) || d.t > x1 + 2) continue;
            const x = Math.round(u.valToPos(Math.max(x0, Math.min(d.t, x1)), "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            ctx.strokeStyle = d.type === "Warning" ? "#f0a0a0" : "#b45309";
            ctx.setLineDash([3, 3]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            if (labels && d.type !== "Warning") {
              // the first of three rows where it does not overlap an earlier label, else none
              const label = shortLabel(d);
              const width = ctx.measureText(label).width;
              const left = Math.max(u.bbox.left, Math.min(x + 3, u.bbox.left + u.bbox.width - width));
              const row = rowEnds.findIndex((end) => left > end + 4);
              if (row >= 0) {
                ctx.fillStyle = ctx.strokeStyle;
                ctx.fillText(label, left, u.bbox.top + 12 * devicePixelRatio * (1 + row));
                rowEnds[row] = left + width;
              }
            }
            drawn.push({ t: d.t, kind: d.kind, reason: d.reason, message: d.message });
          }
          ctx.restore();
          u.tidalMarkers = drawn;
        },
      ],
    },
  };
}

function chartData(def, key) {
  const xs = [];
  const ys = def.series.map(() => []);
  for (const f of state.frames) {
    const r = f.services[key];
    if (!r) continue;
    xs.push(f.t);
    def.series.forEach((s, i) => {
      const v = s[2](r);
      ys[i].push(v === undefined ? null : v);
    });
  }
  return [xs, ...ys];
}

function buildService(key) {
  const row = latest().services[key];
  const box = $("#charts");
  box.innerHTML = "";
  state.charts = {};
  if (!row || typeof uPlot === "undefined") return;
  const defs = CHARTS.map((def) =>
    def.id === "replicas" && row.cron
      ? { ...def, series: [...def.series,
          ["CronHPA smallest job", "#a855f7", (r) => (r.cron || {}).min, [2, 3]],
          ["CronHPA largest job", "#7e22ce", (r) => (r.cron || {}).max, [2, 3]]] }
      : def);
  if ((row.metrics || []).length) defs.push(metricChart(row));
  for (const def of defs) {
    const div = document.createElement("div");
    div.className = "chart";
    div.id = `chart-${def.id}`;
    div.innerHTML = `<h3>${esc(def.title)}</h3>`;
    box.appendChild(div);
    const opts = {
      width: 560,
      height: 200,
      scales: { x: { time: true } },
      axes: [{}, { label: def.unit, size: 60 }],
      series: [
        { label: "time" },
        ...def.series.map(([label, stroke, , dash]) => ({ label, stroke, width: 2, dash, spanGaps: true })),
      ],
      plugins: [markersPlugin(key, def.id === "replicas")],
    };
    const chart = new uPlot(opts, chartData(def, key), div);
    chart.tidalDef = def;
    state.charts[def.id] = chart;
  }
}

function renderService(key) {
  const row = latest().services[key];
  $("#svc-title").textContent = key;
  if (!row) {
    $("#svc-summary").textContent = "no such service (yet)";
    return;
  }
  const a = row.autoscaler ? `${row.autoscaler.kind} ${row.autoscaler.name}` : "no autoscaler";
  $("#svc-summary").textContent = `${row.ready}/${row.desired} ready · ${a} · ${metricText(row).replace(/&[a-z]+;/g, "") || "no metrics yet"}`;
  const ids = Object.keys(state.charts);
  const wantMetrics = (row.metrics || []).length > 0;
  const withCron = !!state.charts.replicas && state.charts.replicas.tidalDef.series.length > 4;
  if (!ids.length || ids.includes("metrics") !== wantMetrics || withCron !== !!row.cron) {
    buildService(key);
  }
  for (const chart of Object.values(state.charts)) chart.setData(chartData(chart.tidalDef, key));
  const mine = [];
  for (const d of state.decisions) {
    if (d.service !== key) continue;
    // a warning repeated while metrics are missing folds into its latest occurrence
    const same = d.type === "Warning" && mine.findIndex((m) => m.type === "Warning" && m.reason === d.reason && m.message === d.message);
    if (same !== false && same >= 0) {
      const m = mine.splice(same, 1)[0];
      mine.push({ ...d, times: m.times + 1 });
    } else mine.push({ ...d, times: 1 });
  }
  $("#decisions").innerHTML = mine
    .slice(-30)
    .reverse()
    .map((d) => `<li class="decision ${d.type === "Warning" ? "warning" : ""}"><span class="time">${new Date(d.t * 1000).toLocaleTimeString()}</span>
      <span class="kind">${esc(d.kind)}</span> <span class="reason">${esc(d.reason)}</span>:
      <span class="message">${esc(d.message)}</span>${d.times > 1 ? ` <span class="muted">(×${d.times})</span>` : ""}</li>`)
    .join("") || '<li class="muted">none in the window</li>';
  const pods = state.pods[key] || [];
  $("#pods tbody").innerHTML = pods
    .map((p) => `<tr class="pod"><td>${esc(p.name)}</td><td class="phase-${esc(p.phase)}">${esc(p.phase)}</td>
      <td>${p.ready ? "yes" : "no"}</td><td class="num">${p.restarts}</td><td class="num">${fmt(p.cpu_m, 0)}</td>
      <td class="num">${fmt(p.mem_mib)}</td><td><a href="/logs/${esc(row.ns)}/${esc(p.name)}" target="_blank">logs</a></td></tr>`)
    .join("");
}

// ---- routing and the stream -------------------------------------------------------------------
function route() {
  const m = location.hash.match(/^#\/([^/]+)\/([^/]+)$/);
  const key = m ? `${decodeURIComponent(m[1])}/${decodeURIComponent(m[2])}` : null;
  if (key !== state.route) {
    state.route = key;
    state.charts = {};
  }
  $("#overview").hidden = key !== null;
  $("#service").hidden = key === null;
  $("#crumb").textContent = key ? `› ${key}` : "";
  render();
}

function render() {
  if (state.route) renderService(state.route);
  else renderOverview();
}

function trim() {
  const since = Date.now() / 1000 - state.windowS;
  while (state.frames.length && state.frames[0].t < since) state.frames.shift();
  while (state.decisions.length && (state.decisions[0].t || 0) < since) state.decisions.shift();
}

function connect() {
  const es = new EventSource("/events");
  es.addEventListener("init", (e) => {
    const d = JSON.parse(e.data);
    state.windowS = d.window_s;
    state.frames = d.frames;
    state.pods = d.pods;
    state.decisions = d.decisions;
    state.charts = {};
    $("#live").textContent = "live";
    $("#live").className = "live ok";
    render();
  });
  es.addEventListener("frame", (e) => {
    const f = JSON.parse(e.data);
    state.frames.push({ t: f.t, services: f.services });
    state.pods = f.pods;
    for (const d of f.decisions) state.decisions.push(d);
    trim();
    state.lastFrame = f.t;
    render();
  });
  es.onerror = () => {
    $("#live").textContent = "reconnecting…";
    $("#live").className = "live";
  };
}

window.addEventListener("hashchange", route);
route();
connect();
