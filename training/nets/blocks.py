"""Residual blocks of the backbone, read as one step of an ODE solver on the features u.

``df(u) = conv3x3(ReLU(conv3x3(u)))`` is the learned change of the features in every block.

* ``residual`` (forward Euler, the Base model):  u_{j+1} = u_j + df(u_j)
* ``tcd`` (Taylor central difference, paper Eq. (4)):
      u_{j+1} = u_j + 1/2 du_j - 1/2 du_{j-1} + df(u_j),
      du_j = u_j - u_{j-1},  du_{j-1} = u_{j-1} - u_{j-2}.
  The cascade starts with u_{-1} = u_{-2} = u_0 (no history before the first block), so the first
  block is a plain residual step u_1 = u_0 + df(u_0) and the second one uses
  du_0 = u_0 - u_{-1} = 0: u_2 = u_1 + 1/2 (u_1 - u_0) + df(u_1).
* ``rk2`` (Heun's second-order Runge-Kutta, the RK2 block of the ablation):
      k_1 = df_1(u_j),  k_2 = df_2(u_j + k_1),  u_{j+1} = u_j + 1/2 (k_1 + k_2)
  with two separately learned changes df_1, df_2.
"""

from __future__ import annotations

from torch import Tensor, nn

from training.nets.layers import conv

BLOCK_KINDS = ("residual", "tcd", "rk2")


class FeatureChange(nn.Sequential):
    """df: conv3x3 - ReLU - conv3x3 on ``channels`` channels."""

    def __init__(self, channels: int):
        super().__init__(conv(channels, channels), nn.ReLU(), conv(channels, channels))


class ResidualBlock(nn.Module):
    """u_{j+1} = u_j + df(u_j)."""

    def __init__(self, channels: int):
        super().__init__()
        self.df = FeatureChange(channels)

    def forward(self, u: Tensor, u_prev: Tensor, u_prev2: Tensor) -> Tensor:
        return u + self.df(u)


class TCDBlock(nn.Module):
    """Taylor-central-difference residual block, Eq. (4):
    u_{j+1} = u_j + 1/2 (u_j - u_{j-1}) - 1/2 (u_{j-1} - u_{j-2}) + df(u_j)."""

    def __init__(self, channels: int):
        super().__init__()
        self.df = FeatureChange(channels)

    def forward(self, u: Tensor, u_prev: Tensor, u_prev2: Tensor) -> Tensor:
        du = u - u_prev
        du_prev = u_prev - u_prev2
        return u + 0.5 * du - 0.5 * du_prev + self.df(u)


class RK2Block(nn.Module):
    """Heun step: u_{j+1} = u_j + 1/2 (df_1(u_j) + df_2(u_j + df_1(u_j)))."""

    def __init__(self, channels: int):
        super().__init__()
        self.df1 = FeatureChange(channels)
        self.df2 = FeatureChange(channels)

    def forward(self, u: Tensor, u_prev: Tensor, u_prev2: Tensor) -> Tensor:
        k1 = self.df1(u)
        k2 = self.df2(u + k1)
        return u + 0.5 * (k1 + k2)


_BLOCKS = {"residual": ResidualBlock, "tcd": TCDBlock, "rk2": RK2Block}


class BlockCascade(nn.Module):
    """``n_blocks`` blocks of one kind in sequence; returns every state [u_1, ..., u_n].

    Each block receives (u_j, u_{j-1}, u_{j-2}); before the first block u_{-1} = u_{-2} = u_0.
    Blocks that need no history (residual, rk2) ignore the last two arguments.
    """

    def __init__(self, kind: str, channels: int, n_blocks: int):
        super().__init__()
        if kind not in _BLOCKS:
            raise ValueError(f"unknown block kind {kind!r}; choose one of {BLOCK_KINDS}")
        self.kind = kind
        self.blocks = nn.ModuleList(_BLOCKS[kind](channels) for _ in range(n_blocks))

    def forward(self, u0: Tensor) -> list[Tensor]:
        u_prev2, u_prev, u = u0, u0, u0
        states = []
        for block in self.blocks:
            u_prev2, u_prev, u = u_prev, u, block(u, u_prev, u_prev2)
            states.append(u)
        return states
