"""The type system of LANGUAGE.md section 4: column types, schemas and the values that flow between steps."""
from __future__ import annotations

from functools import lru_cache
from typing import Literal, Union

from pydantic import ConfigDict

from pipec.compiler.model import Model

BaseType = Literal["int", "float", "bool", "str", "date", "timestamp"]
BASE_TYPES: tuple[str, ...] = ("int", "float", "bool", "str", "date", "timestamp")
NUMERIC = ("int", "float")


class ColumnType(Model):
    """A column type; `nullable` is the `?` of `T?`."""

    model_config = ConfigDict(frozen=True)

    base: BaseType
    nullable: bool = False

    def __str__(self) -> str:
        return self.base + ("?" if self.nullable else "")

    @property
    def is_numeric(self) -> bool:
        return self.base in NUMERIC

    def with_nullable(self, nullable: bool) -> "ColumnType":
        return col(self.base, nullable)


@lru_cache(maxsize=None)
def col(base: str, nullable: bool = False) -> ColumnType:
    """The column type (one shared instance per type: they are immutable, and a big pipeline
    would otherwise hold one per column of every step)."""
    return ColumnType(base=base, nullable=nullable)  # type: ignore[arg-type]


class Field(Model):
    model_config = ConfigDict(frozen=True)

    name: str
    type: ColumnType


@lru_cache(maxsize=65536)
def _field(name: str, type_: ColumnType) -> Field:
    """Fields are immutable and repeat from step to step: share them, as `col` does types."""
    return Field(name=name, type=type_)


class Schema(Model):
    """An ordered list of named columns."""

    model_config = ConfigDict(frozen=True)

    fields: tuple[Field, ...] = ()

    @classmethod
    def of(cls, pairs: "list[tuple[str, ColumnType]]") -> "Schema":
        return cls(fields=tuple(_field(n, t) for n, t in pairs))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def get(self, name: str) -> ColumnType | None:
        for f in self.fields:
            if f.name == name:
                return f.type
        return None

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.fields)

    def __str__(self) -> str:
        return "{" + ", ".join(f"{f.name}: {f.type}" for f in self.fields) + "}"


class TableType(Model):
    model_config = ConfigDict(frozen=True)

    kind: Literal["table"] = "table"
    schema_: Schema

    def __str__(self) -> str:
        return f"table<{self.schema_}>"


ModelKind = Literal["classifier", "regressor", "clusterer"]


class ModelType(Model):
    """`model<kind, features, label>`; `estimator` is kept so backends know what to build."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["model"] = "model"
    model_kind: ModelKind
    estimator: str
    features: Schema
    label: Field | None = None

    def __str__(self) -> str:
        label = f", label {self.label.name}: {self.label.type}" if self.label else ""
        return f"model<{self.model_kind}, [{', '.join(self.features.names)}]{label}>"


class MetricsType(Model):
    model_config = ConfigDict(frozen=True)

    kind: Literal["metrics"] = "metrics"
    names: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"metrics<{', '.join(self.names)}>"


ValueType = Union[TableType, ModelType, MetricsType]


class ParamType(Model):
    """The type of a pipeline parameter: a column base type, `duration`, or `list[T]`."""

    model_config = ConfigDict(frozen=True)

    name: Literal["int", "float", "bool", "str", "date", "duration", "list"]
    item: "ParamType | None" = None

    def __str__(self) -> str:
        return f"list[{self.item}]" if self.name == "list" else self.name


def unify_numeric(a: ColumnType, b: ColumnType) -> ColumnType | None:
    """The common type of two values under int -> float widening, or None if they do not meet."""
    nullable = a.nullable or b.nullable
    if a.base == b.base:
        return col(a.base, nullable)
    if a.is_numeric and b.is_numeric:
        return col("float", nullable)
    return None
