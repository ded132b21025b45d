"""Edge-popup's supermask layers and Pensia et al.'s Experiment 2 (PE): masks, gradients, the structure's
function, parameter counts, budget selection, resuming, and each claim on tables where it must fail."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import by_id, write_tiny_mnist

from ltpipe.data.mnist_subsets import prepare_data
from ltpipe.engines.supermask import (
    StructuredSupermaskLinear,
    SupermaskConv2d,
    SupermaskLinear,
    kept_count,
    sorted_mask,
    top_mask,
)
from ltpipe.engines.train import train_epochs
from ltpipe.seeds import torch_generator
from ltpipe.studies.pensia2020.pe import job as pe
from ltpipe.studies.pensia2020.pe import networks as nets
from ltpipe.studies.pensia2020.pe.claims import claims as claims_pe


def gen(seed: int = 0) -> torch.Generator:
    return torch_generator(seed, "test")


@pytest.mark.parametrize("keep", [0.01, 0.1, 0.3, 0.5, 0.77, 1.0])
def test_top_mask_keeps_exactly_the_largest_scores(keep):
    scores = torch.rand(37, 53, generator=gen(1))
    mask = top_mask(scores, keep)
    k = kept_count(scores.numel(), keep)
    assert int(mask.sum()) == k == max(1, scores.numel() - int((1 - keep) * scores.numel()))
    kept, dropped = scores[mask.bool()], scores[~mask.bool()]
    if len(dropped):
        assert kept.min() > dropped.max()  # identity: every kept score beats every dropped one
    assert torch.equal(mask, sorted_mask(scores, keep))  # the reference code's full sort agrees
    assert set(mask.unique().tolist()) <= {0.0, 1.0}


def test_kept_count_refuses_keep_outside_the_unit_interval():
    assert kept_count(10, 0.7) == 7 and kept_count(10, 0.01) == 1
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="keep must lie in"):
            kept_count(10, bad)
    with pytest.raises(ValueError, match="keep must lie in"):
        SupermaskLinear(4, 3, 0.0, gen())


def test_forward_uses_exactly_the_top_keep_weights():
    layer = SupermaskLinear(20, 7, 0.25, gen(2))
    x = torch.randn(5, 20, generator=gen(3))
    mask = layer.mask_of("weight")
    assert int(mask.sum()) == kept_count(140, 0.25)
    scores = layer.weight_scores.detach().abs()
    assert scores[mask].min() > scores[~mask].max()
    expected = x @ (layer.weight * mask).t()
    torch.testing.assert_close(layer(x), expected, rtol=0, atol=0)


def test_gradient_reaches_the_scores_straight_through_and_nothing_else():
    layer = SupermaskLinear(6, 4, 0.5, gen(4))
    x = torch.randn(3, 6, generator=gen(5))
    out = layer(x)
    out.square().sum().backward()
    assert [n for n, _ in layer.named_parameters()] == ["weight_scores"]
    assert layer.weight.grad is None and not layer.weight.requires_grad
    # straight through: d/ds of sum (x (w * m)^T)^2 with dm/d|s| = 1 and d|s|/ds = sign(s)
    g_eff = 2 * out.detach().t() @ x  # d loss / d (w * m), (4, 6)
    expected = g_eff * layer.weight * torch.sign(layer.weight_scores.detach())
    torch.testing.assert_close(layer.weight_scores.grad, expected)
    assert (layer.weight_scores.grad[~layer.mask_of("weight")] != 0).any()  # pruned weights' scores learn too


@pytest.mark.parametrize("variant", ["structure", "structure-relu", "wide"])
def test_frozen_weights_never_change_in_training(tmp_path, variant):
    write_tiny_mnist(tmp_path)
    data = prepare_data(tmp_path, 120, 0.2, 1)
    model, _ = nets.build_network("lenet5", variant, keep=0.3, r=2, hidden=8, seed=3)
    frozen = {k: v.clone() for k, v in model.state_dict().items() if not k.endswith("_scores")}
    scores = {k: v.clone() for k, v in model.state_dict().items() if k.endswith("_scores")}
    cfg = {
        "epochs": 2,
        "batch_size": 32,
        "optimizer": "sgd",
        "lr": 0.1,
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
    }
    train_epochs(model, data, cfg, generator=gen(6))
    after = model.state_dict()
    assert frozen and all(torch.equal(after[k], v) for k, v in frozen.items())
    assert all(not torch.equal(after[k], v) for k, v in scores.items())  # while every layer's scores moved


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("keep", [1.0, 0.4])
def test_structure_computes_the_paper_codes_function(relu, keep):
    layer = StructuredSupermaskLinear(9, 4, 3, keep, relu, gen(7))
    x = torch.randn(6, 9, generator=gen(8), dtype=torch.float32)
    torch.testing.assert_close(layer(x), layer.forward_expanded(x), rtol=1e-5, atol=1e-5)


def test_structure_at_keep_one_is_the_dense_layer_product():
    r, din, dout = 5, 7, 3
    layer = StructuredSupermaskLinear(din, dout, r, 1.0, False, gen(9)).double()
    a, b = layer.a, layer.b
    w = np.zeros((dout, din))
    for o in range(dout):  # W_oi = sum_s b_{o,(i,s)} a_{s,i}, unit (i, s) at column s * din + i, written out
        for i in range(din):
            w[o, i] = sum(float(b[o, s * din + i]) * float(a[s, i]) for s in range(r))
    x = torch.randn(4, din, generator=gen(10), dtype=torch.float64)
    torch.testing.assert_close(layer(x), x @ torch.from_numpy(w).t())
    # with the ReLU: relu(a x) = a+ relu(x) + a- relu(-x), checked on the expanded hidden layer
    layer.relu = True
    h = torch.relu(x.unsqueeze(1) * a).reshape(4, -1)
    torch.testing.assert_close(layer(x), h @ layer.b.t())


def test_supermask_conv_masks_its_filters():
    conv = SupermaskConv2d(2, 3, 3, 0.5, gen(11), padding=1)
    x = torch.randn(2, 2, 5, 5, generator=gen(12))
    mask = conv.mask_of("weight")
    assert int(mask.sum()) == kept_count(54, 0.5)
    torch.testing.assert_close(conv(x), torch.nn.functional.conv2d(x, conv.weight * mask, padding=1))


def test_parameter_counts_and_wide_widths_by_hand():
    # fc2: 5 * 784 + 5 * 784 * 500 + 5 * 500 + 5 * 500 * 10 = 1,991,420; wide h = round(1991420 / 794)
    assert nets.structure_params(nets.fc_dims("fc2"), 5) == 1_991_420
    assert nets.wide_width(nets.fc_dims("fc2"), 5) == 2508
    # fc4: 2 h^2 + 794 h = 4,496,420 -> h = 1314; lenet5: h^2 + 410 h = 297,620 -> h = 378
    assert nets.structure_params(nets.fc_dims("fc4"), 5) == 4_496_420
    assert nets.wide_width(nets.fc_dims("fc4"), 5) == 1314
    assert nets.structure_params(nets.fc_dims("lenet5"), 5) == 297_620
    assert nets.wide_width(nets.fc_dims("lenet5"), 5) == 378
    model, widths = nets.build_network("fc4", "wide", keep=0.1, r=5, hidden=500, seed=0)
    total, kept = nets.count_params(model)
    assert widths == [1314] * 3 and total == 784 * 1314 + 2 * 1314**2 + 1314 * 10
    assert kept == sum(kept_count(n, 0.1) for n in (784 * 1314, 1314**2, 1314**2, 13140))
    assert abs(total / 4_496_420 - 1) < 1e-3  # about the structure's weights
    model, _ = nets.build_network("lenet5", "baseline", keep=0.1, r=5, hidden=500, seed=0)
    assert nets.count_params(model) == (400 * 120 + 120 * 84 + 84 * 10,) * 2  # frozen convolutions excluded
    model, _ = nets.build_network("lenet5", "structure", keep=0.5, r=2, hidden=8, seed=0, conv="supermask")
    assert nets.count_params(model)[0] == 6 * 25 + 16 * 6 * 25 + nets.structure_params(nets.fc_dims("lenet5"), 2)


def test_networks_are_seeded_and_both_structures_share_theirs():
    a, _ = nets.build_network("fc2", "structure", keep=0.2, r=2, hidden=8, seed=5)
    b, _ = nets.build_network("fc2", "structure-relu", keep=0.2, r=2, hidden=8, seed=5)
    c, _ = nets.build_network("fc2", "structure", keep=0.2, r=2, hidden=8, seed=6)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    x = torch.randn(3, 1, 28, 28, generator=gen(13))
    assert a(x).shape == (3, 10) and not torch.allclose(a(x), b(x))


def runs_table(rows):
    cols = [
        "network",
        "variant",
        "relu",
        "keep",
        "trial",
        "epochs",
        "params_total",
        "params_kept",
        "val_acc",
        "test_acc",
    ]
    return pd.DataFrame(rows, columns=cols)


def test_select_budgets_by_validation_beside_the_papers_max():
    runs = runs_table(
        [
            ["fc2", "wide", False, 0.1, 0, 1, 100, 10, 0.80, 0.90],  # best test, but not best validation
            ["fc2", "wide", False, 0.1, 0, 2, 100, 10, 0.85, 0.86],
            ["fc2", "wide", False, 0.1, 0, 3, 100, 10, 0.85, 0.70],  # tied validation: the smaller budget wins
        ]
    )
    sel = pe.select_budgets(runs).iloc[0]
    assert sel.epochs_selected == 2 and sel.test_acc_selected == 0.86 and sel.val_acc_selected == 0.85
    assert sel.test_acc_max_over_budgets == 0.90 and sel.epochs_max_over_budgets == 1 and sel.n_budgets == 3


def test_a_killed_job_resumes_with_the_same_rows(tmp_path, monkeypatch):
    write_tiny_mnist(tmp_path / "mnist")
    cfg = {
        "r": 2,
        "hidden": 8,
        "keep": [0.2, 0.6],
        "epochs": [1, 2],
        "lr": 0.1,
        "n_samples": 100,
        "val_fraction": 0.2,
        "trials": 1,
        "batch_size": 32,
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "conv": "frozen",
    }
    args = {"network": "fc2", "variant": "structure-relu", "seed": 3}
    whole = pe.run_job(cfg, str(tmp_path / "mnist"), **args)
    assert len(whole) == 4 and list(whole["keep"]) == [0.2, 0.2, 0.6, 0.6] and whole["relu"].all()
    ckpt = tmp_path / "ckpt.pt"
    calls = {"n": 0}
    real = pe.train_epochs

    def dies_on_third(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(pe, "train_epochs", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        pe.run_job(cfg, str(tmp_path / "mnist"), checkpoint=ckpt, **args)
    assert len(torch.load(ckpt, weights_only=True)["rows"]) == 2
    calls["n"] = -100
    resumed = pe.run_job(cfg, str(tmp_path / "mnist"), checkpoint=ckpt, **args)
    assert calls["n"] == -98  # only the two missing runs trained
    drop = ["seconds"]
    pd.testing.assert_frame_equal(resumed.drop(columns=drop), whole.drop(columns=drop), check_exact=True)
    # other settings: the checkpoint is not used
    other = pe.run_job({**cfg, "keep": [0.6]}, str(tmp_path / "mnist"), checkpoint=ckpt, **args)
    assert list(other["keep"]) == [0.6, 0.6]


THRESHOLDS = {
    "chance_margin": 5.0,
    "relu_keep": 0.25,
    "min_relu_gap": 0.0,
    "wide": {"networks": ["fc2"], "keep": 0.1, "min_lead": 0.0},
    "flip": {"networks": ["fc2"], "keep": [0.95, 0.98]},
    "collapse_keep": 0.99,
    "min_collapse": 10.0,
    "approach_max_keep": 0.5,
    "min_order": 0.8,
    "max_baseline_gap": 5.0,
}


def selected_table(acc: dict[str, dict[float, float]], baseline: float = 0.98) -> pd.DataFrame:
    """A hand-built ``selected`` table for fc2: accuracy (fraction) per variant and keep, one trial."""
    rows = [
        {
            "network": "fc2",
            "variant": v,
            "relu": v == "structure-relu",
            "keep": k,
            "trial": 0,
            "params_total": 1000,
            "params_kept": int(1000 * k),
            "test_acc_selected": a,
        }
        for v, by_keep in acc.items()
        for k, a in by_keep.items()
    ]
    rows.append(
        {
            "network": "fc2",
            "variant": "baseline",
            "relu": False,
            "keep": 1.0,
            "trial": 0,
            "params_total": 200,
            "params_kept": 200,
            "test_acc_selected": baseline,
        }
    )
    return pd.DataFrame(rows)


def budget_runs(acc: dict[str, dict[float, float]], gain: dict[str, float]) -> pd.DataFrame:
    """A hand-built ``runs`` table: budgets 3 and 10 epochs, the larger at ``acc`` and the smaller ``gain``
    (fraction) below it, per variant."""
    return pd.DataFrame(
        [
            {"network": "fc2", "variant": v, "keep": k, "trial": 0, "epochs": e, "test_acc": a - (g if e == 3 else 0)}
            for v, by_keep in acc.items()
            for k, a in by_keep.items()
            for e, g in ((3, gain.get(v, 0.0)), (10, 0.0))
        ]
    )


# the paper's shape: wide far ahead of the structure at small keep, the ReLU behind, the structure ahead near 1
# and everything collapsing at keep 0.99
GOOD = {
    "structure": {0.02: 0.40, 0.05: 0.70, 0.25: 0.94, 0.5: 0.96, 0.95: 0.97, 0.99: 0.30},
    "structure-relu": {0.02: 0.20, 0.05: 0.60, 0.25: 0.90, 0.5: 0.955, 0.95: 0.96, 0.99: 0.25},
    "wide": {0.02: 0.88, 0.05: 0.92, 0.25: 0.955, 0.5: 0.975, 0.95: 0.93, 0.99: 0.40},
}


def pe_rows(acc, gain=None, **thresholds):
    tables = {"selected": selected_table(acc), "runs": budget_runs(acc, gain or {})}
    return by_id(claims_pe(tables, {**THRESHOLDS, **thresholds}))


def test_pe_claims_pass_on_a_table_with_the_papers_shape():
    rows = pe_rows(GOOD, {"structure": 0.01, "wide": 0.01})
    assert {r["verdict"] for r in rows.values()} == {"pass"}, {k: r["verdict"] for k, r in rows.items()}
    # keeps 0.02, 0.05, 0.25: 20, 10 and 4 points
    assert rows["pe.relu_hurts_small[network=fc2]"]["value"] == pytest.approx(34 / 3)
    # keeps 0.02 and 0.05: 48 and 22 points
    assert rows["pe.wide_ahead_small[network=fc2]"]["value"] == pytest.approx(35.0)
    assert rows["pe.structure_ahead_high[network=fc2]"]["value"] == pytest.approx(4.0)
    assert rows["pe.collapses_near_one[network=fc2,variant=structure]"]["value"] == pytest.approx(67.0)
    assert rows["pe.near_baseline[network=fc2,variant=wide]"]["value"] == pytest.approx(0.5)


def test_each_pe_claim_fails_where_it_should():
    relu_better = {**GOOD, "structure-relu": {**GOOD["structure-relu"], 0.02: 0.5, 0.05: 0.75, 0.25: 0.95}}
    assert pe_rows(relu_better)["pe.relu_hurts_small[network=fc2]"]["verdict"] == "fail"
    # the structure ahead at small keep: what the old claim of a match would have let pass is a failure now
    matched = {**GOOD, "wide": {**GOOD["wide"], 0.02: 0.39, 0.05: 0.69}}
    rows = pe_rows(matched)
    assert rows["pe.wide_ahead_small[network=fc2]"]["verdict"] == "fail"
    assert rows["pe.wide_ahead_small[network=fc2]"]["value"] == pytest.approx(-1.0)
    no_flip = {**GOOD, "wide": {**GOOD["wide"], 0.95: 0.98}}
    assert pe_rows(no_flip)["pe.structure_ahead_high[network=fc2]"]["verdict"] == "fail"
    no_collapse = {**GOOD, "wide": {**GOOD["wide"], 0.99: 0.96}}
    assert pe_rows(no_collapse)["pe.collapses_near_one[network=fc2,variant=wide]"]["verdict"] == "fail"
    # accuracy falling as keep grows: the gap to the baseline widens
    falling = {**GOOD, "wide": {0.02: 0.95, 0.05: 0.94, 0.25: 0.93, 0.5: 0.92, 0.95: 0.91, 0.99: 0.4}}
    rows = pe_rows(falling)
    assert rows["pe.approaches_baseline[network=fc2,variant=wide]"]["verdict"] == "fail"
    assert rows["pe.approaches_baseline[network=fc2,variant=structure]"]["verdict"] == "pass"
    # far below a strong baseline at every keep
    tables = {"selected": selected_table(GOOD, baseline=0.999), "runs": budget_runs(GOOD, {})}
    rows = by_id(claims_pe(tables, {**THRESHOLDS, "max_baseline_gap": 3}))
    assert rows["pe.near_baseline[network=fc2,variant=structure-relu]"]["verdict"] == "fail"
    assert math.isclose(rows["pe.near_baseline[network=fc2,variant=structure]"]["value"], 2.9)


def test_pe_claims_are_untestable_at_chance_beyond_the_grid_or_where_the_budget_decides():
    at_chance = {**GOOD}
    at_chance["structure"] = {**GOOD["structure"], 0.02: 0.11, 0.05: 0.12, 0.25: 0.13}
    at_chance["structure-relu"] = {**GOOD["structure-relu"], 0.02: 0.10, 0.05: 0.11, 0.25: 0.12}
    row = pe_rows(at_chance)["pe.relu_hurts_small[network=fc2]"]
    assert row["verdict"] == "untestable" and "chance" in row["detail"]
    # one keep near chance only: the others are still read
    partly = {**GOOD, "structure-relu": {**GOOD["structure-relu"], 0.02: 0.10}}
    partly["structure"] = {**GOOD["structure"], 0.02: 0.12}
    row = pe_rows(partly)["pe.relu_hurts_small[network=fc2]"]
    assert row["verdict"] == "pass" and row["value"] == pytest.approx(7.0) and "0.02 left out" in row["detail"]
    # the structure still gains 40 points between the budgets, more than the 35 it trails by
    row = pe_rows(GOOD, {"structure": 0.40})["pe.wide_ahead_small[network=fc2]"]
    assert row["verdict"] == "untestable" and "budget decides" in row["detail"]
    # no keep near 1 in the grid
    low = {v: {k: a for k, a in by_keep.items() if k <= 0.5} for v, by_keep in GOOD.items()}
    rows = pe_rows(low)
    assert rows["pe.structure_ahead_high[network=fc2]"]["verdict"] == "untestable"
    assert rows["pe.collapses_near_one[network=fc2,variant=wide]"]["verdict"] == "untestable"
    # the flip and the wide lead are claims of the networks the paper shows them for
    rows = pe_rows(
        GOOD, flip={"networks": ["lenet5"], "keep": [0.95, 0.98]}, wide={**THRESHOLDS["wide"], "networks": []}
    )
    assert not any(k.startswith(("pe.structure_ahead_high", "pe.wide_ahead_small")) for k in rows)
    # each for its own networks: LeNet5's flip does not hang on a wide lead claimed for it
    rows = pe_rows(GOOD, wide={**THRESHOLDS["wide"], "networks": []})
    assert "pe.structure_ahead_high[network=fc2]" in rows and "pe.wide_ahead_small[network=fc2]" not in rows


def test_pe_figure_has_the_papers_linear_axis_and_a_row_of_budgets():
    from ltpipe.studies.pensia2020.pe.figure import fig_pe

    runs = budget_runs(GOOD, {"structure": 0.2})
    selected = selected_table(GOOD).assign(test_acc_max_over_budgets=lambda d: d["test_acc_selected"])
    fig = fig_pe({"selected": selected, "runs": runs}, {"width": 3, "height": 2.5, "dpi": 50})
    top, bottom = fig.axes[:2]
    assert top.get_xscale() == "linear" and top.get_xlabel() == "number of weights kept"
    # one line per (masked variant, keep) over the budgets, each from 3 to 10 epochs
    assert len(bottom.lines) == 3 * 6
    structure = bottom.lines[0]
    assert list(structure.get_xdata()) == [3, 10]
    assert structure.get_ydata()[1] - structure.get_ydata()[0] == pytest.approx(20.0)
    log = fig_pe({"selected": selected, "runs": runs}, {"width": 3, "height": 2.5, "dpi": 50, "xscale": "log"})
    assert log.axes[0].get_xscale() == "log"


def test_lenet5_convolutions_are_the_released_codes_one_draw_shared_by_every_variant():
    from ltpipe.studies.pensia2020.pe.networks import FrozenConv2d

    def convs(variant, seed, conv_seed):
        model, _ = nets.build_network("lenet5", variant, keep=0.5, r=2, hidden=8, seed=seed, conv_seed=conv_seed)
        return [m.weight for m in model if isinstance(m, FrozenConv2d)]

    shared = [convs(v, seed, conv_seed=7) for v, seed in (("structure", 1), ("wide", 2), ("baseline", 3))]
    for other in shared[1:]:
        assert all(torch.equal(a, b) for a, b in zip(shared[0], other, strict=True))
    assert not torch.equal(convs("structure", 1, conv_seed=8)[0], shared[0][0])  # another trial, another draw
    # PyTorch's Conv2d default, U[-1/sqrt(fan_in), 1/sqrt(fan_in)]: the released checkpoint's conv1 lies in
    # [-0.196, 0.199] with std 0.113 (fan_in 25), its conv2 has std 0.047 (fan_in 150)
    for w, fan_in in zip(shared[0], (25, 150), strict=True):
        bound = fan_in**-0.5
        assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound
        assert w.std().item() == pytest.approx(bound / 3**0.5, rel=0.15)
    normal, _ = nets.build_network("lenet5", "wide", keep=0.5, r=2, hidden=8, seed=1, conv_init="kaiming_normal")
    assert next(m for m in normal if isinstance(m, FrozenConv2d)).weight.std().item() == pytest.approx(
        (2 / 25) ** 0.5, rel=0.2
    )
    with pytest.raises(ValueError, match="conv_init must be one of"):
        nets.build_network("lenet5", "wide", keep=0.5, r=2, hidden=8, seed=1, conv_init="xavier")


def test_the_baseline_trains_at_its_own_budget_and_rows_name_the_convolutions_init(tmp_path):
    write_tiny_mnist(tmp_path / "mnist")
    cfg = {
        "r": 2,
        "hidden": 8,
        "keep": [0.5],
        "epochs": [1],
        "baseline_epochs": 2,
        "lr": 0.01,
        "n_samples": 60,
        "val_fraction": 0.2,
        "trials": 1,
        "batch_size": 32,
        "optimizer": "sgd",
        "momentum": 0.9,
        "weight_decay": 5e-4,
        "schedule": "cosine",
        "conv": "frozen",
        "conv_init": "default",
    }
    base = pe.run_job(cfg, str(tmp_path / "mnist"), network="lenet5", variant="baseline", seed=3)
    assert list(base["epochs"]) == [2] and list(base["keep"]) == [1.0] and list(base["conv_init"]) == ["default"]
    wide = pe.run_job(cfg, str(tmp_path / "mnist"), network="fc2", variant="wide", seed=3)
    assert list(wide["epochs"]) == [1] and list(wide["conv_init"]) == [""]
