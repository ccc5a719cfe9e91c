import math

import torch

from handdg.inputs import augment


def test_draw_geometry_ranges_and_reproducibility():
    draws = [augment.draw_geometry(torch.Generator().manual_seed(s)) for s in range(300)]
    assert all(0.75 <= g.scale <= 1.25 for g in draws)
    assert all(abs(g.angle) <= math.pi / 2 for g in draws)
    rotated = sum(g.angle != 0.0 for g in draws) / len(draws)
    assert 0.5 < rotated < 0.7
    assert augment.draw_geometry(torch.Generator().manual_seed(7)) == draws[7]


def test_sobel_is_zero_on_flat_images_and_peaks_on_edges():
    flat = torch.full((3, 8, 8), 0.3)
    assert torch.count_nonzero(augment.sobel(flat)) == 0
    step = torch.zeros(3, 8, 8)
    step[:, :, 4:] = 1.0
    edges = augment.sobel(step)
    assert edges.max() == 1.0 and torch.all(edges[:, :, 3:5] == 1.0) and torch.all(edges[:, :, :2] == 0)


def test_photometric_is_reproducible_and_off_means_identity():
    image = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    names = augment.PHOTOMETRIC
    a = augment.photometric(image, names, torch.Generator().manual_seed(3))
    b = augment.photometric(image, names, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and not torch.equal(a, image)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(augment.photometric(image, (), torch.Generator().manual_seed(3)), image)


def test_colour_drop_and_cutout():
    image = torch.rand(3, 20, 20, generator=torch.Generator().manual_seed(1))
    grey = augment._drop(image, torch.Generator())
    assert torch.equal(grey[0], grey[1]) and torch.equal(grey[1], grey[2])
    cut = augment._cutout(image, torch.Generator().manual_seed(2))
    zeroed = (cut == 0).all(0)
    rows, cols = zeroed.any(1).sum(), zeroed.any(0).sum()
    assert zeroed.sum() == rows * cols > 0  # one axis-aligned rectangle


def test_blur_and_sobel_match_their_convolution_definitions():
    import torch.nn.functional as F

    image = torch.rand(3, 12, 10, generator=torch.Generator().manual_seed(4))
    sigma, radius = 1.3, 4
    x = torch.arange(-radius, radius + 1, dtype=image.dtype)
    kernel = torch.exp(-(x**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    padded = F.pad(image[None], (radius,) * 4, mode="replicate")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    expected = F.conv2d(rows, kernel.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)[0]
    torch.testing.assert_close(augment._blur(image, sigma), expected)
    gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    grad = F.conv2d(F.pad(image[None], (1, 1, 1, 1), mode="replicate"),
                    torch.stack([gx, gx.T])[:, None].repeat(3, 1, 1, 1), groups=3)[0]
    magnitude = torch.sqrt(grad[0::2] ** 2 + grad[1::2] ** 2)
    torch.testing.assert_close(augment.sobel(image), magnitude / magnitude.amax())


def test_jitter_leaves_its_input_untouched():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(2))
    before = image.clone()
    out = augment._jitter(image, torch.Generator().manual_seed(0))
    assert torch.equal(image, before) and not torch.equal(out, image)
