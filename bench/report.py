"""What a bench run reports: rows of (scenario, figure, polyad, baseline, ratio, target), the
table they print as, and the results file with raw figures, versions and machine facts."""

from __future__ import annotations

import json
import os
import platform
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).with_name("results")


@dataclass(frozen=True)
class Row:
    """One figure. `ratio` is always polyad / baseline; `target` says which way is good."""

    scenario: str
    figure: str
    polyad: float
    baseline: float | None = None
    baseline_name: str = ""
    target: str = ""
    met: bool | None = None   # None: reported, no target

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or self.baseline == 0:
            return None
        return self.polyad / self.baseline


def compared(scenario: str, figure: str, polyad: float, baseline: float, baseline_name: str,
             target: str = "", check: Callable[[float], bool] | None = None) -> Row:
    """A row against a baseline; `check` judges the ratio."""
    ratio = polyad / baseline if baseline else float("inf")
    return Row(scenario, figure, polyad, baseline, baseline_name, target,
               None if check is None else check(ratio))


def absolute(scenario: str, figure: str, polyad: float, target: str = "",
             check: Callable[[float], bool] | None = None) -> Row:
    """A row with no baseline; `check` judges the figure itself."""
    return Row(scenario, figure, polyad, None, "", target,
               None if check is None else check(polyad))


def number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or float(value).is_integer():
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2g}"


def table(rows: Sequence[Row]) -> str:
    header = ("scenario", "figure", "polyad", "baseline", "of", "ratio", "target", "met")
    verdict = {True: "yes", False: "NO", None: ""}
    cells = [header] + [
        (row.scenario, row.figure, number(row.polyad), number(row.baseline), row.baseline_name,
         "-" if row.ratio is None else f"{number(row.ratio)}x", row.target, verdict[row.met])
        for row in rows]
    widths = [max(len(line[column]) for line in cells) for column in range(len(header))]
    numeric = {2, 3, 5}
    lines = ["  ".join(cell.rjust(width) if index in numeric else cell.ljust(width)
                       for index, (cell, width) in enumerate(zip(line, widths, strict=True)))
             .rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows: Iterable[Row]) -> str:
    verdict = {True: "yes", False: "**no**", None: ""}
    lines = ["| scenario | figure | polyad | baseline | ratio | target | met |",
             "| --- | --- | ---: | ---: | ---: | --- | --- |"]
    for row in rows:
        baseline = f"{number(row.baseline)} ({row.baseline_name})" if row.baseline_name else "-"
        ratio = "-" if row.ratio is None else f"{number(row.ratio)}x"
        lines.append(f"| {row.scenario} | {row.figure} | {number(row.polyad)} | {baseline} | "
                     f"{ratio} | {row.target} | {verdict[row.met]} |")
    return "\n".join(lines)


def machine_facts() -> dict[str, Any]:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory_kib = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text()
                      .splitlines() if line.startswith("MemTotal:"))
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "cpu_model": model, "memory_gib": round(memory_kib / 1024**2, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "load_average_at_start": os.getloadavg()}


def write_results(path: Path, summary: dict[str, Any], rows: Sequence[Row],
                  raw: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**summary, "table": [{**asdict(row), "ratio": row.ratio} for row in rows],
                "raw": raw}
    path.write_text(json.dumps(document, indent=2) + "\n")


def main() -> None:
    """`python -m bench.report FILE`: a results file's table as Markdown, for the docs."""
    document = json.loads(Path(sys.argv[1]).read_text())
    fields = {"scenario", "figure", "polyad", "baseline", "baseline_name", "target", "met"}
    rows = [Row(**{key: value for key, value in row.items() if key in fields})
            for row in document["table"]]
    sys.stdout.write(markdown_table(rows) + "\n")


if __name__ == "__main__":
    main()
