import torch

from handdg.train.features import ClipFeatures, mix


def test_mix_by_hand():
    image, text = torch.tensor([[3.0, 4.0]]), torch.tensor([[0.0, 2.0]])
    # n(image) = (0.6, 0.8), n(text) = (0, 1): 0.5·(0.6, 0.8) + 0.5·(0, 1) = (0.3, 0.9)
    torch.testing.assert_close(mix(image, text, 0.5), torch.tensor([[0.3, 0.9]]))
    torch.testing.assert_close(mix(image, text, 0.5, normalise=False), torch.tensor([[1.5, 3.0]]))
    torch.testing.assert_close(mix(image, text, 1.0), torch.tensor([[0.6, 0.8]]))
    torch.testing.assert_close(mix(image, text, 0.0), torch.tensor([[0.0, 1.0]]))


def test_prompt_draws_are_seeded_and_cover_the_vocabulary():
    features = ClipFeatures(torch.zeros(4, 2, dtype=torch.float16), torch.randn(50, 2), {})
    a = features.draw_prompts(4000, torch.Generator().manual_seed(5))
    b = features.draw_prompts(4000, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.min() == 0 and a.max() == 49 and len(a.unique()) == 50


def test_mixed_uses_the_drawn_prompts():
    prompts = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    features = ClipFeatures(torch.tensor([[0.0, 5.0], [5.0, 0.0]], dtype=torch.float16), prompts, {})
    out = features.mixed(features.cached_image(torch.tensor([1, 0])), torch.tensor([1, 1]), 0.6)
    torch.testing.assert_close(out, torch.tensor([[0.6, 0.4], [0.0, 1.0]]))
