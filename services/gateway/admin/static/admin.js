// tipbench admin: live job progress and keyboard scoring. No framework, no build step.
"use strict";

const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

async function api(method, path, body) {
  const options = { method, headers: { "X-CSRF-Token": csrf() }, credentials: "same-origin" };
  if (body !== undefined) {
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const answer = await fetch(path, options);
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new Error((data.error && data.error.message) || `${answer.status}`);
  return data;
}

function localTimes() {
  for (const el of document.querySelectorAll("time[data-unix]")) {
    const when = new Date(Number(el.dataset.unix) * 1000);
    el.textContent = when.toLocaleString();
    el.dateTime = when.toISOString();
  }
}

// --- the job page: poll the job until it ends -------------------------------------
function watchJob(section) {
  const id = section.dataset.job;
  const ended = ["finished", "partial", "failed", "cancelled"];
  async function tick() {
    let job;
    try {
      job = await api("GET", `/api/bench/jobs/${id}`);
    } catch (error) {
      setTimeout(tick, 3000);
      return;
    }
    const status = document.getElementById("job-status");
    status.textContent = job.status;
    status.className = `status-${job.status}`;
    document.getElementById("job-cells").textContent = `${job.done + job.failed}/${job.total}`;
    document.getElementById("job-failed").textContent = job.failed;
    document.getElementById("job-model").textContent = job.current_model || "-";
    document.getElementById("job-eta").textContent = job.eta_s === null ? "-" : `${Math.round(job.eta_s)} s`;
    for (const m of job.models) {
      const bar = section.querySelector(`progress[data-model="${CSS.escape(m.model)}"]`);
      const count = section.querySelector(`.count[data-model="${CSS.escape(m.model)}"]`);
      if (bar) bar.value = m.done + m.failed;
      if (count) count.textContent = `${m.done + m.failed}/${m.total}, ${m.failed} failed`;
    }
    const body = document.querySelector("#failed-cells tbody");
    const failed = Object.entries(job.failed_cells);
    body.replaceChildren(...(failed.length ? failed : [["", "None."]]).map(([key, error]) => {
      const row = document.createElement("tr");
      const a = document.createElement("td");
      const b = document.createElement("td");
      a.innerHTML = key ? `<code></code>` : "";
      if (key) a.firstChild.textContent = key;
      b.textContent = error;
      row.append(a, b);
      return row;
    }));
    if (ended.includes(job.status)) {
      window.location.reload(); // the buttons' state follows from the server's page
      return;
    }
    setTimeout(tick, 1000);
  }
  if (!["finished", "partial", "failed", "cancelled"].includes(document.getElementById("job-status").textContent.trim())) {
    tick();
  }
}

// --- the scoring page: one blind item at a time -----------------------------------
function scoring(section) {
  const experiment = section.dataset.experiment;
  const judge = section.dataset.judge;
  const form = document.getElementById("score-form");
  const scales = ["relevance", "actionability", "tone"];
  const progress = document.getElementById("score-progress");
  const errorBox = document.getElementById("score-error");
  let packet = null;
  let index = 0;
  let scale = 0;
  const saved = new Map();

  function show() {
    const items = packet.items;
    if (index >= items.length) {
      document.getElementById("item").hidden = true;
      progress.textContent = `All ${items.length} item(s) of this packet are scored. Reload for any new candidates.`;
      return;
    }
    const item = items[index];
    document.getElementById("item").hidden = false;
    progress.textContent = `Item ${index + 1} of ${items.length} (${saved.size} saved in this session)`;
    document.getElementById("item-persona").textContent = item.scenario.persona_description;
    document.getElementById("item-time").textContent = item.scenario.time_slot;
    document.getElementById("item-n").textContent = item.scenario.n_tips;
    document.getElementById("item-answer").textContent = item.answer;
    const tips = document.getElementById("item-tips");
    tips.replaceChildren(...item.tips.map((tip) => {
      const li = document.createElement("li");
      li.textContent = tip;
      return li;
    }));
    form.reset();
    const before = saved.get(item.item_id);
    if (before) {
      for (const name of scales) form.elements[name].value = String(before[name]);
      form.elements.format_ok.checked = before.format_ok === 1;
      form.elements.overlong.checked = before.overlong === 1;
      form.elements.rationale.value = before.rationale;
    }
    scale = 0;
    errorBox.hidden = true;
    form.querySelector('input[name="relevance"]').focus();
  }

  async function save() {
    const item = packet.items[index];
    const score = { item_id: item.item_id };
    for (const name of scales) {
      const value = form.elements[name].value;
      if (!value) {
        errorBox.textContent = `Choose a ${name} score (1-5).`;
        errorBox.hidden = false;
        form.querySelector(`input[name="${name}"]`).focus();
        return;
      }
      score[name] = Number(value);
    }
    score.format_ok = form.elements.format_ok.checked ? 1 : 0;
    score.overlong = form.elements.overlong.checked ? 1 : 0;
    score.rationale = form.elements.rationale.value;
    try {
      await api("POST", `/api/bench/judge/${experiment}/scores`, {
        packet_id: packet.packet_id, judge_id: judge, judge_kind: "human", scores: [score],
      });
    } catch (error) {
      errorBox.textContent = `Not saved: ${error.message}`;
      errorBox.hidden = false;
      return;
    }
    saved.set(item.item_id, score);
    index += 1;
    show();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  document.getElementById("prev").addEventListener("click", () => {
    if (index > 0) { index -= 1; show(); }
  });
  document.addEventListener("keydown", (event) => {
    if (!packet || event.target.tagName === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (index >= packet.items.length) return;
    if (/^[1-5]$/.test(event.key)) {
      const name = scales[scale];
      form.elements[name].value = event.key;
      form.querySelector(`input[name="${name}"][value="${event.key}"]`).focus();
      scale = Math.min(scale + 1, scales.length - 1);
      event.preventDefault();
    } else if (event.key === "f") {
      form.elements.format_ok.checked = !form.elements.format_ok.checked;
    } else if (event.key === "o") {
      form.elements.overlong.checked = !form.elements.overlong.checked;
    } else if (event.key === "n") {
      event.preventDefault();
      save();
    } else if (event.key === "p" && index > 0) {
      index -= 1;
      show();
    }
  });

  function load() {
    api("GET", `/api/bench/judge/${experiment}/packet?judge=${encodeURIComponent(judge)}`)
      .then((data) => { packet = data; show(); })
      .catch((error) => {
        // the judge bridge adds a job's candidates when the job ends: look again shortly
        progress.textContent = `Nothing to score yet (${error.message}); looking again in 5 s.`;
        setTimeout(load, 5000);
      });
  }
  load();
}

document.addEventListener("DOMContentLoaded", () => {
  localTimes();
  const job = document.getElementById("progress");
  if (job) watchJob(job);
  const section = document.getElementById("scoring");
  if (section) scoring(section);
});
