"""The fine-tune (or training from scratch) of one landmark network as a stage of the epoch skeleton: a
searched subnet from the supernet's weights or a hand-designed network, with optional weight averaging and
distillation.
"""

from fbnet_pfld.archfile import read_arch
from fbnet_pfld.blocks import SEARCH_SPACE
from fbnet_pfld.checkpoints import check_matches, load_landmark_model, load_state_dict, load_supernet
from fbnet_pfld.dataset import set_loader_epoch
from fbnet_pfld.distributed import wrap_model
from fbnet_pfld.engine import StepExtras, evaluate, train_weights
from fbnet_pfld.errors import CheckpointError, DataError, SearchSpaceError
from fbnet_pfld.models import Subnet, auxiliary_net_for, build_landmark_network, check_arch
from fbnet_pfld.recipe import WeightAverage
from fbnet_pfld.space import search_space_to_list
from fbnet_pfld.stages import LandmarkStage


class RetrainStage(LandmarkStage):
    title = "retrain"
    log_fields = ("lr", "loss", "mse")
    plot_panels = {"loss": ["loss", "mse"], "NME": ["nme_io", "nme_box"]}

    def __init__(self, args, runtime, out_dir):
        self.title = f"retrain {args.model}"
        self._setup(args, runtime, out_dir)
        self.loader = self._loader(range(len(self.train_set)), args.seed)
        network, aux, self.arch = build_models(args, self.num_points)
        self.network, self.aux = network.to(runtime.device), aux.to(runtime.device)
        self._optimise(list(self.network.parameters()) + list(self.aux.parameters()))
        self._choose_fastpath(self.network, self.aux)
        self.average = WeightAverage(self.network, args.ema) if args.ema > 0 else None
        self.teacher = load_teacher(args.teacher, self.num_points, runtime.device, self.fast) \
            if args.teacher else None
        if runtime.is_main:
            origin = "from scratch" if args.from_scratch else f"weights from {args.supernet}"
            what = args.model if self.arch is None else f"subnet {','.join(self.arch)} ({origin})"
            recipe = (f"{args.optimizer} lr {args.lr:g} (warm-up {args.lr_warmup}, cosine), batch {args.batch_size}"
                      f"{f', EMA {args.ema:g}' if self.average else ''}"
                      f"{f', teacher {args.teacher} x{args.distill_weight:g}' if self.teacher else ''}")
            self.log.info(f"retrain {what}: {len(self.train_set)} train / {len(self.test_set)} test faces of "
                          f"{args.data_root}, {self.num_points} points, loss {args.loss}, {recipe}, "
                          f"{self.fast.describe()}, {runtime.world_size} process(es) on {runtime.device}")

    def check_resume(self, state, path):
        check_matches(state, path, self.num_points, arch=self.arch or None, model_type=self.args.model,
                      search_space=self.network.search_space if self.arch else None)
        if bool(state.get("average")) != bool(self.average):
            raise CheckpointError(f"{path}: was trained {'with' if state.get('average') else 'without'} --ema; "
                                  "resume with the same setting")

    def load_state(self, state):
        load_state_dict(self.network, state.get("train_model", state["model"]), self.args.resume)
        load_state_dict(self.aux, state["aux"], self.args.resume)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.average:
            self.average.load_state_dict(state["average"], state["model"])

    def wrap(self, runtime):
        self.model, self.aux_model = wrap_model(self.network, runtime), wrap_model(self.aux, runtime)

    def train_epoch(self, epoch):
        set_loader_epoch(self.loader, epoch)
        self.model.train()
        self.aux_model.train()
        lr = self.optimizer.param_groups[0]["lr"]
        extras = StepExtras(self.teacher, self.args.distill_weight, self.average, self.network)
        loss, mse = train_weights(self.model, self.aux_model, self.loader, self.optimizer, self.runtime,
                                  self.loss_fn, self.fast, desc=f"epoch {epoch}", extras=extras)
        self.scheduler.step()
        return {"lr": lr, "loss": loss, "mse": mse}

    @property
    def evaluated(self):
        """The network that is validated, saved as the model and exported: the weight average when on."""
        return self.average.module if self.average else self.network

    def validate(self):
        self.network.eval()
        return evaluate(lambda x: self.evaluated(x)[0], self.eval_loader, self.runtime, self.fast)

    def state(self):
        averaged = {"train_model": self.network.state_dict(), "average": self.average.state_dict()} \
            if self.average else {}
        return {"model": self.evaluated.state_dict(), "aux": self.aux.state_dict(), **averaged,
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "model_type": self.args.model, "arch": self.arch, "num_points": self.num_points,
                "search_space": search_space_to_list(self.network.search_space) if self.arch else None,
                "loss": self.args.loss, "fastpath": self.fast.name}

    def describe(self, epoch, row):
        return f"lr {row['lr']:.2e} loss {row['loss']:.5f} mse {row['mse']:.5f}"

    def summary(self):
        return f"trained {self.args.model}{'' if self.arch is None else ' ' + ','.join(self.arch)}"


def load_teacher(path, num_points, device, fast):
    """A trained landmark network to distil from, frozen; refused when it predicts another point count."""
    teacher, state = load_landmark_model(path)
    if state["num_points"] != num_points:
        raise CheckpointError(f"{path}: the teacher predicts {state['num_points']} points, the data has {num_points}")
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return fast.prepare(teacher.to(device).eval())


def build_models(args, num_points):
    """(network, auxiliary net, arch or None), initialised from the supernet unless told otherwise."""
    if args.model != "subnet":
        network = build_landmark_network(args.model, num_points)
        return network, auxiliary_net_for(network), None
    supernet, aux, state = load_supernet(args.supernet) if args.supernet else (None, None, None)
    arch, search_space = read_arch(args.arch) if args.arch else (state["arch"], None)
    if state is not None:
        check_matches(state, args.supernet, num_points)
        if search_space not in (None, supernet.search_space):
            raise CheckpointError(f"{args.arch}: made in another search space than {args.supernet}'s")
        search_space = supernet.search_space
    try:
        check_arch(arch, search_space or SEARCH_SPACE)
    except SearchSpaceError as error:
        raise DataError(f"{args.arch or args.supernet}: {error}") from None
    if args.from_scratch:
        network = build_landmark_network("subnet", num_points, arch, search_space)
        return network, auxiliary_net_for(network), arch
    return Subnet.from_supernet(supernet, arch), aux, arch
