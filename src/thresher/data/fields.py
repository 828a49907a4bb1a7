"""Which fields of a record thresher reads: text (or a template), label, domain, id."""

from __future__ import annotations

import string
from dataclasses import asdict, dataclass

import pyarrow as pa
import pyarrow.compute as pc

from thresher.errors import UsageError


@dataclass(frozen=True)
class FieldSpec:
    """How to read a record.

    text_field: the field holding the text, or None for pools without text (arrays).
    template: a format string over several fields, e.g. "{prompt}\\n{completion}";
        when given it is the text and `text_field` is ignored.
    label_field, domain_field: optional class label and domain/group fields.
    id_field: optional unique id field; without it the id is the 0-based position.
    """

    text_field: str | None = "text"
    template: str | None = None
    label_field: str | None = None
    domain_field: str | None = None
    id_field: str | None = None

    def __post_init__(self) -> None:
        if self.template is not None:
            self.template_parts()  # validates

    def template_parts(self) -> list[tuple[str, str | None]]:
        """The template as (literal, field) pairs; raises UsageError when malformed."""
        assert self.template is not None
        try:
            parts = [
                (literal, field) for literal, field, spec, conv in string.Formatter().parse(self.template)
            ]
        except ValueError as err:
            raise UsageError(f"template {self.template!r} is malformed: {err}") from None
        for literal, field, *_ in string.Formatter().parse(self.template):
            if field == "" or (field is not None and not field.isidentifier() and not field.replace("-", "_").replace(".", "_").isidentifier()):
                raise UsageError(f"template {self.template!r} has an unnamed or odd field {{{field}}}; name each field.")
        if not any(field for _, field in parts):
            raise UsageError(f"template {self.template!r} names no field; write fields as {{name}}.")
        return parts

    @property
    def text_sources(self) -> list[str]:
        """Raw fields that make up the text."""
        if self.template is not None:
            return list(dict.fromkeys(field for _, field in self.template_parts() if field))
        return [self.text_field] if self.text_field else []

    @property
    def has_text(self) -> bool:
        return bool(self.text_sources)

    @property
    def other_sources(self) -> dict[str, str]:
        """Output column -> raw field, for label, domain and id."""
        return {
            column: field
            for column, field in (("label", self.label_field), ("domain", self.domain_field), ("id", self.id_field))
            if field
        }

    @property
    def required(self) -> list[str]:
        """Every raw field a record must have."""
        return list(dict.fromkeys(self.text_sources + list(self.other_sources.values())))

    def option_for(self, field: str) -> str:
        """The CLI option that names `field`, for error messages."""
        if field in self.text_sources:
            return "--template" if self.template else "--text-field"
        for column, raw in self.other_sources.items():
            if raw == field:
                return f"--{column}-field"
        return "--text-field"

    def as_dict(self) -> dict:
        return asdict(self)

    def build_text(self, columns: dict[str, pa.Array]) -> pa.Array:
        """The text column from raw string columns (template applied)."""
        if self.template is None:
            return columns[self.text_field]
        pieces: list = []
        for literal, field in self.template_parts():
            if literal:
                pieces.append(pa.scalar(literal, pa.string()))
            if field:
                column = columns[field]
                pieces.append(column if pa.types.is_string(column.type) else pc.cast(column, pa.string()))
        if len(pieces) == 1:
            return pieces[0]
        return pc.binary_join_element_wise(*pieces, "")
