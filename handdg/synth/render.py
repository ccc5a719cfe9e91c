"""A vectorised numpy renderer of shaded tapered capsules and ellipsoids with depth-correct occlusion and anti-aliasing.

Every pixel casts a ray d = K^-1 (u, v, 1) from the camera centre (the ray parameter is then the
depth z). For each capsule the closest points between the ray and the capsule's axis give the
distance to the axis; the capsule covers the pixel where that distance is below the local radius.
The signed distance in pixels gives an analytic anti-aliased coverage, the sphere-swept surface
gives depth and normal. Ellipsoids are intersected exactly (a unit sphere after an affine map);
their coverage is anti-aliased with the local gradient of the ray's distance to the centre.
Two depth layers per pixel (nearest and second nearest) are kept so the soft edge of a near
shape blends over the one behind it, not over the background. Work is done only on the pixels
inside each shape's projected bounding box, and shading only on the pixels it covers.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

_NEAR = 0.02  # metres: capsule ends closer than this to the camera are pulled back along the axis
Box = tuple[int, int, int, int]  # pixel rows v0:v1, columns u0:u1
Rays = tuple[np.ndarray, np.ndarray]  # x/z of a box's pixel rays as a (1, w) row, y/z as an (h, 1) column
Field3 = tuple[np.ndarray, np.ndarray, np.ndarray]  # a per-pixel 3-vector as three arrays


@dataclass
class Shapes:
    """Tapered capsules (sphere-swept segments) and ellipsoids, each with its surface look and part id.

    Capsule i runs from p0[i] (radius r0[i]) to p1[i] (radius r1[i]). Ellipsoid j has centre
    e_center[j], unit axes as the columns of e_axes[j] and semi-axis lengths e_radii[j].
    Colours are albedos in [0, 1]: `color` on the back (dorsal) side, `palm_color` on the side
    facing `palmar` (zeros: one colour all round); `nail` draws a nail at a capsule's far end.
    Every field defaults to empty, so a set may hold only capsules or only ellipsoids.
    """

    p0: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (N, 3)
    p1: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (N, 3)
    r0: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,)
    r1: np.ndarray = field(default_factory=lambda: np.zeros(0))  # (N,)
    color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (N, 3)
    palm_color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (N, 3)
    palmar: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))  # (N, 3)
    nail: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))  # (N,)
    part: np.ndarray = field(default_factory=lambda: np.zeros(0, int))  # (N,)
    e_center: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    e_axes: np.ndarray = field(default_factory=lambda: np.zeros((0, 3, 3)))
    e_radii: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    e_color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    e_palm_color: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    e_palmar: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    e_part: np.ndarray = field(default_factory=lambda: np.zeros(0, int))

    def transformed(self, rotation: np.ndarray, translation: np.ndarray, mirror: bool = False) -> "Shapes":
        """The same shapes moved by x -> R (M x) + t, M = diag(-1, 1, 1) when `mirror`."""
        m = np.array([-1.0 if mirror else 1.0, 1.0, 1.0])
        axes = (self.e_axes * m[None, :, None])
        if mirror:
            axes[:, :, 0] *= -1.0  # keep each ellipsoid frame right-handed; the shape is symmetric
        return replace(
            self,
            p0=(self.p0 * m) @ rotation.T + translation,
            p1=(self.p1 * m) @ rotation.T + translation,
            palmar=(self.palmar * m) @ rotation.T,
            e_center=(self.e_center * m) @ rotation.T + translation,
            e_axes=rotation[None] @ axes,
            e_palmar=(self.e_palmar * m) @ rotation.T,
        )

    @staticmethod
    def concat(sets: list["Shapes"]) -> "Shapes":
        """All shapes of several sets in one set."""
        return Shapes(**{name: np.concatenate([getattr(s, name) for s in sets])
                           for name in Shapes.__dataclass_fields__})


@dataclass(frozen=True)
class Light:
    """A directional light in camera coordinates plus ambient and specular terms."""

    direction: np.ndarray = field(default_factory=lambda: np.array([-0.35, -0.55, -0.75]))  # towards the light
    ambient: float = 0.38
    diffuse: float = 0.75
    specular: float = 0.10
    shininess: float = 18.0
    color: np.ndarray = field(default_factory=lambda: np.ones(3))


@dataclass
class Layers:
    """Rendered foreground: premultiplied colour, coverage, nearest depth (inf = empty), part ids."""

    rgb: np.ndarray  # (H, W, 3) float32 premultiplied by alpha
    alpha: np.ndarray  # (H, W) float32
    depth: np.ndarray  # (H, W) float32 metres
    part: np.ndarray  # (H, W) int16, 0 where alpha < 0.5

    def over(self, background: np.ndarray) -> np.ndarray:
        """Composite over a float (H, W, 3) background in [0, 1]."""
        return self.rgb + (1.0 - self.alpha[..., None]) * background


_NAIL_COLOR = np.array([0.93, 0.80, 0.76])


class _Buffers:
    """Two depth layers per pixel (nearest and second nearest) of depth, coverage, colour and part."""

    def __init__(self, height: int, width: int) -> None:
        """Empty layers: infinite depth, no coverage."""
        self.z1 = np.full((height, width), np.inf, np.float32)
        self.z2 = self.z1.copy()
        self.a1 = np.zeros((height, width), np.float32)
        self.a2 = self.a1.copy()
        self.c1 = np.zeros((height, width, 3), np.float32)
        self.c2 = self.c1.copy()
        self.p1 = np.zeros((height, width), np.int16)
        self.p2 = self.p1.copy()

    def add(self, flat: np.ndarray, z: np.ndarray, cov: np.ndarray, col: np.ndarray, part: int) -> None:
        """Depth-test one primitive's covered pixels (flat indices into the image) into the two layers."""
        z1, z2 = self.z1.reshape(-1), self.z2.reshape(-1)
        front = z < z1[flat]
        second = ~front & (z < z2[flat])
        f_idx, s_idx = flat[front], flat[second]
        for top, bottom, new in ((z1, z2, z), (self.a1.reshape(-1), self.a2.reshape(-1), cov),
                                 (self.c1.reshape(-1, 3), self.c2.reshape(-1, 3), col),
                                 (self.p1.reshape(-1), self.p2.reshape(-1), np.full(len(z), part, np.int16))):
            bottom[f_idx] = top[f_idx]
            bottom[s_idx] = new[second]
            top[f_idx] = new[front]

    def layers(self) -> Layers:
        """Blend the near layer's soft edge over the layer behind it."""
        alpha = self.a1 + (1.0 - self.a1) * self.a2
        rgb = self.a1[..., None] * self.c1 + ((1.0 - self.a1) * self.a2)[..., None] * self.c2
        part = np.where(self.a1 >= 0.5, self.p1, np.where(alpha >= 0.5, self.p2, 0)).astype(np.int16)
        return Layers(rgb=rgb, alpha=alpha, depth=self.z1, part=part)


def render(shapes: Shapes, K: np.ndarray, height: int, width: int, light: Light = Light()) -> Layers:
    """Render capsules and ellipsoids seen by a pinhole camera K (camera frame: x right, y down, z forward)."""
    buf = _Buffers(height, width)
    to_light = (light.direction / np.linalg.norm(light.direction)).astype(np.float32)
    for i in range(len(shapes.r0)):
        p0, p1 = shapes.p0[i], shapes.p1[i]
        if p0[2] < _NEAR and p1[2] < _NEAR:
            continue
        p0, p1 = _pull_in_front(p0, p1), _pull_in_front(p1, p0)
        box = _box(np.stack([p0, p1]), np.array([shapes.r0[i], shapes.r1[i]]), K, height, width)
        if box is None:
            continue
        hit = _capsule_surface(_rays(box, K), box, p0, p1, shapes.r0[i], shapes.r1[i], K[0, 0])
        if hit is not None:
            albedo = _albedo(hit.normal, hit.s, shapes.color[i], shapes.palm_color[i], shapes.palmar[i],
                             bool(shapes.nail[i]))
            buf.add(hit.rows * width + hit.cols, hit.z, hit.cov, _shade(hit, albedo, to_light, light), int(shapes.part[i]))
    for j in range(len(shapes.e_radii)):
        c = shapes.e_center[j]
        box = _ellipsoid_box(c, shapes.e_axes[j], shapes.e_radii[j], K, height, width)
        if box is None:
            continue
        hit = _ellipsoid_surface(_rays(box, K), box, c, shapes.e_axes[j], shapes.e_radii[j])
        if hit is not None:
            albedo = _albedo(hit.normal, None, shapes.e_color[j], shapes.e_palm_color[j], shapes.e_palmar[j], False)
            buf.add(hit.rows * width + hit.cols, hit.z, hit.cov, _shade(hit, albedo, to_light, light), int(shapes.e_part[j]))
    return buf.layers()


@dataclass
class _Hits:
    """A primitive's covered pixels as flat arrays: position, ray, depth, coverage, normal, axis parameter."""

    rows: np.ndarray
    cols: np.ndarray
    xn: np.ndarray
    yn: np.ndarray
    z: np.ndarray
    cov: np.ndarray
    normal: Field3
    s: np.ndarray | None = None


def _pull_in_front(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Move end p along the axis towards q until it lies at least _NEAR in front of the camera."""
    if p[2] >= _NEAR or q[2] <= _NEAR:
        return p
    return p + (q - p) * (_NEAR - p[2]) / (q[2] - p[2])


def _box(centers: np.ndarray, radii: np.ndarray, K: np.ndarray, height: int, width: int) -> Box | None:
    """Pixel box (v0, v1, u0, u1) bounding spheres' projections, clipped to the image; None if empty."""
    uv = (centers @ K.T)[:, :2] / centers[:, 2:3]
    pad = max(K[0, 0], K[1, 1]) * radii / np.maximum(centers[:, 2] - radii, _NEAR) + 2.0
    u0 = max(int(np.floor(np.min(uv[:, 0] - pad))), 0)
    u1 = min(int(np.ceil(np.max(uv[:, 0] + pad))) + 1, width)
    v0 = max(int(np.floor(np.min(uv[:, 1] - pad))), 0)
    v1 = min(int(np.ceil(np.max(uv[:, 1] + pad))) + 1, height)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _ellipsoid_box(center: np.ndarray, axes: np.ndarray, radii: np.ndarray, K: np.ndarray, height: int,
                   width: int) -> Box | None:
    """Tight pixel box of an ellipsoid's projected outline (from its dual quadric); None if off-screen."""
    if center[2] - radii.max() < _NEAR:
        return None
    a_inv = (axes * radii**2) @ axes.T  # inverse of the quadric's matrix A = R diag(1/r^2) R^T
    dual = np.block([[a_inv - np.outer(center, center), -center[:, None]], [-center[None, :], -np.ones((1, 1))]])
    P = np.hstack([K, np.zeros((3, 1))])
    conic = P @ dual @ P.T
    bounds = []
    for k in (0, 1):  # tangent lines u = const (k=0) and v = const (k=1): c_kk - 2 x c_k2 + x^2 c_22 = 0
        qa, qb, qc = conic[2, 2], -2.0 * conic[k, 2], conic[k, k]
        disc = max(qb * qb - 4 * qa * qc, 0.0)
        roots = ((-qb - np.sqrt(disc)) / (2 * qa), (-qb + np.sqrt(disc)) / (2 * qa))
        bounds.append((min(roots) - 2.0, max(roots) + 2.0))
    (umin, umax), (vmin, vmax) = bounds
    u0, u1 = max(int(np.floor(umin)), 0), min(int(np.ceil(umax)) + 1, width)
    v0, v1 = max(int(np.floor(vmin)), 0), min(int(np.ceil(vmax)) + 1, height)
    if u0 >= u1 or v0 >= v1:
        return None
    return v0, v1, u0, u1


def _rays(box: Box, K: np.ndarray) -> Rays:
    """Ray directions (xn, yn, 1) of the pixel centres in a box, as a row and a column to broadcast."""
    v0, v1, u0, u1 = box
    xn = ((np.arange(u0, u1, dtype=np.float32) - K[0, 2]) / K[0, 0])[None, :]
    yn = ((np.arange(v0, v1, dtype=np.float32) - K[1, 2]) / K[1, 1])[:, None]
    return xn, yn


def _covered(box: Box, cov: np.ndarray, rays: Rays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple] | None:
    """Flat local indices, image rows/cols and rays of the pixels with coverage > 0 (None if none)."""
    rr, cc = np.nonzero(cov > 0.0)
    if len(rr) == 0:
        return None
    xn, yn = rays
    return rr, cc, xn[0, cc], yn[rr, 0], (rr + box[0], cc + box[2])


def _capsule_surface(rays: Rays, box: Box, p0: np.ndarray, p1: np.ndarray, r0: float, r1: float,
                     f: float) -> _Hits | None:
    """Covered pixels of a tapered capsule: depth, analytic anti-aliased coverage, normal, axis parameter."""
    xn, yn = rays
    e = p1 - p0
    ee = float(e @ e)
    ep = float(e @ p0)
    a = xn * xn + yn * yn + 1.0  # |d|^2
    b = xn * e[0] + yn * e[1] + e[2]  # d.e
    dp = xn * p0[0] + yn * p0[1] + p0[2]  # d.p0
    if ee < 1e-12:
        s = np.zeros_like(a * b)
    else:
        den = b * b - a * ee
        den = np.where(np.abs(den) < 1e-12, -1e-12, den)
        s = np.clip((a * ep - b * dp) / den, 0.0, 1.0)
    t = (dp + s * b) / a  # depth of the ray point closest to the axis
    qx = t * xn - (p0[0] + s * e[0])
    qy = t * yn - (p0[1] + s * e[1])
    qz = t - (p0[2] + s * e[2])
    dist = np.sqrt(qx * qx + qy * qy + qz * qz)
    r = r0 + s * (r1 - r0)
    cov = np.where(t > _NEAR, np.clip(0.5 + (r - dist) * f / np.maximum(t, _NEAR), 0.0, 1.0), 0.0)
    found = _covered(box, cov, rays)
    if found is None:
        return None
    rr, cc, hx, hy, (rows, cols) = found
    t, r, dist, s = t[rr, cc], r[rr, cc], dist[rr, cc], s[rr, cc]
    qx, qy, qz = qx[rr, cc], qy[rr, cc], qz[rr, cc]
    norm_d = np.sqrt(hx * hx + hy * hy + 1.0)
    h = np.sqrt(np.maximum(r * r - dist * dist, 0.0))
    # Normal: from the axis point to the front surface point, which lies h back along the ray.
    normal = _unit((qx - h * hx / norm_d) / r, (qy - h * hy / norm_d) / r, (qz - h / norm_d) / r)
    return _Hits(rows, cols, hx, hy, (t - h / norm_d).astype(np.float32), cov[rr, cc].astype(np.float32), normal, s)


def _ellipsoid_surface(rays: Rays, box: Box, center: np.ndarray, axes: np.ndarray, radii: np.ndarray) -> _Hits | None:
    """Covered pixels of an ellipsoid: exact ray intersection, coverage anti-aliased by the local gradient."""
    xn, yn = rays
    m = axes.T / radii[:, None]  # camera -> unit-sphere coordinates
    cc0 = m @ center
    dx = m[0, 0] * xn + m[0, 1] * yn + m[0, 2]
    dy = m[1, 0] * xn + m[1, 1] * yn + m[1, 2]
    dz = m[2, 0] * xn + m[2, 1] * yn + m[2, 2]
    dd = dx * dx + dy * dy + dz * dz
    dc = dx * cc0[0] + dy * cc0[1] + dz * cc0[2]
    g = np.sqrt(np.maximum(float(cc0 @ cc0) - dc * dc / dd, 0.0))  # ray's distance to the centre, unit space
    gv, gu = np.gradient(g) if min(g.shape) > 1 else (np.ones_like(g), np.ones_like(g))
    step = np.maximum(np.sqrt(gu * gu + gv * gv), 1e-6)
    cov = np.clip(0.5 + (1.0 - g) / step, 0.0, 1.0)
    found = _covered(box, cov, rays)
    if found is None:
        return None
    rr, cc, hx, hy, (rows, cols) = found
    dx, dy, dz, dd, dc, g = dx[rr, cc], dy[rr, cc], dz[rr, cc], dd[rr, cc], dc[rr, cc], g[rr, cc]
    t = (dc - np.sqrt(np.maximum(1.0 - g * g, 0.0) * dd)) / dd
    lx, ly, lz = t * dx - cc0[0], t * dy - cc0[1], t * dz - cc0[2]
    gx, gy, gz = lx / radii[0], ly / radii[1], lz / radii[2]  # gradient in the ellipsoid frame
    normal = _unit(axes[0, 0] * gx + axes[0, 1] * gy + axes[0, 2] * gz,
                   axes[1, 0] * gx + axes[1, 1] * gy + axes[1, 2] * gz,
                   axes[2, 0] * gx + axes[2, 1] * gy + axes[2, 2] * gz)
    return _Hits(rows, cols, hx, hy, t.astype(np.float32), cov[rr, cc].astype(np.float32), normal)


def _unit(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> Field3:
    """Normalise a per-pixel vector field given as three arrays."""
    inv = 1.0 / np.maximum(np.sqrt(x * x + y * y + z * z), 1e-6)
    return x * inv, y * inv, z * inv


def _shade(hit: _Hits, albedo: np.ndarray, to_light: np.ndarray, light: Light) -> np.ndarray:
    """Wrapped Lambert diffuse + ambient + Blinn specular, per pixel, as float32 RGB."""
    nx, ny, nz = hit.normal
    xn, yn = hit.xn, hit.yn
    norm_d = np.sqrt(xn * xn + yn * yn + 1.0)
    ndl = nx * to_light[0] + ny * to_light[1] + nz * to_light[2]
    diffuse = np.clip((ndl + 0.25) / 1.25, 0.0, 1.0)
    hx, hy, hz = to_light[0] - xn / norm_d, to_light[1] - yn / norm_d, to_light[2] - 1.0 / norm_d
    hn = np.sqrt(hx * hx + hy * hy + hz * hz)
    ndh = np.clip((nx * hx + ny * hy + nz * hz) / hn, 0.0, 1.0)
    spec = light.specular * ndh ** light.shininess
    shade = light.ambient + light.diffuse * diffuse
    return (albedo * (shade[..., None] * light.color) + spec[..., None] * light.color).astype(np.float32)


def _albedo(normal: Field3, s: np.ndarray | None, color: np.ndarray, palm_color: np.ndarray, palmar: np.ndarray,
            nail: bool) -> np.ndarray:
    """Skin colour: dorsal colour blended to the palmar colour by facing, plus a nail near the far end."""
    nx, ny, nz = normal
    facing = nx * palmar[0] + ny * palmar[1] + nz * palmar[2]
    w = np.clip(0.5 + 0.9 * facing, 0.0, 1.0)[..., None]
    albedo = color * (1.0 - w) + palm_color * w
    if nail:
        amount = np.clip((-facing - 0.45) * 6.0, 0.0, 1.0) * np.clip((s - 0.35) * 5.0, 0.0, 1.0)
        albedo = albedo * (1.0 - amount[..., None]) + _NAIL_COLOR * amount[..., None]
    return albedo
