"""Fixed-kernel heads: the PMD head phi of the paper (Sec. 3.3) and the gradient head of the
"+TCD+Grad" ablation.

Axis convention: x is the column (width) axis, y the row (height) axis, pixel spacing 1.
torch's conv2d is a cross-correlation, out[i, j] = sum_{a,b} K[a, b] u[i + a - 1, j + b - 1], so a
kernel entry K[a, b] weighs the neighbour (row offset a - 1, column offset b - 1).

The paper's printed kernels are garbled; these are the second-order central differences
(exact for quadratic polynomials):

    u_x  = (u[i, j+1] - u[i, j-1]) / 2
    u_y  = (u[i+1, j] - u[i-1, j]) / 2
    u_xx =  u[i, j+1] - 2 u[i, j] + u[i, j-1]
    u_yy =  u[i+1, j] - 2 u[i, j] + u[i-1, j]
    u_xy = (u[i+1, j+1] - u[i+1, j-1] - u[i-1, j+1] + u[i-1, j-1]) / 4

and the PMD residual, Eq. (7) (one Perona-Malik step along the edge direction beta, dt = 1):

    du = 1/2 u_bb = (u_x^2 u_yy - 2 u_x u_y u_xy + u_y^2 u_xx) / (2 (u_x^2 + u_y^2) + eps)

eps guards the division where the image is flat (there the numerator vanishes too, so du -> 0).

Both heads act on every channel separately with the same kernels (depthwise), so one head serves
1- or 2-band SAR and 3-band optical images. The kernels are buffers: not parameters, never
trained, saved in the state dict and exported as constants. The image border is reflect-padded.

phi(u) (``forward``) returns three maps per channel, grouped by channel:
[c0 map0, c0 map1, c0 map2, c1 map0, ...]:
  * PMD head:      [u_x, u_y, du]           (gradient = edges, du = the PMD residual of Eq. (7))
  * gradient head: [g_x, g_y, |g|]          (Sobel gradients / 8 and their magnitude)
The PMD image side output of the generator predicts phi(y) of the RGB target, so it has 3 x 3 = 9
channels; the PDE loss (Eq. 9) compares these maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from training.nets.layers import PAD_MODE

DEFAULT_EPS = 1e-6
MAPS_PER_CHANNEL = 3


def _central_difference_kernels() -> Tensor:
    """(5, 1, 3, 3) kernels for u_x, u_y, u_xx, u_yy, u_xy (see module docstring)."""
    k = torch.zeros(5, 1, 3, 3)
    k[0, 0, 1, 2], k[0, 0, 1, 0] = 0.5, -0.5  # u_x
    k[1, 0, 2, 1], k[1, 0, 0, 1] = 0.5, -0.5  # u_y
    k[2, 0, 1, 0], k[2, 0, 1, 1], k[2, 0, 1, 2] = 1.0, -2.0, 1.0  # u_xx
    k[3, 0, 0, 1], k[3, 0, 1, 1], k[3, 0, 2, 1] = 1.0, -2.0, 1.0  # u_yy
    k[4, 0, 2, 2], k[4, 0, 2, 0], k[4, 0, 0, 2], k[4, 0, 0, 0] = 0.25, -0.25, -0.25, 0.25  # u_xy
    return k


def _sobel_kernels() -> Tensor:
    """(2, 1, 3, 3) Sobel kernels / 8, so a unit slope gives a unit gradient: g_x, g_y."""
    smooth = torch.tensor([1.0, 2.0, 1.0])
    diff = torch.tensor([-1.0, 0.0, 1.0])
    gx = torch.outer(smooth, diff) / 8.0
    return torch.stack([gx, gx.t()]).unsqueeze(1)


class _DepthwiseFixedHead(nn.Module):
    """Applies fixed (n, 1, 3, 3) kernels to every channel of (B, C, H, W) -> (B, C, n, H, W)."""

    def __init__(self, kernels: Tensor, eps: float):
        super().__init__()
        self.register_buffer("kernels", kernels)
        self.eps = float(eps)
        self.pad_mode = PAD_MODE  # "constant" in export's zero-padded copy (layers.zero_padded)
        self.maps_per_channel = MAPS_PER_CHANNEL

    def _apply_kernels(self, u: Tensor) -> Tensor:
        b, c, h, w = u.shape
        flat = u.reshape(b * c, 1, h, w)
        kernels = self.kernels.to(flat.dtype)
        if self.pad_mode == "constant":  # zeros: inside the convolution, no separate pad
            out = F.conv2d(flat, kernels, padding=1)
        else:
            out = F.conv2d(F.pad(flat, (1, 1, 1, 1), mode=self.pad_mode), kernels)
        return out.reshape(b, c, self.kernels.shape[0], h, w)

    @staticmethod
    def _group(maps: list[Tensor]) -> Tensor:
        """Stack per-channel maps (each (B, C, H, W)) to (B, C * len(maps), H, W), by channel."""
        stacked = torch.stack(maps, dim=2)
        b, c, n, h, w = stacked.shape
        return stacked.reshape(b, c * n, h, w)

    def forward(self, u: Tensor) -> Tensor:
        """phi(u); under autocast (AMP training) computed in float32 (tiny denominators)."""
        if torch.is_autocast_enabled(u.device.type):
            with torch.autocast(device_type=u.device.type, enabled=False):
                return self._group(self.maps(u.float()))
        return self._group(self.maps(u))

    def maps(self, u: Tensor) -> list[Tensor]:
        raise NotImplementedError


class PMDHead(_DepthwiseFixedHead):
    """The PMD head phi: central-difference derivatives and the Eq. (7) residual."""

    def __init__(self, eps: float = DEFAULT_EPS):
        super().__init__(_central_difference_kernels(), eps)

    def derivatives(self, u: Tensor) -> dict[str, Tensor]:
        """{"u_x", "u_y", "u_xx", "u_yy", "u_xy", "residual"}, each shaped like u."""
        d = self._apply_kernels(u)
        ux, uy, uxx, uyy, uxy = d.unbind(dim=2)
        numerator = ux * ux * uyy - 2.0 * ux * uy * uxy + uy * uy * uxx
        residual = numerator / (2.0 * (ux * ux + uy * uy) + self.eps)
        return {"u_x": ux, "u_y": uy, "u_xx": uxx, "u_yy": uyy, "u_xy": uxy, "residual": residual}

    def maps(self, u: Tensor) -> list[Tensor]:
        d = self.derivatives(u)
        return [d["u_x"], d["u_y"], d["residual"]]


class GradientHead(_DepthwiseFixedHead):
    """The gradient branch head: Sobel g_x, g_y and |g| = sqrt(g_x^2 + g_y^2 + eps)."""

    def __init__(self, eps: float = DEFAULT_EPS):
        super().__init__(_sobel_kernels(), eps)

    def maps(self, u: Tensor) -> list[Tensor]:
        gx, gy = self._apply_kernels(u).unbind(dim=2)
        return [gx, gy, torch.sqrt(gx * gx + gy * gy + self.eps)]


HEADS = {"pmd": PMDHead, "grad": GradientHead}
