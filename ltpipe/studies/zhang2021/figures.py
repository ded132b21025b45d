"""Zhang et al. 2021's figures (Figs. 2-7, and ZT), drawn from the experiments' Parquet tables.

Each figure ``FIG`` is ``fig_FIG(tables, plot)``: ``tables`` the experiment's
tables by name, ``plot`` the figure's own settings (see :mod:`ltpipe.plotting`).
"""

from __future__ import annotations

from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from ltpipe.analysis import capped_majority, method_label, n_needed, per_eta, radius
from ltpipe.plotting import heatmap, panels, setup

__all__ = ["fig_z2", "fig_z3_a", "fig_z3_b", "fig_z4", "fig_z5", "fig_z6", "fig_z7", "fig_zt"]


def _eta_title(base: str, eta: float, many: bool) -> str:
    return f"{base}, η = {eta:g}" if many and np.isfinite(eta) else base


def fig_z2(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 2: success rate over (sqrt r, initial distance lambda); one panel per eta, capped cells hatched."""
    groups = per_eta(tables["trials"])
    fig, axes = panels(plot, len(groups))
    for ax, (eta, trials) in zip(axes, groups, strict=True):
        rate = trials.pivot_table(index="lam", columns="r", values="success", aggfunc="mean")
        capped = capped_majority(trials, "lam", "r")
        rad = radius(trials)
        label = {r: f"{np.sqrt(r):.3g}" for r in rate.columns}
        marks = pd.Series(rad["radius"].to_numpy(), index=[label[r] for r in rad["r"]])
        heatmap(ax, rate.rename(columns=label), r"$\sqrt{r}$", r"initial distance $\lambda$", marks,
                capped.rename(columns=label))  # fmt: skip
        ax.set_title(_eta_title(plot.get("title", "Local convex region (Fig. 2)"), eta, len(groups) > 1))
    return fig


def fig_z3_a(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 3a: relative error vs iteration, one line per r.

    Thin lines are single trials; the thick line is their median, drawn only
    while every trial of that r is still running (so no trial's stop makes it jump).
    """
    curves = tables["curves"]
    if plot.get("beta") is not None:
        curves = curves[np.isclose(curves["beta"], float(plot["beta"]))]
    curves = curves.assign(method=method_label(curves["beta"]))
    keys = ["r", "method"]
    common_end = curves.groupby([*keys, "trial", "seed"])["iteration"].max().groupby(keys).min().rename("end")
    med = curves.join(common_end, on=keys)
    med = med[med["iteration"] <= med["end"]].groupby([*keys, "iteration"], as_index=False)["rel_error"].median()
    palette = plot.get("palette", "viridis")
    style = "method" if curves["method"].nunique() > 1 else None
    fig, ax = setup(plot)
    sns.lineplot(
        data=curves,
        x="iteration",
        y="rel_error",
        hue="r",
        style=style,
        units="seed",
        estimator=None,
        palette=palette,
        alpha=0.25,
        lw=0.6,
        ax=ax,
        legend=False,
    )
    sns.lineplot(data=med, x="iteration", y="rel_error", hue="r", style=style, palette=palette, lw=1.8, ax=ax)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"relative error $\|W - \tilde W^*\|_F / \|\tilde W^*\|_F$")
    ax.set_title(plot.get("title", "Linear convergence (Fig. 3a)"))
    sns.move_legend(ax, "upper right", fontsize="x-small", ncol=2)
    return fig


def fig_z3_b(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 3b: convergence rate nu vs sqrt r for GD and AGD (mean and sd over trials)."""
    rates = tables["rates"].dropna(subset=["rate"]).copy()
    rates["sqrt_r"] = np.sqrt(rates["r"])
    rates["method"] = method_label(rates["beta"])
    fig, ax = setup(plot)
    sns.lineplot(
        data=rates,
        x="sqrt_r",
        y="rate",
        hue="method",
        style="method",
        markers=True,
        dashes=False,
        errorbar="sd",
        err_style="bars",
        palette=plot.get("palette", "deep"),
        ax=ax,
    )
    ax.set_xlabel(r"$\sqrt{r}$")
    ax.set_ylabel(r"convergence rate $\nu$ (per-iteration contraction)")
    ax.set_title(plot.get("title", "Convergence rate (Fig. 3b)"))
    return fig


def fig_z4(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 4: success rate over (r, N), with N_needed(r) marked; one panel per eta, capped cells hatched."""
    groups = per_eta(tables["trials"])
    fig, axes = panels(plot, len(groups))
    for ax, (eta, trials) in zip(axes, groups, strict=True):
        rate = trials.pivot_table(index="n_samples", columns="r", values="success", aggfunc="mean")
        need = n_needed(trials)
        marks = pd.Series(need["n_needed"].to_numpy(), index=need["r"])
        heatmap(ax, rate, "r", "number of samples N", marks, capped_majority(trials, "n_samples", "r"))
        ax.set_title(_eta_title(plot.get("title", "Sample complexity (Fig. 4)"), eta, len(groups) > 1))
    return fig


def fig_z5(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 5: final relative error vs sqrt r, one line per noise level (median, IQR; converged or stalled trials).

    One panel per eta. Open markers: points where most trials stopped at max_iter (drawn from
    all trials there). Grey dotted: the median distance to the limit that the stop rule leaves.
    """
    groups = per_eta(tables["trials"])
    fig, axes = panels(plot, len(groups))
    levels = sorted(tables["trials"]["noise_level"].unique(), reverse=True)
    order = [f"$\\sigma/E_y$ = {v:.0e}" for v in levels]
    colours = dict(zip(order, sns.color_palette(plot.get("palette", "rocket"), len(order)), strict=True))
    for ax, (eta, trials) in zip(axes, groups, strict=True):
        trials = trials.assign(
            sqrt_r=np.sqrt(trials["r"]), noise=[f"$\\sigma/E_y$ = {v:.0e}" for v in trials["noise_level"]]
        )
        capped = trials.groupby(["noise", "sqrt_r"])["stop"].agg(lambda s: (s == "capped").mean() > 0.5)
        settled = trials[trials["stop"].isin(("converged", "stalled"))]
        for noise in order:
            ok = settled[settled["noise"] == noise].groupby("sqrt_r")["rel_error"]
            if ok.ngroups:
                mid, lo, hi = ok.median(), ok.quantile(0.25), ok.quantile(0.75)
                ax.errorbar(mid.index, mid, yerr=[mid - lo, hi - mid], color=colours[noise], marker="o", ms=4,
                            lw=1.2, capsize=2, label=noise)  # fmt: skip
            bad = capped[noise][capped[noise]].index if noise in capped.index.get_level_values(0) else []
            if len(bad):
                g = trials[(trials["noise"] == noise) & trials["sqrt_r"].isin(bad)].groupby("sqrt_r")["rel_error"]
                ax.plot(g.median().index, g.median(), ls="none", marker="o", ms=6, mfc="none", color=colours[noise])
        floor = settled.groupby("sqrt_r")["stop_floor"].median()
        if len(floor):
            ax.plot(floor.index, floor, ls=":", color="0.5", lw=1.2, label="stop-rule floor (median)")
        if bool(capped.any()):
            ax.plot([], [], ls="none", marker="o", mfc="none", color="0.3", label="most trials capped")
        ax.set_yscale("log")
        ax.set_xlabel(r"$\sqrt{r}$")
        ax.set_ylabel("relative error")
        ax.set_title(_eta_title(plot.get("title", "Noisy measurements (Fig. 5)"), eta, len(groups) > 1))
        ax.legend(fontsize="xx-small")
    return fig


def fig_z6(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 6: test error vs % of first-layer weights remaining (x reversed), one line per N, log y.

    One panel per eta; open markers where most trials' rounds stopped at max_iter.
    """
    groups = per_eta(tables["rounds"])
    fig, axes = panels(plot, len(groups))
    for ax, (eta, rounds) in zip(axes, groups, strict=True):
        rounds = rounds.assign(percent=100 * rounds["remaining"])
        sns.lineplot(
            data=rounds, x="percent", y="test_error", hue="n_samples", style="n_samples", markers=True,
            dashes=False, estimator="median", errorbar=("pi", 50), palette=plot.get("palette", "viridis"), ax=ax,
        )  # fmt: skip
        cells = rounds.groupby(["n_samples", "round"]).agg(
            percent=("percent", "median"),
            error=("test_error", "median"),
            capped=("stop", lambda s: (s == "capped").mean()),
        )
        capped = cells[cells["capped"] > 0.5]
        if len(capped):
            ax.plot(capped["percent"], capped["error"], ls="none", marker="o", ms=8, mfc="none", color="tab:red",
                    label="most rounds capped")  # fmt: skip
        ratio = 100 * float((rounds["r_star"] / rounds["d"]).iloc[0])
        ax.axvline(ratio, color="0.5", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.invert_xaxis()
        ax.set_yscale("log")
        ticks = [t for t in (100, 50, 20, 10, 5, 3) if rounds["percent"].min() * 0.99 <= t]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("remaining weights (%)")
        ax.set_ylabel("test error (MSE)")
        ax.legend(title="N", fontsize="small")
        ax.set_title(_eta_title(plot.get("title", "IMP on the sparse teacher (Fig. 6)"), eta, len(groups) > 1))
    return fig


def fig_z7(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """Fig. 7: test accuracy (end of each round) vs % remaining (x reversed), one line per N.

    Mean over trials with a band of +- one standard error. IMP solid; the controls of Frankle &
    Carbin (random pruning, re-initialisation), where run, dashed. One panel per architecture.
    """
    rounds = tables["rounds"].copy()
    rounds["percent"] = 100 * rounds["remaining"]
    rounds["run"] = np.where(
        rounds["mode"] == "imp", "N=" + rounds["n_samples"].astype(str),
        "N=" + rounds["n_samples"].astype(str) + " " + rounds["mode"],
    )  # fmt: skip
    archs = list(dict.fromkeys(rounds["arch"]))
    fig, axes = panels(plot, len(archs))
    for ax, arch in zip(axes, archs, strict=True):
        data = rounds[rounds["arch"] == arch]
        order = sorted(data["run"].unique(), key=lambda r: (" " in r, int(r.split()[0][2:]), r))
        dashes = {r: (4, 2) if " " in r else "" for r in order}
        sns.lineplot(
            data=data, x="percent", y="test_acc", hue="run", hue_order=order, style="run", style_order=order,
            dashes=dashes, markers=True, estimator="mean", errorbar=("se", 1), err_kws={"alpha": 0.15},
            palette=plot.get("palette", "viridis"), ax=ax,
        )  # fmt: skip
        ax.set_xscale("log")
        ax.invert_xaxis()
        ticks = [t for t in (100, 50, 20, 10, 5, 3, 2, 1) if data["percent"].min() * 0.99 <= t]
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_xlabel("remaining weights (%)")
        ax.set_ylabel("test accuracy")
        ax.legend(fontsize="x-small")
        ax.set_title(plot.get("title", f"IMP on MNIST, {arch} (Fig. 7)"))
    return fig


def fig_zt(tables: dict[str, pd.DataFrame], plot: dict[str, Any]) -> plt.Figure:
    """ZT: (a) the relative error of the tensor initialisation W(0) against N, per r (median and
    interquartile range; dashed: its estimation part ||W(0) - W_pop(0)||_F / ||W~*||_F, with an N^(-1/2)
    guide); (b) AGD's success rate against N from the tensor start (solid) and from a ball at the same
    relative distance (dashed)."""
    trials = tables["trials"]
    fig, (ax_e, ax_s) = panels(plot, 2)
    rs = sorted(trials["r"].unique())
    colours = dict(zip(rs, sns.color_palette(plot.get("palette", "viridis"), len(rs)), strict=True))
    markers = dict(zip(rs, "osD^vP*X" * len(rs), strict=False))
    tensor = trials[trials["init"] == "tensor"]
    for r in rs:
        g = tensor[tensor["r"] == r].groupby("n_samples")
        mid, lo, hi = g["init_error"].median(), g["init_error"].quantile(0.25), g["init_error"].quantile(0.75)
        ax_e.plot(mid.index, mid, marker=markers[r], ms=4, color=colours[r], label=f"r = {r}: W(0)")
        ax_e.fill_between(mid.index, lo, hi, color=colours[r], alpha=0.15, lw=0)
        est = g["init_estimation"].median()
        ax_e.plot(est.index, est, ls="--", lw=0.9, color=colours[r], label=f"r = {r}: estimation part")
    if len(tensor):
        est = tensor[tensor["r"] == rs[0]].groupby("n_samples")["init_estimation"].median()
        n = np.asarray(est.index, dtype=float)
        ax_e.plot(n, est.iloc[-1] * np.sqrt(n[-1] / n), ls=":", color="0.4", lw=1, label=r"$\propto N^{-1/2}$")
    ax_e.set_xscale("log")
    ax_e.set_yscale("log")
    ax_e.set_xlabel("number of samples N")
    ax_e.set_ylabel(r"$\|W^{(0)} - \tilde W^*\|_F / \|\tilde W^*\|_F$")
    ax_e.set_title(plot.get("title", "Tensor initialisation: error of W(0)"))
    ax_e.legend(fontsize="xx-small")
    for r in rs:
        for init, ls, fill in (("tensor", "-", None), ("matched", "--", "none")):
            g = trials[(trials["r"] == r) & (trials["init"] == init)]
            if len(g):
                rate = g.groupby("n_samples")["success"].mean()
                name = "tensor start" if init == "tensor" else "ball at the same distance"
                ax_s.plot(rate.index, rate, ls=ls, marker=markers[r], ms=5, mfc=fill, color=colours[r],
                          label=f"r = {r}: {name}")  # fmt: skip
    ax_s.set_xscale("log")
    ax_s.set_ylim(-0.05, 1.05)
    ax_s.set_xlabel("number of samples N")
    ax_s.set_ylabel("AGD success rate")
    ax_s.set_title("AGD from W(0)")
    ax_s.legend(fontsize="xx-small")
    return fig
