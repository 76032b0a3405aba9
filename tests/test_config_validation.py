"""Bad configs are rejected before any job, with a message that names the key.

Each case changes one thing in config/quick.yaml. Every case goes through the
validation the workflow runs when it starts (common.smk: the schema, then
grid.experiment_cells); the cases marked `DRY_RUN` also go through the real
`snakemake --dry-run`, which must stop before scheduling a single job.
"""

from __future__ import annotations

import copy
import math

import pytest
import snakemake.utils
import yaml
from conftest import REPO, run_snakemake
from snakemake.exceptions import WorkflowError

from mnist_lr_batch import grid

SCHEMA = REPO / "config" / "schema.yaml"
QUICK = yaml.safe_load((REPO / "config" / "quick.yaml").read_text())
EXPERIMENT = "learning_rate"  # one of quick.yaml's two experiments; the cases change it


def validate(config: dict) -> None:
    """What common.smk does with the config before building any job."""
    snakemake.utils.validate(config, str(SCHEMA))
    grid.experiment_cells(config)


def experiment(config: dict) -> dict:
    return config["experiments"][EXPERIMENT]


def setting(path: str, value):
    """A change that sets one key, given as `a.b.c` (under experiments.learning_rate when it starts with `@`)."""
    def change(config):
        keys = path.lstrip("@").split(".")
        target = experiment(config) if path.startswith("@") else config
        for key in keys[:-1]:
            target = target.setdefault(key, {})
        target[keys[-1]] = value
    return change


def renamed(*names):
    """A change that replaces the experiments by ones with these names."""
    def change(config):
        config["experiments"] = {name: {"learning_rates": [0.1], "batch_sizes": [10]} for name in names}
    return change


def with_variants(network, *variants, networks=None):
    def change(config):
        experiment(config)["networks"] = networks or [network]
        experiment(config)["variants"] = {network: list(variants)}
    return change


def deleting(key):
    def change(config):
        del experiment(config)[key]
    return change


def heldout_with_train(size):
    def change(config):
        experiment(config)["protocol"] = "heldout"
        config["subset"] = {"train": size, "test": 500}
    return change


E = f"instance['experiments']['{EXPERIMENT}']"  # where the schema's messages point
DRY_RUN = "dry-run"  # also through the real snakemake command

# (id, change to quick.yaml, texts the error must contain (the first names the key), through snakemake too?)
BAD_CONFIGS = [
    # Non-finite numbers, anywhere (no JSON Schema bound rejects NaN)
    ("nan-learning-rate", setting("@learning_rates", [math.nan]),
     [f"experiments.{EXPERIMENT}.learning_rates[0]", "nan is not a finite number"], DRY_RUN),
    ("inf-learning-rate", setting("@learning_rates", [0.1, math.inf]),
     [f"experiments.{EXPERIMENT}.learning_rates[1]", "inf is not a finite number"], DRY_RUN),
    ("minus-inf-learning-rate", setting("@learning_rates", [-math.inf]), [f"{E}['learning_rates'][0]"], None),
    ("nan-timeout", setting("mnist.timeout_seconds", math.nan), ["mnist.timeout_seconds", "nan"], None),
    ("inf-timeout", setting("mnist.timeout_seconds", math.inf), ["mnist.timeout_seconds", "inf"], None),
    ("nan-alpha", with_variants("sklearn", {"alpha": math.nan}),
     [f"experiments.{EXPERIMENT}.variants.sklearn[0].alpha", "nan"], DRY_RUN),
    ("inf-momentum", with_variants("sklearn", {"momentum": math.inf}), [f"{E}['variants']['sklearn'][0]['momentum']"],
     None),
    # Data sizes: MNIST's, and the held-out protocol's pool
    ("subset-beyond-mnist-train", setting("subset", {"train": 70000}),
     ["instance['subset']['train']", "70000 is greater than the maximum of 60000"], DRY_RUN),
    ("subset-beyond-mnist-test", setting("subset", {"test": 10001}), ["instance['subset']['test']", "10001"], None),
    ("subset-zero", setting("subset", {"train": 0}), ["instance['subset']['train']"], None),
    ("heldout-subset-beyond-pool", heldout_with_train(50001),
     [f"experiments.{EXPERIMENT}: subset.train: 50001", "allowed: 1-50000"], DRY_RUN),
    # Types and ranges of the grid's values
    ("negative-seed", setting("seeds", [-1]), ["instance['seeds'][0]"], None),
    ("seed-beyond-32-bits", setting("seeds", [2**32]), ["instance['seeds'][0]", "4294967296"], None),
    ("seed-as-text", setting("@seeds", ["0"]), [f"{E}['seeds'][0]"], None),
    ("zero-epochs", setting("epochs", 0), ["instance['epochs']"], DRY_RUN),
    ("fractional-epochs", setting("epochs", 1.5), ["instance['epochs']", "1.5 is not of type 'integer'"], None),
    ("boolean-epochs", setting("@epochs", True), [f"{E}['epochs']", "True is not of type 'integer'"], None),
    ("zero-hidden-units", setting("hidden_units", 0), ["instance['hidden_units']"], None),
    ("zero-batch-size", setting("@batch_sizes", [0]), [f"{E}['batch_sizes'][0]"], None),
    ("no-batch-sizes", setting("@batch_sizes", []), [f"{E}['batch_sizes']"], None),
    ("negative-learning-rate", setting("@learning_rates", [-0.1]), [f"{E}['learning_rates'][0]"], None),
    ("learning-rate-as-text", setting("@learning_rates", ["0.1"]), [f"{E}['learning_rates'][0]"], None),
    ("repeated-learning-rate", setting("@learning_rates", [0.1, 0.10]), [f"{E}['learning_rates']"], None),
    ("unknown-network", setting("networks", ["custom", "pytorch"]), ["instance['networks'][1]", "'pytorch'"], None),
    ("no-activations", setting("activations", []), ["instance['activations']"], None),
    ("unknown-activation", setting("@activations", ["softplus"]), [f"{E}['activations'][0]", "'softplus'"], None),
    ("unknown-protocol", setting("@protocol", "test"), [f"{E}['protocol']", "'test'"], None),
    ("unknown-x-axis", setting("@x_axis", "epochs"), [f"{E}['x_axis']", "'epochs'"], None),
    ("unknown-question", setting("@question", "speed"), [f"{E}['question']", "'speed'"], None),
    ("negative-retries", setting("mnist.retries", -1), ["instance['mnist']['retries']"], None),
    ("no-mirrors", setting("mnist.mirrors", []), ["instance['mnist']['mirrors']"], None),
    ("mirror-not-text", setting("mnist_mirror", 5), ["instance['mnist_mirror']"], None),
    ("no-experiments", setting("experiments", {}), ["instance['experiments']"], None),
    ("missing-learning-rates", deleting("learning_rates"), ["'learning_rates' is a required property"], None),
    # Experiment names become file names and command-line arguments
    ("name-with-slash", renamed("a/b"), ["instance['experiments']", "'a/b' does not match"], DRY_RUN),
    ("name-climbing-up", renamed(".."), ["instance['experiments']", "'..' does not match"], None),
    ("name-like-an-option", renamed("-x"), ["instance['experiments']", "'-x' does not match"], None),
    ("name-with-space", renamed("my sweep"), ["instance['experiments']", "'my sweep' does not match"], None),
    ("name-too-long", renamed("x" * 65), ["instance['experiments']", "does not match"], None),
    ("names-differing-in-case", renamed("Sweep", "sweep"),
     ["experiments: 'Sweep' and 'sweep' differ only in case"], DRY_RUN),
    # Misspelt keys, at every depth
    ("typo-top-level", setting("epoch", 5), ["'epoch' was unexpected"], DRY_RUN),
    ("typo-in-mnist", setting("mnist.timeout", 5), ["instance['mnist']", "'timeout' was unexpected"], None),
    ("typo-in-subset", setting("subset", {"trian": 100}), ["instance['subset']", "'trian' was unexpected"], None),
    ("typo-in-experiment", setting("@learning_rate", [0.1]), [E, "'learning_rate' was unexpected"], None),
    ("typo-in-variants", setting("@variants", {"cusotm": [{}]}), [f"{E}['variants']", "'cusotm' was unexpected"],
     None),
    ("typo-in-variant-option", with_variants("custom", {"intt": "he"}),
     [f"{E}['variants']['custom'][0]", "'intt' was unexpected"], DRY_RUN),
    # Every variant option's type and range
    ("unknown-init", with_variants("custom", {"init": "zeros"}), [f"{E}['variants']['custom'][0]['init']", "'zeros'"],
     None),
    ("unknown-output", with_variants("custom", {"output": "linear"}), [f"{E}['variants']['custom'][0]['output']"], None),
    ("unknown-cost", with_variants("custom", {"cost": "hinge"}), [f"{E}['variants']['custom'][0]['cost']"], None),
    ("keras-unknown-init", with_variants("keras", {"init": "he"}), [f"{E}['variants']['keras'][0]['init']"], None),
    ("keras-momentum", with_variants("keras", {"momentum": 0.5}), [f"{E}['variants']['keras'][0]", "'momentum'"], None),
    ("momentum-above-one", with_variants("sklearn", {"momentum": 1.5}),
     [f"{E}['variants']['sklearn'][0]['momentum']", "1.5 is greater than the maximum of 1"], None),
    ("momentum-as-text", with_variants("sklearn", {"momentum": "0.5"}),
     [f"{E}['variants']['sklearn'][0]['momentum']", "'0.5' is not of type 'number'"], DRY_RUN),
    ("negative-alpha", with_variants("sklearn", {"alpha": -1e-4}), [f"{E}['variants']['sklearn'][0]['alpha']"], None),
    ("variant-not-a-mapping", with_variants("custom", "glorot"), [f"{E}['variants']['custom'][0]"], None),
    ("no-variants", with_variants("custom"), [f"{E}['variants']['custom']"], None),
    # Variants that would silently do nothing, or count runs twice
    ("variants-for-an-absent-network", with_variants("keras", {"init": "matched"}, networks=["custom"]),
     [f"experiments.{EXPERIMENT}.variants.keras: keras is not among this experiment's networks"], DRY_RUN),
    ("repeated-variant", with_variants("custom", {}, {"output": "hidden"}),
     [f"experiments.{EXPERIMENT}.variants.custom[1]: the same variant (paper) as "
      f"experiments.{EXPERIMENT}.variants.custom[0]"], None),
    ("crossentropy-with-relu-outputs", with_variants("custom", {"cost": "crossentropy"}),
     [f"experiments.{EXPERIMENT}: variants.custom: cost 'crossentropy' needs outputs in (0, 1)"], None),
]


def bad_config(change) -> dict:
    config = copy.deepcopy(QUICK)
    change(config)
    return config


def test_enough_distinct_bad_configs():
    assert len(BAD_CONFIGS) >= 25
    assert len({case[0] for case in BAD_CONFIGS}) == len(BAD_CONFIGS)
    configs = [yaml.safe_dump(bad_config(change), sort_keys=True) for _, change, _, _ in BAD_CONFIGS]
    assert len(set(configs)) == len(configs)
    assert sum(case[3] == DRY_RUN for case in BAD_CONFIGS) >= 10


@pytest.mark.parametrize("change, expected", [case[1:3] for case in BAD_CONFIGS],
                         ids=[case[0] for case in BAD_CONFIGS])
def test_bad_config_is_rejected_naming_the_key(change, expected):
    with pytest.raises((WorkflowError, grid.GridError)) as error:
        validate(bad_config(change))
    for text in expected:
        assert text in str(error.value)


@pytest.mark.workflow
@pytest.mark.parametrize("change, expected", [case[1:3] for case in BAD_CONFIGS if case[3] == DRY_RUN],
                         ids=[case[0] for case in BAD_CONFIGS if case[3] == DRY_RUN])
def test_bad_config_stops_snakemake_before_any_job(tmp_path, change, expected):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(bad_config(change)))
    result = run_snakemake(tmp_path, "--dry-run", "--configfile", str(path), check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for text in expected:
        assert text in output
    assert "Job stats" not in output and "rule " not in output  # not one job was scheduled
    assert not (tmp_path / "results").exists() and not (tmp_path / "resources").exists()


@pytest.mark.parametrize("name", ["config.yaml", "quick.yaml", "open_questions.yaml", "replicates.yaml"])
def test_the_shipped_configs_are_valid(name):
    validate(yaml.safe_load((REPO / "config" / name).read_text()))


def test_the_largest_valid_values_pass():
    """The limits are MNIST's and the protocol's own, not one image less."""
    config = bad_config(heldout_with_train(grid.HELDOUT_POOL))
    config["subset"]["test"] = grid.MNIST_TEST_SIZE
    config["seeds"] = [2**32 - 1]
    validate(config)
    paper = bad_config(setting("subset", {"train": grid.MNIST_TRAIN_SIZE, "test": grid.MNIST_TEST_SIZE}))
    validate(paper)
    validate(bad_config(with_variants("sklearn", {"momentum": 1, "alpha": 0})))


def test_the_schema_offers_exactly_the_variant_options_grid_knows():
    schema = yaml.safe_load(SCHEMA.read_text())["$defs"]
    for network, choices in grid.VARIANT_CHOICES.items():
        options = schema[f"{network}_variants"]["items"]["properties"]
        assert set(options) == set(choices) | set(grid.VARIANT_NUMBERS[network])
        for name, allowed in choices.items():
            assert options[name]["enum"] == list(allowed)
        for name in grid.VARIANT_NUMBERS[network]:
            low, high = grid.VARIANT_RANGES[name]
            assert options[name]["minimum"] == low
            assert options[name].get("maximum", math.inf) == high
