"""Parameters as attributes, as torch modules have them: `model.W_f` is the parameter named
"W_f" in named_parameters(), and a stacked model's "layer2.W_f" is `model.layer2.W_f` (or
`getattr(model, "layer2.W_f")`). A mixin for nn.Module, which holds `_parameters`.

Only names that are not ordinary attributes come here (Python asks __getattr__ last), so
reading `model.hidden_size` costs nothing more. Assigning to a parameter's name is refused:
it would hide the parameter behind a plain attribute that the model never reads.
"""
import difflib

from .tensor import Tensor


class _Unknown(AttributeError):
    """An AttributeError whose helpful message is written only when someone reads it:
    hasattr() and getattr(m, name, default) ask often, and difflib takes ~0.1 ms."""

    def __init__(self, module, name):
        super().__init__(name)
        self.module, self.name_asked = module, name

    def __str__(self):
        return self.module._unknown(self.name_asked)


class ParametersByName:
    """__getattr__, __setattr__ and __dir__ over `self._parameters` and `self._layers()`."""

    def _layers(self):
        """{name: sub-module} reachable as attributes; a stacked model's "layer2" and so on."""
        return {}

    def _find(self, name):
        """The layer or parameter called `name`, or None. A cell ("layer2.") answers to its
        names with and without its prefix, so model.layer2.W_f is the parameter "layer2.W_f"."""
        parameters, prefix = self._parameters, self.__dict__.get("prefix", "")
        for found in (self._layers().get(name), parameters.get(name), parameters.get(prefix + name)):
            if found is not None:           # (not `or`: a Tensor has no single truth value)
                return found
        return None

    def __getattr__(self, name):
        # _parameters is missing while the constructor runs, and on a copy being rebuilt
        # (copy, pickle): plain AttributeErrors then, as those callers expect.
        found = None
        if "_parameters" in self.__dict__ and not name.startswith("__"):
            found = self._find(name)
        if found is None:
            raise _Unknown(self, name)
        return found

    def __setattr__(self, name, value):
        found = self._find(name) if "_parameters" in self.__dict__ else None
        who = f"{type(self).__name__}.{name}"
        if isinstance(found, Tensor):
            raise AttributeError(f"{who} is a parameter: assigning to it would hide it behind an attribute "
                                 f"the model never reads. Change its values through .data "
                                 f"(model.{name}.data = array) or load_state_dict({{{found.name!r}: array}})")
        if found is not None:
            raise AttributeError(f"{who} is one of its layers and cannot be replaced; load new weights "
                                 f"into it with load_state_dict")
        super().__setattr__(name, value)

    def __dir__(self):
        names = set(super().__dir__())
        if "_parameters" in self.__dict__:
            names.update(name for name in self._names() + list(self._layers()) if name.isidentifier())
        return sorted(names)

    def _names(self):
        """The parameters' names, a cell's without its prefix."""
        prefix = self.__dict__.get("prefix", "")
        return [name[len(prefix):] if prefix and name.startswith(prefix) else name
                for name in self._parameters]

    def _unknown(self, name):
        """AttributeError's message: the closest names, and what the parameters are called."""
        message = f"{type(self).__name__} has no attribute {name!r}"
        if "_parameters" not in self.__dict__ or name.startswith("__"):
            return message
        names = self._names()
        known = [n for n in dir(self) if not n.startswith("_")] + [n for n in self._parameters if "." in n]
        close = difflib.get_close_matches(name, known, n=3)
        plain = [n for n in names if "." not in n]
        dotted = [n for n in names if "." in n]
        layers = list(dict.fromkeys(n.split(".")[0] + "." for n in dotted))
        return (message + (f" (did you mean {' or '.join(map(repr, close))}?)" if close else "")
                + f"; its parameters are {', '.join(plain)}"
                + (f", and the same under {', '.join(layers)} (as model.{dotted[0]})" if dotted else ""))
