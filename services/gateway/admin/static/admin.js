// tipbench admin: live job progress, keyboard scoring, the suite picker. No framework, no build step.
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
// The failed cells by model, prompt and scenario, as the API's `failures` names them.
function showFailedCells(failures) {
  const body = document.querySelector("#failed-cells tbody");
  const rows = failures.map((f) => {
    const row = document.createElement("tr");
    row.dataset.cell = f.cell_key;
    for (const text of [f.model, f.prompt_version, f.scenario_id, String(f.repeat), f.error]) {
      const td = document.createElement("td");
      td.textContent = text;
      row.append(td);
    }
    return row;
  });
  if (!rows.length) {
    const row = document.createElement("tr");
    row.innerHTML = '<td colspan="5">None.</td>';
    rows.push(row);
  }
  body.replaceChildren(...rows);
}

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
    showFailedCells(job.failures || []);
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

// --- what a judge reads: the scenario (ids `<prefix>-scenario`, -vars, -n, -words) and tips
function showScenario(prefix, scenario) {
  document.getElementById(`${prefix}-scenario`).textContent = scenario.id;
  document.getElementById(`${prefix}-vars`).replaceChildren(...Object.entries(scenario.vars).flatMap(([name, text]) => {
    const dt = document.createElement("dt");
    const dd = document.createElement("dd");
    dt.textContent = name;
    dd.textContent = text;
    return [dt, dd];
  }));
  document.getElementById(`${prefix}-n`).textContent = scenario.n_tips;
  document.getElementById(`${prefix}-words`).textContent = scenario.word_limit;
}

function listItems(texts) {
  return texts.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  });
}

// --- what both scoring pages do first: get the judge's open packet ----------------
// Until there is one (the judge bridge adds a job's candidates when the job ends) the
// progress line says why, and it looks again in 5 s; `use` gets the packet.
function loadPacket(path, progress, nothingYet, use) {
  api("GET", path)
    .then(use)
    .catch((error) => {
      progress.textContent = `${nothingYet} (${error.message}); looking again in 5 s.`;
      setTimeout(() => loadPacket(path, progress, nothingYet, use), 5000);
    });
}

// --- the scoring page: one blind item at a time -----------------------------------
// The form is the experiment's rubric, rendered by the server: a fieldset per item
// (data-item), a checkbox per flag (data-flag), and the key of each flag and button
// (data-key). Nothing here names an item.
function scoring(section) {
  const experiment = section.dataset.experiment;
  const judge = section.dataset.judge;
  const form = document.getElementById("score-form");
  const items = [...form.querySelectorAll("fieldset[data-item]")].map((f) => f.dataset.item);
  const flags = [...form.querySelectorAll("input[data-flag]")].map((f) => f.dataset.flag);
  const keyed = new Map([...form.querySelectorAll("[data-key]")].map((el) => [el.dataset.key, el]));
  const progress = document.getElementById("score-progress");
  const errorBox = document.getElementById("score-error");
  let packet = null;
  let index = 0;
  let current = 0; // the item the digit keys score
  const saved = new Map();

  function fail(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function show() {
    if (index >= packet.items.length) {
      document.getElementById("item").hidden = true;
      progress.textContent = `All ${packet.items.length} item(s) of this packet are scored. Reload for any new candidates.`;
      return;
    }
    const item = packet.items[index];
    document.getElementById("item").hidden = false;
    progress.textContent = `Item ${index + 1} of ${packet.items.length} (${saved.size} saved in this session)`;
    showScenario("item", item.scenario);
    document.getElementById("item-answer").textContent = item.answer;
    // no tips could be parsed: the answer itself is what there is to judge
    document.getElementById("item-answer-box").open = item.tips.length === 0;
    document.getElementById("item-tips").replaceChildren(...listItems(item.tips));
    form.reset();
    const before = saved.get(item.item_id);
    if (before) {
      for (const name of items) form.elements[name].value = String(before[name]);
      for (const name of flags) form.elements[name].checked = before[name] === 1;
      form.elements.rationale.value = before.rationale;
    }
    current = 0;
    errorBox.hidden = true;
    form.querySelector(`input[name="${CSS.escape(items[0])}"]`).focus();
  }

  async function save() {
    const item = packet.items[index];
    const score = { item_id: item.item_id };
    for (const name of items) {
      const value = form.elements[name].value;
      if (!value) {
        fail(`Choose a ${name} score.`);
        form.querySelector(`input[name="${CSS.escape(name)}"]`).focus();
        return;
      }
      score[name] = Number(value);
    }
    for (const name of flags) score[name] = form.elements[name].checked ? 1 : 0;
    score.rationale = form.elements.rationale.value;
    try {
      await api("POST", `/api/bench/judge/${experiment}/scores`, {
        packet_id: packet.packet_id, judge_id: judge, judge_kind: "human", scores: [score],
      });
    } catch (error) {
      fail(`Not saved: ${error.message}`);
      return;
    }
    saved.set(item.item_id, score);
    index += 1;
    show();
  }

  function back() {
    if (index > 0) { index -= 1; show(); }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save();
  });
  document.getElementById("prev").addEventListener("click", back);
  form.addEventListener("change", (event) => {
    // a click on an item's level moves the digit keys on to the next item
    const at = items.indexOf(event.target.name);
    if (at >= 0 && event.target.type === "radio") current = (at + 1) % items.length;
  });
  document.addEventListener("keydown", (event) => {
    if (!packet || event.target.tagName === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (index >= packet.items.length) return;
    const name = items[current];
    const level = form.querySelector(`input[name="${CSS.escape(name)}"][value="${CSS.escape(event.key)}"]`);
    const target = keyed.get(event.key);
    if (level) {
      level.checked = true;
      level.focus();
      current = (current + 1) % items.length;
      event.preventDefault();
    } else if (target && target.type === "checkbox") {
      target.checked = !target.checked;
      event.preventDefault();
    } else if (target) {
      event.preventDefault();
      target.click();
    }
  });

  const packetPath = `/api/bench/judge/${experiment}/packet?judge=${encodeURIComponent(judge)}`;
  loadPacket(packetPath, progress, "Nothing to score yet", (data) => {
    const scored = [...data.rubric.items.map((i) => i.id), ...data.rubric.flags.map((f) => f.id)];
    if (scored.join() !== [...items, ...flags].join()) {
      progress.textContent = `This packet follows rubric ${data.rubric.id}, not the one on this page; reload the page.`;
      return;
    }
    packet = data;
    show();
  });
}

// --- the scoring page in pairs: one blind pair at a time --------------------------
// Each verdict is posted on its own as a verdict file of one judgment, like the rubric
// scores above; the packet stays the judge's open one until every pair has a verdict.
function pairScoring(section) {
  const experiment = section.dataset.experiment;
  const judge = section.dataset.judge;
  const form = document.getElementById("pair-form");
  const progress = document.getElementById("pair-progress");
  const errorBox = document.getElementById("pair-error");
  const buttons = [...form.querySelectorAll("button[data-winner]")];
  let packet = null;
  let index = 0;

  function show() {
    if (index >= packet.pairs.length) {
      document.getElementById("pair").hidden = true;
      progress.textContent = `All ${packet.pairs.length} pair(s) of this packet are judged. Reload for new pairs.`;
      return;
    }
    const pair = packet.pairs[index];
    document.getElementById("pair").hidden = false;
    progress.textContent = `Pair ${index + 1} of ${packet.pairs.length}`;
    showScenario("pair", pair.scenario);
    for (const side of ["a", "b"]) {
      const box = document.getElementById(`side-${side}`);
      box.querySelector(".side-answer").textContent = pair[side].answer;
      box.querySelector("details").open = pair[side].tips.length === 0;
      box.querySelector(".side-tips").replaceChildren(...listItems(pair[side].tips));
    }
    form.reset();
    errorBox.hidden = true;
  }

  async function judgeAs(winner) {
    const pair = packet.pairs[index];
    const judgment = { pair_id: pair.pair_id, winner, rationale: form.elements.rationale.value };
    try {
      await api("POST", `/api/bench/judge/${experiment}/pair-scores`, {
        packet_id: packet.packet_id, judge_id: judge, judge_kind: "human", judgments: [judgment],
      });
    } catch (error) {
      errorBox.textContent = `Not saved: ${error.message}`;
      errorBox.hidden = false;
      return;
    }
    index += 1;
    show();
  }

  for (const button of buttons) button.addEventListener("click", () => judgeAs(button.dataset.winner));
  form.addEventListener("submit", (event) => event.preventDefault());
  document.addEventListener("keydown", (event) => {
    if (!packet || event.target.tagName === "TEXTAREA" || event.ctrlKey || event.metaKey || event.altKey) return;
    if (index >= packet.pairs.length) return;
    const button = buttons.find((b) => b.dataset.key === event.key);
    if (button) {
      event.preventDefault();
      button.click();
    }
  });

  const pairsPath = `/api/bench/judge/${experiment}/pairs?judge=${encodeURIComponent(judge)}`;
  loadPacket(pairsPath, progress, "Nothing to judge yet", (data) => {
    packet = data;
    show();
  });
}

// --- sortable tables: a header's button sorts the rows by its column -------------------
// Numbers come from a cell's data-sort (cells without one, unscored, go last either way).
function sortable(table) {
  const headers = [...table.tHead.rows[0].cells];
  headers.forEach((th, column) => {
    const button = th.querySelector("button.sort");
    if (!button) return;
    button.addEventListener("click", () => {
      const descending = th.getAttribute("aria-sort") === "ascending";
      for (const other of headers) other.setAttribute("aria-sort", "none");
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const sign = descending ? -1 : 1;
      const body = table.tBodies[0];
      const key = (row) => {
        const cell = row.cells[column];
        if (button.dataset.kind === "text") return cell.textContent.trim();
        return cell.dataset.sort === undefined ? null : Number(cell.dataset.sort);
      };
      const rows = [...body.rows].sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === null || y === null) return (x === null) - (y === null);
        return sign * (typeof x === "string" ? x.localeCompare(y) : x - y);
      });
      body.replaceChildren(...rows);
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const table of document.querySelectorAll("table.sortable")) sortable(table);
  localTimes();
  for (const select of document.querySelectorAll("select[data-autosubmit]")) {
    select.addEventListener("change", () => select.form.submit());
  }
  const job = document.getElementById("progress");
  if (job) watchJob(job);
  const section = document.getElementById("scoring");
  if (section) scoring(section);
  const pairs = document.getElementById("pair-scoring");
  if (pairs) pairScoring(pairs);
});
