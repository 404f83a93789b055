import pytest
import torch

from core.data.heatmaps import gaussian_targets
from core.errors import ConfigError
from core.models.decoding import spatial_softmax, subpixel_maxima
from core.models.stacked_densenet import StackedDenseNet


def _parameter_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture(scope="module")
def default_model() -> StackedDenseNet:
    torch.manual_seed(0)
    return StackedDenseNet(in_channels=3, out_channels=20)


def test_default_config_has_deepposekit_size(default_model):
    assert 1_300_000 < _parameter_count(default_model) < 1_700_000
    assert default_model.required_multiple == 64
    assert StackedDenseNet(1, 20, n_transitions=3).required_multiple == 32


@pytest.mark.parametrize(("height", "width"), [(64, 64), (128, 192)])
def test_one_quarter_resolution_output_per_stack(default_model, height, width):
    with torch.no_grad():
        outputs = default_model(torch.randn(2, 3, height, width))
    assert len(outputs) == 2
    for logits in outputs:
        assert logits.shape == (2, 20, height // 4, width // 4)
        assert torch.isfinite(logits).all()
        assert logits.std().item() > 1e-3  # SELU + LeCun init keeps the signal alive through the stacks


def test_stack_count_and_greyscale_input():
    model = StackedDenseNet(1, 5, n_stacks=3, growth_rate=8, n_transitions=2)
    outputs = model(torch.randn(1, 1, 32, 48))
    assert [tuple(o.shape) for o in outputs] == [(1, 5, 8, 12)] * 3


def test_forward_backward_reaches_every_parameter():
    model = StackedDenseNet(3, 4, growth_rate=8, n_transitions=2, bottleneck=False)
    outputs = model(torch.randn(2, 3, 32, 32))
    sum(o.square().mean() for o in outputs).backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_bad_input_size_names_the_size_and_nearest_valid_ones(default_model):
    with pytest.raises(ConfigError, match=r"image height 250 is not a multiple of 64.*height of 192 or 256"):
        default_model(torch.zeros(1, 3, 250, 256))
    with pytest.raises(ConfigError, match=r"image width 40 .* width of 64$"):
        default_model(torch.zeros(1, 3, 64, 40))


def test_bad_constructor_arguments():
    with pytest.raises(ConfigError, match="n_stacks must be at least 1"):
        StackedDenseNet(3, 20, n_stacks=0)
    with pytest.raises(ConfigError, match=r"compression must be in \(0, 1\]"):
        StackedDenseNet(3, 20, compression=1.5)


def test_training_steps_reduce_the_heatmap_loss():
    torch.manual_seed(0)
    model = StackedDenseNet(1, 2, n_stacks=2, growth_rate=12, n_transitions=2)
    image = torch.randn(1, 1, 32, 32)
    keypoints = torch.tensor([[[2.3, 5.6], [6.1, 1.4]]])
    target, _ = gaussian_targets(keypoints, 8, 8)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss() -> torch.Tensor:
        # MSE x H*W between softmaxed outputs and targets, over every stack.
        return sum(((spatial_softmax(o) - target) ** 2).mean() * 64 for o in model(image))

    initial = loss().item()
    for _ in range(30):
        optimiser.zero_grad()
        value = loss()
        value.backward()
        optimiser.step()
    final = loss().item()
    assert final < 0.05 * initial
    with torch.no_grad():
        decoded = subpixel_maxima(spatial_softmax(model(image)[-1]))
    assert (decoded - keypoints).norm(dim=-1).max().item() < 0.25
