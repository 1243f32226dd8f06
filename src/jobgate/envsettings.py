"""Settings read from the environment (and a ``.env`` file), without pydantic.

Why not pydantic-settings: the Lambda worker never touches pydantic otherwise, and importing it
with pydantic-settings was a quarter of the worker's cold start (~70 ms of ~400). The rules here
are the few the settings need: each option declares how its text is read, its default, its
bounds and its description; every wrong value is reported at once, by variable name.

Precedence, highest first: values passed to the constructor, the environment, the ``.env``
file, the option's default. Variable names are matched without regard to case.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from jobgate.errors import ConfigurationError

_REQUIRED: Any = object()  # the default of an option that has none
_TRUE = {"1", "true", "yes", "on", "t", "y"}
_FALSE = {"0", "false", "no", "off", "f", "n"}


class Secret:
    """A value kept out of reprs and logs; :meth:`get_secret_value` reads it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class SettingsInvalid(ConfigurationError):
    """One or more settings are missing or wrong; ``problems`` pairs each variable with why."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__(
            "settings are not valid: " + "; ".join(f"{name}: {why}" for name, why in problems)
        )


@dataclass(frozen=True)
class Option:
    """One setting: how a value is read (``read`` takes the environment's text or a Python
    value and returns the setting, or raises ``ValueError`` saying what is wrong)."""

    read: Callable[[object], Any]
    default: Any = _REQUIRED
    description: str = ""
    env: str | None = None  # the variable's whole name; else the class's prefix + NAME
    secret: bool = False

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default


def _bounded(value: float, ge: float | None, gt: float | None, le: float | None) -> float:
    if ge is not None and value < ge:
        raise ValueError(f"must be ≥ {ge:g}")
    if gt is not None and value <= gt:
        raise ValueError(f"must be > {gt:g}")
    if le is not None and value > le:
        raise ValueError(f"must be ≤ {le:g}")
    return value


def _optional(read: Callable[[object], Any]) -> Callable[[object], Any]:
    """``None`` (or an empty variable) means unset."""

    def reading(value: object) -> Any:
        return None if value is None or value == "" else read(value)

    return reading


def _option(read: Callable[[object], Any], default: Any, description: str, **kw: Any) -> Any:
    # typed Any so a class can annotate the option with the type of the value it becomes
    return Option(_optional(read) if default is None else read, default, description, **kw)


def text(default: Any = _REQUIRED, description: str = "", *, min_length: int = 0,
         env: str | None = None) -> Any:  # fmt: skip
    def read(value: object) -> str:
        if not isinstance(value, str):
            raise ValueError("must be text")
        if len(value) < min_length:
            raise ValueError("must not be empty" if min_length == 1 else
                             f"must be at least {min_length} characters")  # fmt: skip
        return value

    return _option(read, default, description, env=env)


def _from_text(value: object, convert: Callable[[str], object], wrong: str) -> object:
    """``value`` converted when it is the environment's text (``ValueError`` saying ``wrong``
    when it does not convert); a Python value as it is, for the caller to check."""
    if not isinstance(value, str):
        return value
    try:
        return convert(value.strip())
    except ValueError:
        raise ValueError(f"{wrong} (got {value!r})") from None


def integer(default: Any, description: str = "", *, ge: float | None = None,
            le: float | None = None) -> Any:  # fmt: skip
    def read(raw: object) -> int:
        value = _from_text(raw, int, "must be a whole number")
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"must be a whole number (got {value!r})")
        return int(_bounded(value, ge, None, le))

    return _option(read, default, description)


def number(default: Any, description: str = "", *, ge: float | None = None,
           gt: float | None = None, le: float | None = None) -> Any:  # fmt: skip
    def read(raw: object) -> float:
        value = _from_text(raw, float, "must be a number")
        if not isinstance(value, int | float) or isinstance(value, bool) or value != value:
            raise ValueError(f"must be a number (got {value!r})")
        return float(_bounded(float(value), ge, gt, le))

    return _option(read, default, description)


def flag(default: bool, description: str = "") -> Any:
    def read(value: object) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(f"must be true or false (got {value!r})")

    return _option(read, default, description)


def choice(default: str, choices: tuple[str, ...], description: str = "") -> Any:
    by_case = {c.lower(): c for c in choices}

    def read(value: object) -> str:
        if isinstance(value, str) and value.strip().lower() in by_case:
            return by_case[value.strip().lower()]
        raise ValueError(f"must be one of {', '.join(choices)} (got {value!r})")

    return _option(read, default, description)


def path(default: Any, description: str = "") -> Any:
    def read(value: object) -> Path:
        if isinstance(value, str | Path) and str(value):
            return Path(value)
        raise ValueError(f"must be a path (got {value!r})")

    return _option(read, default, description)


def secret(description: str = "") -> Any:
    """An optional secret; its value never appears in an error or a repr."""

    def read(value: object) -> Secret:
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            return Secret(value)
        raise ValueError("must be text")

    return _option(read, None, description, secret=True)


def texts(description: str = "") -> Any:
    """A list: comma-separated text, or a JSON list."""
    return _option(_listed(str), list, description)


def numbers(default: Callable[[], list[float]], description: str = "") -> Any:
    return _option(_listed(float), default, description)


def _listed(kind: type[str] | type[float]) -> Callable[[object], Any]:
    def read(value: object) -> list[Any]:
        items: object = value
        if isinstance(value, str):
            if value.lstrip().startswith("["):
                try:
                    items = json.loads(value)
                except ValueError:
                    raise ValueError(f"is not a JSON list (got {value!r})") from None
            else:
                items = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(items, list | tuple):
            raise ValueError(f"must be a list (got {value!r})")
        try:
            return [_item(kind, v) for v in items]
        except (TypeError, ValueError):
            raise ValueError(f"must be a list of {kind.__name__} (got {value!r})") from None

    return read


def _item(kind: type[str] | type[float], value: object) -> Any:
    if kind is float and isinstance(value, bool):  # float(True) would pass as 1.0
        raise ValueError(f"not a number: {value!r}")
    return kind(value)  # type: ignore[arg-type]


def read_env_file(env_file: str | Path | None) -> dict[str, str]:
    """The ``.env`` file's variables (names in upper case); nothing when there is no file.
    python-dotenv (quotes, ``export``, comments) is imported only when a file exists."""
    if env_file is None or not Path(env_file).is_file():
        return {}
    from dotenv import dotenv_values

    return {k.upper(): v for k, v in dotenv_values(env_file).items() if v is not None}


class EnvSettings:
    """Base of a frozen settings object: subclasses declare :class:`Option` attributes (made by
    :func:`text`, :func:`integer` …) annotated with the type of the value they become.

    ``Cls(**values)`` reads every option: the given value, else the variable
    (``PREFIX + NAME``, or the option's ``env``) from the environment, else from ``_env_file``,
    else the default. Raises :class:`SettingsInvalid` naming every wrong or missing variable,
    and ``TypeError`` for a value given for no option.
    """

    PREFIX: ClassVar[str] = ""
    _options: ClassVar[dict[str, Option]] = {}

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._options = {n: v for n, v in vars(cls).items() if isinstance(v, Option)}

    def __init__(
        self,
        _env_file: str | Path | None = ".env",
        _environ: Mapping[str, str] | None = None,
        **values: object,
    ) -> None:
        unknown = sorted(set(values) - set(self._options))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no setting {', '.join(unknown)}")
        environ = {k.upper(): v for k, v in (os.environ if _environ is None else _environ).items()}
        from_file = read_env_file(_env_file)
        problems: list[tuple[str, str]] = []
        for name, option in self._options.items():
            variable = self.variable(name)
            if name in values:
                raw = values[name]
            elif variable in environ:
                raw = environ[variable]
            elif variable in from_file:
                raw = from_file[variable]
            elif option.required:
                problems.append((variable, "is required"))
                continue
            else:
                object.__setattr__(self, name, option.default_value())
                continue
            try:
                object.__setattr__(self, name, option.read(raw))
            except ValueError as exc:
                why = "is not valid" if option.secret else str(exc)
                problems.append((variable, why))
        if problems:
            raise SettingsInvalid(problems)

    @classmethod
    def variable(cls, name: str) -> str:
        """The environment variable of setting ``name``."""
        return cls._options[name].env or f"{cls.PREFIX}{name.upper()}"

    @classmethod
    def options(cls) -> dict[str, Option]:
        """Every setting, in declaration order."""
        return dict(cls._options)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: build a new one")

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._options)
        return f"{type(self).__name__}({shown})"
