"""Parameters and multiply-adds of the baselines, the smallest and largest subnet and any searched one, with
where each network's multiply-adds go (its top-level parts: a subnet's stem, searched layers and head).

    python -m tools.model_stats --num_points 106
    python -m tools.model_stats --num_points 68 --arch released/arch.json   # also a searched subnet

On this CPU onnxruntime's batch-1 latency follows multiply-adds closely, so the parts column says how
much of a subnet's latency the search can move.
"""

from fbnet_pfld.archfile import read_arch
from fbnet_pfld.blocks import SEARCH_SPACE, build_op
from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.errors import DataError
from fbnet_pfld.models import Baseline, PFLDLite, Subnet, count_parameters, macs_by_part

PART_NAMES = {"layers": "searched layers"}


def extreme_archs(search_space=SEARCH_SPACE):
    """Smallest and largest architecture by parameters (both are additive over layers)."""
    def params(name, layer):
        return count_parameters(build_op(name, layer))
    smallest = [min(layer.ops, key=lambda n, layer=layer: params(n, layer)) for layer in search_space]
    largest = [max(layer.ops, key=lambda n, layer=layer: params(n, layer)) for layer in search_space]
    return smallest, largest


def parts_cell(parts):
    """'stem 3.53 (51%), searched layers 1.58 (23%), ...': each part's M multiply-adds and share."""
    total = sum(parts.values())
    return ", ".join(f"{PART_NAMES.get(name, name)} {macs / 1e6:.2f} ({100 * macs / total:.0f}%)"
                     for name, macs in parts.items() if macs)


def model_table(num_points, searched=()):
    """Markdown rows of the baselines, the extreme subnets and ``searched`` ((label, subnet) pairs)."""
    smallest, largest = extreme_archs()
    models = [("pfld_lite (the reference's baseline)", PFLDLite(num_points)),
              ("baseline (PFLD-MobileNetV2, 16 channels)", Baseline(num_points)),
              *((f"{label} {','.join(arch)}", Subnet(arch, num_points)) for label, arch in
                (("smallest subnet", smallest), ("largest subnet", largest))),
              *searched]
    rows = ["| model | parameters | MACs (M) | float32 size (KB) | MACs by part (M) |", "|---|---:|---:|---:|---|"]
    for name, model in models:
        params, parts = count_parameters(model), macs_by_part(model)
        rows.append(f"| {name} | {params:,} | {sum(parts.values()) / 1e6:.2f} | {params * 4 / 1024:.0f} | "
                    f"{parts_cell(parts)} |")
    return "\n".join(rows)


def searched_subnet(path, num_points):
    """(label, subnet) of an arch.json in its own search space, checked (a bad one names the file)."""
    arch, search_space = read_arch(path)
    try:
        subnet = Subnet(arch, num_points, search_space or SEARCH_SPACE)  # it checks the arch against the space
    except ValueError as error:
        raise DataError(f"{path}: {error}") from None
    return f"searched ({path}) {','.join(arch)}", subnet


def run(args):
    searched = [searched_subnet(path, args.num_points) for path in args.arch]
    print(f"K = {args.num_points} landmarks, input 1x3x112x112, auxiliary net not counted")
    print(model_table(args.num_points, searched))


def main(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("--num_points", type=int, default=106)
    parser.add_argument("--arch", nargs="*", default=[], help="arch.json files (or JSON lists of op names)")
    exit_on_user_error(run, parser.parse_args(argv))


if __name__ == "__main__":
    main()
