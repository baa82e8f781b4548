"""What machine this is, in one place: the CPU's model and instruction-set flags, the cores this process
may use. Lookup tables and the fast-path cache record it, so a figure measured on one machine is not
trusted on another that merely shares a model name.
"""

import hashlib
import os
import platform
from pathlib import Path

_FLAG_KEYS = ("flags", "features")  # x86 and ARM spellings of the instruction-set line in /proc/cpuinfo


def _cpuinfo_lines():
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def cpu_model():
    for line in _cpuinfo_lines():
        if line.lower().startswith(("model name", "hardware", "processor\t: arm")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_flags():
    """The CPU's instruction-set flags (sorted), from the first core's entry; empty where unknown."""
    for line in _cpuinfo_lines():
        key, _, value = line.partition(":")
        if key.strip().lower() in _FLAG_KEYS:
            return sorted(set(value.split()))
    return []


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def fingerprint():
    """A short dict naming this machine for speed figures: CPU model, a digest of its flags, cores."""
    flags = " ".join(cpu_flags())
    return {"cpu": cpu_model(), "arch": platform.machine(), "cores": usable_cores(),
            "flags_sha1": hashlib.sha1(flags.encode()).hexdigest()[:12],
            "avx512_bf16": "avx512_bf16" in flags.split(), "avx2": "avx2" in flags.split()}
