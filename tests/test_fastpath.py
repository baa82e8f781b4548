"""The automatic choice of how networks run: the choice logic on injected timings, the cache's trust rules,
and each path's outputs against plain eager."""

import copy
import json

import pytest
import torch

from fbnet_pfld import fastpath
from fbnet_pfld.fastpath import PATHS, choose_fastpath, landmark_step_factory, pick_fastest
from fbnet_pfld.models import PFLDLite, auxiliary_net_for

CPU = torch.device("cpu")


def test_a_slower_path_is_never_picked():
    assert pick_fastest({"eager": 100.0, "channels_last": 90.0, "bf16": 99.0}) == "eager"


def test_a_gain_within_the_margin_keeps_eager():
    assert pick_fastest({"eager": 100.0, "channels_last": 102.0}) == "eager"


def test_a_clear_gain_is_picked():
    assert pick_fastest({"eager": 100.0, "channels_last": 120.0, "bf16": 350.0}) == "bf16"


@pytest.fixture
def network():
    torch.manual_seed(0)
    net = PFLDLite(68)
    return net, auxiliary_net_for(net)


def _choose(network, monkeypatch, timings, cache):
    """choose_fastpath('auto') with ``timings`` injected; returns (choice, how many timings ran)."""
    calls = []

    def fake_time(make_step, names, batch_size, **_):
        calls.append(names)
        return {name: timings.get(name, 1.0) for name in names}

    monkeypatch.setattr(fastpath, "time_candidates", fake_time)
    monkeypatch.setenv(fastpath.CACHE_ENV, str(cache))
    net, aux = network
    chosen = choose_fastpath("auto", CPU, net, landmark_step_factory(net, aux, 4, 68), 4, log=lambda _: None)
    return chosen.name, len(calls)


def test_the_choice_is_cached_and_reused(network, monkeypatch, tmp_path):
    cache = tmp_path / "cache.json"
    assert _choose(network, monkeypatch, {"eager": 10.0, "channels_last": 20.0}, cache) == ("channels_last", 1)
    # Second call: read from the cache (no timing), even though timings would now say otherwise.
    assert _choose(network, monkeypatch, {"eager": 30.0, "channels_last": 20.0}, cache) == ("channels_last", 0)


def test_a_choice_cached_on_another_machine_is_ignored(network, monkeypatch, tmp_path):
    cache = tmp_path / "cache.json"
    _choose(network, monkeypatch, {"eager": 10.0, "channels_last": 20.0}, cache)
    entries = json.loads(cache.read_text())
    for entry in entries.values():
        entry["machine"] = {**entry["machine"], "cpu": "another CPU", "flags_sha1": "0" * 12}
    cache.write_text(json.dumps(entries))
    assert _choose(network, monkeypatch, {"eager": 30.0, "channels_last": 20.0}, cache) == ("eager", 1)


@pytest.mark.parametrize("content", ["{not json", '{"name": "my settings"}', "[1, 2]"])
def test_a_file_that_is_not_a_cache_is_measured_over_and_never_written(network, monkeypatch, tmp_path, content):
    """The cache variable naming a user's file (or a file no cache write left, which is atomic): the choice
    is timed, and the file is left exactly as it was."""
    cache = tmp_path / "cache.json"
    cache.write_text(content)
    assert _choose(network, monkeypatch, {"eager": 10.0, "channels_last": 20.0}, cache) == ("channels_last", 1)
    assert cache.read_text() == content


def test_a_forced_path_is_not_timed(network, monkeypatch, tmp_path):
    monkeypatch.setattr(fastpath, "time_candidates", lambda *a, **k: pytest.fail("timed a forced path"))
    net, aux = network
    assert choose_fastpath("channels_last", CPU, net, None, 4, log=lambda _: None).name == "channels_last"


@pytest.mark.parametrize("native", [True, False])
def test_forced_bf16_warns_where_the_cpu_only_emulates_it(network, monkeypatch, native):
    monkeypatch.setattr(fastpath, "native_bf16", lambda: native)
    for name in ("bf16", "bf16_nchw", "channels_last"):
        said = []
        assert choose_fastpath(name, CPU, network[0], None, 4, log=said.append).name == name
        assert ("no native bf16" in said[0]) == (name.startswith("bf16") and not native), said


def test_real_timing_returns_every_candidate_and_leaves_the_rng_alone(network):
    net, aux = network
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    speeds = fastpath.time_candidates(landmark_step_factory(net, aux, 2, 68), ["eager", "channels_last"], 2,
                                      rounds=1)
    assert set(speeds) == {"eager", "channels_last"} and all(s > 0 for s in speeds.values())
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name, tolerance", [("channels_last", 1e-4), ("bf16", 0.05), ("bf16_nchw", 0.05)])
def test_each_path_matches_eager(network, name, tolerance):
    """Landmarks are normalised to the crop: 0.05 is under 6 px of 112, bf16's 8-bit mantissa at work."""
    if name.startswith("bf16") and not fastpath.native_bf16():
        pytest.skip("bf16 runs only where the CPU has it natively")
    net, _ = network
    x = torch.rand(2, 3, 112, 112)
    with torch.no_grad():
        expected = net.eval()(x)[0]
        path = PATHS[name]
        other = path.prepare(copy.deepcopy(net))
        with path.autocast():
            got = other(path.images(x))[0].float()
    assert (got - expected).abs().max().item() <= tolerance


def test_timing_stops_after_the_round_that_passes_its_budget():
    """The automatic choice is bounded in time: with the budget spent, one timed round and no more."""
    calls = {"eager": 0, "channels_last": 0}

    def make_step(fast):
        name = next(n for n, p in fastpath.PATHS.items() if p == fast)

        def step():
            calls[name] += 1
        return step

    speeds = fastpath.time_candidates(make_step, list(calls), 4, rounds=5, budget_s=0.0)
    assert calls == {"eager": 2, "channels_last": 2}  # one warm-up call and one timed round each
    assert set(speeds) == set(calls)
    fastpath.time_candidates(make_step, list(calls), 4, rounds=5, budget_s=60.0)
    assert calls == {"eager": 8, "channels_last": 8}  # all five rounds when time allows
