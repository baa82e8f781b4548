"""The FBNet search as a stage of the epoch skeleton: the supernet's weights and theta trained on two splits
of the training faces, the choice validated on the architecture split (the test split never chooses).
"""

import math
from pathlib import Path

import torch

from fbnet_pfld.archfile import read_arch, write_arch
from fbnet_pfld.checkpoints import check_matches, load_state_dict
from fbnet_pfld.dataset import held_out_loader, set_loader_epoch, split_weight_arch
from fbnet_pfld.distributed import broadcast_parameters, max_rank_difference, wrap_model
from fbnet_pfld.engine import evaluate, require_finite, train_weights
from fbnet_pfld.lookup_table import LookupTable, machine_mismatch, runtime_mismatches
from fbnet_pfld.machine import cpu_model, fingerprint
from fbnet_pfld.models import Supernet, auxiliary_net_for
from fbnet_pfld.search import Sandwich, SearchObjective, train_theta, train_weights_sandwich
from fbnet_pfld.space import search_space_to_list
from fbnet_pfld.stages import LandmarkStage


class SearchStage(LandmarkStage):
    kind = "supernet"
    title = "supernet search"
    log_fields = ("phase", "temperature", "lr", "weight_loss", "weight_mse", "theta_loss", "expected_cost",
                  "arch_cost", "target", "arch", "theta_rank_diff")

    def __init__(self, args, runtime, out_dir):
        self._setup(args, runtime, out_dir)
        weight_idx, arch_idx = split_weight_arch(self.train_set.samples, args.arch_fraction, args.seed,
                                                 self.train_set.list_path)
        self.weight_loader = self._loader(weight_idx, args.seed)
        self.arch_loader = self._loader(arch_idx, args.seed + 1)
        # The search validates on the architecture split, un-augmented: the test split is never used to choose.
        self.eval_loader = held_out_loader(self.train_set, arch_idx, args.batch_size, args.workers)
        self.table = LookupTable.load(args.lut)  # the table names the search space it was built for
        if getattr(args, "target_ratio", None) is not None:
            args.target_latency = args.target_ratio * self.table.reference_latency("pfld_lite")
        self.supernet = Supernet(self.num_points, self.table.search_space).to(runtime.device)
        self.aux = auxiliary_net_for(self.supernet).to(runtime.device)
        self.objective = SearchObjective(self.table, args.mode, args.alpha, args.beta, args.target_latency,
                                         args.min_budget_use)
        self._optimise(self.supernet.weight_parameters() + list(self.aux.parameters()))
        self.theta_optimizer = torch.optim.AdamW(self.supernet.arch_parameters(), lr=args.theta_lr,
                                                 weight_decay=args.theta_weight_decay)
        self.temperature, self.history = args.temperature, []
        self.arch = self.objective.choose(self.supernet)
        self.plot_panels = {"loss": ["weight_loss", "theta_loss"], "NME": ["nme_io", "nme_box"],
                            f"cost ({self.table.unit})": ["expected_cost", "arch_cost", "target"]}
        self._choose_fastpath(self.supernet, self.aux,
                              lambda net, x: net(x, mode=args.sample, temperature=args.temperature, arch_grad=False))
        self._announce(len(weight_idx), len(arch_idx))

    def _announce(self, n_weight, n_arch):
        if not self.runtime.is_main:
            return
        self.log.info(f"search: {n_weight} weight / {n_arch} architecture samples of {self.args.data_root}, "
              f"{len(self.test_set)} test, {self.num_points} points, table {self.args.lut} ({self.table.unit}, "
              f"{len(self.table.search_space)} searched layers), "
              f"objective {self.objective.describe()}, loss {self.args.loss}, {self.fast.describe()}, "
              f"{self.runtime.world_size} process(es) on {self.runtime.device}")
        if getattr(self.args, "target_ratio", None) is not None:
            self.log.info(f"budget: {self.args.target_ratio:g} x pfld_lite's {self.table.reference_latency():.4g} "
                          f"{self.table.unit} = {self.args.target_latency:.4g} {self.table.unit}")
        other_machine = machine_mismatch(self.table, fingerprint())
        if other_machine:
            self.log.warning(f"warning: {other_machine}")
        for difference in runtime_mismatches(self.table, self.args.deploy_runtime, 1, cpu_model()):
            self.log.warning(f"warning: {self.args.lut} was measured with {difference}; its latencies may rank "
                  "architectures differently on your deployment")

    def check_resume(self, state, path):
        check_matches(state, path, self.num_points, search_space=self.supernet.search_space)

    def resume_may_change(self, state):
        """The latency objective and theta's optimiser have not acted while theta was frozen: a shared warm-up
        (the sweep's) may be resumed with any budget and any theta settings."""
        if state["epoch"] + 1 <= state.get("args", {}).get("warmup_epochs", 0):
            return ("target_latency", "target_ratio", "mode", "alpha", "beta", "min_budget_use", "theta_lr",
                    "theta_weight_decay", "temperature_decay")
        return ()

    def load_state(self, state):
        load_state_dict(self.supernet, state["supernet"], self.args.resume)
        load_state_dict(self.aux, state["aux"], self.args.resume)
        self.optimizer.load_state_dict(state["optimizer"])
        self.theta_optimizer.load_state_dict(state["theta_optimizer"])
        for group in self.theta_optimizer.param_groups:  # a resume of a warm-up may set theta's (as yet unused) rates
            group.update(lr=self.args.theta_lr, weight_decay=self.args.theta_weight_decay)
        self.scheduler.load_state_dict(state["scheduler"])
        self.temperature, self.history = state["temperature"], state["theta_history"]
        self.arch = self.objective.choose(self.supernet)

    def wrap(self, runtime):
        thetas = self.supernet.arch_parameters()
        self.model = wrap_model(self.supernet, runtime, ignore=[f"layers.{i}.theta" for i in range(len(thetas))])
        self.aux_model = wrap_model(self.aux, runtime)
        broadcast_parameters(thetas, runtime)

    def train_epoch(self, epoch):
        args, temperature = self.args, self.temperature
        for loader in (self.weight_loader, self.arch_loader):
            set_loader_epoch(loader, epoch)
        searching = epoch >= args.warmup_epochs
        self.model.train()
        self.aux_model.train()
        lr = self.optimizer.param_groups[0]["lr"]
        weight_loss, weight_mse = (math.nan, math.nan) if searching and getattr(args, "theta_only", False) \
            else self._train_weights(epoch, temperature)
        theta_loss = expected_cost = math.nan
        if searching:
            theta_loss, expected_cost = train_theta(self.supernet, self.aux, self.arch_loader, self.theta_optimizer,
                                                    self.objective, self.loss_fn, args.sample, temperature,
                                                    self.runtime, self.fast)
            require_finite([theta_loss, *torch.cat(self.supernet.arch_parameters()).tolist()],
                           f"epoch {epoch}: the search loss or theta")
            self.temperature *= math.exp(-args.temperature_decay)
        self.scheduler.step()
        self.history.append({"epoch": epoch, "probabilities": self.supernet.op_probabilities()})
        self.arch = self.objective.choose(self.supernet)
        return {"phase": "search" if searching else "warmup", "temperature": f"{self.temperature:.4f}", "lr": lr,
                "weight_loss": weight_loss, "weight_mse": weight_mse, "theta_loss": theta_loss,
                "expected_cost": expected_cost, "arch_cost": self.table.predict(self.arch),
                "target": args.target_latency if args.target_latency is not None else "",
                "arch": ",".join(self.arch),
                "theta_rank_diff": f"{max_rank_difference(self.supernet.arch_parameters(), self.runtime):.3g}"}

    def _train_weights(self, epoch, temperature):
        """One pass of the weights over their split: a sampled path a step, or the sandwich rule."""
        args = self.args
        if args.sandwich:
            sandwich = Sandwich(self.table.costliest_arch(), self.table.cheapest_arch(), args.inplace_distill)
            return train_weights_sandwich(self.model, self.aux_model, self.weight_loader, self.optimizer, self.runtime,
                                          self.loss_fn, sandwich, args.sample, temperature, self.fast)
        return train_weights(lambda x: self.model(x, mode=args.sample, temperature=temperature, arch_grad=False)[:2],
                             self.aux_model, self.weight_loader, self.optimizer, self.runtime, self.loss_fn, self.fast,
                             desc=f"epoch {epoch} weights")

    def validate(self):
        self.supernet.eval()
        return evaluate(lambda x: self.supernet(x, arch=self.arch)[0], self.eval_loader, self.runtime, self.fast,
                        desc="validate")

    def counts_for_best(self, epoch):
        # During warm-up theta is uniform and its argmax meaningless: "best" counts search epochs only.
        return epoch >= self.args.warmup_epochs or self.args.warmup_epochs == self.args.epochs

    def state(self):
        return {"supernet": self.supernet.state_dict(), "aux": self.aux.state_dict(),
                "optimizer": self.optimizer.state_dict(), "theta_optimizer": self.theta_optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(), "temperature": self.temperature, "arch": self.arch,
                "search_space": search_space_to_list(self.supernet.search_space), "num_points": self.num_points,
                "theta_history": self.history, "lut_meta": self.table.meta, "lut": str(self.args.lut),
                "objective": self.objective.describe(), "target_latency": self.args.target_latency,
                "fastpath": self.fast.name}

    def on_best(self, epoch, out_dir):
        write_search_arch(Path(out_dir) / "arch.json", self.supernet, self.arch, self.table, epoch, self.args)

    def plot(self, out_dir):
        plot_theta(self.history, self.supernet, Path(out_dir) / "theta.png")

    def summary(self):
        path = self.out_dir / "arch.json"
        if not path.is_file():
            return "no search epoch yet, so no arch.json"
        arch, _ = read_arch(path)
        return (f"chose {','.join(arch)} ({self.table.predict(arch):.4g} {self.table.unit} predicted"
                f"{'' if self.args.target_latency is None else f', budget {self.args.target_latency:g}'}) "
                f"in {path}")

    def describe(self, epoch, row):
        theta = "theta frozen (warm-up)" if math.isnan(row["theta_loss"]) else \
            f"theta loss {row['theta_loss']:.5f} cost {row['expected_cost']:.4g}"
        weights = "weights frozen" if math.isnan(row["weight_loss"]) else f"loss {row['weight_loss']:.5f}"
        return (f"{row['phase']} T={self.temperature:.3f} {weights} | {theta} | arch {row['arch']} "
                f"({row['arch_cost']:.4g} {self.table.unit}"
                f"{'' if self.args.target_latency is None else f' <= {self.args.target_latency:g}'})")


def write_search_arch(path, supernet, arch, table, epoch, args):
    """The search's arch.json: the choice, its predicted cost and the op probabilities behind it."""
    write_arch(path, arch, supernet.search_space, predicted_cost=table.predict(arch), unit=table.unit,
               lut=str(args.lut), lut_device=table.meta.get("device"), target_latency=args.target_latency,
               epoch=epoch, num_points=supernet.num_points,
               op_probabilities={f"layer{i}": dict(zip(layer.op_names, probs)) for i, (layer, probs) in
                                 enumerate(zip(supernet.layers, supernet.op_probabilities()))})


def plot_theta(history, supernet, path):
    """Per-layer op probabilities over epochs: where the search is heading, at a glance."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = supernet.layers
    fig, axes = plt.subplots(1, len(layers), figsize=(4 * len(layers), 3.6), squeeze=False, sharey=True)
    epochs = [h["epoch"] for h in history]
    for i, (ax, layer) in enumerate(zip(axes[0], layers)):
        for j, name in enumerate(layer.op_names):
            ax.plot(epochs, [h["probabilities"][i][j] for h in history], label=name)
        ax.set_title(f"layer {i}")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("softmax(theta)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
