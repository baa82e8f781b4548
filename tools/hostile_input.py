"""The hostile-input suite: every case of tools/hostile_cases.py run against the scripts on generated data,
each given a verdict, and the counts printed. A benchmark of robustness, not a unit test (the tests run
the same cases one by one).

    python -m tools.hostile_input                 # all cases, a few minutes on 2 cores
    python -m tools.hostile_input --only predict  # the cases whose name holds "predict"

Verdicts: ok (one line naming the file, line or flag, non-zero exit; or, for valid input, a clean run),
weak (non-zero exit, but not one line naming it), silent (exit 0 where an error was due), traceback
(an exception escaped, or a traceback was printed), failed (valid input that did not run).
"""

import contextlib
import io
import os
import tempfile
from collections import Counter

from fbnet_pfld.cli import Parser
from tools.hostile_cases import CASES, WORKS
from tools.hostile_fixtures import make_context

VERDICTS = ("ok", "weak", "silent", "traceback", "failed")


def run_quietly(main, argv):
    """(exit code, everything printed) of ``main(argv)``; an escaping exception is re-raised."""
    out = io.StringIO()
    with contextlib.redirect_stderr(out), contextlib.redirect_stdout(out):
        try:
            main(argv)
            code = 0
        except SystemExit as exit_info:
            code = exit_info.code
    return code, out.getvalue()


def judge_error(main, argv, names):
    """Verdict and the answer's text for input that must be refused with one line holding ``names``."""
    try:
        code, printed = run_quietly(main, argv)
    except Exception as error:  # noqa: BLE001 - any escaping exception is the verdict
        return "traceback", f"{type(error).__name__}: {error}"
    text = code if isinstance(code, str) else printed
    lines = [line for line in str(text).strip().splitlines() if line.strip() and "it/s]" not in line]
    if code in (0, None):
        return "silent", printed.strip()[-300:]
    if "Traceback" in str(text):
        return "traceback", str(text)[-300:]
    if len(lines) == 1 and "error" in lines[0] and names in lines[0]:
        return "ok", lines[0]
    return "weak", " / ".join(lines)[:300]


def judge_valid(main, argv):
    try:
        code, printed = run_quietly(main, argv)
    except Exception as error:  # noqa: BLE001
        return "traceback", f"{type(error).__name__}: {error}"
    return ("ok", "ran") if code in (0, None) else ("failed", str(code if isinstance(code, str) else printed)[-300:])


def judge(name, ctx):
    """(verdict, text) of one case by name."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        main, argv = (CASES[name][0] if name in CASES else WORKS[name])(ctx)  # set-up runs may print: not the case's
    return judge_error(main, argv, CASES[name][1]) if name in CASES else judge_valid(main, argv)


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--only", default="", help="run the cases whose name holds this text")
    args = parser.parse_args(argv)
    os.environ.setdefault("FBNET_PFLD_FASTPATH", "eager")  # the cases test input handling, not speed
    names = [name for name in [*CASES, *WORKS] if args.only in name]
    with tempfile.TemporaryDirectory() as tmp:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            ctx = make_context(tmp)
        verdicts = {}
        for name in names:
            verdicts[name] = judge(name, ctx)
    counts = Counter(verdict for verdict, _ in verdicts.values())
    for name, (verdict, text) in verdicts.items():
        if verdict != "ok":
            print(f"{verdict:9s} {name}: {text}")
    print(f"{len(names)} cases ({len([n for n in names if n in CASES])} to refuse, "
          f"{len([n for n in names if n in WORKS])} valid): "
          + ", ".join(f"{verdict} {counts.get(verdict, 0)}" for verdict in VERDICTS))
    raise SystemExit(0 if counts.get("ok", 0) == len(names) else 1)


if __name__ == "__main__":
    main()
