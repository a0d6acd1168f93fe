"""The fields of a synthetic data spec that each generator uses.

``SyntheticData`` has one set of fields for every generator, and each
generator in ``models/data/synthetic.py`` reads only some of them. Sine, for
instance, draws no random numbers and adds no noise, so it ignores ``seed``,
``noise`` and ``phi``. A spec that a client submits may set only the fields
that its generator uses. ``check_generator_fields`` enforces this when a job
is submitted over HTTP and when the command line reads a spec. Stored specs
carry every field with its default, so loading one is never checked.
"""

from __future__ import annotations

from models.errors import InvalidInputError
from models.spec import SyntheticData
from models.word_lists import join_words

# The fields that some generators use and others ignore; every generator
# uses length.
OPTIONAL_FIELDS: tuple[str, ...] = ("seed", "noise", "period", "phi", "level")
FIELDS_USED: dict[str, tuple[str, ...]] = {
    "sine": ("length", "period", "level"),
    "noisy_sine": ("length", "seed", "noise", "period", "level"),
    "trend_seasonal": ("length", "seed", "noise", "period", "level"),
    "ar1": ("length", "seed", "noise", "phi", "level"),
    "random_walk": ("length", "seed", "noise", "level"),
    "mackey_glass": ("length", "seed", "noise", "level"),
}


def unused_fields(data: SyntheticData) -> list[str]:
    """Return the fields that the input of ``data`` set to a value other
    than the default, although its generator does not use them, in the
    order of ``OPTIONAL_FIELDS``."""
    used = FIELDS_USED[data.generator]
    fields = type(data).model_fields
    return [
        field
        for field in OPTIONAL_FIELDS
        if field in data.model_fields_set
        and field not in used
        and getattr(data, field) != fields[field].default
    ]


def check_generator_fields(data: SyntheticData, *, path: str = "") -> None:
    """Raise ``InvalidInputError`` when the input of ``data`` gave a value
    other than the default to a field that its generator does not use.

    The error names the first such field, prefixed with ``path``, and its
    message names every one of them, the generator and the fields that it
    uses. Fields at their defaults are never rejected.
    """
    unused = unused_fields(data)
    if not unused:
        return
    raise InvalidInputError(
        unused_fields_message(data.generator, unused), field=f"{path}data.{unused[0]}"
    )


def unused_fields_message(generator: str, unused: list[str]) -> str:
    """Return the message for the fields ``unused`` that ``generator`` does
    not use, with the generators that use them all."""
    names = join_words([f"data.{field}" for field in unused])
    used = join_words([f"data.{field}" for field in FIELDS_USED[generator]])
    verb = "is" if len(unused) == 1 else "are"
    pronoun = "it" if len(unused) == 1 else "them"
    message = (
        f"{names} {verb} not used by generator {generator!r}, which uses {used}; "
        f"remove {pronoun}"
    )
    others = [
        name for name, fields in FIELDS_USED.items() if set(unused) <= set(fields)
    ]
    if others:
        choices = join_words([repr(name) for name in others], "or")
        message += f" or choose a generator that uses {pronoun}: {choices}"
    return message
