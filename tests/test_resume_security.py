"""``--resume`` never imports a kernel file on the word of a results directory, and never mixes suites."""

import json

import pytest

from tpbench.cli import main


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _snapshot(run_dir):
    return {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}


@pytest.fixture
def finished(capsys, tmp_path, tiny_suite, user_kernel_file):
    out = tmp_path / "results"
    code, _, err = run_cli(capsys, "run", "--suite", str(tiny_suite), "--kernel", str(user_kernel_file),
                           "--filter", "problem=*L=1*", "--out", str(out), "--no-progress", "--no-metrics")
    assert code == 0, err
    [run_dir] = [p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return out, run_dir


def _refused(capsys, out, run_dir, *args):
    before = _snapshot(run_dir)
    code, _, err = run_cli(capsys, "run", "--resume", run_dir.name, "--out", str(out), "--no-progress",
                           "--no-metrics", *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _snapshot(run_dir) == before  # nothing on disk touched
    return err


def test_run_json_records_hashes(finished, user_kernel_file, tiny_suite):
    import hashlib

    _, run_dir = finished
    manifest = json.loads((run_dir / "run.json").read_text())
    assert manifest["kernel_files"] == [{"path": str(user_kernel_file.resolve()),
                                         "sha256": hashlib.sha256(user_kernel_file.read_bytes()).hexdigest()}]
    assert manifest["suite_sha256"] == hashlib.sha256(tiny_suite.read_bytes()).hexdigest()


def test_resume_refuses_a_kernel_file_not_passed_again_or_changed(capsys, tmp_path, finished, user_kernel_file):
    out, run_dir = finished
    marker = tmp_path / "pwned"
    err = _refused(capsys, out, run_dir)
    assert "pass it again with --kernel" in err and str(user_kernel_file.resolve()) in err
    # Someone who can write the file (or the run directory) swaps in code of their own.
    user_kernel_file.write_text(f"open({str(marker)!r}, 'w').close()\n" + user_kernel_file.read_text())
    err = _refused(capsys, out, run_dir, "--kernel", str(user_kernel_file))
    assert "differs" in err and not marker.exists()
    # A run.json edited to name another file does not make tpbench import it either.
    manifest = json.loads((run_dir / "run.json").read_text())
    evil = tmp_path / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').close()\n")
    manifest["kernels"] = manifest["kernels"] + [str(evil)]
    manifest["kernel_files"].append({"path": str(evil), "sha256": "0" * 64})
    (run_dir / "run.json").write_text(json.dumps(manifest))
    _refused(capsys, out, run_dir)
    assert not marker.exists()


def test_resume_with_the_same_file_passed_again_goes_on(capsys, finished, user_kernel_file):
    out, run_dir = finished
    code, _, err = run_cli(capsys, "run", "--resume", run_dir.name, "--out", str(out), "--no-progress",
                           "--no-metrics", "--kernel", str(user_kernel_file))
    assert code == 0 and "done: 0 cases run" in err, err


def test_resume_refuses_another_suite_or_a_changed_one(capsys, tmp_path, finished, user_kernel_file, tiny_suite):
    out, run_dir = finished
    other = tmp_path / "other.toml"
    other.write_text(tiny_suite.read_text().replace("batch = 64", "batch = 32"))
    err = _refused(capsys, out, run_dir, "--kernel", str(user_kernel_file), "--suite", str(other))
    assert "is not this run's suite" in err
    tiny_suite.write_text(tiny_suite.read_text().replace("L = [1, 2]", "L = [1, 2, 3]"))
    err = _refused(capsys, out, run_dir, "--kernel", str(user_kernel_file))
    assert "changed since the run started" in err
