"""A trained supernet's one-shot estimates of its architectures: a path's NME with the inherited weights
(BatchNorm statistics re-estimated for that path), and how probable a search's theta found it. The sweep's
summary and tools/ranking.py compare them with NMEs after training from scratch."""

from pathlib import Path

from fbnet_pfld.checkpoints import load_supernet
from fbnet_pfld.dataset import held_out_loader, load_test_set, make_loader, search_split_of
from fbnet_pfld.distributed import Runtime
from fbnet_pfld.engine import evaluate
from fbnet_pfld.metrics import primary_nme
from fbnet_pfld.search import path_batchnorm

BN_BATCHES = 16  # training batches that re-estimate a path's BatchNorm statistics before its one-shot NME


def supernet_nme(supernet, arch, loader):
    """The one-shot estimate: the NME of ``arch``'s path with the supernet's weights and BatchNorm statistics."""
    supernet.eval()
    cpu = Runtime(0, 1, next(supernet.parameters()).device, [])
    return primary_nme(evaluate(lambda x: supernet(x, arch=arch)[0], loader, cpu))


def one_shot_estimates(points, warm, data_root, bn_batches=BN_BATCHES):
    """Each architecture's NME with the warm-up supernet's weights, and how probable its budget's search (when
    its checkpoint is here) found it."""
    supernet, _, state = load_supernet(warm)
    loader = make_loader(load_test_set(data_root), batch_size=64, workers=0)
    train, weight_idx, _ = search_split_of(data_root, state)
    calibration = held_out_loader(train, weight_idx, workers=0, shuffle=True)
    for point in (p for p in points if "arch" in p):
        with path_batchnorm(supernet, point["arch"], calibration, bn_batches):
            point["supernet_nme_io"] = supernet_nme(supernet, point["arch"], loader)
        if Path(point["search"]).is_file():
            point["theta_log_prob"] = arch_log_probability(load_supernet(point["search"])[0], point["arch"])


def arch_log_probability(supernet, arch):
    """log P(arch) under a searched supernet's theta (the layers' softmaxes, independent)."""
    return sum(log_p[layer.op_names.index(name)]
               for log_p, layer, name in zip(supernet.log_probabilities(), supernet.layers, arch))
