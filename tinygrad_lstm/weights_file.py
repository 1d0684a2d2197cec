"""Reading a weights file written by a model's save(), checking it before allocating anything.

save() writes an uncompressed .npz (np.savez): a zip of .npy members, "__config__.npy" (the
model's sizes as a JSON string) and one "<name>.npy" per parameter. load() reads it in
this order, so that the file cannot make it allocate more than it is itself big:

1. the config member (uncompressed, at most MAX_CONFIG_BYTES), parsed as JSON;
2. (the model, from the config: the parameters' names and shapes; nothing is built yet)
3. the shapes' total against MAX_PARAMETERS; then, for every member, its zip entry (stored
   uncompressed, as np.savez writes it) and its .npy header (a few bytes: dtype, shape),
   and its declared size against the header's shape × itemsize;
4. only then the members' bodies.

Refusing compressed members is what bounds memory by the file's size: a deflated member
of a few KB can expand to GBs. Anything wrong (not a zip, cut short, corrupt, a member
missing or extra or misshapen) is a NotAWeightsFile (a ValueError) whose message names it.
Numpy and the standard library only.
"""
import json
import zipfile
import zlib
from contextlib import contextmanager
from math import prod

import numpy as np

# The most floats load() accepts in one file: 10⁸ is 800 MB in float64. Set it higher to
# load a bigger model: tinygrad_lstm.weights_file.MAX_PARAMETERS = 10**9.
MAX_PARAMETERS = 10**8

# The most bytes the config member may take (its JSON is ~150 characters, 4 bytes each).
MAX_CONFIG_BYTES = 1 << 16

CONFIG = "__config__"


def _floats(shape):
    """A parameter's test and its description: floats of exactly this shape."""
    shape = tuple(shape)
    return (lambda dtype, got: dtype.kind == "f" and got == shape), f"floats of shape {shape}"


class NotAWeightsFile(ValueError):
    """The file is not one save() wrote; the message says what is wrong with it."""


@contextmanager
def _reasons(what):
    """Any error from zipfile, zlib, numpy's header parser or json becomes NotAWeightsFile."""
    try:
        yield
    except NotAWeightsFile:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, TypeError,
            RuntimeError, NotImplementedError, OverflowError) as e:   # RuntimeError: encrypted, deep JSON
        raise NotAWeightsFile(f"{what}: {' '.join(str(e).split()) or type(e).__name__}") from None


def check_total(parameters):
    """Refuse a config that describes more than MAX_PARAMETERS floats."""
    if parameters > MAX_PARAMETERS:
        raise NotAWeightsFile(f"its config describes {parameters:,} parameters, more than load() accepts "
                              f"(tinygrad_lstm.weights_file.MAX_PARAMETERS = {MAX_PARAMETERS:,})")


class WeightsReader:
    """An open weights file: config() first, then arrays(shapes). Use it as a context manager."""

    def __init__(self, path):
        with _reasons("it cannot be read as a zip archive"):
            self._zip = zipfile.ZipFile(path)
        try:
            with _reasons("its list of members is unreadable"):
                infos = self._zip.infolist()
                self._members = {info.filename: info for info in infos}
                if len(self._members) != len(infos):
                    raise NotAWeightsFile("it holds a member twice")
        except BaseException:
            self._zip.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._zip.close()

    def config(self):
        """The JSON object in __config__.npy (not yet checked: that is the model's job)."""
        if f"{CONFIG}.npy" not in self._members:
            raise NotAWeightsFile(f"it has no {CONFIG} member")
        with _reasons(f"its {CONFIG} is unreadable"):
            text = self._read(CONFIG, lambda dtype, shape: dtype.kind == "U" and shape == (), "a string",
                              MAX_CONFIG_BYTES)[()]
            return json.loads(str(text))

    def arrays(self, shapes):
        """{name: array} for the parameters {name: shape}, after every check (module docstring)."""
        check_total(sum(prod(shape) for shape in shapes.values()))
        expected = {f"{name}.npy" for name in shapes} | {f"{CONFIG}.npy"}
        missing = sorted(m[:-4] for m in expected - set(self._members))
        extra = sorted(repr(m) for m in set(self._members) - expected)
        if missing or extra:
            parts = ([f"missing {', '.join(missing)}"] if missing else []) + \
                    ([f"unexpected {', '.join(extra)}"] if extra else [])
            raise NotAWeightsFile("; ".join(parts))
        for name, shape in shapes.items():       # every header, before any body
            with _reasons(f"its {name} is unreadable"):
                self._check(name, self._header(name), *_floats(shape))
        arrays = {}
        for name, shape in shapes.items():
            with _reasons(f"its {name} is unreadable"):
                arrays[name] = self._read(name, *_floats(shape))
        return arrays

    # --- one member ---------------------------------------------------------------------
    def _entry(self, name, max_bytes=None):
        info = self._members[f"{name}.npy"]
        if info.compress_type != zipfile.ZIP_STORED:
            raise NotAWeightsFile(f"its {name} is compressed; save() stores every member uncompressed")
        if info.flag_bits & 0x1:
            raise NotAWeightsFile(f"its {name} is encrypted")
        if max_bytes is not None and info.file_size > max_bytes:
            raise NotAWeightsFile(f"its {name} takes {info.file_size:,} bytes, more than {max_bytes:,}")
        return info

    @staticmethod
    def _parse_header(fp):
        """(dtype, shape, fortran_order, header length) from the start of a member's stream.
        Only .npy format 1.0, whose header is at most 64 KB (numpy writes 1.0 for our arrays)."""
        version = np.lib.format.read_magic(fp)
        if version != (1, 0):
            raise ValueError(f"it is .npy format {version[0]}.{version[1]}, not 1.0")
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
        return dtype, tuple(shape), fortran_order, fp.tell()

    def _header(self, name, max_bytes=None):
        info = self._entry(name, max_bytes)
        with self._zip.open(info) as fp:
            dtype, shape, _, offset = self._parse_header(fp)
        return info, dtype, shape, offset

    @staticmethod
    def _check(name, header, ok, wanted):
        """The header's dtype and shape are what `ok` accepts; the entry's size is theirs."""
        info, dtype, shape, offset = header
        if not ok(dtype, shape):
            raise NotAWeightsFile(f"its {name} holds {dtype} of shape {shape}; expected {wanted}")
        size = offset + prod(shape) * dtype.itemsize
        if info.file_size != size:
            raise NotAWeightsFile(f"its {name} declares {info.file_size:,} bytes, but its header "
                                  f"({dtype}, shape {shape}) means {size:,}")

    def _read(self, name, ok, wanted, max_bytes=None):
        """The member's array, its header checked (again: reading it costs a few bytes) first."""
        info = self._entry(name, max_bytes)
        with self._zip.open(info) as fp:
            dtype, shape, fortran_order, offset = self._parse_header(fp)
            self._check(name, (info, dtype, shape, offset), ok, wanted)
            size = prod(shape) * dtype.itemsize
            data = fp.read(size)              # the zip checks the CRC on reaching the end
            if len(data) != size or fp.read(1):
                raise NotAWeightsFile(f"its {name} is cut short")
        array = np.frombuffer(data, dtype=dtype)
        return array.reshape(shape[::-1]).T if fortran_order else array.reshape(shape)
