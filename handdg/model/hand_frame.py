"""How H3D encodes a hand's side and orientation: the side one-hot, the right-hand flip, and the two
rotation forms ViewPoint can output (axis-angle through Rodrigues, or the continuous 6-D form)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def rodrigues(axis_angle: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(B,3) axis-angle -> (B,3,3) rotation for row vectors (x_rot = x @ R), as H3D.

    theta = sqrt(|u|^2 + eps): the eps keeps the gradient finite at u = 0 (the official code has none).
    """
    theta = torch.sqrt((axis_angle * axis_angle).sum(dim=1) + eps)
    ux, uy, uz = (axis_angle / theta[:, None]).unbind(dim=1)
    c, s = torch.cos(theta), torch.sin(theta)
    t = 1.0 - c
    rows = [
        [c + ux * ux * t, ux * uy * t - uz * s, ux * uz * t + uy * s],
        [uy * ux * t + uz * s, c + uy * uy * t, uy * uz * t - ux * s],
        [uz * ux * t - uy * s, uz * uy * t + ux * s, c + uz * uz * t],
    ]
    return torch.stack([torch.stack(r, dim=1) for r in rows], dim=1)


def rows_6d(six: torch.Tensor) -> torch.Tensor:
    """(B,6) ViewPoint output -> (B,6) the two vectors (a1 + x̂, a2 + ŷ) that Gram-Schmidt turns into R's first rows.

    The offsets make a zero output the identity, so a freshly initialised ViewPoint starts there.
    """
    return six + six.new_tensor([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


def rotation_6d(six: torch.Tensor) -> torch.Tensor:
    """(B,6) -> (B,3,3) rotation for row vectors: rows = Gram-Schmidt of `rows_6d(six)` and their cross product."""
    a1, a2 = rows_6d(six).split(3, dim=1)
    b1 = F.normalize(a1, dim=1)
    b2 = F.normalize(a2 - (b1 * a2).sum(dim=1, keepdim=True) * b1, dim=1)
    return torch.stack([b1, b2, torch.linalg.cross(b1, b2, dim=1)], dim=1)


def flip_right_hand(coords: torch.Tensor, is_right: torch.Tensor) -> torch.Tensor:
    """Negate z of right hands' canonical coordinates (H3D's flip_right_hand; its own inverse)."""
    sign = 1.0 - 2.0 * is_right.to(coords.dtype)
    return torch.cat([coords[..., :2], coords[..., 2:] * sign[:, None, None]], dim=-1)


def side_onehot(is_right: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B,) 0/1 right-hand flags -> (B,2) one-hot in H3D's encoding: left = [1,0], right = [0,1]."""
    r = is_right.to(dtype)
    return torch.stack([1.0 - r, r], dim=1)
