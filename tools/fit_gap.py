"""Underfitting or overfitting? A model's NME on its own training faces beside its test NME.

    python -m tools.fit_gap subnet=released/subnet.onnx pfld_lite=released/pfld_lite.onnx \\
        --data_root data/faces68 --out output/fit_gap

Both splits are scored the same way, on the centred test crop with no augmentation, so the difference
is what training did not carry over to new faces. A training NME close to the test NME says the model
has not fitted its training faces (more capacity or more optimisation steps are the levers); a much
lower one says it does not generalise (more data or regularisation are). When the training images'
names carry a source prefix (``helen_...``, ``ytf_...``), each source gets its own row too, and so does each
label source (``label=human``, ``machine``, ``teacher:NAME`` on the list.txt lines) when there are several.
"""

import tempfile
from collections import defaultdict
from pathlib import Path

from fbnet_pfld.cli import Parser, exit_on_user_error
from fbnet_pfld.dataset import LandmarkDataset, data_paths
from fbnet_pfld.deploy import OrtSession
from fbnet_pfld.metrics import landmark_metrics
from tools.benchmark import crop_batches, load_entries, onnx_metrics, onnx_predictions, publish

MAX_SOURCES = 8  # more distinct prefixes than this are file names, not sources


def source_groups(samples):
    """{prefix: [indices]} by the image name's part before the first underscore; {} when the names do
    not split into 2..MAX_SOURCES sources of more than one face each."""
    groups = defaultdict(list)
    for index, sample in enumerate(samples):
        name = Path(sample.image).name
        groups[name.split("_", 1)[0] if "_" in name else ""].append(index)
    if not 2 <= len(groups) <= MAX_SOURCES or "" in groups or min(map(len, groups.values())) < 2:
        return {}
    return dict(sorted(groups.items()))


def label_groups(samples):
    """{"label SOURCE": [indices]} by each face's label source (human, machine, teacher:NAME); {} when all
    faces share one."""
    groups = defaultdict(list)
    for index, sample in enumerate(samples):
        groups[f"label {sample.label}"].append(index)
    return dict(sorted(groups.items())) if len(groups) > 1 else {}


def fit_gap(specs, data_root, workdir):
    """Rows (model, split, faces, metrics) for TRAIN, its sources and TEST of every model. Each split's
    crops are cut once and each model runs once over them; a source's rows are the training faces' own."""
    train_list, test_list = data_paths(data_root)
    train = LandmarkDataset(train_list, data_root)
    test = LandmarkDataset(test_list, data_root, train.num_points)
    entries = load_entries(specs, workdir)  # bad model files fail before the crops are cut
    train_batches, test_batches = crop_batches(train), crop_batches(test)
    sources = {**source_groups(train.samples), **label_groups(train.samples)}
    rows = []
    for name, onnx_path, _ in entries:
        session = OrtSession(onnx_path, threads=0)
        predicted, true = onnx_predictions(session, train_batches)
        parts = [("train", slice(None), len(train)),
                 *((f"train: {source}", indices, len(indices)) for source, indices in sources.items())]
        rows += [{"model": name, "split": split, "faces": faces, **landmark_metrics(predicted[rows_of], true[rows_of])}
                 for split, rows_of, faces in parts]
        rows.append({"model": name, "split": "test", "faces": len(test), **onnx_metrics(session, test_batches)})
    return rows


def markdown(rows):
    lines = ["| model | split | faces | NME io (%) | NME box (%) | test / this split (NME io) |",
             "|---|---|---|---|---|---|"]
    test = {row["model"]: row for row in rows if row["split"] == "test"}
    for row in rows:
        ratio = test[row["model"]].get("nme_io", float("nan")) / row.get("nme_io", float("nan"))
        lines.append(f"| {row['model']} | {row['split']} | {row['faces']} | "
                     f"{100 * row.get('nme_io', float('nan')):.2f} | {100 * row['nme_box']:.2f} | {ratio:.2f}x |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = Parser(__doc__)
    parser.add_argument("models", nargs="+", help="[NAME=]PATH of a .pth retrain checkpoint or an .onnx file")
    parser.add_argument("--data_root", required=True, help="DATA_ROOT with train_data/ and test_data/")
    parser.add_argument("--out", help="write OUT.md and OUT.json")
    return parser.parse_args(argv)


def run(args):
    with tempfile.TemporaryDirectory() as workdir:
        rows = fit_gap(args.models, args.data_root, workdir)
    publish(markdown(rows), rows, args.out)


def main(argv=None):
    exit_on_user_error(run, parse_args(argv))


if __name__ == "__main__":
    main()
