"""Writing files whole or not at all."""
import errno
import os
import re
import stat
import tempfile
from pathlib import Path

# Our temporary files: ".{name}.{pid}.{random}.tinygrad-tmp" beside the file being written,
# where pid is the writer's process id. A file of this shape whose process is gone was left
# by a killed save, and the next save to the same place removes it.
TEMPORARY_SUFFIX = ".tinygrad-tmp"
_NAME_KEPT = 100                   # how much of the file's name the temporary name repeats


def _check_file_name(path, who):
    """`path` as a Path, if it can name a file: a str or Path, not empty, without NUL, and
    not ending in a slash (Path() would drop it, and "weights.npz/" names a folder)."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{who}: the path must be a file name (str or Path); got {path!r}")
    if not str(path) or "\0" in str(path):
        raise ValueError(f"{who}: the path must be a non-empty file name without NUL; got {path!r}")
    text = os.fspath(path)
    if isinstance(text, str) and text.endswith(tuple(s for s in (os.sep, os.altsep, "/") if s)):
        raise IsADirectoryError(f"{who}: {text!r} ends in {text[-1]!r}, so it names a folder; "
                                f"give a file name")
    return Path(path)


def check_input_path(path, who="read"):
    """A path naming a file that exists (a link to one counts), to be read."""
    path = _check_file_name(path, who)
    if not path.is_file():
        raise FileNotFoundError(f"{who}: no file at {str(path)!r}")
    return path


def check_output_path(path, who="write"):
    """A path we can write a file to: its folder exists, and it is not itself a folder."""
    path = _check_file_name(path, who)
    try:
        is_dir, parent_exists, parent_is_dir = path.is_dir(), path.parent.exists(), path.parent.is_dir()
    except OSError as e:                       # e.g. a name too long for the file system
        raise type(e)(e.errno, f"{who}: cannot write {str(path)!r}: {e.strerror}") from None
    if is_dir:
        raise IsADirectoryError(f"{who}: {str(path)!r} is a folder; give a file name inside it")
    _check_regular(path, who)
    if parent_exists and not parent_is_dir:
        raise NotADirectoryError(f"{who}: {str(path.parent)!r} is a file, not a folder")
    if not parent_is_dir:
        raise FileNotFoundError(f"{who}: the folder {str(path.parent)!r} does not exist")
    return path


def _check_regular(path, who):
    """A path that exists must be a regular file (or a link to one): a new file moved over a
    FIFO, a socket or a device such as /dev/null would replace it, which as root breaks
    the system."""
    try:
        mode = os.stat(path).st_mode            # follows links: what the bytes would reach
    except OSError:
        return                                  # absent (or a dangling link): a new file
    if not stat.S_ISREG(mode):
        kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
                else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
        raise OSError(f"{who}: {str(path)!r} is {kind}; files are written whole and moved into place, "
                      f"which would replace it: give the name of a regular file")


def _target(path, who):
    """Where writing to `path` must put the bytes: `path` itself, or, when it is a symbolic
    link (even a dangling one), the file it points to, so that the link stays a link."""
    if not path.is_symlink():
        return path
    target = Path(os.path.realpath(path))
    if target.is_symlink():                    # realpath gives up on a loop of links
        raise OSError(errno.ELOOP, f"{who}: cannot write {str(path)!r}: "
                                   f"{os.strerror(errno.ELOOP)}")
    return check_output_path(target, who)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:                            # e.g. someone else's process: alive
        return True
    return True


def _remove_stale_temporaries(folder, name):
    """Remove our temporary files for `name` in `folder` whose writing process is gone, and
    nothing else."""
    if os.name != "posix":                     # os.kill(pid, 0) would end the process on Windows
        return
    pattern = re.compile(re.escape(f".{name[:_NAME_KEPT]}.") + r"(\d+)\.[a-z0-9_]+"
                         + re.escape(TEMPORARY_SUFFIX))
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        try:
            if match and entry.is_file(follow_symlinks=False) and not _alive(int(match.group(1))):
                os.unlink(entry.path)
        except OSError:                         # gone already, or not ours to remove: leave it
            pass


def _sync_folder(folder):
    """Make a rename in `folder` durable, where the platform can (best effort)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def write_atomically(path, data):
    """Write `data` (bytes or str) to a temporary file beside `path`, flush it to the disk,
    then move it into place: a failure, even a killed process, never leaves a half-written
    file, nor destroys one that was there. A symbolic link stays a link: the file it points
    to gets the new content. Returns `path`."""
    path = check_output_path(path)
    target = _target(path, "write")
    if isinstance(data, str):
        data = data.encode("utf-8")
    _remove_stale_temporaries(target.parent, target.name)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=TEMPORARY_SUFFIX,
                                             prefix=f".{target.name[:_NAME_KEPT]}.{os.getpid()}.")
    except OSError as e:
        raise type(e)(e.errno, f"cannot write {str(path)!r}: {e.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)      # mkstemp makes it private; an output file is not
        os.replace(temporary, target)
    except BaseException as e:
        if os.path.exists(temporary):
            os.unlink(temporary)
        if isinstance(e, OSError) and e.errno is not None:       # say it of the file the user named
            raise type(e)(e.errno, f"cannot write {str(path)!r}: {e.strerror}") from None
        raise
    _sync_folder(target.parent)
    return path
