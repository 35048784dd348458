"""Measurement helpers: they must see what they claim to see (no timed assertions)."""
import pytest
import torch

from freqfusion_edu import profiling as P

MB = 1 << 20


def test_peak_memory_sees_a_live_allocation():
    def f():
        a = torch.ones(MB, dtype=torch.float32)  # 4 MiB
        return a.sum()

    assert 4 * MB <= P.peak_memory(f) < 5 * MB
    # ... including temporaries an op makes behind the scenes: a uint8 sum accumulates in int64
    assert P.peak_memory(lambda: torch.ones(MB, dtype=torch.uint8).sum()) >= 9 * MB


def test_peak_memory_is_a_peak_not_a_sum():
    def sequential():  # two 4 MiB temporaries, never alive together
        for _ in range(2):
            a = torch.ones(4 * MB, dtype=torch.uint8)
            del a

    def together():
        a = torch.ones(4 * MB, dtype=torch.uint8)
        b = torch.ones(4 * MB, dtype=torch.uint8)
        return a, b

    assert P.peak_memory(sequential) < 5 * MB
    assert P.peak_memory(together) >= 8 * MB


def test_peak_memory_ignores_what_existed_before():
    keep = torch.ones(8 * MB, dtype=torch.uint8)
    assert P.peak_memory(lambda: keep.add_(1)) < MB


def test_measure_time_reports_threads_and_spread():
    t = P.measure_time(lambda: torch.ones(100).sum(), threads=2, min_run_time=0.01, timer="cpu")
    assert t.threads == 2 and t.timer == "cpu" and t.median > 0 and t.runs >= 1
    assert t.spread >= 0 and "ms" in str(t)
    with pytest.raises(ValueError, match="timer must be"):
        P.measure_time(lambda: None, timer="gpu")
    with pytest.raises(ValueError, match="threads must be"):
        P.measure_time(lambda: None, threads=0)


def test_measure_time_restores_thread_count():
    before = torch.get_num_threads()
    P.measure_time(lambda: None, threads=1, min_run_time=0.01)
    assert torch.get_num_threads() == before


def test_carafe_cost_counts_by_hand():
    c = P.carafe_cost(2, 3, 4, 5, 3, 2, groups=1, itemsize=8)
    out = 2 * 3 * 8 * 10
    assert c["out_bytes"] == out * 8
    assert c["flops"] == 2 * 9 * out
    assert c["bytes"] == (2 * 3 * 4 * 5 + 2 * 9 * 8 * 10 + out) * 8


def test_rates_are_positive_and_plausible():
    bw = P.copy_bandwidth(8 * MB, min_run_time=0.02)
    fl = P.matmul_rate(256, min_run_time=0.02)
    assert 1e8 < bw < 1e13 and 1e8 < fl < 1e15


def test_format_helpers():
    assert P.format_bytes(512) == "512 B"
    assert P.format_bytes(1.5 * MB) == "1.5 MiB"
    table = P.format_table([{"a": 1, "b": 2.0}, {"a": "x"}], ["a", "b"])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 | 2 |", "| x |  |"]
    assert P.format_table([]) == ""
    assert "cores" in P.machine_info()


# -- freqfusion_edu.viz.benchmarks (the bars and the run-on-click explorer of chapter 06) ------

def test_time_memory_bars_show_the_values():
    from freqfusion_edu.viz.benchmarks import plot_time_memory

    fig = plot_time_memory([{"impl": "unfold", "ms": 30.0, "MiB": 50.0},
                            {"impl": "library", "ms": 3.0, "MiB": 2.0}])
    t_ax, m_ax = fig.axes
    assert [p.get_height() for p in t_ax.patches] == [30.0, 3.0]
    assert [p.get_height() for p in m_ax.patches] == [50.0, 2.0]
    assert [t.get_text() for t in t_ax.get_xticklabels()] == ["unfold", "library"]
    with pytest.raises(ValueError, match="lacks"):
        plot_time_memory([{"impl": "a", "ms": 1.0}])
    with pytest.raises(ValueError, match="at least one"):
        plot_time_memory([])


def test_explorer_runs_only_on_click_and_redraws():
    from freqfusion_edu.widgets.benchmarks import benchmark_explorer

    calls = []

    def run(size, impls):
        calls.append((size, tuple(impls)))
        scale = {"small": 1.0, "large": 4.0}[size]
        return [{"impl": n, "ms": scale * (i + 1), "MiB": scale} for i, n in enumerate(impls)]

    w = benchmark_explorer(run, ["small", "large"], ["unfold", "library"])
    assert calls == [] and w.rows is None  # heavy work waits for the button
    w.button.click()
    assert calls == [("small", ("unfold", "library"))]
    first = [p.get_height() for p in w.figure.axes[0].patches]
    w.size.value = "large"
    w.choices["unfold"].value = False
    w.button.click()
    assert calls[-1] == ("large", ("library",))
    assert [p.get_height() for p in w.figure.axes[0].patches] == [4.0] != first[:1]


def test_peak_memory_writes_no_profiler_markers_to_stderr(capfd):
    """Chapter 06 must not write to stderr (issue 13 item 16): Kineto's "USDT ... profiler_start"
    lines are dropped, any other line written meanwhile still reaches stderr."""
    import os

    capfd.readouterr()
    assert P.peak_memory(lambda: torch.ones(1 << 16).sum()) >= 0
    assert capfd.readouterr().err == ""
    with P._without_kineto_markers():
        os.write(2, b"USDT:2026-11-28 08:10:54 6843:6843 SyncActivityProfilerHandler.cpp:52] "
                    b"profiler_start\nSTAGE:2026-11-28 08:10:54 6843:6843 "
                    b"SyncActivityProfilerHandler.cpp:51] Completed Stage: Warm Up\na real problem\n")
    assert capfd.readouterr().err == "a real problem\n"
