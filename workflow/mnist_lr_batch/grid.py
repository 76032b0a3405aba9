"""The experiment grid: which training runs a config asks for, and where each one lives.

A run (a `Cell`) is identified by its own parameters, never by the experiment
that asked for it, so a cell requested by two experiments is trained once. Every
parameter that changes a run's result is part of its path, which keeps
Snakemake's caching exact. Standard library only: the Snakefile imports this.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Iterable, Mapping

NETWORKS = ("custom", "sklearn", "keras")
ACTIVATIONS = ("sigmoid", "tanh", "relu")
PROTOCOLS = ("paper", "heldout")

# Training images each network uses under the paper's protocol: Nielsen's
# network.py trains on the first 50,000 (it keeps 10,000 aside), the library
# examples on all 60,000. The held-out protocol trains every network on the
# first 50,000 and validates on the last 10,000.
MNIST_TRAIN_SIZE = 60_000
MNIST_TEST_SIZE = 10_000
HELDOUT_SIZE = 10_000
HELDOUT_POOL = MNIST_TRAIN_SIZE - HELDOUT_SIZE  # what the held-out protocol may train on
PAPER_TRAIN_SIZE = {"custom": 50_000, "sklearn": 60_000, "keras": 60_000}

# Per-network variant options and their paper-faithful defaults (first choice,
# or the default value for numeric options). A variant names only the options
# that differ from the paper, so the paper's runs live under "paper".
VARIANT_CHOICES: dict[str, dict[str, tuple]] = {
    "custom": {
        "output": ("hidden", "sigmoid", "softmax"),  # hidden = the hidden activation, as network.py
        "init": ("normal", "glorot", "he", "matched"),
        "cost": ("quadratic", "crossentropy"),
    },
    "sklearn": {
        "init": ("default", "matched"),
        # How each epoch is run (forensics, issue 18): partial_fit with a RandomState (a fresh shuffle
        # every epoch); partial_fit with an integer random_state, as the library's example passes it (the
        # library reseeds on every call, so epochs 2.. repeat one order); fit(warm_start=True,
        # max_iter=1) with an integer random_state, the common recipe (the order repeats and the Nesterov
        # momentum restarts from zero every epoch).
        "recipe": ("partialfit", "partialfit-intseed", "warmstart-intseed"),
        "dtype": ("float32", "float64"),  # float64: the example's X / 255. (the library's own loop)
    },
    "keras": {
        "init": ("default", "matched"),
        # The TensorFlow quickstart's details (forensics): a linear output with from_logits=True; and
        # model.fit without batch_size, i.e. Keras' default of 32 whatever the cell's batch size.
        "output": ("softmax", "logits"),
        "fitbatch": ("cell", "default"),
    },
}
VARIANT_NUMBERS: dict[str, dict[str, float]] = {
    "custom": {},
    "sklearn": {"momentum": 0.9, "alpha": 1e-4},
    "keras": {"dropout": 0.0},  # the quickstart has Dropout(0.2) after the hidden layer
}
# The range each numeric option may take (the libraries' own limits).
VARIANT_RANGES: dict[str, tuple[float, float]] = {
    "momentum": (0.0, 1.0), "alpha": (0.0, math.inf), "dropout": (0.0, 0.95),
}
PAPER_VARIANT = "paper"

RUN_STEM = (
    "{network}/{variant}/{protocol}_{data}/h{hidden_units}_ep{epochs}/"
    "{activation}/lr{learning_rate}_bs{batch_size}_seed{seed}"
)
RUN_PATTERN = "results/runs/" + RUN_STEM + ".json"
LOG_PATTERN = "logs/train/" + RUN_STEM + ".log"
BENCHMARK_PATTERN = "results/benchmarks/" + RUN_STEM + ".tsv"

_NUMBER = r"[0-9][0-9.e+-]*"
WILDCARD_CONSTRAINTS = {
    "network": "|".join(NETWORKS),
    "variant": rf"{PAPER_VARIANT}|[a-z]+-[a-z0-9.e+-]+(?:_[a-z]+-[a-z0-9.e+-]+)*",
    "protocol": "|".join(PROTOCOLS),
    "data": r"full|n(?:\d+|all)-(?:\d+|all)",
    "hidden_units": r"\d+",
    "epochs": r"\d+",
    "activation": "|".join(ACTIVATIONS),
    "learning_rate": _NUMBER,
    "batch_size": r"\d+",
    "seed": r"\d+",
}


class GridError(ValueError):
    """A config the schema cannot catch (cross-field rules); the message names the key."""


@dataclasses.dataclass(frozen=True, order=True)
class Cell:
    """One training run, fully identified by the parameters that change its result."""

    network: str
    activation: str
    learning_rate: float
    batch_size: int
    seed: int
    epochs: int
    hidden_units: int
    protocol: str = "paper"
    train_size: int | None = None  # None: the protocol's full training set
    test_size: int | None = None  # None: all 10,000 test (and held-out) images
    variant: str = PAPER_VARIANT

    @property
    def data_tag(self) -> str:
        if self.train_size is None and self.test_size is None:
            return "full"
        return f"n{self.train_size or 'all'}-{self.test_size or 'all'}"

    @property
    def wildcards(self) -> dict[str, str]:
        return {
            "network": self.network,
            "variant": self.variant,
            "protocol": self.protocol,
            "data": self.data_tag,
            "hidden_units": str(self.hidden_units),
            "epochs": str(self.epochs),
            "activation": self.activation,
            "learning_rate": format_number(self.learning_rate),
            "batch_size": str(self.batch_size),
            "seed": str(self.seed),
        }

    @property
    def path(self) -> str:
        return RUN_PATTERN.format(**self.wildcards)

    @property
    def options(self) -> dict[str, Any]:
        """The network's full option set: paper defaults overlaid with this variant."""
        return variant_options(self.network, self.variant)

    @classmethod
    def from_path(cls, path: str | os.PathLike) -> "Cell":
        """The cell a run file's path names (the inverse of `Cell.path`)."""
        match = RUN_PATH_REGEX.search(Path(path).as_posix())
        if not match:
            raise GridError(f"{path} is not a run path like {RUN_PATTERN}")
        return cls.from_wildcards(match.groupdict())

    @classmethod
    def from_wildcards(cls, wildcards: Mapping[str, str]) -> "Cell":
        train, test = parse_data_tag(wildcards["data"])
        cell = cls(
            network=wildcards["network"],
            activation=wildcards["activation"],
            learning_rate=float(wildcards["learning_rate"]),
            batch_size=int(wildcards["batch_size"]),
            seed=int(wildcards["seed"]),
            epochs=int(wildcards["epochs"]),
            hidden_units=int(wildcards["hidden_units"]),
            protocol=wildcards["protocol"],
            train_size=train,
            test_size=test,
            variant=wildcards["variant"],
        )
        canonical = cell.wildcards
        if any(canonical[key] != str(wildcards[key]) for key in canonical):
            raise GridError(f"non-canonical run name {dict(wildcards)}; expected {canonical}")
        return cell


def _run_path_regex() -> re.Pattern:
    """RUN_STEM as a regex with one named group per wildcard, anchored at runs/."""
    pattern = re.escape("runs/" + RUN_STEM + ".json")
    for name, constraint in WILDCARD_CONSTRAINTS.items():
        pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{constraint})", 1)
    return re.compile(r"(?:^|/)" + pattern + "$")


RUN_PATH_REGEX = _run_path_regex()


def relative_cost(epochs: int, train_size: int | None, batch_size: int) -> int:
    """Mini-batch steps in a whole run: what its run time is roughly proportional to."""
    return epochs * -(-(train_size or MNIST_TRAIN_SIZE) // batch_size)


def format_number(value: float) -> str:
    """A float's shortest round-tripping text, so 1, 1.0 and 1.00 name the same run."""
    return repr(float(value))


def parse_data_tag(tag: str) -> tuple[int | None, int | None]:
    if tag == "full":
        return None, None
    match = re.fullmatch(r"n(\d+|all)-(\d+|all)", tag)
    if not match:
        raise GridError(f"bad data tag {tag!r}: expected 'full' or 'n<train>-<test>'")
    return tuple(None if part == "all" else int(part) for part in match.groups())


def variant_tag(network: str, options: Mapping[str, Any], key: str | None = None) -> str:
    """The canonical name of a network variant: its non-paper options in a fixed order.

    `key` is where the options sit in the config, for error messages.
    """
    key = key or f"variants.{network}"
    if not isinstance(options, Mapping):
        raise GridError(f"{key}: expected a mapping of options such as {{init: matched}}, got {options!r}")
    choices, numbers = VARIANT_CHOICES[network], VARIANT_NUMBERS[network]
    unknown = sorted(map(str, set(options) - set(choices) - set(numbers)))
    if unknown:
        allowed = ", ".join([*choices, *numbers]) or "none"
        raise GridError(f"{key}: unknown option(s) {', '.join(unknown)}; allowed: {allowed}")
    parts = []
    for name, allowed in choices.items():
        value = options.get(name, allowed[0])
        if value not in allowed:
            raise GridError(f"{key}.{name}: {value!r} is not one of {', '.join(allowed)}")
        if value != allowed[0]:
            parts.append(f"{name}-{value}")
    for name, default in numbers.items():
        value = options.get(name, default)
        check_number(f"{key}.{name}", value, *VARIANT_RANGES[name])
        if value != default:
            parts.append(f"{name}-{format_number(value)}")
    return "_".join(parts) or PAPER_VARIANT


def check_number(key: str, value: Any, low: float, high: float) -> None:
    """A real number (not a bool, not text) from `low` to `high`; NaN fails every comparison."""
    allowed = f"at least {low:g}" if high == math.inf else f"from {low:g} to {high:g}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise GridError(f"{key}: {value!r} is not a number; allowed: a number {allowed}")
    if not low <= value <= high or not math.isfinite(value):
        raise GridError(f"{key}: {value!r} is out of range; allowed: a finite number {allowed}")


def variant_options(network: str, tag: str) -> dict[str, Any]:
    """Inverse of `variant_tag`: every option of the network, with the tag's overrides."""
    options: dict[str, Any] = {key: allowed[0] for key, allowed in VARIANT_CHOICES[network].items()}
    options.update(VARIANT_NUMBERS[network])
    if tag != PAPER_VARIANT:
        for part in tag.split("_"):
            key, _, value = part.partition("-")
            options[key] = float(value) if key in VARIANT_NUMBERS[network] else value
    if variant_tag(network, options) != tag:
        raise GridError(f"{network}: {tag!r} is not a canonical variant name")
    return options


def check_cell(cell: Cell) -> None:
    """Cross-field rules a JSON schema cannot express."""
    if cell.protocol == "heldout" and (cell.train_size or 0) > HELDOUT_POOL:
        raise GridError(
            f"subset.train: {cell.train_size} is more than the held-out protocol can train on: it trains on "
            f"the first {HELDOUT_POOL} images and holds out the last {HELDOUT_SIZE}; allowed: 1-{HELDOUT_POOL}"
        )
    options = cell.options
    if cell.network == "custom" and options["cost"] == "crossentropy":
        output = cell.activation if options["output"] == "hidden" else options["output"]
        if output not in ("sigmoid", "softmax"):
            raise GridError(
                f"variants.custom: cost 'crossentropy' needs outputs in (0, 1): set output to sigmoid or "
                f"softmax (the output layer would be {output})"
            )


def non_finite_numbers(value: Any, key: str = "") -> Iterable[tuple[str, float]]:
    """(key, value) for every NaN or infinity anywhere in a config, keys written as `a.b[0]`."""
    if isinstance(value, float) and not math.isfinite(value):
        yield key, value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from non_finite_numbers(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from non_finite_numbers(item, f"{key}[{index}]")


def check_config(config: Mapping[str, Any]) -> None:
    """What the schema cannot express (it has run first); each error names the key and what is allowed."""
    non_finite = next(iter(non_finite_numbers(config)), None)
    if non_finite:
        key, value = non_finite
        raise GridError(f"{key}: {value!r} is not a finite number; NaN and infinity are not allowed")
    seen: dict[str, str] = {}
    for name in config["experiments"]:
        other = seen.setdefault(str(name).casefold(), name)
        if other != name:
            raise GridError(
                f"experiments: {other!r} and {name!r} differ only in case, so on a case-insensitive file "
                f"system (macOS, Windows) their figures would overwrite each other; rename one"
            )
    for name, experiment in config["experiments"].items():
        networks = experiment.get("networks", config["networks"])
        for network, variants in experiment.get("variants", {}).items():
            key = f"experiments.{name}.variants.{network}"
            if network not in networks:
                raise GridError(
                    f"{key}: {network} is not among this experiment's networks ({', '.join(networks)}), "
                    f"so these variants would never run; add it to experiments.{name}.networks or remove them"
                )
            first_index: dict[str, int] = {}
            for index, options in enumerate(variants):
                tag = variant_tag(network, options, key=f"{key}[{index}]")
                if tag in first_index:
                    raise GridError(
                        f"{key}[{index}]: the same variant ({tag}) as {key}[{first_index[tag]}]; "
                        f"each of its runs would be counted twice"
                    )
                first_index[tag] = index


def experiment_cells(config: Mapping[str, Any]) -> list[tuple[str, Cell]]:
    """Every (experiment, cell) pair the config asks for, in config order."""
    check_config(config)
    pairs = []
    subset = config.get("subset") or {}
    for name, experiment in config["experiments"].items():
        for network in experiment.get("networks", config["networks"]):
            variants = experiment.get("variants", {}).get(network, [{}])
            for options, activation, learning_rate, batch_size, seed in itertools.product(
                variants,
                experiment.get("activations", config["activations"]),
                experiment["learning_rates"],
                experiment["batch_sizes"],
                experiment.get("seeds", config["seeds"]),
            ):
                cell = Cell(
                    network=network,
                    activation=activation,
                    learning_rate=float(learning_rate),
                    batch_size=int(batch_size),
                    seed=int(seed),
                    epochs=int(experiment.get("epochs", config["epochs"])),
                    hidden_units=int(config["hidden_units"]),
                    protocol=experiment.get("protocol", "paper"),
                    train_size=subset.get("train"),
                    test_size=subset.get("test"),
                    variant=variant_tag(network, options),
                )
                try:
                    check_cell(cell)
                except GridError as error:
                    raise GridError(f"experiments.{name}: {error}") from None
                pairs.append((name, cell))
    return pairs


def x_axis(experiment: Mapping[str, Any]) -> str:
    """The parameter an experiment sweeps, for its figures."""
    if "x_axis" in experiment:
        return experiment["x_axis"]
    single_rate = len(experiment["learning_rates"]) == 1
    return "batch_size" if single_rate and len(experiment["batch_sizes"]) > 1 else "learning_rate"


def forensic_experiments(config: Mapping[str, Any]) -> dict[str, str]:
    """Each forensic experiment (`question: forensics`) and the axis it sweeps, in the config's order."""
    return {name: x_axis(experiment) for name, experiment in config["experiments"].items()
            if experiment.get("question") == "forensics"}


def describe(config: Mapping[str, Any], name: str) -> str:
    """The exact settings of one experiment, in words, for figure and table captions."""
    experiment = config["experiments"][name]
    subset = config.get("subset") or {}
    data = (
        "full MNIST (custom network: first 50,000 training images; scikit-learn and Keras: all 60,000; "
        "10,000 test images)"
        if not subset
        else f"the first {subset.get('train', 'all')} training and {subset.get('test', 'all')} test images"
    )
    protocol = experiment.get("protocol", "paper")
    protocol_text = (
        "best epoch chosen on the test set, as in the paper"
        if protocol == "paper"
        else "best epoch chosen on the last 10,000 training images (held out); test accuracy at that epoch"
    )
    return (
        f"networks {', '.join(experiment.get('networks', config['networks']))}; "
        f"784-{config['hidden_units']}-10; activations {', '.join(experiment.get('activations', config['activations']))}; "
        f"learning rates {', '.join(map(str, experiment['learning_rates']))}; "
        f"batch sizes {', '.join(map(str, experiment['batch_sizes']))}; "
        f"{experiment.get('epochs', config['epochs'])} epochs; seeds {', '.join(map(str, experiment.get('seeds', config['seeds'])))}; "
        f"data: {data}; protocol {protocol} ({protocol_text})"
    )


def unique_cells(pairs: Iterable[tuple[str, Cell]]) -> list[Cell]:
    """Each cell once, in first-requested order."""
    return list(dict.fromkeys(cell for _, cell in pairs))


def run_index(pairs: Iterable[tuple[str, Cell]]) -> dict[str, list[str]]:
    """Experiment -> its run files (a cell may serve several experiments), for the aggregate step."""
    index: dict[str, list[str]] = {}
    for experiment, cell in pairs:
        index.setdefault(experiment, []).append(cell.path)
    return index


def write_run_index(index: Mapping[str, list[str]], path: str | os.PathLike, log: str | os.PathLike) -> None:
    """Write the run index as JSON, atomically: it grows with the grid, so it goes in a file, never on a command line."""
    from mnist_lr_batch.atomic import atomic_open

    with atomic_open(path, "w") as handle:
        json.dump(index, handle, indent=0)
    counts = ", ".join(f"{experiment}: {len(paths)}" for experiment, paths in index.items())
    Path(log).write_text(f"run files per experiment: {counts}\n")


def mirror_list(config: Mapping[str, Any]) -> list[str]:
    """Configured mirrors, with `mnist_mirror` (from --config) tried first."""
    mirrors = list(config["mnist"]["mirrors"])
    if config.get("mnist_mirror"):
        mirrors.insert(0, str(config["mnist_mirror"]))
    return mirrors
