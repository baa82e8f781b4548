"""The training recipe's levers in one place: optimiser, learning-rate schedule (linear warm-up, then
cosine), an exponential moving average of the weights, and distillation from a teacher network. Both
stages build their optimiser and schedule here; the fine-tune also uses the average and the teacher.
The defaults are the recipe chosen by time to accuracy (docs/training.md).
"""

import copy
import math

import torch

OPTIMIZERS = ("adam", "adamw", "sgd")
# The recipe chosen by time to accuracy (docs/training.md): AdamW at 4e-3 with decoupled weight decay,
# cosine decay, batch 64 for the fine-tune, occlusion on 30% of the training faces.
DEFAULT_LR = 4e-3
DEFAULT_OPTIMIZER = "adamw"
DEFAULT_WEIGHT_DECAY = {"adamw": 0.01, "adam": 1e-6, "sgd": 5e-5}  # each optimiser's usual scale
DEFAULT_OCCLUSION = 0.3


def make_optimizer(name, parameters, lr, weight_decay=None):
    """``weight_decay`` None: the optimiser's own default (DEFAULT_WEIGHT_DECAY)."""
    weight_decay = DEFAULT_WEIGHT_DECAY.get(name, 0.0) if weight_decay is None else weight_decay
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(parameters, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(parameters, lr=lr, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}")


class WarmupCosine:
    """Learning-rate factor of epoch e: linear steps up to 1 over ``warmup`` epochs, then cosine from 1 to 0
    at ``epochs``. A picklable object, so the scheduler's state_dict keeps it (exact resume)."""

    def __init__(self, epochs, warmup=0):
        self.epochs, self.warmup = epochs, min(warmup, epochs - 1)

    def __call__(self, epoch):
        if epoch < self.warmup:
            return (epoch + 1) / (self.warmup + 1)
        return 0.5 * (1 + math.cos(math.pi * (epoch - self.warmup) / max(1, self.epochs - self.warmup)))


def make_scheduler(optimizer, epochs, warmup=0):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(epochs, warmup))


class WeightAverage:
    """Exponential moving average of a network's weights (and a copy of its BatchNorm statistics), updated
    after every optimiser step; its decay ramps up as (1 + t) / (10 + t) so early steps are not frozen in."""

    def __init__(self, network, decay):
        self.decay, self.steps = decay, 0
        self.module = copy.deepcopy(network).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, network):
        self.steps += 1
        decay = min(self.decay, (1 + self.steps) / (10 + self.steps))
        for averaged, current in zip(self.module.state_dict().values(), network.state_dict().values()):
            if averaged.dtype.is_floating_point:
                averaged.lerp_(current.to(averaged.dtype), 1 - decay)
            else:
                averaged.copy_(current)

    def state_dict(self):
        """Decay and step count; the averaged weights are saved once, as the checkpoint's model."""
        return {"decay": self.decay, "steps": self.steps}

    def load_state_dict(self, state, weights):
        self.decay, self.steps = state["decay"], state["steps"]
        self.module.load_state_dict(weights)


def add_recipe_args(parser):
    group = parser.add_argument_group("recipe (defaults: the recipe chosen by time to accuracy)")
    group.add_argument("--lr", type=float, default=DEFAULT_LR, help="peak learning rate of the weights")
    group.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULT_OPTIMIZER,
                       help="sgd is Nesterov momentum 0.9")
    group.add_argument("--lr_warmup", type=int, default=0, help="epochs of linear learning-rate warm-up before "
                       "the cosine decay")
    group.add_argument("--weight_decay", type=float, help="default: 0.01 for adamw (decoupled), 1e-6 for adam, "
                       "5e-5 for sgd")
    group.add_argument("--ema", type=float, default=0.0, help="decay of an average of the weights that is "
                       "evaluated and saved as the model (0: off; e.g. 0.999)")
