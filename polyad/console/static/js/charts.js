// Time charts on uPlot (vendored, a global from its IIFE build): filled from GET /history, then
// one point per step from the live ticks, trimmed to the chosen window.

/** A series' identity: its metric path and its labels, e.g. `gpu.devices[].usage{gpu=0,…}`. */
export function seriesKey(metric, labels = {}) {
  const names = Object.keys(labels).sort();
  return `${metric}{${names.map((name) => `${name}=${labels[name]}`).join(",")}}`;
}

function themeColour(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/** 14:05, or Tue 14:05 on a 24-hour chart's ticks from another day. */
function clockTime(seconds) {
  const at = new Date(seconds * 1000);
  const time = at.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return at.toDateString() === new Date().toDateString() ? time
    : `${at.toLocaleDateString([], { weekday: "short" })} ${time}`;
}

const COLOURS = ["--accent", "--accent-2", "--ok", "--bad"];
const HEIGHT = 160;

export class TimeChart {
  /** `lines`: [{key, label}]; `format`: a value's text; `maxY`: a fixed top (100 for %). */
  constructor(element, { lines, format, maxY = null }) {
    this.element = element;
    this.lines = lines;
    this.format = format;
    this.maxY = maxY;
    this.windowS = 900;
    this.stepS = 1;
    this.times = [];
    this.values = lines.map(() => []);
    this.plot = null;
    new ResizeObserver(() => this.fit()).observe(element);
  }

  /** Points of /history's series (those of this chart's keys), over `windowS` at `stepS`. */
  fill(seriesByKey, windowS, stepS) {
    this.windowS = windowS;
    this.stepS = stepS;
    const byLine = this.lines.map((line) => new Map(seriesByKey.get(line.key) ?? []));
    const times = new Set();
    byLine.forEach((points) => points.forEach((_, at) => times.add(at)));
    this.times = [...times].sort((a, b) => a - b);
    this.values = byLine.map((points) => this.times.map((at) => points.get(at) ?? null));
    this.draw();
  }

  /** A live tick's values (by key), kept when a step has passed since the newest point. */
  push(at, valueByKey) {
    const newest = this.times[this.times.length - 1];
    if (newest !== undefined && at - newest < this.stepS) return;
    this.times.push(at);
    this.lines.forEach((line, index) => this.values[index].push(valueByKey.get(line.key) ?? null));
    const oldest = at - this.windowS;
    let drop = 0;
    while (drop < this.times.length && this.times[drop] < oldest) drop += 1;
    if (drop) {
      this.times.splice(0, drop);
      this.values.forEach((values) => values.splice(0, drop));
    }
    this.draw();
  }

  /** How many points it shows (the browser tests read it). */
  get points() {
    return this.values.reduce((count, values) => count + values.filter((v) => v != null).length, 0);
  }

  draw() {
    this.element.dataset.points = String(this.points);
    const data = [this.times, ...this.values];
    if (this.plot === null) {
      this.plot = new window.uPlot(this.options(), data, this.element);
    } else {
      this.plot.setData(data);
    }
  }

  /** Drawn again in the theme's colours (light and dark differ). */
  restyle() {
    if (this.plot === null) return;
    this.plot.destroy();
    this.plot = null;
    this.draw();
  }

  fit() {
    if (this.plot !== null && this.element.clientWidth > 0) {
      this.plot.setSize({ width: this.element.clientWidth, height: HEIGHT });
    }
  }

  options() {
    const muted = themeColour("--muted");
    const grid = { stroke: themeColour("--grid"), width: 1 };
    const format = this.format;
    const axisFormat = this.maxY === 100 ? (value) => `${Math.round(value)} %` : format;
    return {
      width: Math.max(this.element.clientWidth, 200),
      height: HEIGHT,
      cursor: { drag: { x: false, y: false } },
      legend: { live: false },   // the card's own numbers are the live ones
      padding: [10, 28, 0, 0],   // room for the last time label at the right edge
      scales: { x: { time: true }, y: this.maxY === null ? {} : { range: [0, this.maxY] } },
      axes: [
        { stroke: muted, grid, ticks: grid, space: 70,
          values: (_, ticks) => ticks.map(clockTime) },
        { stroke: muted, grid, ticks: grid, size: 80,
          values: (_, ticks) => ticks.map((tick) => axisFormat(tick)) },
      ],
      series: [
        {},
        ...this.lines.map((line, index) => ({
          label: line.label,
          stroke: themeColour(COLOURS[index % COLOURS.length]),
          width: 1.5,
          spanGaps: false,
          value: (_, value) => format(value),
        })),
      ],
    };
  }
}
