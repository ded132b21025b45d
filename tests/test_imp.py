"""The IMP engine: pruning counts and positions, masks under training, rewinding, controls, resume, Z6."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from ltpipe.data import mnist
from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines import prune, train
from ltpipe.engines.models import ARCHITECTURES, build
from ltpipe.engines.prune import Pruner, prunable_layers, rewind, snapshot
from ltpipe.engines.train import seeded_init, train_epochs
from ltpipe.seeds import torch_generator
from ltpipe.studies.zhang2021.z6 import job as teacher_imp
from ltpipe.studies.zhang2021.z6.job import run_z6
from ltpipe.studies.zhang2021.z7 import imp as mnist_imp
from ltpipe.studies.zhang2021.z7 import job as z7_entry
from ltpipe.studies.zhang2021.z7.imp import run_imp
from ltpipe.tables import read_table

ARCH = "lenet-300-100"
LENET_WEIGHTS = ("1.weight", "3.weight", "5.weight")
LENET_SIZES = (784 * 300, 300 * 100, 100 * 10)
CFG = {
    "rounds": 3,
    "epochs": 1,
    "batch_size": 30,
    "optimizer": "adam",
    "lr": 1.2e-3,
    "weight_decay": 0.0,
    "rate": 0.2,
    "output_rate": 0.1,
    "scope": "layer",
    "rewind_iteration": 0,
}
Z6 = {
    "k": 3,
    "d": 20,
    "r_star": 4,
    "n_test": 50,
    "trials": 2,
    "rounds": 3,
    "max_iter": 200,
    "lam": 0.5,
    "eta": 0.5,
    "beta": 0.2,
    "tol": 1e-8,
    "rate": 0.2,
    "noise_level": 1e-3,
    "distance": "relative",
}


def write_idx(path, array) -> None:
    array = np.asarray(array, dtype=np.uint8)
    header = (0x0800 | array.ndim).to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.tobytes())


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    """200 training and 40 test random digits as MNIST IDX files."""
    root = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    for split, n in (("train", 200), ("test", 40)):
        write_idx(mnist.raw_dir(root) / mnist.FILES[f"{split}_images"], rng.integers(0, 256, (n, 28, 28)))
        write_idx(mnist.raw_dir(root) / mnist.FILES[f"{split}_labels"], rng.integers(0, 10, n))
    return root


@pytest.fixture(scope="module")
def data(mnist_root):
    """120 training, 30 validation and 40 test random digits through prepare_data."""
    out = prepare_data(mnist_root, 150, 0.2, seed=5)
    assert [len(out[k]) for k in ("y_train", "y_val", "y_test")] == [120, 30, 40]
    assert out["x_train"].shape == (120, 1, 28, 28) and out["x_train"].dtype == torch.float32
    return out


def tiny_net() -> nn.Module:
    """Two convolutions and two linear layers, all with biases; the input is (1, 8, 8)."""
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.Conv2d(4, 6, 3),
        nn.Flatten(),
        nn.Linear(96, 20),
        nn.ReLU(),
        nn.Linear(20, 10),
    )


def lenet(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build(ARCH)


def np_prune(weight: np.ndarray, mask: np.ndarray, rate: float) -> np.ndarray:
    """Independent magnitude pruning: drop the round(rate * alive) smallest |w| among the survivors."""
    w, m = np.abs(weight.ravel()), mask.ravel().astype(bool)
    alive = np.flatnonzero(m)
    order = alive[np.argsort(w[alive], kind="stable")]
    out = m.copy()
    out[order[: round(rate * len(alive))]] = False
    return out.reshape(mask.shape)


def layer_arrays(pruner: Pruner) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [m.weight.detach().numpy().copy() for m in pruner.layers], [
        m.weight_mask.numpy().copy() for m in pruner.layers
    ]


def perturb(pruner: Pruner, seed: int) -> None:
    """Rescale every weight by a random factor in [0.2, 1.8], so the magnitude order changes between rounds."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in pruner.layers:
            layer.weight.mul_(0.2 + 1.6 * torch.rand(layer.weight.shape, generator=gen))


class EntryRecorder:
    """Wraps ``train_epochs`` in mnist_imp: records the state dict at the start of each round; can fail a call."""

    def __init__(self, monkeypatch, fail_on: int | None = None):
        self.calls = 0
        self.entries: list[dict[str, torch.Tensor]] = []
        real = train.train_epochs

        def wrapped(model, data, cfg, **kwargs):
            self.calls += 1
            if self.calls == fail_on:
                raise RuntimeError("killed")
            self.entries.append({k: v.detach().clone() for k, v in model.state_dict().items()})
            return real(model, data, cfg, **kwargs)

        monkeypatch.setattr(mnist_imp, "train_epochs", wrapped)


def masks_of(entry: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    return [entry[f"{name}_mask"] for name in LENET_WEIGHTS]


# --- pruning counts and positions ----------------------------------------------------------------------------


def test_layer_pruning_counts_compound_and_remove_smallest_survivors():
    torch.manual_seed(3)
    model = tiny_net()
    pruner = Pruner(model, rate=0.2, output_rate=0.1, scope="layer")
    assert [type(m) for m in pruner.layers] == [nn.Conv2d, nn.Conv2d, nn.Linear, nn.Linear]
    assert [m.weight.numel() for m in pruner.layers] == [36, 216, 1920, 200]
    biases = [m.bias.detach().clone() for m in pruner.layers]
    # round 1: round(0.2 * 36) = 7, round(0.2 * 216) = 43, round(0.2 * 1920) = 384, output round(0.1 * 200) = 20
    # round 2: round(0.2 * 29) = 6, round(0.2 * 173) = 35, round(0.2 * 1536) = 307, output round(0.1 * 180) = 18
    expected_removed = [[7, 43, 384, 20], [6, 35, 307, 18]]
    rates = [0.2, 0.2, 0.2, 0.1]
    for rnd, removed in enumerate(expected_removed):
        if rnd:
            perturb(pruner, rnd)
        weights, masks = layer_arrays(pruner)
        pruner.prune("magnitude")
        new_w, new_m = layer_arrays(pruner)
        alive_before = [int(m.sum()) for m in masks]
        assert [a - int(m.sum()) for a, m in zip(alive_before, new_m, strict=True)] == removed
        assert removed == [round(r * a) for r, a in zip(rates, alive_before, strict=True)]
        for w, m, nw, nm, rate in zip(weights, masks, new_w, new_m, rates, strict=True):
            np.testing.assert_array_equal(nm.astype(bool), np_prune(w, m, rate))
            np.testing.assert_array_equal(nw, w * nm)  # survivors keep their values, the pruned are zero
            assert (nw[nm == 0] == 0).all()
            gone = (m == 1) & (nm == 0)
            assert np.abs(w[gone]).max() <= np.abs(w[nm == 1]).min()
        for layer, bias in zip(pruner.layers, biases, strict=True):
            assert torch.equal(layer.bias, bias)
    assert [int(m.weight_mask.sum()) for m in pruner.layers] == [23, 138, 1229, 162]
    assert pruner.remaining() == pytest.approx((23 + 138 + 1229 + 162) / (36 + 216 + 1920 + 200), abs=0)


def test_global_pruning_uses_one_threshold_over_hidden_layers():
    torch.manual_seed(4)
    model = tiny_net()
    pruner = Pruner(model, rate=0.2, output_rate=0.1, scope="global")
    for rnd in range(2):
        if rnd:
            perturb(pruner, 10 + rnd)
        weights, masks = layer_arrays(pruner)
        pruner.prune("magnitude")
        _, new_m = layer_arrays(pruner)
        hidden_w = np.concatenate([w.ravel() for w in weights[:-1]])
        hidden_m = np.concatenate([m.ravel() for m in masks[:-1]])
        expected = np_prune(hidden_w, hidden_m, 0.2)
        np.testing.assert_array_equal(np.concatenate([m.ravel() for m in new_m[:-1]]).astype(bool), expected)
        np.testing.assert_array_equal(new_m[-1].astype(bool), np_prune(weights[-1], masks[-1], 0.1))
        # one threshold: every removed hidden weight is no larger than every surviving hidden weight
        gone = hidden_m.astype(bool) & ~expected
        assert np.abs(hidden_w[gone]).max() <= np.abs(hidden_w[expected]).min()
        assert int(hidden_m.sum()) - int(expected.sum()) == round(0.2 * int(hidden_m.sum()))
    # default init scales with 1/sqrt(fan_in): the first convolution loses far less than 20 %, the wide linear more
    left = pruner.layer_remaining()
    assert left[0] > 0.8**2 + 0.1 and left[2] < 0.8**2
    assert int(pruner.layers[-1].weight_mask.sum()) == 200 - 20 - 18


def test_prune_count_rounds_like_python():
    alive = torch.tensor([0, 1, 2, 3, 5, 7, 12, 13, 29, 173, 1536, 47040])
    for rate in (0.1, 0.2, 0.25, 0.5):
        got = prune.prune_count(alive, rate).tolist()
        assert got == [round(rate * a) for a in alive.tolist()]


# --- masks under training ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "opt",
    [
        {"optimizer": "adam", "lr": 1e-2, "weight_decay": 1e-2},
        {"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 1e-2},
    ],
)
def test_pruned_weights_stay_zero_during_train_epochs(data, opt):
    model = lenet(1)
    pruner = Pruner(model, rate=0.5, output_rate=0.3)
    pruner.prune("magnitude")
    before = snapshot(model)
    cfg = {**CFG, **opt, "epochs": 2}
    steps = []
    train_epochs(model, data, cfg, generator=torch.Generator().manual_seed(0), pruner=pruner, on_step=steps.append)
    assert steps == list(range(1, 9))
    for layer, name in zip(pruner.layers, LENET_WEIGHTS, strict=True):
        dead = layer.weight_mask == 0
        assert dead.float().mean() > 0.25
        assert (layer.weight[dead] == 0).all()
        assert (layer.weight.grad[dead] == 0).all()
        assert layer.weight.grad[~dead].abs().max() > 0
        assert (layer.weight[~dead] != before[name][~dead]).float().mean() > 0.3


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_pruned_weights_stay_zero_when_optimiser_state_would_move_them(data, opt):
    model = lenet(2)
    if opt == "adam":
        optim = torch.optim.Adam(model.parameters(), lr=1e-2)
    else:
        optim = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x, y = data["x_train"][:30], data["y_train"][:30]

    def step():
        optim.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optim.step()

    for _ in range(3):
        step()  # dense steps: the optimiser holds momentum for every weight
    pruner = Pruner(model, rate=0.5, output_rate=0.3)
    pruner.prune("magnitude")
    first = pruner.layers[0]
    dead = first.weight_mask == 0
    key = "exp_avg" if opt == "adam" else "momentum_buffer"
    moving = dead & (optim.state[first.weight][key] != 0)
    assert moving.sum() > 0.5 * dead.sum()
    for _ in range(3):
        step()
        assert (first.weight[moving] != 0).float().mean() > 0.9  # the stale state moved them...
        assert (first.weight.grad[dead] == 0).all()  # ...not the gradient
        pruner.apply()
        for layer in pruner.layers:
            assert (layer.weight[layer.weight_mask == 0] == 0).all()


def test_negative_survivors_keep_training(data):
    model = lenet(5)
    pruner = Pruner(model, rate=0.2, output_rate=0.1)
    pruner.prune("magnitude")
    before = snapshot(model)
    train_epochs(model, data, CFG, generator=torch.Generator().manual_seed(1), pruner=pruner)
    for layer, name in zip(pruner.layers, LENET_WEIGHTS, strict=True):
        alive = layer.weight_mask == 1
        changed = layer.weight != before[name]
        neg, pos = alive & (before[name] < 0), alive & (before[name] > 0)
        assert changed[neg].float().mean() > 0.5
        assert changed[neg].float().mean() > 0.8 * changed[pos].float().mean()
        assert (layer.weight[neg] > 0).any() or (layer.weight[neg] != before[name][neg]).any()


def test_negative_survivors_keep_training_in_later_imp_rounds(data, monkeypatch, tmp_path):
    rec = EntryRecorder(monkeypatch)
    run_imp({**CFG, "rounds": 2}, data, arch=ARCH, mode="imp", seed=9, checkpoint_dir=tmp_path)
    start = rec.entries[1]
    trained = torch.load(tmp_path / "round_0001.pt", weights_only=True)["state"]["trained"]
    for name in LENET_WEIGHTS:
        alive = start[f"{name}_mask"] == 1
        neg = alive & (start[name] < 0)
        assert neg.sum() > 0.3 * alive.sum()
        assert (trained[name][neg] != start[name][neg]).float().mean() > 0.5
        assert (trained[name][~alive] == 0).all()


# --- rewinding -----------------------------------------------------------------------------------------------


def test_rewind_restores_survivors_and_zeros_pruned(data):
    model = lenet(6)
    pruner = Pruner(model, rate=0.2, output_rate=0.1)
    point = snapshot(model)
    train_epochs(model, data, CFG, generator=torch.Generator().manual_seed(2), pruner=pruner)
    trained = snapshot(model)
    pruner.prune("magnitude")
    rewind(model, point, pruner)
    for name, p in model.named_parameters():
        assert not torch.equal(trained[name], point[name])
        if name.endswith("weight"):
            mask = dict(model.named_buffers())[f"{name}_mask"].bool()
            assert torch.equal(p[mask], point[name][mask])
            assert (p[~mask] == 0).all()
            assert (~mask).sum() > 0
        else:
            assert torch.equal(p, point[name])


def test_run_imp_rewinds_to_initialisation(data, monkeypatch):
    rec = EntryRecorder(monkeypatch)
    run_imp(CFG, data, arch=ARCH, mode="imp", seed=11)
    assert rec.calls == 3
    init = seeded_init(lambda: build(ARCH), 11, "original").state_dict()
    r0 = rec.entries[0]
    for name, t in init.items():
        assert torch.equal(r0[name], t)
    for rnd in (1, 2):
        entry = rec.entries[rnd]
        for name in init:
            if name in LENET_WEIGHTS:
                assert torch.equal(entry[name], init[name] * entry[f"{name}_mask"])
            else:
                assert torch.equal(entry[name], init[name])
        # IMP's masks keep the largest trained weights: round 1's mask is nested in round 0's (all ones)
        if rnd == 2:
            for old, new in zip(masks_of(rec.entries[1]), masks_of(entry), strict=True):
                assert ((new == 1) <= (old == 1)).all() and new.sum() < old.sum()


def test_run_imp_rewinds_to_iteration_k(data, monkeypatch):
    cfg = {**CFG, "rounds": 2, "rewind_iteration": 2}
    rec = EntryRecorder(monkeypatch)
    run_imp(cfg, data, arch=ARCH, mode="imp", seed=12)
    # recompute round 0 independently and keep the weights after its second step
    model = seeded_init(lambda: build(ARCH), 12, "original")
    pruner = Pruner(model, rate=0.2, output_rate=0.1)
    init = snapshot(model)
    kept = {}

    def on_step(step):
        if step == 2:
            kept.update(snapshot(model))

    train_epochs(model, data, cfg, generator=torch_generator(12, "batches", 0), pruner=pruner, on_step=on_step)
    entry = rec.entries[1]
    for name, value in kept.items():
        expected = value * entry[f"{name}_mask"] if name in LENET_WEIGHTS else value
        assert torch.equal(entry[name], expected)
        assert not torch.equal(entry[name], init[name] * entry.get(f"{name}_mask", 1))


def test_rewind_iteration_beyond_round_zero_is_refused(data):
    with pytest.raises(ValueError, match="rewind_iteration"):
        run_imp({**CFG, "rounds": 1, "rewind_iteration": 5}, data, arch=ARCH, mode="imp", seed=1)


# --- controls ------------------------------------------------------------------------------------------------


def run_recorded(monkeypatch, data, mode: str, seed: int = 13, masks=None):
    rec = EntryRecorder(monkeypatch)
    _, table, round_masks = run_imp(CFG, data, arch=ARCH, mode=mode, seed=seed, masks=masks)
    for entry, recorded in zip(rec.entries, round_masks, strict=True):  # the masks returned are those trained
        assert list(recorded) == list(LENET_WEIGHTS) and all(m.dtype == torch.bool for m in recorded.values())
        for name, mask in recorded.items():
            assert torch.equal(mask, entry[f"{name}_mask"].bool())
    return rec.entries, table, round_masks


# after two prunings: 235200 - 47040 - 37632, 30000 - 6000 - 4800, 1000 - 100 - 90
ALIVE = [[235200, 30000, 1000], [188160, 24000, 900], [150528, 19200, 810]]


def check_counts(entries, table) -> None:
    assert table["remaining"].tolist() == [sum(a) / sum(LENET_SIZES) for a in ALIVE]
    for rnd in range(3):
        assert [int(m.sum()) for m in masks_of(entries[rnd])] == ALIVE[rnd]
        expected = [a / s for a, s in zip(ALIVE[rnd], LENET_SIZES, strict=True)]
        assert table["layer_remaining"][rnd] == pytest.approx(expected, rel=1e-6, abs=0)


def test_random_control_prunes_imp_counts_at_other_positions(data, monkeypatch):
    imp_entries, imp_table, _ = run_recorded(monkeypatch, data, "imp")
    rnd_entries, rnd_table, _ = run_recorded(monkeypatch, data, "random")
    check_counts(imp_entries, imp_table)
    check_counts(rnd_entries, rnd_table)
    init = seeded_init(lambda: build(ARCH), 13, "original").state_dict()
    for rnd in (1, 2):
        for a, b in zip(masks_of(imp_entries[rnd]), masks_of(rnd_entries[rnd]), strict=True):
            assert int(a.sum()) == int(b.sum())
            assert (a != b).float().mean() > 0.05
        entry = rnd_entries[rnd]
        for name in LENET_WEIGHTS:  # random pruning rewinds like IMP
            assert torch.equal(entry[name], init[name] * entry[f"{name}_mask"])
    # the random masks ignore magnitude: pruned and kept initial weights have the same typical size
    entry = rnd_entries[1]
    w, m = init["1.weight"], entry["1.weight_mask"].bool()
    assert float(w[~m].abs().mean()) == pytest.approx(float(w[m].abs().mean()), rel=0.05)


def test_reinit_control_trains_imp_masks_from_a_fresh_initialisation(data, monkeypatch):
    imp_entries, imp_table, imp_masks = run_recorded(monkeypatch, data, "imp")
    # the reinit run is handed IMP's masks with IMP's seed: the masks must come from IMP, not from pruning
    entries, table, masks = run_recorded(monkeypatch, data, "reinit", masks=imp_masks)
    check_counts(entries, table)
    assert table["remaining"].tolist() == imp_table["remaining"].tolist()
    init = seeded_init(lambda: build(ARCH), 13, "original").state_dict()
    for rnd in range(3):
        for name in LENET_WEIGHTS:
            assert torch.equal(masks[rnd][name], imp_masks[rnd][name])
            assert torch.equal(entries[rnd][f"{name}_mask"], imp_entries[rnd][f"{name}_mask"])
        fresh = seeded_init(lambda: build(ARCH), 13, "reinit", rnd).state_dict()
        for name, value in fresh.items():
            entry = entries[rnd][name]
            if name in LENET_WEIGHTS:
                alive = imp_masks[rnd][name]
                assert torch.equal(entry, value * alive)  # a fresh draw, masked by IMP's mask
                assert (entry[alive] != init[name][alive]).float().mean() > 0.99  # not IMP's initialisation
                assert (entry[~alive] == 0).all()
                assert float(entry[alive].std()) == pytest.approx(float(init[name].std()), rel=0.2)
            else:
                assert torch.equal(entry, value) and not torch.equal(entry, init[name])
    for name in LENET_WEIGHTS:  # a fresh draw each round
        assert not torch.equal(entries[1][name][imp_masks[2][name]], entries[2][name][imp_masks[2][name]])


def test_reinit_control_never_prunes_itself(data, monkeypatch):
    # masks that magnitude pruning would never produce (the largest initial weights removed) are used as given
    _, _, imp_masks = run_recorded(monkeypatch, data, "imp")
    odd = [{name: ~m if k else m for name, m in rm.items()} for k, rm in enumerate(imp_masks)]
    _, _, masks = run_recorded(monkeypatch, data, "reinit", masks=odd)
    for k in range(3):
        assert all(torch.equal(masks[k][n], odd[k][n]) for n in LENET_WEIGHTS)
    with pytest.raises(ValueError, match="IMP's masks"):
        run_imp(CFG, data, arch=ARCH, mode="reinit", seed=13)
    with pytest.raises(ValueError, match="IMP's masks"):
        run_imp(CFG, data, arch=ARCH, mode="reinit", seed=13, masks=imp_masks[:2])


def z7_job(root, out, modes, cfg, *extra):
    files = [str(mnist.raw_dir(root) / name) for name in mnist.FILES.values()]
    z7_entry.z7_main(
        [
            "--config",
            json.dumps(cfg),
            "--seed",
            "3",
            "--mnist",
            *files,
            "--arch",
            ARCH,
            "--modes",
            *modes,
            "--n-samples",
            "150",
            "--device",
            "cpu",
            *extra,
            "--epochs-out",
            str(out / "epochs.parquet"),
            "--rounds-out",
            str(out / "rounds.parquet"),
            "--masks-out",
            str(out / "masks.pt"),
        ]
    )
    return (
        read_table(out / "epochs.parquet"),
        read_table(out / "rounds.parquet"),
        torch.load(out / "masks.pt", weights_only=True),
    )


def test_z7_job_trains_every_run_of_its_n_and_reinit_takes_the_imp_masks(mnist_root, tmp_path):
    cfg = {**CFG, "trials": 2, "val_fraction": 0.2}
    epochs, rounds, saved = z7_job(mnist_root, tmp_path, ["imp", "random", "reinit"], cfg)
    assert (saved["arch"], saved["n_samples"], saved["seed"], saved["config"]) == (ARCH, 150, 3, cfg)
    imp, re = saved["modes"]["imp"], saved["modes"]["reinit"]
    assert sorted(saved["modes"]) == ["imp", "random", "reinit"]
    assert len(imp) == 2 and all(len(t) == 3 for t in imp)
    assert not torch.equal(imp[0][1]["1.weight"], imp[1][1]["1.weight"])  # trials differ
    for t in range(2):
        for k in range(3):
            assert all(torch.equal(re[t][k][n], imp[t][k][n]) for n in LENET_WEIGHTS)
    assert list(rounds.columns[:5]) == ["arch", "mode", "n_samples", "trial", "seed"]
    assert rounds.groupby("mode")["trial"].nunique().to_dict() == {"imp": 2, "random": 2, "reinit": 2}
    assert len(epochs) == 3 * 2 * 3 and (epochs["n_samples"] == 150).all()
    per_mode = rounds.set_index(["trial", "round"]).groupby("mode")["remaining"]
    assert per_mode.get_group("reinit").equals(per_mode.get_group("imp"))
    # the controls share IMP's seed per trial (same data, initialisation and batches): run one alone and compare
    seeds = rounds.groupby("trial")["seed"].nunique()
    assert (seeds == 1).all()
    data = prepare_data(mnist_root, 150, 0.2, z7_entry.derive_seed(3, "zhang2021", "z7", "data", 150, 1))
    seed = int(rounds.loc[rounds["trial"] == 1, "seed"].iloc[0])
    _, alone, _ = run_imp(cfg, data, arch=ARCH, mode="random", seed=seed)
    mine = rounds[(rounds["mode"] == "random") & (rounds["trial"] == 1)]
    for column in ("remaining", "test_acc", "val_acc", "test_acc_at_best_val"):
        assert mine[column].tolist() == alone[column].tolist()


def test_z7_job_with_reinit_alone_trains_imp_for_its_masks_and_writes_reinit_rows(mnist_root, tmp_path):
    cfg = {**CFG, "trials": 1, "val_fraction": 0.2}
    epochs, rounds, saved = z7_job(mnist_root, tmp_path, ["reinit"], cfg)
    assert set(rounds["mode"]) == {"reinit"} and set(epochs["mode"]) == {"reinit"}
    assert sorted(saved["modes"]) == ["imp", "reinit"]
    with pytest.raises(SystemExit):
        z7_job(mnist_root, tmp_path, ["reinit", "reinit"], cfg)


# --- resume and determinism ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["imp", "reinit"])
def test_run_imp_resume_after_kill_equals_uninterrupted_run(data, monkeypatch, tmp_path, caplog, mode):
    given = run_imp(CFG, data, arch=ARCH, mode="imp", seed=20)[2] if mode == "reinit" else None
    kw = {"arch": ARCH, "mode": mode, "seed": 21, "ids": {"trial": 0}, "masks": given}
    epochs, rounds, masks = run_imp(CFG, data, **kw)
    assert len(rounds) == 3 and len(epochs) == 3
    ckpt = tmp_path / "ckpt"
    killed = EntryRecorder(monkeypatch, fail_on=3)
    with pytest.raises(RuntimeError, match="killed"):
        run_imp(CFG, data, checkpoint_dir=ckpt, **kw)
    assert killed.calls == 3
    assert sorted(p.name for p in ckpt.glob("round_*.pt")) == ["round_0001.pt"]
    resumed = EntryRecorder(monkeypatch)
    with caplog.at_level(logging.INFO, logger="ltpipe.engines.prune"):
        e2, r2, m2 = run_imp(CFG, data, checkpoint_dir=ckpt, **kw)
    assert resumed.calls == 1
    assert "resuming after round 1" in caplog.text
    pd.testing.assert_frame_equal(e2, epochs, check_exact=True)
    pd.testing.assert_frame_equal(r2, rounds, check_exact=True)
    assert all(torch.equal(a[n], b[n]) for a, b in zip(m2, masks, strict=True) for n in LENET_WEIGHTS)
    assert sorted(p.name for p in ckpt.glob("round_*.pt")) == ["round_0002.pt"]
    again = EntryRecorder(monkeypatch)
    _, r3, _ = run_imp(CFG, data, checkpoint_dir=ckpt, **kw)
    assert again.calls == 0
    pd.testing.assert_frame_equal(r3, rounds, check_exact=True)


def test_run_imp_is_deterministic_and_ignores_global_rng(data):
    torch.manual_seed(0)
    e1, r1, _ = run_imp(CFG, data, arch=ARCH, mode="random", seed=31)
    torch.manual_seed(1)
    e2, r2, _ = run_imp(CFG, data, arch=ARCH, mode="random", seed=31)
    pd.testing.assert_frame_equal(e1, e2, check_exact=True)
    pd.testing.assert_frame_equal(r1, r2, check_exact=True)
    e3, _, _ = run_imp(CFG, data, arch=ARCH, mode="random", seed=32)
    assert not e3["train_loss"].equals(e1["train_loss"])
    assert list(e1.columns) == ["round", "remaining", "epoch", "train_loss", "val_acc", "test_acc"]


# --- Z6: IMP with AGD on the sparse teacher ------------------------------------------------------------------


class AgdRecorder:
    def __init__(self, monkeypatch, fail_on: int | None = None):
        self.calls = 0
        self.masks: list[torch.Tensor] = []
        self.inits: list[torch.Tensor] = []
        self.results: list[torch.Tensor] = []
        real = teacher_imp.run_agd

        def wrapped(X, y, mask, W0, target, **kwargs):
            self.calls += 1
            if self.calls == fail_on:
                raise RuntimeError("killed")
            self.masks.append(mask.clone())
            self.inits.append(W0.clone())
            res = real(X, y, mask, W0, target, **kwargs)
            self.results.append(res.W.clone())
            return res

        monkeypatch.setattr(teacher_imp, "run_agd", wrapped)


def test_z6_counts_rewinds_and_prunes_smallest(monkeypatch):
    rec = AgdRecorder(monkeypatch)
    df = run_z6(Z6, 100, 3)
    assert rec.calls == 3
    assert len(df) == 6 and sorted(df["trial"].unique()) == [0, 1]
    # 60 weights per trial: round(0.2 * 60) = 12 removed, then round(0.2 * 48) = 10
    for rnd, alive in enumerate([60, 48, 38]):
        assert df.loc[df["round"] == rnd, "remaining"].tolist() == [alive / 60] * 2
        assert rec.masks[rnd].sum(dim=(1, 2)).tolist() == [alive] * 2
    W0 = rec.inits[0]
    assert (rec.masks[0] == 1).all()
    for rnd in (1, 2):
        assert torch.equal(rec.inits[rnd], W0 * rec.masks[rnd])  # rewound to W(0)
        for b in range(2):
            expected = np_prune(rec.results[rnd - 1][b].numpy(), rec.masks[rnd - 1][b].numpy(), 0.2)
            np.testing.assert_array_equal(rec.masks[rnd][b].numpy().astype(bool), expected)
    assert (df["test_error"] >= 0).all() and (df["train_error"] >= 0).all()
    assert ((df["teacher_kept"] >= 0) & (df["teacher_kept"] <= 1)).all()


def test_z6_first_round_converges_without_noise():
    df = run_z6({**Z6, "noise_level": 0.0, "max_iter": 2000}, 300, 3)
    first = df[df["round"] == 0]
    assert (first["rel_error"] < 1e-3).all()
    assert (first["test_error"] >= 0).all() and (first["test_error"] < 1e-8).all()
    assert (df["noise_level"] == 0.0).all()


def test_z6_resume_after_kill_equals_uninterrupted_run(monkeypatch, tmp_path, caplog):
    full = run_z6(Z6, 100, 4)
    ckpt = tmp_path / "z6"
    killed = AgdRecorder(monkeypatch, fail_on=3)
    with pytest.raises(RuntimeError, match="killed"):
        run_z6(Z6, 100, 4, checkpoint_dir=ckpt)
    assert killed.calls == 3
    assert sorted(p.name for p in ckpt.glob("round_*.pt")) == ["round_0001.pt"]
    resumed = AgdRecorder(monkeypatch)
    with caplog.at_level(logging.INFO, logger="ltpipe.engines.prune"):
        again = run_z6(Z6, 100, 4, checkpoint_dir=ckpt)
    assert resumed.calls == 1
    assert "resuming after round 1" in caplog.text
    pd.testing.assert_frame_equal(again, full, check_exact=True)


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_every_architecture_maps_digits_to_ten_logits_and_prunes_weights_only(arch):
    model = seeded_init(lambda: build(arch), 5, "arch")
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    pruner = Pruner(model, rate=0.2, output_rate=0.1)
    biases = {n: p.detach().clone() for n, p in model.named_parameters() if n.endswith("bias")}
    pruner.prune()
    layers = prunable_layers(model)
    assert all(float(m.weight_mask.mean()) < 1.0 for m in layers)
    for n, p in model.named_parameters():
        if n.endswith("bias"):
            assert torch.equal(p, biases[n])
