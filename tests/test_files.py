"""tinygrad_lstm.files: a save is whole or not at all, even when the process is killed;
a folder is never taken for a file name; a symbolic link stays a link."""
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tinygrad_lstm import files
from tinygrad_lstm.files import TEMPORARY_SUFFIX, check_output_path, write_atomically

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("shape", ["newdir/", "existing_dir", "existing_dir/", "existing_dir//",
                                   "existing_dir/./"])
def test_a_folder_is_not_a_file_name(tmp_path, monkeypatch, shape):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "existing_dir").mkdir()
    with pytest.raises(IsADirectoryError, match=r"folder; give a file name"):
        write_atomically(shape, b"data")
    with pytest.raises(IsADirectoryError, match=repr(shape).replace("\\", "\\\\")):
        check_output_path(shape, "save")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing_dir"]       # no file "newdir"
    assert list((tmp_path / "existing_dir").iterdir()) == []


def test_an_absolute_path_with_a_trailing_slash_is_a_folder_too(tmp_path):
    with pytest.raises(IsADirectoryError, match="names a folder"):
        write_atomically(str(tmp_path / "newdir") + "/", b"data")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("slashes", ["/", "//", "/./"])
def test_load_refuses_a_trailing_slash_as_save_does(tmp_path, slashes):
    from tinygrad_lstm.nn import LSTM
    path = LSTM(3, 4, 2).save(tmp_path / "w.npz")
    for call in (LSTM(3, 4, 2).save, LSTM.load):
        with pytest.raises(IsADirectoryError, match=r"so it names a folder; give a file name"):
            call(f"{path}{slashes}")
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]


def test_a_symbolic_link_stays_a_link_and_its_target_gets_the_content(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (real / "weights.npz").write_bytes(b"old")
    link = tmp_path / "latest.npz"
    link.symlink_to(Path("real") / "weights.npz")                 # a relative link
    assert write_atomically(link, b"new") == link
    assert link.is_symlink() and os.readlink(link) == os.path.join("real", "weights.npz")
    assert (real / "weights.npz").read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.npz", "real"]
    assert sorted(p.name for p in real.iterdir()) == ["weights.npz"]


def test_a_dangling_link_is_written_through_when_its_folder_exists(tmp_path):
    link = tmp_path / "latest.npz"
    link.symlink_to(tmp_path / "weights.npz")
    write_atomically(link, b"new")
    assert link.is_symlink() and (tmp_path / "weights.npz").read_bytes() == b"new"


def test_a_dangling_link_into_a_missing_folder_is_the_missing_folder_error(tmp_path):
    link = tmp_path / "latest.npz"
    link.symlink_to(tmp_path / "gone" / "weights.npz")
    with pytest.raises(FileNotFoundError, match=r"the folder '.*gone' does not exist"):
        write_atomically(link, b"new")
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["latest.npz"]


def test_a_loop_of_links_is_refused(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    with pytest.raises(OSError, match="cannot write"):
        write_atomically(tmp_path / "a", b"new")
    assert (tmp_path / "a").is_symlink() and (tmp_path / "b").is_symlink()


def test_the_file_is_synced_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", stat.S_ISDIR(os.fstat(fd).st_mode)))
        real_fsync(fd)

    def replace(a, b):
        events.append(("replace", Path(a).read_bytes()))
        real_replace(a, b)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    write_atomically(tmp_path / "w.npz", b"content")
    assert events[:2] == [("fsync", False), ("replace", b"content")]
    if os.name == "posix":
        assert events[2:] == [("fsync", True)]
    assert (tmp_path / "w.npz").read_bytes() == b"content"


def test_an_output_file_is_not_private(tmp_path):
    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "w.npz", b"x")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "w.npz").stat().st_mode) == 0o644


CHILD = """
import os, sys, time
sys.path.insert(0, {root!r})
from tinygrad_lstm.files import write_atomically

def stop_here(fd):                  # the temporary file is written: say so, and wait to be killed
    print("written", flush=True)
    time.sleep(120)

os.fsync = stop_here
write_atomically(sys.argv[1], b"half of the new weights" * 100_000)
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL and os.kill(pid, 0) are POSIX")
def test_a_killed_save_keeps_the_old_file_and_the_next_save_sweeps_its_debris(tmp_path):
    target = tmp_path / "weights.npz"
    target.write_bytes(b"the old weights")
    strangers = {
        ".other.tmp": b"not ours",
        ".weights.npz.abc123.tmp": b"not ours: another shape",
        f".weights.npz.{os.getpid()}.abcd1234{TEMPORARY_SUFFIX}": b"ours, but its writer is alive",
        "notes.txt": b"not ours",
    }
    for name, content in strangers.items():
        (tmp_path / name).write_bytes(content)

    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT)), str(target)],
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    assert target.read_bytes() == b"the old weights"                  # the previous file intact
    stale = [p for p in tmp_path.iterdir() if f".{child.pid}." in p.name]
    assert len(stale) == 1 and stale[0].name.startswith(".weights.npz.")
    assert stale[0].name.endswith(TEMPORARY_SUFFIX) and stale[0].stat().st_size > 1_000_000

    assert write_atomically(target, b"the new weights") == target
    assert not stale[0].exists()                                      # the debris is gone
    assert target.read_bytes() == b"the new weights"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*strangers, "weights.npz"])
    for name, content in strangers.items():                          # and nothing else was touched
        assert (tmp_path / name).read_bytes() == content


@pytest.mark.skipif(os.name != "posix", reason="os.kill(pid, 0) is POSIX")
def test_only_the_same_file_s_debris_is_swept(tmp_path):
    dead = _a_dead_pid()
    mine = tmp_path / f".weights.npz.{dead}.abcd1234{TEMPORARY_SUFFIX}"
    others = [tmp_path / f".other.npz.{dead}.abcd1234{TEMPORARY_SUFFIX}",        # another file's
              tmp_path / f".weights.npz.{dead}.abcd1234{TEMPORARY_SUFFIX}.bak",  # not exactly ours
              tmp_path / f"weights.npz.{dead}.abcd1234{TEMPORARY_SUFFIX}"]
    for p in [mine, *others]:
        p.write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    folder_alike = tmp_path / f".weights.npz.{dead}.zzzz9999{TEMPORARY_SUFFIX}"
    folder_alike.mkdir()                                                      # not a file: kept
    write_atomically(tmp_path / "weights.npz", b"new")
    assert not mine.exists()
    assert all(p.exists() for p in others) and folder_alike.is_dir()


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    (tmp_path / "w.npz").write_bytes(b"old")
    with pytest.raises(OSError, match=r"cannot write '.*w\.npz': Input/output error"):
        write_atomically(tmp_path / "w.npz", b"new")
    assert [p.name for p in tmp_path.iterdir()] == ["w.npz"]
    assert (tmp_path / "w.npz").read_bytes() == b"old"


def _a_dead_pid():
    """The id of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_module_names_its_temporary_files_recognisably():
    assert files.TEMPORARY_SUFFIX == ".tinygrad-tmp"


# --- never replace what is not a regular file ---------------------------------------------

def _save(path):
    from tinygrad_lstm.nn import LSTM
    LSTM(3, 4, 3).save(path)


def _render(path):
    from tinygrad_lstm import Tensor
    from tinygrad_lstm.viz import render
    render((Tensor([1.0], requires_grad=True) * 2).sum(), path)


WRITERS = {"save": (_save, "w.npz"), "write_atomically": (lambda p: write_atomically(p, b"x"), "f.txt"),
           "render": (_render, "g.dot")}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes on this platform")
@pytest.mark.parametrize("through_a_link", [False, True])
@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_fifo_is_refused_and_stays_a_fifo(tmp_path, writer, through_a_link):
    write, name = WRITERS[writer]
    fifo = tmp_path / name
    os.mkfifo(fifo)
    target = fifo
    if through_a_link:                        # a link to a FIFO: the FIFO is what it reaches
        target = tmp_path / f"link-{name}"
        target.symlink_to(fifo)
    with pytest.raises(OSError,
                       match=r"is a named pipe \(FIFO\); files are written whole and moved into place"):
        write(target)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(TEMPORARY_SUFFIX)]


def test_dev_null_is_refused_and_left_alone():
    with pytest.raises(OSError, match=r"'/dev/null' is a device"):
        _save("/dev/null")
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
