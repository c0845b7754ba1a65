"""tf_gae.plotting on small hand-written run directories: parsed numbers, interpolated numbers, drawn numbers, PNGs."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import pytest

from tf_gae import plotting
from tf_gae.plotting import curves_on_common_grid, plot_learning_curves, read_progress

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
COLUMNS = ["env_steps", "updates", "wall_time_s", "episode_return_mean", "episode_return_std",
           "episode_length_mean", "episodes", "policy_loss", "value_loss", "entropy", "explained_variance"]


def write_run(run_dir: Path, env_steps, returns, *, returns_std=None, env_id="CartPole-v1", algo="a2c",
              seed=0) -> Path:
    """A run directory with a progress.csv (NaN returns written as empty cells) and a config.json."""
    run_dir.mkdir(parents=True)
    returns_std = np.zeros(len(env_steps)) if returns_std is None else returns_std
    lines = [",".join(COLUMNS)]
    for i, (steps, ret, std) in enumerate(zip(env_steps, returns, returns_std)):
        cell = "" if np.isnan(ret) else repr(float(ret))
        std_cell = "" if np.isnan(std) else repr(float(std))
        lines.append(f"{steps},{i + 1},{0.5 * (i + 1)},{cell},{std_cell},{cell},{0 if cell == '' else 3},"
                     f"-0.1,0.2,0.69,0.5")
    (run_dir / "progress.csv").write_text("\n".join(lines) + "\n")
    (run_dir / "config.json").write_text(json.dumps({"env_id": env_id, "algo": algo, "seed": seed}))
    return run_dir


# ---------------------------------------------------------------- read_progress


def test_read_progress_parses_numbers_and_empty_cells_as_nan(tmp_path):
    text = ("env_steps,episode_return_mean,episode_return_std,approx_kl\n"
            "128,,,0.01\n"
            "256,12.5,nan,0.02\n"
            "\n"  # a blank line is skipped
            "384,20,4.5,-inf\n")
    (tmp_path / "progress.csv").write_text(text)
    for path in (tmp_path, tmp_path / "progress.csv", str(tmp_path)):  # directory or file, str or Path
        progress = read_progress(path)
        assert list(progress) == ["env_steps", "episode_return_mean", "episode_return_std", "approx_kl"]
        assert all(a.dtype == np.float64 and a.shape == (3,) for a in progress.values())
        np.testing.assert_array_equal(progress["env_steps"], [128.0, 256.0, 384.0])
        np.testing.assert_array_equal(progress["episode_return_mean"], [np.nan, 12.5, 20.0])
        np.testing.assert_array_equal(progress["episode_return_std"], [np.nan, np.nan, 4.5])
        np.testing.assert_array_equal(progress["approx_kl"], [0.01, 0.02, -np.inf])


def test_read_progress_header_only_gives_empty_columns(tmp_path):
    (tmp_path / "progress.csv").write_text("env_steps,entropy\n")
    progress = read_progress(tmp_path)
    assert progress["env_steps"].shape == (0,) and progress["entropy"].shape == (0,)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "is empty"),
        ("128,1.0\n256,2.0\n", "no header row"),
        ("updates,entropy\n1,0.5\n", "no 'env_steps' column"),
        ("env_steps,entropy\n128,0.5\n256,high\n", "line 3, column 'entropy': 'high' is not a number"),
        ("env_steps,entropy\n128,0.5,7\n", "line 2 has 3 cells but the header has 2"),
        ("env_steps,entropy,entropy\n128,0.5,0.4\n", "repeats the column"),
    ],
    ids=["empty", "no-header", "no-env-steps", "non-numeric", "ragged", "duplicate-column"],
)
def test_read_progress_rejects_malformed_file_naming_it(tmp_path, text, fragment):
    csv_path = tmp_path / "progress.csv"
    csv_path.write_text(text)
    with pytest.raises(ValueError) as info:
        read_progress(tmp_path)
    message = str(info.value)
    assert str(csv_path) in message and fragment in message
    assert "\n" not in message


def test_read_progress_missing_file_names_path_and_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"has no progress\.csv; pass a run directory") as info:
        read_progress(tmp_path)
    assert str(tmp_path) in str(info.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_progress(tmp_path / "nowhere")


# ---------------------------------------------------------------- curves_on_common_grid


def test_common_grid_interpolates_linear_curves_exactly_and_stops_at_shorter_run():
    # Run a: y = 2x + 1 logged every 100 steps up to 1000; run b: y = 500 − x/4 at irregular steps up to 800,
    # with an interval in which no episode finished (NaN), which must be skipped, not read as 0.
    steps_a = np.arange(0.0, 1001.0, 100.0)
    steps_b = np.array([0.0, 150.0, 300.0, 420.0, 640.0, 800.0])
    run_a = {"env_steps": steps_a, "episode_return_mean": 2 * steps_a + 1}
    values_b = 500 - steps_b / 4
    values_b[2] = np.nan
    run_b = {"env_steps": steps_b, "episode_return_mean": values_b}

    grid, values = curves_on_common_grid([run_a, run_b], num_points=9)

    np.testing.assert_allclose(grid, np.arange(0.0, 801.0, 100.0), rtol=0, atol=1e-12)
    assert grid[-1] == 800.0  # the shorter run's last step, not run a's 1000
    assert values.shape == (2, 9)
    np.testing.assert_allclose(values[0], 2 * grid + 1, rtol=0, atol=1e-9)
    np.testing.assert_allclose(values[1], 500 - grid / 4, rtol=0, atol=1e-9)  # linear, so exact through the gap


def test_common_grid_starts_at_largest_first_finite_step_and_never_extrapolates():
    # Run b's first two intervals finished no episode: the grid starts at its first value (step 300).
    run_a = {"env_steps": np.array([100.0, 200.0, 300.0, 400.0, 500.0]),
             "episode_return_mean": np.array([1.0, 2.0, 3.0, 4.0, 5.0])}
    run_b = {"env_steps": np.array([100.0, 200.0, 300.0, 400.0, 600.0]),
             "episode_return_mean": np.array([np.nan, np.nan, 30.0, 40.0, 60.0])}
    grid, values = curves_on_common_grid([run_a, run_b], num_points=5)
    np.testing.assert_allclose(grid, [300.0, 350.0, 400.0, 450.0, 500.0])
    np.testing.assert_allclose(values, [[3.0, 3.5, 4.0, 4.5, 5.0], [30.0, 35.0, 40.0, 45.0, 50.0]])


def test_common_grid_rejects_bad_inputs():
    run = {"env_steps": np.array([0.0, 100.0]), "episode_return_mean": np.array([1.0, 2.0])}
    late = {"env_steps": np.array([200.0, 300.0]), "episode_return_mean": np.array([1.0, 2.0])}
    with pytest.raises(ValueError, match="runs is empty"):
        curves_on_common_grid([])
    with pytest.raises(ValueError, match="num_points"):
        curves_on_common_grid([run], num_points=1)
    with pytest.raises(ValueError, match="no column 'approx_kl'"):
        curves_on_common_grid([run], column="approx_kl")
    with pytest.raises(ValueError, match="do not overlap"):
        curves_on_common_grid([run, late])
    with pytest.raises(ValueError, match="no finite values"):
        curves_on_common_grid([{"env_steps": np.array([0.0, 1.0]), "episode_return_mean": np.full(2, np.nan)}])
    with pytest.raises(ValueError, match="strictly increase"):
        curves_on_common_grid([{"env_steps": np.array([0.0, 2.0, 1.0]), "episode_return_mean": np.ones(3)}])


# ---------------------------------------------------------------- plot_learning_curves


def assert_png(path: Path, min_bytes: int = 5_000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    # IHDR width and height: 7 x 4.5 in at 120 dpi.
    assert int.from_bytes(data[16:20], "big") == 840 and int.from_bytes(data[20:24], "big") == 540


def test_plot_single_run_draws_its_curve_and_no_band(tmp_path):
    steps = np.arange(1, 11) * 500.0
    returns = np.linspace(20.0, 200.0, 10)
    returns[0] = np.nan  # no episode finished in the first interval
    std = np.full(10, 5.0)
    run = write_run(tmp_path / "run0", steps, returns, returns_std=std, seed=7)

    out = plot_learning_curves([run], tmp_path / "figs" / "nested" / "curve.png", threshold=475)
    assert out == tmp_path / "figs" / "nested" / "curve.png"
    assert_png(out)

    fig = plotting._learning_curve_figure([run], threshold=475)
    ax = fig.axes[0]
    ours = ax.lines[0]
    np.testing.assert_allclose(ours.get_xdata(), steps[1:])
    np.testing.assert_allclose(ours.get_ydata(), returns[1:])
    assert not ax.collections, "no band: mean ± std over episodes would pass a bounded return's maximum"
    threshold_line = ax.lines[1]
    np.testing.assert_allclose(threshold_line.get_ydata(), [475.0, 475.0])
    assert threshold_line.get_linestyle() == "--"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert set(labels) == {"a2c (seed 7)", "threshold 475"}
    assert ax.get_title() == "CartPole-v1 — a2c (1 seed)"
    assert ax.get_xlabel() == "environment steps"
    assert ax.get_ylabel() == "episode return (mean over finished episodes)"


def test_plot_three_runs_draws_median_and_interquartile_range_over_seeds(tmp_path):
    steps = np.arange(0, 11) * 100.0
    slopes = [0.1, 0.2, 0.6]  # mean 0.3, median 0.2: the line tells them apart
    runs = [write_run(tmp_path / f"s{k}", steps, slope * steps, seed=k, algo="ppo") for k, slope in enumerate(slopes)]
    ref = (np.array([0.0, 1000.0]), np.array([0.0, 150.0]))

    out = plot_learning_curves(runs, tmp_path / "three.png", reference=ref)
    assert_png(out)

    fig = plotting._learning_curve_figure(runs, reference=ref, label="GAE(λ=0.95)")
    ax = fig.axes[0]
    mean_line, ref_line = ax.lines
    grid = mean_line.get_xdata()
    np.testing.assert_allclose(grid, np.linspace(0.0, 1000.0, 100))
    np.testing.assert_allclose(mean_line.get_ydata(), 0.2 * grid, atol=1e-9)  # median of slopes 0.1, 0.2, 0.6
    band = ax.collections[0].get_paths()[0].vertices
    # Quartiles of (0.1x, 0.2x, 0.6x), interpolated between order statistics: 0.15x and 0.4x; at x = 1000,
    # 150 .. 400 (a mean ± std band would reach 0.3x + 0.265x = 565 there).
    assert band[:, 1].min() == pytest.approx(0.0, abs=1e-9) and band[:, 1].max() == pytest.approx(400.0)
    at_end = band[np.isclose(band[:, 0], 1000.0), 1]
    assert min(at_end) == pytest.approx(150.0) and max(at_end) == pytest.approx(400.0)
    np.testing.assert_allclose(ref_line.get_ydata(), [0.0, 150.0])
    assert ax.get_title() == "CartPole-v1 — ppo (3 seeds)"
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert labels == {"GAE(λ=0.95) (median of 3 seeds)", "interquartile range over seeds", "reference"}


def test_plot_other_column_title_override_and_directory_out(tmp_path):
    steps = np.arange(1, 6) * 100.0
    runs = [write_run(tmp_path / f"r{k}", steps, steps, seed=k) for k in range(2)]
    out = plot_learning_curves(runs, tmp_path, column="explained_variance", title="value fit")
    assert out == tmp_path / "learning_curve.png"
    assert_png(out, min_bytes=3_000)
    ax = plotting._learning_curve_figure(runs, column="explained_variance", title="value fit").axes[0]
    assert ax.get_title() == "value fit" and ax.get_ylabel().startswith("explained variance")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 0.5)  # every row logs 0.5
    with pytest.raises(ValueError, match=r"\.png"):
        plot_learning_curves(runs, tmp_path / "curve.pdf")


@pytest.mark.parametrize("key, other", [("env_id", "Acrobot-v1"), ("algo", "reinforce")])
def test_plot_refuses_to_mix_configurations(tmp_path, key, other):
    steps = np.arange(1, 6) * 100.0
    a = write_run(tmp_path / "a", steps, steps)
    b = write_run(tmp_path / "b", steps, steps, **{key: other})
    out = tmp_path / "mixed" / "curve.png"
    with pytest.raises(ValueError) as info:
        plot_learning_curves([a, b], out)
    message = str(info.value)
    assert f"different {key}" in message and other in message and str(a) in message and str(b) in message
    assert not out.exists() and not out.parent.exists()  # nothing written


def test_plotting_module_imports_neither_tensorflow_nor_pyplot():
    # tf_gae/__init__ loads the TF kernel, so check the module's own imports rather than sys.modules.
    tree = ast.parse(Path(plotting.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"__future__", "csv", "io", "json", "math", "pathlib", "typing", "numpy",
                        "matplotlib", "matplotlib.backends.backend_agg", "matplotlib.figure", "matplotlib.patches",
                        "matplotlib.ticker"}
