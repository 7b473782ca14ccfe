// Numbers as a person reads them, in the units the API gives (%, bytes, bit/s, seconds).

export function percent(value) {
  return value == null ? "–" : `${value.toFixed(1)} %`;
}

function scaled(value, base, units, suffix) {
  if (value == null) return "–";
  let index = 0;
  let scaledValue = Math.abs(value);
  while (scaledValue >= base && index < units.length - 1) {
    scaledValue /= base;
    index += 1;
  }
  const digits = scaledValue >= 100 || index === 0 ? 0 : 1;
  return `${Math.sign(value) < 0 ? "-" : ""}${scaledValue.toFixed(digits)} ${units[index]}${suffix}`;
}

export function bytes(value) {
  return scaled(value, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB"], "");
}

export function bytesPerSecond(value) {
  return scaled(value, 1024, ["B", "KiB", "MiB", "GiB", "TiB"], "/s");
}

export function bitsPerSecond(value) {
  return scaled(value, 1000, ["bit", "kbit", "Mbit", "Gbit", "Tbit"], "/s");
}

export function celsius(value) {
  return value == null ? "" : `${value.toFixed(0)} °C`;
}

export function watts(value) {
  return value == null ? "–" : `${value.toFixed(0)} W`;
}

export function duration(seconds) {
  if (seconds == null) return "–";
  const parts = [];
  let left = Math.floor(seconds);
  for (const [size, unit] of [[86400, "d"], [3600, "h"], [60, "m"]]) {
    if (left >= size) {
      parts.push(`${Math.floor(left / size)}${unit}`);
      left %= size;
    }
  }
  if (parts.length < 2) parts.push(`${left}s`);
  return parts.slice(0, 2).join(" ");
}

/** "3m ago" for an ISO 8601 time, from the browser's clock. */
export function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return `${duration(seconds)} ago`;
}

/** The formatter for a unit as /history names it. */
export function byUnit(unit) {
  return { "%": percent, "By/s": bytesPerSecond, "bit/s": bitsPerSecond, By: bytes, Cel: celsius,
    W: watts, s: duration }[unit] ?? ((value) => (value == null ? "–" : value.toFixed(2)));
}
