"""One line of documentation per standard-library function (shown by `pipec lsp` on hover); a
step's line is its spec's `doc`, in its own module (pipec/stdlib/steps/)."""
from __future__ import annotations

FUNCTION_DOCS = {
    "abs": "The absolute value.", "round": "Round to `digits` decimals (0 by default).",
    "floor": "The largest integer not above x.", "ceil": "The smallest integer not below x.",
    "sqrt": "The square root.", "log": "The natural logarithm.", "log10": "The base-10 logarithm.",
    "exp": "e to the power x.", "pow": "x to the power y.",
    "lower": "The string in lower case.", "upper": "The string in upper case.",
    "trim": "The string without leading and trailing whitespace.",
    "length": "The number of characters.", "contains": "Whether `sub` occurs in the string.",
    "starts_with": "Whether the string starts with `prefix`.",
    "ends_with": "Whether the string ends with `suffix`.",
    "substr": "`len` characters from position `start`.", "concat": "The strings joined together.",
    "replace": "Every `old` replaced by `new`.", "coalesce": "The first argument that is not null.",
    "if": "`then` where the condition is true, else `else`.",
    "year": "The year of a date or timestamp.", "month": "The month (1-12).",
    "day": "The day of the month.", "hour": "The hour (0-23) of a timestamp.",
    "weekday": "The day of the week (1 = Monday).", "date": "The date of a timestamp.",
    "cast": "Convert a value to another type: `cast(x, float)`.",
    "row_count": "The number of rows of the table (in `expect`).",
    "count": "The number of rows, or of non-null values of x.",
    "count_distinct": "The number of distinct non-null values.",
    "sum": "The sum of the non-null values.", "mean": "The mean of the non-null values.",
    "median": "The median of the non-null values.", "std": "The sample standard deviation.",
    "var": "The sample variance.", "min": "The smallest value.", "max": "The largest value.",
}
