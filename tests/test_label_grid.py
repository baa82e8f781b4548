"""tools.label_grid tells points read off a heatmap's lattice from hand-placed ones."""

import numpy as np

from tools import label_grid


def test_points_on_a_lattice_score_high_and_spread_points_low(tmp_path):
    rng = np.random.default_rng(0)
    spread = rng.uniform(20, 180, (68, 2))
    lattice = np.round(spread / 4.5) * 4.5 + 0.3  # a heatmap cell of 4.5 px, offset by 0.3
    score, period = label_grid.lattice_score(lattice)
    assert score > 0.9 and abs(period - 4.5) < 0.05
    assert label_grid.lattice_score(spread)[0] < 0.35
    for name, points in (("hand_a", spread), ("net_b", lattice)):
        (tmp_path / f"{name}.pts").write_text("version: 1\nn_points: 68\n{\n"
                                              + "".join(f"{x:.3f} {y:.3f}\n" for x, y in points) + "}\n")
    found = label_grid.scan(tmp_path, 0.5)
    assert found["hand"]["lattice"] == 0 and found["net"]["lattice"] == 1
