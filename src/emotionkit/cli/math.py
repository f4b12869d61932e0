"""``emotionkit math``: the course's hand calculations from the command line.

The group's function is ``math_group`` (a module-level ``math`` would shadow the standard library
for readers of this file); the command is still ``emotionkit math``.
"""

from __future__ import annotations

import json
from typing import Any

import click


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2))


def _padding_option(value: str) -> str | int:
    word = value.strip().lower()
    if word in ("same", "valid"):
        return word
    try:
        return int(word)
    except ValueError:
        raise click.BadParameter(f"expected an integer, 'same' or 'valid'; got {value!r}") from None


@click.group(name="math")
def math_group() -> None:
    """Conv shapes and costs, PCA, model cost tables and the big-O of a CNN."""


@math_group.command("conv")
@click.option("--n", "n", type=int, required=True, help="Input height = width.")
@click.option("--k", "k", type=int, required=True, help="Kernel size.")
@click.option("--p", "p", default="0", show_default=True, help="Padding: integer, same or valid.")
@click.option("--s", "s", type=int, default=1, show_default=True, help="Stride.")
@click.option("--d", "d", type=int, default=1, show_default=True, help="Dilation.")
@click.option("--c-in", type=int, default=None, help="Input channels (for params and ops).")
@click.option("--c-out", type=int, default=None, help="Output channels (for params and ops).")
@click.option("--groups", type=int, default=1, show_default=True, help="Channel groups.")
@click.option("--bias/--no-bias", default=True, show_default=True, help="Count a bias.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def conv_cmd(n: int, k: int, p: str, s: int, d: int, c_in: int | None, c_out: int | None,
             groups: int, bias: bool, as_json: bool) -> None:
    """Output size, parameters, multiplications and additions of one convolution.

    Example: emotionkit math conv --n 48 --k 3 --p same --c-in 1 --c-out 32
    """
    from ..math import conv

    pad = _padding_option(p)
    size = conv.output_size(n, k, pad, s, d)
    if (c_in is None) != (c_out is None):
        raise click.UsageError("give both --c-in and --c-out, or neither")
    result: dict[str, Any] = {"n": n, "k": k, "p": pad, "s": s, "d": d, "output_size": size}
    if pad == "same":
        result["padding"] = list(conv.same_padding(k, d=d, n=n, s=s))
    cost = other = None
    if c_in is not None:
        cost = conv.conv_ops(n, c_in, c_out, k, pad, s, d, groups=groups, bias=bias)
        other = conv.conv_ops(n, c_in, c_out, k, pad, s, d, groups=groups, bias=not bias)
        result.update(cost.to_dict())
        result.update({"c_in": c_in, "c_out": c_out, "groups": groups})
        result["with_bias" if not bias else "without_bias"] = {
            "params": other.params, "additions": other.additions,
        }
    if as_json:
        _echo_json(result)
        return
    if pad == "same":
        before, after = result["padding"]
        click.echo(f"output size: ceil({n} / {s}) = {size}  ('same': pad {before} before, "
                   f"{after} after)")
    else:
        eff = f"{d}*({k}-1)+1" if d > 1 else f"{k}"
        click.echo(f"output size: floor(({n} + 2*{pad} - {eff}) / {s}) + 1 = {size}")
    if cost is None:
        return
    per_in = c_in // groups
    outputs = cost.multiplications // cost.per_output_multiplications
    click.echo(f"output shape: {' x '.join(map(str, cost.output_shape))}")
    click.echo(f"parameters: {c_out}*{per_in}*{k}*{k}" + (f" + {c_out}" if bias else "")
               + f" = {cost.params:,}")
    click.echo(f"multiplications: {outputs:,} outputs x {cost.per_output_multiplications} "
               f"= {cost.multiplications:,}")
    click.echo(f"additions: {outputs:,} outputs x {cost.per_output_additions} "
               f"({cost.per_output_multiplications - 1} to sum"
               + (" + 1 bias" if bias else "") + f") = {cost.additions:,}")
    label = "with bias" if not bias else "without bias"
    click.echo(f"{label}: {other.params:,} parameters, {other.additions:,} additions")


@math_group.command("pool")
@click.option("--n", "n", type=int, required=True, help="Input height = width.")
@click.option("--k", "k", type=int, required=True, help="Pooling window.")
@click.option("--s", "s", type=int, default=None, help="Stride (default: the window).")
@click.option("--p", "p", type=int, default=0, show_default=True, help="Padding (valid only).")
@click.option("--padding", type=click.Choice(["valid", "same"]), default="valid",
              show_default=True, help="'same' = Keras: ceil(n / s).")
@click.option("--ceil-mode", is_flag=True, help="PyTorch ceil_mode.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def pool_cmd(n: int, k: int, s: int | None, p: int, padding: str, ceil_mode: bool,
             as_json: bool) -> None:
    """Output size of a max/average pooling layer (PyTorch rules, or Keras 'same')."""
    from ..math import conv

    size = conv.pool_output_size(n, k, s, p, ceil_mode=ceil_mode, padding=padding)
    if as_json:
        _echo_json({"n": n, "k": k, "s": s if s is not None else k, "p": p, "padding": padding,
                    "ceil_mode": ceil_mode, "output_size": size})
        return
    stride = s if s is not None else k
    if padding == "same":
        click.echo(f"output size: ceil({n} / {stride}) = {size}")
    else:
        rounding = "ceil" if ceil_mode else "floor"
        click.echo(f"output size: {rounding}(({n} + 2*{p} - {k}) / {stride}) + 1 = {size}")


def _fmt_vec(values: Any) -> str:
    return "[" + ", ".join(f"{float(v):.4f}" for v in values) + "]"


@math_group.command("pca")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--k", "k", type=int, default=None, help="Components to show (default: all).")
@click.option("--ddof", type=click.IntRange(0, 1), default=0, show_default=True,
              help="0: covariance with 1/N; 1: with 1/(N-1).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def pca_cmd(file: str, k: int | None, ddof: int, as_json: bool) -> None:
    """PCA of the points in FILE (.csv/.txt/.tsv, one point per line, or a 2-D .npy).

    Prints the mean, the covariance, the eigenvalues under both conventions (1/N and 1/(N-1)),
    the explained-variance ratios and the principal axes.
    """
    from ..math import pca
    from ..math.points import read_points

    result = pca.fit(read_points(file), k=k, ddof=ddof)
    data = result.to_dict()
    if as_json:
        _echo_json(data)
        return
    conv_name = "1/N" if ddof == 0 else "1/(N-1)"
    click.echo(f"{result.n_samples} points in {result.n_features} dimensions "
               f"({result.method}); covariance with {conv_name}")
    click.echo(f"mean: {_fmt_vec(data['mean'])}")
    if "covariance" in data and result.n_features <= 12:
        click.echo("covariance:")
        for row in data["covariance"]:
            click.echo("  " + _fmt_vec(row))
    click.echo(f"eigenvalues (1/N):     {_fmt_vec(data['eigenvalues_population'])}")
    click.echo(f"eigenvalues (1/(N-1)): {_fmt_vec(data['eigenvalues_sample'])}")
    click.echo(f"explained variance ratio: {_fmt_vec(data['explained_variance_ratio'])}")
    click.echo("principal axes (rows, largest entry positive):")
    for i, row in enumerate(data["components"], start=1):
        shown = row if len(row) <= 12 else row[:12]
        more = "" if len(row) <= 12 else f" ... ({len(row)} values)"
        click.echo(f"  PC{i}: {_fmt_vec(shown)}{more}")


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(",") if v.strip())
    except ValueError:
        raise click.BadParameter(f"expected integers like 1,1,48,48; got {text!r}") from None
    if not shape or any(v < 1 for v in shape):
        raise click.BadParameter(f"expected positive integers like 1,1,48,48; got {text!r}")
    return shape


def _create_model(name: str) -> Any:
    from ..errors import ConfigError

    try:
        from ..models import ModelZoo
    except ImportError as exc:
        raise ConfigError(f"the model zoo (emotionkit.models) is not available: {exc}") from None
    return ModelZoo.create(name)


@math_group.command("model")
@click.argument("name")
@click.option("--input-shape", default="1,1,48,48", show_default=True,
              help="Input shape N,C,H,W (the counts cover the whole batch).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def model_cmd(name: str, input_shape: str, as_json: bool) -> None:
    """Per-layer output shape, parameters, multiplications and additions of zoo model NAME."""
    from ..math.model_cost import analyze

    shape = _parse_shape(input_shape)
    table = analyze(_create_model(name), shape)
    if as_json:
        _echo_json({"model": name, **table.to_dict()})
        return
    click.echo(f"{name}")
    click.echo(table.to_text())


@math_group.command("complexity")
@click.argument("name", required=False)
@click.option("--latex", is_flag=True, help="Print only the LaTeX expression.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def complexity_cmd(name: str | None, latex: bool, as_json: bool) -> None:
    """Big-O time of an L-layer CNN; with zoo model NAME, its evaluated per-layer terms."""
    from ..math.model_cost import complexity

    result = complexity(_create_model(name) if name else None)
    if as_json:
        _echo_json({"model": name, **result.to_dict()})
        return
    if latex:
        click.echo(result.latex)
        return
    click.echo(result.text)
    click.echo(f"LaTeX: {result.latex}")
    click.echo(result.symbols)
    if result.terms:
        click.echo(f"{name}: {len(result.terms)} conv layers")
        for t in result.terms:
            click.echo(f"  {t.name}: {t.expression} = {t.value:,}")
        click.echo(f"  total: {result.total:,} multiply-accumulates per image")
