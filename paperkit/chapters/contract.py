"""The chapter contract: one parameter set for every notebook, profiles, and checked values.

Every chapter's parameters cell has the same names (``dataset``, ``data_dir``, ``profile``,
``models``, ``epochs``, ``seed``, ``device``, ``out_dir``) plus its own. A chapter declares a
:class:`ChapterSpec`; :meth:`ChapterSpec.resolve` checks the values at once (an unknown
value fails with the list of valid ones) and merges the profile's settings with overrides.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from paperkit import cost, step_cap
from paperkit.executions import PROFILE_PURPOSE, execution_table, format_seconds, record_execution
from paperkit.paths import cache_dir, resolve_data_dir
from paperkit.runtime import resolve_device

PROFILES = tuple(PROFILE_PURPOSE)  # ("smoke", "classroom", "paper")


@dataclass(frozen=True)
class ChapterSpec:
    """What a chapter accepts.

    ``profiles`` maps each of :data:`PROFILES` to its settings; each must contain ``models``
    (the default model list) and ``epochs``. No time is declared here: the chapter header shows the
    book's own record of each profile's last execution (:mod:`paperkit.executions`). ``data_folders``
    names the folder under ``$PAPERKIT_DATA`` of a dataset whose folder is not its own name; ``bundled`` lists datasets
    that ship inside an installed package (e.g. scikit-learn's digits) and, like ``synthetic``,
    need no ``data_dir``. ``dataset_settings[dataset][profile]`` replaces some of a profile's
    settings for one dataset (e.g. more epochs on a small real set); parameters still win.
    """

    name: str
    title: str
    datasets: Mapping[str, str]
    models: Sequence[str]
    profiles: Mapping[str, Mapping[str, Any]]
    data_folders: Mapping[str, str] = field(default_factory=dict)  # dataset -> folder under $PAPERKIT_DATA
    bundled: Sequence[str] = ()  # datasets that ship with an installed package: no data folder needed
    # dataset -> profile -> settings replacing the profile's for that dataset (real data often needs a
    # different budget than the synthetic default); the parameters cell still overrides them.
    dataset_settings: Mapping[str, Mapping[str, Mapping[str, Any]]] = field(default_factory=dict)

    def __post_init__(self):
        if "synthetic" not in self.datasets:
            raise ValueError(f"chapter {self.name!r}: every chapter offers dataset='synthetic'")
        missing = [p for p in PROFILES if p not in self.profiles]
        if missing:
            raise ValueError(f"chapter {self.name!r}: profiles {missing} are not defined")
        for prof, settings in self.profiles.items():
            for need in ("models", "epochs"):
                if need not in settings:
                    raise ValueError(f"chapter {self.name!r}, profile {prof!r}: setting {need!r} is missing")
            unknown = [m for m in settings["models"] if m not in self.models]
            if unknown:
                raise ValueError(f"chapter {self.name!r}, profile {prof!r}: models {unknown} "
                                 f"are not in {list(self.models)}")
        for data_name, by_profile in self.dataset_settings.items():
            bad = [data_name] if data_name not in self.datasets else [p for p in by_profile if p not in PROFILES]
            bad += [f"{p}.{k}" for p, settings in by_profile.items() if p in PROFILES
                    for k in settings if k not in self.profiles[p]]
            if bad:
                raise ValueError(f"chapter {self.name!r}: dataset_settings[{data_name!r}] names unknown "
                                 f"dataset, profile or setting {bad}")

    def resolve(self, *, dataset: str = "synthetic", data_dir: str | None = None, profile: str = "classroom",
                models: Sequence[str] | str | None = None, epochs: int | None = None, seed: int = 0,
                device: str = "auto", out_dir: str = "runs", max_steps: int | None = None,
                **overrides: Any) -> "Settings":
        """Check the parameters cell's values and return the chapter's settings.

        ``overrides`` are chapter-specific parameters; a value of ``None`` keeps the profile's.
        ``max_steps`` caps every training stage and evaluation at that many steps
        (:mod:`paperkit.step_cap`; ``start`` puts it in force): a run that only proves the profile runs.
        """
        _choose("dataset", dataset, list(self.datasets))
        _choose("profile", profile, list(PROFILES))
        values = {**self.profiles[profile], **self.dataset_settings.get(dataset, {}).get(profile, {})}
        model_list = _model_list(models, values["models"], self.models)
        if epochs is not None and (not isinstance(epochs, int) or isinstance(epochs, bool) or epochs < 1):
            raise ValueError(f"epochs={epochs!r}: expected a positive integer or None "
                             f"(the profile's {values['epochs']})")
        if not isinstance(seed, int) or isinstance(seed, bool):
            raise ValueError(f"seed={seed!r}: expected an integer")
        step_cap.check(max_steps)
        dev = resolve_device(device)
        if dataset == "synthetic" and data_dir:  # it would write generated files into that folder
            raise ValueError(f"dataset='synthetic' with data_dir={data_dir!r}: synthetic data is generated under "
                             "$PAPERKIT_CACHE; pass dataset=<a real dataset> to read data_dir, or drop data_dir")
        if dataset == "synthetic" or dataset in self.bundled:  # generated or packaged: no real folder needed
            data_path = Path(data_dir).expanduser() if data_dir else cache_dir("synthetic", self.name)
            data_path.mkdir(parents=True, exist_ok=True)
        else:
            data_path = resolve_data_dir(self.data_folders.get(dataset, dataset), data_dir)
        unknown = sorted(set(overrides) - set(values))
        if unknown:  # a typo would otherwise leave the profile's value in force without a word
            raise ValueError(f"{self.name}: unknown parameter(s) {unknown}; expected the common ones (dataset, "
                             f"data_dir, profile, models, epochs, seed, device, out_dir, max_steps) or this chapter's: "
                             f"{', '.join(sorted(k for k in values if k not in ('models', 'epochs')))}")
        for key, value in overrides.items():
            if value is not None:
                values[key] = value
        values.update(dataset=dataset, data_dir=data_path, profile=profile, models=model_list,
                      epochs=epochs if epochs is not None else values["epochs"], seed=seed, device=dev,
                      out_dir=Path(out_dir), max_steps=max_steps)
        return Settings(self, MappingProxyType(values))

    def header(self, out_dir: str | Path = "runs") -> str:
        """Markdown table of the profiles: what each is for and its last execution recorded under ``out_dir``."""
        return execution_table(out_dir, self.name)


def _choose(name: str, value: Any, choices: list[str]) -> None:
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(repr, choices))}")


def _model_list(models: Sequence[str] | str | None, default: Sequence[str], valid: Sequence[str]) -> list[str]:
    if models is None:
        return list(default)
    chosen = [m.strip() for m in models.split(",")] if isinstance(models, str) else list(models)
    unknown = [m for m in chosen if m not in valid]
    if unknown or not chosen:
        raise ValueError(f"models={models!r}: unknown {unknown or 'empty list'}; "
                         f"this chapter's models are: {', '.join(valid)}")
    return chosen


@dataclass(frozen=True)
class Settings:
    """The checked, merged settings of one chapter run; read them as attributes."""

    spec: ChapterSpec
    values: Mapping[str, Any]

    def __getattr__(self, name: str) -> Any:
        values = object.__getattribute__(self, "values")
        if name in values:
            return values[name]
        raise AttributeError(f"chapter setting {name!r} does not exist; settings: {', '.join(values)}")

    @property
    def data_label(self) -> str:
        """What this run ran on, for table captions and the claims ledger."""
        what = self.spec.datasets[self.dataset]
        capped = f", step-capped at {self.max_steps} steps (not results)" if self.max_steps else ""
        return f"{what} — {self.profile} profile, seed {self.seed}{capped}"

    def changed_from_profile(self) -> dict[str, Any]:
        """The profile's settings this run was given other values of (papermill ``-p``), e.g. a lowered batch."""
        base = {**self.spec.profiles[self.profile], **self.spec.dataset_settings.get(self.dataset, {}).get(
            self.profile, {})}
        return {k: v for k, v in self.values.items() if k in base and base[k] != v}

    def as_config(self, **extra: Any) -> dict:
        """A JSON-able configuration for :func:`paperkit.runs.start_run` (paths and device as strings)."""
        cfg = {k: (str(v) if isinstance(v, Path) else v) for k, v in self.values.items()
               if k not in ("out_dir", "device", "data_dir", "max_steps")}  # start_run adds a cap in force
        cfg["data_dir"] = None if self.dataset == "synthetic" else str(self.data_dir)
        cfg["device_type"] = self.device.type
        cfg.update(extra)
        return cfg


class Stopwatch:
    """Wall time of a chapter run, printed at its end."""

    def __init__(self):
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def __str__(self) -> str:
        return format_seconds(self.seconds)


def start(name: str, **parameters: Any) -> tuple[Any, Settings, Stopwatch]:
    """Begin a chapter run: set up plotly, check the parameters, start a stopwatch.

    ``parameters`` are the parameters cell's values. Returns ``(chapter module, settings,
    stopwatch)``, prints the settings the run will use and shows each profile's last recorded
    execution time under ``out_dir`` (:mod:`paperkit.executions`).
    """
    from paperkit import chapters, plots

    module = chapters.get(name)
    refuse_undeclared_parameters(parameter_cell_names(_notebook_history()), parameters)
    plots.setup()
    clock = Stopwatch()
    settings = module.SPEC.resolve(**parameters)
    step_cap.set_cap(settings.max_steps)
    cost.drain()  # stages of an earlier run in this kernel are not this run's
    shown = ["profile", "dataset", "models", "epochs", *[k for k in settings.values if k not in (
        "profile", "dataset", "models", "epochs", "device", "seed", "data_dir", "out_dir", "max_steps")],
        "device", "seed"]
    print("  ".join(f"{k}={getattr(settings, k)}" for k in shown))
    if settings.max_steps:
        _show_markdown(f"**Step-capped run.** {step_cap.describe()}")
    _show_markdown("**Time per profile** (the book's own record of its last executions):\n\n"
                   + module.SPEC.header(settings.out_dir))
    return module, settings, clock


def _notebook_history() -> list[str] | None:
    """The sources of the cells the IPython kernel ran so far (``In``), or None outside a kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return list(shell.user_ns.get("In", [])) if shell is not None else None


def parameter_cell_names(history: Sequence[str] | None) -> set[str]:
    """Names set by the cells that only assign literals: the parameters cell and papermill's injected one."""
    import ast

    names: set[str] = set()
    for source in history or []:
        try:
            body = ast.parse(source).body
        except SyntaxError:  # IPython magics and the like are not parameter cells
            continue
        if body and all(isinstance(node, ast.Assign) and _is_literal(node.value) for node in body):
            names |= {t.id for node in body for t in node.targets if isinstance(t, ast.Name)}
    return names


def _is_literal(node) -> bool:
    import ast

    try:
        ast.literal_eval(node)
    except ValueError:
        return False
    return True


def refuse_undeclared_parameters(assigned: set[str] | None, declared: Mapping[str, Any]) -> None:
    """Stop when a parameter cell set a name that no declared parameter took, e.g. papermill's ``-p datset adni``.

    papermill only warns about a parameter the notebook does not declare and injects it anyway,
    so a typo would run on the defaults and exit 0. ``assigned`` are the names the notebook's
    parameter cells set (:func:`parameter_cell_names`); ``declared`` the parameters passed on.
    """
    import difflib

    stray = sorted(set(assigned or ()) - set(declared))
    if stray:
        hints = [f"{k!r}" + (f" (did you mean {m[0]!r}?)" if (m := difflib.get_close_matches(k, declared, 1)) else "")
                 for k in stray]
        raise ValueError(f"parameter(s) {', '.join(hints)} are not declared by this chapter; its parameters are: "
                         f"{', '.join(declared)}")


def finish(settings: Settings, clock: Stopwatch) -> str:
    """End a chapter run: record its wall time for the next header and return a sentence saying it.

    A step-capped run (``max_steps``) is not recorded: its time is not the profile's. It saves instead
    what each of its training stages measured (:mod:`paperkit.cost`: FLOPs per step, steps of the
    full run, peak memory) to ``out_dir/<chapter>/cost.json``. The cap is lifted.
    """
    step_cap.set_cap(None)
    stages = cost.drain()
    if settings.max_steps:
        cost.save(settings.out_dir, settings.spec.name, stages, profile=settings.profile, dataset=settings.dataset,
                  data=settings.data_label, device=settings.device.type, changed=settings.changed_from_profile())
        return (f"This step-capped execution ({settings.profile} profile, {settings.dataset}, max_steps="
                f"{settings.max_steps}) took {clock}; it is not recorded as the profile's time.")
    record_execution(settings.out_dir, settings.spec.name, profile=settings.profile, dataset=settings.dataset,
                     seconds=clock.seconds)
    return f"This execution ({settings.profile} profile, {settings.dataset}) took {clock}."


def _show_markdown(text: str) -> None:
    """Markdown on a notebook page, plain text elsewhere."""
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # the library without the book extra
        print(text)
        return
    if get_ipython() is None:
        print(text)
    else:
        display(Markdown(text))
