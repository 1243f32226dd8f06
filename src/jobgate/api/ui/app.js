// jobgate's dashboard: plain JavaScript against the HTTP API, no build step, no network beyond
// this server. The key lives in sessionStorage and travels only in the Authorization header
// (never in a URL); live status comes from the job's event stream read with fetch().
"use strict";

const state = { key: sessionStorage.getItem("jobgate.key"), admin: false, timer: null, stream: null,
  page: 0 };  // page: bumped on every navigation, so a late answer of the last page draws nothing
const $ = (selector) => document.querySelector(selector);
const view = () => $("#view");

function esc(text) {
  return String(text ?? "").replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.key}`, ...(options.headers || {}) };
  const answer = await fetch(path, { ...options, headers });
  if (!answer.ok) {
    let detail = answer.statusText;
    try { const problem = await answer.json(); detail = problem.detail || problem.title; } catch (_) {}
    const error = new Error(`${answer.status}: ${detail}`);
    error.status = answer.status;
    throw error;
  }
  return answer.status === 204 ? null : answer.json();
}

function bar(pct, wide = false) {
  const width = Math.max(0, Math.min(100, pct || 0)).toFixed(1);
  return `<div class="bar${wide ? " wide" : ""}" role="progressbar" aria-valuenow="${width}"><div style="width:${width}%"></div></div>`;
}

function stop() {
  state.page += 1;
  clearInterval(state.timer);
  state.timer = null;
  if (state.stream) { state.stream.abort(); state.stream = null; }
}

// -- sign in --------------------------------------------------------------------------------------

async function signIn(key) {
  state.key = key;
  await api("/jobs?limit=1");  // a key that works for the jobs list
  try { await api("/admin/queue-status"); state.admin = true; } catch (_) { state.admin = false; }
  sessionStorage.setItem("jobgate.key", key);
}

function showSignIn(message) {
  stop();
  $("#nav").hidden = true;
  view().innerHTML = "";
  $("#sign-in").hidden = false;
  const error = $("#sign-in-error");
  error.hidden = !message;
  error.textContent = message || "";
}

$("#sign-in").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await signIn($("#key").value.trim());
    $("#key").value = "";
    start();
  } catch (error) {
    state.key = null;
    showSignIn(error.status === 401 ? "That key is not valid." : error.message);
  }
});

$("#sign-out").addEventListener("click", () => {
  sessionStorage.removeItem("jobgate.key");
  state.key = null;
  showSignIn();
});

function start() {
  $("#sign-in").hidden = true;
  $("#nav").hidden = false;
  $("#who").textContent = state.admin ? "admin" : "your jobs";
  document.querySelectorAll(".admin-only").forEach((a) => { a.hidden = !state.admin; });
  if (!location.hash || location.hash === "#") location.hash = "#/jobs";
  else route();
}

// -- views ----------------------------------------------------------------------------------------

async function jobsView() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  view().innerHTML = `
    <form class="filters" id="filters">
      <label>Status <select name="status">
        ${["", "queued", "processing", "completed", "failed", "cancelled"].map((s) =>
          `<option ${params.get("status") === s ? "selected" : ""} value="${s}">${s || "any"}</option>`).join("")}
      </select></label>
      <label>Type <input name="type" value="${esc(params.get("type") || "")}" placeholder="any"></label>
      <button type="submit">Filter</button>
    </form>
    <table><thead><tr><th>Job</th><th>Type</th><th>Status</th><th>Progress</th><th>Attempt</th>
      <th>Created</th></tr></thead><tbody id="jobs"></tbody></table>`;
  $("#filters").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = new FormData(event.target);
    const query = new URLSearchParams([...form].filter(([, v]) => v)).toString();
    location.hash = `#/jobs${query ? `?${query}` : ""}`;
  });
  const page = state.page;
  const load = async () => {
    const query = new URLSearchParams({ limit: "50" });
    if (params.get("status")) query.set("status", params.get("status"));
    if (params.get("type")) query.set("type", params.get("type"));
    const listed = await api(`/jobs?${query}`);
    if (page !== state.page) return;
    $("#jobs").innerHTML = listed.jobs.map((job) => `
      <tr class="row" data-id="${esc(job.job_id)}">
        <td><code>${esc(job.job_id)}</code></td><td>${esc(job.type)}</td>
        <td class="status ${esc(job.status)}">${esc(job.status)}</td>
        <td>${bar(job.progress.pct)}</td><td>${job.attempt}/${job.max_attempts}</td>
        <td class="muted">${esc(job.created_at)}</td></tr>`).join("")
      || `<tr><td colspan="6" class="muted">No jobs yet.</td></tr>`;
    document.querySelectorAll("tr.row").forEach((row) =>
      row.addEventListener("click", () => { location.hash = `#/jobs/${row.dataset.id}`; }));
  };
  await load();
  state.timer = setInterval(() => load().catch(() => {}), 1500);
}

function renderJob(job, events) {
  const links = job.artifacts.map((a) =>
    `<li><button type="button" class="download" data-name="${esc(a.name)}">${esc(a.name)}</button>
       <span class="muted">${a.size} bytes</span></li>`).join("");
  const error = job.error
    ? `<div class="card"><h3>Error</h3><p class="error" id="job-error">${esc(job.error.type)}: ${esc(job.error.message)}</p></div>` : "";
  const result = job.status === "completed"
    ? `<div class="card"><h3>Result</h3>${job.result_stored
        ? `<button type="button" id="stored-result">Download the stored result</button>`
        : `<pre id="job-result">${esc(JSON.stringify(job.result, null, 2))}</pre>`}
        ${links ? `<h4>Artifacts</h4><ul>${links}</ul>` : ""}</div>` : "";
  view().innerHTML = `
    <p><a href="#/jobs">← all jobs</a></p>
    <div class="card">
      <h2><code>${esc(job.job_id)}</code> <span class="muted">${esc(job.type)}</span></h2>
      <p>Status: <span id="job-status" class="status ${esc(job.status)}">${esc(job.status)}</span>
        · attempt ${job.attempt} of ${job.max_attempts}</p>
      ${bar(job.progress.pct, true)}
      <p class="muted" id="job-progress">${job.progress.pct.toFixed(1)}% ${esc(job.progress.note)}</p>
      ${job.status === "queued" || job.status === "processing"
        ? `<button type="button" id="cancel" class="danger">Cancel</button>` : ""}
    </div>
    ${error}${result}
    <div class="card"><h3>Timeline</h3><ol class="timeline">${events.map((e) =>
      `<li><span class="muted">${esc(e.at)}</span> <strong>${esc(e.kind)}</strong> → ${esc(e.status)}
       (attempt ${e.attempt})${e.detail && e.detail.error ? ` <span class="error">${esc(e.detail.error)}</span>` : ""}</li>`).join("")}
    </ol></div>`;
  const cancel = $("#cancel");
  if (cancel) cancel.addEventListener("click", async () => {
    if (confirm("Cancel this job?")) await api(`/jobs/${job.job_id}`, { method: "DELETE" });
  });
  const download = async (artifact) => {
    const query = artifact ? `?artifact=${encodeURIComponent(artifact)}` : "";
    const link = await api(`/jobs/${job.job_id}/download-url${query}`);
    location.href = link.url;  // a signed URL: no key in it
  };
  document.querySelectorAll("button.download").forEach((b) =>
    b.addEventListener("click", () => download(b.dataset.name)));
  const stored = $("#stored-result");
  if (stored) stored.addEventListener("click", () => download(null));
}

async function follow(jobId, refresh) {
  // the job's event stream (SSE over fetch, so the key stays in a header); each event redraws
  const controller = new AbortController();
  state.stream = controller;
  try {
    const answer = await fetch(`/jobs/${jobId}/events/stream`, {
      headers: { Authorization: `Bearer ${state.key}` }, signal: controller.signal });
    const reader = answer.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const message = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        if (message.includes("data:")) await refresh();
      }
    }
  } catch (_) { /* left the page, or the stream broke: the poll below carries on */ }
}

async function jobView(jobId) {
  const page = state.page;
  const refresh = async () => {
    const [job, history] = await Promise.all([api(`/jobs/${jobId}`), api(`/jobs/${jobId}/events`)]);
    if (page === state.page) renderJob(job, history.events);
    return job;
  };
  const job = await refresh();
  if (job.status === "queued" || job.status === "processing") {
    follow(jobId, refresh).then(() => refresh());
  }
  state.timer = setInterval(() => refresh().catch(() => {}), 2000);
}

async function queueView() {
  const page = state.page;
  const load = async () => {
    const [stats, dlq, schedules] = await Promise.all([
      api("/admin/queue-status"), api("/admin/dlq"), api("/admin/schedules")]);
    if (page !== state.page) return;
    view().innerHTML = `
      <div class="card kpi">
        <div id="depth">${stats.depth}<span>ready</span></div>
        <div>${stats.in_flight}<span>in flight</span></div>
        <div>${stats.delayed}<span>delayed</span></div>
        <div id="dlq-depth">${stats.dlq_depth}<span>dead-lettered</span></div>
        <div>${stats.oldest_age_seconds.toFixed(1)}<span>oldest ready (s)</span></div>
      </div>
      <div class="card"><h3>Dead-letter queue</h3>
        <p><button type="button" id="redrive-all">Redrive all</button>
           <button type="button" id="purge" class="danger">Purge</button></p>
        <table><thead><tr><th>Job</th><th>Type</th><th>Status</th><th>Error</th><th>Receives</th><th></th></tr></thead>
        <tbody>${dlq.messages.map((m) => `
          <tr><td>${m.job_id ? `<a href="#/jobs/${esc(m.job_id)}"><code>${esc(m.job_id)}</code></a>` : "(no job)"}</td>
            <td>${esc(m.job_type)}</td><td class="status ${esc(m.status)}">${esc(m.status)}</td>
            <td class="error">${m.error ? `${esc(m.error.type)}: ${esc(m.error.message)}` : ""}</td>
            <td>${m.receive_count}</td>
            <td><button type="button" class="redrive" data-id="${esc(m.message_id)}">Redrive</button></td></tr>`).join("")
          || `<tr><td colspan="6" class="muted">Empty.</td></tr>`}</tbody></table></div>
      <div class="card"><h3>Schedules</h3><table><thead><tr><th>Name</th><th>Expression</th>
        <th>Job type</th><th>Last tick</th><th>Next tick</th><th>Missed</th></tr></thead>
        <tbody>${schedules.map((s) => `<tr><td>${esc(s.name)}</td><td><code>${esc(s.expression)}</code></td>
          <td>${esc(s.job_type)}</td><td>${esc(s.last_tick || "—")}</td><td>${esc(s.next_tick || "—")}</td>
          <td>${s.missed}</td></tr>`).join("") || `<tr><td colspan="6" class="muted">None.</td></tr>`}
        </tbody></table></div>`;
    const redrive = async (ids) => {
      const what = ids ? "this job" : "every dead-lettered job";
      if (!confirm(`Send ${what} back to the queue?`)) return;
      await api("/admin/dlq/redrive", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify(ids ? { message_ids: ids } : {}) });
      await load();
    };
    document.querySelectorAll("button.redrive").forEach((b) =>
      b.addEventListener("click", () => redrive([b.dataset.id])));
    $("#redrive-all").addEventListener("click", () => redrive(null));
    $("#purge").addEventListener("click", async () => {
      if (!confirm("Delete every dead-lettered message? Their jobs stay failed.")) return;
      await api("/admin/dlq/purge", { method: "POST" });
      await load();
    });
  };
  await load();
  state.timer = setInterval(() => load().catch(() => {}), 3000);
}

async function activityView() {
  const page = state.page;
  const load = async () => {
    const data = await api("/admin/activity?minutes=60");
    if (page !== state.page) return;
    const width = 900, height = 220, pad = 28;
    const top = Math.max(1, ...data.minutes.map((m) => m.completed + m.failed));
    const step = (width - pad * 2) / data.minutes.length;
    const y = (n) => height - pad - (n / top) * (height - pad * 2);
    const bars = data.minutes.map((m, i) => {
      const x = pad + i * step;
      return `<rect x="${x}" y="${y(m.completed + m.failed)}" width="${Math.max(1, step - 2)}"
                height="${y(0) - y(m.completed)}" fill="#1f8a4c"><title>${esc(m.at)}: ${m.completed} completed</title></rect>
              <rect x="${x}" y="${y(m.failed)}" width="${Math.max(1, step - 2)}"
                height="${y(0) - y(m.failed)}" fill="#c0392b"><title>${m.failed} failed</title></rect>`;
    }).join("");
    view().innerHTML = `
      <div class="card kpi"><div id="completed-hour">${data.completed}<span>completed, last hour</span></div>
        <div id="failed-hour">${data.failed}<span>failed</span></div>
        <div>${data.completed + data.failed ? ((100 * data.failed) / (data.completed + data.failed)).toFixed(1) : "0.0"}%<span>failure rate</span></div></div>
      <div class="card"><h3>Jobs finished per minute</h3>
        <svg viewBox="0 0 ${width} ${height}" width="100%" role="img" aria-label="throughput chart">
          <line x1="${pad}" y1="${y(0)}" x2="${width - pad}" y2="${y(0)}" stroke="#d9dee5"/>
          <text x="2" y="${y(top) + 4}">${top}</text><text x="2" y="${y(0)}">0</text>
          ${bars}
          <text x="${pad}" y="${height - 6}">${esc(data.minutes[0].at.slice(11, 16))}</text>
          <text x="${width - pad - 30}" y="${height - 6}">now</text>
        </svg></div>`;
  };
  await load();
  state.timer = setInterval(() => load().catch(() => {}), 10000);
}

async function route() {
  stop();
  if (!state.key) return showSignIn();
  const path = location.hash.slice(1).split("?")[0];
  try {
    if (path.startsWith("/jobs/")) await jobView(decodeURIComponent(path.slice(6)));
    else if (path === "/queue" && state.admin) await queueView();
    else if (path === "/activity" && state.admin) await activityView();
    else await jobsView();
  } catch (error) {
    if (error.status === 401) return showSignIn("The key is no longer valid.");
    view().innerHTML = `<p class="error">${esc(error.message)}</p>`;
  }
}

window.addEventListener("hashchange", route);

(async () => {
  if (!state.key) return showSignIn();
  try { await signIn(state.key); start(); } catch (_) { showSignIn(); }
})();
