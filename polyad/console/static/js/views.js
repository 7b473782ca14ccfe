// The page's lists and tables drawn from the API's answers. Text only goes in as text
// (textContent), never as HTML: a label or an annotation cannot become markup.

import * as format from "./format.js";

/** An element with a class, a text and children. */
export function el(tag, { className, text, title } = {}, children = []) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  if (title) node.title = title;
  node.append(...children);
  return node;
}

function cell(text, className) {
  return el("td", { text, className });
}

/** A bar showing a percent, its value as CSS custom property (allowed by the CSP). */
export function meter(percent) {
  const fill = el("span");
  const bar = el("span", { className: percent >= 90 ? "meter high" : "meter" }, [fill]);
  bar.style.setProperty("--usage", String((percent ?? 0) / 100));
  return bar;
}

export function showCores(container, cores) {
  while (container.children.length > cores.length) container.lastChild.remove();
  while (container.children.length < cores.length) container.append(el("span", { className: "core" }));
  cores.forEach(({ labels, value }, index) => {
    const core = container.children[index];
    core.style.setProperty("--usage", String((value ?? 0) / 100));
    core.title = `CPU ${labels.cpu_logical_number}: ${format.percent(value)}`;
  });
  const known = cores.map(({ value }) => value).filter((value) => value != null);
  if (known.length) {
    container.setAttribute("aria-label", `${cores.length} logical CPUs, the busiest at `
      + `${format.percent(Math.max(...known))}`);
  }
}

export function showFilesystems(body, mounts) {
  const rows = [...mounts]
    .sort((a, b) => a.labels.system_filesystem_mountpoint
      .localeCompare(b.labels.system_filesystem_mountpoint))
    .map(({ labels, value }) => el("tr", {}, [
      cell(labels.system_filesystem_mountpoint),
      cell(labels.system_filesystem_type),
      cell(labels.system_device),
      el("td", { className: "num" }, [meter(value), format.percent(value)]),
    ]));
  body.replaceChildren(...rows);
}

export function showAlerts(list, empty, alerts) {
  const order = { firing: 0, pending: 1 };
  const items = [...alerts]
    .sort((a, b) => (order[a.state] ?? 2) - (order[b.state] ?? 2) || a.name.localeCompare(b.name))
    .map((alert) => {
      const since = alert.state === "firing" ? alert.fired_at : alert.active_at;
      const labels = Object.entries(alert.labels)
        .filter(([name]) => !["alertname", "severity", "instance"].includes(name))
        .map(([name, value]) => `${name}=${value}`).join(", ");
      return el("li", { className: `alert ${alert.state}` }, [
        el("span", { className: "name", text: alert.name }),
        el("span", { className: "state", text: alert.state }),
        el("span", { className: "aside", text: ` since ${format.ago(since)}`,
          title: since }),
        ...(labels ? [el("p", { text: labels })] : []),
        ...Object.entries(alert.annotations)
          .filter(([name]) => ["summary", "description"].includes(name))
          .map(([, text]) => el("p", { text })),
      ]);
    });
  list.replaceChildren(...items);
  empty.hidden = items.length > 0;
}

export function showTasks(body, tasks) {
  body.replaceChildren(...tasks.map((task) => el("tr", {}, [
    el("td", {}, [el("code", { text: task.task_id.slice(0, 8), title: task.task_id })]),
    cell(`${task.type}.${task.action}`),
    cell(task.status),
    cell(`${Math.round((task.progress ?? 0) * 100)} %`, "num"),
    cell(task.created_at ? format.ago(task.created_at) : ""),
  ])));
}

export function showProcesses(body, processes) {
  body.replaceChildren(...processes.map((process) => el("tr", {}, [
    cell(String(process.pid)),
    cell(process.name ?? ""),
    cell(process.user ?? ""),
    cell(format.percent(process.cpu_percent), "num"),
    cell(format.percent(process.memory_percent), "num"),
    cell(format.bytes(process.rss_bytes), "num"),
  ])));
}

export function showCache(list, cache) {
  const figures = [
    ["Backend", cache.backend],
    ["Size", format.bytes(cache.size_bytes)],
    ["Entries", String(cache.entries)],
    ["Hit rate", format.percent(cache.hit_rate)],
    ["Hits", String(cache.hits)],
    ["Misses", String(cache.misses)],
    ["Evictions", String(cache.evictions)],
    ["Last cleanup", cache.last_cleanup ? format.ago(cache.last_cleanup) : "never"],
  ];
  list.replaceChildren(...figures.map(([name, value]) => el("div", {}, [
    el("dt", { text: name }), el("dd", { text: value })])));
}
