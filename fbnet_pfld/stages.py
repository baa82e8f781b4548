"""What the two training stages share as additions to the epoch skeleton (engine.run_epochs): the data, loss,
fast path and optimiser set-up. The FBNet search is search_stage.py's, the fine-tune of one landmark network
retrain_stage.py's.
"""

from pathlib import Path

from fbnet_pfld.checkpoints import load_checkpoint
from fbnet_pfld.crops import DEFAULT_JITTER
from fbnet_pfld.dataset import load_datasets, make_loader
from fbnet_pfld.detector import Calibration
from fbnet_pfld.engine import Stage, run_epochs
from fbnet_pfld.fastpath import PATHS, choose_fastpath, landmark_step_factory, set_threads
from fbnet_pfld.losses import get_loss
from fbnet_pfld.recipe import make_optimizer, make_scheduler
from fbnet_pfld.runfolder import claim_run_folder
from fbnet_pfld.seeding import seed_everything
from fbnet_pfld.sources import parse_source_weights, sample_weights
from fbnet_pfld.utils import get_logger


class LandmarkStage(Stage):
    """Data, loss, fast path and optimiser set-up that both stages share."""

    def _setup(self, args, runtime, out_dir):
        self.args, self.runtime, self.out_dir = args, runtime, Path(out_dir)
        aside = claim_run_folder(self.out_dir, args.resume, args.overwrite, runtime.is_main)
        self.log = get_logger(self.title, self.out_dir / "train.log" if runtime.is_main else None)
        if aside:
            self.log.info(f"--overwrite: the run that was in {self.out_dir} is now in {aside}")
        seed_everything(args.seed)
        set_threads(args, runtime.device)
        self.loss_fn = get_loss(args.loss)
        jitter = Calibration.load(args.jitter).jitter if args.jitter else DEFAULT_JITTER
        jitter = jitter._replace(**{k: v * args.augment_scale for k, v in jitter._asdict().items()})
        self.train_set, self.test_set = load_datasets(args.data_root, args.num_points, args.seed, jitter,
                                                      args.occlusion)
        self.num_points = self.train_set.num_points
        self.eval_loader = make_loader(self.test_set, batch_size=args.batch_size, workers=args.workers)
        self.sample_weights = None if not args.source_weights else sample_weights(
            self.train_set.samples, parse_source_weights(args.source_weights), self.train_set.list_path)

    def _loader(self, indices, seed):
        return make_loader(self.train_set, indices, batch_size=self.args.batch_size, shuffle=True, seed=seed,
                           rank=self.runtime.rank, world_size=self.runtime.world_size, workers=self.args.workers,
                           drop_last=True, weights=self.sample_weights, draws=self.args.epoch_size)

    def _optimise(self, parameters):
        args = self.args
        self.optimizer = make_optimizer(args.optimizer, parameters, args.lr, args.weight_decay)
        self.scheduler = make_scheduler(self.optimizer, args.epochs, args.lr_warmup)

    def _choose_fastpath(self, network, aux, forward=None):
        """Time the candidate paths on this network (or read the cached choice), then prepare both nets."""
        log = self.log.info if self.runtime.is_main else lambda _: None
        resumed = load_checkpoint(self.args.resume).get("fastpath") if self.args.resume else None
        if resumed in PATHS:  # a resumed run continues on its own path, so it continues exactly
            asked = self.args.fastpath not in ("auto", resumed)
            log(f"fast path {resumed} (the resumed run's)" + (f"; warning: --fastpath {self.args.fastpath} not "
                                                             "taken, a resumed run keeps its path" if asked else ""))
            self.fast = PATHS[resumed]._replace(device_type=self.runtime.device.type)
        else:
            make_step = landmark_step_factory(network, aux, self.args.batch_size, self.num_points, forward)
            self.fast = choose_fastpath(self.args.fastpath, self.runtime.device, network, make_step,
                                        self.args.batch_size, log)
        self.fast.prepare(network)
        self.fast.prepare(aux)

    def run(self):
        return run_epochs(self, self.args, self.runtime, self.out_dir)
