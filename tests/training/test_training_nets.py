"""Networks: PMD head derivatives and Eq. (7), TCD/RK2 block equations, every variant's forward
and backward, tiling equivalence, receptive field."""

from __future__ import annotations

import pytest
import torch

from training.nets import VARIANTS, build_generator, build_reverse_generator, receptive_field_radius
from training.nets.blocks import BlockCascade, RK2Block, TCDBlock
from training.nets.heads import GradientHead, PMDHead
from training.nets.layers import ContextLooks, zero_padded

torch.set_num_threads(1)

# u = a x^2 + b x y + c y^2 + d x + e y + f, x = column, y = row
POLY = [(0.3, -0.7, 0.2, 1.5, -0.4, 2.0), (-0.1, 0.25, 0.6, -0.3, 0.9, -1.0)]


def _grid(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    y, x = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    return x, y


def _poly_image(h=12, w=15):
    x, y = _grid(h, w)
    chans = [a * x**2 + b * x * y + c * y**2 + d * x + e * y + f for a, b, c, d, e, f in POLY]
    return torch.stack(chans).unsqueeze(0), x, y  # (1, 2, H, W)


def test_pmd_head_reproduces_derivatives_and_eq7_on_quadratics():
    head = PMDHead(eps=1e-6)
    u, x, y = _poly_image()
    d = head.derivatives(u)
    inner = (slice(None), slice(None), slice(1, -1), slice(1, -1))
    for ch, (a, b, c, dd, e, _) in enumerate(POLY):
        expected = {
            "u_x": 2 * a * x + b * y + dd,
            "u_y": b * x + 2 * c * y + e,
            "u_xx": torch.full_like(x, 2 * a),
            "u_yy": torch.full_like(x, 2 * c),
            "u_xy": torch.full_like(x, b),
        }
        for name, want in expected.items():
            got = d[name][0, ch][1:-1, 1:-1]
            torch.testing.assert_close(got, want[1:-1, 1:-1], rtol=0, atol=1e-9, msg=name)
        ux, uy = expected["u_x"], expected["u_y"]
        num = ux**2 * 2 * c - 2 * ux * uy * b + uy**2 * 2 * a
        residual = num / (2 * (ux**2 + uy**2) + 1e-6)
        torch.testing.assert_close(d["residual"][0, ch][1:-1, 1:-1], residual[1:-1, 1:-1])
    # phi groups [u_x, u_y, residual] by channel
    phi = head(u)
    assert phi.shape == (1, 6, 12, 15)
    torch.testing.assert_close(phi[inner][:, 3], d["u_x"][inner][:, 1])
    torch.testing.assert_close(phi[inner][:, 2], d["residual"][inner][:, 0])


def test_pmd_residual_is_zero_on_flat_images():
    head = PMDHead()
    d = head.derivatives(torch.full((1, 1, 8, 8), 0.3))
    assert torch.equal(d["residual"], torch.zeros(1, 1, 8, 8))


def test_gradient_head_on_a_plane():
    x, y = _grid(10, 10)
    u = (1.5 * x - 0.5 * y).reshape(1, 1, 10, 10)
    gx, gy, mag = GradientHead(eps=0.0)(u)[0, :, 1:-1, 1:-1]
    torch.testing.assert_close(gx, torch.full_like(gx, 1.5))
    torch.testing.assert_close(gy, torch.full_like(gy, -0.5))
    torch.testing.assert_close(mag, torch.full_like(mag, (1.5**2 + 0.25) ** 0.5))


def test_head_kernels_are_fixed_buffers():
    gen = build_generator("full", in_channels=1, width=4)
    param_ids = {id(p) for p in gen.parameters()}
    assert id(gen.head.kernels) not in param_ids
    assert "head.kernels" in gen.state_dict()
    before = gen.head.kernels.clone()
    opt = torch.optim.Adam(gen.parameters(), lr=0.1)
    optical, side = gen(torch.randn(1, 1, 32, 32), return_pmd=True)
    (optical.mean() + side.abs().mean() + gen.phi(optical).abs().mean()).backward()
    opt.step()
    assert torch.equal(gen.head.kernels, before)
    assert gen.head.kernels.grad is None


def _identity_df(df, scale: float, bias: float) -> None:
    """Set df = conv(ReLU(conv(u))) to df(u) = scale * relu(u) + bias (per channel)."""
    with torch.no_grad():
        for conv, s, b in ((df[0], 1.0, 0.0), (df[2], scale, bias)):
            conv.weight.zero_()
            for ch in range(conv.weight.shape[0]):
                conv.weight[ch, ch, 1, 1] = s
            conv.bias.fill_(b)


def test_tcd_block_computes_eq4():
    block = TCDBlock(3)
    _identity_df(block.df, 2.0, 0.5)
    g = torch.Generator().manual_seed(1)
    u, u1, u2 = (torch.randn(2, 3, 6, 7, generator=g) for _ in range(3))
    df = 2.0 * torch.relu(u) + 0.5
    expected = u + 0.5 * (u - u1) - 0.5 * (u1 - u2) + df
    torch.testing.assert_close(block(u, u1, u2), expected)


def test_tcd_cascade_starts_with_u_minus1_equal_u0():
    cascade = BlockCascade("tcd", 2, 3)
    for block in cascade.blocks:
        _identity_df(block.df, -0.5, 0.1)
    u0 = torch.randn(1, 2, 5, 5, generator=torch.Generator().manual_seed(2))
    states = cascade(u0)

    def df(u):
        return -0.5 * torch.relu(u) + 0.1

    u1 = u0 + df(u0)
    u2 = u1 + 0.5 * (u1 - u0) + df(u1)
    u3 = u2 + 0.5 * (u2 - u1) - 0.5 * (u1 - u0) + df(u2)
    for got, want in zip(states, (u1, u2, u3), strict=True):
        torch.testing.assert_close(got, want)


def test_rk2_block_is_heun():
    block = RK2Block(2)
    _identity_df(block.df1, 1.0, 0.2)
    _identity_df(block.df2, 3.0, 0.0)
    u = torch.randn(1, 2, 4, 4, generator=torch.Generator().manual_seed(3))
    k1 = torch.relu(u) + 0.2
    k2 = 3.0 * torch.relu(u + k1)
    torch.testing.assert_close(block(u, u, u), u + 0.5 * (k1 + k2))


@pytest.mark.parametrize("bands", ["VV", "VV,VH"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_runs_forward_and_backward(variant, bands):
    n_in = len(bands.split(","))
    gen = build_generator(variant, n_in, width=4)
    x = torch.rand(2, n_in, 32, 32) * 2 - 1
    optical, side = gen(x, return_pmd=True)
    assert optical.shape == (2, 3, 32, 32)
    assert optical.abs().max() <= 1.0
    assert torch.equal(gen(x), optical)
    if VARIANTS[variant].branch:
        assert side.shape == (2, 9, 32, 32)
        loss = optical.mean() + side.mean()
    else:
        assert side is None
        loss = optical.mean()
    loss.backward()
    grads = [p.grad for p in gen.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0
    if VARIANTS[variant].cycle:
        back = build_reverse_generator(variant, n_in, width=4)(optical.detach())
        assert back.shape == (2, n_in, 32, 32)


def test_size_not_multiple_of_stride_is_refused():
    gen = build_generator("full", 2, width=4)
    with pytest.raises(ValueError, match="multiples of 4"):
        gen(torch.zeros(1, 2, 30, 32))


def test_receptive_field_radii():
    radii = {
        v: receptive_field_radius(build_generator(v, 2, width=2))
        for v in ("base", "full", "pix2pix")
    }
    assert radii == {"base": 39, "full": 47, "pix2pix": 44}
    # the context reaches 2 sigma of its widest Gaussian further, at 1/4 resolution
    for sigmas, radius in (((8,), 57), ((8, 16), 73), ((8, 16, 32), 105)):
        gen = build_generator("full", 2, width=2, context_sigmas=sigmas)
        assert receptive_field_radius(gen) == radius


def test_context_looks_average_and_smooth_the_input():
    ctx = ContextLooks(2, 5, (4, 12))
    assert ctx.radius == 6  # 2 x 12 px / 4, in 1/4-resolution pixels
    assert torch.allclose(ctx.kernel.sum(dim=-1), torch.ones(4, 1, 1))  # each Gaussian sums to 1
    taps = ctx.kernel[0, 0, 0]  # the 4 px Gaussian, truncated at 2 sigma = 2 quarter pixels
    assert (taps[:4] == 0).all() and (taps[4:9] > 0).all() and (taps[9:] == 0).all()
    support = []
    ctx.project = torch.nn.Identity()  # see the maps themselves: looks, then smoothed looks
    x = torch.full((1, 2, 64, 64), 0.25)
    x[:, 1] = -0.5
    maps = ctx(x)  # a flat input: every map holds the band's value
    assert maps.shape == (1, 6, 16, 16)
    torch.testing.assert_close(maps[0, [0, 2, 3]], torch.full((3, 16, 16), 0.25))
    torch.testing.assert_close(maps[0, [1, 4, 5]], torch.full((3, 16, 16), -0.5))
    x = torch.zeros(1, 2, 64, 64)
    x[:, :, 32:36, 32:36] = 1.0  # one bright 4 x 4 block: one look of 1 at quarter pixel (8, 8)
    maps = ctx(x)[0]
    assert maps[0, 8, 8] == 1.0 and maps[0].sum() == 1.0
    for k in (2, 3):  # VV smoothed: spread out, the wider one further, the total kept
        assert maps[k].sum() == pytest.approx(1.0) and maps[k, 8, 8] < 1.0
        support.append(int((maps[k] > 1e-6).sum()))
    assert support == [5 * 5, 13 * 13]
    with pytest.raises(ValueError, match="multiples of 4"):
        ContextLooks(2, 5, (6,))
    with pytest.raises(ValueError, match="U-Net"):
        build_generator("pix2pix", 2, width=4, context_sigmas=(8,))


# every variant, and the full generator with the multi-look context (layers.ContextLooks)
GENERATORS = [(v, ()) for v in VARIANTS] + [("full", (8, 16))]
GENERATOR_IDS = [v if not c else f"{v}+context{','.join(map(str, c))}" for v, c in GENERATORS]


@pytest.mark.parametrize(("variant", "context"), GENERATORS, ids=GENERATOR_IDS)
def test_crop_equals_whole_image_away_from_the_crop_border(variant, context):
    gen = build_generator(variant, 2, width=4, context_sigmas=context).eval()
    m, r = gen.size_multiple, receptive_field_radius(gen)
    crop = -(-(2 * r + 24) // m) * m
    top, left = 2 * m, 3 * m
    size = crop + 5 * m
    x = torch.rand(1, 2, size, size, generator=torch.Generator().manual_seed(4)) * 2 - 1
    with torch.no_grad():
        whole = gen(x)
        part = gen(x[:, :, top : top + crop, left : left + crop])
    inner = slice(r, crop - r)
    ref = whole[:, :, top : top + crop, left : left + crop][:, :, inner, inner]
    torch.testing.assert_close(part[:, :, inner, inner], ref, rtol=0, atol=1e-5)
    # near the crop's border its padding shows: the comparison above is not vacuous
    full_ref = whole[:, :, top : top + crop, left : left + crop]
    assert (part - full_ref).abs().max() > 1e-3


@pytest.mark.parametrize(("variant", "context"), GENERATORS, ids=GENERATOR_IDS)
def test_zero_padded_copy_equals_the_network_away_from_the_border(variant, context):
    torch.manual_seed(0)
    gen = build_generator(variant, 2, width=4, context_sigmas=context).eval()
    zero = zero_padded(gen)
    m, r = gen.size_multiple, receptive_field_radius(gen)
    size = -(-(2 * r + 20) // m) * m
    x = torch.rand(1, 2, size, size, generator=torch.Generator().manual_seed(5)) * 2 - 1
    with torch.no_grad():
        ref, got = gen(x), zero(x)
    inner = slice(r, size - r)
    torch.testing.assert_close(got[:, :, inner, inner], ref[:, :, inner, inner], rtol=0, atol=1e-4)
    assert (got - ref).abs().max() > 1e-2  # the border band does differ: zeros are really used
    # the original is untouched (a copy was changed) and the copy pads nowhere by reflection
    modes = {mod.padding_mode for mod in gen.modules() if isinstance(mod, torch.nn.Conv2d)}
    assert modes == {"reflect"}
    zmodes = {mod.padding_mode for mod in zero.modules() if isinstance(mod, torch.nn.Conv2d)}
    assert zmodes == {"zeros"}
