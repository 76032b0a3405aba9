"""Plain-words names for the controlled variants, shared by the figures and findings.md."""

from __future__ import annotations

VARIANT_WORDS = {
    "paper": "as in the paper",
    "output-sigmoid": "sigmoid output layer",
    "output-softmax": "softmax output layer",
    "init-glorot": "Glorot initialisation",
    "init-he": "He initialisation",
    "init-matched": "initial weights shared by all three networks",
    "cost-crossentropy": "cross-entropy cost",
    "momentum-0.0": "no momentum",
    "alpha-0.0": "no L2 penalty",
    "recipe-partialfit-intseed": "partial_fit with an integer random_state (epochs 2.. repeat one order)",
    "recipe-warmstart-intseed": "fit(warm_start=True, max_iter=1), integer seed (momentum restarts each epoch)",
    "dtype-float64": "float64 input (X / 255.)",
    "output-logits": "logits output, from_logits=True",
    "fitbatch-default": "model.fit's default batch of 32",
    "dropout-0.2": "Dropout(0.2) after the hidden layer",
}


def describe_variant(variant: str) -> str:
    """`output-sigmoid_init-he` -> `sigmoid output layer, He initialisation` (unknown parts as they are)."""
    return ", ".join(VARIANT_WORDS.get(part, part) for part in variant.split("_"))


def variant_rank(variant: str) -> int:
    """The paper first, then by the number of options changed (the order of an ablation's steps)."""
    return 0 if variant == "paper" else len(variant.split("_"))
