"""CSV cells a spreadsheet opens as data, never as a formula.

Excel, LibreOffice and Google Sheets run a cell that starts with ``=``, ``+``, ``-`` or
``@`` (and some a leading tab or carriage return) as a formula, which can fetch URLs or
start programs. Text from users and workers (trial failure reasons, worker names, choice
values, parameter names) can start that way, so such a text cell gets a leading ``'``,
the usual mark for "text, not a formula". Numbers are written as numbers (a negative
number stays a number), and so is text that is just a number (``-0.5``, ``-inf``).
"""

from __future__ import annotations

import re
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[+-]?(inf|infinity|nan)",
                          re.IGNORECASE)


def spreadsheet_safe(value: Any) -> Any:
    """``value`` unchanged, or a text that a spreadsheet would run prefixed with ``'``."""
    if (isinstance(value, str) and value.startswith(FORMULA_STARTS)
            and not PLAIN_NUMBER.fullmatch(value)):
        return "'" + value
    return value
