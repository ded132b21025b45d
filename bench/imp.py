"""Throughput of the project's IMP training loop against the reference code's loop, LeNet-5 on MNIST.

Both loops train the same once-pruned LeNet-5 (``ltpipe.models.build("lenet5")``,
20% of every hidden layer's and 10% of the output layer's weights removed by
magnitude; identical weights, pruned weights zero in both) with Adam (lr
1.2e-3, weight decay 1e-4, the reference's settings after its first round),
batch 60, for the same number of steps over the same training samples:

- project: :func:`ltpipe.imp.train_epochs` with a :class:`ltpipe.imp.Pruner`
  on the data dict of :func:`ltpipe.data.mnist_subsets.prepare_data` (normalised
  tensors in memory, batches sliced from a seeded permutation);
- reference: a faithful re-creation of ``train(model, train_loader, optimizer,
  criterion)`` in ``main.py`` of rahulvigneswaran/Lottery-Ticket-Hypothesis-in-Pytorch
  (the IMP code Zhang et al. 2021 used), called once per epoch as its ``main``
  does: a ``DataLoader(batch_size=60, shuffle=True, num_workers=0,
  drop_last=False)`` over ``torchvision.datasets.MNIST`` with
  ``ToTensor()`` and ``Normalize((0.1307,), (0.3081,))``, and after every
  backward pass, for every parameter named ``*weight*``, a round trip through
  numpy that zeroes the gradient where ``weight < EPS`` (EPS = 1e-6). That
  test freezes every negative weight as well as the pruned ones; it is the
  reference's behaviour and is kept as it is (here only the time matters).
  The dataset is cut to the project's samples by indexing its ``data`` and
  ``targets``, so each sample still goes through the reference's
  ``__getitem__`` (uint8 tensor -> PIL image -> ToTensor -> Normalize).

What makes the difference: per batch the reference builds 60 PIL images,
converts and normalises each one separately and collates them (about 3 ms
per step here), then copies every weight and gradient to numpy, runs
``np.where`` and wraps the result in a new gradient tensor (about 0.4 ms).
The project normalises the images once, slices each batch from one tensor,
and masks gradients with one multiply per layer (tens of microseconds). What
neither loop can avoid is LeNet-5's own forward, backward and Adam step, about
5 ms per step of 60 on one core (mostly the convolutions' backward and max
pooling in PyTorch's CPU kernels); it bounds the ratio near 2 on this model.
The line ``ms per step`` splits the times into these parts (each timed on its
own, so they add up only roughly).

Then k networks trained together (``--stacked``, default k = 1, 3, 6): the
Z7 jobs train the runs of one N as one program
(:class:`ltpipe.engines.stacked.StackedNet`: grouped channels-last
convolutions, one Adam over the stacked weights), each network with its own
once-pruned weights, masks and batch order. Their samples per second (all k
networks' samples) are set against the reference loop's, which trains them
one after another, so its rate does not depend on k:
``stacked_k<k>_samples_per_second:`` and ``ratio_k<k>:``. The first network
of each stack is checked against the project's own loop trained alone from
the same weights and batches (``max |w_stacked - w_alone|``: rounding of the
grouped convolutions, which Adam amplifies where gradients are near zero, as
on random digits).

``ratio: <project / reference samples per second>`` is the single loop's
figure; each figure is the median of ``--repeats`` timed runs (after a
warm-up of a few steps each; the loops rotate in order from one repeat to
the next). ``ratio_k<k>_per_repeat:`` lists each repeat's own ratio (the
stack's rate over the reference's in that repeat), the spread a shared
machine's noise gives the median.

    python bench/imp.py                         # synthetic MNIST-shaped data in a temporary folder
    python bench/imp.py --stacked 1 3 6 9       # also k = 9 (Z7's N with both controls: 3 trials x 3 modes)
    python bench/imp.py --root /path/to/data    # real data, torchvision layout <root>/MNIST/raw/
    python bench/imp.py --device cuda           # every loop on the GPU, as the workflow's CUDA jobs run

With ``--device cuda`` both loops train on the GPU: the reference as its
``main`` does there (the model on the GPU, each batch from the DataLoader
moved to it), the project's with its data held on the GPU; CUDA runs with the
deterministic settings of the workflow's jobs, and every timing waits for the
GPU to finish.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
import torchvision.datasets as datasets
import torchvision.transforms as transforms
from torch import nn

from ltpipe.config import deterministic_cuda, keep_freed_memory
from ltpipe.data import mnist
from ltpipe.data.mnist_subsets import prepare_data, stratified_indices
from ltpipe.engines.models import build
from ltpipe.engines.prune import Pruner
from ltpipe.engines.stacked import StackedNet, train_stacked
from ltpipe.engines.train import evaluate, train_epochs
from ltpipe.seeds import derive_seed

ARCH = "lenet5"
LR, WEIGHT_DECAY = 1.2e-3, 1e-4  # the reference's Adam after its first round
DEVICE = torch.device("cpu")  # --device: where every loop trains


def sync() -> None:
    """Wait for the GPU's queued work, so that a timing ends when the work does."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


# --- the reference's training function (main.py), as written there, on CPU ----------------------------------


def reference_train(model, train_loader, optimizer, criterion):
    EPS = 1e-6
    # the reference: torch.device("cuda" if torch.cuda.is_available() else "cpu"); here the bench's device, so that
    # a CPU run on a host with a GPU stays on the CPU
    device = DEVICE
    model.train()
    for batch_idx, (imgs, targets) in enumerate(train_loader):  # noqa: B007 (as in the reference)
        optimizer.zero_grad()
        imgs, targets = imgs.to(device), targets.to(device)
        output = model(imgs)
        train_loss = criterion(output, targets)
        train_loss.backward()

        # Freezing Pruned weights by making their gradients Zero
        for name, p in model.named_parameters():
            if "weight" in name:
                tensor = p.data.cpu().numpy()
                grad_tensor = p.grad.data.cpu().numpy()
                grad_tensor = np.where(tensor < EPS, 0, grad_tensor)
                p.grad.data = torch.from_numpy(grad_tensor).to(device)
        optimizer.step()
    return train_loss.item()


def reference_dataset(root: str | Path, idx: torch.Tensor) -> datasets.MNIST:
    """The reference's MNIST training set, reduced to the samples ``idx`` (its per-sample path unchanged)."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    ds = datasets.MNIST(str(root), train=True, download=False, transform=transform)
    ds.data, ds.targets = ds.data[idx], ds.targets[idx]
    return ds


def reference_loader(dataset, batch: int) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=0, drop_last=False)


# --- data and models -------------------------------------------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """``array`` (uint8) as an uncompressed IDX file."""
    array = np.asarray(array, dtype=np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.tobytes())


def write_synthetic(root: Path, n_train: int, n_test: int, seed: int = 0) -> None:
    """Random MNIST-shaped images and labels in torchvision's layout, ``root/MNIST/raw/``."""
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        write_idx(mnist.raw_dir(root) / mnist.FILES[f"{split}_images"], rng.integers(0, 256, (n, 28, 28)))
        write_idx(mnist.raw_dir(root) / mnist.FILES[f"{split}_labels"], rng.integers(0, 10, n))


def pruned_state(seed: int) -> dict[str, torch.Tensor]:
    """State dict (weights and masks) of a LeNet-5 pruned once by magnitude."""
    torch.manual_seed(seed)
    model = build(ARCH)
    pruner = Pruner(model, rate=0.2, output_rate=0.1)
    pruner.prune()
    return {k: v.clone() for k, v in model.state_dict().items()}


def project_model(state: dict[str, torch.Tensor]) -> tuple[nn.Module, Pruner]:
    model = build(ARCH)
    pruner = Pruner(model, rate=0.2, output_rate=0.1)
    model.load_state_dict(state)
    return model.to(DEVICE), pruner


def reference_model(state: dict[str, torch.Tensor]) -> nn.Module:
    model = build(ARCH)
    model.load_state_dict({k: v for k, v in state.items() if not k.endswith("weight_mask")})
    return model.to(DEVICE)  # the reference's main: model = LeNet5().to(device)


# --- the two timed runs ----------------------------------------------------------------------------------------


def run_project(state, data, cfg, seed) -> tuple[float, nn.Module]:
    model, pruner = project_model(state)
    gen = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    train_epochs(model, data, cfg, generator=gen, pruner=pruner)
    sync()
    return time.perf_counter() - t0, model


def run_stacked(states, data, cfg, seeds) -> tuple[float, list[nn.Module]]:
    """k networks (one per state) trained together on the same samples, each with its own batch order."""
    models = [project_model(state)[0] for state in states]
    net = StackedNet(models)
    rows = torch.zeros(len(states), dtype=torch.long)
    generators = [torch.Generator().manual_seed(seed) for seed in seeds]
    t0 = time.perf_counter()
    train_stacked(net, data["x_train"][None], data["y_train"][None], rows, cfg, generators=generators)
    sync()
    elapsed = time.perf_counter() - t0
    net.write_back(models)
    return elapsed, models


def run_reference(state, dataset, batch, epochs, seed) -> tuple[float, nn.Module]:
    model = reference_model(state)
    torch.manual_seed(seed)  # the loader shuffles from torch's global generator
    loader = reference_loader(dataset, batch)
    t0 = time.perf_counter()
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        reference_train(model, loader, optimizer, criterion)
    return time.perf_counter() - t0, model


def breakdown(state, data, dataset, batch: int, steps: int) -> dict[str, float]:
    """Milliseconds per step of the parts of the loops, each timed on its own for ``steps`` steps.

    ``compute``: forward, loss, backward and Adam step of the model on batches
    already in memory, with neither loop's masking (the work both loops share);
    ``reference_data``: drawing the batches from the reference's DataLoader;
    ``reference_masks``: the reference's numpy round trip of the gradients.
    """
    loader = reference_loader(dataset, batch)
    n = 0
    t0 = time.perf_counter()
    while n < steps:
        for imgs, targets in loader:
            imgs, targets = imgs.to(DEVICE), targets.to(DEVICE)  # the reference's copy to its device
            n += 1
            if n == steps:
                break
    sync()
    data_ms = 1000 * (time.perf_counter() - t0) / steps
    model = reference_model(state)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    criterion = nn.CrossEntropyLoss()
    x, y = data["x_train"], data["y_train"]
    compute = masks = 0.0
    for i in range(steps):
        lo = (i * batch) % (len(y) - batch + 1)
        imgs, targets = x[lo : lo + batch], y[lo : lo + batch]
        t0 = time.perf_counter()
        optimizer.zero_grad()
        criterion(model(imgs), targets).backward()
        sync()
        t1 = time.perf_counter()
        for name, p in model.named_parameters():
            if "weight" in name:
                tensor = p.data.cpu().numpy()
                grad_tensor = p.grad.data.cpu().numpy()
                grad_tensor = np.where(tensor < 1e-6, 0, grad_tensor)
                p.grad.data = torch.from_numpy(grad_tensor).to(DEVICE)
        sync()
        t2 = time.perf_counter()
        optimizer.step()
        sync()
        compute += (t1 - t0) + (time.perf_counter() - t2)
        masks += t2 - t1
    return {"compute": 1000 * compute / steps, "reference_data": data_ms, "reference_masks": 1000 * masks / steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", help="MNIST root (torchvision layout); default: synthetic data in a temporary folder")
    parser.add_argument("--steps", type=int, default=300, help="training steps per loop (whole epochs)")
    parser.add_argument("--samples", type=int, default=6000, help="training samples per epoch (a multiple of batch)")
    parser.add_argument("--batch", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps per loop")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads, for both loops (default 1, as a Z7 job runs; torch's own default is"
        " one per core, as the reference code runs when launched on its own)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="where every loop trains")
    parser.add_argument("--stacked", type=int, nargs="*", default=[1, 3, 6], help="networks trained together (k)")
    args = parser.parse_args()
    if args.samples % args.batch:
        parser.error(f"--samples {args.samples} is not a multiple of --batch {args.batch}")
    per_epoch = args.samples // args.batch
    if args.steps % per_epoch:
        parser.error(f"--steps {args.steps} is not a whole number of epochs of {per_epoch} steps")
    epochs = args.steps // per_epoch
    torch.set_num_threads(max(1, args.threads))
    global DEVICE
    if args.device == "cuda":
        if not torch.cuda.is_available():
            parser.error("--device cuda: no CUDA device is available here")
        deterministic_cuda()  # as the workflow's CUDA jobs run
    DEVICE = torch.device(args.device)
    kept = keep_freed_memory()  # as every job runs (ltpipe.config.start_job); process-wide, so for both loops

    with tempfile.TemporaryDirectory(prefix="bench-imp-") as tmp:
        root = args.root
        if root is None:
            root = Path(tmp) / "data"
            write_synthetic(root, n_train=args.samples, n_test=1000, seed=args.seed)
        print(
            f"machine: {platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__},"
            f" torchvision {torchvision.__version__}, numpy {np.__version__}"
        )
        if DEVICE.type == "cuda":
            print(f"device: {torch.cuda.get_device_name(DEVICE)} (CUDA {torch.version.cuda}), deterministic algorithms")
        print(f"allocator: freed memory {'kept in the process, as in a job' if kept else 'returned (not glibc)'}")
        print(f"data: {'synthetic (random digits)' if args.root is None else root}")

        # the project's data dict, and the same samples for the reference's dataset
        data_seed = derive_seed(args.seed, "bench", "imp", "data")
        data = prepare_data(root, args.samples, 0.0, data_seed)
        _, y_all = mnist.load(root, "train")
        idx = torch.as_tensor(stratified_indices(y_all, args.samples, derive_seed(data_seed, "subset")))
        dataset = reference_dataset(root, idx)
        ref_x = torch.stack([dataset[i][0] for i in range(len(dataset))])
        ref_y = torch.as_tensor([dataset[i][1] for i in range(len(dataset))])
        diff = float((ref_x - data["x_train"]).abs().max())
        if not torch.equal(ref_y, data["y_train"]) or diff > 1e-5:
            raise SystemExit(f"the two loops would not see the same samples (max |x diff| {diff:.1e})")
        print(f"samples: {args.samples} (the same in both loops, max |x_project - x_reference| = {diff:.1e})")
        data = {name: t.to(DEVICE) for name, t in data.items()}
        print(f"workload: {ARCH}, batch {args.batch}, {args.steps} steps ({epochs} epoch(s) of {per_epoch})")

        state = pruned_state(derive_seed(args.seed, "bench", "imp", "init"))
        layers = project_model(state)[1].layer_remaining()
        print("weights remaining per layer: " + ", ".join(f"{r:.3f}" for r in layers))
        cfg = {"optimizer": "adam", "lr": LR, "weight_decay": WEIGHT_DECAY, "batch_size": args.batch, "epochs": epochs}

        # warm-up: first-call costs (allocator, kernels, PIL, numpy) are not part of the figures
        n_warm = args.warmup * args.batch
        warm = {k: v[:n_warm] for k, v in data.items()}
        run_project(state, warm, {**cfg, "epochs": 1}, args.seed)
        run_reference(state, torch.utils.data.Subset(dataset, range(n_warm)), args.batch, 1, args.seed)
        states = [state] + [pruned_state(derive_seed(args.seed, "bench", "imp", "init", i)) for i in range(1, 16)]
        if max(args.stacked, default=0) > len(states):
            parser.error(f"--stacked takes k <= {len(states)}")
        for k in args.stacked:
            run_stacked(states[:k], warm, {**cfg, "epochs": 1}, range(k))

        n = args.steps * args.batch
        names = ["project", "reference"] + [f"stacked_k{k}" for k in args.stacked]
        rates: dict[str, list[float]] = {which: [] for which in names}
        models = {}
        for rep in range(args.repeats):
            seed = derive_seed(args.seed, "bench", "imp", "repeat", rep)
            for which in names[rep % len(names) :] + names[: rep % len(names)]:
                if which == "project":
                    t, models[which] = run_project(state, data, cfg, seed)
                elif which == "reference":
                    t, models[which] = run_reference(state, dataset, args.batch, epochs, seed)
                else:
                    k = int(which.removeprefix("stacked_k"))
                    seeds = [seed] + [derive_seed(seed, "stacked", i) for i in range(1, k)]
                    t, stack = run_stacked(states[:k], data, cfg, seeds)
                    models[which] = stack[0]
                    t /= k  # per network, so that n / t is the samples per second of all k
                rates[which].append(n / t)
            print(f"repeat {rep}: " + ", ".join(f"{w} {rates[w][-1]:.1f}" for w in names) + " samples/s")

        # both loops trained, and kept the pruned weights at zero
        for which, model in models.items():
            pruned_nonzero = sum(
                int(((state[f"{name}_mask"].to(p.device) == 0) & (p.detach() != 0)).sum())
                for name, p in model.named_parameters()
                if f"{name}_mask" in state
            )
            loss, acc = evaluate(model, data["x_train"], data["y_train"])
            print(f"{which}: train loss {loss:.4f}, accuracy {acc:.4f}, pruned weights not zero: {pruned_nonzero}")

        # a stack's first network trained from the project loop's weights and batches of the last repeat
        for which in names[2:]:
            pairs = zip(models[which].parameters(), models["project"].parameters(), strict=True)
            diff = max(float((a - b).detach().abs().max()) for a, b in pairs)
            print(f"{which}: max |w_stacked - w_alone| after {args.steps} steps: {diff:.1e}")

        runs = [breakdown(state, data, dataset, args.batch, args.steps) for _ in range(args.repeats)]
        parts = {k: statistics.median(r[k] for r in runs) for k in runs[0]}

    project, reference = statistics.median(rates["project"]), statistics.median(rates["reference"])
    step_ms = {"project": 1000 * args.batch / project, "reference": 1000 * args.batch / reference}
    print(
        f"ms per step: project {step_ms['project']:.2f}, reference {step_ms['reference']:.2f}; of which"
        f" compute (both) {parts['compute']:.2f}, reference data loading {parts['reference_data']:.2f},"
        f" reference numpy masks {parts['reference_masks']:.2f}"
    )
    print(f"project_samples_per_second: {project:.1f}")
    print(f"reference_samples_per_second: {reference:.1f}")
    for which in names[2:]:
        rate = statistics.median(rates[which])
        print(f"{which}_samples_per_second: {rate:.1f}")
    for which in names[2:]:
        print(f"ratio_{which.removeprefix('stacked_')}: {statistics.median(rates[which]) / reference:.2f}")
    print(f"ratio: {project / reference:.2f}")
    # each repeat's own ratio (the loops of one repeat run back to back): the spread that the machine's noise gives
    for which in names[2:]:
        paired = [s / r for s, r in zip(rates[which], rates["reference"], strict=True)]
        print(f"ratio_{which.removeprefix('stacked_')}_per_repeat: " + ", ".join(f"{q:.2f}" for q in paired))


if __name__ == "__main__":
    main()
