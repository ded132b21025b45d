"""Several IMP runs trained as one program (ltpipe.engines.stacked, z7.run_imp_group) against one by one."""

from __future__ import annotations

import logging
from collections import OrderedDict

import pandas as pd
import pytest
import torch
from conftest import write_tiny_mnist
from test_imp import CFG  # the tiny IMP settings
from torch import nn

from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.models import ARCHITECTURES, build
from ltpipe.engines.prune import Pruner
from ltpipe.engines.stacked import StackedNet, evaluate_stacked, train_stacked
from ltpipe.engines.train import evaluate, seeded_init, train_epochs
from ltpipe.studies.zhang2021.z7 import imp as z7
from ltpipe.studies.zhang2021.z7.imp import Member, run_imp, run_imp_group
from ltpipe.studies.zhang2021.z7.job import job_members

CONV_TOL = {"rtol": 1e-5, "atol": 1e-6}  # grouped convolutions sum in another order than one network's


@pytest.fixture(scope="module")
def mnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    write_tiny_mnist(root, n_train=200, n_test=40)
    return root


@pytest.fixture(scope="module")
def datasets(mnist_root):
    """Two trials' data (120 training, 30 validation, 40 shared test digits each)."""
    return [prepare_data(mnist_root, 150, 0.2, seed=5 + t) for t in range(2)]


def nets(arch: str, k: int, prune: bool = False) -> list[nn.Module]:
    models = [seeded_init(lambda: build(arch), 40 + i, "stack") for i in range(k)]
    if prune:
        for i, m in enumerate(models):
            Pruner(m, rate=0.3 + 0.1 * i, output_rate=0.2).prune("magnitude")
    return models


def inputs(k: int, b: int = 7) -> torch.Tensor:
    return torch.randn(k, b, 1, 28, 28, generator=torch.Generator().manual_seed(k))


@pytest.mark.parametrize("arch", sorted(a for a in ARCHITECTURES if a != "fc-784-500-10-nobias"))
def test_stacked_forward_and_gradients_are_each_networks_own(arch):
    models = nets(arch, 3, prune=True)
    net = StackedNet(models)
    x = inputs(3)
    y = torch.randint(0, 10, (3, 7), generator=torch.Generator().manual_seed(1))
    out = net(x)
    assert out.shape == (3, 7, 10)
    torch.stack([nn.functional.cross_entropy(out[i], y[i]) for i in range(3)]).sum().backward()
    net.mask_gradients()
    conv = any(isinstance(m, nn.Conv2d) for m in models[0])
    for i, m in enumerate(models):
        own = m(x[i])
        nn.functional.cross_entropy(own, y[i]).backward()
        for name, p in m.named_parameters():
            grad = p.grad * dict(m.named_buffers()).get(name + "_mask", torch.ones_like(p))
            if conv:
                torch.testing.assert_close(net.params[name].grad[i], grad, **CONV_TOL)
            else:  # fully connected: the same products as nn.Linear, bit for bit
                assert torch.equal(net.params[name].grad[i], grad)
        if conv:
            torch.testing.assert_close(out[i], own, **CONV_TOL)
        else:
            assert torch.equal(out[i], own)
    # a network's output does not depend on the others: change network 0's weights, the others' stay
    with torch.no_grad():
        for p in net.params.values():
            p[0].mul_(2)
    again = net(x)
    assert torch.equal(again[1:], out[1:].detach()) and not torch.equal(again[0], out[0].detach())


def test_stacked_masks_come_from_the_networks_and_pruned_weights_are_zero():
    models = nets("lenet5", 2, prune=True)
    net = StackedNet(models)
    assert net.prunable == ["0.weight", "3.weight", "7.weight", "9.weight", "11.weight"]
    for i, m in enumerate(models):
        buffers = dict(m.named_buffers())
        for name in net.prunable:
            assert torch.equal(net.masks[name][i], buffers[name + "_mask"])
            assert (net.params[name][i][net.masks[name][i] == 0] == 0).all()
    assert float(net.masks["0.weight"][0].mean()) != float(net.masks["0.weight"][1].mean())  # each its own
    # networks without masks get all-ones masks
    plain = StackedNet(nets("lenet5", 2))
    assert all(bool(m.all()) for m in plain.masks.values())


def test_stacked_refuses_what_it_cannot_stack():
    with pytest.raises(ValueError, match="BatchNorm"):
        StackedNet([nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2))])
    with pytest.raises(ValueError, match="one architecture"):
        StackedNet([build("lenet5"), build("lenet-300-100")])
    with pytest.raises(ValueError, match="at least one"):
        StackedNet([])
    with pytest.raises(ValueError, match="inputs for 2"):
        StackedNet(nets("lenet5", 3))(inputs(2))


def test_evaluate_stacked_equals_evaluate_per_network(datasets):
    models = nets("lenet-300-100", 3, prune=True)
    net = StackedNet(models)
    rows = torch.tensor([0, 1, 1])
    x_val = torch.stack([d["x_val"] for d in datasets])
    y_val = torch.stack([d["y_val"] for d in datasets])
    losses, accs = evaluate_stacked(net, x_val, y_val, rows, batch=20)  # chunks of 6 samples per network
    shared = evaluate_stacked(net, datasets[0]["x_test"], datasets[0]["y_test"])
    for i, m in enumerate(models):
        loss, acc = evaluate(m, datasets[int(rows[i])]["x_val"], datasets[int(rows[i])]["y_val"])
        assert losses[i] == pytest.approx(loss, rel=1e-6) and accs[i] == acc
        assert shared[1][i] == evaluate(m, datasets[0]["x_test"], datasets[0]["y_test"])[1]


def test_evaluation_does_not_depend_on_the_chunk_size(datasets):
    """evaluate and evaluate_stacked in chunks of the default size (256 on the CPU), of 7, and all at once: the
    same accuracies, losses to rounding; 40 test digits, so the small chunks end in a partial one."""
    models = nets("lenet5", 3, prune=True)
    net = StackedNet(models)
    x, y = datasets[0]["x_test"], datasets[0]["y_test"]
    whole = evaluate_stacked(net, x, y, batch=3 * len(y))
    for batch in (None, 7):
        losses, accs = evaluate_stacked(net, x, y, batch=batch)
        assert accs == whole[1] and losses == pytest.approx(whole[0], rel=1e-6)
    for i, m in enumerate(models):
        alone = [evaluate(m, x, y, batch=b) for b in (None, 7, len(y))]
        assert len({acc for _, acc in alone}) == 1 and alone[0][1] == whole[1][i]
        assert [loss for loss, _ in alone] == pytest.approx([alone[2][0]] * 3, rel=1e-6)
    # and the counts are real: an untrained stack is right on about a tenth of the digits, not all or none
    assert all(0 < a < 1 for a in whole[1])


@pytest.mark.parametrize("opt", ["adam", "sgd"])
def test_train_stacked_equals_train_epochs_of_each_network(datasets, opt):
    cfg = {**CFG, "epochs": 2, "optimizer": opt, "momentum": 0.9, "lr": 0.01 if opt == "sgd" else 1.2e-3}
    models = nets("lenet-300-100", 3, prune=True)
    alone = [seeded_init(lambda: build("lenet-300-100"), 40 + i, "stack") for i in range(3)]
    for i, m in enumerate(alone):
        Pruner(m, rate=0.3 + 0.1 * i, output_rate=0.2).prune("magnitude")
    rows = torch.tensor([1, 0, 1])
    net = StackedNet(models)
    losses, steps = [], []
    train_stacked(
        net,
        torch.stack([d["x_train"] for d in datasets]),
        torch.stack([d["y_train"] for d in datasets]),
        rows,
        cfg,
        generators=[torch.Generator().manual_seed(s) for s in (7, 8, 7)],
        on_step=steps.append,
        on_epoch=lambda e, loss: losses.append(loss),
    )
    assert steps == list(range(1, 9)) and len(losses) == 2
    net.write_back(models)
    for i, m in enumerate(alone):
        own: list[float] = []
        pruner = Pruner(m, rate=0.3, output_rate=0.2)  # the masks are already installed; only apply() is used
        train_epochs(
            m,
            datasets[int(rows[i])],
            cfg,
            generator=torch.Generator().manual_seed((7, 8, 7)[i]),
            pruner=pruner,
            on_epoch=lambda e, loss, own=own: own.append(loss),
        )
        assert [epoch[i] for epoch in losses] == own
        for (name, a), b in zip(m.named_parameters(), models[i].parameters(), strict=True):
            assert torch.equal(a, b), name
        for name in net.prunable:  # pruned weights stayed exactly zero
            assert (models[i].get_parameter(name)[net.masks[name][i] == 0] == 0).all()


def one_by_one(cfg, datasets, members, arch):
    """run_imp for each member alone (reinit members after the IMP run of their trial)."""
    found, imp_masks = {}, {}
    for m in sorted(members, key=lambda m: m.mode == "reinit"):
        ids = {"mode": m.mode, "trial": m.trial, "seed": m.seed}
        e, r, masks = run_imp(
            cfg, datasets[m.trial], arch=arch, mode=m.mode, seed=m.seed, masks=imp_masks.get(m.trial), ids=ids
        )
        if m.mode == "imp":
            imp_masks[m.trial] = masks
        found[m] = (e, r, masks)
    return found


MEMBERS = [Member(mode, t, 100 + t) for mode in ("imp", "random", "reinit") for t in range(2)]


@pytest.mark.parametrize("arch", ["lenet-300-100", "lenet5"])
def test_group_equals_training_each_run_alone(datasets, arch):
    cfg = {**CFG, "epochs": 2}
    epochs, rounds, masks = run_imp_group(cfg, datasets, MEMBERS, arch=arch, ids={"arch": arch})
    alone = one_by_one(cfg, datasets, MEMBERS, arch)
    assert len(rounds) == len(MEMBERS) * 3 and len(epochs) == len(MEMBERS) * 6
    for i, m in enumerate(MEMBERS):
        e, r, own_masks = alone[m]
        mine_e = epochs[(epochs["mode"] == m.mode) & (epochs["trial"] == m.trial)].drop(columns="arch")
        mine_r = rounds[(rounds["mode"] == m.mode) & (rounds["trial"] == m.trial)].drop(columns="arch")
        assert (mine_e["seed"] == m.seed).all()
        mine_e, mine_r = mine_e.reset_index(drop=True), mine_r.reset_index(drop=True)
        # the same masks in every round, so the same counts
        assert len(masks[i]) == 3
        for k in range(3):
            assert all(torch.equal(masks[i][k][n], own_masks[k][n]) for n in own_masks[k]), (m, k)
        pd.testing.assert_series_equal(mine_r["remaining"], r["remaining"])
        if arch == "lenet-300-100":  # fully connected: bit for bit
            pd.testing.assert_frame_equal(mine_e, e, check_exact=True)
            pd.testing.assert_frame_equal(mine_r, r, check_exact=True)
        else:
            pd.testing.assert_frame_equal(mine_e, e, check_exact=False, rtol=1e-5, atol=1e-6)
            pd.testing.assert_frame_equal(
                mine_r.drop(columns="layer_remaining"),
                r.drop(columns="layer_remaining"),
                check_exact=False,
                rtol=1e-5,
                atol=1e-6,
            )
    # the reinit runs trained the IMP masks of their trial, which differ between trials and from random's
    assert all(torch.equal(masks[4][k][n], masks[0][k][n]) for k in range(3) for n in masks[0][k])
    assert not torch.equal(
        masks[0][2]["1.weight" if arch == "lenet-300-100" else "0.weight"],
        masks[1][2]["1.weight" if arch == "lenet-300-100" else "0.weight"],
    )
    assert not torch.equal(masks[0][1][next(iter(masks[0][1]))], masks[2][1][next(iter(masks[2][1]))])


def test_group_rewinds_to_iteration_k_like_a_run_alone(datasets):
    cfg = {**CFG, "rewind_iteration": 2}
    members = [Member("imp", 0, 7), Member("random", 1, 8)]
    _, rounds, masks = run_imp_group(cfg, datasets, members, arch="lenet-300-100")
    for i, m in enumerate(members):
        _, r, own = run_imp(cfg, datasets[m.trial], arch="lenet-300-100", mode=m.mode, seed=m.seed)
        assert rounds.loc[rounds["mode"] == m.mode, "test_acc"].tolist() == r["test_acc"].tolist()
        assert all(torch.equal(masks[i][k][n], own[k][n]) for k in range(3) for n in own[k])
    with pytest.raises(ValueError, match="exceeds the steps of round 0"):
        run_imp_group({**CFG, "rewind_iteration": 500}, datasets, members, arch="lenet-300-100")


def test_group_refuses_what_it_cannot_train_together(datasets, mnist_root):
    with pytest.raises(ValueError, match="needs IMP's run of that trial"):
        run_imp_group(CFG, datasets, [Member("imp", 0, 1), Member("reinit", 1, 2)], arch="lenet-300-100")
    with pytest.raises(ValueError, match="each \\(mode, trial\\) once"):
        run_imp_group(CFG, datasets, [Member("imp", 0, 1), Member("imp", 0, 2)], arch="lenet-300-100")
    with pytest.raises(ValueError, match="mode must be one of"):
        run_imp_group(CFG, datasets, [Member("prune", 0, 1)], arch="lenet-300-100")
    with pytest.raises(ValueError, match="no data set"):
        run_imp_group(CFG, datasets, [Member("imp", 2, 1)], arch="lenet-300-100")
    other = prepare_data(mnist_root, 100, 0.2, seed=5)
    with pytest.raises(ValueError, match="of one size"):
        run_imp_group(CFG, [datasets[0], other], [Member("imp", 0, 1), Member("imp", 1, 2)], arch="lenet-300-100")


def test_job_members_add_imp_for_the_reinit_masks_and_refuse_bad_modes():
    def seed(t):
        return 10 + t

    assert job_members(["reinit"], 2, seed) == [
        Member("imp", 0, 10),
        Member("imp", 1, 11),
        Member("reinit", 0, 10),
        Member("reinit", 1, 11),
    ]
    assert [m.mode for m in job_members(["random", "imp"], 1, seed)] == ["imp", "random"]
    for bad in ([], ["imp", "imp"], ["magnitude"]):
        with pytest.raises(ValueError, match="modes must be"):
            job_members(bad, 1, seed)


def test_group_resume_after_kill_equals_uninterrupted_run(datasets, monkeypatch, tmp_path, caplog):
    members = MEMBERS[:2] + MEMBERS[4:5]
    epochs, rounds, masks = run_imp_group(CFG, datasets, members, arch="lenet-300-100")
    calls = {"n": 0}
    real = z7.train_stacked

    def dies_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(z7, "train_stacked", dies_on_third)
    ckpt = tmp_path / "ckpt"
    with pytest.raises(RuntimeError, match="killed"):
        run_imp_group(CFG, datasets, members, arch="lenet-300-100", checkpoint_dir=ckpt)
    assert sorted(p.name for p in ckpt.glob("round_*.pt")) == ["round_0001.pt"]
    with caplog.at_level(logging.INFO, logger="ltpipe.engines.prune"):
        e2, r2, m2 = run_imp_group(CFG, datasets, members, arch="lenet-300-100", checkpoint_dir=ckpt)
    assert calls["n"] == 4 and "resuming after round 1" in caplog.text
    pd.testing.assert_frame_equal(e2, epochs, check_exact=True)
    pd.testing.assert_frame_equal(r2, rounds, check_exact=True)
    assert all(torch.equal(a[k][n], b[k][n]) for a, b in zip(m2, masks, strict=True) for k in range(3) for n in a[k])


def test_stacked_takes_named_layers_and_padded_pooling():
    """Layers named in an OrderedDict, and ReLU before a padded max pooling (run as pooling, then ReLU)."""

    def net(seed: int) -> nn.Sequential:
        torch.manual_seed(seed)
        layers = OrderedDict(
            conv=nn.Conv2d(1, 3, 3),
            act=nn.ReLU(),
            pool=nn.MaxPool2d(3, stride=2, padding=1),
            flat=nn.Flatten(),
            fc=nn.Linear(3 * 13 * 13, 4),
        )
        return nn.Sequential(layers)

    models = [net(1), net(2)]
    x = inputs(2)
    out = StackedNet(models)(x)
    for i, m in enumerate(models):
        torch.testing.assert_close(out[i], m(x[i]), **CONV_TOL)
