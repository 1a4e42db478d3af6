"""A CPU case timed while other work loads the machine is flagged, and show says so."""

import os

from tpbench.measure.environment import contention


def test_contention_flags_a_loaded_machine(monkeypatch):
    cores = os.cpu_count() or 1
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + 2.0, 0.0, 0.0))
    assert contention(2) == {"load_average": cores + 2.0, "contended": True}
    assert contention(1)["contended"] is False  # one thread waits on no sibling
    monkeypatch.setattr(os, "getloadavg", lambda: (0.3, 0.0, 0.0))
    assert contention(2)["contended"] is False


def test_show_warns_about_contended_cases(capsys, tmp_path, monkeypatch):
    import pytest

    from tpbench.cli import main
    from tpbench.results.store import RunStore

    run = RunStore.create(tmp_path / "r", {"suite": "s", "device": "cpu"})
    base = {"kernel": "k", "problem_id": "p", "problem_label": "mimo L=1", "pass": "fwd", "variant": "eager",
            "device": "cpu", "status": "ok", "median_ms": 1.0}
    run.append({**base, "contended": True, "load_average": 5.0})
    with pytest.raises(SystemExit):
        main(["show", str(run.dir), "--width", "200"])
    out = capsys.readouterr().out
    assert "1 timed cases ran while other work loaded the CPU" in out
