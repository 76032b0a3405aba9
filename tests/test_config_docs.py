"""config/README.md documents every key of config/schema.yaml, and its example config is valid."""

from __future__ import annotations

import re

import yaml
from conftest import REPO

from mnist_lr_batch import grid

SCHEMA = REPO / "config" / "schema.yaml"
DOCS = REPO / "config" / "README.md"


def schema_keys(node: dict, definitions: dict, prefix: str = "") -> list[str]:
    """Every key a config may set, as dotted paths; `<name>` stands for a name the user chooses."""
    if "$ref" in node:
        node = definitions[node["$ref"].rsplit("/", 1)[1]] | {k: v for k, v in node.items() if k != "$ref"}
    keys = []
    for name, child in node.get("properties", {}).items():
        path = f"{prefix}{name}"
        keys.append(path)
        keys.extend(schema_keys(child, definitions, path + "."))
    if isinstance(node.get("additionalProperties"), dict):
        path = f"{prefix}<name>"
        keys.append(path)
        keys.extend(schema_keys(node["additionalProperties"], definitions, path + "."))
    if isinstance(node.get("items"), dict):  # the options of each entry of a list (variants)
        keys.extend(schema_keys(node["items"], definitions, prefix.removesuffix(".") + "[]."))
    return keys


def documented(key: str, text: str) -> bool:
    """`key` in backticks; a variant option (variants.<network>[].<option>) in its network's table row."""
    if "[]." not in key:
        return f"`{key}`" in text
    network, option = key.split("[].")[0].rsplit(".", 1)[1], key.rsplit(".", 1)[1]
    return any(line.startswith(f"| {network} |") and f"`{option}`" in line for line in text.splitlines())


def test_every_schema_key_is_documented():
    schema = yaml.safe_load(SCHEMA.read_text())
    keys = schema_keys(schema, schema.get("$defs", {}))
    assert len(keys) >= 25  # the walk reached the experiments' and the variants' keys
    text = DOCS.read_text()
    missing = [key for key in keys if not documented(key, text)]
    assert not missing, f"config/README.md does not document: {', '.join(missing)}"


def test_the_documented_example_is_a_valid_config():
    from snakemake.utils import validate

    example = re.search(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S).group(1)
    config = yaml.safe_load(example)
    validate(config, str(SCHEMA))
    cells = grid.unique_cells(grid.experiment_cells(config))
    assert {cell.network for cell in cells} == {"custom", "keras"} and len(cells) == 63


def test_the_catalog_file_has_the_catalogs_keys():
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert set(usage) == {"mandatory-flags", "software-stack-deployment", "report"}
    assert set(usage["mandatory-flags"]) == {"desc", "flags"}
    deployment = usage["software-stack-deployment"]
    assert set(deployment) <= {"conda", "apptainer", "apptainer+conda"} and deployment["conda"] is True
    assert usage["report"] is True
    assert (REPO / "config" / "config.yaml").is_file()  # the standardised usage deploys this config
