"""Learning curves from run directories: read `progress.csv`, align seeds, plot median and interquartile range.

A run directory (docs/design.md, "The run directory") holds `progress.csv`, one row per logging
interval with `env_steps` strictly increasing, and `config.json` with at least `env_id`, `algo` and
`seed`. This module reads the former with the standard `csv` module (one file format shared by the
trainer and the plotter, as Spinning Up's `progress.txt` is read by `spinup.run plot`) and draws the
curves against environment steps: the median over seeds, the interquartile range shaded (never past what
some seed reached, as a mean ± std band over CartPole's 500 would be), a reference curve beside ours
where one exists.

Aligning seeds. Runs log at slightly different `env_steps` (vector envs, resumed runs), so before
averaging, each run's curve is linearly interpolated onto one shared grid

    x_p = x_start + p (x_end − x_start) / (P − 1),   p = 0 … P−1
    x_start = max_r (first env_steps of run r with a finite value)
    x_end   = min_r (last  env_steps of run r with a finite value)

and the median and the 25th and 75th percentiles are taken per grid point over the R runs (NumPy's
linear interpolation between order statistics).

The grid never leaves the range every run covers: no extrapolation, so no run is flattened or
invented past its last logged step.

This module does not import TensorFlow; it uses matplotlib's object API (`Figure` + `FigureCanvasAgg`)
and never touches `matplotlib.pyplot`, so it neither changes an interactive user's backend nor leaves
figures open.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import EngFormatter

__all__ = [
    "complete_lines",
    "read_progress",
    "curves_on_common_grid",
    "plot_learning_curves",
    "plot_sweep",
    "COLUMN_LABELS",
]

PROGRESS_FILE = "progress.csv"
CONFIG_FILE = "config.json"
DEFAULT_FIGURE_NAME = "learning_curve.png"

#: Axis labels for the `progress.csv` columns; unknown columns get their name with spaces.
COLUMN_LABELS: dict[str, str] = {
    "env_steps": "environment steps",
    "updates": "updates",
    "wall_time_s": "wall time (s)",
    "episode_return_mean": "episode return (mean over finished episodes)",
    "episode_return_std": "episode return (std over finished episodes)",
    "episode_length_mean": "episode length (mean over finished episodes)",
    "episodes": "episodes finished in the interval",
    "policy_loss": "policy loss",
    "value_loss": "value loss",
    "entropy": "policy entropy (nats)",
    "explained_variance": "explained variance of V (1 = perfect, ≤ 0 = useless)",
    "approx_kl": "approximate KL(π_old ‖ π_new)",
    "clip_fraction": "fraction of clipped probability ratios",
}

_FIGSIZE_IN = (7.0, 4.5)
_DPI = 120


# ---------------------------------------------------------------------------------------- reading


def _progress_file(path: str | Path) -> Path:
    """`path` itself if it is a file, `path / progress.csv` if it is a directory; FileNotFoundError otherwise."""
    path = Path(path)
    if path.is_dir():
        csv_path = path / PROGRESS_FILE
        if not csv_path.is_file():
            raise FileNotFoundError(
                f"{path} has no {PROGRESS_FILE}; pass a run directory written by `tf-gae train` "
                f"or the path of a {PROGRESS_FILE} file"
            )
        return csv_path
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist; pass a run directory written by `tf-gae train` "
            f"or the path of a {PROGRESS_FILE} file"
        )
    return path


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def complete_lines(text: str) -> str:
    """`text` without a last line that has no line end: a row a killed writer left half written."""
    return text if text.endswith("\n") else text[: text.rfind("\n") + 1]


def read_progress(path: str | Path) -> dict[str, np.ndarray]:
    """Read a run's `progress.csv` into column name -> float64 array `[N]` (N = logged rows).

    Args:
      path: a run directory (its `progress.csv` is read) or the path of a `progress.csv` file.

    Returns:
      A dict in the file's column order. A last line without a line end (a row a killed run left
      half written) is not read, as `--resume` drops it. Empty cells and `nan` become NaN (an interval in which no
      episode finished has no episode statistics); `inf`/`-inf` are kept as numbers. A file with a
      header and no rows gives arrays of length 0.

    Raises:
      FileNotFoundError: the path or the run directory's `progress.csv` does not exist.
      ValueError: the file is malformed — empty, no header row, duplicate or blank column names, no
        `env_steps` column, a row with the wrong number of cells, or a cell that is neither a number
        nor empty. The one-line message names the file (and line and column) and the fix.
    """
    csv_path = _progress_file(path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"{csv_path} is not UTF-8 text; it must be a CSV written by `tf-gae train`") from None
    rows = list(csv.reader(io.StringIO(complete_lines(text), newline="")))
    # Line numbers are 1-based and count blank lines, which are skipped.
    numbered = [(i + 1, [cell.strip() for cell in row]) for i, row in enumerate(rows) if any(c.strip() for c in row)]
    fix = "it must be a CSV written by `tf-gae train` with a header row naming the columns"
    if not numbered:
        raise ValueError(f"{csv_path} is empty; {fix}")
    header_line, header = numbered[0]
    if all(_is_number(name) for name in header if name):
        raise ValueError(f"{csv_path} has no header row (line {header_line} is numbers); {fix}")
    if any(not name for name in header):
        raise ValueError(f"{csv_path} has a blank column name in its header (line {header_line}); {fix}")
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise ValueError(f"{csv_path} repeats the column(s) {duplicates} in its header; {fix}")
    if "env_steps" not in header:
        raise ValueError(f"{csv_path} has no 'env_steps' column (columns: {', '.join(header)}); {fix}")

    data = np.full((len(numbered) - 1, len(header)), np.nan, dtype=np.float64)  # [N, C]
    for r, (line, row) in enumerate(numbered[1:]):
        if len(row) != len(header):
            raise ValueError(
                f"{csv_path} line {line} has {len(row)} cells but the header has {len(header)}; "
                "the file is truncated or corrupt — rerun or repair that line"
            )
        for c, cell in enumerate(row):
            if cell == "":
                continue  # no value in this interval: stays NaN
            try:
                data[r, c] = float(cell)
            except ValueError:
                raise ValueError(
                    f"{csv_path} line {line}, column '{header[c]}': {cell!r} is not a number; "
                    "cells must be numbers, 'nan' or empty"
                ) from None
    return {name: data[:, c].copy() for c, name in enumerate(header)}


# --------------------------------------------------------------------------------------- aligning


def _has_finite_points(run: dict[str, np.ndarray], column: str) -> bool:
    if column not in run or "env_steps" not in run:
        return True  # let _finite_points name what is missing
    return bool(np.any(np.isfinite(run["env_steps"]) & np.isfinite(run[column])))


def _finite_points(run: dict[str, np.ndarray], column: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """The (env_steps, column) pairs of one run where both are finite; checks env_steps increases."""
    if "env_steps" not in run:
        raise ValueError(f"{where} has no 'env_steps' column; pass dicts returned by read_progress")
    if column not in run:
        raise ValueError(f"{where} has no column {column!r} (columns: {', '.join(run)}); choose one of those")
    steps = np.asarray(run["env_steps"], dtype=np.float64)  # [N]
    values = np.asarray(run[column], dtype=np.float64)  # [N]
    if steps.shape != values.shape or steps.ndim != 1:
        raise ValueError(f"{where}: 'env_steps' and {column!r} must be 1-D arrays of one length, "
                         f"got shapes {steps.shape} and {values.shape}")
    keep = np.isfinite(steps) & np.isfinite(values)
    steps, values = steps[keep], values[keep]
    if steps.size == 0:
        raise ValueError(f"{where} has no finite values of {column!r}; train longer or plot another column")
    if np.any(np.diff(steps) <= 0):
        raise ValueError(f"{where}: 'env_steps' must strictly increase; the progress file is corrupt")
    return steps, values


def curves_on_common_grid(
    runs: list[dict[str, np.ndarray]],
    column: str = "episode_return_mean",
    num_points: int = 100,
) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate each run's `column` against `env_steps` onto one shared grid of environment steps.

    For each run the rows where `column` (or `env_steps`) is NaN are dropped, and the remaining points
    are linearly interpolated (`np.interp`) at

        x_p = x_start + p (x_end − x_start) / (P − 1),   p = 0 … P−1,
        x_start = max over runs of the first kept env_steps  (0 when every run has a value at step 0),
        x_end   = min over runs of the last kept env_steps   (the shorter run's last step).

    No run is extrapolated: every grid point lies inside every run's kept range.

    Args:
      runs: R >= 1 dicts as returned by :func:`read_progress`.
      column: the column to align (default `episode_return_mean`).
      num_points: P >= 2, the number of grid points.

    Returns:
      `(grid, values)`: grid `[P]` float64 (`[1]` if all runs share a single step) and values `[R, P]`.

    Raises:
      ValueError: no runs, `num_points` < 2, a run without `env_steps` or `column`, a run with no finite
        value of `column`, `env_steps` not strictly increasing, or runs whose ranges do not overlap.
    """
    if isinstance(num_points, bool) or not isinstance(num_points, (int, np.integer)) or num_points < 2:
        raise ValueError(f"num_points must be an integer >= 2, got {num_points!r}")
    runs = list(runs)
    if not runs:
        raise ValueError("runs is empty; pass at least one dict returned by read_progress")
    points = [_finite_points(run, column, f"run {i}") for i, run in enumerate(runs)]
    start = max(float(steps[0]) for steps, _ in points)
    end = min(float(steps[-1]) for steps, _ in points)
    if start > end:
        raise ValueError(
            f"the runs' {column!r} curves do not overlap in env_steps (latest start {start:g} > "
            f"earliest end {end:g}); plot runs that cover a common range of steps"
        )
    grid = np.array([start]) if start == end else np.linspace(start, end, int(num_points))  # [P]
    values = np.stack([np.interp(grid, steps, vals) for steps, vals in points])  # [R, P]
    return grid, values


# --------------------------------------------------------------------------------------- plotting


def _read_config(run_dir: Path) -> dict[str, Any] | None:
    """The run's `config.json` as a dict, None if it has none; ValueError if it is not a JSON object."""
    config_path = (run_dir if run_dir.is_dir() else run_dir.parent) / CONFIG_FILE
    if not config_path.is_file():
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{config_path} is not valid JSON ({err}); repair or remove it") from None
    if not isinstance(config, dict):
        raise ValueError(f"{config_path} must hold a JSON object; repair or remove it")
    return config


def _common_setting(key: str, run_dirs: list[Path], configs: list[dict[str, Any] | None]) -> Any | None:
    """The one value of `key` across the runs that have a config; ValueError naming two that differ."""
    seen: dict[str, Path] = {}
    for run_dir, config in zip(run_dirs, configs):
        if config is None or config.get(key) is None:
            continue
        value = str(config[key])
        seen.setdefault(value, run_dir)
        if len(seen) > 1:
            (first, first_dir), (second, second_dir) = list(seen.items())[:2]
            raise ValueError(
                f"cannot average runs of different {key}: {first!r} ({first_dir}) and {second!r} "
                f"({second_dir}); plot each configuration separately"
            )
    return next(iter(seen), None)


def _column_label(column: str) -> str:
    return COLUMN_LABELS.get(column, column.replace("_", " "))


def _output_path(out: str | Path) -> Path:
    out = Path(out)
    if out.is_dir():
        return out / DEFAULT_FIGURE_NAME
    if out.suffix.lower() != ".png":
        raise ValueError(f"out must be a .png file or an existing directory, got {out}; use e.g. {out.with_suffix('.png')}")
    return out


def _learning_curve_figure(
    run_dirs: list[str | Path],
    column: str = "episode_return_mean",
    title: str | None = None,
    label: str | None = None,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    threshold: float | None = None,
) -> Figure:
    """Build (do not save) the figure :func:`plot_learning_curves` writes; see there for the arguments."""
    run_dirs = [Path(d) for d in run_dirs]
    if not run_dirs:
        raise ValueError("run_dirs is empty; pass at least one run directory")
    runs = [read_progress(d) for d in run_dirs]
    configs = [_read_config(d) for d in run_dirs]
    env_id = _common_setting("env_id", run_dirs, configs)
    algo = _common_setting("algo", run_dirs, configs)
    if threshold is not None and not (isinstance(threshold, (int, float, np.number)) and math.isfinite(threshold)):
        raise ValueError(f"threshold must be a finite number or None, got {threshold!r}")

    num_runs = len(runs)
    seeds_text = f"{num_runs} seed" + ("" if num_runs == 1 else "s")
    if title is None:
        if env_id is not None or algo is not None:
            title = f"{env_id or 'unknown env'} — {algo or 'unknown algo'} ({seeds_text})"
        else:
            title = f"{_column_label(column)} ({seeds_text})"
    name = label if label is not None else (algo or "ours")

    fig = Figure(figsize=_FIGSIZE_IN, dpi=_DPI)
    FigureCanvasAgg(fig)  # attaches itself to fig; no pyplot, no global backend change
    ax = fig.add_subplot()
    color = "C0"
    if num_runs == 1 and not _has_finite_points(runs[0], column):
        # e.g. MountainCar-v0 for fewer steps than an episode takes: an honest empty figure, not an error
        steps_run = runs[0]["env_steps"][np.isfinite(runs[0]["env_steps"])]
        reach = f"{int(steps_run.max()):,} env steps" if steps_run.size else "this run"
        if steps_run.size:
            ax.set_xlim(0, float(steps_run.max()))
        ax.text(0.5, 0.75, f"nothing to plot: no finite value in {reach}\n(for returns: no episode finished yet)",
                transform=ax.transAxes, ha="center", va="center", color="0.35")
        ax.plot([], [], color=color, lw=1.8, label=f"{name} (no values)")
    elif num_runs == 1:
        steps, values = _finite_points(runs[0], column, str(run_dirs[0]))
        seed = (configs[0] or {}).get("seed")
        # No band: a single run has no spread over seeds, and progress.csv's spread over episodes is a std,
        # whose mean ± std band passes a bounded return's maximum (CartPole's 500).
        ax.plot(steps, values, color=color, lw=1.8, label=name if seed is None else f"{name} (seed {seed})")
    else:
        grid, values = curves_on_common_grid(runs, column)  # [P], [R, P]
        low, median, high = np.percentile(values, [25, 50, 75], axis=0)  # [P] each
        ax.plot(grid, median, color=color, lw=1.8, label=f"{name} (median of {num_runs} seeds)")
        ax.fill_between(grid, low, high, color=color, alpha=0.2, lw=0, label="interquartile range over seeds")

    if reference is not None:
        ref_steps = np.asarray(reference[0], dtype=np.float64).ravel()
        ref_values = np.asarray(reference[1], dtype=np.float64).ravel()
        if ref_steps.shape != ref_values.shape or ref_steps.size == 0:
            raise ValueError(
                f"reference must be (steps, values) of one non-zero length, got lengths "
                f"{ref_steps.size} and {ref_values.size}"
            )
        ax.plot(ref_steps, ref_values, color="C1", lw=1.5, label="reference")
    if threshold is not None:
        ax.axhline(float(threshold), color="0.3", ls="--", lw=1.2, label=f"threshold {float(threshold):g}")

    ax.set_xlabel(COLUMN_LABELS["env_steps"])
    ax.set_ylabel(_column_label(column))
    ax.set_title(title)
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    return fig


def plot_learning_curves(
    run_dirs: list[str | Path],
    out: str | Path,
    column: str = "episode_return_mean",
    title: str | None = None,
    label: str | None = None,
    reference: tuple[np.ndarray, np.ndarray] | None = None,
    threshold: float | None = None,
) -> Path:
    """Plot `column` against environment steps for runs of one configuration and save it as a PNG.

    Several runs (seeds): the median over runs as a line and the interquartile range over runs shaded,
    both on the common grid of :func:`curves_on_common_grid` (no extrapolation past the shortest
    run). One run: its own curve (NaN rows skipped), without a band.

    Args:
      run_dirs: run directories (or their `progress.csv` files); their `config.json`, where present,
        must agree on `env_id` and `algo`.
      out: the PNG to write (parent directories are created); an existing directory gets
        `learning_curve.png` inside it.
      column: the `progress.csv` column to plot; the y label is its readable name (`COLUMN_LABELS`).
      title: defaults to "<env_id> — <algo> (n seeds)" from `config.json`.
      label: legend name of our curve; defaults to the algorithm's name.
      reference: `(steps [M], values [M])` of a curve to draw beside ours (e.g. a published result).
      threshold: draws a labelled dashed horizontal line there (e.g. 475 = CartPole-v1 solved).

    Returns:
      The path of the written PNG (7 x 4.5 in at 120 dpi).

    Raises:
      ValueError: runs of different `env_id` or `algo` (the message names both), a bad `out` suffix,
        or any error of :func:`read_progress` / :func:`curves_on_common_grid`.
      FileNotFoundError: a run directory without `progress.csv`.
    """
    out_path = _output_path(out)
    fig = _learning_curve_figure(run_dirs, column, title=title, label=label, reference=reference,
                                 threshold=threshold)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, format="png", dpi=_DPI)
    fig.clear()  # a Figure outside pyplot is freed with its last reference; clear() drops artists now
    return out_path


def plot_sweep(
    groups: dict[str, list[str | Path]],
    out: str | Path,
    column: str = "episode_return_mean",
    title: str | None = None,
    threshold: float | None = None,
) -> Path:
    """One curve per setting of a sweep: the median over its seeds' runs and, shaded in the same colour, the
    interquartile range (25th to 75th percentile over seeds), on each setting's common grid of environment
    steps (:func:`curves_on_common_grid`; no extrapolation). Percentiles of the runs' values never leave
    their range, so a band never passes a return's maximum. Saved as a PNG; returns its path.

    Args:
      groups: setting label (e.g. "λ=0.9") → the run directories of its seeds, in the order to draw them.
      out, column, title, threshold: as for :func:`plot_learning_curves`.
    """
    if not groups:
        raise ValueError("groups is empty; pass at least one setting with its run directories")
    out_path = _output_path(out)
    fig = Figure(figsize=_FIGSIZE_IN, dpi=_DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    colors = [colormaps["viridis"](0.85 * index / max(1, len(groups) - 1)) for index in range(len(groups))]  # no yellow
    seed_counts = set()
    for color, (label, run_dirs) in zip(colors, groups.items()):
        grid, values = curves_on_common_grid([read_progress(d) for d in run_dirs], column)  # [P], [R, P]
        low, median, high = np.percentile(values, [25, 50, 75], axis=0)  # over seeds, per grid point
        ax.plot(grid, median, color=color, lw=1.8, label=f"{label} (median of {len(run_dirs)})")
        ax.fill_between(grid, low, high, color=color, alpha=0.18, lw=0)
        seed_counts.add(len(run_dirs))
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="0.6", alpha=0.35, lw=0))
    labels.append("shaded: interquartile range over seeds")
    if threshold is not None:
        handles.append(ax.axhline(float(threshold), color="0.3", ls="--", lw=1.2))
        labels.append(f"threshold {float(threshold):g}")
    seeds = "/".join(str(n) for n in sorted(seed_counts))
    ax.set_title(title or f"{_column_label(column)}: {len(groups)} settings × {seeds} seeds")
    ax.set_xlabel(COLUMN_LABELS["env_steps"])
    ax.set_ylabel(_column_label(column))
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.grid(True, alpha=0.3)
    ax.legend(handles, labels, loc="best", fontsize="small")
    fig.tight_layout()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, format="png", dpi=_DPI)
    fig.clear()
    return out_path

