// The console: sign-in, the first load (status, history, alerts, tasks, cache), then the live
// stream, which moves the values and the charts each tick.

import * as api from "./api.js";
import { TimeChart, seriesKey } from "./charts.js";
import * as format from "./format.js";
import { follow } from "./stream.js";
import * as views from "./views.js";

const $ = (id) => document.getElementById(id);
const STEP_S = { 900: 1, 3600: 2, 86400: 60 };   // at most 1,800 points per series
const REFRESH_MS = 10_000;                        // /status and /cache
const RETRY_MS = 3000;                            // sign-in, while the agent does not answer
const RECENT_TASKS = 10;
const GPU_METRICS = ["gpu.devices[].usage", "gpu.devices[].memory_usage",
  "gpu.devices[].temperature", "gpu.devices[].power_watts"];
const CHARTED = ["cpu.usage", "memory.usage", "network.upload_bps", "network.download_bps",
  "disk.read_bytes_per_second", "disk.write_bytes_per_second", ...GPU_METRICS.slice(0, 2)];

const state = {
  running: null,       // AbortController of the signed-in page's stream and timers
  charts: new Map(),   // id → TimeChart
  gpus: new Map(),     // gpu index → its card's elements
  tasks: [],
  waiting: new Map(),  // task id → resolve, for the processes button
  windowS: 900,
  status: null,
  failing: [],
  retry: undefined,    // the timer of the next sign-in while the agent does not answer
};

/** A request of the signed-in session: aborted when the session ends, so that a late answer
 * from an earlier one changes nothing. */
function call(path, options = {}) {
  return api.request(path, { ...options, signal: state.running?.signal });
}

function chart(id, lines, chartFormat, maxY = null) {
  if (!state.charts.has(id)) {
    state.charts.set(id, new TimeChart($(id), { lines, format: chartFormat, maxY }));
  }
  return state.charts.get(id);
}

function setUpCharts() {
  chart("chart-cpu", [{ key: seriesKey("cpu.usage"), label: "CPU" }], format.percent, 100);
  chart("chart-memory", [{ key: seriesKey("memory.usage"), label: "used" }], format.percent, 100);
  chart("chart-network", [{ key: seriesKey("network.upload_bps"), label: "up" },
    { key: seriesKey("network.download_bps"), label: "down" }], format.bitsPerSecond);
  chart("chart-disk", [{ key: seriesKey("disk.read_bytes_per_second"), label: "read" },
    { key: seriesKey("disk.write_bytes_per_second"), label: "write" }], format.bytesPerSecond);
}

/** A GPU's card, made the first time its index is seen. */
function gpuCard(labels) {
  const index = labels.gpu;
  if (state.gpus.has(index)) return state.gpus.get(index);
  const values = {
    usage: views.el("span", { text: "–" }),
    memory: views.el("span", { className: "aside" }),
    temperature: views.el("span", { className: "aside" }),
    power: views.el("span", { className: "aside" }),
  };
  const chartElement = views.el("div", { className: "chart" });
  chartElement.setAttribute("role", "img");
  chartElement.setAttribute("aria-label", `GPU ${index} usage and memory over time`);
  const card = views.el("article", { className: "card gpu" }, [
    views.el("h2", { text: `GPU ${index}`, title: labels.uuid }),
    views.el("p", { className: "value" },
      [values.usage, " ", values.memory, " ", values.temperature, " ", values.power]),
    chartElement,
  ]);
  card.dataset.gpu = index;
  $("gpus").append(card);
  const id = `chart-gpu-${index}`;
  chartElement.id = id;
  const lineLabels = { gpu: labels.gpu, uuid: labels.uuid };
  chart(id, [{ key: seriesKey("gpu.devices[].usage", lineLabels), label: "usage" },
    { key: seriesKey("gpu.devices[].memory_usage", lineLabels), label: "memory" }],
  format.percent, 100);
  state.gpus.set(index, values);
  return values;
}

// ---- the first load, and the charts' history -------------------------------------------------

async function loadHistory() {
  const windowS = state.windowS;
  const stepS = STEP_S[windowS];
  const query = new URLSearchParams([...CHARTED.map((metric) => ["metric", metric]),
    ["since", `${windowS}s`], ["step", `${stepS}s`]]);
  const body = await call(`/history?${query}`);
  if (windowS !== state.windowS) return;   // another range was chosen meanwhile
  const seriesByKey = new Map();
  for (const series of body.series) {
    if (series.metric.startsWith("gpu.")) gpuCard(series.labels);
    seriesByKey.set(seriesKey(series.metric, series.labels), series.points);
  }
  for (const timeChart of state.charts.values()) timeChart.fill(seriesByKey, windowS, stepS);
}

async function loadStatus() {
  const status = await call("/status");
  state.status = status;
  $("hostname").textContent = status.hostname;
  document.title = `${status.hostname} · polyad`;
  $("version").textContent = `polyad ${status.version}`;
  $("agent-uptime").textContent = `agent up ${format.duration(status.uptime_seconds)}`;
  showStatus();
}

function showStatus() {
  const failing = new Set(state.failing.map((name) => `collector.${name}`));
  for (const [name, component] of Object.entries(state.status?.components ?? {})) {
    if (component.status === "failed" || component.status === "timeout") failing.add(name);
  }
  const badge = $("status");
  const degraded = failing.size > 0 || state.status?.status === "degraded";
  const text = degraded ? `degraded: ${[...failing].sort().join(", ")}` : "running";
  if (badge.textContent !== text) {   // a status region: a screen reader says each change
    badge.className = `badge ${degraded ? "degraded" : "running"}`;
    badge.textContent = text;
  }
}

async function loadAlerts() {
  const body = await call("/alerts");
  views.showAlerts($("alerts"), $("alerts-empty"), body.alerts);
}

async function loadTasks() {
  const body = await call(`/tasks?limit=${RECENT_TASKS}`);
  state.tasks = body.tasks;
  views.showTasks($("tasks"), state.tasks);
}

async function loadCache() {
  views.showCache($("cache"), await call("/cache"));
}

// ---- the live stream -------------------------------------------------------------------------

function onTick(tick) {
  const at = Date.parse(tick.sampled_at) / 1000;
  const value = (path) => tick.values[path]?.[0]?.value ?? null;
  $("cpu-usage").textContent = format.percent(value("cpu.usage"));
  $("cpu-temperature").textContent = format.celsius(value("cpu.temperature"));
  $("memory-usage").textContent = format.percent(value("memory.usage"));
  $("net-up").textContent = format.bitsPerSecond(value("network.upload_bps"));
  $("net-down").textContent = format.bitsPerSecond(value("network.download_bps"));
  $("disk-read").textContent = format.bytesPerSecond(value("disk.read_bytes_per_second"));
  $("disk-write").textContent = format.bytesPerSecond(value("disk.write_bytes_per_second"));
  $("host-uptime").textContent = `host up ${format.duration(value("system.uptime_seconds"))}`;
  if (state.status) {
    const agentUp = state.status.uptime_seconds + at - Date.parse(state.status.sampled_at) / 1000;
    $("agent-uptime").textContent = `agent up ${format.duration(agentUp)}`;
  }
  views.showCores($("cores"), tick.values["cpu.cores[].usage"] ?? []);
  views.showFilesystems($("filesystems"), tick.values["filesystem.mounts[].usage"] ?? []);
  showGpus(tick.values);
  state.failing = tick.failing;
  showStatus();
  const valueByKey = new Map();
  for (const [path, readings] of Object.entries(tick.values)) {
    for (const reading of readings) valueByKey.set(seriesKey(path, reading.labels), reading.value);
  }
  for (const timeChart of state.charts.values()) timeChart.push(at, valueByKey);
}

function showGpus(values) {
  const byIndex = new Map();
  for (const metric of GPU_METRICS) {
    for (const { labels, value } of values[metric] ?? []) {
      if (!byIndex.has(labels.gpu)) byIndex.set(labels.gpu, { labels });
      byIndex.get(labels.gpu)[metric] = value;
    }
  }
  for (const gpu of byIndex.values()) {
    const card = gpuCard(gpu.labels);
    card.usage.textContent = format.percent(gpu["gpu.devices[].usage"]);
    card.memory.textContent = `memory ${format.percent(gpu["gpu.devices[].memory_usage"])}`;
    card.temperature.textContent = format.celsius(gpu["gpu.devices[].temperature"]);
    card.power.textContent = format.watts(gpu["gpu.devices[].power_watts"]);
  }
}

function onTask(task) {
  const known = state.tasks.find((row) => row.task_id === task.task_id);
  if (known) Object.assign(known, task);
  else state.tasks = [{ ...task, created_at: new Date().toISOString() }, ...state.tasks];
  state.tasks = state.tasks.slice(0, RECENT_TASKS);
  views.showTasks($("tasks"), state.tasks);
  const resolve = state.waiting.get(task.task_id);
  if (resolve && ["succeeded", "failed", "cancelled", "expired"].includes(task.status)) resolve();
}

function onEvent(type, data) {
  if (type === "tick") onTick(data);
  else if (type === "alert") loadAlerts().catch(showFailure);
  else if (type === "task") onTask(data);
}

// ---- the processes button --------------------------------------------------------------------

function canRunTasks() {
  const scopes = api.tokenScopes();
  return scopes === null || scopes.has("tasks");
}

function showProcessesNote(text, problem = false) {
  const note = $("processes-note");
  note.textContent = text;
  note.classList.toggle("problem", problem);
}

function settled(taskId) {
  return new Promise((resolve) => {
    const poll = setInterval(async () => {   // the stream may be down: ask now and then too
      const task = await call(`/task/${taskId}`).catch(() => null);
      if (task && ["succeeded", "failed", "cancelled", "expired"].includes(task.status)) finish();
    }, 2000);
    const session = state.running?.signal;
    const finish = () => {
      clearInterval(poll);
      state.waiting.delete(taskId);
      session?.removeEventListener("abort", finish);
      resolve();
    };
    state.waiting.set(taskId, finish);
    session?.addEventListener("abort", finish, { once: true });
  });
}

async function runProcesses() {
  const button = $("run-processes");
  button.disabled = true;
  showProcessesNote("Reading the processes…");
  try {
    const accepted = await call("/task", { method: "POST",
      body: { type: "system", action: "processes", data: { top: 15, sort_by: "cpu" } } });
    await settled(accepted.task_id);
    const task = await call(`/task/${accepted.task_id}`);
    if (task.status !== "succeeded") {
      showProcessesNote(`The task ${task.status}: ${task.error?.message ?? ""}`, true);
      return;
    }
    views.showProcesses($("processes"), task.result.processes);
    $("processes-table").hidden = false;
    showProcessesNote(`Top processes by CPU, read ${format.ago(task.finished_at)}`);
  } catch (error) {
    if (!handleRefusal(error)) showProcessesNote(error.message, true);
  } finally {
    button.disabled = !canRunTasks();
  }
}

// ---- signing in and out ----------------------------------------------------------------------

function showFailure(error) {
  if (!handleRefusal(error)) $("stream-state").textContent = error.message;
}

/** A 401 means a new token: the sign-in form, with the reason; so does a 403 on a read (the
 * token lacks the read scope). A 403 on a task is the processes button's note. An answer to a
 * session already ended is dropped. */
function handleRefusal(error) {
  if (error.name === "AbortError" || state.running === null) return true;
  if (!(error instanceof api.ApiError)) return false;
  if (error.status === 401) {   // with no token yet, the form is simply the first screen
    signOut(api.storedToken() ? `The agent refused the token: ${error.message}.` : "");
  } else if (error.status === 403 && error.message.includes("'tasks'")) {
    showProcessesNote(`${error.message}: sign in with a token that has the tasks scope.`, true);
  } else if (error.status === 403) {
    signOut(`${error.message}.`);
  } else {
    return false;
  }
  return true;
}

function endSession() {
  state.running?.abort();
  state.running = null;
  clearTimeout(state.retry);
}

function showForm(reason) {
  $("console").hidden = true;
  $("controls").hidden = true;
  $("login").hidden = false;
  $("login-reason").textContent = reason;
}

/** What the last token saw leaves the page with it. */
function clearData() {
  for (const id of ["alerts", "tasks", "processes", "cache", "filesystems"]) {
    $(id).replaceChildren();
  }
  $("processes-table").hidden = true;
  showProcessesNote("");
  state.tasks = [];
}

function signOut(reason = "") {
  endSession();
  clearData();
  api.forgetToken();
  showForm(reason);
  $("token").focus();
}

/** The agent is down or restarting: the token is kept, and the page tries again. */
function retryLater(error) {
  endSession();
  showForm(`The agent did not answer (${error.message}); trying again…`);
  state.retry = setTimeout(signIn, RETRY_MS);
}

async function signIn() {
  endSession();
  const running = new AbortController();
  state.running = running;
  try {
    await loadStatus();
  } catch (error) {
    if (!handleRefusal(error)) retryLater(error);
    return;
  }
  $("login").hidden = true;
  $("console").hidden = false;
  $("controls").hidden = false;
  $("stream-state").textContent = "";
  setUpCharts();
  const tasksAllowed = canRunTasks();
  $("run-processes").disabled = !tasksAllowed;
  showProcessesNote(tasksAllowed ? "" : "Needs a token with the tasks scope "
    + "(polyad token --scope read,tasks).");
  await Promise.all([loadHistory(), loadAlerts(), loadTasks(), loadCache()]
    .map((load) => load.catch(showFailure)));
  if (running.signal.aborted) return;
  follow({
    signal: running.signal,
    onEvent,
    onState: (text) => { $("stream-state").textContent = text; },
    onRefused: (error) => handleRefusal(error),
  });
  const refresh = setInterval(() => {
    loadStatus().catch(showFailure);
    loadCache().catch(showFailure);
    if (state.windowS >= 86400) loadHistory().catch(showFailure);  // minute points
  }, REFRESH_MS);
  running.signal.addEventListener("abort", () => clearInterval(refresh), { once: true });
}

function start() {
  api.adoptTokenFromFragment();
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    api.storeToken($("token").value);
    $("token").value = "";
    signIn();
  });
  $("sign-out").addEventListener("click", () => signOut());
  $("run-processes").addEventListener("click", runProcesses);
  $("range").addEventListener("change", () => {
    state.windowS = Number($("range").value);
    loadHistory().catch(showFailure);
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", () => {
    for (const timeChart of state.charts.values()) timeChart.restyle();
  });
  signIn();   // with the stored token, or none (an agent with auth off on loopback)
}

start();
