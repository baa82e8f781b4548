"""Print parameters and multiply-adds of the baseline and of the smallest and largest subnet.

    python model_stats.py --num_points 106
"""


from blocks import SEARCH_SPACE, build_op
from cli import Parser
from models import Baseline, PFLDLite, Subnet, count_macs, count_parameters


def extreme_archs(search_space=SEARCH_SPACE):
    """Smallest and largest architecture by parameters (both are additive over layers)."""
    def params(name, layer):
        return count_parameters(build_op(name, layer))
    smallest = [min(layer.ops, key=lambda n, layer=layer: params(n, layer)) for layer in search_space]
    largest = [max(layer.ops, key=lambda n, layer=layer: params(n, layer)) for layer in search_space]
    return smallest, largest


def model_table(num_points):
    smallest, largest = extreme_archs()
    models = [("pfld_lite (the reference's baseline)", PFLDLite(num_points)),
              ("baseline (PFLD-MobileNetV2, 16 channels)", Baseline(num_points)),
              ("smallest subnet " + ",".join(smallest), Subnet(smallest, num_points)),
              ("largest subnet " + ",".join(largest), Subnet(largest, num_points))]
    rows = ["| model | parameters | MACs (M) | float32 size (KB) |", "|---|---:|---:|---:|"]
    for name, model in models:
        params = count_parameters(model)
        rows.append(f"| {name} | {params:,} | {count_macs(model) / 1e6:.2f} | {params * 4 / 1024:.0f} |")
    return "\n".join(rows)


def main():
    parser = Parser(__doc__)
    parser.add_argument("--num_points", type=int, default=106)
    args = parser.parse_args()
    print(f"K = {args.num_points} landmarks, input 1x3x112x112, auxiliary net not counted")
    print(model_table(args.num_points))


if __name__ == "__main__":
    main()
