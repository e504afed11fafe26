import pytest
import torch
from torch import nn

from mnistlib.recipes import get_recipe
from mnistlib.rf import effective_rf, format_rf_table, half_mass_side, receptive_field, spatial_rows


def table(model):
    return [(r.size, r.r, r.j, r.start) for r in spatial_rows(receptive_field(model))]


def test_iteration1_by_hand():
    # layer:           conv     conv     pool     conv      pool      conv       GAP(3x3)    1x1 conv
    assert table(get_recipe("iteration1").build()) == [
        (26, 3, 1, 1.5), (24, 5, 1, 2.5), (12, 6, 2, 3.0), (10, 10, 2, 5.0),
        (5, 12, 4, 6.0), (3, 20, 4, 10.0), (1, 28, 12, 14.0), (1, 28, 12, 14.0)]


def test_iteration2_conv_head_sees_the_same_28_pixels():
    rows = table(get_recipe("iteration2").build())
    assert [r[1] for r in rows] == [3, 5, 6, 10, 12, 20, 28]
    assert rows[-1] == (1, 28, 4, 14.0)  # a 3x3 conv on the 3x3 map: stride 1, so the jump stays 4


def test_write_up_rf_claims_are_checked_against_the_gradient_support():
    """The write-up says RF 5 after the second conv, 24 after the second pool and 26 after the
    next conv; the computed fields, confirmed by the gradient check below, are 5, 12 and 20."""
    claims = {"3 Conv2d": 5, "10 MaxPool2d": 24, "11 Conv2d": 26}
    computed = {row.layer: row.r for row in spatial_rows(receptive_field(get_recipe("iteration1").build()))}
    assert {layer: computed[layer] for layer in claims} == {"3 Conv2d": 5, "10 MaxPool2d": 12, "11 Conv2d": 20}
    assert [layer for layer, r in claims.items() if computed[layer] != r] == ["10 MaxPool2d", "11 Conv2d"]


def test_padding_stride_and_dilation():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, stride=2),
                          nn.Conv2d(4, 4, 3, dilation=2), nn.AvgPool2d(2))
    # dilation 2 makes the 3x3 kernel span 5. By hand, r' = r + (k-1)j, start' = start + ((k-1)/2 - p)j:
    #   pad 1:    r 1+2*1 = 3,  start 0.5 + (1-1)*1 = 0.5
    #   stride 2: r 3+2*1 = 5,  start 0.5 + 1*1 = 1.5,  then j = 2
    #   dilated:  r 5+4*2 = 13, start 1.5 + 2*2 = 5.5
    #   avgpool:  r 13+1*2 = 15, start 5.5 + 0.5*2 = 6.5, then j = 4
    assert table(model) == [(28, 3, 1, 0.5), (13, 5, 2, 1.5), (9, 13, 2, 5.5), (4, 15, 4, 6.5)]


def test_unknown_layer_warns_and_passes_through():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.GELU(), nn.Conv2d(2, 2, 3))
    with pytest.warns(UserWarning, match="GELU"):
        rows = receptive_field(model)
    assert [r.r for r in rows] == [3, 3, 5]


def test_uneven_adaptive_pool_is_an_error():
    with pytest.raises(ValueError, match="uneven"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(4)))


def test_table_prints_one_line_per_layer():
    model = get_recipe("iteration1").build()
    text = format_rf_table(receptive_field(model))
    assert len(text.splitlines()) == 2 + len(list(model))
    assert "AdaptiveAvgPool2d" in text.splitlines()[-3] and " 28 " in text.splitlines()[-3]


def _linear_copy(model):
    """The same geometry with nothing in the way of a gradient: convs of all-ones weights, max-pools
    as average pools (every input of a window counts), ReLU, BatchNorm and Dropout left out."""
    layers = []
    for m in model:
        if isinstance(m, nn.Conv2d):
            conv = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, bias=False)
            nn.init.ones_(conv.weight)
            layers.append(conv)
        elif isinstance(m, nn.MaxPool2d):
            layers.append(nn.AvgPool2d(m.kernel_size, m.stride))
        elif isinstance(m, nn.AdaptiveAvgPool2d):
            layers.append(m)
        elif isinstance(m, nn.Flatten):
            break
    return nn.Sequential(*layers).double()


@pytest.mark.parametrize("name", ["iteration1", "iteration2", "iteration4", "iteration5"])
def test_every_layers_rf_is_the_gradient_support_of_its_centre_unit(name):
    """Independent of the formulas: the input pixels that move a layer's centre unit are exactly
    its computed r x r square around the computed centre (cut by the image's edge)."""
    model = _linear_copy(get_recipe(name).build())
    rows = spatial_rows(receptive_field(model))
    assert len(rows) == len(model)
    for i, row in enumerate(rows):
        x = torch.zeros(1, 1, 28, 28, dtype=torch.double, requires_grad=True)
        out = model[: i + 1](x)
        c = (out.shape[-1] - 1) // 2
        (grad,) = torch.autograd.grad(out[0, :, c, c].sum(), x)
        rows_hit = grad[0, 0].abs().sum(1).nonzero().flatten().tolist()
        centre = row.start + c * row.j
        lo, hi = max(0, round(centre - row.r / 2)), min(28, round(centre + row.r / 2))
        assert rows_hit == list(range(lo, hi)), f"{name} {row.layer}: r={row.r}, centre {centre}"
        assert grad[0, 0].abs().sum(0).nonzero().flatten().tolist() == list(range(lo, hi))


def test_effective_rf_of_one_conv_is_its_kernel():
    conv = nn.Sequential(nn.Conv2d(1, 1, 3, bias=False))
    nn.init.ones_(conv[0].weight)
    erf = effective_rf(conv, torch.randn(4, 1, 28, 28), 0)
    assert erf.shape == (28, 28) and erf.max() == 1
    assert erf.nonzero().tolist() == [[r, c] for r in range(13, 16) for c in range(13, 16)]  # centre unit 13 of 26


def test_half_mass_side_by_hand():
    point = torch.zeros(28, 28)
    point[13:15, 13:15] = 1  # the four pixels around the centre corner
    assert half_mass_side(point) == 2
    assert half_mass_side(torch.ones(28, 28)) == 20  # 20 x 20 = 400 is the first square holding 392 = half of 784
    ring = torch.zeros(28, 28)
    ring[4:24, 4:24], ring[8:20, 8:20] = 1, 0  # all mass between 12 and 20: half of it needs side 18 (324-144=180 of 256)
    assert half_mass_side(ring) == 18
