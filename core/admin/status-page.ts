/**
 * The live status page the admin listener serves at `/`: one HTML document with its style and
 * script inline, so it works on machines without internet and ships inside the package. It
 * listens to /api/events (Server-Sent Events) and redraws on each snapshot.
 */
export const STATUS_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>switchyard</title>
<style>
  :root { --bg: #f6f7f9; --fg: #1d232b; --dim: #66707c; --line: #dde1e6; --ok: #1a7f37; --bad: #c62828; --a: #1f6feb; --b: #bf5b00; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--fg); }
  header { display: flex; gap: 24px; align-items: baseline; padding: 12px 20px; background: #fff; border-bottom: 1px solid var(--line); }
  header h1 { font-size: 18px; margin: 0; }
  header span { color: var(--dim); }
  #conn.live { color: var(--ok); } #conn.down { color: var(--bad); }
  main { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; padding: 16px 20px; }
  section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; min-width: 0; }
  section.wide { grid-column: 1 / -1; }
  h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: var(--dim); }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 6px; border-bottom: 1px solid var(--line); white-space: nowrap; }
  th { font-weight: 600; color: var(--dim); }
  td.num, th.num { text-align: right; }
  .empty { color: var(--dim); font-style: italic; }
  .ok { color: var(--ok); } .bad { color: var(--bad); }
  canvas { width: 100%; height: 140px; display: block; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
  dt { color: var(--dim); } dd { margin: 0; font-variant-numeric: tabular-nums; }
  .err { white-space: pre-wrap; font-family: ui-monospace, monospace; font-size: 12px; color: var(--bad); }
</style>
</head>
<body>
<header>
  <h1>switchyard</h1>
  <span id="version"></span><span id="uptime"></span><span id="generation"></span>
  <span id="conn" class="down">connecting…</span>
</header>
<main>
  <section class="wide"><h2>Calls in progress</h2>
    <table id="calls"><thead><tr><th>caller</th><th>callee</th><th>dialect</th><th>state</th><th class="num">duration</th><th class="num">caller → callee</th><th class="num">callee → caller</th><th>relay ports</th></tr></thead><tbody></tbody></table>
  </section>
  <section><h2>Packets relayed per second</h2><canvas id="packets-chart" width="600" height="140"></canvas></section>
  <section><h2>Calls started per second</h2><canvas id="calls-chart" width="600" height="140"></canvas></section>
  <section><h2>Registrations</h2>
    <table id="registrations"><thead><tr><th>user</th><th>dialect</th><th>address</th><th>contact</th><th class="num">expires in</th></tr></thead><tbody></tbody></table>
  </section>
  <section><h2>Media relay</h2><dl id="relay"></dl>
    <table id="relay-threads" hidden><thead><tr><th>thread</th><th class="num">sockets</th><th class="num">datagrams/s in</th><th class="num">out</th><th class="num">CPU</th></tr></thead><tbody></tbody></table>
    <h2 style="margin-top:12px">Modules</h2><dl id="modules"></dl></section>
  <section class="wide"><h2>Last reloads</h2>
    <table id="reloads"><thead><tr><th>when</th><th>result</th><th class="num">generation</th><th class="num">ms</th><th>where</th><th>why</th></tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const ep = (e) => { if (!e || !e.address) return "–"; const a = e.address.replace(/^::ffff:(?=\\d+\\.)/i, ""); return (a.includes(":") ? "[" + a + "]" : a) + ":" + e.port; };
const dur = (ms) => { const s = Math.max(0, Math.round(ms / 1000)); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); };
const rate = (bytesPerSec, pps) => (bytesPerSec * 8 / 1000).toFixed(1) + " kbit/s · " + Math.round(pps) + " pkt/s";
/** Each call's media totals at the last snapshot, for its rates. */
let previous = new Map();
/** Each relay thread's counters at the last snapshot, for its rates. */
let previousThreads = new Map();
let previousAt = 0;

function rows(tbody, items, cells, empty, colspan) {
  tbody.innerHTML = items.length === 0 ? '<tr><td class="empty" colspan="' + colspan + '">' + empty + "</td></tr>" : items.map(cells).join("");
}

function legTotals(media, index) {
  let packets = 0, bytes = 0;
  for (const s of (media ? media.sessions : [])) { const l = s.legs[index]; if (l) { packets += l.packets; bytes += l.bytes; } }
  return { packets, bytes };
}

function drawChart(canvas, points, key, color) {
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  const values = points.map((p) => p[key]);
  const max = Math.max(1, ...values);
  ctx.strokeStyle = "#dde1e6"; ctx.fillStyle = "#66707c"; ctx.font = "11px system-ui";
  for (const f of [0, 0.5, 1]) {
    const y = h - pad / 2 - f * (h - pad);
    ctx.beginPath(); ctx.moveTo(pad + 16, y); ctx.lineTo(w, y); ctx.stroke();
    ctx.fillText(max < 10 ? (f * max).toFixed(1) : String(Math.round(f * max)), 0, y + 4);
  }
  if (values.length < 2) return;
  const span = Math.max(1, points[points.length - 1].t - points[0].t);
  ctx.strokeStyle = color; ctx.lineWidth = 2; ctx.beginPath();
  points.forEach((p, i) => {
    const x = pad + 16 + (p.t - points[0].t) / span * (w - pad - 16);
    const y = h - pad / 2 - p[key] / max * (h - pad);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  ctx.fillStyle = "#66707c";
  ctx.fillText("last " + Math.round(span / 60000 * 10) / 10 + " min, now " + values[values.length - 1].toFixed(1) + "/s", pad + 20, 12);
  canvas.dataset.last = String(values[values.length - 1]);
}

function render(s) {
  $("version").textContent = "v" + s.info.version;
  $("uptime").textContent = "up " + dur(s.info.uptimeSec * 1000);
  $("generation").textContent = "script generation " + s.info.generation;
  const now = s.at;
  const seen = new Map();
  rows($("calls").tBodies[0], s.calls, (c) => {
    const a = legTotals(c.media, 0), b = legTotals(c.media, 1);
    const before = previous.get(c.callId);
    const sec = before ? Math.max(0.001, (now - before.at) / 1000) : 0;
    seen.set(c.callId, { at: now, a, b });
    const ra = before ? rate((a.bytes - before.a.bytes) / sec, (a.packets - before.a.packets) / sec) : a.packets + " pkt";
    const rb = before ? rate((b.bytes - before.b.bytes) / sec, (b.packets - before.b.packets) / sec) : b.packets + " pkt";
    const ports = c.media ? c.media.sessions.map((x) => x.port).join(", ") : "–";
    return '<tr data-call-id="' + esc(c.callId) + '"><td>' + esc(c.caller) + "</td><td>" + esc(c.callee) + "</td><td>" + c.dialect + "</td><td>" + c.state +
      '</td><td class="num">' + dur(now - (c.answeredAt || c.startedAt)) + '</td><td class="num">' + ra + '</td><td class="num">' + rb + "</td><td>" + ports + "</td></tr>";
  }, "no calls", 8);
  previous = seen;
  rows($("registrations").tBodies[0], s.registrations, (r) => '<tr data-user="' + esc(r.user) + '"><td>' + esc(r.user) + "</td><td>" + r.dialect + "</td><td>" + ep(r.address) +
    "</td><td>" + esc(r.contact || "") + '</td><td class="num">' + (r.expiresAt === null ? "–" : dur(r.expiresAt - now)) + "</td></tr>", "nobody registered", 5);
  rows($("reloads").tBodies[0], s.reloads, (r) => "<tr><td>" + new Date(r.at).toLocaleTimeString() + '</td><td class="' + (r.ok ? "ok" : "bad") + '">' + (r.ok ? "applied" : "refused") +
    '</td><td class="num">' + r.generation + '</td><td class="num">' + r.ms + "</td><td>" + esc(r.where || "") + '</td><td class="err">' + esc(r.ok ? "" : (r.error || "").split("\\n").slice(0, 3).join("\\n")) + "</td></tr>", "no reload since start", 6);
  const relay = s.relay;
  $("relay").innerHTML = relay === null ? '<dt>relay</dt><dd class="empty">not listed</dd>' :
    "<dt>state</dt><dd class=" + (relay.enabled ? '"ok">enabled' : '"bad">disabled') + "</dd><dt>threads</dt><dd>" + relay.threads + "</dd><dt>sessions</dt><dd>" + relay.sessions +
    "</dd><dt>ports in use</dt><dd>" + relay.portsInUse + "</dd><dt>no port free</dt><dd" + (relay.noPort > 0 ? ' class="bad"' : "") + ">" + relay.noPort + "</dd><dt>dropped</dt><dd>" + relay.dropped + "</dd>";
  const threads = relay === null ? [] : relay.perThread;
  $("relay-threads").hidden = threads.length === 0;
  const sec = previousAt === 0 ? 0 : Math.max(0.001, (now - previousAt) / 1000);
  rows($("relay-threads").tBodies[0], threads, (t) => {
    const before = previousThreads.get(t.thread);
    const per = (k) => (before && sec > 0 ? Math.round((t[k] - before[k]) / sec) : "–");
    const cpu = before && sec > 0 ? (100 * (t.cpuSeconds - before.cpuSeconds) / sec).toFixed(1) + " %" : "–";
    return '<tr data-thread="' + esc(t.thread) + '"><td>sy-media-' + esc(t.thread) + '</td><td class="num">' + t.ports + '</td><td class="num">' + per("received") +
      '</td><td class="num">' + per("sent") + '</td><td class="num">' + cpu + "</td></tr>";
  }, "", 5);
  previousThreads = new Map(threads.map((t) => [t.thread, t]));
  previousAt = now;
  $("modules").innerHTML = s.modules.map((m) => "<dt>" + esc(m.name) + '</dt><dd class="' + (m.enabled ? "ok" : "bad") + '">' + (m.enabled ? "on" : "off") + "</dd>").join("");
  drawChart($("packets-chart"), s.rates, "packetsPerSec", "#1f6feb");
  drawChart($("calls-chart"), s.rates, "callsPerSec", "#bf5b00");
  document.body.dataset.updated = String(s.at);
}

const events = new EventSource("/api/events");
events.addEventListener("status", (e) => { render(JSON.parse(e.data)); $("conn").textContent = "live"; $("conn").className = "live"; });
events.onerror = () => { $("conn").textContent = "reconnecting…"; $("conn").className = "down"; };
</script>
</body>
</html>
`;
