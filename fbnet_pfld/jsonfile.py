"""JSON files people edit (tables, spaces, arch.json, calibrations), read strictly in one place: a
repeated key, nesting too deep to parse or a file that is not UTF-8 JSON is refused with one line that
names the file (and line), never silently resolved by keeping the last value.
"""

import json
from pathlib import Path

from fbnet_pfld.writes import write_text


def _no_duplicates(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"the key {key!r} appears twice in one object")
        seen[key] = value
    return seen


def read_json(path, error_class, what="JSON"):
    """The parsed file, or ``error_class`` naming the file, the line where known, and the reason."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error_class(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError) as error:
        raise error_class(f"{path}: cannot read it as UTF-8 text ({what}; {error})") from None
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as error:
        raise error_class(f"{path}:{error.lineno}: not valid JSON ({error.msg})") from None
    except ValueError as error:
        raise error_class(f"{path}: {error}") from None
    except RecursionError:
        raise error_class(f"{path}: nested too deeply to be a {what}") from None


def write_json(data, path):
    """Write atomically (temp file, rename): a kill mid-write leaves the previous file."""
    return write_text(path, json.dumps(data, indent=1) + "\n")
