"""Explainer speed: emotionkit's batched explainers against straightforward per-image code,
and against Captum when it is installed, on the same model and images, in one run.

For each method the batched explainer (``emotionkit.explain.run``) is timed on ``--n`` faces;
the baseline is the straightforward implementation a first script would write: one image at a
time, and for SmoothGrad / integrated gradients / occlusion one noisy copy, path point or
window at a time. The baseline's maps are compared with the batched ones, so the bench also
checks that batching changes nothing. Activation maximization of all 64 channels of a layer in
one batch (default ``precision="auto"``, and fp32) is compared with a per-channel loop of the
same explainer and with the per-filter loop a first script would write (one filter at a time,
full forward passes, ``torch.optim.Adam``). Captum, when importable, runs each method on the
same batch with its default batching. Every line prints the time and the ratio.

Run::

    python bench/explain_speed.py                   # 16 faces, compact model, CPU
    python bench/explain_speed.py --n 64 --device cuda --am-steps 200
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from emotionkit import explain
from emotionkit._allocator import tune_cpu_allocator
from emotionkit.data import synthetic
from emotionkit.explain.trace import trace_forward
from emotionkit.runtime import describe_machine, resolve_device

CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
_clock = time.perf_counter


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Best time of ``repeats`` runs (and the last result), on the clock chosen by --clock."""
    best, result = math.inf, None
    for _ in range(repeats):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        start = _clock()
        result = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, _clock() - start)
    return best, result


# ----------------------------------------------------------------------------- naive baselines
def naive_gradient(model, x1, t):
    x1 = x1.clone().requires_grad_(True)
    out = model(x1)
    return torch.autograd.grad(out[0, t], x1)[0]


def naive_saliency(model, x, targets, **_):
    return torch.cat([naive_gradient(model, x[i:i + 1], t).abs() for i, t in enumerate(targets)])


def naive_guided(model, x, targets, **_):
    maps = []
    for i, t in enumerate(targets):
        handles = []
        for m in model.modules():
            if isinstance(m, nn.ReLU):
                handles.append(m.register_full_backward_hook(
                    lambda mod, gin, gout: (gin[0].clamp(min=0),)))
        try:
            maps.append(naive_gradient(model, x[i:i + 1], t))
        finally:
            for h in handles:
                h.remove()
    return torch.cat(maps)


def _cam_one(model, layer, x1, t):
    store = {}
    handle = layer.register_forward_hook(lambda m, a, o: store.__setitem__("a", o))
    try:
        out = model(x1)
        grad = torch.autograd.grad(out[0, t], store["a"])[0]
    finally:
        handle.remove()
    cam = (grad.mean((2, 3), keepdim=True) * store["a"]).sum(1, keepdim=True).clamp(min=0)
    return F.interpolate(cam.detach(), size=x1.shape[-2:], mode="bilinear", align_corners=False)


def naive_grad_cam(model, x, targets, layer, **_):
    return torch.cat([_cam_one(model, layer, x[i:i + 1], t) for i, t in enumerate(targets)])


def naive_guided_grad_cam(model, x, targets, layer, **_):
    return naive_guided(model, x, targets) * naive_grad_cam(model, x, targets, layer)


def naive_smoothgrad(model, x, targets, samples, noise, **_):
    from emotionkit.explain.methods.smoothgrad import image_generator

    maps = []
    for i, t in enumerate(targets):
        xi = x[i:i + 1]
        sigma = noise * float(xi.max() - xi.min())
        z = torch.randn((samples, *xi.shape[1:]), generator=image_generator(0, x[i]))
        total = torch.zeros_like(xi)
        for s in range(samples):
            total += naive_gradient(model, xi + sigma * z[s:s + 1].to(x.device), t).abs()
        maps.append(total / samples)
    return torch.cat(maps)


def naive_integrated_gradients(model, x, targets, steps, **_):
    maps = []
    for i, t in enumerate(targets):
        xi = x[i:i + 1]
        total = torch.zeros_like(xi)
        for k in range(steps):  # midpoint rule
            total += naive_gradient(model, xi * (k + 0.5) / steps, t)
        maps.append(xi * total / steps)
    return torch.cat(maps)


def naive_occlusion(model, x, targets, window, stride, **_):
    from emotionkit.explain.methods.occlusion import positions

    h, w = x.shape[-2:]
    maps = []
    with torch.no_grad():
        for i, t in enumerate(targets):
            xi = x[i:i + 1]
            clean = model(xi)[0, t]
            total, count = torch.zeros(h, w, device=x.device), torch.zeros(h, w, device=x.device)
            for y in positions(h, window, stride):
                for q in positions(w, window, stride):
                    covered = xi.clone()
                    covered[..., y:y + window, q:q + window] = 0.0
                    total[y:y + window, q:q + window] += clean - model(covered)[0, t]
                    count[y:y + window, q:q + window] += 1
            maps.append((total / count.clamp(min=1))[None, None])
    return torch.cat(maps)


# ----------------------------------------------------------------------------- captum
def captum_runner(name, model, layer, opts):
    try:
        import captum.attr as ca
    except ImportError:
        return None
    if name == "saliency":
        return lambda x, t: ca.Saliency(model).attribute(x, target=t, abs=True)
    if name == "guided-backprop":
        return lambda x, t: ca.GuidedBackprop(model).attribute(x, target=t)
    if name == "grad-cam":
        return lambda x, t: ca.LayerAttribution.interpolate(
            ca.LayerGradCam(model, layer).attribute(x, target=t, relu_attributions=True),
            x.shape[-2:], "bilinear")
    if name == "guided-grad-cam":
        return lambda x, t: ca.GuidedGradCam(model, layer).attribute(x, target=t)
    if name == "smoothgrad":
        def run(x, t):
            flat = x.flatten(1)
            sigma = float((opts["noise"] * (flat.max(1).values - flat.min(1).values)).mean())
            return ca.NoiseTunnel(ca.Saliency(model)).attribute(
                x, nt_type="smoothgrad", nt_samples=opts["samples"], stdevs=sigma, target=t,
                abs=True)
        return run
    if name == "integrated-gradients":
        return lambda x, t: ca.IntegratedGradients(model).attribute(
            x, target=t, n_steps=opts["steps"], method="riemann_middle")
    if name == "occlusion":
        w, s = opts["window"], opts["stride"]
        return lambda x, t: ca.Occlusion(model).attribute(
            x, target=t, sliding_window_shapes=(1, w, w), strides=(1, s, s), baselines=0.0)
    return None


# ----------------------------------------------------------------------------- activation-max
def naive_activation_max(model, layer, channel, steps, shape, device):
    """A per-filter loop as usually written: full forward, torch.optim.Adam, torch.roll jitter."""
    gen = torch.Generator().manual_seed(channel)
    x = (0.5 + 0.1 * torch.randn((1, *shape), generator=gen)).clamp(0, 1).to(device)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.05)
    store = {}
    handle = layer.register_forward_hook(lambda m, a, o: store.__setitem__("a", o))
    try:
        for _ in range(steps):
            dy, dx = torch.randint(-2, 3, (2,), generator=gen).tolist()
            opt.zero_grad()
            model(torch.roll(x, (dy, dx), dims=(2, 3)))
            loss = -store["a"][0, channel].mean() + 1e-3 * ((x - 0.5) ** 2).sum()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
    finally:
        handle.remove()
    return x.detach()


def _loadavg() -> str:
    try:
        with open("/proc/loadavg", encoding="utf-8") as fh:
            return " ".join(fh.read().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="compact", help="Zoo model name.")
    parser.add_argument("--n", type=int, default=16, help="Images per batch.")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2, help="Best of this many runs.")
    parser.add_argument("--samples", type=int, default=16, help="SmoothGrad samples.")
    parser.add_argument("--steps", type=int, default=32, help="Integrated-gradient steps.")
    parser.add_argument("--am-steps", type=int, default=30, help="Activation-max steps.")
    parser.add_argument("--am-naive-channels", type=int, default=16,
                        help="Channels timed in the naive activation-max loop (scaled to 64).")
    parser.add_argument("--methods", nargs="*", default=None, help="Subset of methods.")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads.")
    parser.add_argument("--clock", choices=sorted(CLOCK), default="wall",
                        help="wall time, or this process's CPU time (steadier on a busy "
                        "shared machine; use with --threads 1).")
    args = parser.parse_args()
    global _clock
    _clock = CLOCK[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)

    tune_cpu_allocator()  # as the emotionkit command does (EMOTIONKIT_MALLOC=default: off)

    print(describe_machine())
    print(f"clock={args.clock} load average={_loadavg()}")
    device = resolve_device(args.device)
    from emotionkit.models import ModelZoo

    torch.manual_seed(0)
    model = ModelZoo.create(args.model).to(device).eval()
    data = synthetic(max(1, math.ceil(args.n / 7)), seed=0)
    x = data.to_tensor(device)[0][: args.n]
    with torch.no_grad():
        targets = model(x).argmax(1).tolist()
    trace = trace_forward(model, x[:1])
    last_conv = trace.conv_layers()[-1]
    layer = dict(model.named_modules())[last_conv]
    opts = {"samples": args.samples, "noise": 0.15, "steps": args.steps, "window": 8,
            "stride": 4}
    cases = {
        "saliency": ({}, naive_saliency),
        "guided-backprop": ({}, naive_guided),
        "grad-cam": ({"layer": last_conv}, naive_grad_cam),
        "guided-grad-cam": ({"layer": last_conv}, naive_guided_grad_cam),
        "smoothgrad": ({"samples": args.samples, "noise": 0.15}, naive_smoothgrad),
        "integrated-gradients": ({"steps": args.steps, "rule": "midpoint"},
                                 naive_integrated_gradients),
        "occlusion": ({"window": 8, "stride": 4}, naive_occlusion),
    }
    print(f"model={args.model} images={len(x)} device={device} layer={last_conv}")
    print(f"{'method':<22}{'batched':>10}{'per-image':>11}{'ratio':>8}{'max|diff|':>11}"
          f"{'captum':>10}{'ratio':>8}")
    for name, (method_opts, naive) in cases.items():
        if args.methods and name not in args.methods:
            continue
        t_ours, ours = timed(partial(explain.run, name, model, x, target=targets,
                                     **method_opts), args.repeats)
        t_naive, ref = timed(partial(naive, model, x, targets, layer=layer, **opts), 1)
        diff = float((ours.maps - ref.detach().cpu()).abs().max())
        line = (f"{name:<22}{t_ours:>9.3f}s{t_naive:>10.3f}s{t_naive / t_ours:>7.1f}x"
                f"{diff:>11.2e}")
        runner = captum_runner(name, model, layer, opts)
        if runner is not None:
            tt = torch.tensor(targets, device=device)
            t_captum, _ = timed(partial(runner, x.clone(), tt), args.repeats)
            line += f"{t_captum:>9.3f}s{t_captum / t_ours:>7.1f}x"
        else:
            line += f"{'n/a':>10}{'':>8}"
        print(line, flush=True)

    if args.methods and "activation-max" not in args.methods:
        return
    layer64 = next(n for n, s in zip((n for n, _ in trace.calls), trace.output_shapes,
                                     strict=True)
                   if n in trace.conv_layers() and s[1] == 64)
    module = dict(model.named_modules())[layer64]
    k = args.am_naive_channels
    am = {"layer": layer64, "steps": args.am_steps}
    explain.run("activation-max", model, channels="0-7", **am)  # warm-up
    rows = {"batch": [], "batch_fp32": [], "loop": [], "naive": []}
    for _ in range(args.repeats):  # interleaved, so load changes hit every variant alike
        t, res = timed(lambda: explain.run("activation-max", model, channels="0-63", **am), 1)
        rows["batch"].append(t)
        t, _ = timed(lambda: explain.run("activation-max", model, channels="0-63",
                                         precision="fp32", **am), 1)
        rows["batch_fp32"].append(t)
        t, _ = timed(lambda: [explain.run("activation-max", model, channels=c, **am)
                              for c in range(k)], 1)
        rows["loop"].append(t * 64 / k)
        t, _ = timed(lambda: [naive_activation_max(model, module, c, args.am_steps,
                                                   (1, 48, 48), device) for c in range(k)], 1)
        rows["naive"].append(t * 64 / k)
    best = {key: min(values) for key, values in rows.items()}
    print(f"activation-max, 64 channels of {layer64}, {args.am_steps} steps "
          f"(best of {args.repeats}; precision auto={res.options['precision']}, "
          f"folded={res.extras['folded']}, channels_last={res.options['channels_last']}):")
    print(f"  one batch (auto)     {best['batch']:8.2f}s")
    print(f"  one batch (fp32)     {best['batch_fp32']:8.2f}s")
    ratio = best["loop"] / best["batch"]
    print(f"  per-channel loop     {best['loop']:8.2f}s  ratio {ratio:5.1f}x  "
          f"(same explainer and settings, one channel per call; {k} timed, scaled to 64)")
    for label, key in (("auto", "batch"), ("fp32", "batch_fp32")):
        print(f"  naive per-filter     {best['naive']:8.2f}s  ratio "
              f"{best['naive'] / best[key]:5.1f}x vs one batch ({label})  "
              f"(full forward + torch.optim.Adam; {k} timed, scaled to 64)")


if __name__ == "__main__":
    main()
